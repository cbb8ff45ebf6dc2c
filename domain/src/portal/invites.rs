//! Calendar invitations for event registrants (iTIP over e-mail).
//!
//! Every change that registrants must hear about enqueues one
//! `event_invites` job in the change's transaction ([`enqueue`]): a
//! registration (an invitation to that person), an unregistration (a CANCEL
//! to that person), a change of time or place (an update to everyone), a
//! cancellation (a CANCEL to everyone), or a re-send. The job ([`plan`], run
//! by the worker) renders the message once from the event's state *when it
//! runs* (the recipient filled in when each is sent) and writes it to the
//! e-mail outbox with one row and one `email_send` job per recipient, in
//! one transaction.
//!
//! Jobs coalesce: while one is queued for the same event (or the same
//! event and person), another enqueue returns it, which is right because
//! the job sends the state it finds.

use crate::text_enum;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::Action,
    events::{self, Event, EventStatus},
};
use crate::{
    calendar::ics::{self, EventFacts, Method, Party},
    email::{
        self, Sender,
        outbox::{EmailStatus, IcsPart, LatestMessage, NewContent, NewEmail, Person},
        template::Vars,
        templates::{self, EmailTemplate},
    },
    error::{Error, Result},
    ids::{CustomerId, EventId, JobId, UserId},
    jobs::{EnqueueCtx, JobRecord, NewJob, enqueue_one},
    kinds::{EventInvites, EventInvitesPayload, InviteReason},
    tenancy::Caller,
    values::Email,
};

/// The outbox thread of an event's messages.
pub fn thread_key(event: EventId) -> String {
    format!("event:{event}")
}

/// Enqueues the fan-out for `event` in the caller's transaction: for one
/// person (`user`) or for every registrant.
pub async fn enqueue(
    conn: &mut PgConnection,
    customer_id: CustomerId,
    requested_by: Option<UserId>,
    event: EventId,
    reason: InviteReason,
    user: Option<UserId>,
) -> Result<JobRecord> {
    let ctx = EnqueueCtx {
        customer_id: Some(customer_id),
        requested_by,
        callback_url: None,
    };
    enqueue_with(conn, &ctx, event, reason, user).await
}

async fn enqueue_with(
    conn: &mut PgConnection,
    ctx: &EnqueueCtx,
    event: EventId,
    reason: InviteReason,
    user: Option<UserId>,
) -> Result<JobRecord> {
    let payload = EventInvitesPayload {
        event_id: event,
        reason,
        user_id: user,
    };
    let key = match user {
        Some(u) => format!("{event}:{u}"),
        None => event.to_string(),
    };
    enqueue_one(conn, NewJob::of::<EventInvites>(&payload, ctx).unique(key)).await
}

/// Registration accepts people whose address we can write to, and people
/// with no address at all (their invitation is recorded as skipped).
pub(crate) fn check_address(email: &str) -> Result<()> {
    if email.trim().is_empty() {
        return Ok(());
    }
    Email::parse(email).map(drop).map_err(|m| {
        Error::field(
            "/user_id",
            format!("the person's e-mail address is not valid ({m}); fix it first"),
        )
    })
}

/// The tenant of an event whose invitations the caller may re-send
/// (managers of its CoP); 404 outside the caller's scope.
pub async fn resend_tenant(db: &PgPool, caller: &Caller, event: EventId) -> Result<CustomerId> {
    let mut conn = db.acquire().await?;
    let (_, a) = events::load(&mut conn, caller, event, false).await?;
    a.require(Action::Manage)?;
    Ok(a.customer_id)
}

