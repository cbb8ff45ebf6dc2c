//! Event types and recording. [`record_event`] is the one call every module
//! uses: in the caller's transaction it stores the message, one delivery per
//! matching enabled endpoint of the tenant, and one `webhook_deliver` job per
//! delivery. Jobs emit `job.*` events through [`record_job_events`] when they
//! reach a terminal state.

use crate::text_enum;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::{DeliveryId, EndpointId, new_message_id};
use crate::{
    error::Result,
    ids::CustomerId,
    jobs::{
        EnqueueCtx, JobKind, JobRecord, JobStatus, NewJob, enqueue_bulk, hooks::OnJobEnd,
        view::JobView,
    },
    kinds::{WebhookDeliver, WebhookDeliverPayload},
};

text_enum! {
    /// Every event a webhook can carry.
    pub enum WebhookEventType {
        /// Sent by `POST /webhooks/endpoints/{id}/test` only.
        Ping = "ping",
        JobSucceeded = "job.succeeded",
        JobFailed = "job.failed",
        JobCancelled = "job.cancelled",
        EventCreated = "event.created",
        EventUpdated = "event.updated",
        EventCancelled = "event.cancelled",
        RegistrationCreated = "registration.created",
        SurveyClosed = "survey.closed",
        CourseCompleted = "course.completed",
        CertificateIssued = "certificate.issued",
        /// A certificate was revoked (`data` is the certificate).
        CertificateRevoked = "certificate.revoked",
        KpiRollupCompleted = "kpi.rollup.completed",
        FileReady = "file.ready",
        FileRejected = "file.rejected",
        /// A coaching session was scheduled or moved (`data` is the session
        /// without its notes and scores).
        CoachingSessionScheduled = "coaching.session.scheduled",
        CoachingSessionCompleted = "coaching.session.completed",
        CoachingSessionCancelled = "coaching.session.cancelled",
        /// A newsletter finished sending (`data`: the newsletter and its
        /// numbers).
        NewsletterSent = "newsletter.sent",
    }
}

impl WebhookEventType {
    /// The terminal event of a job in `status` (none for unfinished jobs).
    pub fn of_job(status: JobStatus) -> Option<Self> {
        match status {
            JobStatus::Succeeded => Some(WebhookEventType::JobSucceeded),
            JobStatus::Failed => Some(WebhookEventType::JobFailed),
            JobStatus::Cancelled => Some(WebhookEventType::JobCancelled),
            JobStatus::Queued | JobStatus::Running => None,
        }
    }
}

/// A payload (`{"type", "timestamp", "data"}`) must stay under this many
/// bytes; larger `data` is replaced by a reference `{"id", "url"}`.
pub const PAYLOAD_LIMIT: usize = 20_000;

/// What an event is about: its `data` as the API shows the resource, and the
/// resource's id and API path (sent instead of `data` when that is too large).
#[derive(Debug, Clone)]
pub struct WebhookData {
    pub data: Value,
    pub id: String,
    pub url: String,
    /// More fields of the reference (beyond `id` and `url`), for resources
    /// that one id does not name (e.g. a registration: event and person).
    pub reference_fields: serde_json::Map<String, Value>,
}

impl WebhookData {
    /// `url` is the resource's API path, e.g. `/api/v1/jobs/{id}`.
    pub fn new(data: Value, id: impl ToString, url: impl Into<String>) -> Self {
        Self {
            data,
            id: id.to_string(),
            url: url.into(),
            reference_fields: serde_json::Map::new(),
        }
    }

    /// `data` is `view` exactly as the API answers it (a poem-openapi object).
    pub fn of_view<T: poem_openapi::types::ToJSON>(
        view: &T,
        id: impl ToString,
        url: impl Into<String>,
    ) -> Self {
        Self::new(api_json(view), id, url)
    }

