//! Tells listening API processes which jobs changed (their SSE streams read
//! the rows back): one NOTIFY on [`JOB_EVENTS_CHANNEL`] per call, ids only.

use sqlx::PgConnection;

use crate::{error::Result, ids::JobId};

/// When job rows change, this channel carries their ids (comma separated).
pub const JOB_EVENTS_CHANNEL: &str = "launchpad_job_events";

/// Tells listening API processes that these jobs changed (one NOTIFY per
/// call, ids comma-separated and chunked under the payload limit).
pub async fn notify_changed(conn: &mut PgConnection, ids: &[JobId]) -> Result<()> {
    let mut chunk = String::new();
    for id in ids {
        if chunk.len() + 27 > 7900 {
            send_notify(conn, &chunk).await?;
            chunk.clear();
        }
        if !chunk.is_empty() {
            chunk.push(',');
        }
        chunk.push_str(&id.to_string());
    }
    if !chunk.is_empty() {
        send_notify(conn, &chunk).await?;
    }
    Ok(())
}

async fn send_notify(conn: &mut PgConnection, payload: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(JOB_EVENTS_CHANNEL)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}
