//! The job runtime on top of apalis: Launchpad's own apalis backend
//! ([`queue`]) fetches and starts jobs in one statement and feeds apalis'
//! workers; this layer records outcomes in batches, classifies failures,
//! stores durable backoff, enforces attempts (also for attempts that killed
//! their worker), timeouts and panics, cancellation.
//!
//! It knows no feature: handlers get their integrations through
//! [`JobContext::services`] (built from config in `crate::services`), and
//! what happens when a job ends is the [`OnJobEnd`] it is handed.

pub mod context;
pub mod cron;
pub mod heartbeat;
pub mod queue;
pub mod wakeups;
pub mod writer;

use std::{future::Future, panic::AssertUnwindSafe, sync::Arc, time::Instant};

use apalis::prelude::{BoxDynError, Data};
use chrono::Utc;
use futures::FutureExt;
use launchpad_domain::jobs::{
    Failure, JobError, JobKind, JobRecord,
    hooks::OnJobEnd,
    run::{Finish, Outcome},
};
use sqlx::PgPool;

pub use context::JobContext;

use crate::services::Services;
use queue::{KindQueue, Started};
use writer::StateWriter;

/// Everything the task function needs, shared by all kinds.
pub struct Runtime {
    pub db: PgPool,
    pub writer: StateWriter,
    pub services: Arc<Services>,
}

/// What the worker does for a kind: implemented by each kind declared in
/// `launchpad_domain::kinds` (a kind without one fails the build where the
/// kinds are registered, `crate::jobs::register_all`).
pub trait Handler: JobKind {
    fn run(
        ctx: &JobContext,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Self::Output, Failure>> + Send;
}

/// What is told when jobs end (shared by the finish writes and the fetches
/// that end exhausted jobs).
pub type OnEnd = Arc<dyn OnJobEnd>;

/// Frees the attempt's slot in its kind's queue when dropped.
struct Slot(Arc<KindQueue>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.attempt_done();
    }
}

/// The apalis task function of kind `K`: runs one started attempt and
/// records its outcome. Nothing is handed back to apalis (there is no
/// acknowledgement: the outcome's write ends or re-schedules the task).
///
/// The attempt runs as its own tokio task: a busy or CPU-heavy handler
/// neither delays its kind's other tasks nor keeps them on one thread.
pub async fn run_task<K: Handler>(
    started: Started,
    rt: Data<Arc<Runtime>>,
    queue: Data<Arc<KindQueue>>,
) -> Result<(), BoxDynError> {
    let slot = Slot((*queue).clone());
    let rt: Arc<Runtime> = (*rt).clone();
    let attempt = tokio::spawn(async move {
        attempt::<K>(*started.0, rt).await;
        drop(slot);
    });
    // Only a runtime shutting down cancels it; panics are caught inside.
    let _ = attempt.await;
    Ok(())
}

async fn attempt<K: Handler>(job: JobRecord, rt: Arc<Runtime>) {
    let kind = K::NAME;
    let id = job.id;
    if job.attempts == 1 {
        let waited = (job.started_at.unwrap_or_else(Utc::now) - job.created_at)
            .num_milliseconds()
            .max(0) as f64
            / 1e3;
        crate::metrics::job_waited(kind, waited);
    }
    let attempts = job.attempts;
    let max_attempts = job.max_attempts;
    let started = Instant::now();
    let outcome = execute::<K>(&rt, job).await;
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
            if attempts < max_attempts {
                let delay = retry_after.unwrap_or_else(|| {
                    K::RETRY.delay(attempts.max(1) as u32, rand::random::<f64>())
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
    crate::metrics::job_attempt(kind, attempts);
    let outcome = Outcome {
        id,
        attempt: attempts,
        finish,
    };
    if let Err(e) = rt.writer.finish_job(outcome).await {
        tracing::warn!(job_id = %id, error = %e, "could not record the job's outcome; it will run again");
    }
}

/// Runs the handler with the kind's timeout, turning panics and timeouts
/// into transient failures.
async fn execute<K: Handler>(rt: &Runtime, job: JobRecord) -> Result<serde_json::Value, Failure> {
    let payload: K::Payload = serde_json::from_value(job.payload.clone()).map_err(|e| {
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
    let fut = AssertUnwindSafe(K::run(&ctx, payload)).catch_unwind();
    let output = match tokio::time::timeout(K::TIMEOUT, fut).await {
        Err(_) => {
            return Err(Failure::transient(
                "timeout",
                format!("the attempt exceeded the time limit of {:?}", K::TIMEOUT),
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
