//! Wake-ups for idle workers: one LISTEN connection per process for every
//! kind (instead of one per kind), fanned out to each kind's apalis worker.
//!
//! apalis' own pub/sub strategy can lose a wake-up: a notification that
//! arrives while a fetch is already running is consumed, the fetch (begun
//! before the insert committed) comes back empty, and the job then waits for
//! the next poll. Each notification here is therefore echoed once more a few
//! milliseconds later, after such a fetch has finished.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, StreamExt, stream::BoxStream};
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::broadcast;

/// The channel apalis' insert trigger notifies (`{"job_type": …, "id": …}`).
const CHANNEL: &str = "apalis::job::insert";
const ECHO_AFTER: Duration = Duration::from_millis(15);

#[derive(serde::Deserialize)]
struct InsertEvent {
    job_type: String,
}

#[derive(Clone)]
pub struct Wakeups {
    kinds: Arc<Mutex<HashMap<String, broadcast::Sender<()>>>>,
}

impl Wakeups {
    /// Starts the listener; it reconnects by itself.
    pub fn start(db: PgPool) -> Self {
        let w = Self {
            kinds: Arc::new(Mutex::new(HashMap::new())),
        };
        let me = w.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.listen(&db).await {
                    tracing::debug!(error = %e, "wake-up listener stopped; reconnecting");
                }
                // Wake everyone: inserts may have been missed while disconnected.
                for tx in me.senders() {
                    let _ = tx.send(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        w
    }

    async fn listen(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(db).await?;
        listener.listen(CHANNEL).await?;
        loop {
            let n = listener.recv().await?;
            let Ok(ev) = serde_json::from_str::<InsertEvent>(n.payload()) else {
                continue;
            };
            if let Some(tx) = self.sender(&ev.job_type) {
                let _ = tx.send(());
                tokio::spawn(async move {
                    tokio::time::sleep(ECHO_AFTER).await;
                    let _ = tx.send(());
                });
            }
        }
    }

    fn sender(&self, kind: &str) -> Option<broadcast::Sender<()>> {
        self.kinds.lock().ok()?.get(kind).cloned()
    }

    fn senders(&self) -> Vec<broadcast::Sender<()>> {
        self.kinds
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A stream of wake-ups for one kind (for `Strategy::stream`).
    pub fn stream(&self, kind: &str) -> WakeStream {
        let rx = {
            let mut m = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(kind.to_string())
                .or_insert_with(|| broadcast::channel(16).0)
                .subscribe()
        };
        let s: BoxStream<'static, ()> = futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => Some(((), rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .boxed();
        WakeStream(Mutex::new(s))
    }
}

/// `Sync` wrapper (apalis' strategies require it) around a boxed stream.
pub struct WakeStream(Mutex<BoxStream<'static, ()>>);

impl Stream for WakeStream {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match self.0.lock() {
            Ok(mut s) => s.as_mut().poll_next(cx),
            Err(_) => Poll::Ready(None),
        }
    }
}
