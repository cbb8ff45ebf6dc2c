//! KPI metrics: daily series, on-demand rollups, and values ingested from
//! outside the platform.

use chrono::{DateTime, NaiveDate, Utc};
use launchpad_domain::{
    ids::CopId,
    kpi::{
        Aggregation, DateRange, rollup,
        series::{self, Granularity, Series, SeriesQuery},
    },
    portal::kpis::{self, IngestReport, KpiIngest},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path},
    payload::Json,
    types::Example,
};

use super::jobs::{JobAccepted, JobRequest, accept_job, check_callback};
use crate::types::Tag;
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

crate::query_params! {
    /// The query of `GET /api/v1/cops/{cop_id}/kpis`.
    pub struct SeriesParams {
        /// A metric the rollup computes (`map`, `mau`, `nps`, `nps_daily`,
        /// `sessions`, `attendance`, `attendance_rate`, `content_views`,
        /// `content_downloads`, `new_members`, `certifications`,
        /// `use_cases_approved`) or one ingested for this CoP.
        metric: String,
        /// First date (YYYY-MM-DD); default: 90 days before `to`.
        from: Option<NaiveDate>,
        /// Last date (YYYY-MM-DD); default: today in the customer's time
        /// zone. At most two years after `from`.
        to: Option<NaiveDate>,
        /// `day` (default), `week` or `month`.
        granularity: Option<Granularity>,
    }
}

pub struct KpisApi;

/// One daily value.
#[derive(Object, serde::Deserialize)]
pub struct KpiPoint {
    /// The day (YYYY-MM-DD).
    pub date: NaiveDate,
    /// The value; absent or `null` records "no value" for the day.
    #[oai(skip_serializing_if_is_none)]
    pub value: Option<f64>,
}

/// Values of one metric to store (upserted per CoP, metric and day).
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct IngestKpis {
    /// `^[a-z][a-z0-9_]{0,62}$`, and not one of the metrics the KPI rollup
    /// computes (map, mau, nps, nps_daily, sessions, attendance,
    /// attendance_rate, content_views, content_downloads, new_members,
    /// certifications, use_cases_approved).
    #[oai(validator(pattern = "^[a-z][a-z0-9_]{0,62}$"))]
    pub metric: String,
    /// 1–1000 points, one per date.
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub points: Vec<KpiPoint>,
}

impl Example for IngestKpis {
    fn example() -> Self {
        Self {
            metric: "dbu_consumed".into(),
            points: vec![KpiPoint {
                date: NaiveDate::from_ymd_opt(2026, 11, 20).expect("valid"),
                value: Some(1234.5),
            }],
        }
    }
}

/// What an ingest stored.
#[derive(Object)]
pub struct IngestReportView {
    pub metric: String,
    /// Points inserted or updated.
    pub upserted: u64,
}

impl From<IngestReport> for IngestReportView {
    fn from(r: IngestReport) -> Self {
        Self {
            metric: r.metric,
            upserted: r.upserted,
        }
    }
}

/// One point of a series.
#[derive(Object)]
pub struct KpiSeriesPoint {
    /// The first day of the bucket (the day, the Monday of the ISO week, the
    /// first of the month).
    pub date: NaiveDate,
    /// The bucket's value; `null` where nothing was computed (a gap).
    #[oai(nullable)]
    pub value: Option<f64>,
}

/// A metric of one CoP over time. Dates are local dates of the CoP's
/// customer's time zone; buckets are cut to `from`..`to`.
#[derive(Object)]
pub struct KpiSeries {
    pub cop_id: CopId,
    pub metric: String,
    pub aggregation: Aggregation,
    pub granularity: Granularity,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub points: Vec<KpiSeriesPoint>,
    /// When the newest value of the series was computed; `null` when none was.
    #[oai(nullable)]
    pub computed_at: Option<DateTime<Utc>>,
}

impl From<Series> for KpiSeries {
    fn from(s: Series) -> Self {
        Self {
            cop_id: s.cop_id,
            metric: s.metric,
            aggregation: s.aggregation,
            granularity: s.granularity,
            from: s.from,
            to: s.to,
            points: s
                .points
                .into_iter()
                .map(|(date, value)| KpiSeriesPoint { date, value })
                .collect(),
            computed_at: s.computed_at,
        }
    }
}

