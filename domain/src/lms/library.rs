//! The enablement portal's content library, the single source of truth for
//! enablement content: a content item carries one or more files (purposes
//! `asset` or `attachment`, the customer's own, `ready`), terms of the
//! metadata hierarchy ([`super::metadata`]) and a lifecycle
//!
//! `draft` → `approved` → `deprecated`, and `expired` once `expires_at` has
//! passed (the nightly `content_expire` job, which tells the owner).
//!
//! Contributors create items and edit drafts; approvers approve, deprecate
//! and edit approved items; viewers see approved items only (the LMS role
//! mapping of [`super::access`]).

use chrono::{DateTime, Utc};
use sea_query::{Condition, Expr, ExprTrait, Query, extension::postgres::PgExpr};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::{self, LmsRole},
    metadata,
};
use crate::text_enum;
use crate::{
    audit,
    email::{self, Sender, outbox, template::Vars},
    error::{Error, Result, Validator},
    files::{FileId, FilePurpose, repo as files},
    ids::{ContentItemId, CustomerId, MetadataTermId, UserId},
    jobs::EnqueueCtx,
    pagination::{Keyset, Page, PageRequest},
    tenancy::{Caller, Scope},
    values,
};

text_enum! {
    /// Where a content item is in its lifecycle.
    pub enum ContentStatus {
        /// Being written; contributors edit it.
        Draft = "draft",
        /// Approved for use; viewers see it.
        Approved = "approved",
        /// Withdrawn by an approver.
        Deprecated = "deprecated",
        /// Its `expires_at` has passed (set by the nightly job).
        Expired = "expired",
    }
}

impl ContentStatus {
    /// The role needed to edit an item in this status.
    fn role_to_edit(self) -> LmsRole {
        match self {
            Self::Draft => LmsRole::Contributor,
            _ => LmsRole::Approver,
        }
    }
}

