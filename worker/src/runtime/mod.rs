//! The job runtime on top of apalis: apalis fetches and locks tasks; this
//! layer owns the product's job record — starts and finishes in batches,
//! classifies failures, stores durable backoff, enforces attempts (also for
//! attempts that killed their worker), timeouts and panics, cancellation.

pub mod context;
pub mod cron;
pub mod wakeups;
pub mod writer;

use std::{future::Future, panic::AssertUnwindSafe, sync::Arc, time::Instant};

use apalis::prelude::{AbortError, BoxDynError, Data, RetryAfterError, TaskId};
use chrono::Utc;
use futures::FutureExt;
use launchpad_domain::{
    ids::JobId,
    jobs::{
        Failure, JobError, JobKind,
        run::{Finish, StartOutcome},
    },
};
use sqlx::PgPool;

pub use context::JobContext;

use crate::{config::WebhookSettings, http::WebhookClient};
use writer::StateWriter;

/// Outside integrations shared by handlers (mail, LLM, HTTP clients...).
pub struct Services {
    /// Sends webhook deliveries (SSRF-guarded, no redirects, capped reads).
    pub webhook_client: WebhookClient,
    pub webhook_settings: WebhookSettings,
    /// SMTP to the configured relay, rate-limited.
    pub mail: crate::mail::Mailer,
    /// The AI provider (absent: the offline extractive method) and its settings.
    pub ai: crate::llm::Ai,
}

/// Everything the task function needs, shared by all kinds.
pub struct Runtime {
    pub db: PgPool,
    pub writer: StateWriter,
    pub services: Arc<Services>,
}

/// A job handler: one per kind.
pub trait JobHandler: Send + Sync + 'static {
    type Kind: JobKind;

    fn run(
        &self,
        ctx: &JobContext,
        payload: <Self::Kind as JobKind>::Payload,
    ) -> impl Future<Output = Result<<Self::Kind as JobKind>::Output, Failure>> + Send;
}

fn abort(msg: String) -> BoxDynError {
    Box::new(AbortError::new(msg))
}

/// The apalis task function of kind `H::Kind`.
///
/// apalis drives every task of a kind, and that kind's fetches and
/// heartbeats, from one future. The attempt therefore runs as its own tokio
/// task: a busy or CPU-heavy handler neither delays the heartbeat (which
/// would get its task re-delivered as orphaned) nor keeps the other tasks of
/// its kind on one thread.
pub async fn run_task<H: JobHandler>(
    _args: serde_json::Value,
    task_id: TaskId,
    rt: Data<Arc<Runtime>>,
    handler: Data<Arc<H>>,
) -> Result<serde_json::Value, BoxDynError> {
    let Some(id) = task_id.as_ulid().map(JobId) else {
        return Err(abort(format!("task id {task_id} is not a ULID")));
    };
    let rt: Arc<Runtime> = (*rt).clone();
    let handler: Arc<H> = (*handler).clone();
    match tokio::spawn(attempt(id, rt, handler)).await {
        Ok(r) => r.map_err(|e| e.into_box()),
        // Panics are caught inside; this is a runtime shutting down.
        Err(e) => Err(Box::new(RetryAfterError::new(
            e.to_string(),
            std::time::Duration::from_secs(1),
        ))),
    }
}

/// The outcome handed back to apalis (`Send` so it can cross the spawn).
enum TaskError {
    Abort(String),
    RetryAfter(String),
}

impl TaskError {
    fn into_box(self) -> BoxDynError {
        match self {
            Self::Abort(m) => abort(m),
            Self::RetryAfter(m) => {
                Box::new(RetryAfterError::new(m, std::time::Duration::from_secs(1)))
            }
        }
    }
}

