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

/// Applies apalis' schema and then ours. An explicit step (`launchpad-api
/// migrate`), never run implicitly by every replica.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    apalis_postgres::PostgresStorage::setup(pool)
        .await
        .map_err(|e| anyhow::anyhow!("apalis migrations: {e}"))?;
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| anyhow::anyhow!("migrations: {e}"))?;
    Ok(())
}

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
