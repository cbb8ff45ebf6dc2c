//! Worker-side state transitions of the `jobs` row and its apalis task, in
//! batches.
//!
//! - [`fetch_and_start`]: one statement picks due tasks of a kind (`FOR
//!   UPDATE SKIP LOCKED`), locks them for this worker and marks their job
//!   rows `running` (attempt + 1). There is no separate "fetched" state: a
//!   task a worker holds is a started attempt.
//! - [`finish`]: the outcomes of many attempts in one statement; an ended job
//!   deletes its task, a retry puts it back to `Pending` at its retry time.
//! - [`release`]: hands back started-but-never-run tasks (shutdown) without
//!   using up an attempt.
//!
//! Terminal transitions record the jobs' webhook events in the same
//! transaction ([`webhooks::events::record_job_events`]).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, Row};

use super::{JobError, JobRecord, JobStatus, repo};
use crate::{error::Result, ids::JobId, webhooks};

/// apalis' "may run" predicate, exactly as its partial fetch index
/// (`idx_apalis_jobs_fetch_partial`) states it: a query must repeat it
/// word for word for the planner to read that index. Unqualified columns:
/// they resolve to the innermost `apalis.jobs` of the query using it.
const RUNNABLE: &str = "(status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))";

/// Picks up to `limit` due tasks of `kind`, locks them for `worker` and
/// starts their jobs, in the caller's transaction; returns the jobs to run
/// (each `running` with its new attempt number), oldest first by priority.
///
/// A job whose attempts ran out (earlier attempts never finished: they
/// killed their worker) ends `failed` here, one cancelled while a crashed
/// attempt held it ends `cancelled`; a task whose job row is gone or
/// already finished is dropped. None of them is returned.
pub async fn fetch_and_start(
    conn: &mut PgConnection,
    kind: &str,
    worker: &str,
    limit: usize,
) -> Result<Vec<JobRecord>> {
    if limit == 0 {
        return Ok(vec![]);
    }
    // The picking sub-select repeats the predicate of apalis' partial fetch
    // index (`idx_apalis_jobs_fetch_partial`) so the planner reads it in
    // order; the picked ids go to both UPDATEs as arrays, which makes them
    // primary-key lookups whatever the tables' sizes.
    let rows = sqlx::query(sqlf!(
        "WITH task AS (
             UPDATE apalis.jobs a
             SET status = 'Running', lock_by = $2, lock_at = now(), attempts = a.attempts + 1
             WHERE a.id = ANY (ARRAY(
                 SELECT id FROM apalis.jobs
                 WHERE {RUNNABLE} AND run_at <= now() AND job_type = $1
                 ORDER BY priority DESC, run_at ASC
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED))
             RETURNING a.id
         )
         UPDATE jobs SET
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
             -- Coalescing keys hold for queued jobs only (and clearing an
             -- already empty key keeps this a HOT update).
             unique_key = NULL,
             updated_at = now()
         WHERE id = ANY (ARRAY(SELECT id FROM task)) AND status IN ('queued', 'running')
         RETURNING {}, (SELECT count(*) FROM task) AS picked",
        repo::COLUMNS
    ))
    .bind(kind)
    .bind(worker)
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?;
    let mut picked = 0i64;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in &rows {
        picked = row.try_get("picked")?;
        jobs.push(JobRecord::from(repo::JobRow::from_row(row)?));
    }
    if jobs.is_empty() && rows.is_empty() {
        // Nothing came back: either nothing was due, or every picked task
        // belonged to a vanished or finished job. Only the latter needs the
        // clean-up below; one cheap probe tells.
        picked = sqlx::query_scalar(
            "SELECT count(*) FROM apalis.jobs a WHERE a.lock_by = $1 AND a.status = 'Running'
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = a.id AND j.status = 'running')",
        )
        .bind(worker)
        .fetch_one(&mut *conn)
        .await?;
    }
    let ended: Vec<JobRecord> = jobs
        .iter()
        .filter(|r| r.status.is_terminal())
        .cloned()
        .collect();
    if !ended.is_empty() || picked > jobs.len() as i64 {
        webhooks::events::record_job_events(conn, &ended).await?;
        // The tasks of jobs that ended here, vanished or were already
        // finished: this worker's running tasks without a running job.
        sqlx::query(
            "DELETE FROM apalis.jobs a WHERE a.lock_by = $1 AND a.status = 'Running'
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = a.id AND j.status = 'running')",
        )
        .bind(worker)
        .execute(&mut *conn)
        .await?;
    }
    jobs.retain(|r| r.status == JobStatus::Running);
    let changed: Vec<JobId> = jobs.iter().chain(&ended).map(|r| r.id).collect();
    repo::notify_changed(conn, &changed).await?;
    Ok(jobs)
}