async fn attempt<H: JobHandler>(
    id: JobId,
    rt: Arc<Runtime>,
    handler: Arc<H>,
) -> Result<serde_json::Value, TaskError> {
    let kind = <H::Kind as JobKind>::NAME;
    let job = match rt.writer.start_job(id).await {
        Ok(StartOutcome::Run(job)) => *job,
        Ok(StartOutcome::Cancelled) => {
            crate::metrics::job_finished(kind, "cancelled", None);
            return Err(TaskError::Abort("cancelled".into()));
        }
        Ok(StartOutcome::Exhausted) => {
            crate::metrics::job_finished(kind, "failed", None);
            return Err(TaskError::Abort("attempts exhausted".into()));
        }
        Ok(StartOutcome::Gone) => {
            return Err(TaskError::Abort("job record gone or finished".into()));
        }
        // Not started: release without counting an attempt of ours.
        Err(e) => return Err(TaskError::RetryAfter(e)),
    };
    if job.attempts == 1 {
        let waited = (Utc::now() - job.created_at).num_milliseconds().max(0) as f64 / 1e3;
        crate::metrics::job_waited(kind, waited);
    }
    let started = Instant::now();
    let outcome = execute(handler.as_ref(), &rt, job.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();

    let finish = match outcome {
        Ok(result) => Finish::Succeeded { result },
        Err(Failure::Cancelled) => Finish::Cancelled,
        Err(Failure::Permanent { code, message }) => Finish::Failed {
            error: JobError::new(code, message, false),
        },
        Err(Failure::Transient {
            code,
            message,
            retry_after,
        }) => {
            let error = JobError::new(code, message, true);
            if job.attempts < job.max_attempts {
                let delay = retry_after.unwrap_or_else(|| {
                    H::Kind::RETRY.delay(job.attempts.max(1) as u32, rand::random::<f64>())
                });
                let retry_at = Utc::now()
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60));
                Finish::Retry { error, retry_at }
            } else {
                Finish::Failed { error }
            }
        }
    };
    let label = match &finish {
        Finish::Succeeded { .. } => "succeeded",
        Finish::Retry { .. } => "retrying",
        Finish::Failed { .. } => "failed",
        Finish::Cancelled => "cancelled",
    };
    crate::metrics::job_finished(kind, label, Some(elapsed));
    crate::metrics::job_attempt(kind, job.attempts);
    let response = match &finish {
        Finish::Succeeded { result } => Ok(result.clone()),
        // Back to Pending; its run_at was moved to the retry time, so apalis
        // will not fetch it before then (durable backoff).
        Finish::Retry { error, .. } => Err(TaskError::RetryAfter(error.message.clone())),
        Finish::Failed { error } => Err(TaskError::Abort(error.message.clone())),
        Finish::Cancelled => Err(TaskError::Abort("cancelled".into())),
    };
    if let Err(e) = rt.writer.finish_job(id, finish).await {
        tracing::warn!(job_id = %id, error = %e, "could not record the job's outcome; it will run again");
        return Err(TaskError::RetryAfter(e));
    }
    response
}

/// Runs the handler with the kind's timeout, turning panics and timeouts
/// into transient failures.
async fn execute<H: JobHandler>(
    handler: &H,
    rt: &Runtime,
    job: launchpad_domain::jobs::JobRecord,
) -> Result<serde_json::Value, Failure> {
    let payload: <H::Kind as JobKind>::Payload = serde_json::from_value(job.payload.clone())
        .map_err(|e| {
            Failure::permanent(
                "invalid_payload",
                format!("the job's payload is invalid: {e}"),
            )
        })?;
    let ctx = JobContext {
        job,
        db: rt.db.clone(),
        services: rt.services.clone(),
    };
    let fut = AssertUnwindSafe(handler.run(&ctx, payload)).catch_unwind();
    let output = match tokio::time::timeout(<H::Kind as JobKind>::TIMEOUT, fut).await {
        Err(_) => {
            return Err(Failure::transient(
                "timeout",
                format!(
                    "the attempt exceeded the time limit of {:?}",
                    <H::Kind as JobKind>::TIMEOUT
                ),
            ));
        }
        Ok(Err(panic)) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(job_id = %ctx.job.id, panic = %msg, "job handler panicked");
            return Err(Failure::transient(
                "panic",
                format!("the handler panicked: {msg}"),
            ));
        }
        Ok(Ok(r)) => r?,
    };
    serde_json::to_value(output).map_err(|e| Failure::permanent("invalid_result", e.to_string()))
}
