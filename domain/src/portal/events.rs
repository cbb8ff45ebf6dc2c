//! CoP events (sessions). Times are stored in UTC and carry the IANA zone
//! they were planned in. `uid` is the stable iCalendar UID; `sequence` is
//! bumped on every change of time, place or status, so calendar updates and
//! cancellations supersede earlier invitations.

use crate::text_enum;
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::{self, Action},
    audit, invites, labels, opt_text,
};
use crate::{
    error::{Error, Result, Validator},
    ids::{CopId, EventId, UserId},
    kinds::InviteReason,
    notifications::{self, Audience, NewNotification, NotificationType},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    values,
    webhooks::{WebhookData, WebhookEventType, record_event},
};

text_enum! {
    /// The kind of session.
    pub enum EventType {
        Training = "training",
        OfficeHours = "office_hours",
        DeepDive = "deep_dive",
        Roadmap = "roadmap",
        Other = "other",
    }
}

text_enum! {
    /// `scheduled`, or `cancelled` through `POST /events/{id}/cancel`.
    pub enum EventStatus {
        Scheduled = "scheduled",
        Cancelled = "cancelled",
    }
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Event {
    pub id: EventId,
    pub cop_id: CopId,
    #[sqlx(rename = "type")]
    pub event_type: EventType,
    pub title: String,
    pub description: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: String,
    pub location: Option<String>,
    pub join_url: Option<String>,
    pub capacity: Option<i32>,
    pub speakers: Vec<String>,
    pub agenda: Option<String>,
    pub status: EventStatus,
    pub sequence: i32,
    pub uid: String,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub registered_count: i64,
    pub attended_count: i64,
}

/// A CoP event. Times are UTC; `time_zone` is the IANA zone it is planned
/// in. `uid` (iCalendar UID) never changes; `sequence` grows with every
/// change of time, place or status.
#[derive(poem_openapi::Object)]
pub struct EventView {
    pub id: EventId,
    pub cop_id: CopId,
    #[oai(rename = "type")]
    pub event_type: EventType,
    pub title: String,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// IANA time zone, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// Where it takes place (a room, an address).
    #[oai(skip_serializing_if_is_none)]
    pub location: Option<String>,
    /// The online meeting link.
    #[oai(skip_serializing_if_is_none)]
    pub join_url: Option<String>,
    /// Places; no limit when absent.
    #[oai(skip_serializing_if_is_none)]
    pub capacity: Option<i32>,
    pub speakers: Vec<String>,
    #[oai(skip_serializing_if_is_none)]
    pub agenda: Option<String>,
    pub status: EventStatus,
    /// iCalendar SEQUENCE.
    pub sequence: i32,
    /// iCalendar UID.
    pub uid: String,
    #[oai(skip_serializing_if_is_none)]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// People registered.
    pub registered_count: i64,
    /// People who attended (imported attendance).
    pub attended_count: i64,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            cop_id: e.cop_id,
            event_type: e.event_type,
            title: e.title,
            description: e.description,
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            time_zone: e.time_zone,
            location: e.location,
            join_url: e.join_url,
            capacity: e.capacity,
            speakers: e.speakers,
            agenda: e.agenda,
            status: e.status,
            sequence: e.sequence,
            uid: e.uid,
            cancelled_at: e.cancelled_at,
            created_by: e.created_by,
            created_at: e.created_at,
            updated_at: e.updated_at,
            registered_count: e.registered_count,
            attended_count: e.attended_count,
        }
    }
}

/// The webhook `data` of an event: the event as `GET /events/{id}` shows it.
pub fn webhook_data(e: &Event) -> WebhookData {
    WebhookData::of_view(
        &EventView::from(e.clone()),
        e.id,
        format!("/api/v1/events/{}", e.id),
    )
}

const COLUMNS: &str = "id, cop_id, type, title, description, starts_at, ends_at, time_zone, location, \
    join_url, capacity, speakers, agenda, status, sequence, uid, cancelled_at, created_by, created_at, \
    updated_at, \
    (SELECT count(*) FROM event_registrations r WHERE r.event_id = events.id) AS registered_count, \
    (SELECT count(*) FROM event_attendance t WHERE t.event_id = events.id) AS attended_count";

