//! Wake-ups for idle workers, without a NOTIFY per enqueue.
//!
//! A transaction that sends a NOTIFY takes a database-wide lock at commit
//! and keeps it through its WAL flush, so notifying commits cannot share a
//! flush (no group commit): one NOTIFY per enqueue would cap the enqueue rate
//! at one commit per disk flush. apalis' insert trigger did exactly that,
//! per row (it is gone with apalis' schema). So:
//!
//! - [`enqueue`](super::enqueue) by default sends one NOTIFY per kind (not
//!   per row) in its transaction: a bulk fan-out of 10,000 jobs sends one;
//! - a hot path (the API's job-creating requests) can instead defer, by
//!   running its transaction inside [`deferring`]: nothing
//!   is sent in the transaction, and after the commit the process's
//!   [`Notifier`] sends the wake-ups from its own connection, with
//!   `synchronous_commit = off` (a wake-up carries no data worth a flush),
//!   coalescing kinds whose wake-ups are due at the same time.
//!
//! A lost wake-up (a crash between commit and notify) costs at most the
//! workers' poll interval.

use std::{cell::RefCell, collections::BTreeSet, future::Future};

use sqlx::{Connection, PgConnection, PgPool, postgres::PgConnectOptions};
use tokio::sync::mpsc;

use crate::error::Result;

/// The channel workers listen on; the payload is a kind's name.
pub const CHANNEL: &str = "launchpad_jobs_due";

tokio::task_local! {
    static DEFERRED: RefCell<Vec<&'static str>>;
}

/// Runs `f` (a transaction that may enqueue jobs) collecting the kinds to
/// wake instead of notifying inside it; send them with a [`Notifier`] after
/// the commit.
pub async fn deferring<F: Future>(f: F) -> (F::Output, Vec<&'static str>) {
    DEFERRED
        .scope(RefCell::new(Vec::new()), async {
            let out = f.await;
            let kinds = DEFERRED.with(|d| d.take());
            (out, kinds)
        })
        .await
}

/// Records `kinds` for the enclosing [`deferring`]; false outside one.
pub(crate) fn defer(kinds: &[&'static str]) -> bool {
    DEFERRED
        .try_with(|d| {
            let mut d = d.borrow_mut();
            for k in kinds {
                if !d.contains(k) {
                    d.push(k);
                }
            }
        })
        .is_ok()
}

/// One wake-up per kind, sent when the caller's transaction commits.
pub(crate) async fn notify_in_tx(conn: &mut PgConnection, kinds: &[&str]) -> Result<()> {
    if kinds.is_empty() {
        return Ok(());
    }
    sqlx::query(sql())
        .bind(CHANNEL)
        .bind(kinds)
        .execute(conn)
        .await?;
    Ok(())
}

fn sql() -> &'static str {
    "SELECT pg_notify($1, k) FROM unnest($2::text[]) AS k"
}

/// Sends wake-ups after commit, from one connection per process.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<String>,
}

impl Notifier {
    /// Starts the sender task (it connects lazily and reconnects by itself).
    pub fn start(db: &PgPool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let opts: PgConnectOptions = (*db.connect_options()).clone();
        tokio::spawn(run(opts, rx));
        Self { tx }
    }

    /// Wakes the workers of these kinds (call after the enqueue committed).
    pub fn notify(&self, kinds: &[&str]) {
        for k in kinds {
            let _ = self.tx.send(k.to_string());
        }
    }
}

async fn run(opts: PgConnectOptions, mut rx: mpsc::UnboundedReceiver<String>) {
    let mut conn: Option<PgConnection> = None;
    let mut kinds = BTreeSet::new();
    while let Some(k) = rx.recv().await {
        kinds.insert(k);
        // Everything that queued up meanwhile goes out in the same statement.
        while let Ok(k) = rx.try_recv() {
            kinds.insert(k);
        }
        let batch: Vec<String> = std::mem::take(&mut kinds).into_iter().collect();
        if conn.is_none() {
            conn = connect(&opts).await;
        }
        let Some(c) = conn.as_mut() else {
            // No database: the workers' poll interval covers these jobs.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            continue;
        };
        let sent = sqlx::query(sql())
            .bind(CHANNEL)
            .bind(&batch)
            .execute(&mut *c)
            .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "could not send job wake-ups; reconnecting");
            conn = None;
        }
    }
}

async fn connect(opts: &PgConnectOptions) -> Option<PgConnection> {
    let mut c = PgConnection::connect_with(opts)
        .await
        .map_err(|e| tracing::debug!(error = %e, "wake-up connection failed"))
        .ok()?;
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut c)
        .await
        .ok()?;
    Some(c)
}
