//! Calendar invitations for coaching sessions (iTIP over e-mail), through
//! the same calendar rendering and e-mail outbox as CoP events.
//!
//! Scheduling, moving and cancelling a session enqueue one
//! `coaching_invites` job in the change's transaction ([`enqueue`]); the
//! job ([`plan`]) renders the message from the session's state *when it
//! runs* — a REQUEST while the session is scheduled or under way, a CANCEL
//! once it is cancelled or closed as a no-show — with the session's stable
//! UID and its SEQUENCE, and writes one outbox row per person (the agent
//! and the team leader).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};

use super::{CoachingSessionId, sessions::SessionStatus};
use crate::{
    calendar::ics::{self, EventFacts, Method, Party},
    email::{
        self, Sender,
        outbox::{IcsPart, NewContent},
        template::Vars,
        templates,
    },
    error::{Error, Result},
    ids::{CustomerId, JobId, UserId},
    jobs::{EnqueueCtx, JobRecord, NewJob, enqueue_one},
    kinds::{CoachingInvites, CoachingInvitesPayload, SessionInviteReason},
    portal::invites::{Plan, calendar_emails, when_text},
};

/// The outbox thread of a session's messages.
pub fn thread_key(session: CoachingSessionId) -> String {
    format!("coaching_session:{session}")
}

/// Enqueues the session's calendar messages in the caller's transaction
/// (coalesced: a job already queued for the session sends the latest state).
pub async fn enqueue(
    conn: &mut PgConnection,
    customer_id: CustomerId,
    requested_by: Option<UserId>,
    session: CoachingSessionId,
    reason: SessionInviteReason,
) -> Result<JobRecord> {
    let ctx = EnqueueCtx {
        customer_id: Some(customer_id),
        requested_by,
        callback_url: None,
    };
    let payload = CoachingInvitesPayload {
        session_id: session,
        reason,
    };
    enqueue_one(
        conn,
        NewJob::of::<CoachingInvites>(&payload, &ctx).unique(session.to_string()),
    )
    .await
}

#[derive(Debug, FromRow)]
struct Facts {
    customer_id: CustomerId,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    time_zone: String,
    location: Option<String>,
    join_url: Option<String>,
    focus_areas: Vec<String>,
    status: SessionStatus,
    uid: String,
    sequence: i32,
    agent_id: UserId,
    agent_email: String,
    agent_name: String,
    team_leader_id: Option<UserId>,
    team_leader_email: Option<String>,
    team_leader_name: Option<String>,
}

/// Renders the messages of a `coaching_invites` job; `None` when the
/// session is gone or completed (nothing for calendars to learn).
pub async fn plan(
    conn: &mut PgConnection,
    job: JobId,
    p: &CoachingInvitesPayload,
    sender: &Sender,
    now: DateTime<Utc>,
) -> Result<Option<Plan>> {
    let f: Option<Facts> = sqlx::query_as(
        "SELECT s.customer_id, s.starts_at, s.ends_at, s.time_zone, s.location, s.join_url,
                s.focus_areas, s.status, s.uid, s.sequence,
                s.agent_id, a.email AS agent_email, a.name AS agent_name,
                s.team_leader_id, t.email AS team_leader_email, t.name AS team_leader_name
         FROM coaching_sessions s
         JOIN users a ON a.id = s.agent_id
         LEFT JOIN users t ON t.id = s.team_leader_id
         WHERE s.id = $1",
    )
    .bind(p.session_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(f) = f else { return Ok(None) };
    let (template, method) = match f.status {
        SessionStatus::Completed => return Ok(None),
        SessionStatus::Cancelled | SessionStatus::NoShow => {
            (templates::EVENT_CANCELLED, Method::Cancel)
        }
        SessionStatus::Scheduled | SessionStatus::InProgress => match p.reason {
            SessionInviteReason::Scheduled => (templates::EVENT_INVITE, Method::Request),
            _ => (templates::EVENT_UPDATE, Method::Request),
        },
    };
    let leader = f.team_leader_name.as_deref().unwrap_or("your team leader");
    let title = format!("Coaching: {} with {}", f.agent_name, leader);
    let description =
        (!f.focus_areas.is_empty()).then(|| format!("Focus areas: {}", f.focus_areas.join(", ")));
    let (when, when_short) = when_text(f.starts_at, f.ends_at, &f.time_zone);
    let mut vars = Vars::new();
    vars.set("title", email::header_text(&title, 200))
        .set("cop_name", "")
        .set("when", when)
        .set("when_short", when_short)
        .set_opt("location", f.location.as_deref())
        .set_opt("join_url", f.join_url.as_deref())
        .set_opt("description", description.as_deref())
        .set("organizer_name", sender.display_name())
        .set("recipient_name", "");
    vars.recipient_slot("recipient_name");
    let rendered = template
        .render(&vars)
        .map_err(|e| Error::Internal(anyhow::anyhow!("{}: {e}", template.name)))?;
    let facts = EventFacts {
        uid: &f.uid,
        sequence: f.sequence.max(0) as u32,
        title: &title,
        description: description.as_deref(),
        location: f.location.as_deref(),
        join_url: f.join_url.as_deref(),
        starts_at: f.starts_at,
        ends_at: f.ends_at,
    };
    let organizer = Party {
        name: sender.name.as_deref(),
        email: sender.address.as_str(),
    };
    // Each recipient is added as ATTENDEE when their message is sent.
    let text = ics::render(method, &facts, &organizer, None, now);
    let content = NewContent {
        customer_id: Some(f.customer_id),
        template: template.name,
        rendered,
        ics: Some(IcsPart {
            method,
            sequence: f.sequence,
            text,
        }),
        list_id: None,
        attachment: None,
    };
    let mut people = vec![(f.agent_id, f.agent_email.as_str(), f.agent_name.as_str())];
    if let (Some(id), Some(e), Some(n)) = (
        f.team_leader_id,
        f.team_leader_email.as_deref(),
        f.team_leader_name.as_deref(),
    ) {
        people.push((id, e, n));
    }
    let emails = calendar_emails(job, &thread_key(p.session_id), &people, sender);
    Ok(Some(Plan {
        method,
        content,
        emails,
    }))
}