/// How long until the next task of `kind` that waits for its time (delayed,
/// or retrying after a transient failure) is due; `None` when none waits.
pub async fn next_due(conn: &mut PgConnection, kind: &str) -> Result<Option<std::time::Duration>> {
    // A loose index scan of apalis' partial fetch index (job_type, priority
    // DESC, run_at): one probe per distinct priority of the kind for the
    // next priority, one for its earliest `run_at`. A plain `min(run_at)`
    // cannot read that index in `run_at` order and scanned the whole table
    // (26.7 ms at 210,000 queued tasks against 0.08 ms).
    let secs: Option<f64> = sqlx::query_scalar(sqlf!(
        "WITH RECURSIVE p(priority) AS (
             (SELECT priority FROM apalis.jobs WHERE {RUNNABLE} AND job_type = $1
              ORDER BY priority DESC LIMIT 1)
             UNION ALL
             SELECT (SELECT j.priority FROM apalis.jobs j
                     WHERE {RUNNABLE} AND j.job_type = $1 AND j.priority < p.priority
                     ORDER BY j.priority DESC LIMIT 1)
             FROM p WHERE p.priority IS NOT NULL
         )
         SELECT extract(epoch FROM min((
             SELECT j.run_at FROM apalis.jobs j
             WHERE {RUNNABLE} AND j.job_type = $1 AND j.priority = p.priority
             ORDER BY j.priority DESC, j.run_at LIMIT 1)) - now())::float8
         FROM p WHERE p.priority IS NOT NULL"
    ))
    .bind(kind)
    .fetch_one(conn)
    .await?;
    Ok(secs.map(|s| std::time::Duration::from_secs_f64(s.clamp(0.0, 86_400.0))))
}

/// Hands back tasks this worker started but never ran (a shutdown with
/// tasks still buffered): the tasks are `Pending` again and their jobs
/// `queued`, with the attempt taken back.
pub async fn release(conn: &mut PgConnection, worker: &str, ids: &[JobId]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let id_strs: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    let n = sqlx::query(
        "WITH task AS (
             UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL,
                 attempts = greatest(attempts - 1, 0)
             WHERE id = ANY ($2) AND lock_by = $1 AND status = 'Running'
             RETURNING id
         )
         UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0),
             started_at = CASE WHEN attempts <= 1 THEN NULL ELSE started_at END,
             updated_at = now()
         WHERE id = ANY (ARRAY(SELECT id FROM task)) AND status = 'running'",
    )
    .bind(worker)
    .bind(&id_strs)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    repo::notify_changed(conn, ids).await?;
    Ok(n)
}

