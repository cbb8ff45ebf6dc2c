//! CoP members: platform users of the CoP's customer, each with a CoP role.
//!
//! `cop_members (cop_id, user_id, role, joined_at)` is what the KPI jobs
//! count (members, new members) and what survey response rates divide by.

use chrono::{DateTime, Utc};
use sea_query::{Expr, JoinType, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::{self, Action, CopRole},
    audit,
    cops::is_customer_user,
};
use crate::{
    error::{Error, Result},
    ids::{CopId, UserId},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Member {
    pub cop_id: CopId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub role: CopRole,
    pub joined_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "m.cop_id, m.user_id, u.email, u.name, m.role, m.joined_at, m.updated_at";

async fn fetch(conn: &mut PgConnection, cop: CopId, user: UserId) -> Result<Option<Member>> {
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM cop_members m JOIN users u ON u.id = m.user_id
             WHERE m.cop_id = $1 AND m.user_id = $2"
    ))
    .bind(cop)
    .bind(user)
    .fetch_optional(conn)
    .await?)
}

/// Whether `user` is a member of `cop` (any role).
pub async fn is_member(conn: &mut PgConnection, cop: CopId, user: UserId) -> Result<bool> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM cop_members WHERE cop_id = $1 AND user_id = $2")
            .bind(cop)
            .bind(user)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// Adds a user of the CoP's customer as a member (default role `member`).
pub async fn add(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    user: UserId,
    role: Option<CopRole>,
) -> Result<Member> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    if !is_customer_user(&mut tx, a.customer_id, user).await? {
        return Err(Error::field(
            "/user_id",
            "is not a user of this CoP's customer",
        ));
    }
    let inserted = sqlx::query(
        "INSERT INTO cop_members (cop_id, user_id, role, added_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (cop_id, user_id) DO NOTHING",
    )
    .bind(cop)
    .bind(user)
    .bind(role.unwrap_or(CopRole::Member))
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(Error::conflict(
            "already_member",
            "the user is already a member of this CoP",
        ));
    }
    let m = fetch(&mut tx, cop, user)
        .await?
        .ok_or(Error::not_found("member"))?;
    audit(
        &mut tx,
        caller,
        "cop.member_added",
        "cop",
        cop.to_string(),
        a.customer_id,
        serde_json::to_value(&m).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(m)
}

/// In joining order.
const BY_JOINING: Keyset<(DateTime<Utc>, UserId)> =
    Keyset::ascending(&["m.joined_at", "m.user_id"]);

/// Members in joining order, optionally of one role.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    role: Option<CopRole>,
    page: &PageRequest,
) -> Result<Page<Member>> {
    let mut conn = db.acquire().await?;
    access::load(&mut conn, caller, cop, "cop")
        .await?
        .require(Action::Read)?;
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from_as("cop_members", "m")
        .join_as(
            JoinType::InnerJoin,
            "users",
            "u",
            Expr::cust("u.id = m.user_id"),
        )
        .and_where(Expr::cust_with_values("m.cop_id = $1", [cop.0]));
    if let Some(r) = role {
        q.and_where(Expr::cust_with_values("m.role = $1", [r.as_str()]));
    }
    BY_JOINING
        .fetch(&mut *conn, q, page, |m: &Member| (m.joined_at, m.user_id))
        .await
}

pub async fn get(db: &PgPool, caller: &Caller, cop: CopId, user: UserId) -> Result<Member> {
    let mut conn = db.acquire().await?;
    access::load(&mut conn, caller, cop, "cop")
        .await?
        .require(Action::Read)?;
    fetch(&mut conn, cop, user)
        .await?
        .ok_or(Error::not_found("member"))
}

pub async fn change_role(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    user: UserId,
    role: CopRole,
) -> Result<Member> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    let changed = sqlx::query(
        "UPDATE cop_members SET role = $3, updated_at = now() WHERE cop_id = $1 AND user_id = $2",
    )
    .bind(cop)
    .bind(user)
    .bind(role)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(Error::not_found("member"));
    }
    let m = fetch(&mut tx, cop, user)
        .await?
        .ok_or(Error::not_found("member"))?;
    audit(
        &mut tx,
        caller,
        "cop.member_role_changed",
        "cop",
        cop.to_string(),
        a.customer_id,
        serde_json::to_value(&m).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(m)
}

/// Removes a member: managers remove anyone, members may leave.
pub async fn remove(db: &PgPool, caller: &Caller, cop: CopId, user: UserId) -> Result<()> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, cop, "cop").await?;
    // Leaving needs only the membership; removing someone else, the Manage right.
    if user != caller.user_id || !a.is_member() {
        a.require(Action::Manage)?;
    }
    let removed = sqlx::query("DELETE FROM cop_members WHERE cop_id = $1 AND user_id = $2")
        .bind(cop)
        .bind(user)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(Error::not_found("member"));
    }
    audit(
        &mut tx,
        caller,
        "cop.member_removed",
        "cop",
        cop.to_string(),
        a.customer_id,
        Some(serde_json::json!({ "user_id": user })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