    /// Adds a field to the reference sent instead of a too large `data`.
    pub fn with_reference_field(mut self, name: &str, value: impl serde::Serialize) -> Self {
        self.reference_fields.insert(
            name.to_string(),
            serde_json::to_value(value).unwrap_or_default(),
        );
        self
    }
}

/// The JSON the API answers for `view` (a poem-openapi object): the `data`
/// of an event is the resource exactly as the API shows it.
pub fn api_json<T: poem_openapi::types::ToJSON>(view: &T) -> Value {
    view.to_json().unwrap_or_default()
}

/// The body sent for an event: `{"type", "timestamp", "data"}`, under
/// [`PAYLOAD_LIMIT`] bytes (otherwise `data` is `{"id", "url"}`).
pub fn payload(event_type: WebhookEventType, at: DateTime<Utc>, data: WebhookData) -> Value {
    let timestamp = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let full = json!({"type": event_type.as_str(), "timestamp": timestamp, "data": data.data});
    let size = serde_json::to_vec(&full)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size < PAYLOAD_LIMIT {
        return full;
    }
    let mut reference = data.reference_fields;
    reference.insert("id".into(), Value::String(data.id));
    reference.insert("url".into(), Value::String(data.url));
    json!({
        "type": event_type.as_str(),
        "timestamp": timestamp,
        "data": reference,
    })
}

/// One event to record.
struct NewEvent {
    customer_id: Option<CustomerId>,
    event_type: WebhookEventType,
    payload: Value,
    /// A job's one-off callback URL, which receives the event too.
    callback_url: Option<String>,
}

/// Records an event of `customer` in the caller's transaction: the message,
/// one delivery per enabled endpoint of the tenant whose filter matches, and
/// their `webhook_deliver` jobs (committed or rolled back with the caller's
/// change). Returns the message id (the `webhook-id`), or `None` when no
/// endpoint wants the event (nothing is stored then).
pub async fn record_event(
    conn: &mut PgConnection,
    customer: CustomerId,
    event_type: WebhookEventType,
    data: WebhookData,
) -> Result<Option<String>> {
    let ev = NewEvent {
        customer_id: Some(customer),
        event_type,
        payload: payload(event_type, Utc::now(), data),
        callback_url: None,
    };
    Ok(record_events(conn, vec![ev]).await?.pop().flatten())
}

/// [`record_event`] for many events at once (one statement for the
/// messages and deliveries, one enqueue for their jobs), in the caller's
/// transaction. Returns the message id of each event (`None`: no target).
pub async fn record_event_batch(
    conn: &mut PgConnection,
    events: Vec<(CustomerId, WebhookEventType, WebhookData)>,
) -> Result<Vec<Option<String>>> {
    let at = Utc::now();
    let events = events
        .into_iter()
        .map(|(customer, event_type, data)| NewEvent {
            customer_id: Some(customer),
            event_type,
            payload: payload(event_type, at, data),
            callback_url: None,
        })
        .collect();
    record_events(conn, events).await
}

