//! CoP events (sessions), registrations and attendance.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    ids::{CopId, EventId, UserId},
    portal::{
        attendance::{self, Attendance, AttendanceImport, ImportReport, RowInput, SkippedRow},
        events::{self, EventData, EventFilter, EventPatch, EventStatus, EventType, NewEventInput},
        invites::{self, InviteView},
        registrations::{self, RegistrationView},
    },
};

pub use launchpad_domain::portal::events::EventView;
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path},
    payload::{Json, PlainText},
    types::{Example, MaybeUndefined},
};

use super::jobs::{JobAccepted, JobOptions, JobRequest, accept_job, check_callback};
use crate::list_query::Paging;
use crate::types::{Created, NoContent, Page, Tag};
use crate::{
    body::{JsonBody, OptionalJsonBody},
    problem::ApiResult,
    security::BearerAuth,
    state::SharedState,
};

crate::list_query! {
    /// The query of `GET /api/v1/cops/{cop_id}/events`.
    pub struct EventsQuery {
        /// Events starting at or after this time (RFC 3339).
        from: Option<DateTime<Utc>>,
        /// Events starting before this time (RFC 3339).
        to: Option<DateTime<Utc>>,
        /// Only events of this type.
        event_type as "type": Option<EventType>,
        /// Only events with this status.
        status: Option<EventStatus>,
    }
}

pub struct EventsApi;

/// A new event: `ends_at` after `starts_at`, a location or a join URL.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateEvent {
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    #[oai(skip_serializing_if_is_none)]
    pub event_type: Option<EventType>,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 10000))]
    pub description: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// IANA time zone, e.g. `Europe/Paris`.
    pub time_zone: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 500))]
    pub location: Option<String>,
    /// An http(s) URL.
    #[oai(skip_serializing_if_is_none, validator(max_length = 2048))]
    pub join_url: Option<String>,
    /// 1–100000 places; unlimited when absent.
    #[oai(
        skip_serializing_if_is_none,
        validator(minimum(value = "1"), maximum(value = "100000"))
    )]
    pub capacity: Option<i64>,
    /// Speaker names (at most 20).
    #[serde(default)]
    #[oai(default, validator(max_items = 20))]
    pub speakers: Vec<String>,
    #[oai(skip_serializing_if_is_none, validator(max_length = 20000))]
    pub agenda: Option<String>,
}

impl Example for CreateEvent {
    fn example() -> Self {
        let starts = DateTime::parse_from_rfc3339("2026-12-03T15:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        Self {
            event_type: Some(EventType::OfficeHours),
            title: "Lakehouse office hours".into(),
            description: Some("Bring your pipeline questions.".into()),
            starts_at: starts,
            ends_at: starts + chrono::Duration::hours(1),
            time_zone: "Europe/Paris".into(),
            location: None,
            join_url: Some("https://meet.example.com/lakehouse".into()),
            capacity: Some(50),
            speakers: vec!["Ana Silva".into()],
            agenda: None,
        }
    }
}

/// Changes to an event; absent fields stay, `null` clears optional ones.
/// Changing time or place bumps `sequence`.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateEvent {
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub event_type: Option<EventType>,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    #[serde(default)]
    pub description: MaybeUndefined<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub time_zone: Option<String>,
    #[serde(default)]
    pub location: MaybeUndefined<String>,
    #[serde(default)]
    pub join_url: MaybeUndefined<String>,
    #[serde(default)]
    pub capacity: MaybeUndefined<i64>,
    pub speakers: Option<Vec<String>>,
    #[serde(default)]
    pub agenda: MaybeUndefined<String>,
}

impl Example for UpdateEvent {
    fn example() -> Self {
        let starts = DateTime::parse_from_rfc3339("2026-12-03T16:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        Self {
            event_type: None,
            title: None,
            description: MaybeUndefined::Undefined,
            starts_at: Some(starts),
            ends_at: Some(starts + chrono::Duration::hours(1)),
            time_zone: None,
            location: MaybeUndefined::Undefined,
            join_url: MaybeUndefined::Undefined,
            capacity: MaybeUndefined::Value(80),
            speakers: None,
            agenda: MaybeUndefined::Undefined,
        }
    }
}

