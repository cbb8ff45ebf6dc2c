//! Courses: drafts written by contributors, published and archived by
//! approvers, read by viewers once published (see [`super::access`]).

use crate::text_enum;
use chrono::{DateTime, Utc};
use sea_query::{Condition, Expr, ExprTrait, Query, extension::postgres::PgExpr};
use sqlx::{FromRow, PgConnection, PgPool};

use super::access::{self, LmsRole};
use crate::{
    audit,
    error::{Error, Result, Validator},
    ids::{CourseId, CustomerId, UserId},
    pagination::{Keyset, Page, PageRequest},
    tenancy::{Caller, Scope},
    values,
};

text_enum! {
    /// A course's lifecycle: contributors write `draft`s, approvers publish
    /// them and archive them; viewers see `published` courses only.
    pub enum CourseStatus {
        Draft = "draft",
        Published = "published",
        Archived = "archived",
    }
}

text_enum! {
    /// The level of a course.
    pub enum CourseLevel {
        Beginner = "beginner",
        Intermediate = "intermediate",
        Advanced = "advanced",
    }
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Course {
    pub id: CourseId,
    pub customer_id: CustomerId,
    #[sqlx(try_from = "String")]
    pub status: CourseStatus,
    pub title: String,
    pub description: String,
    pub product: Option<String>,
    pub tags: Vec<String>,
    #[sqlx(try_from = "String")]
    pub level: CourseLevel,
    pub estimated_minutes: Option<i32>,
    pub lesson_count: i64,
    pub thumbnail_file_id: Option<crate::files::FileId>,
    /// Terms of the metadata hierarchy ([`super::metadata`]).
    pub term_ids: Vec<crate::ids::MetadataTermId>,
    pub created_by: Option<UserId>,
    pub published_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, customer_id, status, title, description, product, tags, level, estimated_minutes,
    (SELECT count(*) FROM lessons l WHERE l.course_id = courses.id) AS lesson_count,
    thumbnail_file_id,
    ARRAY(SELECT t.term_id FROM course_terms t WHERE t.course_id = courses.id ORDER BY t.term_id) AS term_ids,
    created_by, published_at, archived_at, created_at, updated_at";

/// The searchable text of a course (matches the trigram index).
const SEARCH_TEXT: &str = "(title || ' ' || description)";

fn product(s: &str) -> Result<String, String> {
    values::text(s, 100, false)
}

fn minutes(n: i64) -> Result<i32, String> {
    if (1..=10_000).contains(&n) {
        Ok(n as i32)
    } else {
        Err("must be between 1 and 10000".into())
    }
}

/// A validated new course (always created as a draft).
#[derive(Debug)]
pub struct NewCourse {
    pub customer_id: CustomerId,
    pub title: String,
    pub description: String,
    pub product: Option<String>,
    pub tags: Vec<String>,
    pub level: CourseLevel,
    pub estimated_minutes: Option<i32>,
}

impl NewCourse {
    pub fn parse(
        customer_id: CustomerId,
        title: &str,
        description: Option<&str>,
        product_name: Option<&str>,
        tags: &[String],
        level: CourseLevel,
        estimated_minutes: Option<i64>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let title = v.check("/title", values::name(title));
        let description = v.check(
            "/description",
            super::description(description.unwrap_or_default()),
        );
        let product_name = product_name.and_then(|p| v.check("/product", product(p)));
        let tags = super::tags(&mut v, tags);
        let estimated_minutes =
            estimated_minutes.and_then(|n| v.check("/estimated_minutes", minutes(n)));
        v.finish()?;
        Ok(Self {
            customer_id,
            title: title.expect("checked"),
            description: description.expect("checked"),
            product: product_name,
            tags,
            level,
            estimated_minutes,
        })
    }
}

/// A validated change; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct CoursePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub product: Option<String>,
    pub tags: Option<Vec<String>>,
    pub level: Option<CourseLevel>,
    pub estimated_minutes: Option<i32>,
}

impl CoursePatch {
    pub fn parse(
        title: Option<&str>,
        description: Option<&str>,
        product_name: Option<&str>,
        tags: Option<&[String]>,
        level: Option<CourseLevel>,
        estimated_minutes: Option<i64>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let title = title.and_then(|t| v.check("/title", values::name(t)));
        let description = description.and_then(|d| v.check("/description", super::description(d)));
        let product_name = product_name.and_then(|p| v.check("/product", product(p)));
        let tags = tags.map(|t| super::tags(&mut v, t));
        let estimated_minutes =
            estimated_minutes.and_then(|n| v.check("/estimated_minutes", minutes(n)));
        v.finish()?;
        Ok(Self {
            title,
            description,
            product: product_name,
            tags,
            level,
            estimated_minutes,
        })
    }
}

/// Filters of `GET /courses`.
#[derive(Debug, Default, Clone)]
pub struct CourseFilter {
    pub customer_id: Option<CustomerId>,
    /// Without it, archived courses are left out.
    pub status: Option<CourseStatus>,
    pub product: Option<String>,
    pub tag: Option<String>,
    pub level: Option<CourseLevel>,
    /// Courses tagged with this metadata term or a term below it.
    pub term_id: Option<crate::ids::MetadataTermId>,
    /// Substring of the title or description, case-insensitive.
    pub q: Option<String>,
}

impl CourseFilter {
    /// Normalises the free-text filters (`/q`, `/tag`, `/product`).
    pub fn parse(mut self) -> Result<Self> {
        let mut v = Validator::new();
        self.q = self
            .q
            .and_then(|q| v.check("/q", values::text(&q, 200, false)));
        self.tag = self.tag.and_then(|t| {
            v.check(
                "/tag",
                values::text(&t, 50, false).map(|t| t.to_lowercase()),
            )
        });
        self.product = self.product.and_then(|p| v.check("/product", product(&p)));
        v.finish()?;
        Ok(self)
    }
}

/// How [`load`] locks the course row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    None,
    /// Progress updates: lessons cannot change meanwhile.
    Share,
    /// Changes to the course or its lessons.
    Update,
}