/// Most files per item.
pub const MAX_FILES: usize = 20;

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct ContentItem {
    pub id: ContentItemId,
    pub customer_id: CustomerId,
    #[sqlx(try_from = "String")]
    pub status: ContentStatus,
    pub title: String,
    pub description: String,
    pub owner_id: Option<UserId>,
    pub expires_at: Option<DateTime<Utc>>,
    /// In their order.
    pub file_ids: Vec<FileId>,
    pub term_ids: Vec<MetadataTermId>,
    pub created_by: Option<UserId>,
    pub approved_by: Option<UserId>,
    pub approved_at: Option<DateTime<Utc>>,
    pub deprecated_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, customer_id, status, title, description, owner_id, expires_at,
    ARRAY(SELECT f.file_id FROM content_item_files f WHERE f.item_id = content_items.id ORDER BY f.position) AS file_ids,
    ARRAY(SELECT t.term_id FROM content_item_terms t WHERE t.item_id = content_items.id ORDER BY t.term_id) AS term_ids,
    created_by, approved_by, approved_at, deprecated_at, expired_at, created_at, updated_at";

/// The files' `attached_to` for an item.
fn target(id: ContentItemId) -> String {
    format!("content:{id}")
}

/// A content item as received (create: title required).
#[derive(Debug, Default)]
pub struct ItemInput {
    pub title: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` clears it.
    pub owner_id: Option<Option<UserId>>,
    /// `Some(None)` clears it.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// Replaces the files (in this order).
    pub file_ids: Option<Vec<FileId>>,
    /// Replaces the terms.
    pub term_ids: Option<Vec<MetadataTermId>>,
}

/// A validated item or change; absent fields stay (or take their defaults).
#[derive(Debug)]
pub struct ItemFields {
    title: Option<String>,
    description: Option<String>,
    owner_id: Option<Option<UserId>>,
    expires_at: Option<Option<DateTime<Utc>>>,
    file_ids: Option<Vec<FileId>>,
    term_ids: Option<Vec<MetadataTermId>>,
}

impl ItemInput {
    /// Validates a new item (`title` required) or a change (`create` false).
    pub fn parse(self, create: bool, now: DateTime<Utc>) -> Result<ItemFields> {
        let mut v = Validator::new();
        let title = match self.title {
            Some(t) => v.check("/title", values::name(&t)),
            None if create => {
                v.push("/title", "is required");
                None
            }
            None => None,
        };
        let description = self
            .description
            .and_then(|d| v.check("/description", super::description(&d)));
        if let Some(Some(at)) = self.expires_at
            && at <= now
        {
            v.push("/expires_at", "must be in the future");
        }
        if let Some(files) = &self.file_ids {
            if files.len() > MAX_FILES {
                v.push("/file_ids", format!("must have at most {MAX_FILES} files"));
            }
            for (i, f) in files.iter().enumerate() {
                if files[..i].contains(f) {
                    v.push(&format!("/file_ids/{i}"), "is listed twice");
                }
            }
        }
        v.finish()?;
        Ok(ItemFields {
            title,
            description,
            owner_id: self.owner_id,
            expires_at: self.expires_at,
            file_ids: self.file_ids,
            term_ids: self.term_ids,
        })
    }
}

/// Filters of `GET /content-items`.
#[derive(Debug, Default, Clone)]
pub struct ItemFilter {
    pub customer_id: Option<CustomerId>,
    /// Without it, deprecated and expired items are left out.
    pub status: Option<ContentStatus>,
    /// Items tagged with this term or a term below it.
    pub term_id: Option<MetadataTermId>,
    pub owner_id: Option<UserId>,
    /// Substring of the title or description, case-insensitive.
    pub q: Option<String>,
}

impl ItemFilter {
    pub fn parse(mut self) -> Result<Self> {
        let mut v = Validator::new();
        self.q = self
            .q
            .and_then(|q| v.check("/q", values::text(&q, 200, false)));
        v.finish()?;
        Ok(self)
    }
}

async fn fetch(conn: &mut PgConnection, id: ContentItemId) -> Result<ContentItem> {
    sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM content_items WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(Error::not_found("content_item"))
}

/// The item (locked with `lock`) if the caller may see it, with the caller's
/// role; 404 otherwise (other tenants' items; unapproved items for viewers).
async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ContentItemId,
    lock: bool,
) -> Result<(ContentItem, LmsRole)> {
    let suffix = if lock { " FOR UPDATE" } else { "" };
    let item: Option<ContentItem> = sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM content_items WHERE id = $1{suffix}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    item.and_then(|i| {
        access::role_in(caller, i.customer_id)
            .filter(|r| i.status == ContentStatus::Approved || r.sees_drafts())
            .map(|r| (i, r))
    })
    .ok_or(Error::not_found("content_item"))
}

/// The owner must be a user who can see the customer's content.
async fn check_owner(conn: &mut PgConnection, customer: CustomerId, owner: UserId) -> Result<()> {
    let ok: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND NOT u.disabled
             AND ('admin' = ANY (u.roles) OR 'internal' = ANY (u.roles)
                  OR EXISTS (SELECT 1 FROM user_customers uc WHERE uc.user_id = u.id AND uc.customer_id = $2)))",
    )
    .bind(owner)
    .bind(customer)
    .fetch_one(&mut *conn)
    .await?;
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "/owner_id",
            "no such enabled user with access to this customer",
        ))
    }
}

/// Writes the parts of `f` other than the row's own columns: owner check,
/// files (attached to the item, others detached) and terms.
async fn write_links(
    conn: &mut PgConnection,
    customer: CustomerId,
    id: ContentItemId,
    f: &ItemFields,
) -> Result<()> {
    if let Some(Some(owner)) = f.owner_id {
        check_owner(conn, customer, owner).await?;
    }
    if let Some(files_ids) = &f.file_ids {
        let name = target(id);
        for (i, file) in files_ids.iter().enumerate() {
            files::attach(
                conn,
                customer,
                *file,
                &[FilePurpose::Asset, FilePurpose::Attachment],
                &name,
                &format!("/file_ids/{i}"),
            )
            .await?;
        }
        files::detach_all_except(conn, &name, files_ids).await?;
        sqlx::query("DELETE FROM content_item_files WHERE item_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO content_item_files (item_id, file_id, position)
             SELECT $1, f, p FROM unnest($2::uuid[]) WITH ORDINALITY AS x(f, p)",
        )
        .bind(id)
        .bind(files_ids)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(terms) = &f.term_ids {
        let terms = metadata::check_terms(conn, customer, terms, "/term_ids").await?;
        sqlx::query("DELETE FROM content_item_terms WHERE item_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO content_item_terms (item_id, term_id) SELECT $1, unnest($2::uuid[])",
        )
        .bind(id)
        .bind(&terms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Creates a draft item in `customer` (contributors and up); the owner is
/// the caller unless given.
pub async fn create(
    db: &PgPool,
    caller: &Caller,
    customer: CustomerId,
    f: ItemFields,
) -> Result<ContentItem> {
    let role = access::role_in(caller, customer)
        .ok_or(Error::field("/customer_id", "no such customer"))?;
    access::ensure(role, LmsRole::Contributor)?;
    let mut tx = db.begin().await?;
    let id = ContentItemId::new();
    let owner = f.owner_id.unwrap_or(Some(caller.user_id));
    sqlx::query(
        "INSERT INTO content_items (id, customer_id, title, description, owner_id, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(customer)
    .bind(f.title.as_deref().unwrap_or_default())
    .bind(f.description.as_deref().unwrap_or_default())
    .bind(owner)
    .bind(f.expires_at.flatten())
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from(e).missing_reference_at("/customer_id", "no such customer"))?;
    write_links(&mut tx, customer, id, &f).await?;
    let item = fetch(&mut tx, id).await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            after: serde_json::to_value(&item).ok(),
            ..super::audit_entry(caller, "content_item.created", "content_item", id, customer)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(item)
}

pub async fn get(db: &PgPool, caller: &Caller, id: ContentItemId) -> Result<ContentItem> {
    let mut conn = db.acquire().await?;
    Ok(load(&mut conn, caller, id, false).await?.0)
}

/// Newest first.
const NEWEST: Keyset<(DateTime<Utc>, uuid::Uuid)> = Keyset::descending(&["created_at", "id"]);

/// Items the caller may see, newest first.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    filter: &ItemFilter,
    page: &PageRequest,
) -> Result<Page<ContentItem>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("content_items")
        .cond_where(caller.scope().sql_filter("customer_id"));
    // Unapproved items only where the caller is a contributor or more.
    match access::scope_with(caller, LmsRole::Contributor) {
        Some(Scope::All) => {}
        Some(drafts) => {
            q.cond_where(
                Condition::any()
                    .add(Expr::col("status").eq(ContentStatus::Approved.as_str()))
                    .add(drafts.sql_filter("customer_id")),
            );
        }
        None => {
            q.and_where(Expr::col("status").eq(ContentStatus::Approved.as_str()));
        }
    }
    match filter.status {
        Some(s) => q.and_where(Expr::col("status").eq(s.as_str())),
        None => q.and_where(Expr::col("status").is_in([
            ContentStatus::Draft.as_str(),
            ContentStatus::Approved.as_str(),
        ])),
    };
    if let Some(c) = filter.customer_id {
        q.and_where(Expr::col("customer_id").eq(c.as_uuid()));
    }
    if let Some(o) = filter.owner_id {
        q.and_where(Expr::col("owner_id").eq(o.as_uuid()));
    }
    if let Some(t) = filter.term_id {
        q.and_where(Expr::cust_with_values(
            metadata::tagged_with_sql("content_item_terms", "item_id", "id"),
            [t.as_uuid()],
        ));
    }
    if let Some(text) = &filter.q {
        q.and_where(
            Expr::cust("(title || ' ' || description)").ilike(super::contains_pattern(text)),
        );
    }
    NEWEST
        .fetch(db, q, page, |i: &ContentItem| {
            (i.created_at, i.id.as_uuid())
        })
        .await
}

/// Edits an item: contributors edit drafts; approved, deprecated and
/// expired items need an approver.
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: ContentItemId,
    f: ItemFields,
) -> Result<ContentItem> {
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id, true).await?;
    access::ensure(role, before.status.role_to_edit())?;
    sqlx::query(
        "UPDATE content_items SET title = coalesce($2, title), description = coalesce($3, description),
             owner_id = CASE WHEN $4 THEN $5 ELSE owner_id END,
             expires_at = CASE WHEN $6 THEN $7 ELSE expires_at END,
             updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&f.title)
    .bind(&f.description)
    .bind(f.owner_id.is_some())
    .bind(f.owner_id.flatten())
    .bind(f.expires_at.is_some())
    .bind(f.expires_at.flatten())
    .execute(&mut *tx)
    .await?;
    write_links(&mut tx, before.customer_id, id, &f).await?;
    let after = fetch(&mut tx, id).await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
            ..super::audit_entry(
                caller,
                "content_item.updated",
                "content_item",
                id,
                after.customer_id,
            )
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// A lifecycle step an approver takes.
#[derive(Debug, Clone, Copy)]
pub enum Transition {
    /// From `draft`, `expired` or `deprecated`; the expiry must lie ahead.
    Approve,
    /// From `draft`, `approved` or `expired`.
    Deprecate,
}

/// Approves or deprecates an item (approvers and admins).
pub async fn transition(
    db: &PgPool,
    caller: &Caller,
    id: ContentItemId,
    t: Transition,
) -> Result<ContentItem> {
    let (to, action, sql) = match t {
        Transition::Approve => (
            ContentStatus::Approved,
            "content_item.approved",
            "UPDATE content_items SET status = 'approved', approved_by = $2, approved_at = now(),
                 deprecated_at = NULL, expired_at = NULL, updated_at = now()
             WHERE id = $1",
        ),
        Transition::Deprecate => (
            ContentStatus::Deprecated,
            "content_item.deprecated",
            "UPDATE content_items SET status = 'deprecated', deprecated_at = now(), updated_at = now()
             WHERE id = $1 AND $2::uuid IS NOT NULL",
        ),
    };
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id, true).await?;
    access::ensure(role, LmsRole::Approver)?;
    if before.status == to {
        return Err(Error::conflict(
            "content_status_unchanged",
            format!("the content item is already {}", to.as_str()),
        ));
    }
    if to == ContentStatus::Approved
        && let Some(at) = before.expires_at
        && at <= Utc::now()
    {
        return Err(Error::conflict(
            "content_expiry_passed",
            "the item's expires_at has passed; set a later one (or none) before approving it",
        ));
    }
    sqlx::query(sql)
        .bind(id)
        .bind(caller.user_id)
        .execute(&mut *tx)
        .await?;
    let after = fetch(&mut tx, id).await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: Some(serde_json::json!({"status": before.status})),
            after: Some(serde_json::json!({"status": after.status})),
            ..super::audit_entry(caller, action, "content_item", id, after.customer_id)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes an item: contributors delete drafts, approvers any item. Its
/// files are detached (orphans, removed by the nightly cleanup unless
/// attached elsewhere meanwhile).
pub async fn delete(db: &PgPool, caller: &Caller, id: ContentItemId) -> Result<()> {
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id, true).await?;
    access::ensure(role, before.status.role_to_edit())?;
    files::detach_all_except(&mut tx, &target(id), &[]).await?;
    sqlx::query("DELETE FROM content_items WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: serde_json::to_value(&before).ok(),
            ..super::audit_entry(
                caller,
                "content_item.deleted",
                "content_item",
                id,
                before.customer_id,
            )
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Expiry (the nightly `content_expire` job)

/// Items expired by one [`expire_due`] call, at most.
pub const EXPIRE_BATCH: i64 = 500;

#[derive(Debug, FromRow)]
struct Expired {
    id: ContentItemId,
    customer_id: CustomerId,
    title: String,
    expires_at: DateTime<Utc>,
    owner_id: Option<UserId>,
    owner_email: Option<String>,
    owner_name: Option<String>,
    customer_name: String,
}

/// Marks up to [`EXPIRE_BATCH`] draft or approved items whose `expires_at`
/// has passed as `expired`, and in the same transaction writes one e-mail
/// to each item's owner (the creator when none is set; nobody once both
/// are gone). Returns how many items expired; running it again expires
/// nothing twice and writes no second e-mail.
pub async fn expire_due(db: &PgPool, now: DateTime<Utc>, sender: &Sender) -> Result<u64> {
    let mut tx = db.begin().await?;
    let expired: Vec<Expired> = sqlx::query_as(
        "WITH due AS (
             SELECT id FROM content_items
             WHERE status IN ('draft', 'approved') AND expires_at IS NOT NULL AND expires_at <= $1
             ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
         ), done AS (
             UPDATE content_items c SET status = 'expired', expired_at = $1, updated_at = now()
             FROM due WHERE c.id = due.id
             RETURNING c.id, c.customer_id, c.title, c.expires_at, coalesce(c.owner_id, c.created_by) AS owner_id
         )
         SELECT d.id, d.customer_id, d.title, d.expires_at, d.owner_id,
                u.email AS owner_email, u.name AS owner_name, cu.name AS customer_name
         FROM done d JOIN customers cu ON cu.id = d.customer_id
         LEFT JOIN users u ON u.id = d.owner_id AND NOT u.disabled
         ORDER BY d.id",
    )
    .bind(now)
    .bind(EXPIRE_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for e in &expired {
        audit::record(
            &mut *tx,
            audit::AuditEntry {
                action: "content_item.expired",
                target_type: "content_item",
                target_id: Some(e.id.to_string()),
                customer_id: Some(e.customer_id),
                after: Some(serde_json::json!({"status": "expired", "expires_at": e.expires_at})),
                ..Default::default()
            },
        )
        .await?;
        if let (Some(owner), Some(address)) = (e.owner_id, &e.owner_email) {
            tell_owner(&mut tx, e, owner, address, sender).await?;
        }
    }
    tx.commit().await?;
    Ok(expired.len() as u64)
}

async fn tell_owner(
    conn: &mut PgConnection,
    e: &Expired,
    owner: UserId,
    address: &str,
    sender: &Sender,
) -> Result<()> {
    let template = email::templates::CONTENT_EXPIRED;
    let mut vars = Vars::new();
    vars.set("customer_name", email::header_text(&e.customer_name, 200))
        .set("title", email::header_text(&e.title, 200))
        .set("item_id", e.id.to_string())
        .set(
            "expires_at",
            e.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
        .set("organizer_name", sender.display_name())
        .recipient_slot("recipient_name");
    let rendered = template
        .render(&vars)
        .map_err(|err| Error::Internal(anyhow::anyhow!("{}: {err}", template.name)))?;
    let content = outbox::NewContent {
        customer_id: Some(e.customer_id),
        template: template.name,
        rendered,
        ics: None,
        list_id: None,
        attachment: None,
    };
    let mail = outbox::NewEmail::to_person(outbox::Person {
        user_id: owner,
        address,
        name: e.owner_name.as_deref().unwrap_or_default(),
        // One notice per item and expiry, whatever retries happen.
        dedupe_key: format!(
            "content-expired:{}:{}",
            e.id,
            e.expires_at.timestamp_micros()
        ),
        sender,
    });
    let ctx = EnqueueCtx {
        customer_id: Some(e.customer_id),
        requested_by: None,
        callback_url: None,
    };
    outbox::queue(conn, &content, vec![mail], &ctx).await?;
    Ok(())
}
