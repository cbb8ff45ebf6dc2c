//! CoP health and the portfolio: every CoP a caller can see, with its
//! metrics over the last 30 computed days, a health score, totals,
//! averages and the count of CoPs per phase.
//!
//! # Health score (0–100)
//!
//! A weighted mean of four components, each between 0 and 1:
//!
//! | component | weight | value |
//! |---|---|---|
//! | participation | 40 | `map / members`, at most 1 (0 without members) |
//! | satisfaction | 25 | `(nps + 100) / 200` (trailing 90-day NPS) |
//! | cadence | 20 | `sessions in 30 days / 4`, at most 1 (weekly sessions score full) |
//! | attendance | 15 | mean daily `attendance_rate` over 30 days |
//!
//! A component without data (no NPS answers in 90 days, no registrations in
//! 30 days) is left out and the others are re-weighted; the score is
//! `100 × Σ wᵢ·sᵢ / Σ wᵢ`, rounded to one decimal. A CoP the rollup has not
//! computed yet has no score.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use sqlx::PgPool;

use super::{Metric, series::combine};
use crate::{
    error::{Error, Result},
    ids::{CopId, CustomerId},
    portal::cops::{CopPhase, CopStatus},
    tenancy::Scope,
};

/// The portfolio's values cover the 30 days ending on each CoP's latest computed date.
pub const PERIOD_DAYS: u32 = 30;
/// The most CoPs one portfolio covers; narrow a larger scope with `customer_id`.
pub const MAX_COPS: usize = 1000;

const WEIGHT_PARTICIPATION: f64 = 40.0;
const WEIGHT_SATISFACTION: f64 = 25.0;
const WEIGHT_CADENCE: f64 = 20.0;
const WEIGHT_ATTENDANCE: f64 = 15.0;
/// Sessions in 30 days that earn the full cadence component.
const FULL_CADENCE_SESSIONS: f64 = 4.0;

/// What the health score is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthInputs {
    pub members: i64,
    /// MAP on the latest computed date.
    pub map: f64,
    /// Trailing 90-day NPS on the latest computed date.
    pub nps: Option<f64>,
    /// Sessions in the 30-day period.
    pub sessions: f64,
    /// Mean daily attendance rate in the period.
    pub attendance_rate: Option<f64>,
}

