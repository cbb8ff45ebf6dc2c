//! The caller's notifications: the inbox (list, counts, read, unread,
//! archive, read-all, seen), its live stream, the preferences, a tenant's
//! defaults, and the one-click unsubscribe link of notification e-mails.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use futures::stream::BoxStream;
use launchpad_domain::{
    ids::{CustomerId, NotificationId, UserId},
    notifications::{
        NotificationType,
        inbox::{self, Counts, Filter, Mark, NotificationView, StreamEventKind},
        prefs::{self, Change, DigestFrequency, Preferences, PreferencesInput, TypePreference},
        unsubscribe,
    },
};
use poem::web::{Data, sse::Event};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::{EventStream, Json},
    types::Example,
};
use sqlx::{PgPool, Postgres, pool::PoolConnection};
use tokio::sync::Notify;

use crate::types::{Page, Tag};
use crate::{
    body::{JsonBody, OptionalJsonBody},
    problem::ApiResult,
    security::{BearerAuth, until_token_expires},
    state::SharedState,
};

crate::list_query! {
    /// The query of `GET /api/v1/me/notifications`.
    pub struct NotificationsQuery {
        /// Only unread (`true`) or only read (`false`) notifications.
        unread: Option<bool>,
        /// Only notifications of this type.
        notification_type as "type": Option<NotificationType>,
        /// The archive (`true`) instead of the inbox (default `false`).
        archived: Option<bool>,
    }
}

pub struct NotificationsApi;

/// `POST /api/v1/me/notifications/read-all`.
#[derive(Object, serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[oai(example)]
pub struct ReadAll {
    /// Only this notification and older ones (in inbox order).
    pub up_to: Option<NotificationId>,
}

/// How many notifications changed, and the caller's counts afterwards.
#[derive(Object)]
pub struct Changed {
    pub changed: u64,
    pub counts: Counts,
}

/// One channel of one type, on or off.
#[derive(Object, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferenceChange {
    /// A notification type (`event_created`, …; see the `NotificationType` schema).
    #[serde(rename = "type")]
    #[oai(rename = "type")]
    pub notification_type: String,
    /// `in_app`, `email` or `digest`.
    pub channel: String,
    pub enabled: bool,
}

/// `PUT /api/v1/me/notification-preferences`: what is named changes, the
/// rest stays.
#[derive(Object, serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[oai(example)]
pub struct PreferencesUpdate {
    #[serde(default)]
    #[oai(default)]
    pub preferences: Vec<PreferenceChange>,
    /// `daily`, `weekly` or `off`.
    pub digest_frequency: Option<String>,
    /// The digest's zone (IANA, e.g. `Europe/Paris`).
    pub time_zone: Option<String>,
}

/// `PUT /api/v1/customers/{id}/notification-defaults`.
#[derive(Object, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(example)]
pub struct DefaultsUpdate {
    pub defaults: Vec<PreferenceChange>,
}

impl Example for ReadAll {
    fn example() -> Self {
        Self { up_to: None }
    }
}

impl Example for PreferencesUpdate {
    fn example() -> Self {
        Self {
            preferences: vec![PreferenceChange {
                notification_type: "event_created".into(),
                channel: "email".into(),
                enabled: true,
            }],
            digest_frequency: Some("weekly".into()),
            time_zone: Some("Europe/Paris".into()),
        }
    }
}

impl Example for DefaultsUpdate {
    fn example() -> Self {
        Self {
            defaults: vec![PreferenceChange {
                notification_type: "use_case_shared".into(),
                channel: "email".into(),
                enabled: true,
            }],
        }
    }
}

fn changes(list: Vec<PreferenceChange>) -> Vec<Change> {
    list.into_iter()
        .map(|c| Change {
            notification_type: c.notification_type,
            channel: c.channel,
            enabled: c.enabled,
        })
        .collect()
}

/// One event of the notification stream (SSE `event:` is the `type`; the
/// SSE `id` is the `seq` of the latest notification sent, for
/// `Last-Event-ID`): a `notification` (with it), or new `counts`. Every
/// event carries the caller's counts after it.
#[derive(Object, Clone)]
pub struct NotificationStreamEvent {
    #[oai(rename = "type")]
    pub kind: StreamEventKind,
    #[oai(skip_serializing_if_is_none)]
    pub notification: Option<NotificationView>,
    pub counts: Counts,
    /// The SSE event id.
    pub seq: i64,
}

