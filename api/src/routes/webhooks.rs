//! Webhooks: tenant endpoints (CRUD, enable/disable, secret rotation), the
//! delivery log, replay, recovery, test pings, and the callback secret that
//! signs jobs' one-off `callback_url` deliveries.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    Error as DomainError,
    idempotency::StoredResponse,
    ids::CustomerId,
    webhooks::{
        DeliveryId, EndpointId, WebhookEventType,
        delivery::WebhookDeliveryStatus,
        endpoints::{
            self, AttemptLog, CallbackSecret, DeliveryLog, Endpoint, EndpointPatch, MessageLog,
            NewEndpoint,
        },
        is_message_id, ssrf,
    },
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::Example,
};

use crate::types::{Created, NoContent, Page, Tag};
use crate::{
    body::JsonBody,
    idempotency::{self, Begin},
    problem::{ApiError, ApiResult},
    security::BearerAuth,
    state::{AppState, SharedState},
};

crate::list_query! {
    /// The query of `GET /api/v1/webhooks/endpoints`.
    pub struct EndpointsQuery {
        /// Only this customer's endpoints.
        customer_id: Option<CustomerId>,
    }
}

crate::list_query! {
    /// The query of `GET /api/v1/webhooks/endpoints/{id}/deliveries`.
    pub struct DeliveriesQuery {
        /// Only deliveries in this status.
        status: Option<WebhookDeliveryStatus>,
    }
}

pub struct WebhooksApi;

/// Why a host may not be a webhook target: one of its addresses is not
/// public. `None` also when it does not resolve (now).
async fn non_public_resolution(host: &str, port: u16) -> Option<String> {
    let lookup = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        ssrf::resolve_public(&ssrf::SystemResolver, host, port, false),
    )
    .await;
    match lookup {
        Ok(Err(ssrf::ResolveError::Refused(r))) => Some(format!(
            "must not point to a non-public address: {} resolves to {}, which is {}",
            r.host, r.ip, r.why
        )),
        _ => None,
    }
}

/// Resolves a target's host name and refuses it when any address is not
/// public (unless insecure targets are allowed). A name that does not resolve
/// now is accepted: every delivery checks the addresses again as it
/// connects, which is what stops DNS rebinding.
async fn check_resolution(state: &AppState, pointer: &str, url: &str) -> ApiResult<()> {
    if state.settings.webhooks_allow_insecure {
        return Ok(());
    }
    let Some((host, port)) = ssrf::resolvable_host(url) else {
        return Ok(());
    };
    match non_public_resolution(&host, port).await {
        Some(rule) => Err(ApiError::bad_request(pointer, rule)),
        None => Ok(()),
    }
}

/// Checks a webhook target under the SSRF rules (https only unless insecure
/// targets are allowed; no loopback, private, link-local or otherwise
/// non-public address, literal or resolved). Returns the normalised URL.
pub async fn check_target(state: &AppState, pointer: &str, url: &str) -> ApiResult<String> {
    let parsed = endpoints::parse_url(pointer, url, state.settings.webhooks_allow_insecure)?;
    check_resolution(state, pointer, parsed.as_str()).await?;
    Ok(parsed.into())
}

/// A webhook endpoint of a customer.
#[derive(Object, Clone)]
pub struct WebhookEndpointView {
    pub id: EndpointId,
    pub customer_id: CustomerId,
    /// Where deliveries are POSTed.
    pub url: String,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    /// The event types delivered; empty: every type.
    pub event_types: Vec<WebhookEventType>,
    /// Disabled endpoints receive nothing (re-enable, then `recover`).
    pub disabled: bool,
    #[oai(skip_serializing_if_is_none)]
    pub disabled_at: Option<DateTime<Utc>>,
    /// `manual`, `gone` (it answered 410 Gone) or `failing` (every attempt failed for 5 days).
    #[oai(skip_serializing_if_is_none)]
    pub disabled_reason: Option<String>,
    /// Since when every attempt failed (absent after a success).
    #[oai(skip_serializing_if_is_none)]
    pub failing_since: Option<DateTime<Utc>>,
    /// During a secret rotation: until when the previous secret still signs
    /// (deliveries carry both signatures).
    #[oai(skip_serializing_if_is_none)]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The signing secret (`whsec_` + base64), only in the answers of create
    /// and rotate-secret: store it, it is not shown again.
    #[oai(skip_serializing_if_is_none)]
    pub secret: Option<String>,
}

