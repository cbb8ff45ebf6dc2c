//! Enqueueing in the caller's transaction: the `jobs` rows and the apalis
//! tasks commit (or roll back) together with the domain write.

use std::collections::{BTreeMap, HashMap, HashSet};

use apalis_core::task::{builder::TaskBuilder, task_id::TaskId};
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

/// Enqueues jobs with one statement for the `jobs` rows and one per kind for
/// the apalis tasks. Returns the records in input order; a job coalesced by
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
    fn job_id(&self) -> JobId;
}

impl Returned for repo::JobRow {
    const COLUMNS: &'static str = repo::COLUMNS;
    fn job_id(&self) -> JobId {
        self.id()
    }
}

/// Only the id (a bulk enqueue reads nothing else back).
#[derive(FromRow)]
struct InsertedId {
    id: JobId,
}

impl Returned for InsertedId {
    const COLUMNS: &'static str = "id";
    fn job_id(&self) -> JobId {
        self.id
    }
}

/// Writes the rows and, for those inserted (not coalesced), the apalis
/// tasks; returns the inserted rows as `R` and the kinds that got a task
/// runnable now (they need a wake-up).
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
    for j in jobs {
        ids.push(j.id.to_string());
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
    }
    let rows: Vec<R> = sqlx::query_as(sqlf!(
        "INSERT INTO jobs (id, customer_id, kind, subject, payload, max_attempts, priority, next_attempt_at,
                           requested_by, callback_url, unique_key)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::int[], $7::int[],
                              $8::timestamptz[], $9::uuid[], $10::text[], $11::text[])
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
    let inserted: HashSet<JobId> = rows.iter().map(R::job_id).collect();

    // apalis tasks for the rows actually inserted, grouped by queue.
    let mut by_queue: BTreeMap<&'static str, Vec<apalis_postgres::PgTask>> = BTreeMap::new();
    let mut wake: Vec<&'static str> = Vec::new();
    let now = chrono::Utc::now();
    for j in jobs {
        if !inserted.contains(&j.id) {
            continue;
        }
        if j.run_at.is_none_or(|at| at <= now) && !wake.contains(&j.kind) {
            wake.push(j.kind);
        }
        let mut b = TaskBuilder::new(serde_json::to_vec(&j.payload).map_err(anyhow::Error::new)?)
            .task_id(TaskId::from_ulid(j.id.0))
            .max_attempts(j.max_attempts as usize)
            .priority(j.priority.max(0) as usize);
        if let Some(at) = j.run_at {
            b = b.run_at_timestamp(at.timestamp().max(0) as u64);
        }
        by_queue.entry(j.kind).or_default().push(b.build());
    }
    for (queue, tasks) in by_queue {
        apalis_postgres::queries::push_tasks(&mut *conn, queue, tasks)
            .await
            .map_err(|e| match e {
                apalis_postgres::Error::Database(e) => Error::from(e),
                e => Error::Internal(anyhow::anyhow!("enqueue: {e}")),
            })?;
    }
    Ok((rows, wake))
}