/// An iCalendar object (RFC 5545).
#[derive(ApiResponse)]
pub enum IcsResponse {
    /// The event as an iCalendar object: `METHOD:REQUEST` naming the caller
    /// as attendee when they are registered, `METHOD:CANCEL` when the event
    /// is cancelled, else `METHOD:PUBLISH`.
    #[oai(status = 200, content_type = "text/calendar")]
    Ics(
        PlainText<String>,
        /// `attachment; filename="invite.ics"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// Registers the caller (send `{}`), or, for managers, the member `user_id`.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct CreateRegistration {
    /// The member to register; the caller when absent.
    pub user_id: Option<UserId>,
}

impl Example for CreateRegistration {
    fn example() -> Self {
        Self {
            user_id: Some(UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            ))),
        }
    }
}

/// One attendee row: a user by `user_id` or by `email` (a user of the CoP's
/// customer), with the times they joined and left.
#[derive(Object, serde::Deserialize)]
pub struct AttendanceRow {
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<UserId>,
    #[oai(skip_serializing_if_is_none, validator(max_length = 254))]
    pub email: Option<String>,
    pub joined_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub left_at: Option<DateTime<Utc>>,
}

/// Attendance rows to import (at most 5000 per call).
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct ImportAttendance {
    #[oai(validator(min_items = 1, max_items = 5000))]
    pub rows: Vec<AttendanceRow>,
}

impl Example for ImportAttendance {
    fn example() -> Self {
        let at = DateTime::parse_from_rfc3339("2026-12-03T15:02:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        Self {
            rows: vec![AttendanceRow {
                user_id: None,
                email: Some("ana.silva@acme.example".into()),
                joined_at: at,
                left_at: Some(at + chrono::Duration::minutes(55)),
            }],
        }
    }
}

/// A row that was not imported.
#[derive(Object)]
pub struct SkippedRowView {
    /// Index of the row in the request.
    pub row: u32,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<UserId>,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    pub reason: String,
}

/// The outcome of an attendance import.
#[derive(Object)]
#[oai(example)]
pub struct ImportReportView {
    /// Rows received.
    pub rows: u32,
    /// Attendees written (inserted or updated); several rows of one person merge.
    pub imported: i64,
    /// Rows whose person is not a user of the customer.
    pub skipped: Vec<SkippedRowView>,
}

impl Example for ImportReportView {
    fn example() -> Self {
        Self {
            rows: 3,
            imported: 2,
            skipped: vec![SkippedRowView {
                row: 2,
                user_id: None,
                email: Some("guest@partner.example".into()),
                reason: "no user of this customer has this email".into(),
            }],
        }
    }
}

impl From<ImportReport> for ImportReportView {
    fn from(r: ImportReport) -> Self {
        Self {
            rows: r.rows as u32,
            imported: r.imported,
            skipped: r
                .skipped
                .into_iter()
                .map(|s: SkippedRow| SkippedRowView {
                    row: s.row as u32,
                    user_id: s.user_id,
                    email: s.email,
                    reason: s.reason,
                })
                .collect(),
        }
    }
}

/// One attendee of an event.
#[derive(Object)]
pub struct AttendanceView {
    pub event_id: EventId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub joined_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub left_at: Option<DateTime<Utc>>,
    pub imported_at: DateTime<Utc>,
}

impl From<Attendance> for AttendanceView {
    fn from(a: Attendance) -> Self {
        Self {
            event_id: a.event_id,
            user_id: a.user_id,
            email: a.email,
            name: a.name,
            joined_at: a.joined_at,
            left_at: a.left_at,
            imported_at: a.imported_at,
        }
    }
}

