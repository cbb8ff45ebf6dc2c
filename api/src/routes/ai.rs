//! AI features: survey summaries and CoP advice (asynchronous jobs), their
//! latest results, token usage per tenant and month, and monthly budgets.

use chrono::{DateTime, Utc};
use launchpad_domain::kinds::{
    AiCopAdvice, AiCopAdvicePayload, AiSurveySummary, AiSurveySummaryPayload,
};
use launchpad_domain::{
    ai::{
        repo::{self, Budget, MonthlyUsage},
        types::{CopAdvice, SurveySummary},
    },
    ids::{CopId, CustomerId, JobId, SurveyId},
    jobs::{EnqueueCtx, NewJob},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::Example,
};

use super::jobs::{JobAccepted, JobOptions, JobRequest, accept_new_job, check_callback};
use crate::types::{Page, Tag};
use crate::{
    body::{JsonBody, OptionalJsonBody},
    problem::{ApiError, ApiResult},
    security::BearerAuth,
    state::SharedState,
};

crate::list_query! {
    /// The query of `GET /api/v1/usage/ai`.
    pub struct AiUsageQuery {
        /// `YYYY-MM`; the current month (UTC) by default.
        month: Option<String>,
        /// Only this tenant.
        customer_id: Option<CustomerId>,
    }
}

pub struct AiApi;

/// The latest successful summary of a survey and the job that produced it.
#[derive(Object)]
pub struct AiSurveySummaryRecord {
    pub job_id: JobId,
    pub created_at: DateTime<Utc>,
    pub summary: SurveySummary,
}

/// The latest successful advice for a CoP and the job that produced it.
#[derive(Object)]
pub struct AiCopAdviceRecord {
    pub job_id: JobId,
    pub created_at: DateTime<Utc>,
    pub advice: CopAdvice,
}

/// A tenant's AI usage in one month (UTC). Tokens are the provider's
/// counts; `cached_tokens` is the part of `prompt_tokens` served from the
/// provider's prompt cache.
#[derive(Object)]
pub struct AiUsageView {
    pub customer_id: CustomerId,
    /// `YYYY-MM`.
    pub month: String,
    /// Job attempts that called the provider or reused a cached result.
    pub jobs: i64,
    /// Requests sent to the provider.
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    /// `prompt_tokens + completion_tokens`: what the budget counts.
    pub total_tokens: i64,
    /// Jobs answered from the result cache (no tokens spent).
    pub cache_hits: i64,
    /// The tenant's monthly token budget; absent without one.
    #[oai(skip_serializing_if_is_none)]
    pub monthly_token_limit: Option<i64>,
}

impl AiUsageView {
    fn new(u: MonthlyUsage, month: &str) -> Self {
        Self {
            customer_id: u.customer_id,
            month: month.to_string(),
            jobs: u.jobs,
            requests: u.requests,
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_tokens: u.cached_tokens,
            total_tokens: u.prompt_tokens + u.completion_tokens,
            cache_hits: u.cache_hits,
            monthly_token_limit: u.monthly_token_limit,
        }
    }
}

/// A tenant's monthly AI token budget. When `used_this_month` reaches
/// `monthly_token_limit`, further AI jobs fail with the code `budget_exceeded`.
#[derive(Object)]
pub struct AiBudgetView {
    pub customer_id: CustomerId,
    /// Prompt + completion tokens per UTC month; absent: no limit.
    #[oai(skip_serializing_if_is_none)]
    pub monthly_token_limit: Option<i64>,
    /// Prompt + completion tokens used in the current UTC month.
    pub used_this_month: i64,
    /// Tokens left this month; absent without a limit.
    #[oai(skip_serializing_if_is_none)]
    pub remaining: Option<i64>,
}

impl From<Budget> for AiBudgetView {
    fn from(b: Budget) -> Self {
        Self {
            customer_id: b.customer_id,
            monthly_token_limit: b.monthly_token_limit,
            used_this_month: b.used_this_month,
            remaining: b.remaining(),
        }
    }
}

