//! The read side of one CoP: a metric over time ([`series`]) and every
//! metric's current value against the previous period ([`summary`]).
//!
//! Values are the stored daily rows of `kpi_metrics`; a date without a row
//! (never computed) is a gap, shown as `null`. Longer buckets combine the
//! daily values with the metric's [`Aggregation`]: sums for counts, the
//! mean of the days with a value for rates, the latest day's value for
//! trailing-window metrics. Metrics ingested from outside are summed.

use crate::text_enum;
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};

use super::{Aggregation, DateRange, MAX_RANGE_MONTHS, Metric};
use crate::{
    error::{Error, Result},
    ids::{CopId, CustomerId},
    portal::{
        access::{self, Action},
        kpis::metric_name,
    },
    tenancy::Caller,
};

text_enum! {
    /// The length of one point of a series.
    pub enum Granularity {
        Day = "day",
        /// ISO weeks (Monday to Sunday); a point is dated on the Monday.
        Week = "week",
        /// Calendar months; a point is dated on the first of the month.
        Month = "month",
    }
}

/// The default length of a series without `from`: 90 days ending on `to`.
pub const DEFAULT_SERIES_DAYS: u64 = 90;
/// The summary compares the 30 days ending on its `as_of` date with the 30 days before.
pub const SUMMARY_PERIOD_DAYS: u32 = 30;

/// The first day of the bucket holding `date`.
pub fn bucket_start(date: NaiveDate, g: Granularity) -> NaiveDate {
    match g {
        Granularity::Day => date,
        Granularity::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
        Granularity::Month => date.with_day(1).expect("every month has a first day"),
    }
}

fn next_bucket(start: NaiveDate, g: Granularity) -> NaiveDate {
    match g {
        Granularity::Day => start + Days::new(1),
        Granularity::Week => start + Days::new(7),
        Granularity::Month => start + Months::new(1),
    }
}

/// Combines the daily rows of one bucket (or period), sorted by date.
/// `None` when nothing is there to combine: no rows, or (sum, mean) no values.
pub fn combine(agg: Aggregation, rows: &[(NaiveDate, Option<f64>)]) -> Option<f64> {
    let values = rows.iter().filter_map(|r| r.1);
    match agg {
        Aggregation::Sum => rows.iter().any(|r| r.1.is_some()).then(|| values.sum()),
        Aggregation::Mean => {
            let (n, total) = values.fold((0u32, 0.0), |(n, t), v| (n + 1, t + v));
            (n > 0).then(|| total / f64::from(n))
        }
        Aggregation::Last => rows.iter().max_by_key(|r| r.0).and_then(|r| r.1),
    }
}

/// Buckets daily rows (sorted by date, all within `range`) into points of
/// `g`: one per bucket touching the range, dated on the bucket's first day,
/// combining only the days inside the range.
pub fn bucket(
    rows: &[(NaiveDate, Option<f64>)],
    range: DateRange,
    g: Granularity,
    agg: Aggregation,
) -> Vec<(NaiveDate, Option<f64>)> {
    let mut out = vec![];
    let mut start = bucket_start(range.from, g);
    let mut i = 0;
    while start <= range.to {
        let next = next_bucket(start, g);
        let first = i;
        while i < rows.len() && rows[i].0 < next {
            i += 1;
        }
        out.push((start, combine(agg, &rows[first..i])));
        start = next;
    }
    out
}

/// Absolute and relative (percent of |previous|) change; the relative one
/// is absent when `previous` is 0.
pub fn change(value: Option<f64>, previous: Option<f64>) -> (Option<f64>, Option<f64>) {
    match (value, previous) {
        (Some(v), Some(p)) => (Some(v - p), (p != 0.0).then(|| 100.0 * (v - p) / p.abs())),
        _ => (None, None),
    }
}

/// A metric as a reader names it: one the rollup computes, or one ingested
/// from outside for this CoP.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRef {
    pub name: String,
    pub aggregation: Aggregation,
}

async fn resolve_metric(conn: &mut PgConnection, cop: CopId, name: &str) -> Result<MetricRef> {
    if let Some(m) = Metric::parse(name) {
        return Ok(MetricRef {
            name: name.into(),
            aggregation: m.aggregation(),
        });
    }
    let ingested: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM kpi_metrics WHERE cop_id = $1 AND metric = $2 AND source = 'ingest')",
    )
    .bind(cop)
    .bind(name)
    .fetch_one(conn)
    .await?;
    if ingested {
        Ok(MetricRef {
            name: name.into(),
            aggregation: Aggregation::Sum,
        })
    } else {
        Err(unknown_metric())
    }
}

fn unknown_metric() -> Error {
    let known: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
    Error::field(
        "/metric",
        format!(
            "unknown metric: one of {}, or a metric ingested for this CoP",
            known.join(", ")
        ),
    )
}

async fn today(conn: &mut PgConnection, customer: CustomerId) -> Result<NaiveDate> {
    Ok(sqlx::query_scalar(
        "SELECT (now() AT TIME ZONE time_zone)::date FROM customers WHERE id = $1",
    )
    .bind(customer)
    .fetch_one(conn)
    .await?)
}

