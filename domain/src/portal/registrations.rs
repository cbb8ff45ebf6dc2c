//! Event registrations: members register themselves, managers register
//! members. Capacity holds under concurrency: every registration locks the
//! event row (`FOR UPDATE`) and counts afterwards, in a fresh snapshot.

use chrono::{DateTime, Utc};
use sea_query::{Expr, JoinType, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::Action,
    audit,
    events::{self, EventStatus},
    invites::{self, InviteView},
    members,
};
use crate::{
    error::{Error, Result},
    ids::{EventId, UserId},
    kinds::InviteReason,
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    webhooks::{WebhookData, WebhookEventType, record_event},
};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Registration {
    pub event_id: EventId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub registered_by: Option<UserId>,
    pub registered_at: DateTime<Utc>,
}

/// A registration for an event.
#[derive(poem_openapi::Object)]
pub struct RegistrationView {
    pub event_id: EventId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    /// Who registered them (themselves, or a manager).
    #[oai(skip_serializing_if_is_none)]
    pub registered_by: Option<UserId>,
    pub registered_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub invite: Option<InviteView>,
}

impl From<Registration> for RegistrationView {
    fn from(r: Registration) -> Self {
        Self {
            event_id: r.event_id,
            user_id: r.user_id,
            email: r.email,
            name: r.name,
            registered_by: r.registered_by,
            registered_at: r.registered_at,
            invite: None,
        }
    }
}

/// The webhook `data` of a registration: as `POST /events/{id}/registrations`
/// answers it (a reference names the event and the person).
pub fn webhook_data(r: &Registration) -> WebhookData {
    WebhookData::of_view(
        &RegistrationView::from(r.clone()),
        r.user_id,
        format!("/api/v1/events/{}/registrations", r.event_id),
    )
    .with_reference_field("event_id", r.event_id)
}

const COLUMNS: &str = "r.event_id, r.user_id, u.email, u.name, r.registered_by, r.registered_at";

async fn fetch(
    conn: &mut PgConnection,
    event: EventId,
    user: UserId,
) -> Result<Option<Registration>> {
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM event_registrations r JOIN users u ON u.id = r.user_id
             WHERE r.event_id = $1 AND r.user_id = $2"
    ))
    .bind(event)
    .bind(user)
    .fetch_optional(conn)
    .await?)
}

/// Registrations of an event, counted now (call after locking the event).
pub(crate) async fn count(conn: &mut PgConnection, event: EventId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM event_registrations WHERE event_id = $1")
            .bind(event)
            .fetch_one(conn)
            .await?,
    )
}

/// Registers `user` (default: the caller) for the event.
pub async fn register(
    db: &PgPool,
    caller: &Caller,
    event: EventId,
    user: Option<UserId>,
) -> Result<Registration> {
    let mut tx = db.begin().await?;
    let (e, a) = events::load(&mut tx, caller, event, true).await?;
    let user = user.unwrap_or(caller.user_id);
    if user == caller.user_id {
        a.require(Action::Participate)?;
    } else {
        a.require(Action::Manage)?;
        if !members::is_member(&mut tx, e.cop_id, user).await? {
            return Err(Error::field("/user_id", "is not a member of this CoP"));
        }
    }
    if e.status == EventStatus::Cancelled {
        return Err(Error::conflict("event_cancelled", "the event is cancelled"));
    }
    if e.ends_at <= Utc::now() {
        return Err(Error::conflict(
            "event_ended",
            "the event is over; registration is closed",
        ));
    }
    if fetch(&mut tx, event, user).await?.is_some() {
        return Err(Error::conflict(
            "already_registered",
            "already registered for this event",
        ));
    }
    if let Some(cap) = e.capacity
        && count(&mut tx, event).await? >= i64::from(cap)
    {
        return Err(Error::conflict(
            "event_full",
            format!("the event is full ({cap} places)"),
        ));
    }
    sqlx::query(
        "INSERT INTO event_registrations (event_id, user_id, registered_by) VALUES ($1, $2, $3)",
    )
    .bind(event)
    .bind(user)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    let r = fetch(&mut tx, event, user)
        .await?
        .ok_or(Error::not_found("registration"))?;
    invites::check_address(&r.email)?;
    invites::enqueue(
        &mut tx,
        a.customer_id,
        Some(caller.user_id),
        event,
        InviteReason::Registered,
        Some(user),
    )
    .await?;
    audit(
        &mut tx,
        caller,
        "event.registered",
        "event",
        event.to_string(),
        a.customer_id,
        Some(serde_json::json!({ "user_id": user })),
    )
    .await?;
    record_event(
        &mut tx,
        a.customer_id,
        WebhookEventType::RegistrationCreated,
        webhook_data(&r),
    )
    .await?;
    tx.commit().await?;
    Ok(r)
}

/// In registration order.
const BY_REGISTRATION: Keyset<(DateTime<Utc>, UserId)> =
    Keyset::ascending(&["r.registered_at", "r.user_id"]);

/// Registrations in registration order.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    event: EventId,
    page: &PageRequest,
) -> Result<Page<Registration>> {
    let mut conn = db.acquire().await?;
    let (_, a) = events::load(&mut conn, caller, event, false).await?;
    a.require(Action::Read)?;
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from_as("event_registrations", "r")
        .join_as(
            JoinType::InnerJoin,
            "users",
            "u",
            Expr::cust("u.id = r.user_id"),
        )
        .and_where(Expr::cust_with_values("r.event_id = $1", [event.0]));
    BY_REGISTRATION
        .fetch(&mut *conn, q, page, |r: &Registration| {
            (r.registered_at, r.user_id)
        })
        .await
}

/// Removes a registration: one's own, or anyone's for managers.
pub async fn unregister(db: &PgPool, caller: &Caller, event: EventId, user: UserId) -> Result<()> {
    let mut tx = db.begin().await?;
    let (_, a) = events::load(&mut tx, caller, event, true).await?;
    if user != caller.user_id {
        a.require(Action::Manage)?;
    }
    let removed =
        sqlx::query("DELETE FROM event_registrations WHERE event_id = $1 AND user_id = $2")
            .bind(event)
            .bind(user)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if removed == 0 {
        return Err(Error::not_found("registration"));
    }
    invites::enqueue(
        &mut tx,
        a.customer_id,
        Some(caller.user_id),
        event,
        InviteReason::Unregistered,
        Some(user),
    )
    .await?;
    audit(
        &mut tx,
        caller,
        "event.unregistered",
        "event",
        event.to_string(),
        a.customer_id,
        Some(serde_json::json!({ "user_id": user })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
