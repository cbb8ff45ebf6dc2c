//! Worker-side state transitions of the `jobs` row, in batches.
//!
//! - [`fetch_and_start`]: one statement picks due jobs of a kind in line
//!   order (`FOR UPDATE SKIP LOCKED`) and starts them (`running`, one more
//!   attempt, out of the line). There is no separate "fetched" state: a job
//!   a worker holds is a started attempt.
//! - [`finish`]: the outcomes of many attempts in one statement; a retry goes
//!   back in line at its due time.
//! - [`release`]: hands back started-but-never-run jobs (shutdown) without
//!   using up an attempt.
//!
//! Terminal transitions tell the features through [`OnJobEnd`], in the same
//! transaction.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{JobError, JobRecord, JobStatus, changes, hooks::OnJobEnd, repo};
use crate::{error::Result, ids::JobId};

pub use super::transport::WorkerId;

/// Picks up to `limit` due jobs of `kind`, in line order, and starts them
/// for `worker`, in the caller's transaction; returns the jobs to run (each
/// `running` with its new attempt number).
///
/// A job whose attempts ran out (earlier attempts never finished: they
/// killed their worker) ends `failed` here, one cancelled while a lost
/// attempt held it ends `cancelled`; neither is returned.
pub async fn fetch_and_start(
    conn: &mut PgConnection,
    on_end: &dyn OnJobEnd,
    kind: &str,
    worker: WorkerId,
    limit: usize,
) -> Result<Vec<JobRecord>> {
    if limit == 0 {
        return Ok(vec![]);
    }
    // The picking sub-select reads the line index (`jobs_line_idx`) in
    // order; the picked ids reach the UPDATE as an array, a primary-key
    // lookup whatever the table's size.
    let rows: Vec<repo::JobRow> = sqlx::query_as(sqlf!(
        "UPDATE jobs SET
             status = CASE
                 WHEN cancel_requested THEN 'cancelled'
                 WHEN attempts + 1 > max_attempts THEN 'failed'
                 ELSE 'running' END,
             attempts = CASE WHEN cancel_requested OR attempts + 1 > max_attempts THEN attempts ELSE attempts + 1 END,
             started_at = coalesce(started_at, now()),
             finished_at = CASE WHEN cancel_requested OR attempts + 1 > max_attempts THEN now() END,
             error = CASE
                 WHEN cancel_requested THEN NULL
                 WHEN attempts + 1 > max_attempts THEN jsonb_build_object(
                     'code', 'attempts_exhausted',
                     'message', 'no attempts left: ' || attempts || ' of ' || max_attempts
                         || ' attempts did not finish (the worker running them stopped or crashed)',
                     'retryable', false)
                 ELSE error END,
             next_attempt_at = NULL,
             -- Out of the line; coalescing keys hold for waiting jobs only.
             run_at = NULL,
             unique_key = NULL,
             lock_by = $2,
             updated_at = now()
         WHERE id = ANY (ARRAY(
             SELECT id FROM jobs
             WHERE kind = $1 AND run_at IS NOT NULL AND run_at <= now()
             ORDER BY priority DESC, run_at
             LIMIT $3
             FOR UPDATE SKIP LOCKED))
         RETURNING {}",
        repo::COLUMNS
    ))
    .bind(kind)
    .bind(worker)
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?;
    let (jobs, ended): (Vec<JobRecord>, Vec<JobRecord>) = rows
        .into_iter()
        .map(JobRecord::from)
        .partition(|r| r.status == JobStatus::Running);
    if !ended.is_empty() {
        on_end.ended(conn, &ended).await?;
    }
    let changed: Vec<JobId> = jobs.iter().chain(&ended).map(|r| r.id).collect();
    changes::notify_changed(conn, &changed).await?;
    Ok(jobs)
}

/// How long until the next job of `kind` that waits for its time (delayed,
/// or retrying after a transient failure) is due; `None` when none waits.
pub async fn next_due(conn: &mut PgConnection, kind: &str) -> Result<Option<std::time::Duration>> {
    // A loose index scan of the line index (kind, priority DESC, run_at):
    // one probe per distinct priority of the kind for the next priority,
    // one for its earliest `run_at`.
    let secs: Option<f64> = sqlx::query_scalar(
        "WITH RECURSIVE p(priority) AS (
             (SELECT priority FROM jobs WHERE run_at IS NOT NULL AND kind = $1
              ORDER BY priority DESC LIMIT 1)
             UNION ALL
             SELECT (SELECT j.priority FROM jobs j
                     WHERE j.run_at IS NOT NULL AND j.kind = $1 AND j.priority < p.priority
                     ORDER BY j.priority DESC LIMIT 1)
             FROM p WHERE p.priority IS NOT NULL
         )
         SELECT extract(epoch FROM min((
             SELECT j.run_at FROM jobs j
             WHERE j.run_at IS NOT NULL AND j.kind = $1 AND j.priority = p.priority
             ORDER BY j.priority DESC, j.run_at LIMIT 1)) - now())::float8
         FROM p WHERE p.priority IS NOT NULL",
    )
    .bind(kind)
    .fetch_one(conn)
    .await?;
    Ok(secs.map(|s| std::time::Duration::from_secs_f64(s.clamp(0.0, 86_400.0))))
}

