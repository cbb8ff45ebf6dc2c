//! Use cases (success stories): members submit them, the CoP's leaders or
//! platform staff approve or reject them. `use_cases.approved_at` feeds the
//! `use_cases_approved` KPI.

use crate::text_enum;
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::{self, Action, CopAccess},
    audit, opt_text,
};
use crate::{
    error::{Error, Result, Validator},
    ids::{CopId, UseCaseId, UserId},
    notifications::{self, Audience, NewNotification, NotificationType},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    values,
};

text_enum! {
    /// `submitted`, then `approved` or `rejected` by a CoP leader or staff.
    pub enum UseCaseStatus {
        Submitted = "submitted",
        Approved = "approved",
        Rejected = "rejected",
    }
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct UseCase {
    pub id: UseCaseId,
    pub cop_id: CopId,
    pub title: String,
    pub summary: String,
    pub business_value: Option<String>,
    pub status: UseCaseStatus,
    pub submitted_by: Option<UserId>,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, cop_id, title, summary, business_value, status, submitted_by, decided_by, \
                       decided_at, approved_at, created_at, updated_at";

/// A validated submission.
#[derive(Debug, Clone)]
pub struct NewUseCase {
    pub title: String,
    pub summary: String,
    pub business_value: Option<String>,
}

impl NewUseCase {
    pub fn parse(title: &str, summary: &str, business_value: Option<&str>) -> Result<Self> {
        let mut v = Validator::new();
        let title = v.check("/title", values::name(title));
        let summary = v.check("/summary", values::text(summary, 5000, true));
        let business_value = opt_text(&mut v, "/business_value", business_value, 5000);
        v.finish()?;
        Ok(Self {
            title: title.expect("checked"),
            summary: summary.expect("checked"),
            business_value,
        })
    }
}

/// A validated change to a use case: `None` leaves a field as it is;
/// `business_value: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UseCasePatch {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub business_value: Option<Option<String>>,
}

impl UseCasePatch {
    pub fn parse(
        title: Option<&str>,
        summary: Option<&str>,
        business_value: Option<Option<&str>>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let title = title.and_then(|t| v.check("/title", values::name(t)));
        let summary = summary.and_then(|t| v.check("/summary", values::text(t, 5000, true)));
        let business_value = business_value.map(|b| opt_text(&mut v, "/business_value", b, 5000));
        v.finish()?;
        Ok(Self {
            title,
            summary,
            business_value,
        })
    }
}

async fn fetch(conn: &mut PgConnection, id: UseCaseId, lock: bool) -> Result<Option<UseCase>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    Ok(
        sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM use_cases WHERE id = $1{lock}"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: UseCaseId,
    lock: bool,
) -> Result<(UseCase, CopAccess)> {
    let u = fetch(conn, id, lock)
        .await?
        .ok_or(Error::not_found("use case"))?;
    let a = access::load(conn, caller, u.cop_id, "use case").await?;
    Ok((u, a))
}

pub async fn submit(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    input: NewUseCase,
) -> Result<UseCase> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, cop, "cop").await?;
    a.require(Action::Contribute)?;
    let id = UseCaseId::new();
    sqlx::query(
        "INSERT INTO use_cases (id, cop_id, title, summary, business_value, submitted_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(cop)
    .bind(&input.title)
    .bind(&input.summary)
    .bind(&input.business_value)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    let u = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("use case"))?;
    audit(
        &mut tx,
        caller,
        "use_case.submitted",
        "use_case",
        id.to_string(),
        a.customer_id,
        serde_json::to_value(&u).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(u)
}

pub async fn get(db: &PgPool, caller: &Caller, id: UseCaseId) -> Result<UseCase> {
    let mut conn = db.acquire().await?;
    let (u, a) = load(&mut conn, caller, id, false).await?;
    a.require(Action::Read)?;
    Ok(u)
}

/// Newest first.
const NEWEST: Keyset<(DateTime<Utc>, UseCaseId)> = Keyset::descending(&["created_at", "id"]);