/// What `GET /cops/{id}/kpis` asks for.
#[derive(Debug, Clone)]
pub struct SeriesQuery {
    pub metric: String,
    /// Default: 90 days before `to`.
    pub from: Option<NaiveDate>,
    /// Default: today in the customer's time zone (or two years after `from`, if sooner).
    pub to: Option<NaiveDate>,
    pub granularity: Granularity,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub cop_id: CopId,
    pub metric: String,
    pub aggregation: Aggregation,
    pub granularity: Granularity,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// One per bucket, `None` where no value was computed.
    pub points: Vec<(NaiveDate, Option<f64>)>,
    /// When the newest of the values read was computed.
    pub computed_at: Option<DateTime<Utc>>,
}

/// A metric of one CoP over a range (anyone who can read the CoP).
pub async fn series(db: &PgPool, caller: &Caller, cop: CopId, q: SeriesQuery) -> Result<Series> {
    if Metric::parse(&q.metric).is_none() && metric_name(&q.metric).is_err() {
        return Err(unknown_metric());
    }
    if let (Some(f), Some(t)) = (q.from, q.to) {
        DateRange::parse(f, t)?;
    }
    let mut conn = db.acquire().await?;
    let a = access::load(&mut conn, caller, cop, "cop").await?;
    a.require(Action::Read)?;
    let (from, to) = match (q.from, q.to) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => {
            let limit = f
                .checked_add_months(Months::new(MAX_RANGE_MONTHS))
                .unwrap_or(NaiveDate::MAX);
            (f, today(&mut conn, a.customer_id).await?.min(limit))
        }
        (None, t) => {
            let t = match t {
                Some(t) => t,
                None => today(&mut conn, a.customer_id).await?,
            };
            (t - Days::new(DEFAULT_SERIES_DAYS - 1), t)
        }
    };
    let range = DateRange::parse(from, to)?;
    let metric = resolve_metric(&mut conn, cop, &q.metric).await?;
    let rows: Vec<(NaiveDate, Option<f64>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT date, value, computed_at FROM kpi_metrics
         WHERE cop_id = $1 AND metric = $2 AND date BETWEEN $3 AND $4 ORDER BY date",
    )
    .bind(cop)
    .bind(&metric.name)
    .bind(range.from)
    .bind(range.to)
    .fetch_all(&mut *conn)
    .await?;
    let computed_at = rows.iter().map(|r| r.2).max();
    let daily: Vec<(NaiveDate, Option<f64>)> = rows.into_iter().map(|r| (r.0, r.1)).collect();
    Ok(Series {
        cop_id: cop,
        points: bucket(&daily, range, q.granularity, metric.aggregation),
        metric: metric.name,
        aggregation: metric.aggregation,
        granularity: q.granularity,
        from: range.from,
        to: range.to,
        computed_at,
    })
}

/// One metric of a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSummary {
    pub metric: String,
    pub aggregation: Aggregation,
    /// The metric over the period ending on `as_of`.
    pub value: Option<f64>,
    /// The metric over the period before.
    pub previous: Option<f64>,
    pub change: Option<f64>,
    pub change_percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub cop_id: CopId,
    /// The latest date the rollup computed for this CoP; `None` before its first rollup.
    pub as_of: Option<NaiveDate>,
    pub period_days: u32,
    /// The rollup's metrics in their defined order, then ingested ones by name.
    pub metrics: Vec<MetricSummary>,
    pub computed_at: Option<DateTime<Utc>>,
}

/// The latest date the rollup computed for `cop` (its `map` rows: the
/// rollup writes every metric for every date it computes).
pub(crate) async fn as_of(conn: &mut PgConnection, cop: CopId) -> Result<Option<NaiveDate>> {
    Ok(
        sqlx::query_scalar("SELECT max(date) FROM kpi_metrics WHERE cop_id = $1 AND metric = $2")
            .bind(cop)
            .bind(Metric::Map.as_str())
            .fetch_one(conn)
            .await?,
    )
}