/// `POST /events/{id}/invites`: a re-send to every registrant (in the
/// caller's transaction), with an optional one-off `callback_url` (already
/// checked). When a fan-out of the event is already queued the re-send is
/// that job: the callback URL is attached to it unless it has another one
/// (409 `callback_url_conflict` then).
pub async fn enqueue_resend(
    conn: &mut PgConnection,
    caller: &Caller,
    event: EventId,
    callback_url: Option<String>,
) -> Result<JobRecord> {
    let (_, a) = events::load(conn, caller, event, false).await?;
    a.require(Action::Manage)?;
    let ctx = EnqueueCtx {
        customer_id: Some(a.customer_id),
        requested_by: Some(caller.user_id),
        callback_url: callback_url.clone(),
    };
    let mut job = enqueue_with(conn, &ctx, event, InviteReason::Resend, None).await?;
    let Some(url) = callback_url else {
        return Ok(job);
    };
    match job.callback_url.as_deref() {
        Some(existing) if existing == url => Ok(job),
        Some(_) => Err(Error::conflict(
            "callback_url_conflict",
            "a re-send of this event is already queued with another callback_url",
        )),
        None => {
            // Coalesced onto a queued fan-out without a callback: attach it.
            let attached = sqlx::query(
                "UPDATE jobs SET callback_url = $2, updated_at = now()
                 WHERE id = $1 AND callback_url IS NULL AND status IN ('queued', 'running')",
            )
            .bind(job.id)
            .bind(&url)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if attached == 0 {
                return Err(Error::conflict(
                    "callback_url_conflict",
                    "the queued re-send of this event finished meanwhile; try again",
                ));
            }
            job.callback_url = Some(url);
            Ok(job)
        }
    }
}

/// A recipient of an event's messages.
#[derive(Debug, Clone, FromRow)]
struct Recipient {
    user_id: UserId,
    email: String,
    name: String,
    registered: bool,
}

/// The messages of one fan-out run: one content, one row per recipient.
#[derive(Debug, Clone)]
pub struct Plan {
    pub method: Method,
    pub content: NewContent,
    pub emails: Vec<NewEmail>,
}

/// Renders the messages of an `event_invites` job (`job` is its id: a run
/// again writes nothing twice). `None` when there is nothing to send (the
/// event or the person is gone).
pub async fn plan(
    conn: &mut PgConnection,
    job: JobId,
    p: &EventInvitesPayload,
    sender: &Sender,
    now: DateTime<Utc>,
) -> Result<Option<Plan>> {
    let Some(event) = events::fetch(conn, p.event_id, false).await? else {
        return Ok(None);
    };
    let (cop_name, customer_id): (String, CustomerId) =
        sqlx::query_as("SELECT name, customer_id FROM cops WHERE id = $1")
            .bind(event.cop_id)
            .fetch_one(&mut *conn)
            .await?;
    let recipients: Vec<Recipient> = match p.user_id {
        Some(u) => sqlx::query_as(
            "SELECT u.id AS user_id, u.email, u.name,
                    EXISTS (SELECT 1 FROM event_registrations r WHERE r.event_id = $1 AND r.user_id = u.id) AS registered
             FROM users u WHERE u.id = $2",
        )
        .bind(event.id)
        .bind(u)
        .fetch_all(&mut *conn)
        .await?,
        None => sqlx::query_as(
            "SELECT u.id AS user_id, u.email, u.name, true AS registered
             FROM event_registrations r JOIN users u ON u.id = r.user_id
             WHERE r.event_id = $1 ORDER BY r.registered_at, r.user_id",
        )
        .bind(event.id)
        .fetch_all(&mut *conn)
        .await?,
    };
    if recipients.is_empty() {
        return Ok(None);
    }
    let (template, method) = choose(
        &event,
        p.reason,
        p.user_id.is_some() && !recipients[0].registered,
    );
    let facts = facts(&event);
    let organizer = Party {
        name: sender.name.as_deref(),
        email: sender.address.as_str(),
    };
    let mut vars = event_vars(&event, &cop_name, sender);
    vars.recipient_slot("recipient_name");
    let rendered = template
        .render(&vars)
        .map_err(|e| Error::Internal(anyhow::anyhow!("{}: {e}", template.name)))?;
    // Each recipient is added as ATTENDEE when their message is sent.
    let ics = ics::render(method, &facts, &organizer, None, now);
    let content = NewContent {
        customer_id: Some(customer_id),
        template: template.name,
        rendered,
        ics: Some(IcsPart {
            method,
            sequence: event.sequence,
            text: ics,
        }),
        list_id: None,
        attachment: None,
    };
    let people: Vec<(UserId, &str, &str)> = recipients
        .iter()
        .map(|r| (r.user_id, r.email.as_str(), r.name.as_str()))
        .collect();
    let emails = calendar_emails(job, &thread_key(event.id), &people, sender);
    Ok(Some(Plan {
        method,
        content,
        emails,
    }))
}

