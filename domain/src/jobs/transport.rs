//! The worker processes' side of apalis' schema: registering workers,
//! heartbeats, and rescuing the tasks of workers that died.
//!
//! apalis-postgres' own queries do this per queue and per apalis worker;
//! these do it for every kind of a process in one statement each. Worker
//! rows are apalis' (`apalis.workers`): a task's `lock_by` names the worker
//! holding it, and a worker whose `last_seen` is older than the orphan
//! timeout is dead.

use std::time::Duration;

use sqlx::PgConnection;

use crate::error::Result;

/// What `apalis.workers.storage_name` says for Launchpad's workers.
const STORAGE: &str = "LaunchpadQueue";

/// Registers (or re-registers) the workers of one process: `(worker name,
/// kind)` pairs. On a process's `first` registration, tasks still held
/// under these names belong to an earlier process that had the same name
/// (a restarted container keeps its host name and often its pid) and died:
/// they go back to the queue at once — their attempts stay counted.
pub async fn register(
    conn: &mut PgConnection,
    workers: &[(String, String)],
    first: bool,
) -> Result<u64> {
    let (names, kinds): (Vec<&str>, Vec<&str>) = workers
        .iter()
        .map(|(n, k)| (n.as_str(), k.as_str()))
        .unzip();
    sqlx::query(
        "INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen)
         SELECT w.id, w.kind, $3, '', now() FROM unnest($1::text[], $2::text[]) AS w(id, kind)
         ON CONFLICT (id) DO UPDATE SET worker_type = EXCLUDED.worker_type,
             storage_name = EXCLUDED.storage_name, last_seen = now()",
    )
    .bind(&names)
    .bind(&kinds)
    .bind(STORAGE)
    .execute(&mut *conn)
    .await?;
    if !first {
        return Ok(0);
    }
    let n = sqlx::query(
        "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL,
             last_result = '{\"Err\": \"Re-enqueued: its worker restarted.\"}'
         WHERE lock_by = ANY ($1) AND (status = 'Running' OR status = 'Queued')",
    )
    .bind(&names)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n)
}

/// Marks the workers of a process that stops as gone: the tasks they still
/// hold are orphans at once.
pub async fn retire(conn: &mut PgConnection, names: &[String]) -> Result<()> {
    sqlx::query("UPDATE apalis.workers SET last_seen = 'epoch' WHERE id = ANY ($1)")
        .bind(names)
        .execute(conn)
        .await?;
    Ok(())
}

/// Puts the tasks held by workers silent for `dead_for` back in the queue
/// (apalis' orphan rescue, for every kind). The attempt they were on stays
/// counted on the job row: the next start takes a new one, and a job whose
/// attempts ran out ends `failed` there instead of running again.
pub async fn rescue_orphans(conn: &mut PgConnection, dead_for: Duration) -> Result<u64> {
    let n = sqlx::query(
        "WITH stale AS (
             SELECT j.id FROM apalis.jobs j JOIN apalis.workers w ON j.lock_by = w.id
             WHERE (j.status = 'Running' OR j.status = 'Queued')
               AND w.last_seen < now() - make_interval(secs => $1)
             FOR UPDATE OF j SKIP LOCKED
         )
         UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, done_at = NULL,
             last_result = '{\"Err\": \"Re-enqueued due to worker heartbeat timeout.\"}'
         FROM stale WHERE apalis.jobs.id = stale.id",
    )
    .bind(dead_for.as_secs_f64())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n)
}

/// How many worker processes run `kind`: this one (`own` is its worker of
/// that kind) and the others heard from within `alive_within`.
pub async fn processes_running(
    conn: &mut PgConnection,
    kind: &str,
    own: &str,
    alive_within: Duration,
) -> Result<u32> {
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM apalis.workers
         WHERE worker_type = $1 AND storage_name = $2 AND id <> $3
           AND last_seen > now() - make_interval(secs => $4)",
    )
    .bind(kind)
    .bind(STORAGE)
    .bind(own)
    .bind(alive_within.as_secs_f64())
    .fetch_one(conn)
    .await?;
    Ok(u32::try_from(others).unwrap_or(u32::MAX - 1) + 1)
}

/// Forgets workers silent for `older_than` that hold no task.
pub async fn prune_workers(conn: &mut PgConnection, older_than: Duration) -> Result<u64> {
    let n = sqlx::query(
        "DELETE FROM apalis.workers w
         WHERE w.last_seen < now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM apalis.jobs j WHERE j.lock_by = w.id)",
    )
    .bind(older_than.as_secs_f64())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n)
}