/// Applies a batch of finishes in the caller's transaction, then tells
/// listening API processes about every job it changed (one NOTIFY).
pub async fn finish(conn: &mut PgConnection, finishes: &[(JobId, Finish)]) -> Result<()> {
    if finishes.is_empty() {
        return Ok(());
    }
    finish_many(conn, finishes).await?;
    let changed: Vec<JobId> = finishes.iter().map(|(id, _)| *id).collect();
    repo::notify_changed(conn, &changed).await
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Finish {
    Succeeded {
        result: serde_json::Value,
    },
    /// Retry at `retry_at` (the transport task is moved to that time too).
    Retry {
        error: JobError,
        retry_at: DateTime<Utc>,
    },
    Failed {
        error: JobError,
    },
    Cancelled,
}

/// Writes the outcome of many attempts in one transaction (the caller's).
async fn finish_many(conn: &mut PgConnection, items: &[(JobId, Finish)]) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let n = items.len();
    let mut ids = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut results: Vec<Option<serde_json::Value>> = Vec::with_capacity(n);
    let mut errors: Vec<Option<serde_json::Value>> = Vec::with_capacity(n);
    let mut retry_ats: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    for (id, f) in items {
        ids.push(id.to_string());
        let (status, result, error, retry_at) = match f {
            Finish::Succeeded { result } => ("succeeded", Some(result.clone()), None, None),
            Finish::Retry { error, retry_at } => ("queued", None, Some(error), Some(*retry_at)),
            Finish::Failed { error } => ("failed", None, Some(error), None),
            Finish::Cancelled => ("cancelled", None, None, None),
        };
        statuses.push(status);
        results.push(result);
        errors.push(error.map(|e| serde_json::to_value(e).expect("errors serialise")));
        retry_ats.push(retry_at);
    }
    let ended_ids: Vec<&str> = ids
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| **s != "queued")
        .map(|(id, _)| id.as_str())
        .collect();
    // The rows come back only when their terminal state emits webhook events
    // (recorded below, in this transaction): most batches return nothing.
    let ended: Vec<repo::JobRow> = sqlx::query_as(sqlf!(
        "WITH j AS (
             UPDATE jobs AS j SET
                 -- A job going back to `queued` for its retry has no unique key
                 -- any more (cleared at start): it runs again, uncoalesced.
                 status = u.status,
                 result = u.result,
                 error = u.error,
                 next_attempt_at = u.retry_at,
                 progress = CASE WHEN u.status = 'succeeded' THEN 100 ELSE j.progress END,
                 finished_at = CASE WHEN u.status = 'queued' THEN NULL ELSE now() END,
                 updated_at = now()
             FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::jsonb[], $5::timestamptz[])
                  AS u(id, status, result, error, retry_at)
             WHERE j.id = u.id AND j.status = 'running'
             RETURNING j.*
         ),
         -- A job that ended needs its transport task no more: the `jobs` row
         -- is the record. Deleting it here, in the transaction that ends the
         -- job, is cheaper than apalis' ack (which rewrites the task with its
         -- result) and keeps `apalis.jobs` as small as the work in flight; the
         -- ack that follows finds no task and writes nothing.
         gone AS (DELETE FROM apalis.jobs WHERE id = ANY($6::text[]))
         SELECT {} FROM j WHERE {}",
        repo::COLUMNS,
        webhooks::events::JOB_EVENT_FILTER
    ))
    .bind(&ids)
    .bind(&statuses)
    .bind(&results)
    .bind(&errors)
    .bind(&retry_ats)
    .bind(&ended_ids)
    .fetch_all(&mut *conn)
    .await?;
    if !ended.is_empty() {
        let ended: Vec<JobRecord> = ended.into_iter().map(JobRecord::from).collect();
        webhooks::events::record_job_events(conn, &ended).await?;
    }
    // Durable backoff: the transport task goes back to `Pending` with its
    // run_at moved to the retry time, so no worker fetches it before then.
    // It holds no worker slot meanwhile and survives restarts.
    let retry_ids: Vec<String> = items
        .iter()
        .filter(|(_, f)| matches!(f, Finish::Retry { .. }))
        .map(|(id, _)| id.to_string())
        .collect();
    if !retry_ids.is_empty() {
        let retry_times: Vec<DateTime<Utc>> = items
            .iter()
            .filter_map(|(_, f)| match f {
                Finish::Retry { retry_at, .. } => Some(*retry_at),
                _ => None,
            })
            .collect();
        sqlx::query(
            "UPDATE apalis.jobs AS a SET run_at = u.retry_at, status = 'Pending', lock_by = NULL, lock_at = NULL
             FROM unnest($1::text[], $2::timestamptz[]) AS u(id, retry_at) WHERE a.id = u.id",
        )
        .bind(&retry_ids)
        .bind(&retry_times)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
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
    repo::notify_changed(conn, &[id]).await?;
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
