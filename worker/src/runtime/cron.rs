//! Periodic jobs from cron expressions, exactly once per tick however many
//! worker processes run: each tick is claimed with a row in `cron_ticks`
//! (primary key (kind, tick)) in the transaction that enqueues its job.

use std::{str::FromStr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use launchpad_domain::jobs::{self, JobRecord, NewJob, enqueue};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// Enqueues the jobs of one tick on the claiming transaction.
type EnqueueTick = Box<
    dyn for<'c> Fn(
            &'c mut PgConnection,
            DateTime<Utc>,
        ) -> BoxFuture<'c, launchpad_domain::Result<Vec<JobRecord>>>
        + Send
        + Sync,
>;

/// A periodic kind: its schedule and what a tick enqueues.
pub struct CronEntry {
    pub kind: &'static str,
    pub schedule: cron::Schedule,
    enqueue: EnqueueTick,
}

impl CronEntry {
    /// A tick enqueues the jobs `make` builds.
    pub fn new(
        kind: &'static str,
        expr: &str,
        make: impl Fn(DateTime<Utc>) -> Vec<NewJob> + Send + Sync + 'static,
    ) -> Result<Self, String> {
        let make = Arc::new(make);
        Self::enqueuing(kind, expr, move |conn, tick| {
            let jobs = make(tick);
            Box::pin(enqueue(conn, jobs))
        })
    }

    /// A tick runs `f` on the transaction that claims it: for ticks whose
    /// jobs depend on the data (e.g. one per active CoP) or are coalesced.
    pub fn enqueuing(
        kind: &'static str,
        expr: &str,
        f: impl for<'c> Fn(
            &'c mut PgConnection,
            DateTime<Utc>,
        ) -> BoxFuture<'c, launchpad_domain::Result<Vec<JobRecord>>>
        + Send
        + Sync
        + 'static,
    ) -> Result<Self, String> {
        let schedule = cron::Schedule::from_str(expr)
            .map_err(|e| format!("cron expression {expr:?} for {kind}: {e}"))?;
        Ok(Self {
            kind,
            schedule,
            enqueue: Box::new(f),
        })
    }
}

/// Claims `tick` for `kind` and enqueues its jobs, atomically. Returns
/// whether this process won the tick.
pub async fn fire(
    db: &PgPool,
    entry: &CronEntry,
    tick: DateTime<Utc>,
) -> launchpad_domain::Result<bool> {
    let mut tx = db.begin().await?;
    if !jobs::cron::claim(&mut tx, entry.kind, tick).await? {
        return Ok(false);
    }
    let records = (entry.enqueue)(&mut tx, tick).await?;
    if let Some(first) = records.first() {
        jobs::cron::record_job(&mut tx, entry.kind, tick, first.id).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Runs one schedule until `stop` is cancelled.
pub async fn run(db: PgPool, entry: CronEntry, stop: CancellationToken) {
    loop {
        let Some(next) = entry.schedule.upcoming(Utc).next() else {
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        // A few tries: a tick lost to a database hiccup is a missed nightly job.
        for attempt in 0..5u32 {
            match fire(&db, &entry, next).await {
                Ok(won) => {
                    if won {
                        tracing::info!(kind = entry.kind, tick = %next, "cron tick fired");
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(kind = entry.kind, tick = %next, error = %e, attempt, "cron tick failed");
                    tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
                }
            }
        }
    }
}