impl WebhookEndpointView {
    fn of(e: Endpoint, secret: Option<String>) -> Self {
        Self {
            id: e.id,
            customer_id: e.customer_id,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            disabled: e.disabled_at.is_some(),
            disabled_at: e.disabled_at,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            previous_secret_expires_at: e.previous_secret_expires_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
            secret,
        }
    }
}

impl From<Endpoint> for WebhookEndpointView {
    fn from(e: Endpoint) -> Self {
        Self::of(e, None)
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateWebhookEndpoint {
    pub customer_id: CustomerId,
    /// An https URL (plain http only where insecure targets are allowed) that
    /// does not point to a loopback, private, link-local or otherwise
    /// non-public address.
    #[oai(validator(max_length = 2048))]
    pub url: String,
    #[oai(validator(max_length = 500))]
    pub description: Option<String>,
    /// The event types to deliver; absent or empty: every type.
    #[serde(default)]
    #[oai(default)]
    pub event_types: Vec<WebhookEventType>,
}

impl Example for CreateWebhookEndpoint {
    fn example() -> Self {
        Self {
            customer_id: CustomerId(uuid::Uuid::from_u128(
                0x0193_5c1e_7d2a_7b11_8a3e_4f5a_6b7c_8d9e,
            )),
            url: "https://hooks.acme.example/launchpad".into(),
            description: Some("Ops channel relay".into()),
            event_types: vec![
                WebhookEventType::EventCreated,
                WebhookEventType::EventUpdated,
                WebhookEventType::SurveyClosed,
            ],
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateWebhookEndpoint {
    /// A new target URL (same rules as at creation).
    #[oai(validator(max_length = 2048))]
    pub url: Option<String>,
    /// A new description; an empty string removes it.
    #[oai(validator(max_length = 500))]
    pub description: Option<String>,
    /// A new filter; empty: every type.
    pub event_types: Option<Vec<WebhookEventType>>,
}

impl Example for UpdateWebhookEndpoint {
    fn example() -> Self {
        Self {
            url: None,
            description: Some("Ops channel relay (all events)".into()),
            event_types: Some(vec![]),
        }
    }
}

/// One HTTP attempt of a delivery.
#[derive(Object)]
pub struct WebhookAttemptView {
    /// 1 for the first try.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The HTTP status of the answer (absent when none came: timeout, refused, connection error).
    #[oai(skip_serializing_if_is_none)]
    pub status_code: Option<i16>,
    pub latency_ms: i32,
    /// The first 1 kB of the answer's body.
    #[oai(skip_serializing_if_is_none)]
    pub response_body: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

impl From<AttemptLog> for WebhookAttemptView {
    fn from(a: AttemptLog) -> Self {
        Self {
            attempt: a.attempt,
            at: a.at,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            response_body: a.response_body,
            error: a.error,
        }
    }
}

/// One message to one target, with its attempts.
#[derive(Object)]
pub struct WebhookDeliveryView {
    pub id: DeliveryId,
    /// The message, also the `webhook-id` header.
    pub message_id: String,
    /// The message's event type (`job.succeeded`, `ping`, ...).
    pub event_type: String,
    #[oai(skip_serializing_if_is_none)]
    pub endpoint_id: Option<EndpointId>,
    /// Set for the one-off callback of a job.
    #[oai(skip_serializing_if_is_none)]
    pub callback_url: Option<String>,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    #[oai(skip_serializing_if_is_none)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub last_status_code: Option<i16>,
    #[oai(skip_serializing_if_is_none)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every attempt, first to last.
    pub attempt_log: Vec<WebhookAttemptView>,
}

impl From<DeliveryLog> for WebhookDeliveryView {
    fn from(d: DeliveryLog) -> Self {
        Self {
            id: d.id,
            message_id: d.message_id,
            event_type: d.event_type,
            endpoint_id: d.endpoint_id,
            callback_url: d.callback_url,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempt_log: d.attempt_log.into_iter().map(Into::into).collect(),
        }
    }
}

/// A message (one event) and its deliveries.
#[derive(Object)]
pub struct WebhookMessageView {
    /// `msg_` + ULID; the `webhook-id` of every delivery of this message.
    pub id: String,
    #[oai(skip_serializing_if_is_none)]
    pub customer_id: Option<CustomerId>,
    pub event_type: String,
    /// The body sent: `{"type", "timestamp", "data"}`.
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub deliveries: Vec<WebhookDeliveryView>,
}

impl From<MessageLog> for WebhookMessageView {
    fn from(m: MessageLog) -> Self {
        Self {
            id: m.id,
            customer_id: m.customer_id,
            event_type: m.event_type,
            payload: m.payload,
            created_at: m.created_at,
            deliveries: m.deliveries.into_iter().map(Into::into).collect(),
        }
    }
}

/// Deliveries created by a test, replay or recovery; each is sent by its own job.
#[derive(Object)]
pub struct WebhookDeliveriesQueued {
    #[oai(skip_serializing_if_is_none)]
    pub message_id: Option<String>,
    pub delivery_ids: Vec<DeliveryId>,
}

#[derive(ApiResponse)]
pub enum DeliveriesAccepted {
    /// Queued: follow the deliveries in the endpoint's delivery log.
    #[oai(status = 202)]
    Accepted(Json<WebhookDeliveriesQueued>),
}

/// The secret that signs a customer's one-off `callback_url` deliveries.
#[derive(Object)]
pub struct WebhookCallbackSecretView {
    /// Absent: the platform's secret, for jobs without a customer.
    #[oai(skip_serializing_if_is_none)]
    pub customer_id: Option<CustomerId>,
    /// `whsec_` + base64.
    pub secret: String,
    /// During a rotation: until when the previous secret still signs.
    #[oai(skip_serializing_if_is_none)]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<CallbackSecret> for WebhookCallbackSecretView {
    fn from(s: CallbackSecret) -> Self {
        Self {
            customer_id: s.customer_id,
            secret: s.secret,
            previous_secret_expires_at: s.previous_secret_expires_at,
            created_at: s.created_at,
        }
    }
}

const ENDPOINTS_PATH: &str = "/api/v1/webhooks/endpoints";

fn message_id(id: &str) -> ApiResult<&str> {
    if is_message_id(id) {
        Ok(id)
    } else {
        Err(DomainError::not_found("webhook message").into())
    }
}

#[OpenApi(tag = "Tag::Webhooks")]
impl WebhooksApi {
    /// Registers a webhook endpoint for a customer (admin, or customer_exec
    /// of the customer). The answer carries the signing secret, shown once.
    #[oai(
        path = "/api/v1/webhooks/endpoints",
        method = "post",
        operation_id = "webhooks_endpoints_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        /// Makes the request safe to retry: the same key and body return the first answer.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: JsonBody<CreateWebhookEndpoint>,
    ) -> ApiResult<Created<WebhookEndpointView>> {
        let b = &body.value;
        let input = NewEndpoint::parse(
            b.customer_id,
            &b.url,
            b.description.as_deref(),
            b.event_types.clone(),
            state.settings.webhooks_allow_insecure,
        )?;
        check_resolution(&state, "/url", &input.url).await?;
        let guard = idempotency::begin(
            &state.db,
            &auth.0,
            Some(b.customer_id.to_string()),
            idempotency_key.0.as_deref(),
            "POST",
            ENDPOINTS_PATH,
            &body.raw,
        )
        .await?;
        let mut guard = match guard {
            Begin::Replay(r) => {
                let view = poem_openapi::types::ParseFromJSON::parse_from_json(Some(r.body))
                    .map_err(|e| {
                        DomainError::Internal(anyhow::anyhow!(
                            "stored idempotent response: {}",
                            e.into_message()
                        ))
                    })?;
                return Ok(Created::Created(Json(view)));
            }
            Begin::Fresh(g) => g,
        };
        let mut tx = state.db.begin().await.map_err(DomainError::from)?;
        let (ep, secret) = endpoints::create(&mut tx, &auth.0, input).await?;
        let view = WebhookEndpointView::of(ep, Some(secret));
        guard
            .complete(&mut tx, || StoredResponse {
                status: 201,
                body: poem_openapi::types::ToJSON::to_json(&view).unwrap_or_default(),
                location: Some(format!("{ENDPOINTS_PATH}/{}", view.id)),
            })
            .await?;
        tx.commit().await.map_err(DomainError::from)?;
        guard.committed();
        Ok(Created::Created(Json(view)))
    }

    /// Lists the endpoints the caller may see, newest first.
    #[oai(
        path = "/api/v1/webhooks/endpoints",
        method = "get",
        operation_id = "webhooks_endpoints_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: EndpointsQuery,
    ) -> ApiResult<Json<Page<WebhookEndpointView>>> {
        let page = endpoints::list(&state.db, &auth.0, query.customer_id, &query.page).await?;
        Ok(Json(Page::from_domain(page, WebhookEndpointView::from)))
    }

    /// Gets an endpoint (without its secret).
    #[oai(
        path = "/api/v1/webhooks/endpoints/:id",
        method = "get",
        operation_id = "webhooks_endpoints_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<EndpointId>,
    ) -> ApiResult<Json<WebhookEndpointView>> {
        Ok(Json(endpoints::get(&state.db, &auth.0, id.0).await?.into()))
    }

    /// Changes an endpoint's URL, description or event-type filter.
    #[oai(
        path = "/api/v1/webhooks/endpoints/:id",
        method = "patch",
        operation_id = "webhooks_endpoints_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<EndpointId>,
        body: JsonBody<UpdateWebhookEndpoint>,
    ) -> ApiResult<Json<WebhookEndpointView>> {
        let b = body.value;
        let patch = EndpointPatch::parse(
            b.url.as_deref(),
            b.description.as_deref(),
            b.event_types,
            state.settings.webhooks_allow_insecure,
        )?;
        if let Some(url) = &patch.url {
            check_resolution(&state, "/url", url).await?;
        }
        let mut tx = state.db.begin().await.map_err(DomainError::from)?;
        let ep = endpoints::update(&mut tx, &auth.0, id.0, patch).await?;
        tx.commit().await.map_err(DomainError::from)?;
        Ok(Json(ep.into()))
    }

    /// Deletes an endpoint with its delivery log; pending deliveries are dropped.
    #[oai(
        path = "/api/v1/webhooks/endpoints/:id",
        method = "delete",
        operation_id = "webhooks_endpoints_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<EndpointId>,
    ) -> ApiResult<NoContent> {
        endpoints::delete(&state.db, &auth.0, id.0).await?;
        Ok(NoContent::Done)
    }

    /// Disables an endpoint: nothing is delivered to it until it is enabled.
    #[oai(
        path = "/api/v1/webhooks/endpoints/:id/disable",
        method = "post",
        operation_id = "webhooks_endpoints_disable"
    )]
    async fn disable(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<EndpointId>,
    ) -> ApiResult<Json<WebhookEndpointView>> {
        Ok(Json(
            endpoints::set_enabled(&state.db, &auth.0, id.0, false)
                .await?
                .into(),
        ))
    }

    /// Enables an endpoint again (also one disabled automatically); messages
    /// it missed can be re-sent with `recover`.
    #[oai(
        path = "/api/v1/webhooks/endpoints/:id/enable",
        method = "post",
        operation_id = "webhooks_endpoints_enable"
    )]
    async fn enable(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<EndpointId>,
    ) -> ApiResult<Json<WebhookEndpointView>> {
        Ok(Json(
            endpoints::set_enabled(&state.db, &auth.0, id.0, true)
                .await?
                .into(),
        ))
    }

    /// Issues a new signing secret (in the answer, shown once). The previous
    /// secret keeps signing for 24 hours: deliveries meanwhile carry both
    /// signatures, so receivers can switch without losing a message.
    #[oai(
        path = "/api/v1/webhooks/endpoints/:id/rotate-secret",
        method = "post",
        operation_id = "webhooks_endpoints_rotate_secret"
    )]
    async fn rotate_secret(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<EndpointId>,
    ) -> ApiResult<Json<WebhookEndpointView>> {
        let (ep, secret) = endpoints::rotate_secret(&state.db, &auth.0, id.0).await?;
        Ok(Json(WebhookEndpointView::of(ep, Some(secret))))
    }

    /// The endpoint's deliveries, newest first, each with its attempt log
    /// (status code, latency, first 1 kB of the answer, error).
    #[oai(
        path = "/api/v1/webhooks/endpoints/:id/deliveries",
        method = "get",
        operation_id = "webhooks_endpoints_deliveries"
    )]
    async fn deliveries(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<EndpointId>,
        query: DeliveriesQuery,
    ) -> ApiResult<Json<Page<WebhookDeliveryView>>> {
        let page =
            endpoints::deliveries(&state.db, &auth.0, id.0, query.status, &query.page).await?;
        Ok(Json(Page::from_domain(page, WebhookDeliveryView::from)))
    }

    /// Re-sends to this endpoint every message since `since` whose
    /// deliveries to it failed (e.g. after it was down or disabled).
    #[oai(
        path = "/api/v1/webhooks/endpoints/:id/recover",
        method = "post",
        operation_id = "webhooks_endpoints_recover"
    )]
    async fn recover(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<EndpointId>,
        /// Messages created at or after this time (RFC 3339).
        since: Query<String>,
    ) -> ApiResult<DeliveriesAccepted> {
        let since = DateTime::parse_from_rfc3339(&since.0)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::bad_request(
                    "/since",
                    "must be an RFC 3339 date-time, e.g. 2026-01-31T00:00:00Z",
                )
            })?;
        let ids = endpoints::recover(&state.db, &auth.0, id.0, since).await?;
        Ok(DeliveriesAccepted::Accepted(Json(
            WebhookDeliveriesQueued {
                message_id: None,
                delivery_ids: ids,
            },
        )))
    }

    /// Sends a `ping` event to the endpoint (whatever its filter).
    #[oai(
        path = "/api/v1/webhooks/endpoints/:id/test",
        method = "post",
        operation_id = "webhooks_endpoints_test"
    )]
    async fn test(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<EndpointId>,
    ) -> ApiResult<DeliveriesAccepted> {
        let (message_id, delivery) = endpoints::test(&state.db, &auth.0, id.0).await?;
        Ok(DeliveriesAccepted::Accepted(Json(
            WebhookDeliveriesQueued {
                message_id: Some(message_id),
                delivery_ids: vec![delivery],
            },
        )))
    }

    /// Gets a message: its payload and every delivery with its attempts.
    #[oai(
        path = "/api/v1/webhooks/messages/:id",
        method = "get",
        operation_id = "webhooks_messages_get"
    )]
    async fn message(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Json<WebhookMessageView>> {
        let id = message_id(&id.0)?;
        Ok(Json(
            endpoints::message(&state.db, &auth.0, id).await?.into(),
        ))
    }

    /// Re-sends a message, with the same `webhook-id`, to every target it
    /// had that is still enabled.
    #[oai(
        path = "/api/v1/webhooks/messages/:id/replay",
        method = "post",
        operation_id = "webhooks_messages_replay"
    )]
    async fn replay(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<DeliveriesAccepted> {
        let id = message_id(&id.0)?;
        let ids = endpoints::replay_message(&state.db, &auth.0, id).await?;
        Ok(DeliveriesAccepted::Accepted(Json(
            WebhookDeliveriesQueued {
                message_id: Some(id.to_string()),
                delivery_ids: ids,
            },
        )))
    }

    /// The secret that signs a customer's one-off `callback_url` deliveries
    /// (created on first use). Without `customer_id`: the platform's, for
    /// jobs without a customer (admin only).
    #[oai(
        path = "/api/v1/webhooks/callback-secret",
        method = "get",
        operation_id = "webhooks_callback_secret_get"
    )]
    async fn callback_secret(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        /// The customer whose secret to show.
        customer_id: Query<Option<CustomerId>>,
    ) -> ApiResult<Json<WebhookCallbackSecretView>> {
        Ok(Json(
            endpoints::callback_secret(&state.db, &auth.0, customer_id.0)
                .await?
                .into(),
        ))
    }

    /// Replaces the callback secret; the previous one keeps signing for 24 hours.
    #[oai(
        path = "/api/v1/webhooks/callback-secret/rotate",
        method = "post",
        operation_id = "webhooks_callback_secret_rotate"
    )]
    async fn rotate_callback_secret(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        /// The customer whose secret to rotate.
        customer_id: Query<Option<CustomerId>>,
    ) -> ApiResult<Json<WebhookCallbackSecretView>> {
        Ok(Json(
            endpoints::rotate_callback_secret(&state.db, &auth.0, customer_id.0)
                .await?
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_resolving_to_non_public_addresses_are_refused() {
        let rule = non_public_resolution("localhost", 443)
            .await
            .expect("localhost is refused");
        assert!(
            rule.contains("localhost resolves to") && rule.contains("loopback"),
            "{rule}"
        );
        assert_eq!(non_public_resolution("name.invalid", 443).await, None);
    }
}
