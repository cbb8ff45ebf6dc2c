//! The worker's side of a delivery: what to send (target, body, secrets) and
//! the record of each attempt, in the `webhook_deliveries` outbox and the
//! `webhook_attempts` log. Endpoints that answer `410 Gone`, or fail every
//! attempt for long enough, are disabled here, and the tenant's admins are
//! notified (in-app and by e-mail) in the same transaction.

use crate::text_enum;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};

use super::{DeliveryId, EndpointId, endpoints};
use crate::{
    audit::{self, AuditEntry},
    error::Result,
    ids::CustomerId,
    notifications::{self, Audience, NewNotification, NotificationType},
};

text_enum! {
    /// Where a delivery stands.
    pub enum WebhookDeliveryStatus {
        /// An attempt is due (the first, or a retry at `next_attempt_at`).
        Pending = "pending",
        /// The target answered 2xx.
        Succeeded = "succeeded",
        /// Stopped for good: the target answered 410 Gone, the endpoint is
        /// disabled, or the delivery was cancelled.
        Failed = "failed",
        /// Every attempt failed.
        GaveUp = "gave_up",
    }
}

/// Everything one attempt needs.
#[derive(Debug, Clone, FromRow)]
pub struct Outgoing {
    pub delivery_id: DeliveryId,
    /// The `webhook-id`.
    pub message_id: String,
    pub payload: serde_json::Value,
    pub url: String,
    pub endpoint_id: Option<EndpointId>,
    pub customer_id: Option<CustomerId>,
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    pub secret: Option<String>,
    /// Set while a rotation overlap runs: it signs too.
    pub previous_secret: Option<String>,
    pub endpoint_disabled: bool,
}

impl Outgoing {
    pub fn is_pending(&self) -> bool {
        self.status == WebhookDeliveryStatus::Pending.as_str()
    }

    /// The signing secrets, newest first.
    pub fn secrets(&self) -> Vec<&str> {
        self.secret
            .iter()
            .chain(self.previous_secret.iter())
            .map(String::as_str)
            .collect()
    }
}

