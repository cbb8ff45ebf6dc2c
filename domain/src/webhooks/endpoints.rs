//! Webhook endpoints of a tenant: validation, CRUD, enable/disable, secret
//! rotation, the callback secret, and the delivery logs.
//!
//! Permissions: admins and the customer's `customer_exec` manage endpoints;
//! `internal` staff may read them; other callers see nothing (404 outside
//! their tenants, 403 inside without the role).

use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, JoinType, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    DeliveryId, EndpointId, ROTATION_OVERLAP, WebhookEventType, delivery::WebhookDeliveryStatus,
    signing::generate_secret, ssrf,
};
use crate::{
    audit::{self, AuditEntry},
    error::{Error, Result, Validator},
    ids::CustomerId,
    pagination::{Keyset, Page, PageRequest},
    tenancy::{Caller, Role, Scope},
    values,
};

/// An endpoint as shown (never with its secrets).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Endpoint {
    pub id: EndpointId,
    pub customer_id: CustomerId,
    pub url: String,
    pub description: Option<String>,
    /// Empty: every event type.
    pub event_types: Vec<WebhookEventType>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// `manual`, `gone` (the endpoint answered 410) or `failing` (every attempt failed for days).
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    /// While a rotated-out secret still signs (both signatures are sent).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct EndpointRow {
    id: EndpointId,
    customer_id: CustomerId,
    url: String,
    description: Option<String>,
    event_types: Vec<String>,
    disabled_at: Option<DateTime<Utc>>,
    disabled_reason: Option<String>,
    failing_since: Option<DateTime<Utc>>,
    previous_secret_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EndpointRow> for Endpoint {
    fn from(r: EndpointRow) -> Self {
        Self {
            id: r.id,
            customer_id: r.customer_id,
            url: r.url,
            description: r.description,
            event_types: r
                .event_types
                .iter()
                .filter_map(|t| WebhookEventType::parse(t))
                .collect(),
            disabled_at: r.disabled_at,
            disabled_reason: r.disabled_reason,
            failing_since: r.failing_since,
            // An expired overlap is history, not state.
            previous_secret_expires_at: r.previous_secret_expires_at.filter(|t| *t > Utc::now()),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str =
    "id, customer_id, url, description, event_types, disabled_at, disabled_reason, failing_since,
    previous_secret_expires_at, created_at, updated_at";

/// The static checks of a target URL, with field pointer; see [`ssrf::check_url`].
pub fn parse_url(pointer: &str, s: &str, allow_insecure: bool) -> Result<url::Url> {
    ssrf::check_url(s, allow_insecure).map_err(|m| Error::field(pointer, m))
}

fn parse_description(v: &mut Validator, d: Option<&str>) -> Option<Option<String>> {
    match d.map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(d) => v
            .check("/description", values::text(d, 500, false))
            .map(Some),
    }
}

fn dedup(types: Vec<WebhookEventType>) -> Vec<WebhookEventType> {
    let mut out: Vec<WebhookEventType> = vec![];
    for t in types {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// A validated new endpoint. The URL passed the static SSRF checks; the
/// caller also resolves its host (see the API).
#[derive(Debug)]
pub struct NewEndpoint {
    pub customer_id: CustomerId,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<WebhookEventType>,
}

impl NewEndpoint {
    pub fn parse(
        customer_id: CustomerId,
        url: &str,
        description: Option<&str>,
        event_types: Vec<WebhookEventType>,
        allow_insecure: bool,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let url = v.check("/url", ssrf::check_url(url, allow_insecure));
        let description = parse_description(&mut v, description).flatten();
        v.finish()?;
        Ok(Self {
            customer_id,
            url: url.map(String::from).unwrap_or_default(),
            description,
            event_types: dedup(event_types),
        })
    }
}

/// Changes to an endpoint; `None` leaves a field as it is. An empty
/// description clears it; an empty event-type list means every type.
#[derive(Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<WebhookEventType>>,
}

impl EndpointPatch {
    pub fn parse(
        url: Option<&str>,
        description: Option<&str>,
        event_types: Option<Vec<WebhookEventType>>,
        allow_insecure: bool,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let url = url.and_then(|u| v.check("/url", ssrf::check_url(u, allow_insecure)));
        let description = parse_description(&mut v, description);
        v.finish()?;
        Ok(Self {
            url: url.map(String::from),
            description,
            event_types: event_types.map(dedup),
        })
    }
}

/// Customers whose endpoints `caller` may read.
fn read_scope(caller: &Caller) -> Scope {
    if caller.is_staff() {
        return Scope::All;
    }
    if caller.has_role(Role::CustomerExec) {
        return caller.scope();
    }
    Scope::Customers(vec![])
}

/// 404 outside the caller's tenants, 403 inside them without the right role.
fn ensure_read(caller: &Caller, customer: CustomerId, resource: &'static str) -> Result<()> {
    caller.scope().ensure(customer, resource)?;
    if read_scope(caller).contains(customer) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "requires the admin or internal role, or customer_exec of this customer",
        ))
    }
}