/// Records many events with one statement for the messages and deliveries
/// and one enqueue for all their jobs. Returns the message id of each event
/// (`None` when it had no target).
async fn record_events(
    conn: &mut PgConnection,
    events: Vec<NewEvent>,
) -> Result<Vec<Option<String>>> {
    if events.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<String> = events.iter().map(|_| new_message_id()).collect();
    let customers: Vec<Option<uuid::Uuid>> =
        events.iter().map(|e| e.customer_id.map(|c| c.0)).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let payloads: Vec<&Value> = events.iter().map(|e| &e.payload).collect();
    let callbacks: Vec<Option<&str>> = events.iter().map(|e| e.callback_url.as_deref()).collect();
    let rows: Vec<(DeliveryId, String)> = sqlx::query_as(
        "WITH ev AS (
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[])
                 AS ev(id, customer_id, event_type, payload, callback_url)
         ), targets AS (
             SELECT ev.id AS message_id, e.id AS endpoint_id, NULL::text AS callback_url, ev.customer_id
             FROM ev JOIN webhook_endpoints e
               ON e.customer_id = ev.customer_id AND e.disabled_at IS NULL
              AND (cardinality(e.event_types) = 0 OR ev.event_type = ANY (e.event_types))
             UNION ALL
             SELECT ev.id, NULL, ev.callback_url, ev.customer_id FROM ev WHERE ev.callback_url IS NOT NULL
         ), messages AS (
             INSERT INTO webhook_messages (id, customer_id, event_type, payload)
             SELECT id, customer_id, event_type, payload FROM ev WHERE id IN (SELECT message_id FROM targets)
         )
         INSERT INTO webhook_deliveries (id, message_id, endpoint_id, callback_url, customer_id)
         SELECT gen_random_uuid(), message_id, endpoint_id, callback_url, customer_id FROM targets
         RETURNING id, message_id",
    )
    .bind(&ids)
    .bind(&customers)
    .bind(&types)
    .bind(&payloads)
    .bind(&callbacks)
    .fetch_all(&mut *conn)
    .await?;
    let with_targets: std::collections::HashSet<&str> =
        rows.iter().map(|(_, m)| m.as_str()).collect();
    let out = ids
        .iter()
        .map(|id| with_targets.contains(id.as_str()).then(|| id.clone()))
        .collect();
    let deliveries: Vec<DeliveryId> = rows.into_iter().map(|(d, _)| d).collect();
    enqueue_deliveries(conn, &deliveries).await?;
    Ok(out)
}

/// Enqueues one `webhook_deliver` job per delivery (one statement per table).
pub async fn enqueue_deliveries(conn: &mut PgConnection, deliveries: &[DeliveryId]) -> Result<()> {
    let jobs: Vec<NewJob> = deliveries
        .iter()
        .map(|&delivery_id| {
            NewJob::of::<WebhookDeliver>(
                &WebhookDeliverPayload { delivery_id },
                &EnqueueCtx::default(),
            )
        })
        .collect();
    enqueue_bulk(conn, jobs).await
}

/// How the job core tells the webhooks of jobs that ended: their `job.*`
/// events and one-off callbacks ([`record_job_events`]), for the jobs
/// [`JOB_EVENT_FILTER`] selects.
pub struct JobEvents;

impl OnJobEnd for JobEvents {
    fn filter(&self) -> &'static str {
        JOB_EVENT_FILTER.as_str()
    }

    fn ended<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        jobs: &'a [JobRecord],
    ) -> futures::future::BoxFuture<'a, Result<()>> {
        Box::pin(record_job_events(conn, jobs))
    }
}

/// The `job.*` events of jobs that just reached a terminal state, in the
/// transaction that wrote that state: to the matching endpoints of the job's
/// tenant and to its one-off `callback_url`. Kinds declared without job
/// events ([`crate::jobs::JobKind::JOB_EVENTS`]) emit none; when a
/// `webhook_deliver` job ends without delivering, its delivery is closed
/// instead (`gave_up`, or `failed` when cancelled).
pub async fn record_job_events(conn: &mut PgConnection, jobs: &[JobRecord]) -> Result<()> {
    let mut closed_ids = vec![];
    let mut closed_statuses = vec![];
    let mut events = vec![];
    for job in jobs {
        let Some(event_type) = WebhookEventType::of_job(job.status) else {
            continue;
        };
        if job.kind == WebhookDeliver::NAME {
            if job.status != JobStatus::Succeeded
                && let Ok(p) = serde_json::from_value::<WebhookDeliverPayload>(job.payload.clone())
            {
                closed_ids.push(p.delivery_id);
                closed_statuses.push(if job.status == JobStatus::Cancelled {
                    "failed"
                } else {
                    "gave_up"
                });
            }
            continue;
        }
        if !crate::kinds::find(&job.kind).is_none_or(|k| k.job_events) {
            continue;
        }
        if job.customer_id.is_none() && job.callback_url.is_none() {
            continue;
        }
        let at = job.finished_at.unwrap_or_else(Utc::now);
        let data = WebhookData::new(
            JobView::from(job.clone()).to_json(),
            job.id,
            format!("/api/v1/jobs/{}", job.id),
        );
        events.push(NewEvent {
            customer_id: job.customer_id,
            event_type,
            payload: payload(event_type, at, data),
            callback_url: job.callback_url.clone(),
        });
    }
    if !closed_ids.is_empty() {
        sqlx::query(
            "UPDATE webhook_deliveries d SET status = u.status, next_attempt_at = NULL, updated_at = now()
             FROM unnest($1::uuid[], $2::text[]) AS u(id, status)
             WHERE d.id = u.id AND d.status = 'pending'",
        )
        .bind(&closed_ids)
        .bind(&closed_statuses)
        .execute(&mut *conn)
        .await?;
    }
    record_events(conn, events).await?;
    Ok(())
}

