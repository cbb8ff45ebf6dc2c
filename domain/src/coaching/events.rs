//! What follows a change of a session, in the change's transaction: the
//! calendar messages to the agent and the team leader, and the webhook
//! events (whose `data` never carries notes or scores: what is written
//! about people does not leave the system through webhooks).

use sqlx::PgConnection;

use super::{
    invites,
    sessions::{CoachingSessionView, Session},
};
use crate::{
    error::Result,
    kinds::SessionInviteReason,
    tenancy::Caller,
    webhooks::{WebhookData, WebhookEventType, record_event},
};

/// The webhook `data` of a session: as `GET /coaching/sessions/{id}`
/// shows it, less the notes and scores.
pub fn webhook_data(s: &Session) -> WebhookData {
    let mut bare = s.clone();
    bare.notes = None;
    bare.scores = None;
    WebhookData::of_view(
        &CoachingSessionView::from(bare),
        s.id,
        format!("/api/v1/coaching/sessions/{}", s.id),
    )
}

/// How a session changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionChange {
    Scheduled,
    /// Its time or place changed (or it closed as a no-show).
    Rescheduled,
    /// Anything else (preparation notes, focus areas, notes, scores, recording).
    Updated,
    Completed,
    Cancelled,
}

pub(crate) async fn session_changed(
    conn: &mut PgConnection,
    s: &Session,
    change: SessionChange,
    caller: &Caller,
) -> Result<()> {
    let reason = match change {
        SessionChange::Scheduled => Some(SessionInviteReason::Scheduled),
        SessionChange::Rescheduled => Some(if s.status.is_open() {
            SessionInviteReason::Updated
        } else {
            SessionInviteReason::Cancelled
        }),
        SessionChange::Cancelled => Some(SessionInviteReason::Cancelled),
        SessionChange::Updated | SessionChange::Completed => None,
    };
    if let Some(reason) = reason {
        invites::enqueue(conn, s.customer_id, Some(caller.user_id), s.id, reason).await?;
    }
    let event = match change {
        SessionChange::Scheduled | SessionChange::Rescheduled if s.status.is_open() => {
            Some(WebhookEventType::CoachingSessionScheduled)
        }
        SessionChange::Completed => Some(WebhookEventType::CoachingSessionCompleted),
        SessionChange::Cancelled => Some(WebhookEventType::CoachingSessionCancelled),
        _ => None,
    };
    if let Some(event) = event {
        record_event(conn, s.customer_id, event, webhook_data(s)).await?;
    }
    Ok(())
}
