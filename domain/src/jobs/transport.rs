//! Worker processes: registrations, heartbeats, and the rescue of jobs held
//! by processes that died.
//!
//! A process registers once under its instance name (host and pid) with the
//! kinds it runs (`job_workers`) and gets the id it stamps on the jobs it
//! starts (`jobs.lock_by`). A process whose `last_seen` is older than the
//! orphan timeout is dead: its running jobs go back to the queue.

use std::time::Duration;

use sqlx::PgConnection;

use crate::error::Result;

/// A worker process's id (`job_workers.id`): the `lock_by` of the jobs it starts.
pub type WorkerId = i64;

/// Registers (or re-registers: the heartbeat) the process `name` running
/// `kinds`; returns its id and how many jobs were put back in line.
///
/// On a process's `first` registration, jobs still running under this name
/// belong to an earlier process that had the same name (a restarted
/// container keeps its host name and often its pid) and died: they go back
/// to the queue at once — their attempts stay counted.
pub async fn register(
    conn: &mut PgConnection,
    name: &str,
    kinds: &[&str],
    first: bool,
) -> Result<(WorkerId, u64)> {
    let id: WorkerId = sqlx::query_scalar(
        "INSERT INTO job_workers (name, kinds, last_seen) VALUES ($1, $2, now())
         ON CONFLICT (name) DO UPDATE SET kinds = EXCLUDED.kinds, last_seen = now(), rescued = false
         RETURNING id",
    )
    .bind(name)
    .bind(kinds)
    .fetch_one(&mut *conn)
    .await?;
    if !first {
        return Ok((id, 0));
    }
    let n = requeue_lost(conn, &[id]).await?;
    Ok((id, n))
}

/// Marks a process that stops as gone: the jobs it still holds are orphans
/// at once.
pub async fn retire(conn: &mut PgConnection, id: WorkerId) -> Result<()> {
    sqlx::query("UPDATE job_workers SET last_seen = 'epoch' WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Puts the running jobs of processes silent for `dead_for` back in line
/// (each dead process is looked at once). The attempt they were on stays
/// counted: the next start takes a new one, and a job whose attempts ran
/// out ends `failed` there instead of running again.
pub async fn rescue_orphans(conn: &mut PgConnection, dead_for: Duration) -> Result<u64> {
    let dead: Vec<WorkerId> = sqlx::query_scalar(
        "UPDATE job_workers SET rescued = true
         WHERE NOT rescued AND last_seen < now() - make_interval(secs => $1)
         RETURNING id",
    )
    .bind(dead_for.as_secs_f64())
    .fetch_all(&mut *conn)
    .await?;
    requeue_lost(conn, &dead).await
}

async fn requeue_lost(conn: &mut PgConnection, workers: &[WorkerId]) -> Result<u64> {
    if workers.is_empty() {
        return Ok(0);
    }
    // Back at the front of the line (`created_at` is before any place the
    // job had), so a rescued job does not wait behind a backlog again.
    let lost: Vec<(crate::ids::JobId, String)> = sqlx::query_as(
        "UPDATE jobs SET status = 'queued', run_at = created_at, updated_at = now()
         WHERE lock_by = ANY ($1) AND status = 'running'
         RETURNING id, kind",
    )
    .bind(workers)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<crate::ids::JobId> = lost.iter().map(|(id, _)| *id).collect();
    super::changes::notify_changed(conn, &ids).await?;
    let mut kinds: Vec<&str> = lost.iter().map(|(_, k)| k.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    super::wakeup::notify_in_tx(conn, &kinds).await?;
    Ok(ids.len() as u64)
}

/// How many worker processes run `kind`: this one (`own` is its name) and
/// the others heard from within `alive_within`.
pub async fn processes_running(
    conn: &mut PgConnection,
    kind: &str,
    own: &str,
    alive_within: Duration,
) -> Result<u32> {
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_workers
         WHERE $1 = ANY (kinds) AND name <> $2
           AND last_seen > now() - make_interval(secs => $3)",
    )
    .bind(kind)
    .bind(own)
    .bind(alive_within.as_secs_f64())
    .fetch_one(conn)
    .await?;
    Ok(u32::try_from(others).unwrap_or(u32::MAX - 1) + 1)
}

/// Forgets processes silent for `older_than` whose jobs were rescued.
pub async fn prune_workers(conn: &mut PgConnection, older_than: Duration) -> Result<u64> {
    let n = sqlx::query(
        "DELETE FROM job_workers w
         WHERE w.last_seen < now() - make_interval(secs => $1) AND w.rescued",
    )
    .bind(older_than.as_secs_f64())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n)
}