/// The dates to recompute (local dates of the customer's time zone,
/// inclusive; at most two years; dates after today are skipped).
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct RequestKpiRollup {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Receives this job's terminal event (`job.succeeded`, `job.failed` or
    /// `job.cancelled`) once, signed with the customer's callback secret.
    /// Same rules as webhook endpoints (https, public addresses).
    #[oai(skip_serializing_if_is_none, validator(max_length = 2048))]
    pub callback_url: Option<String>,
}

impl Example for RequestKpiRollup {
    fn example() -> Self {
        Self {
            from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid"),
            to: NaiveDate::from_ymd_opt(2026, 3, 31).expect("valid"),
            callback_url: None,
        }
    }
}

#[OpenApi(tag = "Tag::Kpis")]
impl KpisApi {
    /// Stores externally computed KPI values (e.g. DBUs from a data
    /// platform). Idempotent: a value is keyed by CoP, metric and date, and
    /// sending it again overwrites it.
    #[oai(
        path = "/api/v1/cops/:cop_id/kpis/ingest",
        method = "post",
        operation_id = "kpis_ingest"
    )]
    async fn ingest(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        body: JsonBody<IngestKpis>,
    ) -> ApiResult<Json<IngestReportView>> {
        let b = body.value;
        let input = KpiIngest::parse(
            &b.metric,
            b.points.into_iter().map(|p| (p.date, p.value)).collect(),
        )?;
        Ok(Json(
            kpis::ingest(&state.db, &auth.0, cop_id.0, input)
                .await?
                .into(),
        ))
    }

    /// A metric of the CoP over time, by day, ISO week or month. Days never
    /// computed are gaps (`null`). Buckets combine days with the metric's
    /// `aggregation`: `sum` for counts, `mean` of the days with a value for
    /// rates (`attendance_rate`, `nps_daily`), `last` for trailing-window
    /// metrics (`map`, `mau`, `nps`); ingested metrics are summed. See the
    /// README's KPIs section for what each metric counts.
    #[oai(
        path = "/api/v1/cops/:cop_id/kpis",
        method = "get",
        operation_id = "kpis_series"
    )]
    async fn series(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        query: SeriesParams,
    ) -> ApiResult<Json<KpiSeries>> {
        let q = SeriesQuery {
            metric: query.metric,
            from: query.from,
            to: query.to,
            granularity: query.granularity.unwrap_or(Granularity::Day),
        };
        Ok(Json(
            series::series(&state.db, &auth.0, cop_id.0, q)
                .await?
                .into(),
        ))
    }

    /// Recomputes the CoP's KPI metrics for a date range (managers of the
    /// CoP). Answers 202 with the `kpi_rollup` job; its result reports the
    /// rows written, the dates and CoPs computed. The nightly rollup already
    /// recomputes the trailing weeks; use this for older history.
    #[oai(
        path = "/api/v1/cops/:cop_id/kpis/rollups",
        method = "post",
        operation_id = "kpis_rollups_create"
    )]
    async fn request_rollup(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        /// Makes the request safe to retry: the same key and body return the first job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: JsonBody<RequestKpiRollup>,
    ) -> ApiResult<JobAccepted> {
        let range = DateRange::parse(body.value.from, body.value.to)?;
        let callback_url = check_callback(&state, body.value.callback_url.as_deref()).await?;
        let cop = cop_id.0;
        let customer = rollup::authorize(&state.db, &auth.0, cop).await?;
        let caller = auth.0.clone();
        accept_job(
            &state,
            &JobRequest {
                caller: &auth.0,
                tenant: Some(customer),
                idempotency_key: idempotency_key.0.as_deref(),
                path: &format!("/api/v1/cops/{cop}/kpis/rollups"),
                body: &body.raw,
            },
            move |conn| {
                Box::pin(
                    async move { rollup::request(conn, &caller, cop, range, callback_url).await },
                )
            },
        )
        .await
    }
}