/// What the unsubscribe link did.
#[derive(Object)]
pub struct Unsubscribed {
    #[oai(rename = "type")]
    pub notification_type: NotificationType,
    /// `email`: the channel now off for this type.
    pub channel: String,
    pub enabled: bool,
}

/// What the digest's unsubscribe link did (or would do): the person's
/// digest frequency, `off` once the link was used.
#[derive(Object)]
pub struct DigestUnsubscribed {
    pub digest_frequency: DigestFrequency,
}

#[OpenApi(tag = "Tag::Notifications")]
impl NotificationsApi {
    /// Lists the caller's notifications, newest activity first (the inbox;
    /// `archived=true` for the archive).
    #[oai(
        path = "/api/v1/me/notifications",
        method = "get",
        operation_id = "notifications_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: NotificationsQuery,
    ) -> ApiResult<Json<Page<NotificationView>>> {
        let filter = Filter {
            unread: query.unread,
            notification_type: query.notification_type,
            archived: query.archived.unwrap_or(false),
        };
        let page = inbox::list(&state.db, auth.0.user_id, &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, NotificationView::from)))
    }

    /// The caller's unread and unseen notifications.
    #[oai(
        path = "/api/v1/me/notifications/count",
        method = "get",
        operation_id = "notifications_count"
    )]
    async fn count(&self, state: Data<&SharedState>, auth: BearerAuth) -> ApiResult<Json<Counts>> {
        Ok(Json(inbox::counts(&state.db, auth.0.user_id).await?))
    }

    /// Marks a notification read. Another person's is a 404.
    #[oai(
        path = "/api/v1/me/notifications/:id/read",
        method = "post",
        operation_id = "notifications_read"
    )]
    async fn read(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<NotificationId>,
    ) -> ApiResult<Json<NotificationView>> {
        mark(&state.db, auth.0.user_id, id.0, Mark::Read).await
    }

    /// Marks a notification unread again.
    #[oai(
        path = "/api/v1/me/notifications/:id/unread",
        method = "post",
        operation_id = "notifications_unread"
    )]
    async fn unread(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<NotificationId>,
    ) -> ApiResult<Json<NotificationView>> {
        mark(&state.db, auth.0.user_id, id.0, Mark::Unread).await
    }

    /// Moves a notification to the archive (out of the inbox and the counts).
    #[oai(
        path = "/api/v1/me/notifications/:id/archive",
        method = "post",
        operation_id = "notifications_archive"
    )]
    async fn archive(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<NotificationId>,
    ) -> ApiResult<Json<NotificationView>> {
        mark(&state.db, auth.0.user_id, id.0, Mark::Archive).await
    }

    /// Marks every unread notification read, or only `up_to` and older ones.
    #[oai(
        path = "/api/v1/me/notifications/read-all",
        method = "post",
        operation_id = "notifications_read_all"
    )]
    async fn read_all(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        /// Optional.
        body: OptionalJsonBody<ReadAll>,
    ) -> ApiResult<Json<Changed>> {
        let up_to = body.value.and_then(|b| b.up_to);
        let user = auth.0.user_id;
        let changed = inbox::read_all(&state.db, user, up_to).await?;
        let counts = inbox::counts(&state.db, user).await?;
        Ok(Json(Changed { changed, counts }))
    }

    /// The inbox was opened: its unread notifications count as seen.
    #[oai(
        path = "/api/v1/me/notifications/seen",
        method = "post",
        operation_id = "notifications_seen"
    )]
    async fn seen(&self, state: Data<&SharedState>, auth: BearerAuth) -> ApiResult<Json<Changed>> {
        let user = auth.0.user_id;
        let changed = inbox::seen(&state.db, user).await?;
        let counts = inbox::counts(&state.db, user).await?;
        Ok(Json(Changed { changed, counts }))
    }

    /// The caller's notifications as they happen (server-sent events): at
    /// once a `counts` event, then a `notification` event for each new (or
    /// collapsed-into) notification and a `counts` event when the counts
    /// change otherwise. Each event's SSE `id` is the `seq` of the latest
    /// notification sent: reconnecting with `Last-Event-ID` first replays
    /// what came after it. Comments keep the connection alive.
    #[oai(
        path = "/api/v1/me/notifications/stream",
        method = "get",
        operation_id = "notifications_stream"
    )]
    async fn stream(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        req: &poem::Request,
        /// The `seq` of the last event received: what came after it is sent first.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> ApiResult<EventStream<BoxStream<'static, NotificationStreamEvent>>> {
        let user = auth.0.user_id;
        // Subscribe before reading the starting point so nothing is missed.
        let wake = state.notifications.subscribe(user);
        let db = state.db.clone();
        let resume = last_event_id
            .0
            .as_deref()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|s| *s >= 0);
        let last_seq = match resume {
            Some(s) => s,
            None => inbox::latest_seq(&db, user).await?,
        };
        let st = StreamState {
            db,
            user,
            wake,
            last_seq,
            counts: None,
            queue: VecDeque::new(),
        };
        let stream = futures::stream::unfold(st, |mut st| async move {
            let ev = st.next().await;
            Some((ev, st))
        });
        let stream = until_token_expires(req, stream);
        Ok(EventStream::new(stream)
            .keep_alive(Duration::from_secs(15))
            .to_event(|e: NotificationStreamEvent| {
                let data = serde_json::to_string(&poem_openapi::types::ToJSON::to_json(&e))
                    .unwrap_or_default();
                Event::message(data)
                    .event_type(e.kind.as_str())
                    .id(e.seq.to_string())
            }))
    }

    /// The caller's notification preferences: every type with its channels
    /// (in-app, e-mail, digest) as they apply, and the digest's frequency
    /// and zone.
    #[oai(
        path = "/api/v1/me/notification-preferences",
        method = "get",
        operation_id = "notification_preferences_get"
    )]
    async fn preferences(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
    ) -> ApiResult<Json<Preferences>> {
        Ok(Json(prefs::get(&state.db, auth.0.user_id).await?))
    }

    /// Changes the caller's preferences: the channels named (unknown types
    /// or channels, or turning off a channel a type cannot do without, are a
    /// 400 naming the field), the digest's frequency and zone.
    #[oai(
        path = "/api/v1/me/notification-preferences",
        method = "put",
        operation_id = "notification_preferences_put"
    )]
    async fn put_preferences(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<PreferencesUpdate>,
    ) -> ApiResult<Json<Preferences>> {
        let b = body.value;
        let input = PreferencesInput {
            digest_frequency: b.digest_frequency,
            time_zone: b.time_zone,
            changes: changes(b.preferences),
        };
        Ok(Json(prefs::put(&state.db, auth.0.user_id, input).await?))
    }

    /// A customer's notification defaults (over the platform's; each person
    /// may override them).
    #[oai(
        path = "/api/v1/customers/:id/notification-defaults",
        method = "get",
        operation_id = "notification_defaults_get"
    )]
    async fn defaults(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CustomerId>,
    ) -> ApiResult<Json<Vec<TypePreference>>> {
        Ok(Json(
            prefs::tenant_defaults(&state.db, &auth.0, id.0).await?,
        ))
    }

    /// Changes a customer's notification defaults (admin, or customer_exec
    /// of the customer).
    #[oai(
        path = "/api/v1/customers/:id/notification-defaults",
        method = "put",
        operation_id = "notification_defaults_put"
    )]
    async fn put_defaults(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CustomerId>,
        body: JsonBody<DefaultsUpdate>,
    ) -> ApiResult<Json<Vec<TypePreference>>> {
        let list = changes(body.value.defaults);
        Ok(Json(
            prefs::put_tenant_defaults(&state.db, &auth.0, id.0, list).await?,
        ))
    }

    /// One-click unsubscribe (RFC 8058), the `List-Unsubscribe` target of
    /// notification e-mails: turns the e-mails of the token's type off for
    /// its person. No login (the token is signed); using it again changes
    /// nothing and answers the same. Rate-limited per client IP.
    #[oai(
        path = "/api/v1/notifications/unsubscribe",
        method = "post",
        operation_id = "notifications_unsubscribe"
    )]
    async fn unsubscribe(
        &self,
        state: Data<&SharedState>,
        /// The token of the e-mail's link.
        token: Query<String>,
    ) -> ApiResult<Json<Unsubscribed>> {
        let mut conn = anonymous_conn(&state).await?;
        let (_, t) = unsubscribe::apply(&mut conn, &token.0).await?;
        Ok(Json(Unsubscribed {
            notification_type: t,
            channel: "email".into(),
            enabled: false,
        }))
    }

    /// What the unsubscribe link would do (changes nothing: mail scanners
    /// follow links; the change is the POST).
    #[oai(
        path = "/api/v1/notifications/unsubscribe",
        method = "get",
        operation_id = "notifications_unsubscribe_preview"
    )]
    async fn unsubscribe_preview(
        &self,
        state: Data<&SharedState>,
        /// The token of the e-mail's link.
        token: Query<String>,
    ) -> ApiResult<Json<Unsubscribed>> {
        let mut conn = anonymous_conn(&state).await?;
        let (t, on) = unsubscribe::preview(&mut conn, &token.0).await?;
        Ok(Json(Unsubscribed {
            notification_type: t,
            channel: "email".into(),
            enabled: on,
        }))
    }
    /// One-click unsubscribe (RFC 8058) of the digest e-mail: turns the
    /// digest off for the token's person (their other e-mails and their
    /// inbox stay as they are). No login (the token is signed); using it
    /// again changes nothing and answers the same. Rate-limited per client IP.
    #[oai(
        path = "/api/v1/notifications/digest/unsubscribe",
        method = "post",
        operation_id = "notifications_digest_unsubscribe"
    )]
    async fn digest_unsubscribe(
        &self,
        state: Data<&SharedState>,
        /// The token of the digest's link.
        token: Query<String>,
    ) -> ApiResult<Json<DigestUnsubscribed>> {
        let mut conn = anonymous_conn(&state).await?;
        unsubscribe::digest_apply(&mut conn, &token.0).await?;
        Ok(Json(DigestUnsubscribed {
            digest_frequency: DigestFrequency::Off,
        }))
    }

    /// What the digest's unsubscribe link would do: the person's digest
    /// frequency now (changes nothing: mail scanners follow links; the
    /// change is the POST).
    #[oai(
        path = "/api/v1/notifications/digest/unsubscribe",
        method = "get",
        operation_id = "notifications_digest_unsubscribe_preview"
    )]
    async fn digest_unsubscribe_preview(
        &self,
        state: Data<&SharedState>,
        /// The token of the digest's link.
        token: Query<String>,
    ) -> ApiResult<Json<DigestUnsubscribed>> {
        let mut conn = anonymous_conn(&state).await?;
        Ok(Json(DigestUnsubscribed {
            digest_frequency: unsubscribe::digest_preview(&mut conn, &token.0).await?,
        }))
    }
}