async fn fetch(conn: &mut PgConnection, id: DeliveryId) -> Result<Option<Outgoing>> {
    Ok(sqlx::query_as(
        "SELECT d.id AS delivery_id, d.message_id, m.payload, coalesce(e.url, d.callback_url) AS url,
                d.endpoint_id, d.customer_id, d.status, d.attempts,
                coalesce(e.secret, s.secret) AS secret,
                CASE WHEN coalesce(e.previous_secret_expires_at, s.previous_secret_expires_at) > now()
                     THEN coalesce(e.previous_secret, s.previous_secret) END AS previous_secret,
                (e.disabled_at IS NOT NULL) AS endpoint_disabled
         FROM webhook_deliveries d
         JOIN webhook_messages m ON m.id = d.message_id
         LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id
         LEFT JOIN webhook_callback_secrets s
                ON d.endpoint_id IS NULL AND s.customer_id IS NOT DISTINCT FROM d.customer_id
         WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Loads a delivery to send; `None` when it is gone (its endpoint was deleted).
pub async fn load(conn: &mut PgConnection, id: DeliveryId) -> Result<Option<Outgoing>> {
    let Some(out) = fetch(conn, id).await? else {
        return Ok(None);
    };
    if out.secret.is_some() {
        return Ok(Some(out));
    }
    // A callback of a tenant that never had a callback secret: create it.
    endpoints::ensure_callback_secret(conn, out.customer_id).await?;
    fetch(conn, id).await
}

/// What one HTTP attempt gave.
#[derive(Debug, Clone, Default)]
pub struct AttemptResult {
    pub status_code: Option<u16>,
    pub latency_ms: u32,
    /// The first 1 kB of the response body.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// What becomes of the delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum After {
    Succeeded,
    /// Failed; the next attempt runs at this time.
    Retry(DateTime<Utc>),
    /// Failed and no attempt is left.
    GaveUp,
    /// `410 Gone`: stop for good (and disable the endpoint).
    Gone,
}

text_enum! {
    /// Why an endpoint was disabled automatically.
    pub enum DisableReason {
        /// It answered `410 Gone`.
        Gone = "gone",
        /// Every attempt failed for longer than the configured period.
        Failing = "failing",
    }
}

/// Records an attempt (log row, delivery state, the endpoint's failure
/// streak) in the caller's transaction; disables the endpoint on `410 Gone`
/// or when its failures started more than `disable_after` ago, and then
/// records the notification to the tenant's admins.
pub async fn record_attempt(
    conn: &mut PgConnection,
    out: &Outgoing,
    attempt: &AttemptResult,
    after: After,
    disable_after: chrono::Duration,
) -> Result<()> {
    let (status, next) = match after {
        After::Succeeded => ("succeeded", None),
        After::Retry(at) => ("pending", Some(at)),
        After::GaveUp => ("gave_up", None),
        After::Gone => ("failed", None),
    };
    let failing_since: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "WITH a AS (
             INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_ms, response_body, error)
             VALUES ($1, $2, $3, $4, $5, $6)
         ), d AS (
             UPDATE webhook_deliveries SET attempts = $2, status = $7, next_attempt_at = $8, last_attempt_at = now(),
                 last_status_code = $3, last_error = $6, updated_at = now()
             WHERE id = $1
         )
         UPDATE webhook_endpoints SET
             failing_since = CASE WHEN $7 = 'succeeded' THEN NULL ELSE coalesce(failing_since, now()) END
         WHERE id = $9 AND disabled_at IS NULL AND ($7 <> 'succeeded' OR failing_since IS NOT NULL)
         RETURNING failing_since",
    )
    .bind(out.delivery_id)
    .bind(out.attempts + 1)
    .bind(attempt.status_code.map(|c| c as i16))
    .bind(attempt.latency_ms.min(i32::MAX as u32) as i32)
    .bind(attempt.response_body.as_deref())
    .bind(attempt.error.as_deref())
    .bind(status)
    .bind(next)
    .bind(out.endpoint_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(endpoint) = out.endpoint_id else {
        return Ok(());
    };
    let reason = match (after, failing_since.flatten()) {
        (After::Gone, _) => Some((
            DisableReason::Gone,
            "it answered 410 Gone, which asks to stop sending".to_string(),
        )),
        (After::Retry(_) | After::GaveUp, Some(since)) if since <= Utc::now() - disable_after => {
            Some((
                DisableReason::Failing,
                format!(
                    "every delivery attempt to it has failed since {}",
                    since.format("%Y-%m-%d %H:%M UTC")
                ),
            ))
        }
        _ => None,
    };
    if let Some((r, why)) = reason {
        disable(conn, endpoint, r, &why).await?;
    }
    Ok(())
}

/// Closes a delivery that is not sent at all (its endpoint is disabled).
pub async fn fail_unsent(conn: &mut PgConnection, id: DeliveryId, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = $2, updated_at = now()
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Disables an endpoint automatically (unless it already is).
async fn disable(
    conn: &mut PgConnection,
    endpoint: EndpointId,
    reason: DisableReason,
    why: &str,
) -> Result<()> {
    let row: Option<(CustomerId, String, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = $2, updated_at = now()
         WHERE id = $1 AND disabled_at IS NULL RETURNING customer_id, url, disabled_at",
    )
    .bind(endpoint)
    .bind(reason.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some((customer, url, at)) => {
            let d = Disabled {
                customer,
                endpoint,
                url: &url,
                reason,
                why,
                at,
            };
            on_endpoint_disabled(conn, &d).await
        }
        None => Ok(()),
    }
}

/// An endpoint just disabled automatically.
struct Disabled<'a> {
    customer: CustomerId,
    endpoint: EndpointId,
    url: &'a str,
    reason: DisableReason,
    /// Why, in words (for the e-mail).
    why: &'a str,
    at: DateTime<Utc>,
}

/// Everything that follows an automatic disable, in its transaction: the
/// `webhook.endpoint_disabled` audit row and the
/// `webhook_endpoint_disabled` notification to the tenant's admins (its
/// enabled `customer_exec` users; in-app and e-mail, which they cannot
/// turn off).
async fn on_endpoint_disabled(conn: &mut PgConnection, d: &Disabled<'_>) -> Result<()> {
    tracing::warn!(endpoint_id = %d.endpoint, customer_id = %d.customer, reason = d.reason.as_str(), "webhook endpoint disabled");
    audit::record(
        &mut *conn,
        AuditEntry {
            action: "webhook.endpoint_disabled",
            target_type: "webhook_endpoint",
            target_id: Some(d.endpoint.to_string()),
            customer_id: Some(d.customer),
            after: Some(serde_json::json!({"url": d.url, "disabled_reason": d.reason.as_str()})),
            ..Default::default()
        },
    )
    .await?;
    let customer_name: String = sqlx::query_scalar("SELECT name FROM customers WHERE id = $1")
        .bind(d.customer)
        .fetch_one(&mut *conn)
        .await?;
    let n = NewNotification::new(
        Some(d.customer),
        NotificationType::WebhookEndpointDisabled,
        format!("Webhook endpoint disabled: {customer_name}"),
        disabled_body(d),
    )
    .link(format!("/api/v1/webhooks/endpoints/{}", d.endpoint))
    .to(Audience::CustomerExecs, d.customer.0);
    notifications::record(conn, n).await?;
    Ok(())
}

/// What the notice says.
fn disabled_body(d: &Disabled<'_>) -> String {
    let e = d.endpoint;
    format!(
        "Launchpad has disabled the webhook endpoint {url} (endpoint {e}).\n\
         Why: {why}.\n\
         When: {at}.\n\n\
         Nothing is sent to it while it is disabled. Once the receiver works again, enable the \
         endpoint and re-send what it missed:\n\
         POST /api/v1/webhooks/endpoints/{e}/enable\n\
         POST /api/v1/webhooks/endpoints/{e}/recover?since=<RFC 3339 time>",
        url = shown_url(d.url),
        why = d.why,
        at = d.at.format("%Y-%m-%d %H:%M UTC"),
    )
}

/// The URL as the notice shows it: without query or fragment (they may
/// carry tokens).
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let had_query = u.query().is_some();
            u.set_query(None);
            u.set_fragment(None);
            let mut s = u.to_string();
            if had_query {
                s.push_str("?…");
            }
            s
        }
        Err(_) => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_show_urls_without_their_query() {
        assert_eq!(
            shown_url("https://hooks.example.com/in?token=s3cret#x"),
            "https://hooks.example.com/in?…"
        );
        assert_eq!(
            shown_url("https://hooks.example.com/in"),
            "https://hooks.example.com/in"
        );
    }
}
