//! Webhooks: tenants register endpoints; events are recorded in the
//! transaction of the change that caused them ([`record_event`]), and each
//! (event, target) becomes a delivery sent by a `webhook_deliver` job with
//! Standard Webhooks signatures, retries, replay and an SSRF guard.
//!
//! - [`endpoints`]: endpoint CRUD, secrets and rotation, delivery logs.
//! - [`events`]: event types, payloads, recording, replay and recovery.
//! - [`delivery`]: what the worker loads and records around each attempt.
//! - [`signing`]: the Standard Webhooks signature.
//! - [`ssrf`]: which targets may be reached.

pub mod delivery;
pub mod endpoints;
pub mod events;
pub mod signing;
pub mod ssrf;

pub use events::{WebhookData, WebhookEventType, api_json, record_event, record_event_batch};

crate::uuid_id!(
    /// A webhook endpoint.
    EndpointId
);
crate::uuid_id!(
    /// One message to one target (endpoint or callback URL).
    DeliveryId
);

/// A message id: `msg_` + a ULID. It is the `webhook-id` header of every
/// delivery (and retry, and replay) of the message.
pub fn new_message_id() -> String {
    format!("msg_{}", ulid::Ulid::generate())
}

/// Whether `s` looks like a message id.
pub fn is_message_id(s: &str) -> bool {
    s.strip_prefix("msg_")
        .is_some_and(|u| ulid::Ulid::from_string(u).is_ok() && u.len() == 26)
}

/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// Bytes of the response body kept per attempt.
pub const RESPONSE_BODY_LIMIT: usize = 1024;
