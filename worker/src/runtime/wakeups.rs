//! Wake-ups for idle workers: one LISTEN connection per process for every
//! kind (instead of one per kind), fanned out to each kind's apalis worker.
//!
//! apalis' own pub/sub strategy can lose a wake-up: a notification that
//! arrives while a fetch (begun before the insert committed) or an ack is
//! running is consumed, and the job then waits for the next poll. So after
//! a notification each kind's wake-up is echoed at a few growing delays
//! (15, 50, 150, 500, 2,000 and 5,000 ms after the latest one; the long
//! ones cover fetches slowed by a loaded database), by one task per kind that
//! runs only while notifications arrive: whichever fetch or ack was in the
//! way has finished by one of them. An echo to an idle worker costs one
//! empty fetch.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt, stream::BoxStream};
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::broadcast;

/// The channel `jobs::enqueue` notifies (apalis' own: `{"job_type": …}`).
const CHANNEL: &str = "apalis::job::insert";
/// Echoes after the latest notification of a kind.
const ECHOES_MS: [u64; 6] = [15, 50, 150, 500, 2_000, 5_000];

#[derive(serde::Deserialize)]
struct InsertEvent {
    job_type: String,
}

#[derive(Clone)]
pub struct Wakeups {
    kinds: Arc<Mutex<HashMap<String, Arc<KindWake>>>>,
}

/// One kind's wake-ups: the broadcast to its apalis worker and its echoes.
struct KindWake {
    tx: broadcast::Sender<()>,
    /// When the latest notification arrived.
    last: Mutex<Instant>,
    /// Whether the echo task runs.
    echoing: AtomicBool,
}

impl KindWake {
    fn notified(self: &Arc<Self>) {
        let _ = self.tx.send(());
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        if !self.echoing.swap(true, Ordering::AcqRel) {
            let me = self.clone();
            tokio::spawn(async move { me.echo().await });
        }
    }

    async fn echo(&self) {
        loop {
            let since = self
                .last
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .elapsed();
            match ECHOES_MS
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .find(|d| *d > since)
            {
                Some(at) => {
                    tokio::time::sleep(at - since).await;
                    // Only if no newer notification moved the schedule.
                    let now_since = self
                        .last
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .elapsed();
                    if now_since >= at {
                        let _ = self.tx.send(());
                    }
                }
                None => {
                    self.echoing.store(false, Ordering::Release);
                    // A notification that arrived after the last check and
                    // saw `echoing` still set is covered by restarting.
                    let since = self
                        .last
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .elapsed();
                    let last_echo = Duration::from_millis(ECHOES_MS[ECHOES_MS.len() - 1]);
                    if since < last_echo && !self.echoing.swap(true, Ordering::AcqRel) {
                        continue;
                    }
                    return;
                }
            }
        }
    }
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
            if let Some(k) = self.kind(&ev.job_type) {
                k.notified();
            }
        }
    }

    fn kind(&self, kind: &str) -> Option<Arc<KindWake>> {
        self.kinds.lock().ok()?.get(kind).cloned()
    }

    fn senders(&self) -> Vec<broadcast::Sender<()>> {
        self.kinds
            .lock()
            .map(|m| m.values().map(|k| k.tx.clone()).collect())
            .unwrap_or_default()
    }

    /// A stream of wake-ups for one kind (for `Strategy::stream`).
    pub fn stream(&self, kind: &str) -> WakeStream {
        let rx = {
            let mut m = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(kind.to_string())
                .or_insert_with(|| {
                    Arc::new(KindWake {
                        tx: broadcast::channel(16).0,
                        last: Mutex::new(Instant::now()),
                        echoing: AtomicBool::new(false),
                    })
                })
                .tx
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
