//! Diagnostic jobs: exercise the job machinery end to end (admin only,
//! enabled with LAUNCHPAD_DIAGNOSTIC_JOBS=true on the API and the worker).

use launchpad_domain::kinds::{Diagnostic, DiagnosticBehaviour, DiagnosticPayload};
use launchpad_domain::{
    ids::CustomerId,
    jobs::{EnqueueCtx, NewJob},
    values,
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Header, types::Example};

use super::{
    jobs::{JobAccepted, JobRequest, accept_new_job},
    webhooks::check_target,
};
use crate::types::Tag;
use crate::{
    body::JsonBody,
    problem::{ApiError, ApiResult},
    security::BearerAuth,
    state::SharedState,
};

pub struct DiagnosticsApi;

#[derive(Object, serde::Deserialize, Clone)]
#[oai(example, skip_serializing_if_is_none)]
pub struct CreateDiagnosticJob {
    pub behaviour: DiagnosticBehaviour,
    /// For `fail_transient`: how many attempts fail before one succeeds.
    #[serde(default)]
    #[oai(default, validator(maximum(value = "100")))]
    pub fail_times: u32,
    /// For `sleep`: how long the job runs.
    #[serde(default)]
    #[oai(default, validator(maximum(value = "600000")))]
    pub sleep_ms: u64,
    /// Echoed in the result; also the job's subject.
    #[oai(validator(max_length = 200))]
    pub label: Option<String>,
    /// Receives this job's terminal event (`job.succeeded`, `job.failed` or
    /// `job.cancelled`), signed with the callback secret of the job's
    /// customer (the platform's without one). Same rules as webhook endpoints.
    #[oai(validator(max_length = 2048))]
    pub callback_url: Option<String>,
    /// Runs the job on behalf of this customer: its webhook endpoints receive
    /// the job's terminal event.
    pub customer_id: Option<CustomerId>,
}

impl Example for CreateDiagnosticJob {
    fn example() -> Self {
        Self {
            behaviour: DiagnosticBehaviour::Succeed,
            fail_times: 0,
            sleep_ms: 0,
            label: Some("smoke test".into()),
            callback_url: None,
            customer_id: None,
        }
    }
}

#[OpenApi(tag = "Tag::Diagnostics")]
impl DiagnosticsApi {
    /// Enqueues a diagnostic job whose behaviour the payload chooses.
    #[oai(
        path = "/api/v1/diagnostics/jobs",
        method = "post",
        operation_id = "diagnostics_jobs_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        /// Makes the request safe to retry: the same key and body return the first job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: JsonBody<CreateDiagnosticJob>,
    ) -> ApiResult<JobAccepted> {
        if !state.settings.diagnostic_jobs {
            return Err(launchpad_domain::Error::not_found("diagnostics").into());
        }
        auth.0.require_admin()?;
        let b = body.value.clone();
        if let Some(l) = &b.label {
            values::text(l, 200, false).map_err(|m| ApiError::bad_request("/label", m))?;
        }
        if let Some(c) = b.customer_id {
            // As everywhere, a body field naming a missing row is a 400 naming it.
            launchpad_domain::customers::get(&state.db, &auth.0.scope(), c)
                .await
                .map_err(|e| match e {
                    launchpad_domain::Error::NotFound { .. } => {
                        ApiError::bad_request("/customer_id", "no such customer")
                    }
                    e => e.into(),
                })?;
        }
        let callback_url = match b.callback_url.as_deref() {
            Some(url) => Some(check_target(&state, "/callback_url", url).await?),
            None => None,
        };
        let payload = DiagnosticPayload {
            behaviour: b.behaviour,
            fail_times: b.fail_times,
            sleep_ms: b.sleep_ms,
            label: b.label,
        };
        let ctx = EnqueueCtx {
            customer_id: b.customer_id,
            requested_by: Some(auth.0.user_id),
            callback_url,
        };
        accept_new_job(
            &state,
            &JobRequest {
                caller: &auth.0,
                tenant: b.customer_id,
                idempotency_key: idempotency_key.0.as_deref(),
                path: "/api/v1/diagnostics/jobs",
                body: &body.raw,
            },
            NewJob::of::<Diagnostic>(&payload, &ctx),
        )
        .await
    }
}
