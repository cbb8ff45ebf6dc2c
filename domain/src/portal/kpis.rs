//! KPI storage: `kpi_metrics (cop_id, metric, date, value, source,
//! computed_at)`, one value per CoP, metric and day. The KPI rollup job
//! writes the metrics of [`crate::kpi::Metric`] (`source = 'rollup'`); other metrics come
//! from outside through [`ingest`] (`source = 'ingest'`), e.g. DBUs from a
//! data platform. Both upsert on the key, so re-sending is idempotent.

use std::collections::HashSet;

use chrono::NaiveDate;
use sqlx::PgPool;

use super::{
    access::{self, Action},
    audit,
};
use crate::{
    error::{Error, Result, Validator},
    ids::CopId,
    tenancy::Caller,
};

/// The most points one ingest call may carry.
pub const MAX_POINTS: usize = 1000;

/// Checks a metric name: `^[a-z][a-z0-9_]{0,62}$`.
pub fn metric_name(s: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err("must be 1–63 lower-case letters, digits or underscores, starting with a letter".into())
    }
}

/// A validated batch of externally computed values of one metric.
#[derive(Debug, Clone)]
pub struct KpiIngest {
    pub metric: String,
    pub dates: Vec<NaiveDate>,
    pub values: Vec<Option<f64>>,
}

impl KpiIngest {
    pub fn parse(metric: &str, points: Vec<(NaiveDate, Option<f64>)>) -> Result<Self> {
        let mut v = Validator::new();
        let metric = v.check("/metric", metric_name(metric));
        if let Some(m) = &metric
            && crate::kpi::Metric::parse(m).is_some()
        {
            v.push(
                "/metric",
                format!("`{m}` is computed by the KPI rollup and cannot be ingested"),
            );
        }
        if points.is_empty() {
            v.push("/points", "must contain at least one point");
        }
        if points.len() > MAX_POINTS {
            return Err(Error::field(
                "/points",
                format!("must contain at most {MAX_POINTS} points per call"),
            ));
        }
        let mut seen = HashSet::new();
        for (i, (date, value)) in points.iter().enumerate() {
            if !seen.insert(*date) {
                v.push(&format!("/points/{i}/date"), "duplicate date in this batch");
            }
            if value.is_some_and(|x| !x.is_finite()) {
                v.push(&format!("/points/{i}/value"), "must be a finite number");
            }
        }
        v.finish()?;
        let (dates, values) = points.into_iter().unzip();
        Ok(Self {
            metric: metric.expect("checked"),
            dates,
            values,
        })
    }
}

/// What an ingest call stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestReport {
    pub metric: String,
    /// Points inserted or updated.
    pub upserted: u64,
}

/// Upserts the points (managers of the CoP only), in one statement.
pub async fn ingest(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    input: KpiIngest,
) -> Result<IngestReport> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    let upserted = sqlx::query(
        "INSERT INTO kpi_metrics (cop_id, metric, date, value, source)
         SELECT $1, $2, t.date, t.value, 'ingest' FROM unnest($3::date[], $4::float8[]) AS t(date, value)
         ON CONFLICT (cop_id, metric, date) DO UPDATE
             SET value = EXCLUDED.value, source = 'ingest', computed_at = now()",
    )
    .bind(cop)
    .bind(&input.metric)
    .bind(&input.dates)
    .bind(&input.values)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit(
        &mut tx,
        caller,
        "cop.kpis_ingested",
        "cop",
        cop.to_string(),
        a.customer_id,
        Some(serde_json::json!({ "metric": input.metric, "points": upserted })),
    )
    .await?;
    tx.commit().await?;
    Ok(IngestReport {
        metric: input.metric,
        upserted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        assert!(metric_name("dbu_consumed").is_ok());
        for bad in ["", "Dbu", "1x", "a-b", &"a".repeat(64)] {
            assert!(metric_name(bad).is_err(), "{bad}");
        }
        let d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert!(KpiIngest::parse("nps", vec![(d, Some(1.0))]).is_err());
        assert!(KpiIngest::parse("dbu", vec![(d, Some(1.0)), (d, None)]).is_err());
        assert!(KpiIngest::parse("dbu", vec![(d, Some(f64::NAN))]).is_err());
    }
}