/// Every metric of one CoP over the 30 days ending on the latest computed
/// date, with its change against the 30 days before.
pub async fn summary(db: &PgPool, caller: &Caller, cop: CopId) -> Result<Summary> {
    let mut conn = db.acquire().await?;
    let a = access::load(&mut conn, caller, cop, "cop").await?;
    a.require(Action::Read)?;
    let period = Days::new(u64::from(SUMMARY_PERIOD_DAYS));
    let as_of = as_of(&mut conn, cop).await?;
    let rows: Vec<(String, NaiveDate, Option<f64>, DateTime<Utc>)> = match as_of {
        None => vec![],
        Some(as_of) => {
            sqlx::query_as(
                "SELECT metric, date, value, computed_at FROM kpi_metrics
                 WHERE cop_id = $1 AND date > $2 AND date <= $3 ORDER BY metric, date",
            )
            .bind(cop)
            .bind(as_of - period - period)
            .bind(as_of)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let computed_at = rows.iter().map(|r| r.3).max();
    let mut names: Vec<(String, Aggregation)> = Metric::ALL
        .iter()
        .map(|m| (m.as_str().to_string(), m.aggregation()))
        .collect();
    let mut ingested: Vec<String> = rows
        .iter()
        .filter(|r| Metric::parse(&r.0).is_none())
        .map(|r| r.0.clone())
        .collect();
    ingested.dedup();
    names.extend(ingested.into_iter().map(|n| (n, Aggregation::Sum)));
    let metrics = names
        .into_iter()
        .map(|(name, aggregation)| {
            let (mut current, mut before) = (vec![], vec![]);
            if let Some(as_of) = as_of {
                for r in rows.iter().filter(|r| r.0 == name) {
                    if r.1 > as_of - period {
                        current.push((r.1, r.2));
                    } else {
                        before.push((r.1, r.2));
                    }
                }
            }
            let value = combine(aggregation, &current);
            let previous = combine(aggregation, &before);
            let (change, change_percent) = change(value, previous);
            MetricSummary {
                metric: name,
                aggregation,
                value,
                previous,
                change,
                change_percent,
            }
        })
        .collect();
    Ok(Summary {
        cop_id: cop,
        as_of,
        period_days: SUMMARY_PERIOD_DAYS,
        metrics,
        computed_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn buckets_start_on_mondays_and_firsts() {
        // 2026-03-04 is a Wednesday.
        assert_eq!(
            bucket_start(d("2026-03-04"), Granularity::Week),
            d("2026-03-02")
        );
        assert_eq!(
            bucket_start(d("2026-03-02"), Granularity::Week),
            d("2026-03-02")
        );
        assert_eq!(
            bucket_start(d("2026-03-08"), Granularity::Week),
            d("2026-03-02")
        );
        assert_eq!(
            bucket_start(d("2026-03-31"), Granularity::Month),
            d("2026-03-01")
        );
        assert_eq!(
            bucket_start(d("2026-03-31"), Granularity::Day),
            d("2026-03-31")
        );
    }

    #[test]
    fn combining() {
        let rows = [
            (d("2026-01-01"), Some(2.0)),
            (d("2026-01-02"), None),
            (d("2026-01-03"), Some(4.0)),
        ];
        assert_eq!(combine(Aggregation::Sum, &rows), Some(6.0));
        assert_eq!(combine(Aggregation::Mean, &rows), Some(3.0));
        assert_eq!(combine(Aggregation::Last, &rows), Some(4.0));
        // The latest row decides `last`, even when its value is null.
        assert_eq!(combine(Aggregation::Last, &rows[..2]), None);
        for agg in Aggregation::ALL {
            assert_eq!(combine(*agg, &[]), None);
            assert_eq!(combine(*agg, &[(d("2026-01-01"), None)]), None);
        }
        assert_eq!(
            combine(Aggregation::Sum, &[(d("2026-01-01"), Some(0.0))]),
            Some(0.0)
        );
    }

    #[test]
    fn bucketing_with_gaps() {
        let range = DateRange::parse(d("2026-03-04"), d("2026-03-17")).unwrap();
        let rows = [
            (d("2026-03-04"), Some(1.0)),
            (d("2026-03-08"), Some(2.0)),
            // 2026-03-09 .. 03-15 never computed: a gap.
            (d("2026-03-16"), Some(5.0)),
            (d("2026-03-17"), Some(7.0)),
        ];
        assert_eq!(
            bucket(&rows, range, Granularity::Week, Aggregation::Sum),
            vec![
                (d("2026-03-02"), Some(3.0)),
                (d("2026-03-09"), None),
                (d("2026-03-16"), Some(12.0))
            ]
        );
        assert_eq!(
            bucket(&rows, range, Granularity::Week, Aggregation::Last),
            vec![
                (d("2026-03-02"), Some(2.0)),
                (d("2026-03-09"), None),
                (d("2026-03-16"), Some(7.0))
            ]
        );
        let daily = bucket(&rows, range, Granularity::Day, Aggregation::Sum);
        assert_eq!(daily.len(), 14);
        assert_eq!(daily[0], (d("2026-03-04"), Some(1.0)));
        assert_eq!(daily[1], (d("2026-03-05"), None));
        assert_eq!(daily[13], (d("2026-03-17"), Some(7.0)));
        let months = bucket(
            &rows,
            DateRange::parse(d("2026-02-20"), d("2026-04-02")).unwrap(),
            Granularity::Month,
            Aggregation::Mean,
        );
        assert_eq!(
            months,
            vec![
                (d("2026-02-01"), None),
                (d("2026-03-01"), Some(3.75)),
                (d("2026-04-01"), None)
            ]
        );
    }

    #[test]
    fn changes() {
        assert_eq!(change(Some(12.0), Some(10.0)), (Some(2.0), Some(20.0)));
        assert_eq!(change(Some(-5.0), Some(-10.0)), (Some(5.0), Some(50.0)));
        assert_eq!(change(Some(3.0), Some(0.0)), (Some(3.0), None));
        assert_eq!(change(None, Some(1.0)), (None, None));
        assert_eq!(change(Some(1.0), None), (None, None));
    }
}
