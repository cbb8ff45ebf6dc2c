//! SQL of files: records, permissions, completion, deletion, usage and quota,
//! and what the jobs need (finishing, purging, orphans).

use chrono::{DateTime, Utc};
use sea_query::{Cond, Expr, ExprTrait, Query};
use sqlx::{PgConnection, PgPool};

use super::{FileId, FilePurpose, FileRecord, FileStatus, FileView, NewFile};
use crate::{
    audit::{self, AuditEntry},
    error::{Error, Result},
    ids::CustomerId,
    jobs::{EnqueueCtx, JobRecord, NewJob, enqueue_one, repo as jobs_repo},
    kinds::{FileDelete, FileDeletePayload, FileProcess, FileProcessPayload},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    webhooks::events::{WebhookData, WebhookEventType, record_event},
};

pub const COLUMNS: &str = "id, customer_id, created_by, purpose, filename, content_type, size, sha256, \
    status, uploaded_at, detected_type, facts, thumbnail_width, thumbnail_height, rejection_reason, \
    process_job_id, attached_to, attached_at, created_at, updated_at, completed_at, deleted_at";

/// Who may see a file in their scope: those who manage the customer, its
/// uploader, and — once attached — whoever may read what it is attached to
/// (every user of the customer, for the content, courses and lessons files
/// attach to).
fn may_read(caller: &Caller, f: &FileRecord) -> bool {
    caller.is_staff()
        || caller.can_manage_customer(f.customer_id)
        || f.created_by == Some(caller.user_id)
        // Certificates are read through their certificate (the learner's).
        || (f.attached_at.is_some() && f.purpose != FilePurpose::Certificate)
}

/// Who may upload, complete or delete: admins, the customer's executives
/// and the uploader.
fn may_write(caller: &Caller, f: &FileRecord) -> bool {
    caller.is_admin()
        || caller.can_manage_customer(f.customer_id)
        || f.created_by == Some(caller.user_id)
}

async fn fetch(conn: &mut PgConnection, id: FileId, lock: bool) -> Result<Option<FileRecord>> {
    let lock = if lock { "FOR UPDATE" } else { "" };
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM files WHERE id = $1 AND deleted_at IS NULL {lock}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// A file the caller may see (404 otherwise, also for other tenants).
async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: FileId,
    lock: bool,
) -> Result<FileRecord> {
    let f = fetch(conn, id, lock)
        .await?
        .ok_or(Error::not_found("file"))?;
    caller.scope().ensure(f.customer_id, "file")?;
    if !may_read(caller, &f) {
        return Err(Error::not_found("file"));
    }
    Ok(f)
}

fn require_write(caller: &Caller, f: &FileRecord) -> Result<()> {
    if may_write(caller, f) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "only the uploader, the customer's executives and admins may change a file",
        ))
    }
}

/// Creates a pending file record (the quota, when set, counts declared sizes).
pub async fn create(db: &PgPool, caller: &Caller, n: NewFile) -> Result<FileRecord> {
    caller.scope().ensure(n.customer_id, "customer")?;
    let mut tx = db.begin().await?;
    let quota: Option<Option<i64>> =
        sqlx::query_scalar("SELECT storage_quota_bytes FROM customers WHERE id = $1")
            .bind(n.customer_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(quota) = quota else {
        return Err(Error::not_found("customer"));
    };
    if let Some(q) = quota {
        // Serialise this tenant's creations while checking its total.
        sqlx::query("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE")
            .bind(n.customer_id)
            .execute(&mut *tx)
            .await?;
        let used = used_bytes(&mut tx, n.customer_id).await?;
        if used + n.size > q {
            return Err(Error::PayloadTooLarge {
                code: "storage_quota_exceeded",
                detail: format!(
                    "the customer's storage quota is {q} bytes; {used} are used and this file has {}",
                    n.size
                ),
            });
        }
    }
    let f: FileRecord = sqlx::query_as(sqlf!(
        "INSERT INTO files (id, customer_id, created_by, purpose, filename, content_type, size, sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(FileId::new())
    .bind(n.customer_id)
    .bind(caller.user_id)
    .bind(n.purpose)
    .bind(&n.filename)
    .bind(&n.content_type)
    .bind(n.size)
    .bind(&n.sha256)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(f)
}

async fn used_bytes(conn: &mut PgConnection, customer: CustomerId) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(sum(size), 0)::bigint FROM files
         WHERE customer_id = $1 AND deleted_at IS NULL AND status <> 'rejected'",
    )
    .bind(customer)
    .fetch_one(conn)
    .await?)
}

pub async fn get(db: &PgPool, caller: &Caller, id: FileId) -> Result<FileRecord> {
    let mut conn = db.acquire().await?;
    load(&mut conn, caller, id, false).await
}

