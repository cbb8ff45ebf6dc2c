//! The job core: the `jobs` table, enqueueing in the caller's transaction,
//! the worker-side transitions, reading, cancelling, retrying and pruning.
//!
//! A job is one row: what clients see and what workers fetch. The core
//! knows no feature: kinds are declared in [`crate::kinds`], and what
//! happens when a job ends reaches the features through [`hooks::OnJobEnd`].

pub mod backoff;
pub mod changes;
pub mod cron;
pub mod enqueue;
pub mod hooks;
pub mod repo;
pub mod run;
pub mod transport;
pub mod view;
pub mod wakeup;

use crate::text_enum;
use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};

pub use backoff::RetryPolicy;
pub use enqueue::{EnqueueCtx, NewJob, enqueue, enqueue_bulk, enqueue_one};
pub use repo::{JobFilter, JobRecord};

/// How many attempts of a kind one worker process runs at once, relative to
/// the worker's default concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    Default,
    /// The default, capped: heavy jobs that would only contend for the same
    /// cores.
    AtMost(usize),
    /// A multiple of the default: jobs that mostly wait on something else.
    Times(usize),
}

impl Concurrency {
    pub fn of(self, default: usize) -> usize {
        match self {
            Self::Default => default,
            Self::AtMost(n) => default.min(n),
            Self::Times(n) => default.saturating_mul(n),
        }
        .max(1)
    }
}

/// A kind of job, declared once in [`crate::kinds`]. The `NAME` is stable: it is the
/// `kind` column, the apalis worker's name and the API's `kind` value.
pub trait JobKind: Send + Sync + 'static {
    const NAME: &'static str;
    /// What the job needs to find its inputs: ids, not copies of rows.
    type Payload: Serialize + DeserializeOwned + Send + Sync + Clone + std::fmt::Debug + 'static;
    /// The typed result stored in `jobs.result`.
    type Output: Serialize + DeserializeOwned + Send + 'static;

    const MAX_ATTEMPTS: u32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(60);
    /// Higher runs first among queued jobs of the same kind.
    const PRIORITY: i32 = 0;
    const RETRY: RetryPolicy =
        RetryPolicy::exponential(Duration::from_secs(2), Duration::from_secs(15 * 60));
    /// Attempts one worker process runs at once, relative to its default
    /// (`LAUNCHPAD_WORKER_CONCURRENCY_<KIND>` overrides either).
    const CONCURRENCY: Concurrency = Concurrency::Default;

    /// A kind that exercises the job machinery itself (tests, benchmarks):
    /// workers run it only with `LAUNCHPAD_DIAGNOSTIC_JOBS=true`.
    const DIAGNOSTIC: bool = false;

    /// Whether the end of a job of this kind is told as a `job.*` event to
    /// the tenant's webhooks and its `callback_url`. Kinds that are the
    /// platform's own follow-up of an event (a webhook delivery, a
    /// notification fan-out) say false: no event about an event.
    const JOB_EVENTS: bool = true;

    /// The resource the job is about (a survey id, an event id), for filtering.
    fn subject(_payload: &Self::Payload) -> Option<String> {
        None
    }
}

text_enum! {
    /// A job's lifecycle as clients see it.
    pub enum JobStatus {
        /// Waiting to run (first time, or for its next attempt after a transient failure).
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        /// Failed permanently or ran out of attempts. Can be retried by hand.
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// The error stored on a failed (or retrying) job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobError {
    /// A stable machine-readable code (`timeout`, `subject_not_found`, `provider_error`...).
    pub code: String,
    pub message: String,
    /// Whether the failure was transient (the job was or would be retried).
    pub retryable: bool,
}

impl JobError {
    pub fn new(code: impl Into<String>, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            retryable,
        }
    }
}

/// What a handler's failure means for the job.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// Retry later with the kind's backoff (timeouts, 5xx, connection loss, 429).
    /// `retry_after` overrides the backoff (a provider's `Retry-After`).
    #[error("{message}")]
    Transient {
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Never retry (bad payload, 4xx from a provider, invalid input).
    #[error("{message}")]
    Permanent { code: String, message: String },
    /// The job noticed a cancellation request at a checkpoint.
    #[error("cancelled")]
    Cancelled,
}

impl Failure {
    pub fn transient(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Transient {
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Permanent {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        // Database trouble is transient from a job's point of view.
        Failure::transient("database_error", e.to_string())
    }
}

impl From<crate::error::Error> for Failure {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error as E;
        match e {
            E::NotFound { resource } => {
                Failure::permanent("subject_not_found", format!("{resource} not found"))
            }
            E::Validation(errs) => Failure::permanent(
                "invalid_input",
                errs.iter()
                    .map(|f| format!("{}: {}", f.pointer, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            E::Rejected { code, errors } | E::UnprocessableFields { code, errors } => {
                Failure::permanent(
                    code,
                    errors
                        .iter()
                        .map(|f| format!("{}: {}", f.pointer, f.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            }
            E::Conflict { code, detail }
            | E::Unprocessable { code, detail }
            | E::PayloadTooLarge { code, detail } => Failure::permanent(code, detail),
            E::Unauthorized(m) | E::Forbidden(m) => Failure::permanent("forbidden", m),
            E::RateLimited { retry_after } => Failure::Transient {
                code: "rate_limited".into(),
                message: "rate limited".into(),
                retry_after: Some(retry_after),
            },
            E::Unavailable(m) => Failure::transient("unavailable", m),
            E::Internal(e) => Failure::transient("internal_error", format!("{e:#}")),
        }
    }
}

pub use changes::JOB_EVENTS_CHANNEL;

#[cfg(test)]
mod tests {
    use super::Concurrency;

    /// The job core knows no feature: no file of `domain/src/jobs/` or of
    /// the worker's runtime (`worker/src/runtime/`) names a feature module.
    #[test]
    fn the_job_core_imports_no_feature() {
        const FEATURES: &[&str] = &[
            "webhooks", "ai", "portal", "email", "kpi", "lms", "kinds", "calendar", "mail", "llm",
            "http",
        ];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dirs = [
            root.join("domain/src/jobs"),
            root.join("worker/src/runtime"),
        ];
        let mut checked = 0;
        for dir in dirs {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                // Code only: comments may name what plugs in.
                let code: String = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                for f in FEATURES {
                    for needle in [
                        format!("crate::{f}::"),
                        format!("crate::{f}}}"),
                        format!("crate::{{{f}"),
                        format!("launchpad_domain::{f}::"),
                        format!("launchpad_domain::{{{f}"),
                        format!("crate::{f},"),
                        format!("super::super::{f}"),
                    ] {
                        assert!(
                            !code.contains(&needle),
                            "{} names `{needle}`: the job core must know no feature",
                            path.display()
                        );
                    }
                }
                checked += 1;
            }
        }
        assert!(checked >= 15, "read only {checked} files");
    }

    #[test]
    fn declared_concurrency_scales_the_workers_default() {
        assert_eq!(Concurrency::Default.of(32), 32);
        assert_eq!(Concurrency::AtMost(4).of(32), 4);
        assert_eq!(Concurrency::AtMost(4).of(2), 2);
        assert_eq!(Concurrency::Times(4).of(32), 128);
        assert_eq!(Concurrency::Times(4).of(0), 1, "never zero");
    }
}
