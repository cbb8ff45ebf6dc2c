//! Learning paths: ordered lists of courses of one customer. Contributors
//! manage them; viewers see them with their published courses only.

use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::{self, LmsRole},
    courses::CourseStatus,
};
use crate::{
    audit,
    error::{Error, Result, Validator},
    ids::{CourseId, CustomerId, PathId, UserId},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    values,
};

/// At most this many courses per path.
pub const MAX_COURSES_PER_PATH: usize = 100;

#[derive(Debug, Clone, serde::Serialize)]
pub struct LearningPath {
    pub id: PathId,
    pub customer_id: CustomerId,
    pub title: String,
    pub description: String,
    /// In order; for viewers only the published courses.
    pub course_ids: Vec<CourseId>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct PathRow {
    id: PathId,
    customer_id: CustomerId,
    title: String,
    description: String,
    course_ids: Vec<uuid::Uuid>,
    course_statuses: Vec<String>,
    created_by: Option<UserId>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl PathRow {
    /// The path as `role` may see it.
    fn view(self, role: LmsRole) -> LearningPath {
        let course_ids = self
            .course_ids
            .into_iter()
            .zip(self.course_statuses)
            .filter(|(_, s)| CourseStatus::parse(s).is_some_and(|s| role.sees(s)))
            .map(|(id, _)| CourseId(id))
            .collect();
        LearningPath {
            id: self.id,
            customer_id: self.customer_id,
            title: self.title,
            description: self.description,
            course_ids,
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLUMNS: &str = "p.id, p.customer_id, p.title, p.description, p.created_by, p.created_at, p.updated_at,
    ARRAY(SELECT pc.course_id FROM learning_path_courses pc WHERE pc.path_id = p.id ORDER BY pc.position) AS course_ids,
    ARRAY(SELECT c.status FROM learning_path_courses pc JOIN courses c ON c.id = pc.course_id
          WHERE pc.path_id = p.id ORDER BY pc.position) AS course_statuses";

fn course_list(v: &mut Validator, ids: &[CourseId]) -> Vec<CourseId> {
    if ids.len() > MAX_COURSES_PER_PATH {
        v.push(
            "/course_ids",
            format!("must have at most {MAX_COURSES_PER_PATH} entries"),
        );
        return Vec::new();
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            v.push(&format!("/course_ids/{i}"), "is listed twice");
        }
    }
    ids.to_vec()
}

/// A validated new path.
#[derive(Debug)]
pub struct NewPath {
    pub customer_id: CustomerId,
    pub title: String,
    pub description: String,
    pub course_ids: Vec<CourseId>,
}

impl NewPath {
    pub fn parse(
        customer_id: CustomerId,
        title: &str,
        description: Option<&str>,
        course_ids: &[CourseId],
    ) -> Result<Self> {
        let mut v = Validator::new();
        let title = v.check("/title", values::name(title));
        let description = v.check(
            "/description",
            super::description(description.unwrap_or_default()),
        );
        let course_ids = course_list(&mut v, course_ids);
        v.finish()?;
        Ok(Self {
            customer_id,
            title: title.expect("checked"),
            description: description.expect("checked"),
            course_ids,
        })
    }
}

/// A validated change; `course_ids` replaces the whole list.
#[derive(Debug, Default)]
pub struct PathPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub course_ids: Option<Vec<CourseId>>,
}

impl PathPatch {
    pub fn parse(
        title: Option<&str>,
        description: Option<&str>,
        course_ids: Option<&[CourseId]>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let title = title.and_then(|t| v.check("/title", values::name(t)));
        let description = description.and_then(|d| v.check("/description", super::description(d)));
        let course_ids = course_ids.map(|c| course_list(&mut v, c));
        v.finish()?;
        Ok(Self {
            title,
            description,
            course_ids,
        })
    }
}

async fn fetch(conn: &mut PgConnection, id: PathId, for_update: bool) -> Result<Option<PathRow>> {
    let lock = if for_update { " FOR UPDATE OF p" } else { "" };
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM learning_paths p WHERE p.id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// The path and the caller's role in its customer; 404 outside the caller's tenants.
async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: PathId,
    for_update: bool,
) -> Result<(PathRow, LmsRole)> {
    fetch(conn, id, for_update)
        .await?
        .and_then(|p| access::role_in(caller, p.customer_id).map(|r| (p, r)))
        .ok_or(Error::not_found("learning path"))
}

/// Replaces the courses of a path; every course must belong to the path's customer.
async fn set_courses(
    conn: &mut PgConnection,
    path: PathId,
    customer: CustomerId,
    ids: &[CourseId],
) -> Result<()> {
    let uuids: Vec<uuid::Uuid> = ids.iter().map(CourseId::as_uuid).collect();
    let known: Vec<CourseId> =
        sqlx::query_scalar("SELECT id FROM courses WHERE customer_id = $1 AND id = ANY($2)")
            .bind(customer)
            .bind(&uuids)
            .fetch_all(&mut *conn)
            .await?;
    let mut v = Validator::new();
    for (i, id) in ids.iter().enumerate() {
        if !known.contains(id) {
            v.push(
                &format!("/course_ids/{i}"),
                "no such course in the path's customer",
            );
        }
    }
    v.finish()?;
    sqlx::query("DELETE FROM learning_path_courses WHERE path_id = $1")
        .bind(path)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO learning_path_courses (path_id, course_id, position)
         SELECT $1, c.id, c.ord FROM unnest($2::uuid[]) WITH ORDINALITY AS c(id, ord)",
    )
    .bind(path)
    .bind(&uuids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates a path (contributors and up in its customer).
pub async fn create(db: &PgPool, caller: &Caller, input: NewPath) -> Result<LearningPath> {
    let role = access::role_in(caller, input.customer_id)
        .ok_or(Error::field("/customer_id", "no such customer"))?;
    access::ensure(role, LmsRole::Contributor)?;
    let mut tx = db.begin().await?;
    let id = PathId::new();
    sqlx::query("INSERT INTO learning_paths (id, customer_id, title, description, created_by) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(input.customer_id)
        .bind(&input.title)
        .bind(&input.description)
        .bind(caller.user_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from(e).missing_reference_at("/customer_id", "no such customer"))?;
    set_courses(&mut tx, id, input.customer_id, &input.course_ids).await?;
    let path = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("learning path"))?
        .view(role);
    tx.commit().await?;
    Ok(path)
}

pub async fn get(db: &PgPool, caller: &Caller, id: PathId) -> Result<LearningPath> {
    let mut conn = db.acquire().await?;
    let (row, role) = load(&mut conn, caller, id, false).await?;
    Ok(row.view(role))
}

/// Filters of `GET /paths`.
#[derive(Debug, Default, Clone)]
pub struct PathFilter {
    pub customer_id: Option<CustomerId>,
    /// Only paths containing this course.
    pub course_id: Option<CourseId>,
}

/// Newest first.
const NEWEST: Keyset<(DateTime<Utc>, uuid::Uuid)> = Keyset::descending(&["p.created_at", "p.id"]);

/// Paths the caller may see, newest first (keyset on `(created_at, id)`).
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    filter: &PathFilter,
    page: &PageRequest,
) -> Result<Page<LearningPath>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from_as("learning_paths", "p")
        .cond_where(caller.scope().sql_filter(("p", "customer_id")));
    if let Some(c) = filter.customer_id {
        q.and_where(Expr::col(("p", "customer_id")).eq(c.as_uuid()));
    }
    if let Some(c) = filter.course_id {
        q.and_where(Expr::cust_with_values(
            "EXISTS (SELECT 1 FROM learning_path_courses f WHERE f.path_id = p.id AND f.course_id = $1)",
            [c.as_uuid()],
        ));
    }
    let rows = NEWEST
        .fetch(db, q, page, |r: &PathRow| (r.created_at, r.id.as_uuid()))
        .await?;
    // The scope filter keeps only customers where the caller has a role.
    Ok(Page {
        items: rows
            .items
            .into_iter()
            .filter_map(|r| access::role_in(caller, r.customer_id).map(|role| r.view(role)))
            .collect(),
        next_cursor: rows.next_cursor,
    })
}

/// Edits a path (contributors and up).
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: PathId,
    patch: PathPatch,
) -> Result<LearningPath> {
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id, true).await?;
    access::ensure(role, LmsRole::Contributor)?;
    sqlx::query(
        "UPDATE learning_paths SET title = coalesce($2, title), description = coalesce($3, description), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&patch.title)
    .bind(&patch.description)
    .execute(&mut *tx)
    .await?;
    if let Some(ids) = &patch.course_ids {
        set_courses(&mut tx, id, before.customer_id, ids).await?;
    }
    let path = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("learning path"))?
        .view(role);
    tx.commit().await?;
    Ok(path)
}

/// Deletes a path (contributors and up); 409 while it is assigned.
pub async fn delete(db: &PgPool, caller: &Caller, id: PathId) -> Result<()> {
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id, true).await?;
    access::ensure(role, LmsRole::Contributor)?;
    let assigned = || {
        Error::conflict(
            "path_assigned",
            "the learning path is assigned; delete its assignments first",
        )
    };
    let in_use: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM assignments WHERE path_id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if in_use {
        return Err(assigned());
    }
    sqlx::query("DELETE FROM learning_paths WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| match Error::from(e) {
            Error::Unprocessable { .. } => assigned(),
            e => e,
        })?;
    let customer = before.customer_id;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: serde_json::to_value(before.view(role)).ok(),
            ..super::audit_entry(
                caller,
                "learning_path.deleted",
                "learning_path",
                id,
                customer,
            )
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