/// Filters of `GET /files`.
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    pub customer_id: Option<CustomerId>,
    pub purpose: Option<FilePurpose>,
    pub status: Option<FileStatus>,
}

const NEWEST: Keyset<(DateTime<Utc>, uuid::Uuid)> = Keyset::descending(&["created_at", "id"]);

/// The files the caller may see, newest first.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    filter: &FileFilter,
    page: &PageRequest,
) -> Result<Page<FileRecord>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("files")
        .and_where(Expr::col("deleted_at").is_null())
        .cond_where(caller.scope().sql_filter("customer_id"));
    if !caller.is_staff() {
        // See `may_read`.
        let managed: Vec<uuid::Uuid> = caller
            .customer_ids
            .iter()
            .filter(|c| caller.can_manage_customer(**c))
            .map(|c| c.0)
            .collect();
        q.cond_where(
            Cond::any()
                .add(Expr::col("customer_id").is_in(managed))
                .add(Expr::col("created_by").eq(caller.user_id.0))
                .add(
                    Expr::col("attached_at")
                        .is_not_null()
                        .and(Expr::col("purpose").ne(FilePurpose::Certificate.as_str())),
                ),
        );
    }
    if let Some(c) = filter.customer_id {
        q.and_where(Expr::col("customer_id").eq(c.0));
    }
    if let Some(p) = filter.purpose {
        q.and_where(Expr::col("purpose").eq(p.as_str()));
    }
    if let Some(st) = filter.status {
        q.and_where(Expr::col("status").eq(st.as_str()));
    }
    NEWEST
        .fetch(db, q, page, |f: &FileRecord| (f.created_at, f.id.0))
        .await
}

fn not_pending(f: &FileRecord) -> Error {
    Error::conflict(
        "file_not_pending",
        format!(
            "the file is {}: its content can only be uploaded while it is pending",
            f.status.as_str()
        ),
    )
}

/// A file the caller may upload the content of (pending).
pub async fn for_direct_upload(db: &PgPool, caller: &Caller, id: FileId) -> Result<FileRecord> {
    let mut conn = db.acquire().await?;
    let f = load(&mut conn, caller, id, false).await?;
    require_write(caller, &f)?;
    if f.status != FileStatus::Pending {
        return Err(not_pending(&f));
    }
    Ok(f)
}

/// The file a signed upload URL names (the signature stands for the caller).
pub async fn for_signed_upload(db: &PgPool, id: FileId) -> Result<FileRecord> {
    let mut conn = db.acquire().await?;
    let f = fetch(&mut conn, id, false)
        .await?
        .ok_or(Error::not_found("file"))?;
    if f.status != FileStatus::Pending {
        return Err(not_pending(&f));
    }
    Ok(f)
}

/// The file a signed download URL names (ready, not deleted).
pub async fn for_signed_download(db: &PgPool, id: FileId) -> Result<FileRecord> {
    let mut conn = db.acquire().await?;
    fetch(&mut conn, id, false)
        .await?
        .filter(|f| f.status == FileStatus::Ready)
        .ok_or(Error::not_found("file"))
}

