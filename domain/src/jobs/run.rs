//! Worker-side state transitions of the `jobs` row, in batches: the worker
//! groups the starts and finishes of many jobs into one statement each.
//! Terminal transitions record the jobs' webhook events in the same
//! transaction ([`webhooks::events::record_job_events`]).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{JobError, JobRecord, repo};
use crate::{error::Result, ids::JobId, webhooks};

/// What the worker should do with a task it fetched.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one short-lived value per fetched task
pub enum StartOutcome {
    /// Run it: the row is now `running` with this attempt number.
    Run(Box<JobRecord>),
    /// Cancelled (or cancel requested while a crashed attempt held it):
    /// marked `cancelled`, do not run.
    Cancelled,
    /// Its attempts ran out (earlier attempts never finished, e.g. they
    /// killed their worker): marked `failed`, do not run.
    Exhausted,
    /// The row is gone or already finished: nothing to do.
    Gone,
}

/// Applies a batch of finishes and starts in the caller's transaction, then
/// tells listening API processes about every job it changed (one NOTIFY).
/// Finishes go first: a job retried by hand may finish and start in one
/// batch.
pub async fn apply(
    conn: &mut PgConnection,
    finishes: &[(JobId, Finish)],
    starts: &[JobId],
) -> Result<Vec<(JobId, StartOutcome)>> {
    finish_many(conn, finishes).await?;
    let started = start_many(conn, starts).await?;
    let mut changed: Vec<JobId> = finishes.iter().map(|(id, _)| *id).collect();
    changed.extend_from_slice(starts);
    repo::notify_changed(conn, &changed).await?;
    Ok(started)
}

/// Marks the given jobs `running` (one statement) and decides per job.
async fn start_many(conn: &mut PgConnection, ids: &[JobId]) -> Result<Vec<(JobId, StartOutcome)>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let id_strs: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    // Runnable rows become running with attempts + 1; a row already `running`
    // belongs to an attempt whose worker died (the transport re-delivered it).
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
             -- Coalescing keys hold for queued jobs only (and clearing an
             -- already empty key keeps this a HOT update).
             unique_key = NULL,
             updated_at = now()
         WHERE id = ANY($1) AND status IN ('queued', 'running')
         RETURNING {}",
        repo::COLUMNS
    ))
    .bind(&id_strs)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_id: std::collections::HashMap<JobId, JobRecord> = rows
        .into_iter()
        .map(|r| {
            let r = JobRecord::from(r);
            (r.id, r)
        })
        .collect();
    // Jobs that ended here (cancelled, or out of attempts) emit their events too.
    let ended: Vec<JobRecord> = by_id
        .values()
        .filter(|r| r.status.is_terminal())
        .cloned()
        .collect();
    if !ended.is_empty() {
        webhooks::events::record_job_events(conn, &ended).await?;
        let ended_ids: Vec<String> = ended.iter().map(|r| r.id.to_string()).collect();
        delete_transport_tasks(conn, &ended_ids).await?;
    }
    let out = ids
        .iter()
        .map(|id| {
            let o = match by_id.remove(id) {
                None => StartOutcome::Gone,
                Some(r) => match r.status {
                    super::JobStatus::Running => StartOutcome::Run(Box::new(r)),
                    super::JobStatus::Cancelled => StartOutcome::Cancelled,
                    _ => StartOutcome::Exhausted,
                },
            };
            (*id, o)
        })
        .collect();
    Ok(out)
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
    // Durable backoff: the transport task is still locked by this worker, so
    // moving its run_at now makes apalis skip it until then.
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
            "UPDATE apalis.jobs AS a SET run_at = u.retry_at
             FROM unnest($1::text[], $2::timestamptz[]) AS u(id, retry_at) WHERE a.id = u.id",
        )
        .bind(&retry_ids)
        .bind(&retry_times)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes the apalis tasks of jobs that ended.
pub(crate) async fn delete_transport_tasks(conn: &mut PgConnection, ids: &[String]) -> Result<()> {
    if !ids.is_empty() {
        sqlx::query("DELETE FROM apalis.jobs WHERE id = ANY($1)")
            .bind(ids)
            .execute(conn)
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
