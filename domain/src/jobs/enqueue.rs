//! Enqueueing in the caller's transaction: the `jobs` rows commit (or roll
//! back) together with the domain write, in one statement however many.
//!
//! # Fair queueing
//!
//! Within a kind and priority a fetch takes the jobs with the earliest
//! `run_at` (see [`super::run`]). For a delayed job or a retry `run_at` is its
//! due time. For a job due now it is its place in line, chosen here so that
//! tenants interleave instead of queueing strictly oldest first (start-time
//! fair queueing with the line's head as virtual time):
//!
//! `run_at = greatest(head, tenant_last + 1 µs)`, where `head` is the
//! earliest `run_at` of the kind and priority still waiting (at most now),
//! and `tenant_last` the latest `run_at` the same tenant already has waiting
//! in the kind's line (among those due by now). Jobs of one tenant in one
//! statement take consecutive microseconds.
//!
//! So a tenant with nothing waiting goes to the head of the line — behind at
//! most one job of each other tenant — while a tenant with 50,000 jobs
//! waiting queues behind its own. Two index probes per (kind, priority,
//! tenant) of a statement; nothing is locked, so concurrent enqueues of one
//! tenant never wait for each other (they may share a place, which only
//! orders them arbitrarily).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, postgres::PgRow};

use super::{JobKind, JobRecord, repo};
use crate::{
    error::{Error, Result},
    ids::{CustomerId, JobId, UserId},
};

/// Who asks for a job and on whose behalf.
#[derive(Debug, Clone, Default)]
pub struct EnqueueCtx {
    pub customer_id: Option<CustomerId>,
    pub requested_by: Option<UserId>,
    /// A one-off URL that receives this job's terminal event.
    pub callback_url: Option<String>,
}

/// One job to enqueue (type-erased; build it with [`NewJob::of`]).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub kind: &'static str,
    pub customer_id: Option<CustomerId>,
    pub subject: Option<String>,
    pub payload: serde_json::Value,
    pub max_attempts: u32,
    pub priority: i32,
    pub run_at: Option<DateTime<Utc>>,
    pub requested_by: Option<UserId>,
    pub callback_url: Option<String>,
    /// At most one *queued* job per (kind, unique_key): a second enqueue
    /// returns the queued one instead (coalescing, once-per-tick).
    pub unique_key: Option<String>,
}

impl NewJob {
    pub fn of<K: JobKind>(payload: &K::Payload, ctx: &EnqueueCtx) -> Self {
        Self {
            id: JobId::new(),
            kind: K::NAME,
            customer_id: ctx.customer_id,
            subject: K::subject(payload),
            payload: serde_json::to_value(payload).expect("job payloads serialise"),
            max_attempts: K::MAX_ATTEMPTS,
            priority: K::PRIORITY,
            run_at: None,
            requested_by: ctx.requested_by,
            callback_url: ctx.callback_url.clone(),
            unique_key: None,
        }
    }

    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }
}

/// Enqueues one job; see [`enqueue`].
pub async fn enqueue_one(conn: &mut PgConnection, job: NewJob) -> Result<JobRecord> {
    let mut v = enqueue(conn, vec![job]).await?;
    v.pop()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("enqueue returned no job")))
}

/// Enqueues jobs with one statement. Returns the records in input order; a job coalesced by
/// its `unique_key` returns the already queued job instead.
///
/// Idle workers are woken by one NOTIFY per kind in the caller's
/// transaction, or after its commit when the caller runs inside
/// [`wakeup::deferring`](super::wakeup::deferring).
pub async fn enqueue(conn: &mut PgConnection, jobs: Vec<NewJob>) -> Result<Vec<JobRecord>> {
    enqueue_all(conn, &jobs).await
}

/// [`enqueue`] from a slice.
pub async fn enqueue_all(conn: &mut PgConnection, jobs: &[NewJob]) -> Result<Vec<JobRecord>> {
    let (rows, kinds) = insert::<repo::JobRow>(conn, jobs).await?;
    let mut found: HashMap<JobId, JobRecord> = rows
        .into_iter()
        .map(|r| {
            let r = JobRecord::from(r);
            (r.id, r)
        })
        .collect();
    // Coalesced jobs resolve to the queued job holding their unique key.
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        let rec = match found.remove(&j.id) {
            Some(r) => Some(r),
            None => {
                repo::fetch_queued_by_unique_key(
                    &mut *conn,
                    j.kind,
                    j.unique_key.as_deref().unwrap_or_default(),
                )
                .await?
            }
        };
        out.push(rec.ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("job {} vanished during enqueue", j.id))
        })?);
    }
    wake(conn, &kinds).await?;
    Ok(out)
}

/// [`enqueue`] for fan-outs of thousands of jobs whose caller needs only
/// that they exist: the rows are not read back. Jobs must not have a
/// `unique_key` (nothing is coalesced).
pub async fn enqueue_bulk(conn: &mut PgConnection, jobs: Vec<NewJob>) -> Result<()> {
    if let Some(j) = jobs.iter().find(|j| j.unique_key.is_some()) {
        return Err(Error::Internal(anyhow::anyhow!(
            "enqueue_bulk: job {} has a unique key",
            j.id
        )));
    }
    let (_, kinds) = insert::<InsertedId>(conn, &jobs).await?;
    wake(conn, &kinds).await
}

