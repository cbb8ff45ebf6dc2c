//! Analytics over the stored KPI metrics: a CoP's summary and the portfolio
//! of every CoP the caller can see.

use chrono::{DateTime, NaiveDate, Utc};
use launchpad_domain::{
    ids::{CopId, CustomerId},
    kpi::{
        Aggregation, Metric,
        health::{self, CopHealth, Portfolio},
        series::{self, MetricSummary, Summary},
    },
    portal::cops::{CopPhase, CopStatus},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use crate::types::Tag;
use crate::{problem::ApiResult, security::BearerAuth, state::SharedState};

pub struct AnalyticsApi;

/// One metric of a CoP's summary: its value over the period ending on
/// `as_of` and over the period before, combined with its `aggregation`.
#[derive(Object)]
pub struct KpiMetricSummary {
    pub metric: String,
    pub aggregation: Aggregation,
    /// The metric over the current period; `null` without data.
    #[oai(nullable)]
    pub value: Option<f64>,
    /// The metric over the previous period; `null` without data.
    #[oai(nullable)]
    pub previous: Option<f64>,
    /// `value − previous`; `null` unless both exist.
    #[oai(nullable)]
    pub change: Option<f64>,
    /// The change in percent of `|previous|`; `null` unless both exist and `previous` ≠ 0.
    #[oai(nullable)]
    pub change_percent: Option<f64>,
}

impl From<MetricSummary> for KpiMetricSummary {
    fn from(m: MetricSummary) -> Self {
        Self {
            metric: m.metric,
            aggregation: m.aggregation,
            value: m.value,
            previous: m.previous,
            change: m.change,
            change_percent: m.change_percent,
        }
    }
}

/// Every metric of a CoP over the `period_days` ending on `as_of` (the
/// latest date the rollup computed), against the `period_days` before.
#[derive(Object)]
pub struct KpiSummary {
    pub cop_id: CopId,
    /// The latest date computed for the CoP; `null` before its first rollup.
    #[oai(nullable)]
    pub as_of: Option<NaiveDate>,
    pub period_days: u32,
    /// The rollup's metrics, then metrics ingested for the CoP.
    pub metrics: Vec<KpiMetricSummary>,
    /// When the newest value read was computed; `null` when none was.
    #[oai(nullable)]
    pub computed_at: Option<DateTime<Utc>>,
}

impl From<Summary> for KpiSummary {
    fn from(s: Summary) -> Self {
        Self {
            cop_id: s.cop_id,
            as_of: s.as_of,
            period_days: s.period_days,
            metrics: s.metrics.into_iter().map(Into::into).collect(),
            computed_at: s.computed_at,
        }
    }
}

/// A metric and its value.
#[derive(Object)]
pub struct KpiMetricValue {
    pub metric: Metric,
    /// `null` without data.
    #[oai(nullable)]
    pub value: Option<f64>,
}

/// A count metric summed over the portfolio's CoPs.
#[derive(Object)]
pub struct KpiMetricTotal {
    pub metric: Metric,
    pub value: f64,
}

/// One CoP of the portfolio.
#[derive(Object)]
pub struct PortfolioCop {
    pub cop_id: CopId,
    pub customer_id: CustomerId,
    pub name: String,
    pub phase: CopPhase,
    pub status: CopStatus,
    /// Members now.
    pub members: i64,
    /// The latest date computed for the CoP; `null` before its first rollup.
    #[oai(nullable)]
    pub as_of: Option<NaiveDate>,
    /// 0–100, see the README's KPIs section; `null` before the first rollup.
    #[oai(nullable)]
    pub health_score: Option<f64>,
    /// Every rollup metric over the period ending on `as_of`.
    pub metrics: Vec<KpiMetricValue>,
    /// When the newest value read was computed; `null` when none was.
    #[oai(nullable)]
    pub computed_at: Option<DateTime<Utc>>,
}

impl From<CopHealth> for PortfolioCop {
    fn from(c: CopHealth) -> Self {
        Self {
            cop_id: c.cop_id,
            customer_id: c.customer_id,
            name: c.name,
            phase: c.phase,
            status: c.status,
            members: c.members,
            as_of: c.as_of,
            health_score: c.health_score,
            metrics: c
                .metrics
                .into_iter()
                .map(|(metric, value)| KpiMetricValue { metric, value })
                .collect(),
            computed_at: c.computed_at,
        }
    }
}

/// How many of the portfolio's CoPs are in each phase.
#[derive(Object)]
pub struct CopsByPhase {
    pub foundation: i64,
    pub launch: i64,
    pub growth: i64,
    pub optimization: i64,
}

/// Every CoP (not archived) the caller can see, each over the
/// `period_days` ending on its latest computed date, with totals,
/// averages and a health score per CoP.
#[derive(Object)]
pub struct PortfolioView {
    pub period_days: u32,
    pub cop_count: i64,
    /// Members of the CoPs, summed (a person in two CoPs counts twice).
    pub members: i64,
    pub cops_by_phase: CopsByPhase,
    /// Count metrics summed over the CoPs.
    pub totals: Vec<KpiMetricTotal>,
    /// Every metric's mean over the CoPs that have a value.
    pub averages: Vec<KpiMetricValue>,
    /// Mean health score of the CoPs that have one.
    #[oai(nullable)]
    pub average_health_score: Option<f64>,
    /// By name.
    pub cops: Vec<PortfolioCop>,
    /// When the newest value read was computed; `null` when none was.
    #[oai(nullable)]
    pub computed_at: Option<DateTime<Utc>>,
}

impl From<Portfolio> for PortfolioView {
    fn from(p: Portfolio) -> Self {
        let phase = |ph: CopPhase| {
            p.cops_by_phase
                .iter()
                .find(|x| x.0 == ph)
                .map_or(0, |x| x.1)
        };
        Self {
            period_days: p.period_days,
            cop_count: p.cops.len() as i64,
            members: p.members,
            cops_by_phase: CopsByPhase {
                foundation: phase(CopPhase::Foundation),
                launch: phase(CopPhase::Launch),
                growth: phase(CopPhase::Growth),
                optimization: phase(CopPhase::Optimization),
            },
            totals: p
                .totals
                .into_iter()
                .map(|(metric, value)| KpiMetricTotal { metric, value })
                .collect(),
            averages: p
                .averages
                .into_iter()
                .map(|(metric, value)| KpiMetricValue { metric, value })
                .collect(),
            average_health_score: p.average_health_score,
            cops: p.cops.into_iter().map(Into::into).collect(),
            computed_at: p.computed_at,
        }
    }
}

#[OpenApi(tag = "Tag::Analytics")]
impl AnalyticsApi {
    /// Every KPI metric of a CoP over the 30 days ending on the latest date
    /// the rollup computed, with its change against the 30 days before.
    /// Counts are summed over the period, rates averaged over its days,
    /// trailing-window metrics (`map`, `mau`, `nps`) taken on its last day.
    #[oai(
        path = "/api/v1/cops/:cop_id/analytics/summary",
        method = "get",
        operation_id = "analytics_summary"
    )]
    async fn summary(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
    ) -> ApiResult<Json<KpiSummary>> {
        Ok(Json(
            series::summary(&state.db, &auth.0, cop_id.0).await?.into(),
        ))
    }

    /// The portfolio: every CoP (not archived) the caller can see — at most
    /// 1000; narrow with `customer_id` — with its KPIs over the 30 days
    /// ending on its latest computed date and its health score, the totals
    /// and averages across the CoPs, and the number of CoPs per phase.
    #[oai(
        path = "/api/v1/analytics/portfolio",
        method = "get",
        operation_id = "analytics_portfolio"
    )]
    async fn portfolio(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        /// Only the CoPs of this customer.
        customer_id: Query<Option<CustomerId>>,
    ) -> ApiResult<Json<PortfolioView>> {
        Ok(Json(
            health::portfolio(&state.db, &auth.0.scope(), customer_id.0)
                .await?
                .into(),
        ))
    }
}