/// The documented health score (see the module documentation).
pub fn health_score(h: &HealthInputs) -> f64 {
    let participation = if h.members > 0 {
        (h.map / h.members as f64).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut parts = vec![
        (WEIGHT_PARTICIPATION, participation),
        (
            WEIGHT_CADENCE,
            (h.sessions / FULL_CADENCE_SESSIONS).clamp(0.0, 1.0),
        ),
    ];
    if let Some(nps) = h.nps {
        parts.push((WEIGHT_SATISFACTION, ((nps + 100.0) / 200.0).clamp(0.0, 1.0)));
    }
    if let Some(rate) = h.attendance_rate {
        parts.push((WEIGHT_ATTENDANCE, rate.clamp(0.0, 1.0)));
    }
    let weights: f64 = parts.iter().map(|p| p.0).sum();
    let score = 100.0 * parts.iter().map(|(w, s)| w * s).sum::<f64>() / weights;
    (score * 10.0).round() / 10.0
}

/// One CoP of the portfolio.
#[derive(Debug, Clone, PartialEq)]
pub struct CopHealth {
    pub cop_id: CopId,
    pub customer_id: CustomerId,
    pub name: String,
    pub phase: CopPhase,
    pub status: CopStatus,
    pub members: i64,
    /// The latest date the rollup computed; `None` before the first rollup.
    pub as_of: Option<NaiveDate>,
    /// Every rollup metric over the period, combined with its aggregation.
    pub metrics: Vec<(Metric, Option<f64>)>,
    pub health_score: Option<f64>,
    pub computed_at: Option<DateTime<Utc>>,
}

impl CopHealth {
    pub fn value(&self, m: Metric) -> Option<f64> {
        self.metrics.iter().find(|x| x.0 == m).and_then(|x| x.1)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Portfolio {
    pub period_days: u32,
    /// By name.
    pub cops: Vec<CopHealth>,
    pub members: i64,
    /// Count metrics summed over the CoPs (people in several CoPs count in each).
    pub totals: Vec<(Metric, f64)>,
    /// Every metric's mean over the CoPs that have a value.
    pub averages: Vec<(Metric, Option<f64>)>,
    pub average_health_score: Option<f64>,
    pub cops_by_phase: Vec<(CopPhase, i64)>,
    pub computed_at: Option<DateTime<Utc>>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, total) = values.fold((0u32, 0.0), |(n, t), v| (n + 1, t + v));
    (n > 0).then(|| total / f64::from(n))
}

type CopRow = (
    CopId,
    CustomerId,
    String,
    CopPhase,
    CopStatus,
    i64,
    Option<NaiveDate>,
);
type MetricRow = (CopId, String, NaiveDate, Option<f64>, DateTime<Utc>);
/// Daily values per CoP and metric name.
type Daily<'a> = HashMap<(CopId, &'a str), Vec<(NaiveDate, Option<f64>)>>;

/// The portfolio of every CoP (not archived) in `scope`, optionally of one customer.
pub async fn portfolio(
    db: &PgPool,
    scope: &Scope,
    customer: Option<CustomerId>,
) -> Result<Portfolio> {
    if let Some(c) = customer {
        scope.ensure(c, "customer")?;
    }
    let mut conn = db.acquire().await?;
    let cops: Vec<CopRow> = sqlx::query_as(
        "SELECT c.id, c.customer_id, c.name, c.phase, c.status,
                (SELECT count(*) FROM cop_members m WHERE m.cop_id = c.id),
                (SELECT max(k.date) FROM kpi_metrics k WHERE k.cop_id = c.id AND k.metric = $3)
         FROM cops c
         WHERE c.archived_at IS NULL
           AND ($1::uuid[] IS NULL OR c.customer_id = ANY($1))
           AND ($2::uuid IS NULL OR c.customer_id = $2)
         ORDER BY c.name, c.id
         LIMIT $4",
    )
    .bind(scope.customer_ids())
    .bind(customer)
    .bind(Metric::Map.as_str())
    .bind(MAX_COPS as i64 + 1)
    .fetch_all(&mut *conn)
    .await?;
    if cops.len() > MAX_COPS {
        return Err(Error::field(
            "/customer_id",
            format!("more than {MAX_COPS} CoPs are in scope: choose a customer_id"),
        ));
    }
    // The daily rows of every CoP's period, in one statement: one primary-key
    // range read per CoP (the LATERAL subquery, kept apart by `OFFSET 0`; as a
    // plain join the planner hash-joined over a scan of all of `kpi_metrics`,
    // ~110 ms at 438,000 rows against ~12 ms). Unordered: `combine` does not
    // depend on the rows' order.
    let period = Days::new(u64::from(PERIOD_DAYS));
    let (ids, ends): (Vec<uuid::Uuid>, Vec<NaiveDate>) =
        cops.iter().filter_map(|c| c.6.map(|d| (c.0.0, d))).unzip();
    let starts: Vec<NaiveDate> = ends.iter().map(|d| *d - period).collect();
    let names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
    let rows: Vec<MetricRow> = sqlx::query_as(
        "SELECT p.cop_id, k.metric, k.date, k.value, k.computed_at
         FROM unnest($1::uuid[], $2::date[], $3::date[]) AS p(cop_id, after, until)
         CROSS JOIN LATERAL (
             SELECT k.metric, k.date, k.value, k.computed_at FROM kpi_metrics k
             WHERE k.cop_id = p.cop_id AND k.metric = ANY($4) AND k.date > p.after AND k.date <= p.until
             OFFSET 0
         ) k",
    )
    .bind(&ids)
    .bind(&starts)
    .bind(&ends)
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    let mut daily: Daily = HashMap::new();
    let mut computed: HashMap<CopId, DateTime<Utc>> = HashMap::new();
    for (cop, metric, date, value, at) in &rows {
        daily
            .entry((*cop, metric.as_str()))
            .or_default()
            .push((*date, *value));
        let e = computed.entry(*cop).or_insert(*at);
        *e = (*e).max(*at);
    }
    let cops: Vec<CopHealth> = cops
        .into_iter()
        .map(
            |(cop_id, customer_id, name, phase, status, members, as_of)| {
                let metrics: Vec<(Metric, Option<f64>)> = Metric::ALL
                    .iter()
                    .map(|m| {
                        let v = daily
                            .get(&(cop_id, m.as_str()))
                            .and_then(|d| combine(m.aggregation(), d));
                        (*m, v)
                    })
                    .collect();
                let mut c = CopHealth {
                    cop_id,
                    customer_id,
                    name,
                    phase,
                    status,
                    members,
                    as_of,
                    metrics,
                    health_score: None,
                    computed_at: computed.get(&cop_id).copied(),
                };
                if as_of.is_some() {
                    c.health_score = Some(health_score(&HealthInputs {
                        members,
                        map: c.value(Metric::Map).unwrap_or(0.0),
                        nps: c.value(Metric::Nps),
                        sessions: c.value(Metric::Sessions).unwrap_or(0.0),
                        attendance_rate: c.value(Metric::AttendanceRate),
                    }));
                }
                c
            },
        )
        .collect();
    let totals = Metric::ALL
        .iter()
        .filter(|m| m.is_count())
        .map(|m| (*m, cops.iter().filter_map(|c| c.value(*m)).sum()))
        .collect();
    let averages = Metric::ALL
        .iter()
        .map(|m| (*m, mean(cops.iter().filter_map(|c| c.value(*m)))))
        .collect();
    let cops_by_phase = CopPhase::ALL
        .iter()
        .map(|p| (*p, cops.iter().filter(|c| c.phase == *p).count() as i64))
        .collect();
    Ok(Portfolio {
        period_days: PERIOD_DAYS,
        members: cops.iter().map(|c| c.members).sum(),
        totals,
        averages,
        average_health_score: mean(cops.iter().filter_map(|c| c.health_score)),
        cops_by_phase,
        computed_at: computed.values().max().copied(),
        cops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> HealthInputs {
        HealthInputs {
            members: 10,
            map: 5.0,
            nps: Some(20.0),
            sessions: 2.0,
            attendance_rate: Some(0.8),
        }
    }

    #[test]
    fn health_scores() {
        // 40·0.5 + 25·0.6 + 20·0.5 + 15·0.8 = 20 + 15 + 10 + 12 = 57
        assert_eq!(health_score(&inputs()), 57.0);
        // Without NPS and attendance: (40·0.5 + 20·0.5) / 60 = 50 %.
        let h = HealthInputs {
            nps: None,
            attendance_rate: None,
            ..inputs()
        };
        assert_eq!(health_score(&h), 50.0);
        // Everything at its best, and capped above it.
        let best = HealthInputs {
            members: 3,
            map: 5.0,
            nps: Some(100.0),
            sessions: 9.0,
            attendance_rate: Some(1.0),
        };
        assert_eq!(health_score(&best), 100.0);
        // Nothing at all.
        let none = HealthInputs {
            members: 0,
            map: 0.0,
            nps: Some(-100.0),
            sessions: 0.0,
            attendance_rate: Some(0.0),
        };
        assert_eq!(health_score(&none), 0.0);
        // One decimal: (40·1/3 + 20·0) / 60 = 22.22… %.
        let third = HealthInputs {
            members: 3,
            map: 1.0,
            nps: None,
            sessions: 0.0,
            attendance_rate: None,
        };
        assert_eq!(health_score(&third), 22.2);
    }

    #[test]
    fn means() {
        assert_eq!(mean([1.0, 2.0, 6.0].into_iter()), Some(3.0));
        assert_eq!(mean(std::iter::empty()), None);
    }
}
