//! The daily assignment notices: `assignment_due_soon` for assignments due
//! within 3 days and `assignment_overdue` for those past due, not
//! completed; each once per assignment and due date (`assignment_notices`,
//! claimed in the transaction that records the notifications).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};

use super::{NewNotification, NotificationType, record_many};
use crate::{
    error::Result,
    ids::{AssignmentId, CustomerId, UserId},
    kinds::AssignmentRemindersOutput,
};

#[derive(FromRow)]
struct Due {
    id: AssignmentId,
    customer_id: CustomerId,
    user_id: UserId,
    due_at: DateTime<Utc>,
    what: String,
    #[sqlx(rename = "type")]
    notification_type: String,
}

/// Records the notices due now, in the caller's transaction.
pub async fn run(conn: &mut PgConnection) -> Result<AssignmentRemindersOutput> {
    let due: Vec<Due> = sqlx::query_as(
        "WITH due AS (
             SELECT a.id, a.customer_id, a.user_id, a.due_at, coalesce(c.title, p.title, 'an assignment') AS what,
                    CASE WHEN a.due_at < now() THEN 'assignment_overdue' ELSE 'assignment_due_soon' END AS type
             FROM assignment_states a
             LEFT JOIN courses c ON c.id = a.course_id
             LEFT JOIN learning_paths p ON p.id = a.path_id
             WHERE a.completed_at IS NULL
               AND a.due_at < now() + interval '3 days' AND a.due_at > now() - interval '30 days'
         ), claimed AS (
             INSERT INTO assignment_notices (assignment_id, type, due_at)
             SELECT id, type, due_at FROM due
             ON CONFLICT DO NOTHING
             RETURNING assignment_id, type
         )
         SELECT due.* FROM due JOIN claimed ON claimed.assignment_id = due.id AND claimed.type = due.type",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = AssignmentRemindersOutput::default();
    let mut notices = Vec::with_capacity(due.len());
    for d in due {
        let when = d.due_at.format("%Y-%m-%d %H:%M UTC");
        let n = if d.notification_type == NotificationType::AssignmentOverdue.as_str() {
            out.overdue += 1;
            NewNotification::new(
                Some(d.customer_id),
                NotificationType::AssignmentOverdue,
                format!("Overdue: {}", d.what),
                format!("Your assignment “{}” was due {when}.", d.what),
            )
        } else {
            out.due_soon += 1;
            NewNotification::new(
                Some(d.customer_id),
                NotificationType::AssignmentDueSoon,
                format!("Due soon: {}", d.what),
                format!("Your assignment “{}” is due {when}.", d.what),
            )
        };
        notices.push(
            n.link(format!("/api/v1/assignments/{}", d.id))
                .to_users([d.user_id]),
        );
    }
    record_many(conn, notices).await?;
    Ok(out)
}
