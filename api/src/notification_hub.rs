//! Fan-out of inbox changes to the notification streams: one LISTEN
//! connection per API process on `notifications::CHANNEL`, whose payloads
//! carry ids only. A fan-out's `s:<source>` is resolved to its recipients
//! once per process (one query); `u:<user>,…` names them directly. Each
//! open stream of a person is woken; it reads what changed from the
//! database itself.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use launchpad_domain::{
    ids::UserId,
    notifications::{CHANNEL, inbox},
};
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct NotificationHub {
    streams: Arc<Mutex<HashMap<UserId, Vec<Weak<Notify>>>>>,
}

impl NotificationHub {
    /// Starts the listener task (it reconnects by itself after failures,
    /// waking every stream so that none misses what happened meanwhile).
    pub fn start(db: PgPool) -> Self {
        let hub = Self::default();
        let h = hub.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = h.listen(&db).await {
                    tracing::debug!(error = %e, "notifications listener stopped; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                h.wake_all();
            }
        });
        hub
    }

    /// A wake-up for one stream of `user` (dropped with the stream).
    pub fn subscribe(&self, user: UserId) -> Arc<Notify> {
        let n = Arc::new(Notify::new());
        let mut m = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let list = m.entry(user).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(&n));
        n
    }

    /// Open streams (all people).
    pub fn open_streams(&self) -> usize {
        let m = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        m.values()
            .map(|l| l.iter().filter(|w| w.strong_count() > 0).count())
            .sum()
    }

    fn wake(&self, users: &[UserId]) {
        let mut m = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        for u in users {
            let Some(list) = m.get_mut(u) else { continue };
            list.retain(|w| match w.upgrade() {
                Some(n) => {
                    n.notify_one();
                    true
                }
                None => false,
            });
            if list.is_empty() {
                m.remove(u);
            }
        }
    }

    fn wake_all(&self) {
        let m = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        for n in m.values().flatten().filter_map(Weak::upgrade) {
            n.notify_one();
        }
    }

    fn watched(&self) -> bool {
        !self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    async fn listen(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(db).await?;
        listener.listen(CHANNEL).await?;
        loop {
            let n = listener.recv().await?;
            let payload = n.payload();
            if let Some(source) = payload.strip_prefix("s:") {
                let Ok(source) = source.parse::<uuid::Uuid>() else {
                    continue;
                };
                // Nobody watching in this process: nothing to look up.
                if !self.watched() {
                    continue;
                }
                let users = match inbox::recipients_of(db, source).await {
                    Ok(u) => u,
                    Err(e) => {
                        tracing::debug!(error = %e, "notification recipients unreadable; waking every stream");
                        self.wake_all();
                        continue;
                    }
                };
                self.wake(&users);
            } else if let Some(list) = payload.strip_prefix("u:") {
                let users: Vec<UserId> = list.split(',').filter_map(|u| u.parse().ok()).collect();
                self.wake(&users);
            }
        }
    }
}
