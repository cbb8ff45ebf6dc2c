//! Wake-ups for idle workers: one LISTEN connection per process for every
//! kind, fanned out to each kind's feeder.
//!
//! A kind's wake-up is a [`Notify`] permit: a notification that arrives
//! while the feeder is busy fetching is kept and makes it fetch again right
//! after, so none is lost.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use launchpad_domain::jobs::wakeup::CHANNEL;

#[derive(Clone, Default)]
pub struct Wakeups {
    kinds: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl Wakeups {
    /// Starts the listener; it reconnects by itself until `stop`.
    pub fn start(db: PgPool, stop: CancellationToken) -> Self {
        let w = Self::default();
        let me = w.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    r = me.listen(&db) => if let Err(e) = r {
                        tracing::debug!(error = %e, "wake-up listener stopped; reconnecting");
                    }
                }
                // Wake everyone: inserts may have been missed while disconnected.
                me.wake_all();
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        });
        w
    }

    async fn listen(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(db).await?;
        listener.listen(CHANNEL).await?;
        // Tasks inserted before the LISTEN took effect got no wake-up here.
        self.wake_all();
        loop {
            let n = listener.recv().await?;
            if let Some(k) = self.get(n.payload()) {
                k.notify_one();
            }
        }
    }

    fn get(&self, kind: &str) -> Option<Arc<Notify>> {
        self.kinds.lock().ok()?.get(kind).cloned()
    }

    fn wake_all(&self) {
        if let Ok(m) = self.kinds.lock() {
            for n in m.values() {
                n.notify_one();
            }
        }
    }

    /// The wake-up of one kind (shared by everything that feeds that kind).
    pub fn kind(&self, kind: &str) -> Arc<Notify> {
        self.kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(kind.to_string())
            .or_default()
            .clone()
    }
}