/// Records that the content went through the API.
pub async fn mark_uploaded(db: &PgPool, id: FileId) -> Result<()> {
    sqlx::query(
        "UPDATE files SET uploaded_at = now(), updated_at = now() WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// `POST /files/{id}/complete`: moves a pending file to `processing` with a
/// `file_process` job, in the caller's transaction. Idempotent: a file
/// already completed answers the job it has.
pub async fn complete(conn: &mut PgConnection, caller: &Caller, id: FileId) -> Result<JobRecord> {
    let f = load(conn, caller, id, true).await?;
    require_write(caller, &f)?;
    if let Some(job) = f.job_id()
        && let Some(job) = jobs_repo::fetch(conn, job).await?
    {
        return Ok(job);
    }
    let job = enqueue_one(
        conn,
        NewJob::of::<FileProcess>(
            &FileProcessPayload { file_id: id },
            &EnqueueCtx {
                customer_id: Some(f.customer_id),
                requested_by: Some(caller.user_id),
                ..Default::default()
            },
        ),
    )
    .await?;
    sqlx::query(
        "UPDATE files SET status = CASE WHEN status = 'pending' THEN 'processing' ELSE status END,
             process_job_id = $2, completed_at = COALESCE(completed_at, now()), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(job.id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(job)
}

/// Soft-deletes a file and enqueues the removal of its object. An attached
/// file must be detached first.
pub async fn delete(db: &PgPool, caller: &Caller, id: FileId) -> Result<()> {
    let mut tx = db.begin().await?;
    let f = load(&mut tx, caller, id, true).await?;
    require_write(caller, &f)?;
    if let Some(to) = &f.attached_to {
        return Err(Error::conflict(
            "file_attached",
            format!("the file is attached to {to}; detach it first"),
        ));
    }
    sqlx::query("UPDATE files SET deleted_at = now(), updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    enqueue_one(
        &mut tx,
        NewJob::of::<FileDelete>(
            &FileDeletePayload { file_id: id },
            &EnqueueCtx {
                customer_id: Some(f.customer_id),
                requested_by: Some(caller.user_id),
                ..Default::default()
            },
        ),
    )
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "file.deleted",
            target_type: "file",
            target_id: Some(id.to_string()),
            customer_id: Some(f.customer_id),
            before: serde_json::to_value(&f).ok(),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Usage and quota

/// Stored files of one purpose.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PurposeUsage {
    pub purpose: FilePurpose,
    pub files: i64,
    pub bytes: i64,
}

#[derive(Debug, Clone)]
pub struct Usage {
    pub customer_id: CustomerId,
    /// Declared bytes of files not deleted or rejected.
    pub bytes: i64,
    pub files: i64,
    pub quota_bytes: Option<i64>,
    pub by_purpose: Vec<PurposeUsage>,
}

pub async fn usage(db: &PgPool, caller: &Caller, customer: CustomerId) -> Result<Usage> {
    caller.scope().ensure(customer, "customer")?;
    let quota: Option<Option<i64>> =
        sqlx::query_scalar("SELECT storage_quota_bytes FROM customers WHERE id = $1")
            .bind(customer)
            .fetch_optional(db)
            .await?;
    let Some(quota_bytes) = quota else {
        return Err(Error::not_found("customer"));
    };
    let by_purpose: Vec<PurposeUsage> = sqlx::query_as(
        "SELECT purpose, count(*) AS files, COALESCE(sum(size), 0)::bigint AS bytes FROM files
         WHERE customer_id = $1 AND deleted_at IS NULL AND status <> 'rejected'
         GROUP BY purpose ORDER BY purpose",
    )
    .bind(customer)
    .fetch_all(db)
    .await?;
    Ok(Usage {
        customer_id: customer,
        bytes: by_purpose.iter().map(|p| p.bytes).sum(),
        files: by_purpose.iter().map(|p| p.files).sum(),
        quota_bytes,
        by_purpose,
    })
}

/// Sets (or clears) a customer's storage quota (admins).
pub async fn set_quota(
    db: &PgPool,
    caller: &Caller,
    customer: CustomerId,
    quota_bytes: Option<i64>,
) -> Result<Usage> {
    caller.require_admin()?;
    if quota_bytes.is_some_and(|q| q <= 0) {
        return Err(Error::field("/quota_bytes", "must be positive (or null)"));
    }
    let n = sqlx::query(
        "UPDATE customers SET storage_quota_bytes = $2, updated_at = now() WHERE id = $1",
    )
    .bind(customer)
    .bind(quota_bytes)
    .execute(db)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::not_found("customer"));
    }
    usage(db, caller, customer).await
}

// ---------------------------------------------------------------------------
// Attachments

/// Attaches a file to a resource of `customer` (`target`, e.g. `asset:{id}`)
/// in the caller's transaction: the file must be this tenant's, of one of
/// `purposes`, and `ready`. A file attached elsewhere is refused. Errors
/// name `pointer` (the request field that carried the file id).
pub async fn attach(
    conn: &mut PgConnection,
    customer: CustomerId,
    id: FileId,
    purposes: &[FilePurpose],
    target: &str,
    pointer: &str,
) -> Result<()> {
    let f = fetch(conn, id, true)
        .await?
        .filter(|f| f.customer_id == customer)
        .ok_or_else(|| Error::field(pointer, "no such file"))?;
    if !purposes.contains(&f.purpose) {
        let names: Vec<_> = purposes.iter().map(|p| p.as_str()).collect();
        return Err(Error::field(
            pointer,
            format!(
                "the file's purpose is {}; expected {}",
                f.purpose.as_str(),
                names.join(" or ")
            ),
        ));
    }
    if f.status != FileStatus::Ready {
        return Err(Error::field(
            pointer,
            format!("the file is {}, not ready", f.status.as_str()),
        ));
    }
    if let Some(other) = f.attached_to.as_deref().filter(|t| *t != target) {
        return Err(Error::field(
            pointer,
            format!("the file is already attached to {other}"),
        ));
    }
    sqlx::query(
        "UPDATE files SET attached_to = $2, attached_at = COALESCE(attached_at, now()), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(target)
    .execute(conn)
    .await?;
    Ok(())
}

/// Detaches whatever file is attached to `target` except `keep`.
pub async fn detach_others(
    conn: &mut PgConnection,
    target: &str,
    keep: Option<FileId>,
) -> Result<()> {
    sqlx::query(
        "UPDATE files SET attached_to = NULL, attached_at = NULL, updated_at = now()
         WHERE attached_to = $1 AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(target)
    .bind(keep)
    .execute(conn)
    .await?;
    Ok(())
}

/// Detaches every file attached to `target` but those in `keep` (they
/// become orphans unless attached elsewhere).
pub async fn detach_all_except(
    conn: &mut PgConnection,
    target: &str,
    keep: &[FileId],
) -> Result<()> {
    sqlx::query(
        "UPDATE files SET attached_to = NULL, attached_at = NULL, updated_at = now()
         WHERE attached_to = $1 AND NOT (id = ANY($2))",
    )
    .bind(target)
    .bind(keep)
    .execute(conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// For the jobs

/// A file by id, deleted or not.
pub async fn fetch_any(db: &PgPool, id: FileId) -> Result<Option<FileRecord>> {
    Ok(
        sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM files WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// How processing ended.
pub enum Processed {
    Ready {
        detected_type: String,
        facts: serde_json::Value,
        thumbnail: Option<(u32, u32)>,
    },
    Rejected {
        reason: String,
        detected_type: Option<String>,
    },
}

/// Records the outcome of `file_process` and its `file.*` event, if the
/// file is still processing and not deleted. Returns the file as written.
pub async fn finish(db: &PgPool, id: FileId, outcome: Processed) -> Result<Option<FileRecord>> {
    let mut tx = db.begin().await?;
    let f: Option<FileRecord> = match &outcome {
        Processed::Ready {
            detected_type,
            facts,
            thumbnail,
        } => {
            sqlx::query_as(sqlf!(
                "UPDATE files SET status = 'ready', detected_type = $2, facts = $3,
                     thumbnail_width = $4, thumbnail_height = $5, updated_at = now()
                 WHERE id = $1 AND status = 'processing' AND deleted_at IS NULL
                 RETURNING {COLUMNS}"
            ))
            .bind(id)
            .bind(detected_type)
            .bind(facts)
            .bind(thumbnail.map(|t| t.0 as i32))
            .bind(thumbnail.map(|t| t.1 as i32))
            .fetch_optional(&mut *tx)
            .await?
        }
        Processed::Rejected {
            reason,
            detected_type,
        } => {
            sqlx::query_as(sqlf!(
                "UPDATE files SET status = 'rejected', rejection_reason = $2, detected_type = $3,
                     updated_at = now()
                 WHERE id = $1 AND status = 'processing' AND deleted_at IS NULL
                 RETURNING {COLUMNS}"
            ))
            .bind(id)
            .bind(reason)
            .bind(detected_type)
            .fetch_optional(&mut *tx)
            .await?
        }
    };
    if let Some(f) = &f {
        let event = match f.status {
            FileStatus::Ready => WebhookEventType::FileReady,
            _ => WebhookEventType::FileRejected,
        };
        let data =
            WebhookData::of_view(&FileView::from(f), f.id, format!("/api/v1/files/{}", f.id));
        record_event(&mut tx, f.customer_id, event, data).await?;
    }
    tx.commit().await?;
    Ok(f)
}

/// Marks a deleted file's objects as removed.
pub async fn mark_purged(db: &PgPool, id: FileId) -> Result<()> {
    sqlx::query("UPDATE files SET purged_at = now() WHERE id = $1 AND deleted_at IS NOT NULL")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Soft-deletes up to `limit` orphans: files nobody attached, created
/// before `before`. Returns them (to remove their objects).
pub async fn delete_orphans(
    db: &PgPool,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<FileRecord>> {
    Ok(sqlx::query_as(sqlf!(
        "UPDATE files SET deleted_at = now(), updated_at = now()
         WHERE id IN (SELECT id FROM files
                      WHERE attached_at IS NULL AND deleted_at IS NULL AND created_at < $1
                      ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING {COLUMNS}"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Deleted files whose objects were not removed yet (deleted before `before`).
pub async fn unpurged(db: &PgPool, before: DateTime<Utc>, limit: i64) -> Result<Vec<FileRecord>> {
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM files
         WHERE deleted_at IS NOT NULL AND purged_at IS NULL AND deleted_at < $1
         ORDER BY deleted_at LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Which of `ids` have a record whose object is kept (not purged).
pub async fn existing(db: &PgPool, ids: &[FileId]) -> Result<Vec<FileId>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM files WHERE id = ANY($1) AND purged_at IS NULL")
            .bind(ids)
            .fetch_all(db)
            .await?,
    )
}