fn ensure_manage(caller: &Caller, customer: CustomerId, resource: &'static str) -> Result<()> {
    caller.scope().ensure(customer, resource)?;
    if caller.can_manage_customer(customer) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "requires the admin role or customer_exec of this customer",
        ))
    }
}

async fn audit(
    conn: &mut PgConnection,
    caller: &Caller,
    action: &str,
    before: Option<&Endpoint>,
    after: Option<&Endpoint>,
) -> Result<()> {
    let e = after.or(before).expect("an audited endpoint");
    audit::record(
        &mut *conn,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action,
            target_type: "webhook_endpoint",
            target_id: Some(e.id.to_string()),
            customer_id: Some(e.customer_id),
            before: before.and_then(|b| serde_json::to_value(b).ok()),
            after: after.and_then(|a| serde_json::to_value(a).ok()),
        },
    )
    .await
}

fn type_names(types: &[WebhookEventType]) -> Vec<&'static str> {
    types.iter().map(|t| t.as_str()).collect()
}

/// Creates an endpoint in the caller's transaction. Returns it and its
/// secret (shown once).
pub async fn create(
    conn: &mut PgConnection,
    caller: &Caller,
    input: NewEndpoint,
) -> Result<(Endpoint, String)> {
    ensure_manage(caller, input.customer_id, "customer")?;
    let secret = generate_secret();
    let row: EndpointRow = sqlx::query_as(sqlf!(
        "INSERT INTO webhook_endpoints (id, customer_id, url, description, event_types, secret)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(EndpointId::new())
    .bind(input.customer_id)
    .bind(&input.url)
    .bind(&input.description)
    .bind(type_names(&input.event_types))
    .bind(&secret)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| Error::from(e).missing_reference_at("/customer_id", "no such customer"))?;
    let ep = Endpoint::from(row);
    audit(conn, caller, "webhook.endpoint_created", None, Some(&ep)).await?;
    Ok((ep, secret))
}

async fn fetch(conn: &mut PgConnection, id: EndpointId, lock: bool) -> Result<Option<Endpoint>> {
    let sql = if lock {
        sqlf!("SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1 FOR UPDATE")
    } else {
        sqlf!("SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1")
    };
    let row: Option<EndpointRow> = sqlx::query_as(sql).bind(id).fetch_optional(conn).await?;
    Ok(row.map(Into::into))
}

pub async fn get(db: &PgPool, caller: &Caller, id: EndpointId) -> Result<Endpoint> {
    let mut conn = db.acquire().await?;
    let ep = fetch(&mut conn, id, false)
        .await?
        .ok_or(Error::not_found("webhook endpoint"))?;
    ensure_read(caller, ep.customer_id, "webhook endpoint")?;
    Ok(ep)
}

/// Loads an endpoint the caller may manage, locked for the transaction.
async fn for_update(conn: &mut PgConnection, caller: &Caller, id: EndpointId) -> Result<Endpoint> {
    let ep = fetch(conn, id, true)
        .await?
        .ok_or(Error::not_found("webhook endpoint"))?;
    ensure_manage(caller, ep.customer_id, "webhook endpoint")?;
    Ok(ep)
}

/// Newest first.
const NEWEST: Keyset<(DateTime<Utc>, EndpointId)> = Keyset::descending(&["created_at", "id"]);

/// Endpoints the caller may read, newest first; optionally of one customer.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    customer: Option<CustomerId>,
    page: &PageRequest,
) -> Result<Page<Endpoint>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("webhook_endpoints")
        .cond_where(read_scope(caller).sql_filter("customer_id"));
    if let Some(c) = customer {
        q.and_where(Expr::col("customer_id").eq(c.0));
    }
    Ok(NEWEST
        .fetch(db, q, page, |e: &EndpointRow| (e.created_at, e.id))
        .await?
        .map(Endpoint::from))
}

