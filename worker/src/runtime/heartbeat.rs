//! The process's registration and heartbeats, and the rescue of jobs held
//! by processes that died (one task per process, for every kind).

use std::time::Duration;

use launchpad_domain::jobs::{run::WorkerId, transport};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub struct Heartbeat {
    pub db: PgPool,
    /// This process's name (host and pid).
    pub name: String,
    /// Every kind this process runs.
    pub kinds: Vec<&'static str>,
    pub every: Duration,
    /// How long a silent process is considered alive.
    pub dead_after: Duration,
    /// The process's id once it is registered (the jobs it starts carry it).
    pub registered: watch::Sender<Option<WorkerId>>,
}

impl Heartbeat {
    /// Beats until `stop`; then marks this process as gone, so that jobs it
    /// still holds (an attempt cut short by the shutdown grace) are rescued
    /// by other processes at once instead of after the timeout.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let first = self.registered.borrow().is_none();
            match self.beat(first).await {
                Ok((id, rescued)) => {
                    self.registered
                        .send_if_modified(|r| r.replace(id) != Some(id));
                    if rescued > 0 {
                        tracing::info!(
                            rescued,
                            "re-enqueued jobs of workers that stopped heartbeating"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "worker heartbeat failed"),
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
        let Some(id) = *self.registered.borrow() else {
            return;
        };
        let gone = async {
            let mut conn = self.db.acquire().await?;
            transport::retire(&mut conn, id).await
        };
        if let Err(e) = gone.await {
            tracing::debug!(error = %e, "could not retire the worker");
        }
    }

    async fn beat(&self, first: bool) -> Result<(WorkerId, u64), launchpad_domain::Error> {
        let mut conn = self.db.acquire().await?;
        // Registering again is the heartbeat: it also restores a row another
        // process pruned while this one was cut off.
        let (id, restarted) =
            transport::register(&mut conn, &self.name, &self.kinds, first).await?;
        Ok((
            id,
            restarted + transport::rescue_orphans(&mut conn, self.dead_after).await?,
        ))
    }
}