/// SQL predicate over a `jobs` row `j` (already in its new state): whether
/// [`record_job_events`] has anything to do for it. Lets batch writers
/// return only those rows.
pub static JOB_EVENT_FILTER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let quiet: Vec<String> = crate::kinds::without_job_events()
        .filter(|k| *k != WebhookDeliver::NAME)
        .map(|k| format!("'{k}'"))
        .collect();
    let quiet = if quiet.is_empty() {
        String::new()
    } else {
        format!(" AND j.kind NOT IN ({})", quiet.join(", "))
    };
    format!(
        "(j.status IN ('succeeded', 'failed', 'cancelled') AND (
        (j.kind = '{deliver}' AND j.status <> 'succeeded')
     OR (j.kind <> '{deliver}'{quiet} AND (j.callback_url IS NOT NULL OR EXISTS (
            SELECT 1 FROM webhook_endpoints e
            WHERE e.customer_id = j.customer_id AND e.disabled_at IS NULL
              AND (cardinality(e.event_types) = 0 OR ('job.' || j.status) = ANY (e.event_types)))))))",
        deliver = WebhookDeliver::NAME
    )
});

/// Sends a `ping` to one endpoint (whatever its filter). Returns the message
/// id and the delivery.
pub async fn ping(
    conn: &mut PgConnection,
    customer: CustomerId,
    endpoint: EndpointId,
) -> Result<(String, DeliveryId)> {
    let id = new_message_id();
    let data = WebhookData::new(
        json!({"endpoint_id": endpoint, "message": "a test event from Launchpad"}),
        endpoint,
        format!("/api/v1/webhooks/endpoints/{endpoint}"),
    );
    let body = payload(WebhookEventType::Ping, Utc::now(), data);
    let delivery = DeliveryId::new();
    sqlx::query(
        "WITH m AS (INSERT INTO webhook_messages (id, customer_id, event_type, payload)
                    VALUES ($1, $2, 'ping', $3) RETURNING id)
         INSERT INTO webhook_deliveries (id, message_id, endpoint_id, customer_id)
         SELECT $4, m.id, $5, $2 FROM m",
    )
    .bind(&id)
    .bind(customer)
    .bind(&body)
    .bind(delivery)
    .bind(endpoint)
    .execute(&mut *conn)
    .await?;
    enqueue_deliveries(conn, &[delivery]).await?;
    Ok((id, delivery))
}

/// Sends a message again to every target it had (endpoints still enabled,
/// and a callback URL): one new delivery each, with the same `webhook-id`.
pub async fn replay(conn: &mut PgConnection, message_id: &str) -> Result<Vec<DeliveryId>> {
    let ids: Vec<DeliveryId> = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (id, message_id, endpoint_id, callback_url, customer_id)
         SELECT gen_random_uuid(), t.message_id, t.endpoint_id, t.callback_url, t.customer_id FROM (
             SELECT DISTINCT d.message_id, d.endpoint_id, d.callback_url, d.customer_id
             FROM webhook_deliveries d LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.message_id = $1 AND (d.endpoint_id IS NULL OR e.disabled_at IS NULL)
         ) t
         RETURNING id",
    )
    .bind(message_id)
    .fetch_all(&mut *conn)
    .await?;
    enqueue_deliveries(conn, &ids).await?;
    Ok(ids)
}