/// Wakes idle workers of `kinds`: now, in the transaction, or after its
/// commit inside [`wakeup::deferring`](super::wakeup::deferring).
async fn wake(conn: &mut PgConnection, kinds: &[&'static str]) -> Result<()> {
    if !super::wakeup::defer(kinds) {
        super::wakeup::notify_in_tx(conn, kinds).await?;
    }
    Ok(())
}

/// What [`insert`] reads back of each row it inserted.
trait Returned: for<'r> FromRow<'r, PgRow> + Send + Unpin {
    /// The `RETURNING` list.
    const COLUMNS: &'static str;
}

impl Returned for repo::JobRow {
    const COLUMNS: &'static str = repo::COLUMNS;
}

/// Only the id (a bulk enqueue reads nothing else back).
#[derive(FromRow)]
#[allow(dead_code)] // read back to satisfy RETURNING; nothing uses it
struct InsertedId {
    id: JobId,
}

impl Returned for InsertedId {
    const COLUMNS: &'static str = "id";
}

/// Writes the rows (those whose unique key is free); returns the inserted
/// rows as `R` and the kinds that got a job runnable now (they need a
/// wake-up).
async fn insert<R: Returned>(
    conn: &mut PgConnection,
    jobs: &[NewJob],
) -> Result<(Vec<R>, Vec<&'static str>)> {
    let n = jobs.len();
    if n == 0 {
        return Ok((vec![], vec![]));
    }
    let mut ids = Vec::with_capacity(n);
    let mut customers = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut subjects = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut max_attempts = Vec::with_capacity(n);
    let mut priorities = Vec::with_capacity(n);
    let mut run_ats = Vec::with_capacity(n);
    let mut requested = Vec::with_capacity(n);
    let mut callbacks = Vec::with_capacity(n);
    let mut uniques = Vec::with_capacity(n);
    let mut wake: Vec<&'static str> = Vec::new();
    let now = chrono::Utc::now();
    for j in jobs {
        ids.push(j.id);
        customers.push(j.customer_id.map(|c| c.0));
        kinds.push(j.kind);
        subjects.push(j.subject.as_deref());
        payloads.push(&j.payload);
        max_attempts.push(j.max_attempts as i32);
        priorities.push(j.priority);
        run_ats.push(j.run_at);
        requested.push(j.requested_by.map(|u| u.0));
        callbacks.push(j.callback_url.as_deref());
        uniques.push(j.unique_key.as_deref());
        if j.run_at.is_none_or(|at| at <= now) && !wake.contains(&j.kind) {
            wake.push(j.kind);
        }
    }
    let rows: Vec<R> = sqlx::query_as(sqlf!(
        "WITH u AS (
             SELECT u.*, row_number() OVER (PARTITION BY u.kind, u.priority, u.customer_id ORDER BY u.ord) - 1 AS nth
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::int[], $7::int[],
                         $8::timestamptz[], $9::uuid[], $10::text[], $11::text[])
                  WITH ORDINALITY AS u(id, customer_id, kind, subject, payload, max_attempts, priority,
                                       run_at, requested_by, callback_url, unique_key, ord)
         ),
         line AS (
             SELECT g.kind, g.priority, g.customer_id, greatest(
                 least(now(), coalesce((
                     SELECT j.run_at FROM jobs j
                     WHERE j.run_at IS NOT NULL AND j.kind = g.kind AND j.priority = g.priority
                     ORDER BY j.priority DESC, j.run_at LIMIT 1), now())),
                 -- The tenant's last place: a backward probe of
                 -- jobs_tenant_line_idx (max() made the planner scan).
                 CASE WHEN g.customer_id IS NULL THEN (
                     SELECT j.run_at FROM jobs j
                     WHERE j.run_at IS NOT NULL AND j.run_at <= now() AND j.kind = g.kind
                       AND j.customer_id IS NULL
                     ORDER BY j.kind DESC, j.customer_id DESC, j.run_at DESC LIMIT 1)
                 ELSE (
                     SELECT j.run_at FROM jobs j
                     WHERE j.run_at IS NOT NULL AND j.run_at <= now() AND j.kind = g.kind
                       AND j.customer_id = g.customer_id
                     ORDER BY j.kind DESC, j.customer_id DESC, j.run_at DESC LIMIT 1)
                 END + interval '1 microsecond') AS head
             FROM (SELECT DISTINCT kind, priority, customer_id FROM u WHERE run_at IS NULL) g
         )
         INSERT INTO jobs (id, customer_id, kind, subject, payload, max_attempts, priority, next_attempt_at,
                           requested_by, callback_url, unique_key, run_at)
         SELECT u.id, u.customer_id, u.kind, u.subject, u.payload, u.max_attempts, u.priority, u.run_at,
                u.requested_by, u.callback_url, u.unique_key,
                coalesce(u.run_at, line.head + u.nth * interval '1 microsecond')
         FROM u LEFT JOIN line ON line.kind = u.kind AND line.priority = u.priority
             AND line.customer_id IS NOT DISTINCT FROM u.customer_id
         ORDER BY u.ord
         ON CONFLICT (kind, unique_key) WHERE unique_key IS NOT NULL
         DO NOTHING
         RETURNING {}",
        R::COLUMNS
    ))
    .bind(&ids)
    .bind(&customers)
    .bind(&kinds)
    .bind(&subjects)
    .bind(&payloads)
    .bind(&max_attempts)
    .bind(&priorities)
    .bind(&run_ats)
    .bind(&requested)
    .bind(&callbacks)
    .bind(&uniques)
    .fetch_all(&mut *conn)
    .await?;
    Ok((rows, wake))
}