/// One outbox row per recipient `(user, address, name)` of a calendar
/// message in `thread`, deduplicated per job and person (a run again
/// writes nothing twice); unusable addresses are recorded as skipped.
pub(crate) fn calendar_emails(
    job: JobId,
    thread: &str,
    recipients: &[(UserId, &str, &str)],
    sender: &Sender,
) -> Vec<NewEmail> {
    recipients
        .iter()
        .map(|(user_id, address, name)| NewEmail {
            thread_key: Some(thread.to_string()),
            ..NewEmail::to_person(Person {
                user_id: *user_id,
                address,
                name,
                dedupe_key: format!("{job}:{user_id}"),
                sender,
            })
        })
        .collect()
}

/// What to send: follows the event's state, the reason only picks words.
fn choose(
    event: &Event,
    reason: InviteReason,
    no_longer_registered: bool,
) -> (EmailTemplate, Method) {
    if event.status == EventStatus::Cancelled {
        (templates::EVENT_CANCELLED, Method::Cancel)
    } else if no_longer_registered {
        (templates::EVENT_UNREGISTERED, Method::Cancel)
    } else if reason == InviteReason::Updated {
        (templates::EVENT_UPDATE, Method::Request)
    } else {
        (templates::EVENT_INVITE, Method::Request)
    }
}

fn facts(e: &Event) -> EventFacts<'_> {
    EventFacts {
        uid: &e.uid,
        sequence: e.sequence.max(0) as u32,
        title: &e.title,
        description: e.description.as_deref(),
        location: e.location.as_deref(),
        join_url: e.join_url.as_deref(),
        starts_at: e.starts_at,
        ends_at: e.ends_at,
    }
}

/// The template variables shared by every recipient.
fn event_vars(e: &Event, cop_name: &str, sender: &Sender) -> Vars {
    let (when, when_short) = when(e.starts_at, e.ends_at, &e.time_zone);
    let mut v = Vars::new();
    v.set("title", email::header_text(&e.title, 200))
        .set("cop_name", cop_name)
        .set("when", when)
        .set("when_short", when_short)
        .set_opt("location", e.location.as_deref())
        .set_opt("join_url", e.join_url.as_deref())
        .set_opt("description", e.description.as_deref())
        .set("organizer_name", sender.display_name())
        .set("recipient_name", "");
    v
}

/// The event's time in its own zone: a long form for bodies, a short one
/// for subjects.
pub fn when_text(starts: DateTime<Utc>, ends: DateTime<Utc>, zone: &str) -> (String, String) {
    when(starts, ends, zone)
}

fn when(starts: DateTime<Utc>, ends: DateTime<Utc>, zone: &str) -> (String, String) {
    let tz: Tz = zone.parse().unwrap_or(Tz::UTC);
    let (s, e) = (starts.with_timezone(&tz), ends.with_timezone(&tz));
    let long = if s.date_naive() == e.date_naive() {
        format!(
            "{}, {}–{} ({})",
            s.format("%A %-d %B %Y"),
            s.format("%H:%M"),
            e.format("%H:%M"),
            tz.name()
        )
    } else {
        format!(
            "{} – {} ({})",
            s.format("%A %-d %B %Y, %H:%M"),
            e.format("%A %-d %B %Y, %H:%M"),
            tz.name()
        )
    };
    let short = format!("{} ({})", s.format("%a %-d %b %Y, %H:%M"), tz.name());
    (long, short)
}