/// Sets a tenant's monthly AI token budget; `null` removes it.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct SetAiBudget {
    /// Prompt + completion tokens per UTC month (0 stops all AI jobs), or `null` for no limit.
    #[oai(validator(minimum(value = "0")))]
    pub monthly_token_limit: Option<i64>,
}

impl Example for SetAiBudget {
    fn example() -> Self {
        Self {
            monthly_token_limit: Some(2_000_000),
        }
    }
}

/// The request's checked `callback_url`, if any.
async fn callback_of(
    state: &SharedState,
    options: &OptionalJsonBody<JobOptions>,
) -> ApiResult<Option<String>> {
    let url = options
        .value
        .as_ref()
        .and_then(|o| o.callback_url.as_deref());
    check_callback(state, url).await
}

/// What an `Idempotency-Key` is bound to: the query and the callback URL.
fn fingerprint(refresh: bool, callback_url: Option<&str>) -> serde_json::Value {
    let mut body = serde_json::json!({ "refresh": refresh });
    if let Some(url) = callback_url {
        body["callback_url"] = url.into();
    }
    body
}

#[OpenApi(tag = "Tag::Ai")]
impl AiApi {
    /// Summarises the survey's free-text answers with AI: what works well,
    /// opportunities, top actions (each with verbatim quotes), sentiment.
    /// Answers `202` with the `ai_survey_summary` job; when it succeeds its
    /// `result` is an `AiSurveySummary` (also shown afterwards by
    /// `surveys_ai_summary_get` and in the survey's results). Identical
    /// answers reuse the previous result (`cache_hit`) unless `refresh`.
    /// Needs the right to manage the survey's CoP. Without a configured
    /// provider the summary is extractive (`provider: "extractive"`).
    #[oai(
        path = "/api/v1/surveys/:survey_id/ai/summary",
        method = "post",
        operation_id = "surveys_ai_summary_create"
    )]
    async fn summarise(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        survey_id: Path<SurveyId>,
        /// Ignore the cached result of identical input and summarise again.
        refresh: Query<Option<bool>>,
        /// Makes the request safe to retry: the same key returns the first job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        /// Optional: a one-off `callback_url`.
        options: OptionalJsonBody<JobOptions>,
    ) -> ApiResult<JobAccepted> {
        let callback_url = callback_of(&state, &options).await?;
        let customer = repo::authorize_survey(&state.db, &auth.0, survey_id.0).await?;
        let payload = AiSurveySummaryPayload {
            survey_id: survey_id.0,
            refresh: refresh.0.unwrap_or(false),
        };
        let body = fingerprint(payload.refresh, callback_url.as_deref());
        let ctx = EnqueueCtx {
            customer_id: Some(customer),
            requested_by: Some(auth.0.user_id),
            callback_url,
        };
        let path = format!("/api/v1/surveys/{}/ai/summary", survey_id.0);
        accept_new_job(
            &state,
            &JobRequest {
                caller: &auth.0,
                tenant: Some(customer),
                idempotency_key: idempotency_key.0.as_deref(),
                path: &path,
                body: &body,
            },
            NewJob::of::<AiSurveySummary>(&payload, &ctx),
        )
        .await
    }

    /// The survey's latest successful AI summary (404 when none exists yet).
    #[oai(
        path = "/api/v1/surveys/:survey_id/ai/summary",
        method = "get",
        operation_id = "surveys_ai_summary_get"
    )]
    async fn summary(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        survey_id: Path<SurveyId>,
    ) -> ApiResult<Json<AiSurveySummaryRecord>> {
        let s = repo::latest_summary(&state.db, &auth.0, survey_id.0).await?;
        Ok(Json(AiSurveySummaryRecord {
            job_id: s.job_id,
            created_at: s.created_at,
            summary: s.result,
        }))
    }

    /// Advice for the CoP's leaders from its latest KPIs, the last 90 days
    /// of events and attendance, recent surveys, use cases and champions:
    /// next sessions, content to highlight, champions to recognise and a
    /// quarterly roadmap, each with a one-line reason. Answers `202` with
    /// the `ai_cop_advice` job; when it succeeds its `result` is an
    /// `AiCopAdvice` (also shown afterwards by `cops_ai_advice_get`).
    /// Member names are never sent to the provider. Without a configured
    /// provider the advice is rule-based (`provider: "extractive"`).
    #[oai(
        path = "/api/v1/cops/:cop_id/ai/advice",
        method = "post",
        operation_id = "cops_ai_advice_create"
    )]
    async fn advise(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        /// Ignore the cached result of an identical context and advise again.
        refresh: Query<Option<bool>>,
        /// Makes the request safe to retry: the same key returns the first job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        /// Optional: a one-off `callback_url`.
        options: OptionalJsonBody<JobOptions>,
    ) -> ApiResult<JobAccepted> {
        let callback_url = callback_of(&state, &options).await?;
        let customer = repo::authorize_cop(&state.db, &auth.0, cop_id.0).await?;
        let payload = AiCopAdvicePayload {
            cop_id: cop_id.0,
            refresh: refresh.0.unwrap_or(false),
        };
        let body = fingerprint(payload.refresh, callback_url.as_deref());
        let ctx = EnqueueCtx {
            customer_id: Some(customer),
            requested_by: Some(auth.0.user_id),
            callback_url,
        };
        let path = format!("/api/v1/cops/{}/ai/advice", cop_id.0);
        accept_new_job(
            &state,
            &JobRequest {
                caller: &auth.0,
                tenant: Some(customer),
                idempotency_key: idempotency_key.0.as_deref(),
                path: &path,
                body: &body,
            },
            NewJob::of::<AiCopAdvice>(&payload, &ctx),
        )
        .await
    }

    /// The CoP's latest successful AI advice (404 when none exists yet).
    #[oai(
        path = "/api/v1/cops/:cop_id/ai/advice",
        method = "get",
        operation_id = "cops_ai_advice_get"
    )]
    async fn advice(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
    ) -> ApiResult<Json<AiCopAdviceRecord>> {
        let a = repo::latest_advice(&state.db, &auth.0, cop_id.0).await?;
        Ok(Json(AiCopAdviceRecord {
            job_id: a.job_id,
            created_at: a.created_at,
            advice: a.result,
        }))
    }

    /// AI token usage per tenant in one month (UTC), for the tenants the
    /// caller may see (staff: every tenant), ordered by tenant id.
    #[oai(
        path = "/api/v1/usage/ai",
        method = "get",
        operation_id = "usage_ai_get"
    )]
    async fn usage(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: AiUsageQuery,
    ) -> ApiResult<Json<Page<AiUsageView>>> {
        let month = match query.month {
            Some(m) => {
                repo::parse_month(m.trim()).map_err(|e| ApiError::bad_request("/month", e))?
            }
            None => Utc::now().date_naive(),
        };
        let label = month.format("%Y-%m").to_string();
        let page =
            repo::monthly_usage(&state.db, &auth.0, month, query.customer_id, &query.page).await?;
        Ok(Json(Page::from_domain(page, |u| {
            AiUsageView::new(u, &label)
        })))
    }

    /// A tenant's monthly AI token budget and what it used this month.
    #[oai(
        path = "/api/v1/customers/:customer_id/ai/budget",
        method = "get",
        operation_id = "customers_ai_budget_get"
    )]
    async fn budget(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        customer_id: Path<CustomerId>,
    ) -> ApiResult<Json<AiBudgetView>> {
        Ok(Json(
            repo::get_budget(&state.db, &auth.0, customer_id.0)
                .await?
                .into(),
        ))
    }

    /// Sets or removes a tenant's monthly AI token budget (admin only).
    /// Once a month's prompt + completion tokens reach it, further AI jobs
    /// of the tenant fail at once with the code `budget_exceeded`; results
    /// reused from the cache stay available.
    #[oai(
        path = "/api/v1/customers/:customer_id/ai/budget",
        method = "put",
        operation_id = "customers_ai_budget_set"
    )]
    async fn set_budget(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        customer_id: Path<CustomerId>,
        body: JsonBody<SetAiBudget>,
    ) -> ApiResult<Json<AiBudgetView>> {
        let b = repo::set_budget(
            &state.db,
            &auth.0,
            customer_id.0,
            body.value.monthly_token_limit,
        )
        .await?;
        Ok(Json(b.into()))
    }
}
