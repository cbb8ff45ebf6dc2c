//! Database connection and migrations.

use std::time::Duration;

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::error::Result;

/// The application's migrations (`migrations/` at the repository root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Commit without waiting for the WAL flush (`synchronous_commit=off`).
    /// Only for writes that are safe to lose in a Postgres crash, such as
    /// the worker's job bookkeeping: a lost transition means the job runs
    /// again (delivery stays at-least-once), never that work is lost.
    pub async_commit: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            async_commit: false,
        }
    }
}

/// A lazily connecting pool: the process starts even while Postgres is down
/// (`/ready` reports it, requests answer 503).
pub fn connect_lazy(url: &str, s: &PoolSettings) -> Result<PgPool> {
    let mut options: PgConnectOptions = url.parse().map_err(anyhow::Error::new)?;
    if s.async_commit {
        options = options.options([("synchronous_commit", "off")]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(s.max_connections)
        .acquire_timeout(s.acquire_timeout)
        .connect_lazy_with(options);
    Ok(pool)
}

/// Applies our migrations. An explicit step (`launchpad-api migrate`),
/// never run implicitly by every replica.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    legacy_transport_schema(pool).await?;
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| anyhow::anyhow!("migrations: {e}"))?;
    Ok(())
}

/// The migration that made the `jobs` row the only job storage (and
/// dropped apalis-postgres' schema).
pub const ONE_ROW_JOBS_MIGRATION: i64 = 20261207150000;

/// Migrations written before [`ONE_ROW_JOBS_MIGRATION`] tuned the
/// `apalis.jobs` table that apalis-postgres used to create before ours ran.
/// A database that has not reached that migration (a fresh one, or one of
/// an older version) gets the table's shape if it lacks it, so those
/// migrations apply unchanged; the one-row migration moves what it holds
/// into `jobs` and drops it.
async fn legacy_transport_schema(pool: &PgPool) -> Result<()> {
    let has_log: bool =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await?;
    if has_log {
        let done: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM _sqlx_migrations WHERE version = $1 AND success)",
        )
        .bind(ONE_ROW_JOBS_MIGRATION)
        .fetch_one(pool)
        .await?;
        if done {
            return Ok(());
        }
    }
    sqlx::raw_sql(LEGACY_TRANSPORT_SQL).execute(pool).await?;
    Ok(())
}

/// apalis-postgres 1.0's `apalis.jobs` and `apalis.workers`, as far as the
/// old migrations and the one-row migration read them.
pub const LEGACY_TRANSPORT_SQL: &str = "
    CREATE SCHEMA IF NOT EXISTS apalis;
    CREATE TABLE IF NOT EXISTS apalis.workers (
        id text PRIMARY KEY, worker_type text NOT NULL, storage_name text NOT NULL,
        layers text NOT NULL DEFAULT '', last_seen timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz);
    CREATE TABLE IF NOT EXISTS apalis.jobs (
        job bytea NOT NULL, id text PRIMARY KEY, job_type text NOT NULL,
        status text NOT NULL DEFAULT 'Pending', attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL DEFAULT 25, run_at timestamptz NOT NULL DEFAULT now(),
        last_result jsonb, lock_at timestamptz, lock_by text REFERENCES apalis.workers(id),
        done_at timestamptz, priority integer NOT NULL DEFAULT 0, idempotency_key text,
        metadata jsonb);
";

/// Whether every migration we know is applied (for `/ready`).
pub async fn migrations_current(pool: &PgPool) -> Result<bool> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.contains(&m.version)))
}
