//! Champions: members recognised with a title for a period.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::{self, Action},
    audit, members,
};
use crate::{
    error::{Error, Result, Validator},
    ids::{ChampionId, CopId, UserId},
    pagination::{Limit, Page, decode_cursor},
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

const SELECT: &str =
    "SELECT c.id, c.cop_id, c.user_id, u.email, u.name, c.title, c.period_start, c.period_end,
                             c.recognised_by, c.created_at
                      FROM champions c JOIN users u ON u.id = c.user_id";

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

async fn fetch(conn: &mut PgConnection, id: ChampionId) -> Result<Option<Champion>> {
    Ok(sqlx::query_as(sqlf!("{SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
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
    .map_err(|e| match Error::from(e) {
        Error::Conflict { .. } => Error::conflict(
            "already_recognised",
            "this member is already recognised for a period starting that day",
        ),
        e => e,
    })?;
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
    tx.commit().await?;
    Ok(c)
}

/// A CoP's champions, most recent period first.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    limit: Limit,
    cursor: Option<&str>,
) -> Result<Page<Champion>> {
    let after: Option<(NaiveDate, ChampionId)> = decode_cursor(cursor)?;
    let mut conn = db.acquire().await?;
    access::load(&mut conn, caller, cop, "cop")
        .await?
        .require(Action::Read)?;
    let (after_start, after_id) = after.unzip();
    let rows: Vec<Champion> = sqlx::query_as(sqlf!(
        "{SELECT} WHERE c.cop_id = $1 AND ($2::date IS NULL OR (c.period_start, c.id) < ($2, $3))
         ORDER BY c.period_start DESC, c.id DESC LIMIT $4"
    ))
    .bind(cop)
    .bind(after_start)
    .bind(after_id)
    .bind(limit.fetch())
    .fetch_all(&mut *conn)
    .await?;
    Ok(Page::from_rows(rows, limit, |c| (c.period_start, c.id)))
}