pub const MAX_CAPACITY: i64 = 100_000;
const DESCRIPTION_MAX: usize = 10_000;
const AGENDA_MAX: usize = 20_000;
const LOCATION_MAX: usize = 500;

/// The raw fields of a new event, as received.
#[derive(Debug, Clone)]
pub struct NewEventInput {
    pub event_type: Option<EventType>,
    pub title: String,
    pub description: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: String,
    pub location: Option<String>,
    pub join_url: Option<String>,
    pub capacity: Option<i64>,
    pub speakers: Vec<String>,
    pub agenda: Option<String>,
}

/// A validated event (new, or an existing one after a patch).
#[derive(Debug, Clone, PartialEq)]
pub struct EventData {
    pub event_type: EventType,
    pub title: String,
    pub description: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: chrono_tz::Tz,
    pub location: Option<String>,
    pub join_url: Option<String>,
    pub capacity: Option<i32>,
    pub speakers: Vec<String>,
    pub agenda: Option<String>,
}

impl EventData {
    pub fn parse(i: NewEventInput) -> Result<Self> {
        let mut v = Validator::new();
        let title = v.check("/title", values::name(&i.title));
        let description = opt_text(
            &mut v,
            "/description",
            i.description.as_deref(),
            DESCRIPTION_MAX,
        );
        let time_zone = v.check("/time_zone", values::time_zone(i.time_zone.trim()));
        let location = opt_text(&mut v, "/location", i.location.as_deref(), LOCATION_MAX);
        let join_url = i
            .join_url
            .as_deref()
            .and_then(|u| v.check("/join_url", values::http_url(u)));
        let capacity = i.capacity.and_then(|c| v.check("/capacity", capacity(c)));
        let speakers = labels(&mut v, "/speakers", &i.speakers, 20, 200);
        let agenda = opt_text(&mut v, "/agenda", i.agenda.as_deref(), AGENDA_MAX);
        check_times(&mut v, i.starts_at, i.ends_at, "/ends_at");
        if i.location.is_none() && i.join_url.is_none() {
            v.push("/location", "give a location or a join_url (or both)");
        }
        v.finish()?;
        Ok(Self {
            event_type: i.event_type.unwrap_or(EventType::Other),
            title: title.expect("checked"),
            description,
            starts_at: i.starts_at,
            ends_at: i.ends_at,
            time_zone: time_zone.expect("checked"),
            location,
            join_url,
            capacity,
            speakers,
            agenda,
        })
    }

    /// Whether `other` differs in time or place (what attendees' calendars show).
    fn moved(&self, other: &Self) -> bool {
        self.starts_at != other.starts_at
            || self.ends_at != other.ends_at
            || self.time_zone != other.time_zone
            || self.location != other.location
            || self.join_url != other.join_url
    }

    fn of(e: &Event) -> Result<Self> {
        Ok(Self {
            event_type: e.event_type,
            title: e.title.clone(),
            description: e.description.clone(),
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            time_zone: values::time_zone(&e.time_zone)
                .map_err(|m| anyhow::anyhow!("stored event: {m}"))?,
            location: e.location.clone(),
            join_url: e.join_url.clone(),
            capacity: e.capacity,
            speakers: e.speakers.clone(),
            agenda: e.agenda.clone(),
        })
    }
}

fn capacity(c: i64) -> Result<i32, String> {
    if (1..=MAX_CAPACITY).contains(&c) {
        Ok(c as i32)
    } else {
        Err(format!("must be between 1 and {MAX_CAPACITY}"))
    }
}

/// Checks the event's times; `pointer` is the field the request set (an
/// update that only moves `starts_at` is told so at `/starts_at`).
fn check_times(v: &mut Validator, starts: DateTime<Utc>, ends: DateTime<Utc>, pointer: &str) {
    if ends <= starts {
        let msg = if pointer == "/starts_at" {
            format!(
                "ends_at must be after starts_at: the event ends at {}; move ends_at as well",
                ends.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        } else {
            "ends_at must be after starts_at".into()
        };
        v.push(pointer, msg);
    } else if ends - starts > chrono::Duration::days(31) {
        v.push(pointer, "an event lasts at most 31 days");
    }
}

/// A partial update, as received. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct EventPatch {
    pub event_type: Option<EventType>,
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub time_zone: Option<String>,
    pub location: Option<Option<String>>,
    pub join_url: Option<Option<String>>,
    pub capacity: Option<Option<i64>>,
    pub speakers: Option<Vec<String>>,
    pub agenda: Option<Option<String>>,
}

