//! Champions: members recognised with a title for a period.

use chrono::{DateTime, NaiveDate, Utc};
use sea_query::{Expr, JoinType, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::{self, Action, CopAccess},
    audit, members,
};
use crate::{
    error::{Error, Result, Validator},
    ids::{ChampionId, CopId, UserId},
    notifications::{self, Audience, NewNotification, NotificationType},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    values,
};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Champion {
    pub id: ChampionId,
    pub cop_id: CopId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub title: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub recognised_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "c.id, c.cop_id, c.user_id, u.email, u.name, c.title, c.period_start,
    c.period_end, c.recognised_by, c.created_at";

/// A validated recognition.
#[derive(Debug, Clone)]
pub struct NewChampion {
    pub user_id: UserId,
    pub title: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

impl NewChampion {
    pub fn parse(
        user_id: UserId,
        title: &str,
        period_start: NaiveDate,
        period_end: NaiveDate,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let title = v.check("/title", values::name(title));
        if period_end < period_start {
            v.push("/period_end", "must not be before period_start");
        }
        v.finish()?;
        Ok(Self {
            user_id,
            title: title.expect("checked"),
            period_start,
            period_end,
        })
    }
}

/// A validated change to a recognition: `None` leaves a field as it is.
/// The member stays; recognise someone else with a new recognition.
#[derive(Debug, Clone, Default)]
pub struct ChampionPatch {
    pub title: Option<String>,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
}

impl ChampionPatch {
    pub fn parse(
        title: Option<&str>,
        period_start: Option<NaiveDate>,
        period_end: Option<NaiveDate>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let title = title.and_then(|t| v.check("/title", values::name(t)));
        if let (Some(s), Some(e)) = (period_start, period_end)
            && e < s
        {
            v.push("/period_end", "must not be before period_start");
        }
        v.finish()?;
        Ok(Self {
            title,
            period_start,
            period_end,
        })
    }
}

async fn fetch(conn: &mut PgConnection, id: ChampionId) -> Result<Option<Champion>> {
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM champions c JOIN users u ON u.id = c.user_id WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// A champion and the caller's access to its CoP: 404 (naming the champion)
/// when it does not exist or its CoP lies outside the caller's scope.
async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ChampionId,
    lock: bool,
) -> Result<(Champion, CopAccess)> {
    if lock {
        sqlx::query("SELECT 1 FROM champions WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    let c = fetch(conn, id).await?.ok_or(Error::not_found("champion"))?;
    let a = access::load(conn, caller, c.cop_id, "champion").await?;
    Ok((c, a))
}

fn already_recognised(e: sqlx::Error) -> Error {
    match Error::from(e) {
        Error::Conflict { .. } => Error::conflict(
            "already_recognised",
            "this member is already recognised for a period starting that day",
        ),
        e => e,
    }
}

/// Recognises a member of the CoP as a champion.
pub async fn recognise(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    input: NewChampion,
) -> Result<Champion> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    if !members::is_member(&mut tx, cop, input.user_id).await? {
        return Err(Error::field("/user_id", "is not a member of this CoP"));
    }
    let id = ChampionId::new();
    sqlx::query(
        "INSERT INTO champions (id, cop_id, user_id, title, period_start, period_end, recognised_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(cop)
    .bind(input.user_id)
    .bind(&input.title)
    .bind(input.period_start)
    .bind(input.period_end)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await
    .map_err(already_recognised)?;
    let c = fetch(&mut tx, id)
        .await?
        .ok_or(Error::not_found("champion"))?;
    audit(
        &mut tx,
        caller,
        "cop.champion_recognised",
        "cop",
        cop.to_string(),
        a.customer_id,
        serde_json::to_value(&c).ok(),
    )
    .await?;
    let cop_name = notifications::cop_name(&mut tx, cop).await?;
    let champion: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(input.user_id)
        .fetch_one(&mut *tx)
        .await?;
    notifications::record(
        &mut tx,
        NewNotification::new(
            Some(a.customer_id),
            NotificationType::ChampionRecognized,
            format!("{champion} is a champion of {cop_name}"),
            format!(
                "{champion} was recognised as “{}” for {} – {}.",
                c.title, c.period_start, c.period_end
            ),
        )
        .link(format!("/api/v1/champions/{id}"))
        .to(Audience::CopMembers, cop.0)
        .to_users([input.user_id])
        .by(caller.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

/// Most recent period first.
const RECENT: Keyset<(NaiveDate, ChampionId)> = Keyset::descending(&["c.period_start", "c.id"]);

/// A CoP's champions, most recent period first.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    page: &PageRequest,
) -> Result<Page<Champion>> {
    let mut conn = db.acquire().await?;
    access::load(&mut conn, caller, cop, "cop")
        .await?
        .require(Action::Read)?;
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from_as("champions", "c")
        .join_as(
            JoinType::InnerJoin,
            "users",
            "u",
            Expr::cust("u.id = c.user_id"),
        )
        .and_where(Expr::cust_with_values("c.cop_id = $1", [cop.0]));
    RECENT
        .fetch(&mut *conn, q, page, |c: &Champion| (c.period_start, c.id))
        .await
}

pub async fn get(db: &PgPool, caller: &Caller, id: ChampionId) -> Result<Champion> {
    let mut conn = db.acquire().await?;
    let (c, a) = load(&mut conn, caller, id, false).await?;
    a.require(Action::Read)?;
    Ok(c)
}

/// Changes a recognition's title or period (those who manage the CoP).
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: ChampionId,
    patch: ChampionPatch,
) -> Result<Champion> {
    let mut tx = db.begin().await?;
    let (c, a) = load(&mut tx, caller, id, true).await?;
    a.require(Action::Manage)?;
    let start = patch.period_start.unwrap_or(c.period_start);
    let end = patch.period_end.unwrap_or(c.period_end);
    if end < start {
        let pointer = if patch.period_end.is_some() {
            "/period_end"
        } else {
            "/period_start"
        };
        return Err(Error::field(
            pointer,
            "the period must not end before it starts",
        ));
    }
    sqlx::query(
        "UPDATE champions SET title = coalesce($2, title), period_start = $3, period_end = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(&patch.title)
    .bind(start)
    .bind(end)
    .execute(&mut *tx)
    .await
    .map_err(already_recognised)?;
    let c = fetch(&mut tx, id)
        .await?
        .ok_or(Error::not_found("champion"))?;
    audit(
        &mut tx,
        caller,
        "cop.champion_updated",
        "cop",
        c.cop_id.to_string(),
        a.customer_id,
        serde_json::to_value(&c).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

/// Withdraws a recognition (those who manage the CoP).
pub async fn delete(db: &PgPool, caller: &Caller, id: ChampionId) -> Result<()> {
    let mut tx = db.begin().await?;
    let (c, a) = load(&mut tx, caller, id, true).await?;
    a.require(Action::Manage)?;
    sqlx::query("DELETE FROM champions WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        caller,
        "cop.champion_removed",
        "cop",
        c.cop_id.to_string(),
        a.customer_id,
        serde_json::to_value(&c).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