pub async fn update(
    conn: &mut PgConnection,
    caller: &Caller,
    id: EndpointId,
    patch: EndpointPatch,
) -> Result<Endpoint> {
    let before = for_update(conn, caller, id).await?;
    let row: EndpointRow = sqlx::query_as(sqlf!(
        "UPDATE webhook_endpoints SET
             url = coalesce($2, url),
             description = CASE WHEN $3 THEN $4 ELSE description END,
             event_types = coalesce($5, event_types),
             updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&patch.url)
    .bind(patch.description.is_some())
    .bind(patch.description.flatten())
    .bind(patch.event_types.as_deref().map(type_names))
    .fetch_one(&mut *conn)
    .await?;
    let after = Endpoint::from(row);
    audit(
        conn,
        caller,
        "webhook.endpoint_updated",
        Some(&before),
        Some(&after),
    )
    .await?;
    Ok(after)
}

/// Deletes an endpoint with its deliveries and attempt log.
pub async fn delete(db: &PgPool, caller: &Caller, id: EndpointId) -> Result<()> {
    let mut tx = db.begin().await?;
    let before = for_update(&mut tx, caller, id).await?;
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        caller,
        "webhook.endpoint_deleted",
        Some(&before),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Disables (reason `manual`) or re-enables an endpoint. Enabling clears the
/// failure streak; messages missed meanwhile can be sent with `recover`.
pub async fn set_enabled(
    db: &PgPool,
    caller: &Caller,
    id: EndpointId,
    enabled: bool,
) -> Result<Endpoint> {
    let mut tx = db.begin().await?;
    let before = for_update(&mut tx, caller, id).await?;
    let row: EndpointRow = if enabled {
        sqlx::query_as(sqlf!(
            "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL,
                 updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
    } else {
        sqlx::query_as(sqlf!(
            "UPDATE webhook_endpoints SET disabled_at = coalesce(disabled_at, now()),
                 disabled_reason = coalesce(disabled_reason, 'manual'), updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
    }
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let after = Endpoint::from(row);
    let action = if enabled {
        "webhook.endpoint_enabled"
    } else {
        "webhook.endpoint_disabled"
    };
    audit(&mut tx, caller, action, Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(after)
}

/// Issues a new secret (shown once); the current one keeps signing for
/// [`ROTATION_OVERLAP`], so deliveries carry both signatures meanwhile.
pub async fn rotate_secret(
    db: &PgPool,
    caller: &Caller,
    id: EndpointId,
) -> Result<(Endpoint, String)> {
    let mut tx = db.begin().await?;
    let before = for_update(&mut tx, caller, id).await?;
    let secret = generate_secret();
    let row: EndpointRow = sqlx::query_as(sqlf!(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = $3,
             secret = $2, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&secret)
    .bind(Utc::now() + ROTATION_OVERLAP)
    .fetch_one(&mut *tx)
    .await?;
    let after = Endpoint::from(row);
    audit(
        &mut tx,
        caller,
        "webhook.endpoint_secret_rotated",
        Some(&before),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    Ok((after, secret))
}

/// An endpoint the caller may manage, for actions that send (test, recover).
pub async fn manageable(db: &PgPool, caller: &Caller, id: EndpointId) -> Result<Endpoint> {
    let mut conn = db.acquire().await?;
    let ep = fetch(&mut conn, id, false)
        .await?
        .ok_or(Error::not_found("webhook endpoint"))?;
    ensure_manage(caller, ep.customer_id, "webhook endpoint")?;
    if ep.disabled_at.is_some() {
        return Err(Error::conflict(
            "endpoint_disabled",
            "the endpoint is disabled; enable it first",
        ));
    }
    Ok(ep)
}

// ---------------------------------------------------------------------------
// The callback secret: signs a tenant's one-off `callback_url` deliveries.

/// A tenant's callback secret (customer `None`: the platform's, for jobs
/// without a tenant).
#[derive(Debug, Clone)]
pub struct CallbackSecret {
    pub customer_id: Option<CustomerId>,
    pub secret: String,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

fn ensure_callback_access(caller: &Caller, customer: Option<CustomerId>) -> Result<()> {
    match customer {
        Some(c) => ensure_manage(caller, c, "customer"),
        None => caller.require_admin(),
    }
}

/// Creates the callback secret of `customer` unless it exists.
pub async fn ensure_callback_secret(
    conn: &mut PgConnection,
    customer: Option<CustomerId>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_callback_secrets (customer_id, secret) VALUES ($1, $2)
         ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(customer)
    .bind(generate_secret())
    .execute(conn)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Unprocessable {
            code: "missing_reference",
            ..
        } => Error::not_found("customer"),
        e => e,
    })?;
    Ok(())
}

/// The callback secret (created on first use).
pub async fn callback_secret(
    db: &PgPool,
    caller: &Caller,
    customer: Option<CustomerId>,
) -> Result<CallbackSecret> {
    ensure_callback_access(caller, customer)?;
    let mut conn = db.acquire().await?;
    ensure_callback_secret(&mut conn, customer).await?;
    let (secret, prev, created_at): (String, Option<DateTime<Utc>>, DateTime<Utc>) =
        sqlx::query_as(
            "SELECT secret, previous_secret_expires_at, created_at FROM webhook_callback_secrets
         WHERE customer_id IS NOT DISTINCT FROM $1",
        )
        .bind(customer)
        .fetch_one(&mut *conn)
        .await?;
    Ok(CallbackSecret {
        customer_id: customer,
        secret,
        previous_secret_expires_at: prev.filter(|t| *t > Utc::now()),
        created_at,
    })
}

/// Replaces the callback secret; the old one keeps signing for [`ROTATION_OVERLAP`].
pub async fn rotate_callback_secret(
    db: &PgPool,
    caller: &Caller,
    customer: Option<CustomerId>,
) -> Result<CallbackSecret> {
    ensure_callback_access(caller, customer)?;
    let mut tx = db.begin().await?;
    ensure_callback_secret(&mut tx, customer).await?;
    let secret = generate_secret();
    let expires = Utc::now() + ROTATION_OVERLAP;
    let created_at: DateTime<Utc> = sqlx::query_scalar(
        "UPDATE webhook_callback_secrets SET previous_secret = secret, previous_secret_expires_at = $2,
             secret = $3, updated_at = now()
         WHERE customer_id IS NOT DISTINCT FROM $1 RETURNING created_at",
    )
    .bind(customer)
    .bind(expires)
    .bind(&secret)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "webhook.callback_secret_rotated",
            target_type: "webhook_callback_secret",
            target_id: customer.map(|c| c.to_string()),
            customer_id: customer,
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CallbackSecret {
        customer_id: customer,
        secret,
        previous_secret_expires_at: Some(expires),
        created_at,
    })
}

// ---------------------------------------------------------------------------
// Delivery logs

/// One HTTP attempt.
#[derive(Debug, Clone, FromRow)]
pub struct AttemptLog {
    pub delivery_id: DeliveryId,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status_code: Option<i16>,
    pub latency_ms: i32,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// A delivery and its attempts.
#[derive(Debug, Clone)]
pub struct DeliveryLog {
    pub id: DeliveryId,
    pub message_id: String,
    pub event_type: String,
    pub endpoint_id: Option<EndpointId>,
    pub callback_url: Option<String>,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attempt_log: Vec<AttemptLog>,
}

#[derive(FromRow)]
struct DeliveryRow {
    id: DeliveryId,
    message_id: String,
    event_type: String,
    endpoint_id: Option<EndpointId>,
    callback_url: Option<String>,
    status: String,
    attempts: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    last_attempt_at: Option<DateTime<Utc>>,
    last_status_code: Option<i16>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const DELIVERY_COLUMNS: &str = "d.id, d.message_id, m.event_type, d.endpoint_id, d.callback_url, d.status, d.attempts,
    d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at";

async fn with_attempts(
    conn: &mut PgConnection,
    rows: Vec<DeliveryRow>,
) -> Result<Vec<DeliveryLog>> {
    let ids: Vec<DeliveryId> = rows.iter().map(|r| r.id).collect();
    let attempts: Vec<AttemptLog> = sqlx::query_as(
        "SELECT delivery_id, attempt, at, status_code, latency_ms, response_body, error
         FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt, id",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    let mut by_delivery: std::collections::HashMap<DeliveryId, Vec<AttemptLog>> =
        std::collections::HashMap::new();
    for a in attempts {
        by_delivery.entry(a.delivery_id).or_default().push(a);
    }
    Ok(rows
        .into_iter()
        .map(|r| DeliveryLog {
            attempt_log: by_delivery.remove(&r.id).unwrap_or_default(),
            id: r.id,
            message_id: r.message_id,
            event_type: r.event_type,
            endpoint_id: r.endpoint_id,
            callback_url: r.callback_url,
            status: WebhookDeliveryStatus::parse(&r.status)
                .unwrap_or(WebhookDeliveryStatus::Failed),
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_attempt_at: r.last_attempt_at,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// Deliveries newest first.
const NEWEST_DELIVERIES: Keyset<(DateTime<Utc>, DeliveryId)> =
    Keyset::descending(&["d.created_at", "d.id"]);

/// An endpoint's deliveries with their attempts, newest first.
pub async fn deliveries(
    db: &PgPool,
    caller: &Caller,
    endpoint: EndpointId,
    status: Option<WebhookDeliveryStatus>,
    page: &PageRequest,
) -> Result<Page<DeliveryLog>> {
    get(db, caller, endpoint).await?;
    let mut conn = db.acquire().await?;
    let mut q = Query::select();
    q.expr(Expr::cust(DELIVERY_COLUMNS))
        .from_as("webhook_deliveries", "d")
        .join_as(
            JoinType::InnerJoin,
            "webhook_messages",
            "m",
            Expr::cust("m.id = d.message_id"),
        )
        .and_where(Expr::cust_with_values("d.endpoint_id = $1", [endpoint.0]));
    if let Some(s) = status {
        q.and_where(Expr::cust_with_values("d.status = $1", [s.as_str()]));
    }
    let rows = NEWEST_DELIVERIES
        .fetch(&mut *conn, q, page, |d: &DeliveryRow| (d.created_at, d.id))
        .await?;
    Ok(Page {
        items: with_attempts(&mut conn, rows.items).await?,
        next_cursor: rows.next_cursor,
    })
}

/// A message: its payload and every delivery (endpoints and callback URL).
#[derive(Debug, Clone)]
pub struct MessageLog {
    pub id: String,
    pub customer_id: Option<CustomerId>,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub deliveries: Vec<DeliveryLog>,
}

/// Checks that the caller may see (or, with `manage`, re-send) a message.
async fn message_owner(
    conn: &mut PgConnection,
    caller: &Caller,
    id: &str,
    manage: bool,
) -> Result<Option<CustomerId>> {
    let owner: Option<Option<CustomerId>> =
        sqlx::query_scalar("SELECT customer_id FROM webhook_messages WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    let owner = owner.ok_or(Error::not_found("webhook message"))?;
    match (owner, manage) {
        (Some(c), true) => ensure_manage(caller, c, "webhook message")?,
        (Some(c), false) => ensure_read(caller, c, "webhook message")?,
        // Messages without a tenant (callbacks of platform jobs) are staff business.
        (None, _) if !caller.is_staff() => return Err(Error::not_found("webhook message")),
        (None, true) => caller.require_admin()?,
        (None, false) => {}
    }
    Ok(owner)
}

pub async fn message(db: &PgPool, caller: &Caller, id: &str) -> Result<MessageLog> {
    let mut conn = db.acquire().await?;
    message_owner(&mut conn, caller, id, false).await?;
    let (customer_id, event_type, payload, created_at): (
        Option<CustomerId>,
        String,
        serde_json::Value,
        DateTime<Utc>,
    ) = sqlx::query_as(
        "SELECT customer_id, event_type, payload, created_at FROM webhook_messages WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<DeliveryRow> = sqlx::query_as(sqlf!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
         WHERE d.message_id = $1 ORDER BY d.created_at, d.id"
    ))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let deliveries = with_attempts(&mut conn, rows).await?;
    Ok(MessageLog {
        id: id.to_string(),
        customer_id,
        event_type,
        payload,
        created_at,
        deliveries,
    })
}

/// Re-sends a message to its targets (see [`super::events::replay`]).
pub async fn replay_message(db: &PgPool, caller: &Caller, id: &str) -> Result<Vec<DeliveryId>> {
    let mut tx = db.begin().await?;
    message_owner(&mut tx, caller, id, true).await?;
    let ids = super::events::replay(&mut tx, id).await?;
    if ids.is_empty() {
        return Err(Error::conflict(
            "no_enabled_target",
            "the message has no enabled endpoint or callback URL to send to",
        ));
    }
    tx.commit().await?;
    Ok(ids)
}

/// Re-sends to `endpoint` every message since `since` whose deliveries failed.
pub async fn recover(
    db: &PgPool,
    caller: &Caller,
    endpoint: EndpointId,
    since: DateTime<Utc>,
) -> Result<Vec<DeliveryId>> {
    if since > Utc::now() {
        return Err(Error::field("/since", "must not be in the future"));
    }
    let ep = manageable(db, caller, endpoint).await?;
    let mut tx = db.begin().await?;
    let ids = super::events::recover(&mut tx, ep.id, since).await?;
    tx.commit().await?;
    Ok(ids)
}

/// Sends a `ping` to an endpoint.
pub async fn test(
    db: &PgPool,
    caller: &Caller,
    endpoint: EndpointId,
) -> Result<(String, DeliveryId)> {
    let ep = manageable(db, caller, endpoint).await?;
    let mut tx = db.begin().await?;
    let out = super::events::ping(&mut tx, ep.customer_id, ep.id).await?;
    tx.commit().await?;
    Ok(out)
}