/// Sends again, to `endpoint`, every message created since `since` whose
/// deliveries to it all failed (none succeeded or pending).
pub async fn recover(
    conn: &mut PgConnection,
    endpoint: EndpointId,
    since: DateTime<Utc>,
) -> Result<Vec<DeliveryId>> {
    let ids: Vec<DeliveryId> = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (id, message_id, endpoint_id, customer_id)
         SELECT gen_random_uuid(), f.message_id, $1, f.customer_id FROM (
             SELECT d.message_id, d.customer_id
             FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
             WHERE d.endpoint_id = $1 AND m.created_at >= $2
             GROUP BY d.message_id, d.customer_id
             HAVING bool_and(d.status IN ('failed', 'gave_up'))
         ) f
         RETURNING id",
    )
    .bind(endpoint)
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    enqueue_deliveries(conn, &ids).await?;
    Ok(ids)
}

/// Deletes (a slice of at most 10,000) messages created before `older_than`
/// with no pending delivery, with their deliveries and attempts. Returns how
/// many were deleted.
pub async fn prune(db: &sqlx::PgPool, older_than: DateTime<Utc>) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM webhook_messages WHERE id IN (
             SELECT m.id FROM webhook_messages m
             WHERE m.created_at < $1
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id AND d.status = 'pending')
             LIMIT 10000)",
    )
    .bind(older_than)
    .execute(db)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_through_names_and_serde() {
        for t in WebhookEventType::ALL {
            assert_eq!(WebhookEventType::parse(t.as_str()), Some(*t));
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        }
        assert_eq!(WebhookEventType::parse("job.exploded"), None);
        assert!(serde_json::from_value::<WebhookEventType>(json!("nope")).is_err());
    }

    #[test]
    fn the_job_event_filter_names_the_delivery_kind_and_the_quiet_kinds() {
        assert!(JOB_EVENT_FILTER.contains(&format!("'{}'", WebhookDeliver::NAME)));
        for quiet in [
            crate::kinds::Notify::NAME,
            crate::kinds::NewsletterProgress::NAME,
        ] {
            assert!(JOB_EVENT_FILTER.contains(&format!("'{quiet}'")), "{quiet}");
        }
        assert!(JOB_EVENT_FILTER.contains("NOT IN ('notify', "));
    }

    #[test]
    fn large_data_is_sent_by_reference() {
        let at = Utc::now();
        let small = payload(
            WebhookEventType::SurveyClosed,
            at,
            WebhookData::new(json!({"id": "s1"}), "s1", "/api/v1/surveys/s1"),
        );
        assert_eq!(small["type"], "survey.closed");
        assert_eq!(small["data"], json!({"id": "s1"}));
        assert!(small["timestamp"].as_str().unwrap().ends_with('Z'));
        let big = json!({"id": "s2", "text": "x".repeat(PAYLOAD_LIMIT)});
        let p = payload(
            WebhookEventType::SurveyClosed,
            at,
            WebhookData::new(big, "s2", "/api/v1/surveys/s2"),
        );
        assert_eq!(p["data"], json!({"id": "s2", "url": "/api/v1/surveys/s2"}));
        assert!(serde_json::to_vec(&p).unwrap().len() < PAYLOAD_LIMIT);
        // A reference may carry more than the id.
        let big = json!({"text": "x".repeat(PAYLOAD_LIMIT)});
        let p = payload(
            WebhookEventType::CourseCompleted,
            at,
            WebhookData::new(big, "c1", "/api/v1/courses/c1").with_reference_field("user_id", "u1"),
        );
        assert_eq!(
            p["data"],
            json!({"id": "c1", "url": "/api/v1/courses/c1", "user_id": "u1"})
        );
    }
}
