//! The process's worker registrations and heartbeats, and the rescue of
//! tasks held by workers that died (one task per process, for every kind).

use std::time::Duration;

use launchpad_domain::jobs::transport;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub struct Heartbeat {
    pub db: PgPool,
    /// `(apalis worker name, kind)` of every kind this process runs.
    pub workers: Vec<(String, String)>,
    pub every: Duration,
    /// How long a silent worker is considered alive.
    pub dead_after: Duration,
    /// Set once the workers are registered (fetched tasks name them).
    pub registered: watch::Sender<bool>,
}

impl Heartbeat {
    /// Beats until `stop`; then marks this process's workers as gone, so
    /// that tasks still held (an attempt cut short by the shutdown grace)
    /// are rescued by other processes at once instead of after the timeout.
    pub async fn run(self, stop: CancellationToken) {
        let names: Vec<String> = self.workers.iter().map(|(n, _)| n.clone()).collect();
        loop {
            let first = !*self.registered.borrow();
            match self.beat(first).await {
                Ok(rescued) => {
                    self.registered
                        .send_if_modified(|r| !std::mem::replace(r, true));
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
        let gone = async {
            let mut conn = self.db.acquire().await?;
            transport::retire(&mut conn, &names).await
        };
        if let Err(e) = gone.await {
            tracing::debug!(error = %e, "could not retire the workers");
        }
    }

    async fn beat(&self, first: bool) -> Result<u64, launchpad_domain::Error> {
        let mut conn = self.db.acquire().await?;
        // Registering again is the heartbeat: it also restores a worker row
        // another process pruned while this one was cut off.
        let restarted = transport::register(&mut conn, &self.workers, first).await?;
        Ok(restarted + transport::rescue_orphans(&mut conn, self.dead_after).await?)
    }
}