impl EventPatch {
    /// Applies the patch to `cur`, validating every field and the result.
    fn apply(self, cur: &EventData) -> Result<EventData> {
        let mut v = Validator::new();
        let mut next = cur.clone();
        if let Some(t) = self.event_type {
            next.event_type = t;
        }
        if let Some(t) = self.title.and_then(|t| v.check("/title", values::name(&t))) {
            next.title = t;
        }
        if let Some(d) = self.description {
            next.description = opt_text(&mut v, "/description", d.as_deref(), DESCRIPTION_MAX);
        }
        if let Some(s) = self.starts_at {
            next.starts_at = s;
        }
        if let Some(e) = self.ends_at {
            next.ends_at = e;
        }
        if let Some(tz) = self
            .time_zone
            .and_then(|t| v.check("/time_zone", values::time_zone(t.trim())))
        {
            next.time_zone = tz;
        }
        if let Some(l) = self.location {
            next.location = opt_text(&mut v, "/location", l.as_deref(), LOCATION_MAX);
        }
        if let Some(u) = self.join_url {
            next.join_url = u.and_then(|u| v.check("/join_url", values::http_url(&u)));
        }
        if let Some(c) = self.capacity {
            next.capacity = c.and_then(|c| v.check("/capacity", capacity(c)));
        }
        if let Some(s) = self.speakers {
            next.speakers = labels(&mut v, "/speakers", &s, 20, 200);
        }
        if let Some(a) = self.agenda {
            next.agenda = opt_text(&mut v, "/agenda", a.as_deref(), AGENDA_MAX);
        }
        let pointer = if self.ends_at.is_some() {
            "/ends_at"
        } else {
            "/starts_at"
        };
        check_times(&mut v, next.starts_at, next.ends_at, pointer);
        if v.is_ok() && next.location.is_none() && next.join_url.is_none() {
            v.push("/location", "an event needs a location or a join_url");
        }
        v.finish()?;
        Ok(next)
    }
}

/// An event by id, optionally locked `FOR UPDATE` (capacity checks, updates),
/// with no access check: for jobs that already hold the id (invites).
pub async fn fetch(conn: &mut PgConnection, id: EventId, lock: bool) -> Result<Option<Event>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    Ok(
        sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM events WHERE id = $1{lock}"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The event and the caller's access to its CoP; 404 when missing or out of scope.
pub(crate) async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: EventId,
    lock: bool,
) -> Result<(Event, access::CopAccess)> {
    let e = fetch(conn, id, lock)
        .await?
        .ok_or(Error::not_found("event"))?;
    let a = access::load(conn, caller, e.cop_id, "event").await?;
    Ok((e, a))
}

