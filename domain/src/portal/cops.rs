//! Communities of practice: create, list, get (with stats), update, archive.

use crate::text_enum;
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query, extension::postgres::PgExpr};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::{self, Action},
    audit, contains_pattern, opt_text, surveys,
};
use crate::{
    error::{Error, Result, Validator},
    ids::{CopId, CustomerId, UserId},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    values,
};

text_enum! {
    /// Where a CoP is in its life cycle.
    pub enum CopPhase {
        Foundation = "foundation",
        Launch = "launch",
        Growth = "growth",
        Optimization = "optimization",
    }
}

text_enum! {
    /// Whether a CoP is running (`active`) or on hold (`paused`). Archiving
    /// (soft deletion) is separate: see `archived_at`.
    pub enum CopStatus {
        Active = "active",
        Paused = "paused",
    }
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Cop {
    pub id: CopId,
    pub customer_id: CustomerId,
    pub name: String,
    pub owner_id: Option<UserId>,
    pub phase: CopPhase,
    pub status: CopStatus,
    pub mission: Option<String>,
    pub charter: Option<String>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Activity figures shown with a single CoP.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopStats {
    pub member_count: i64,
    /// Scheduled (not cancelled) events that started in the last 90 days.
    pub sessions_last_90_days: i64,
    /// The NPS of the most recently closed survey with NPS answers.
    pub latest_nps: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct CopDetail {
    pub cop: Cop,
    pub stats: CopStats,
}

const COLUMNS: &str = "id, customer_id, name, owner_id, phase, status, mission, charter, archived_at, \
                       created_by, created_at, updated_at";

const MISSION_MAX: usize = 2000;
const CHARTER_MAX: usize = 20000;

/// A validated new CoP.
#[derive(Debug)]
pub struct NewCop {
    pub customer_id: CustomerId,
    pub name: String,
    pub owner_id: Option<UserId>,
    pub phase: CopPhase,
    pub status: CopStatus,
    pub mission: Option<String>,
    pub charter: Option<String>,
}

impl NewCop {
    pub fn parse(
        customer_id: CustomerId,
        name: &str,
        owner_id: Option<UserId>,
        phase: Option<CopPhase>,
        status: Option<CopStatus>,
        mission: Option<&str>,
        charter: Option<&str>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let name = v.check("/name", values::name(name));
        let mission = opt_text(&mut v, "/mission", mission, MISSION_MAX);
        let charter = opt_text(&mut v, "/charter", charter, CHARTER_MAX);
        v.finish()?;
        Ok(Self {
            customer_id,
            name: name.expect("checked"),
            owner_id,
            phase: phase.unwrap_or(CopPhase::Foundation),
            status: status.unwrap_or(CopStatus::Active),
            mission,
            charter,
        })
    }
}

/// A validated partial update. `Some(None)` clears an optional field.
#[derive(Debug, Default)]
pub struct CopPatch {
    pub name: Option<String>,
    pub owner_id: Option<UserId>,
    pub phase: Option<CopPhase>,
    pub status: Option<CopStatus>,
    pub mission: Option<Option<String>>,
    pub charter: Option<Option<String>>,
}

impl CopPatch {
    pub fn parse(
        name: Option<&str>,
        owner_id: Option<UserId>,
        phase: Option<CopPhase>,
        status: Option<CopStatus>,
        mission: Option<Option<&str>>,
        charter: Option<Option<&str>>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let name = name.and_then(|n| v.check("/name", values::name(n)));
        let mission = mission.map(|m| opt_text(&mut v, "/mission", m, MISSION_MAX));
        let charter = charter.map(|c| opt_text(&mut v, "/charter", c, CHARTER_MAX));
        v.finish()?;
        Ok(Self {
            name,
            owner_id,
            phase,
            status,
            mission,
            charter,
        })
    }
}

/// Filters of `GET /cops`.
#[derive(Debug, Default, Clone)]
pub struct CopFilter {
    pub customer_id: Option<CustomerId>,
    pub owner_id: Option<UserId>,
    pub phase: Option<CopPhase>,
    pub status: Option<CopStatus>,
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
    pub include_archived: bool,
}

/// Whether `user` belongs to `customer` (the people a CoP can contain).
pub(crate) async fn is_customer_user(
    conn: &mut PgConnection,
    customer: CustomerId,
    user: UserId,
) -> Result<bool> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM user_customers WHERE customer_id = $1 AND user_id = $2")
            .bind(customer)
            .bind(user)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

async fn fetch(conn: &mut PgConnection, id: CopId) -> Result<Cop> {
    sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM cops WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(Error::not_found("cop"))
}

/// The figures of [`CopStats`], computed now.
pub async fn stats(conn: &mut PgConnection, id: CopId) -> Result<CopStats> {
    let (member_count, sessions_last_90_days): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM cop_members WHERE cop_id = $1),
                (SELECT count(*) FROM events WHERE cop_id = $1 AND status = 'scheduled'
                   AND starts_at >= now() - interval '90 days' AND starts_at <= now())",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let latest_nps = surveys::latest_nps(conn, id).await?;
    Ok(CopStats {
        member_count,
        sessions_last_90_days,
        latest_nps,
    })
}

async fn detail(conn: &mut PgConnection, id: CopId) -> Result<CopDetail> {
    let cop = fetch(conn, id).await?;
    let stats = stats(conn, id).await?;
    Ok(CopDetail { cop, stats })
}

pub async fn create(db: &PgPool, caller: &Caller, input: NewCop) -> Result<CopDetail> {
    access::require_create(caller, input.customer_id)?;
    let mut tx = db.begin().await?;
    let owner = match input.owner_id {
        Some(o) => {
            if !is_customer_user(&mut tx, input.customer_id, o).await? {
                return Err(Error::field("/owner_id", "is not a user of this customer"));
            }
            Some(o)
        }
        None if is_customer_user(&mut tx, input.customer_id, caller.user_id).await? => {
            Some(caller.user_id)
        }
        None => None,
    };
    let id = CopId::new();
    sqlx::query(
        "INSERT INTO cops (id, customer_id, name, owner_id, phase, status, mission, charter, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(input.customer_id)
    .bind(&input.name)
    .bind(owner)
    .bind(input.phase)
    .bind(input.status)
    .bind(&input.mission)
    .bind(&input.charter)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Unprocessable { .. } => Error::field("/customer_id", "no such customer"),
        e => e,
    })?;
    let d = detail(&mut tx, id).await?;
    audit(
        &mut tx,
        caller,
        "cop.created",
        "cop",
        id.to_string(),
        d.cop.customer_id,
        serde_json::to_value(&d.cop).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(d)
}

pub async fn get(db: &PgPool, caller: &Caller, id: CopId) -> Result<CopDetail> {
    let mut conn = db.acquire().await?;
    access::load(&mut conn, caller, id, "cop")
        .await?
        .require(Action::Read)?;
    detail(&mut conn, id).await
}

/// CoPs by name.
const BY_NAME: Keyset<(String, CopId)> = Keyset::ascending(&["name", "id"]);

/// CoPs the caller can see, by name; archived ones only when asked for.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    filter: &CopFilter,
    page: &PageRequest,
) -> Result<Page<Cop>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("cops")
        .cond_where(caller.scope().sql_filter("customer_id"));
    if let Some(c) = filter.customer_id {
        q.and_where(Expr::col("customer_id").eq(c.0));
    }
    if let Some(o) = filter.owner_id {
        q.and_where(Expr::col("owner_id").eq(o.0));
    }
    if let Some(p) = filter.phase {
        q.and_where(Expr::col("phase").eq(p));
    }
    if let Some(s) = filter.status {
        q.and_where(Expr::col("status").eq(s));
    }
    if let Some(text) = &filter.q {
        q.and_where(Expr::col("name").ilike(contains_pattern(text)));
    }
    if !filter.include_archived {
        q.and_where(Expr::col("archived_at").is_null());
    }
    BY_NAME
        .fetch(db, q, page, |c: &Cop| (c.name.clone(), c.id))
        .await
}