/// Hands back jobs this worker started but never ran (a shutdown with jobs
/// still buffered): they are `queued` again, at the front of their line,
/// with the attempt taken back.
pub async fn release(conn: &mut PgConnection, worker: WorkerId, ids: &[JobId]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let n = sqlx::query(
        "UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0),
             started_at = CASE WHEN attempts <= 1 THEN NULL ELSE started_at END,
             run_at = created_at, updated_at = now()
         WHERE id = ANY ($2) AND lock_by = $1 AND status = 'running'",
    )
    .bind(worker)
    .bind(ids)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    changes::notify_changed(conn, ids).await?;
    Ok(n)
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Finish {
    Succeeded {
        result: serde_json::Value,
    },
    /// Back in line, due at `retry_at`.
    Retry {
        error: JobError,
        retry_at: DateTime<Utc>,
    },
    Failed {
        error: JobError,
    },
    Cancelled,
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: JobId,
    /// The attempt that ended: a late outcome of an attempt the job has
    /// moved past (its worker was taken for dead) changes nothing.
    pub attempt: i32,
    pub finish: Finish,
}

/// Applies a batch of outcomes in the caller's transaction (one statement),
/// then tells listening API processes about every job it changed (one
/// NOTIFY).
pub async fn finish(
    conn: &mut PgConnection,
    on_end: &dyn OnJobEnd,
    items: &[Outcome],
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let n = items.len();
    let mut ids = Vec::with_capacity(n);
    let mut attempts = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut results: Vec<Option<&serde_json::Value>> = Vec::with_capacity(n);
    let mut errors: Vec<Option<serde_json::Value>> = Vec::with_capacity(n);
    let mut retry_ats: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    for o in items {
        ids.push(o.id);
        attempts.push(o.attempt);
        let (status, result, error, retry_at) = match &o.finish {
            Finish::Succeeded { result } => ("succeeded", Some(result), None, None),
            Finish::Retry { error, retry_at } => ("queued", None, Some(error), Some(*retry_at)),
            Finish::Failed { error } => ("failed", None, Some(error), None),
            Finish::Cancelled => ("cancelled", None, None, None),
        };
        statuses.push(status);
        results.push(result);
        errors.push(error.map(|e| serde_json::to_value(e).expect("errors serialise")));
        retry_ats.push(retry_at);
    }
    // No indexed column changes when a job ends (its `lock_by` stays), so
    // the update is HOT. The rows come back only when a feature needs to
    // hear of their end (recorded below, in this transaction): most batches
    // return nothing.
    let ended: Vec<repo::JobRow> = sqlx::query_as(sqlf!(
        "WITH j AS (
             UPDATE jobs AS j SET
                 status = u.status,
                 result = u.result,
                 error = u.error,
                 next_attempt_at = u.retry_at,
                 run_at = u.retry_at,
                 progress = CASE WHEN u.status = 'succeeded' THEN 100 ELSE j.progress END,
                 finished_at = CASE WHEN u.status = 'queued' THEN NULL ELSE now() END,
                 updated_at = now()
             FROM unnest($1::uuid[], $2::int[], $3::text[], $4::jsonb[], $5::jsonb[], $6::timestamptz[])
                  AS u(id, attempt, status, result, error, retry_at)
             WHERE j.id = u.id AND j.status = 'running' AND j.attempts = u.attempt
             RETURNING j.*
         )
         SELECT {} FROM j WHERE {}",
        repo::COLUMNS,
        on_end.filter()
    ))
    .bind(&ids)
    .bind(&attempts)
    .bind(&statuses)
    .bind(&results)
    .bind(&errors)
    .bind(&retry_ats)
    .fetch_all(&mut *conn)
    .await?;
    if !ended.is_empty() {
        let ended: Vec<JobRecord> = ended.into_iter().map(JobRecord::from).collect();
        on_end.ended(conn, &ended).await?;
    }
    changes::notify_changed(conn, &ids).await
}

/// Records progress; returns whether a cancellation was requested (the
/// handler's checkpoint). A vanished row reads as cancelled.
pub async fn progress(
    conn: &mut PgConnection,
    id: JobId,
    pct: u8,
    message: Option<&str>,
) -> Result<bool> {
    let cancel: Option<bool> = sqlx::query_scalar(
        "UPDATE jobs SET progress = $2, progress_message = coalesce($3, progress_message), updated_at = now()
         WHERE id = $1 AND status = 'running' RETURNING cancel_requested",
    )
    .bind(id)
    .bind(pct.min(100) as i16)
    .bind(message)
    .fetch_optional(&mut *conn)
    .await?;
    changes::notify_changed(conn, &[id]).await?;
    Ok(cancel.unwrap_or(true))
}

/// Whether a cancellation was requested (cheap read for checkpoints).
pub async fn cancel_requested(conn: &mut PgConnection, id: JobId) -> Result<bool> {
    let c: Option<bool> = sqlx::query_scalar(
        "SELECT cancel_requested OR status <> 'running' FROM jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(c.unwrap_or(true))
}