#[OpenApi(tag = "Tag::Events")]
impl EventsApi {
    /// Creates an event in a CoP.
    #[oai(
        path = "/api/v1/cops/:cop_id/events",
        method = "post",
        operation_id = "events_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        body: JsonBody<CreateEvent>,
    ) -> ApiResult<Created<EventView>> {
        let b = body.value;
        let data = EventData::parse(NewEventInput {
            event_type: b.event_type,
            title: b.title,
            description: b.description,
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            time_zone: b.time_zone,
            location: b.location,
            join_url: b.join_url,
            capacity: b.capacity,
            speakers: b.speakers,
            agenda: b.agenda,
        })?;
        Ok(Created::Created(Json(
            events::create(&state.db, &auth.0, cop_id.0, data)
                .await?
                .into(),
        )))
    }

    /// Lists a CoP's events by start time.
    #[oai(
        path = "/api/v1/cops/:cop_id/events",
        method = "get",
        operation_id = "events_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        query: EventsQuery,
    ) -> ApiResult<Json<Page<EventView>>> {
        let filter = EventFilter {
            from: query.from,
            to: query.to,
            event_type: query.event_type,
            status: query.status,
        };
        let page = events::list(&state.db, &auth.0, cop_id.0, &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, EventView::from)))
    }

    /// Gets an event.
    #[oai(
        path = "/api/v1/events/:event_id",
        method = "get",
        operation_id = "events_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        event_id: Path<EventId>,
    ) -> ApiResult<Json<EventView>> {
        Ok(Json(
            events::get(&state.db, &auth.0, event_id.0).await?.into(),
        ))
    }

    /// Updates a scheduled event.
    #[oai(
        path = "/api/v1/events/:event_id",
        method = "patch",
        operation_id = "events_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        event_id: Path<EventId>,
        body: JsonBody<UpdateEvent>,
    ) -> ApiResult<Json<EventView>> {
        let b = body.value;
        let patch = EventPatch {
            event_type: b.event_type,
            title: b.title,
            description: b.description.into(),
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            time_zone: b.time_zone,
            location: b.location.into(),
            join_url: b.join_url.into(),
            capacity: b.capacity.into(),
            speakers: b.speakers,
            agenda: b.agenda.into(),
        };
        Ok(Json(
            events::update(&state.db, &auth.0, event_id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Cancels an event (bumps `sequence`; registrations are kept so that
    /// registrants can be told).
    #[oai(
        path = "/api/v1/events/:event_id/cancel",
        method = "post",
        operation_id = "events_cancel"
    )]
    async fn cancel(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        event_id: Path<EventId>,
    ) -> ApiResult<Json<EventView>> {
        Ok(Json(
            events::cancel(&state.db, &auth.0, event_id.0).await?.into(),
        ))
    }

    /// Registers the caller (a member; body `{}`) or, for managers, a member.
    /// 409 when the event is full, cancelled, over, or the person is registered.
    #[oai(
        path = "/api/v1/events/:event_id/registrations",
        method = "post",
        operation_id = "registrations_create"
    )]
    async fn register(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        event_id: Path<EventId>,
        body: JsonBody<CreateRegistration>,
    ) -> ApiResult<Created<RegistrationView>> {
        let r = registrations::register(&state.db, &auth.0, event_id.0, body.value.user_id).await?;
        Ok(Created::Created(Json(r.into())))
    }

    /// Lists registrations in registration order.
    #[oai(
        path = "/api/v1/events/:event_id/registrations",
        method = "get",
        operation_id = "registrations_list"
    )]
    async fn list_registrations(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        event_id: Path<EventId>,
        query: Paging,
    ) -> ApiResult<Json<Page<RegistrationView>>> {
        let page = registrations::list(&state.db, &auth.0, event_id.0, &query.page).await?;
        let users: Vec<UserId> = page.items.iter().map(|r| r.user_id).collect();
        let mut latest = invites::latest_for(&state.db, event_id.0, &users).await?;
        Ok(Json(Page::from_domain(page, |r| {
            let invite = latest.remove(&r.user_id).map(InviteView::from);
            RegistrationView {
                invite,
                ..RegistrationView::from(r)
            }
        })))
    }

    /// The event as an iCalendar file for the caller (`text/calendar`),
    /// the same object the invitations carry.
    #[oai(
        path = "/api/v1/events/:event_id/invite.ics",
        method = "get",
        operation_id = "events_invite_ics"
    )]
    async fn invite_ics(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        event_id: Path<EventId>,
    ) -> ApiResult<IcsResponse> {
        let ics =
            invites::ics_for_caller(&state.db, &auth.0, event_id.0, &state.settings.mail_from)
                .await?;
        Ok(IcsResponse::Ics(
            PlainText(ics),
            "attachment; filename=\"invite.ics\"".into(),
        ))
    }

    /// Re-sends the event's calendar message to every registrant (an
    /// invitation, or a cancellation for a cancelled event): 202 with the
    /// fan-out job. Managers of the CoP only.
    #[oai(
        path = "/api/v1/events/:event_id/invites",
        method = "post",
        operation_id = "events_invites_resend"
    )]
    async fn resend_invites(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        event_id: Path<EventId>,
        /// Makes the request safe to retry: the same key returns the first job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        /// Optional: a one-off `callback_url`. When a fan-out of the event
        /// is already queued, the re-send is that job and the callback URL
        /// is attached to it (409 when it has another one).
        options: OptionalJsonBody<JobOptions>,
    ) -> ApiResult<JobAccepted> {
        let event = event_id.0;
        let url = options
            .value
            .as_ref()
            .and_then(|o| o.callback_url.as_deref());
        let callback_url = check_callback(&state, url).await?;
        let tenant = invites::resend_tenant(&state.db, &auth.0, event).await?;
        let caller = auth.0.clone();
        let fingerprint = match &callback_url {
            Some(u) => serde_json::json!({ "callback_url": u }),
            None => serde_json::Value::Null,
        };
        accept_job(
            &state,
            &JobRequest {
                caller: &auth.0,
                tenant: Some(tenant),
                idempotency_key: idempotency_key.0.as_deref(),
                path: &format!("/api/v1/events/{event}/invites"),
                body: &fingerprint,
            },
            move |conn| {
                Box::pin(async move {
                    invites::enqueue_resend(conn, &caller, event, callback_url).await
                })
            },
        )
        .await
    }

    /// Removes a registration: one's own, or anyone's for managers.
    #[oai(
        path = "/api/v1/events/:event_id/registrations/:user_id",
        method = "delete",
        operation_id = "registrations_delete"
    )]
    async fn unregister(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        event_id: Path<EventId>,
        user_id: Path<UserId>,
    ) -> ApiResult<NoContent> {
        registrations::unregister(&state.db, &auth.0, event_id.0, user_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Imports attendance (at most 5000 rows per call). Re-importing is
    /// idempotent: each person has one attendance row per event, and a new
    /// import overwrites its times. Rows whose person is not a user of the
    /// customer are skipped and reported; an invalid row rejects the whole
    /// call and nothing is written.
    #[oai(
        path = "/api/v1/events/:event_id/attendance",
        method = "post",
        operation_id = "attendance_import"
    )]
    async fn import_attendance(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        event_id: Path<EventId>,
        body: JsonBody<ImportAttendance>,
    ) -> ApiResult<Json<ImportReportView>> {
        let rows = body
            .value
            .rows
            .into_iter()
            .map(|r| RowInput {
                user_id: r.user_id,
                email: r.email,
                joined_at: r.joined_at,
                left_at: r.left_at,
            })
            .collect();
        let input = AttendanceImport::parse(rows)?;
        Ok(Json(
            attendance::import(&state.db, &auth.0, event_id.0, input)
                .await?
                .into(),
        ))
    }

    /// Lists the attendees of an event in joining order.
    #[oai(
        path = "/api/v1/events/:event_id/attendance",
        method = "get",
        operation_id = "attendance_list"
    )]
    async fn list_attendance(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        event_id: Path<EventId>,
        query: Paging,
    ) -> ApiResult<Json<Page<AttendanceView>>> {
        let page = attendance::list(&state.db, &auth.0, event_id.0, &query.page).await?;
        Ok(Json(Page::from_domain(page, AttendanceView::from)))
    }
}