/// A CoP's use cases, newest first, optionally of one status.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    status: Option<UseCaseStatus>,
    page: &PageRequest,
) -> Result<Page<UseCase>> {
    let mut conn = db.acquire().await?;
    access::load(&mut conn, caller, cop, "cop")
        .await?
        .require(Action::Read)?;
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("use_cases")
        .and_where(Expr::col("cop_id").eq(cop.0));
    if let Some(s) = status {
        q.and_where(Expr::col("status").eq(s));
    }
    NEWEST
        .fetch(&mut *conn, q, page, |u: &UseCase| (u.created_at, u.id))
        .await
}

/// Loads a use case for a change by its submitter or an approver: 403 for
/// others, 409 once it is approved (the KPIs count it).
async fn load_for_edit(
    conn: &mut PgConnection,
    caller: &Caller,
    id: UseCaseId,
) -> Result<(UseCase, CopAccess)> {
    let (u, a) = load(conn, caller, id, true).await?;
    a.require_edit_contribution(u.submitted_by == Some(caller.user_id))?;
    if u.status == UseCaseStatus::Approved {
        return Err(Error::conflict(
            "use_case_approved",
            "the use case is approved; it can no longer be changed",
        ));
    }
    Ok((u, a))
}

/// Edits a use case that is not approved (its submitter, or the CoP's
/// exec_sponsor or lead, admin or internal). Editing a rejected use case
/// resubmits it: it is `submitted` again, awaiting a new decision.
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: UseCaseId,
    patch: UseCasePatch,
) -> Result<UseCase> {
    let mut tx = db.begin().await?;
    let (_, a) = load_for_edit(&mut tx, caller, id).await?;
    let (value_set, value) = super::cops::split(patch.business_value);
    sqlx::query(
        "UPDATE use_cases SET title = coalesce($2, title), summary = coalesce($3, summary),
             business_value = CASE WHEN $4 THEN $5 ELSE business_value END,
             status = 'submitted', decided_by = NULL, decided_at = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&patch.title)
    .bind(&patch.summary)
    .bind(value_set)
    .bind(value)
    .execute(&mut *tx)
    .await?;
    let u = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("use case"))?;
    audit(
        &mut tx,
        caller,
        "use_case.updated",
        "use_case",
        id.to_string(),
        a.customer_id,
        serde_json::to_value(&u).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(u)
}

/// Deletes a use case that is not approved (same roles as [`update`]).
pub async fn delete(db: &PgPool, caller: &Caller, id: UseCaseId) -> Result<()> {
    let mut tx = db.begin().await?;
    let (_, a) = load_for_edit(&mut tx, caller, id).await?;
    sqlx::query("DELETE FROM use_cases WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        caller,
        "use_case.deleted",
        "use_case",
        id.to_string(),
        a.customer_id,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Approves or rejects a submitted use case.
pub async fn decide(db: &PgPool, caller: &Caller, id: UseCaseId, approve: bool) -> Result<UseCase> {
    let mut tx = db.begin().await?;
    let (u, a) = load(&mut tx, caller, id, true).await?;
    a.require(Action::Approve)?;
    if u.status != UseCaseStatus::Submitted {
        return Err(Error::conflict(
            "use_case_decided",
            format!("the use case is already {}", u.status.as_str()),
        ));
    }
    let status = if approve {
        UseCaseStatus::Approved
    } else {
        UseCaseStatus::Rejected
    };
    sqlx::query(
        "UPDATE use_cases SET status = $2, decided_by = $3, decided_at = now(),
             approved_at = CASE WHEN $2 = 'approved' THEN now() END, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    let u = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("use case"))?;
    let action = if approve {
        "use_case.approved"
    } else {
        "use_case.rejected"
    };
    audit(
        &mut tx,
        caller,
        action,
        "use_case",
        id.to_string(),
        a.customer_id,
        None,
    )
    .await?;
    if approve {
        let cop_name = notifications::cop_name(&mut tx, u.cop_id).await?;
        notifications::record(
            &mut tx,
            NewNotification::new(
                Some(a.customer_id),
                NotificationType::UseCaseShared,
                format!("New use case in {cop_name}: {}", u.title),
                u.summary.clone(),
            )
            .link(format!("/api/v1/use-cases/{id}"))
            .group(
                format!("{}", u.cop_id),
                format!("{{count}} new use cases in {cop_name}"),
            )
            .to(Audience::CopMembers, u.cop_id.0)
            .by(caller.user_id),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(u)
}
