//! Assignments: a course or a learning path assigned to a user with a due
//! date. The status is derived in SQL (view `assignment_states`) from the
//! user's completions, progress and the date; it is never stored.

use crate::text_enum;
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
    ids::{AssignmentId, CourseId, CustomerId, PathId, UserId},
    pagination::{Keyset, Page, PageRequest},
    tenancy::{Caller, Scope},
};

text_enum! {
    /// Derived state of an assignment: `completed` once the course (every
    /// course of the path) is completed, else `overdue` after the due date,
    /// else `in_progress` once a lesson is started, else `assigned`.
    pub enum AssignmentStatus {
        Assigned = "assigned",
        InProgress = "in_progress",
        Completed = "completed",
        Overdue = "overdue",
    }
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Assignment {
    pub id: AssignmentId,
    pub customer_id: CustomerId,
    pub user_id: UserId,
    pub course_id: Option<CourseId>,
    pub path_id: Option<PathId>,
    pub due_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub status: AssignmentStatus,
    pub completed_at: Option<DateTime<Utc>>,
    pub assigned_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, customer_id, user_id, course_id, path_id, due_at, status, completed_at, assigned_by, created_at, updated_at";

/// What is assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Course(CourseId),
    Path(PathId),
}

fn due(v: &mut Validator, due_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    if due_at <= now {
        v.push("/due_at", "must be in the future");
    }
    due_at
}

/// A validated new assignment.
#[derive(Debug)]
pub struct NewAssignment {
    pub user_id: UserId,
    pub target: Target,
    pub due_at: DateTime<Utc>,
}

impl NewAssignment {
    /// Exactly one of `course_id` and `path_id`; `due_at` after `now`.
    pub fn parse(
        user_id: UserId,
        course_id: Option<CourseId>,
        path_id: Option<PathId>,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let target = match (course_id, path_id) {
            (Some(c), None) => Some(Target::Course(c)),
            (None, Some(p)) => Some(Target::Path(p)),
            (Some(_), Some(_)) => {
                v.push("/path_id", "give either course_id or path_id, not both");
                None
            }
            (None, None) => {
                v.push("/course_id", "give course_id or path_id");
                None
            }
        };
        let due_at = due(&mut v, due_at, now);
        v.finish()?;
        Ok(Self {
            user_id,
            target: target.expect("checked"),
            due_at,
        })
    }
}

/// A validated change of the due date.
#[derive(Debug)]
pub struct AssignmentPatch {
    pub due_at: Option<DateTime<Utc>>,
}

impl AssignmentPatch {
    pub fn parse(due_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<Self> {
        let mut v = Validator::new();
        let due_at = due_at.map(|d| due(&mut v, d, now));
        v.finish()?;
        Ok(Self { due_at })
    }
}

/// Filters of the assignment lists.
#[derive(Debug, Default, Clone)]
pub struct AssignmentFilter {
    pub customer_id: Option<CustomerId>,
    pub user_id: Option<UserId>,
    pub course_id: Option<CourseId>,
    pub path_id: Option<PathId>,
    pub status: Option<AssignmentStatus>,
}

async fn fetch(conn: &mut PgConnection, id: AssignmentId) -> Result<Option<Assignment>> {
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM assignment_states WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// The assignment if the caller may see it (their own, or contributors and
/// up in its customer), with the caller's role; 404 otherwise.
async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: AssignmentId,
) -> Result<(Assignment, LmsRole)> {
    fetch(conn, id)
        .await?
        .and_then(|a| {
            access::role_in(caller, a.customer_id)
                .filter(|r| a.user_id == caller.user_id || *r >= LmsRole::Contributor)
                .map(|r| (a, r))
        })
        .ok_or(Error::not_found("assignment"))
}

/// The customer of the target, checked: visible to the caller (a field error
/// otherwise, as for a missing one), the caller an approver there, and a
/// course published.
async fn target_customer(
    conn: &mut PgConnection,
    caller: &Caller,
    target: Target,
) -> Result<CustomerId> {
    let (pointer, found): (&str, Option<(CustomerId, Option<String>)>) = match target {
        Target::Course(id) => (
            "/course_id",
            sqlx::query_as("SELECT customer_id, status FROM courses WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?,
        ),
        Target::Path(id) => (
            "/path_id",
            sqlx::query_as("SELECT customer_id, NULL::text FROM learning_paths WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?,
        ),
    };
    let not_found = || Error::field(pointer, "no such course or learning path");
    let (customer, status) = found.ok_or_else(not_found)?;
    let status = status.as_deref().and_then(CourseStatus::parse);
    let role = access::role_in(caller, customer)
        .filter(|r| status.is_none_or(|s| r.sees(s)))
        .ok_or_else(not_found)?;
    access::ensure(role, LmsRole::Approver)?;
    if status.is_some_and(|s| s != CourseStatus::Published) {
        return Err(Error::field(pointer, "must be a published course"));
    }
    Ok(customer)
}

/// Assigns a course or path to a member of its customer (approvers and up).
pub async fn create(db: &PgPool, caller: &Caller, input: NewAssignment) -> Result<Assignment> {
    let mut tx = db.begin().await?;
    let customer = target_customer(&mut tx, caller, input.target).await?;
    let member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_customers WHERE user_id = $1 AND customer_id = $2)",
    )
    .bind(input.user_id)
    .bind(customer)
    .fetch_one(&mut *tx)
    .await?;
    if !member {
        return Err(Error::field(
            "/user_id",
            "is not a member of the customer of the course or path",
        ));
    }
    let (course_id, path_id) = match input.target {
        Target::Course(c) => (Some(c), None),
        Target::Path(p) => (None, Some(p)),
    };
    let id = AssignmentId::new();
    sqlx::query(
        "INSERT INTO assignments (id, customer_id, user_id, course_id, path_id, due_at, assigned_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(customer)
    .bind(input.user_id)
    .bind(course_id)
    .bind(path_id)
    .bind(input.due_at)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Conflict { .. } => Error::conflict("already_assigned", "this user already has this course or path assigned"),
        e => e,
    })?;
    let assignment = fetch(&mut tx, id)
        .await?
        .ok_or(Error::not_found("assignment"))?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            after: serde_json::to_value(&assignment).ok(),
            ..super::audit_entry(caller, "assignment.created", "assignment", id, customer)
        },
    )
    .await?;
    let what: String = sqlx::query_scalar(
        "SELECT coalesce((SELECT title FROM courses WHERE id = $1),
                         (SELECT title FROM learning_paths WHERE id = $2), 'an assignment')",
    )
    .bind(course_id)
    .bind(path_id)
    .fetch_one(&mut *tx)
    .await?;
    crate::notifications::record(
        &mut tx,
        crate::notifications::NewNotification::new(
            Some(customer),
            crate::notifications::NotificationType::AssignmentCreated,
            format!("New assignment: {what}"),
            format!(
                "{} assigned you “{what}”, due {}.",
                caller.name,
                input.due_at.format("%Y-%m-%d %H:%M UTC")
            ),
        )
        .link(format!("/api/v1/assignments/{id}"))
        .to_users([input.user_id])
        .by(caller.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(assignment)
}

pub async fn get(db: &PgPool, caller: &Caller, id: AssignmentId) -> Result<Assignment> {
    let mut conn = db.acquire().await?;
    Ok(load(&mut conn, caller, id).await?.0)
}

/// The caller's own assignments, newest first.
pub async fn list_mine(
    db: &PgPool,
    caller: &Caller,
    status: Option<AssignmentStatus>,
    page: &PageRequest,
) -> Result<Page<Assignment>> {
    let filter = AssignmentFilter {
        user_id: Some(caller.user_id),
        status,
        ..Default::default()
    };
    query(db, &caller.scope(), &filter, page).await
}

/// Assignments of the customers where the caller is a contributor or more
/// (403 for viewers: they list their own), newest first.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    filter: &AssignmentFilter,
    page: &PageRequest,
) -> Result<Page<Assignment>> {
    let scope = access::require_scope(caller, LmsRole::Contributor)?;
    query(db, &scope, filter, page).await
}

