//! Cron ticks: each (kind, tick) is claimed once across all worker
//! processes (`cron_ticks`, primary key (kind, tick)), in the transaction
//! that enqueues the tick's jobs.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::{error::Result, ids::JobId};

/// Claims `tick` of `kind`; false when another process already did.
pub async fn claim(conn: &mut PgConnection, kind: &str, tick: DateTime<Utc>) -> Result<bool> {
    let won =
        sqlx::query("INSERT INTO cron_ticks (kind, tick) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(kind)
            .bind(tick)
            .execute(conn)
            .await?
            .rows_affected()
            == 1;
    Ok(won)
}

/// Records the (first) job a claimed tick enqueued.
pub async fn record_job(
    conn: &mut PgConnection,
    kind: &str,
    tick: DateTime<Utc>,
    job: JobId,
) -> Result<()> {
    sqlx::query("UPDATE cron_ticks SET job_id = $3 WHERE kind = $1 AND tick = $2")
        .bind(kind)
        .bind(tick)
        .bind(job)
        .execute(conn)
        .await?;
    Ok(())
}
