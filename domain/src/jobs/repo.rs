//! Reading and controlling jobs (the API side).

use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{JobError, JobStatus, changes, hooks::OnJobEnd};
use crate::{
    error::{Error, Result},
    ids::{CustomerId, JobId, UserId},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Scope,
};

/// A job as stored and as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRecord {
    pub id: JobId,
    pub customer_id: Option<CustomerId>,
    pub kind: String,
    pub subject: Option<String>,
    pub payload: serde_json::Value,
    pub status: JobStatus,
    pub progress: i16,
    pub progress_message: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub priority: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub cancel_requested: bool,
    pub result: Option<serde_json::Value>,
    pub error: Option<JobError>,
    pub requested_by: Option<UserId>,
    pub callback_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
pub struct JobRow {
    id: JobId,
    customer_id: Option<CustomerId>,
    kind: String,
    subject: Option<String>,
    payload: serde_json::Value,
    status: String,
    progress: i16,
    progress_message: Option<String>,
    attempts: i32,
    max_attempts: i32,
    priority: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    cancel_requested: bool,
    result: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
    requested_by: Option<UserId>,
    callback_url: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl JobRow {
    pub fn id(&self) -> JobId {
        self.id
    }
}

impl From<JobRow> for JobRecord {
    fn from(r: JobRow) -> Self {
        Self {
            id: r.id,
            customer_id: r.customer_id,
            kind: r.kind,
            subject: r.subject,
            payload: r.payload,
            status: JobStatus::parse(&r.status).unwrap_or(JobStatus::Failed),
            progress: r.progress,
            progress_message: r.progress_message,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            priority: r.priority,
            next_attempt_at: r.next_attempt_at,
            cancel_requested: r.cancel_requested,
            result: r.result,
            error: r.error.and_then(|e| serde_json::from_value(e).ok()),
            requested_by: r.requested_by,
            callback_url: r.callback_url,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            updated_at: r.updated_at,
        }
    }
}

pub(crate) const COLUMNS: &str = "id, customer_id, kind, subject, payload, status, progress, progress_message, attempts,
    max_attempts, priority, next_attempt_at, cancel_requested, result, error, requested_by, callback_url,
    created_at, started_at, finished_at, updated_at";

pub async fn fetch(conn: &mut PgConnection, id: JobId) -> Result<Option<JobRecord>> {
    let row: Option<JobRow> = sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Into::into))
}

pub async fn fetch_many(conn: &mut PgConnection, ids: &[JobId]) -> Result<Vec<JobRecord>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<JobRow> = sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM jobs WHERE id = ANY($1)"))
        .bind(ids)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn fetch_queued_by_unique_key(
    conn: &mut PgConnection,
    kind: &str,
    key: &str,
) -> Result<Option<JobRecord>> {
    let row: Option<JobRow> = sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM jobs WHERE kind = $1 AND unique_key = $2 AND status = 'queued' LIMIT 1"
    ))
    .bind(kind)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// A job visible to `scope` (404 otherwise, also for tenantless system jobs
/// when the caller is not staff).
pub async fn get(db: &PgPool, scope: &Scope, id: JobId) -> Result<JobRecord> {
    let mut conn = db.acquire().await?;
    let job = fetch(&mut conn, id).await?.ok_or(Error::not_found("job"))?;
    visible(scope, &job)?;
    Ok(job)
}

fn visible(scope: &Scope, job: &JobRecord) -> Result<()> {
    match (scope, job.customer_id) {
        (Scope::All, _) => Ok(()),
        (_, Some(c)) => scope.ensure(c, "job"),
        (_, None) => Err(Error::not_found("job")),
    }
}

/// Filters of `GET /jobs`.
#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub kind: Option<String>,
    pub status: Option<JobStatus>,
    pub subject: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

/// Newest first.
const NEWEST: Keyset<(DateTime<Utc>, uuid::Uuid)> = Keyset::descending(&["created_at", "id"]);

/// Newest first, keyset-paginated on (created_at, id).
pub async fn list(
    db: &PgPool,
    scope: &Scope,
    filter: &JobFilter,
    page: &PageRequest,
) -> Result<Page<JobRecord>> {
    if let (Some(f), Some(t)) = (filter.created_from, filter.created_to)
        && f > t
    {
        return Err(Error::field(
            "/created_from",
            "must not be after created_to",
        ));
    }
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("jobs")
        .cond_where(scope.sql_filter("customer_id"));
    if let Some(k) = &filter.kind {
        q.and_where(Expr::col("kind").eq(k.clone()));
    }
    if let Some(s) = filter.status {
        q.and_where(Expr::col("status").eq(s.as_str()));
    }
    if let Some(s) = &filter.subject {
        q.and_where(Expr::col("subject").eq(s.clone()));
    }
    if let Some(f) = filter.created_from {
        q.and_where(Expr::col("created_at").gte(f));
    }
    if let Some(t) = filter.created_to {
        q.and_where(Expr::col("created_at").lt(t));
    }
    Ok(NEWEST
        .fetch(db, q, page, |j: &JobRow| (j.created_at, j.id.0))
        .await?
        .map(JobRecord::from))
}