/// The course if the caller may see it, with the caller's role in its
/// customer; 404 otherwise (other tenants' courses; drafts for viewers).
pub(crate) async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: CourseId,
    lock: Lock,
) -> Result<(Course, LmsRole)> {
    let suffix = match lock {
        Lock::None => "",
        Lock::Share => " FOR SHARE",
        Lock::Update => " FOR UPDATE",
    };
    let course: Option<Course> =
        sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM courses WHERE id = $1{suffix}"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    course
        .and_then(|c| {
            access::role_in(caller, c.customer_id)
                .filter(|r| r.sees(c.status))
                .map(|r| (c, r))
        })
        .ok_or(Error::not_found("course"))
}

async fn fetch(conn: &mut PgConnection, id: CourseId) -> Result<Course> {
    sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM courses WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(Error::not_found("course"))
}

/// Creates a draft course (contributors and up in the course's customer).
pub async fn create(db: &PgPool, caller: &Caller, input: NewCourse) -> Result<Course> {
    let role = access::role_in(caller, input.customer_id)
        .ok_or(Error::field("/customer_id", "no such customer"))?;
    access::ensure(role, LmsRole::Contributor)?;
    let mut tx = db.begin().await?;
    let id = CourseId::new();
    sqlx::query(
        "INSERT INTO courses (id, customer_id, title, description, product, tags, level, estimated_minutes, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(input.customer_id)
    .bind(&input.title)
    .bind(&input.description)
    .bind(&input.product)
    .bind(&input.tags)
    .bind(input.level.as_str())
    .bind(input.estimated_minutes)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from(e).missing_reference_at("/customer_id", "no such customer"))?;
    let course = fetch(&mut tx, id).await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            after: serde_json::to_value(&course).ok(),
            ..super::audit_entry(caller, "course.created", "course", id, course.customer_id)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(course)
}

pub async fn get(db: &PgPool, caller: &Caller, id: CourseId) -> Result<Course> {
    let mut conn = db.acquire().await?;
    Ok(load(&mut conn, caller, id, Lock::None).await?.0)
}

/// Newest first.
const NEWEST: Keyset<(DateTime<Utc>, uuid::Uuid)> = Keyset::descending(&["created_at", "id"]);