/// `GET /events/{id}/invite.ics`: the event for the caller — a `REQUEST`
/// naming them as attendee when registered, a `CANCEL` when the event is
/// cancelled, else a `PUBLISH` without attendees.
pub async fn ics_for_caller(
    db: &PgPool,
    caller: &Caller,
    event: EventId,
    sender: &Sender,
) -> Result<String> {
    let mut conn = db.acquire().await?;
    let (e, a) = events::load(&mut conn, caller, event, false).await?;
    a.require(Action::Read)?;
    let me: Option<(String, String)> = sqlx::query_as(
        "SELECT u.email, u.name FROM event_registrations r JOIN users u ON u.id = r.user_id
         WHERE r.event_id = $1 AND r.user_id = $2",
    )
    .bind(event)
    .bind(caller.user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let method = match (e.status, &me) {
        (EventStatus::Cancelled, _) => Method::Cancel,
        (EventStatus::Scheduled, Some(_)) => Method::Request,
        (EventStatus::Scheduled, None) => Method::Publish,
    };
    let name = me.as_ref().map(|(_, n)| email::header_text(n, 200));
    let attendee = me.as_ref().map(|(addr, _)| Party {
        name: name.as_deref().filter(|n| !n.is_empty()),
        email: addr.trim(),
    });
    let organizer = Party {
        name: sender.name.as_deref(),
        email: sender.address.as_str(),
    };
    Ok(ics::render(
        method,
        &facts(&e),
        &organizer,
        attendee.as_ref(),
        Utc::now(),
    ))
}

text_enum! {
    /// Where a registrant's latest invitation stands.
    pub enum InviteState {
        /// Queued, being sent, or waiting to retry.
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
        /// Not sent on purpose (suppressed or missing address).
        Suppressed = "suppressed",
    }
}

/// A registrant's latest invitation (REQUEST or CANCEL).
#[derive(Debug, Clone)]
pub struct InviteStatus {
    pub state: InviteState,
    pub method: Option<String>,
    /// The server's last reply, or why it was not sent.
    pub detail: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<LatestMessage> for InviteStatus {
    fn from(m: LatestMessage) -> Self {
        let state = match m.status {
            EmailStatus::Pending | EmailStatus::Sending => InviteState::Pending,
            EmailStatus::Sent => InviteState::Sent,
            EmailStatus::Failed => InviteState::Failed,
            EmailStatus::Suppressed => InviteState::Suppressed,
        };
        let detail = match m.skip_reason {
            Some(r) => Some(r.as_str().to_string()),
            None => m.smtp_response,
        };
        Self {
            state,
            method: m.ics_method,
            detail,
            attempts: m.attempts,
            created_at: m.created_at,
            updated_at: m.updated_at,
            sent_at: m.sent_at,
        }
    }
}

/// The registrant's latest calendar message about the event (invitation,
/// update or cancellation) and where its delivery stands; absent until the
/// first one is written (shortly after registering).
#[derive(poem_openapi::Object)]
pub struct InviteView {
    pub state: InviteState,
    /// The iTIP method: `REQUEST` (invitation or update) or `CANCEL`.
    #[oai(skip_serializing_if_is_none)]
    pub method: Option<String>,
    /// The SMTP server's last reply, or why the message was not sent
    /// (`address_suppressed`, `no_address`, `invalid_address`, `superseded`).
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// SMTP transactions started for it.
    pub attempts: i32,
    /// When the message was written.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<InviteStatus> for InviteView {
    fn from(i: InviteStatus) -> Self {
        Self {
            state: i.state,
            method: i.method,
            detail: i.detail,
            attempts: i.attempts,
            created_at: i.created_at,
            updated_at: i.updated_at,
            sent_at: i.sent_at,
        }
    }
}

/// The latest invitation of each of `users` for `event`. Call after the
/// caller's access to the event was checked (e.g. by listing registrations).
pub async fn latest_for(
    db: &PgPool,
    event: EventId,
    users: &[UserId],
) -> Result<HashMap<UserId, InviteStatus>> {
    let mut conn = db.acquire().await?;
    let rows = email::outbox::latest_per_user(&mut conn, &thread_key(event), users).await?;
    Ok(rows
        .into_iter()
        .map(|m| (m.user_id, InviteStatus::from(m)))
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_in_the_events_zone() {
        let s = Utc.with_ymd_and_hms(2026, 12, 3, 15, 0, 0).unwrap();
        let (long, short) = when(s, s + chrono::Duration::hours(1), "Europe/Paris");
        assert_eq!(long, "Thursday 3 December 2026, 16:00–17:00 (Europe/Paris)");
        assert_eq!(short, "Thu 3 Dec 2026, 16:00 (Europe/Paris)");
        let (long, _) = when(s, s + chrono::Duration::days(1), "UTC");
        assert_eq!(
            long,
            "Thursday 3 December 2026, 15:00 – Friday 4 December 2026, 15:00 (UTC)"
        );
    }

    #[test]
    fn addresses_at_registration() {
        assert!(check_address("ann@example.com").is_ok());
        assert!(
            check_address("  ").is_ok(),
            "no address: registered, invitation skipped"
        );
        assert!(check_address("not an address").is_err());
    }
}