/// A connection for a link that works without a login (rate-limited per
/// client IP).
async fn anonymous_conn(state: &SharedState) -> ApiResult<PoolConnection<Postgres>> {
    state.limits.check_anonymous_client()?;
    Ok(state
        .db
        .acquire()
        .await
        .map_err(launchpad_domain::Error::from)?)
}

async fn mark(
    db: &PgPool,
    user: UserId,
    id: NotificationId,
    m: Mark,
) -> ApiResult<Json<NotificationView>> {
    Ok(Json(inbox::mark(db, user, id, m).await?.into()))
}

/// One stream's position.
struct StreamState {
    db: PgPool,
    user: UserId,
    wake: Arc<Notify>,
    /// The `seq` of the latest notification sent.
    last_seq: i64,
    /// The counts last sent.
    counts: Option<Counts>,
    queue: VecDeque<NotificationStreamEvent>,
}

impl StreamState {
    /// The next event: queued ones first, then whatever changed, else wait
    /// for a wake-up (or a poll every 30 s as a fallback).
    async fn next(&mut self) -> NotificationStreamEvent {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return e;
            }
            match self.changes().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "notification stream: read failed"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), self.wake.notified()).await;
        }
    }

    /// Queues what changed since the last event; false when nothing did.
    async fn changes(&mut self) -> Result<bool, launchpad_domain::Error> {
        let rows = inbox::since(&self.db, self.user, self.last_seq, 200).await?;
        let counts = inbox::counts(&self.db, self.user).await?;
        if rows.is_empty() {
            if self.counts == Some(counts) {
                return Ok(false);
            }
            self.counts = Some(counts);
            self.queue.push_back(NotificationStreamEvent {
                kind: StreamEventKind::Counts,
                notification: None,
                counts,
                seq: self.last_seq,
            });
            return Ok(true);
        }
        for r in rows {
            self.last_seq = r.seq;
            self.queue.push_back(NotificationStreamEvent {
                kind: StreamEventKind::Notification,
                notification: Some(r.into()),
                counts,
                seq: self.last_seq,
            });
        }
        self.counts = Some(counts);
        Ok(true)
    }
}
