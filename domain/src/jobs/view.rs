//! A job as the API shows it (`GET /api/v1/jobs/{id}`), and as the `data` of
//! the `job.*` webhook events: one definition for both.

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::{JobRecord, JobStatus};
use crate::ids::{CustomerId, JobId, UserId};

/// Why a job failed (or why its last attempt failed, while it waits to retry).
#[derive(Object, Clone, PartialEq)]
pub struct JobErrorView {
    /// Stable machine-readable code: `timeout`, `subject_not_found`, `attempts_exhausted`, ...
    pub code: String,
    pub message: String,
    /// Whether the failure was transient (retried automatically while attempts remain).
    pub retryable: bool,
}

/// An asynchronous job.
#[derive(Object, Clone, PartialEq)]
pub struct JobView {
    pub id: JobId,
    /// The job kind (`kpi_rollup`, `ai_survey_summary`, ...).
    pub kind: String,
    pub status: JobStatus,
    #[oai(skip_serializing_if_is_none)]
    pub customer_id: Option<CustomerId>,
    /// The resource the job is about (e.g. a survey id).
    #[oai(skip_serializing_if_is_none)]
    pub subject: Option<String>,
    /// 0–100.
    pub progress: i16,
    #[oai(skip_serializing_if_is_none)]
    pub progress_message: Option<String>,
    /// Attempts started so far.
    pub attempts: i32,
    pub max_attempts: i32,
    /// When a job waiting after a transient failure runs again.
    #[oai(skip_serializing_if_is_none)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// A running job was asked to stop.
    pub cancel_requested: bool,
    /// The kind's typed result, once succeeded.
    #[oai(skip_serializing_if_is_none)]
    pub result: Option<serde_json::Value>,
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<JobErrorView>,
    #[oai(skip_serializing_if_is_none)]
    pub requested_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl JobView {
    /// The JSON the API answers for this job.
    pub fn to_json(&self) -> serde_json::Value {
        poem_openapi::types::ToJSON::to_json(self).unwrap_or_default()
    }
}

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            status: j.status,
            customer_id: j.customer_id,
            subject: j.subject,
            progress: j.progress,
            progress_message: j.progress_message,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            next_attempt_at: j.next_attempt_at,
            cancel_requested: j.cancel_requested,
            result: j.result,
            error: j.error.map(|e| JobErrorView {
                code: e.code,
                message: e.message,
                retryable: e.retryable,
            }),
            requested_by: j.requested_by,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            updated_at: j.updated_at,
        }
    }
}