pub async fn create(db: &PgPool, caller: &Caller, cop: CopId, d: EventData) -> Result<Event> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    let id = EventId::new();
    sqlx::query(
        "INSERT INTO events (id, cop_id, type, title, description, starts_at, ends_at, time_zone,
             location, join_url, capacity, speakers, agenda, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(id)
    .bind(cop)
    .bind(d.event_type)
    .bind(&d.title)
    .bind(&d.description)
    .bind(d.starts_at)
    .bind(d.ends_at)
    .bind(d.time_zone.name())
    .bind(&d.location)
    .bind(&d.join_url)
    .bind(d.capacity)
    .bind(&d.speakers)
    .bind(&d.agenda)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    let e = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("event"))?;
    audit(
        &mut tx,
        caller,
        "event.created",
        "event",
        id.to_string(),
        a.customer_id,
        serde_json::to_value(&e).ok(),
    )
    .await?;
    record_event(
        &mut tx,
        a.customer_id,
        WebhookEventType::EventCreated,
        webhook_data(&e),
    )
    .await?;
    let cop_name = notifications::cop_name(&mut tx, cop).await?;
    let (when, _) = invites::when_text(e.starts_at, e.ends_at, &e.time_zone);
    notifications::record(
        &mut tx,
        NewNotification::new(
            Some(a.customer_id),
            NotificationType::EventCreated,
            format!("New event in {cop_name}: {}", e.title),
            format!("{}\n{when}", e.title),
        )
        .link(format!("/api/v1/events/{id}"))
        .group(
            format!("{cop}"),
            format!("{{count}} new events in {cop_name}"),
        )
        .to(Audience::CopMembers, cop.0)
        .by(caller.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(e)
}

pub async fn get(db: &PgPool, caller: &Caller, id: EventId) -> Result<Event> {
    let mut conn = db.acquire().await?;
    let (e, a) = load(&mut conn, caller, id, false).await?;
    a.require(Action::Read)?;
    Ok(e)
}

/// Filters of `GET /cops/{id}/events`.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Events starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Events starting before this instant.
    pub to: Option<DateTime<Utc>>,
    pub event_type: Option<EventType>,
    pub status: Option<EventStatus>,
}

/// By start time.
const BY_START: Keyset<(DateTime<Utc>, EventId)> = Keyset::ascending(&["starts_at", "id"]);

/// A CoP's events by start time.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    filter: &EventFilter,
    page: &PageRequest,
) -> Result<Page<Event>> {
    if let (Some(f), Some(t)) = (filter.from, filter.to)
        && t <= f
    {
        return Err(Error::field("/to", "must be after from"));
    }
    let mut conn = db.acquire().await?;
    access::load(&mut conn, caller, cop, "cop")
        .await?
        .require(Action::Read)?;
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("events")
        .and_where(Expr::col("cop_id").eq(cop.0));
    if let Some(f) = filter.from {
        q.and_where(Expr::col("starts_at").gte(f));
    }
    if let Some(t) = filter.to {
        q.and_where(Expr::col("starts_at").lt(t));
    }
    if let Some(t) = filter.event_type {
        q.and_where(Expr::col("type").eq(t));
    }
    if let Some(s) = filter.status {
        q.and_where(Expr::col("status").eq(s));
    }
    BY_START
        .fetch(&mut *conn, q, page, |e: &Event| (e.starts_at, e.id))
        .await
}

fn ensure_scheduled(e: &Event) -> Result<()> {
    if e.status == EventStatus::Cancelled {
        return Err(Error::conflict("event_cancelled", "the event is cancelled"));
    }
    Ok(())
}

pub async fn update(db: &PgPool, caller: &Caller, id: EventId, patch: EventPatch) -> Result<Event> {
    let mut tx = db.begin().await?;
    let (cur, a) = load(&mut tx, caller, id, true).await?;
    a.require(Action::Manage)?;
    ensure_scheduled(&cur)?;
    let before = EventData::of(&cur)?;
    let next = patch.apply(&before)?;
    if let Some(c) = next.capacity {
        // Counted after locking the event: registrations lock it too.
        let registered = super::registrations::count(&mut tx, id).await?;
        if i64::from(c) < registered {
            return Err(Error::conflict(
                "capacity_below_registrations",
                format!("{registered} people are registered; the capacity cannot be lower"),
            ));
        }
    }
    let bump = i32::from(next.moved(&before));
    sqlx::query(
        "UPDATE events SET type = $2, title = $3, description = $4, starts_at = $5, ends_at = $6,
             time_zone = $7, location = $8, join_url = $9, capacity = $10, speakers = $11,
             agenda = $12, sequence = sequence + $13, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(next.event_type)
    .bind(&next.title)
    .bind(&next.description)
    .bind(next.starts_at)
    .bind(next.ends_at)
    .bind(next.time_zone.name())
    .bind(&next.location)
    .bind(&next.join_url)
    .bind(next.capacity)
    .bind(&next.speakers)
    .bind(&next.agenda)
    .bind(bump)
    .execute(&mut *tx)
    .await?;
    let e = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("event"))?;
    if bump > 0 && e.registered_count > 0 {
        invites::enqueue(
            &mut tx,
            a.customer_id,
            Some(caller.user_id),
            id,
            InviteReason::Updated,
            None,
        )
        .await?;
    }
    audit(
        &mut tx,
        caller,
        "event.updated",
        "event",
        id.to_string(),
        a.customer_id,
        serde_json::to_value(&e).ok(),
    )
    .await?;
    record_event(
        &mut tx,
        a.customer_id,
        WebhookEventType::EventUpdated,
        webhook_data(&e),
    )
    .await?;
    tx.commit().await?;
    Ok(e)
}