/// Cancels a job. Queued (or waiting) jobs are cancelled at once and never
/// run; running jobs are asked to stop at their next checkpoint.
pub async fn cancel(
    db: &PgPool,
    on_end: &dyn OnJobEnd,
    scope: &Scope,
    id: JobId,
) -> Result<JobRecord> {
    let mut tx = db.begin().await?;
    let job: JobRecord =
        sqlx::query_as::<_, JobRow>(sqlf!("SELECT {COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .map(Into::into)
            .ok_or(Error::not_found("job"))?;
    visible(scope, &job)?;
    match job.status {
        JobStatus::Queued => {
            sqlx::query(
                "UPDATE jobs SET status = 'cancelled', finished_at = now(), next_attempt_at = NULL,
                     run_at = NULL, error = NULL, unique_key = NULL, updated_at = now() WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let cancelled = fetch(&mut tx, id).await?.ok_or(Error::not_found("job"))?;
            on_end.ended(&mut tx, &[cancelled]).await?;
        }
        JobStatus::Running => {
            sqlx::query(
                "UPDATE jobs SET cancel_requested = true, updated_at = now() WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        s => {
            return Err(Error::conflict(
                "job_finished",
                format!(
                    "the job is already {}; only queued or running jobs can be cancelled",
                    s.as_str()
                ),
            ));
        }
    }
    changes::notify_changed(&mut tx, &[id]).await?;
    let job = fetch(&mut tx, id).await?.ok_or(Error::not_found("job"))?;
    tx.commit().await?;
    Ok(job)
}

/// Runs a failed or cancelled job again with a fresh attempt budget.
pub async fn retry(db: &PgPool, scope: &Scope, id: JobId) -> Result<JobRecord> {
    let mut tx = db.begin().await?;
    let job: JobRecord =
        sqlx::query_as::<_, JobRow>(sqlf!("SELECT {COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .map(Into::into)
            .ok_or(Error::not_found("job"))?;
    visible(scope, &job)?;
    if !matches!(job.status, JobStatus::Failed | JobStatus::Cancelled) {
        return Err(Error::conflict(
            "job_not_retryable",
            format!(
                "the job is {}; only failed or cancelled jobs can be retried",
                job.status.as_str()
            ),
        ));
    }
    sqlx::query(
        "UPDATE jobs SET status = 'queued', attempts = 0, progress = 0, progress_message = NULL, error = NULL,
             result = NULL, cancel_requested = false, next_attempt_at = NULL, started_at = NULL,
             finished_at = NULL, run_at = now(), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Conflict { .. } => Error::conflict("duplicate_queued_job", "an equivalent job is already queued"),
        e => e,
    })?;
    super::wakeup::notify_in_tx(&mut tx, &[job.kind.as_str()]).await?;
    changes::notify_changed(&mut tx, &[id]).await?;
    let job = fetch(&mut tx, id).await?.ok_or(Error::not_found("job"))?;
    tx.commit().await?;
    Ok(job)
}

/// Deletes finished job records older than the retention (a batch of at
/// most 10,000; the prune job calls it until it deletes none).
pub async fn prune(db: &PgPool, older_than: DateTime<Utc>) -> Result<u64> {
    let jobs = sqlx::query(
        "DELETE FROM jobs WHERE id IN (
             SELECT id FROM jobs WHERE created_at < $1 AND finished_at < $1
                 AND status IN ('succeeded','failed','cancelled') LIMIT 10000)",
    )
    .bind(older_than)
    .execute(db)
    .await?
    .rows_affected();
    // Registrations of processes long gone (each process start registers anew).
    let retention = (Utc::now() - older_than).to_std().unwrap_or_default();
    let mut conn = db.acquire().await?;
    let workers = super::transport::prune_workers(&mut conn, retention).await?;
    if workers > 0 {
        tracing::info!(workers, "pruned worker registrations");
    }
    Ok(jobs)
}

/// Jobs waiting in line per kind, with the attempts they used (the
/// worker's queue metrics; jobs running are counted by the processes that
/// run them).
#[derive(Debug, Clone, FromRow)]
pub struct QueueDepth {
    pub kind: String,
    pub jobs: i64,
    pub attempts: i64,
}

pub async fn queue_depths(db: &PgPool) -> Result<Vec<QueueDepth>> {
    // Through the line index: a scan of `jobs` would grow with the
    // retention period.
    let rows = sqlx::query_as(
        "SELECT kind, count(*) AS jobs, coalesce(sum(attempts), 0)::bigint AS attempts
         FROM jobs WHERE run_at IS NOT NULL GROUP BY kind",
    )
    .fetch_all(db)
    .await?;
    Ok(rows)
}