pub async fn update(db: &PgPool, caller: &Caller, id: CopId, patch: CopPatch) -> Result<CopDetail> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, id, "cop").await?;
    a.require(Action::Administer)?;
    if let Some(o) = patch.owner_id
        && !is_customer_user(&mut tx, a.customer_id, o).await?
    {
        return Err(Error::field("/owner_id", "is not a user of this customer"));
    }
    let (mission_set, mission) = split(patch.mission);
    let (charter_set, charter) = split(patch.charter);
    let old_phase: CopPhase = sqlx::query_scalar("SELECT phase FROM cops WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE cops SET name = coalesce($2, name), owner_id = coalesce($3, owner_id),
             phase = coalesce($4, phase), status = coalesce($5, status),
             mission = CASE WHEN $6 THEN $7 ELSE mission END,
             charter = CASE WHEN $8 THEN $9 ELSE charter END,
             updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&patch.name)
    .bind(patch.owner_id)
    .bind(patch.phase)
    .bind(patch.status)
    .bind(mission_set)
    .bind(mission)
    .bind(charter_set)
    .bind(charter)
    .execute(&mut *tx)
    .await?;
    let d = detail(&mut tx, id).await?;
    audit(
        &mut tx,
        caller,
        "cop.updated",
        "cop",
        id.to_string(),
        a.customer_id,
        serde_json::to_value(&d.cop).ok(),
    )
    .await?;
    if d.cop.phase != old_phase {
        crate::notifications::record(
            &mut tx,
            crate::notifications::NewNotification::new(
                Some(a.customer_id),
                crate::notifications::NotificationType::CopPhaseChange,
                format!("{} moved to the {} phase", d.cop.name, d.cop.phase.as_str()),
                format!(
                    "{} moved from the {} phase to the {} phase.",
                    d.cop.name,
                    old_phase.as_str(),
                    d.cop.phase.as_str()
                ),
            )
            .link(format!("/api/v1/cops/{id}"))
            .to(crate::notifications::Audience::CopExecs, id.0)
            .by(caller.user_id),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(d)
}

/// Soft-deletes the CoP (sets `archived_at`). Archiving twice is a no-op.
pub async fn archive(db: &PgPool, caller: &Caller, id: CopId) -> Result<()> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, id, "cop").await?;
    if !a.allows(Action::Administer) {
        return a.require(Action::Administer);
    }
    if a.archived {
        return Ok(());
    }
    sqlx::query("UPDATE cops SET archived_at = now(), updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        caller,
        "cop.archived",
        "cop",
        id.to_string(),
        a.customer_id,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `Some(v)` of a patch → (true, v): "set this column to v (maybe NULL)".
pub(crate) fn split<T>(v: Option<Option<T>>) -> (bool, Option<T>) {
    match v {
        Some(inner) => (true, inner),
        None => (false, None),
    }
}