/// Courses the caller may see, newest first (keyset on `(created_at, id)`).
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    filter: &CourseFilter,
    page: &PageRequest,
) -> Result<Page<Course>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("courses")
        .cond_where(caller.scope().sql_filter("customer_id"));
    // Drafts and archived courses only where the caller is a contributor or more.
    match access::scope_with(caller, LmsRole::Contributor) {
        Some(Scope::All) => {}
        Some(drafts) => {
            q.cond_where(
                Condition::any()
                    .add(Expr::col("status").eq(CourseStatus::Published.as_str()))
                    .add(drafts.sql_filter("customer_id")),
            );
        }
        None => {
            q.and_where(Expr::col("status").eq(CourseStatus::Published.as_str()));
        }
    }
    match filter.status {
        Some(s) => q.and_where(Expr::col("status").eq(s.as_str())),
        None => q.and_where(Expr::col("status").ne(CourseStatus::Archived.as_str())),
    };
    if let Some(c) = filter.customer_id {
        q.and_where(Expr::col("customer_id").eq(c.as_uuid()));
    }
    if let Some(p) = &filter.product {
        q.and_where(Expr::col("product").eq(p.clone()));
    }
    if let Some(t) = &filter.tag {
        // `@>` uses the GIN index; no `ARRAY[...]`: sea-query reads brackets as quotes.
        q.and_where(Expr::cust_with_values(
            "tags @> array_append('{}'::text[], $1)",
            [t.clone()],
        ));
    }
    if let Some(l) = filter.level {
        q.and_where(Expr::col("level").eq(l.as_str()));
    }
    if let Some(t) = filter.term_id {
        q.and_where(Expr::cust_with_values(
            super::metadata::tagged_with_sql("course_terms", "course_id", "id"),
            [t.as_uuid()],
        ));
    }
    if let Some(text) = &filter.q {
        q.and_where(Expr::cust(SEARCH_TEXT).ilike(super::contains_pattern(text)));
    }
    NEWEST
        .fetch(db, q, page, |c: &Course| (c.created_at, c.id.as_uuid()))
        .await
}

/// Edits a course: contributors edit drafts; published and archived
/// courses need an approver.
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: CourseId,
    patch: CoursePatch,
) -> Result<Course> {
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id, Lock::Update).await?;
    access::ensure(role, access::role_to_edit(before.status))?;
    sqlx::query(
        "UPDATE courses SET title = coalesce($2, title), description = coalesce($3, description),
             product = coalesce($4, product), tags = coalesce($5, tags), level = coalesce($6, level),
             estimated_minutes = coalesce($7, estimated_minutes), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&patch.title)
    .bind(&patch.description)
    .bind(&patch.product)
    .bind(&patch.tags)
    .bind(patch.level.map(CourseLevel::as_str))
    .bind(patch.estimated_minutes)
    .execute(&mut *tx)
    .await?;
    let after = fetch(&mut tx, id).await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
            ..super::audit_entry(caller, "course.updated", "course", id, after.customer_id)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Publishes a draft (or re-publishes an archived) course with at least one
/// lesson (approvers and admins).
pub async fn publish(db: &PgPool, caller: &Caller, id: CourseId) -> Result<Course> {
    transition(db, caller, id, Transition::Publish).await
}

/// Archives a course: hidden from viewers and from lists unless asked for
/// (approvers and admins). Progress, completions and certificates stay.
pub async fn archive(db: &PgPool, caller: &Caller, id: CourseId) -> Result<Course> {
    transition(db, caller, id, Transition::Archive).await
}

#[derive(Debug, Clone, Copy)]
enum Transition {
    Publish,
    Archive,
}

async fn transition(db: &PgPool, caller: &Caller, id: CourseId, t: Transition) -> Result<Course> {
    let (to, action, sql) = match t {
        Transition::Publish => (
            CourseStatus::Published,
            "course.published",
            "UPDATE courses SET status = 'published', published_at = now(), archived_at = NULL, updated_at = now()
             WHERE id = $1",
        ),
        Transition::Archive => (
            CourseStatus::Archived,
            "course.archived",
            "UPDATE courses SET status = 'archived', archived_at = now(), updated_at = now() WHERE id = $1",
        ),
    };
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id, Lock::Update).await?;
    access::ensure(role, LmsRole::Approver)?;
    if before.status == to {
        return Err(Error::conflict(
            "course_status_unchanged",
            format!("the course is already {}", to.as_str()),
        ));
    }
    if to == CourseStatus::Published && before.lesson_count == 0 {
        return Err(Error::conflict(
            "course_has_no_lessons",
            "a course needs at least one lesson to be published",
        ));
    }
    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
    let after = fetch(&mut tx, id).await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: Some(serde_json::json!({"status": before.status})),
            after: Some(serde_json::json!({"status": after.status})),
            ..super::audit_entry(caller, action, "course", id, after.customer_id)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}
