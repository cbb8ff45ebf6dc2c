//! Group commit: concurrent small write transactions (the API's
//! job-creating requests) share one database commit.
//!
//! Every durable commit waits for its WAL flush, and on a busy server
//! concurrent commits queue for the WAL write lock: one transaction per
//! request caps the request rate near the disk's flush rate. Here requests
//! hand their transaction's work to a few *lanes*; a lane takes every
//! request waiting at that moment, runs each one's work inside a savepoint
//! of one transaction on its connection, and commits once for all of them.
//!
//! What each request sees is unchanged: its work either commits (and it is
//! told only after the commit) or not at all — a request whose work fails
//! is rolled back to its savepoint without touching the others; a commit
//! that fails fails every request of the batch, none of which is then
//! written. A batch of one runs without a savepoint. Wake-ups for the jobs
//! the batch enqueued are sent after its commit ([`wakeup::Notifier`]), one
//! per kind.
//!
//! Under no load a request waits for nobody (its lane starts at once); under
//! load, batches grow with the queue, up to [`GroupCommit::MAX_BATCH`]
//! (kept under Postgres' 64 cached subtransactions per transaction).

use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
};

use futures::{FutureExt, future::BoxFuture};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use crate::{
    error::{Error, Result},
    jobs::wakeup,
};

/// One request's work: runs in the lane's transaction; `true` when it
/// succeeded (its writes are to be kept).
type Work = Box<dyn for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, bool> + Send>;

struct Entry {
    work: Work,
    /// The batch's outcome: `Ok` once committed.
    done: oneshot::Sender<Result<()>>,
}

#[derive(Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<Entry>,
}

impl GroupCommit {
    /// Most requests sharing one commit.
    pub const MAX_BATCH: usize = 48;

    /// Starts `lanes` lanes (each uses one connection of `db` while it runs a
    /// batch) and sends wake-ups through `wakeups` after each commit.
    pub fn start(db: PgPool, lanes: usize, wakeups: wakeup::Notifier) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..lanes.max(1) {
            tokio::spawn(lane(db.clone(), rx.clone(), wakeups.clone()));
        }
        Self { tx }
    }

    /// Runs `work` in a transaction (shared with other requests) and returns
    /// its output once that transaction committed. An error from `work`
    /// rolls back only its own writes.
    pub async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let slot: Arc<Mutex<Option<Result<T>>>> = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let work: Work = Box::new(move |conn| {
            Box::pin(async move {
                let r = AssertUnwindSafe(work(conn))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err(Error::Internal(anyhow::anyhow!("request panicked"))));
                let ok = r.is_ok();
                *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                ok
            })
        });
        let (done, committed) = oneshot::channel();
        self.tx
            .send(Entry { work, done })
            .await
            .map_err(|_| Error::Unavailable("the commit group stopped".into()))?;
        let committed = committed
            .await
            .map_err(|_| Error::Unavailable("the commit group stopped".into()))?;
        let own = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (committed, own) {
            // Its own failure is the better answer, whatever the batch did.
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(t))) => Ok(t),
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(Error::Internal(anyhow::anyhow!("work did not run"))),
        }
    }
}

async fn lane(
    db: PgPool,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Entry>>>,
    wakeups: wakeup::Notifier,
) {
    loop {
        let mut batch = Vec::with_capacity(GroupCommit::MAX_BATCH);
        {
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut batch, GroupCommit::MAX_BATCH).await == 0 {
                return;
            }
        }
        let (outcome, kinds) = wakeup::deferring(run_batch(&db, &mut batch)).await;
        if outcome.is_ok() {
            wakeups.notify(&kinds);
        }
        for e in batch {
            let _ = e.done.send(match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(batch_error(e)),
            });
        }
    }
}

/// The batch's failure as each of its requests reports it.
fn batch_error(e: &Error) -> Error {
    match e {
        Error::Unavailable(m) => Error::Unavailable(m.clone()),
        other => Error::Internal(anyhow::anyhow!("the shared commit failed: {other}")),
    }
}

/// Runs every entry's work (taking it out of the entry) in one transaction.
///
/// Each work runs in the savepoint `lp_group`: kept, it is released and a
/// new one set in the same round trip; failed, the transaction is rolled
/// back to it (which keeps it set for the next work).
async fn run_batch(db: &PgPool, batch: &mut [Entry]) -> Result<()> {
    let mut conn = db.acquire().await?;
    let mut tx = conn.begin().await?;
    let alone = batch.len() == 1;
    if !alone {
        sqlx::raw_sql("SAVEPOINT lp_group")
            .execute(&mut *tx)
            .await?;
    }
    let last = batch.len() - 1;
    for (i, e) in batch.iter_mut().enumerate() {
        let work = std::mem::replace(&mut e.work, Box::new(|_| Box::pin(async { false })));
        let keep = work(&mut tx).await;
        if alone {
            if !keep {
                // Nothing else to keep.
                return Ok(());
            }
            continue;
        }
        let next = match (keep, i == last) {
            (true, false) => "RELEASE SAVEPOINT lp_group; SAVEPOINT lp_group",
            (true, true) => continue,
            (false, _) => "ROLLBACK TO SAVEPOINT lp_group",
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(next))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