/// Newest first.
const NEWEST: Keyset<(DateTime<Utc>, uuid::Uuid)> = Keyset::descending(&["created_at", "id"]);

async fn query(
    db: &PgPool,
    scope: &Scope,
    filter: &AssignmentFilter,
    page: &PageRequest,
) -> Result<Page<Assignment>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("assignment_states")
        .cond_where(scope.sql_filter("customer_id"));
    if let Some(c) = filter.customer_id {
        q.and_where(Expr::col("customer_id").eq(c.as_uuid()));
    }
    if let Some(u) = filter.user_id {
        q.and_where(Expr::col("user_id").eq(u.as_uuid()));
    }
    if let Some(c) = filter.course_id {
        q.and_where(Expr::col("course_id").eq(c.as_uuid()));
    }
    if let Some(p) = filter.path_id {
        q.and_where(Expr::col("path_id").eq(p.as_uuid()));
    }
    if let Some(s) = filter.status {
        q.and_where(Expr::col("status").eq(s.as_str()));
    }
    NEWEST
        .fetch(db, q, page, |a: &Assignment| (a.created_at, a.id.as_uuid()))
        .await
}

/// Changes the due date (approvers and up).
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: AssignmentId,
    patch: AssignmentPatch,
) -> Result<Assignment> {
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id).await?;
    access::ensure(role, LmsRole::Approver)?;
    sqlx::query(
        "UPDATE assignments SET due_at = coalesce($2, due_at), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(patch.due_at)
    .execute(&mut *tx)
    .await?;
    let after = fetch(&mut tx, id)
        .await?
        .ok_or(Error::not_found("assignment"))?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
            ..super::audit_entry(
                caller,
                "assignment.updated",
                "assignment",
                id,
                after.customer_id,
            )
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Removes an assignment (approvers and up); progress is kept.
pub async fn delete(db: &PgPool, caller: &Caller, id: AssignmentId) -> Result<()> {
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id).await?;
    access::ensure(role, LmsRole::Approver)?;
    sqlx::query("DELETE FROM assignments WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: serde_json::to_value(&before).ok(),
            ..super::audit_entry(
                caller,
                "assignment.deleted",
                "assignment",
                id,
                before.customer_id,
            )
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
