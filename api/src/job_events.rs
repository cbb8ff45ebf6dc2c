//! Fan-out of job changes to SSE streams: one LISTEN connection per API
//! process, re-broadcast in process to every stream that watches a job.

use std::time::Duration;

use launchpad_domain::{ids::JobId, jobs::JOB_EVENTS_CHANNEL};
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::broadcast;

#[derive(Clone)]
pub struct JobEvents {
    tx: broadcast::Sender<JobId>,
}

impl JobEvents {
    /// Starts the listener task (it reconnects by itself after failures).
    pub fn start(db: PgPool) -> Self {
        let (tx, _) = broadcast::channel(4096);
        let sender = tx.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&db, &sender).await {
                    tracing::debug!(error = %e, "job events listener stopped; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Self { tx }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobId> {
        self.tx.subscribe()
    }
}

async fn listen(db: &PgPool, tx: &broadcast::Sender<JobId>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(db).await?;
    listener.listen(JOB_EVENTS_CHANNEL).await?;
    loop {
        let n = listener.recv().await?;
        for id in n.payload().split(',') {
            if let Ok(id) = id.parse::<JobId>() {
                // No receivers is fine: nobody is watching.
                let _ = tx.send(id);
            }
        }
    }
}