/// Cancels a scheduled event (bumps `sequence`); registrations are kept so
/// the invites job can send the cancellation to every registrant.
pub async fn cancel(db: &PgPool, caller: &Caller, id: EventId) -> Result<Event> {
    let mut tx = db.begin().await?;
    let (cur, a) = load(&mut tx, caller, id, true).await?;
    a.require(Action::Manage)?;
    ensure_scheduled(&cur)?;
    sqlx::query(
        "UPDATE events SET status = 'cancelled', cancelled_at = now(), sequence = sequence + 1,
             updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let e = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("event"))?;
    if e.registered_count > 0 {
        invites::enqueue(
            &mut tx,
            a.customer_id,
            Some(caller.user_id),
            id,
            InviteReason::Cancelled,
            None,
        )
        .await?;
    }
    audit(
        &mut tx,
        caller,
        "event.cancelled",
        "event",
        id.to_string(),
        a.customer_id,
        None,
    )
    .await?;
    record_event(
        &mut tx,
        a.customer_id,
        WebhookEventType::EventCancelled,
        webhook_data(&e),
    )
    .await?;
    tx.commit().await?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NewEventInput {
        let s = Utc::now();
        NewEventInput {
            event_type: Some(EventType::Training),
            title: "Intro".into(),
            description: None,
            starts_at: s,
            ends_at: s + chrono::Duration::hours(1),
            time_zone: "Europe/Paris".into(),
            location: None,
            join_url: Some("https://meet.example.com/x".into()),
            capacity: Some(10),
            speakers: vec!["Ann".into(), "Ann".into()],
            agenda: None,
        }
    }

    fn pointers(e: Error) -> Vec<String> {
        match e {
            Error::Validation(errs) => errs.into_iter().map(|e| e.pointer).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn parses_and_rejects() {
        let d = EventData::parse(input()).unwrap();
        assert_eq!(d.speakers, vec!["Ann".to_string()]);
        let mut bad = input();
        bad.ends_at = bad.starts_at;
        bad.time_zone = "Mars/Base".into();
        bad.join_url = None;
        bad.capacity = Some(0);
        assert_eq!(
            pointers(EventData::parse(bad).unwrap_err()),
            ["/time_zone", "/capacity", "/ends_at", "/location"]
        );
    }

    #[test]
    fn only_time_and_place_changes_move_an_event() {
        let d = EventData::parse(input()).unwrap();
        let retitled = EventPatch {
            title: Some("New".into()),
            ..Default::default()
        }
        .apply(&d)
        .unwrap();
        assert!(!retitled.moved(&d));
        let later = EventPatch {
            starts_at: Some(d.starts_at + chrono::Duration::minutes(30)),
            ..Default::default()
        }
        .apply(&d)
        .unwrap();
        assert!(later.moved(&d));
        let too_late = EventPatch {
            starts_at: Some(d.ends_at),
            ..Default::default()
        };
        let e = too_late.apply(&d).unwrap_err();
        let Error::Validation(errs) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(errs[0].pointer, "/starts_at");
        assert!(
            errs[0]
                .message
                .starts_with("ends_at must be after starts_at"),
            "{}",
            errs[0].message
        );
        let too_early = EventPatch {
            ends_at: Some(d.starts_at),
            ..Default::default()
        };
        let e = too_early.apply(&d).unwrap_err();
        let Error::Validation(errs) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(errs[0].pointer, "/ends_at");
        assert_eq!(errs[0].message, "ends_at must be after starts_at");
        let placeless = EventPatch {
            join_url: Some(None),
            ..Default::default()
        };
        assert_eq!(pointers(placeless.apply(&d).unwrap_err()), ["/location"]);
    }
}
