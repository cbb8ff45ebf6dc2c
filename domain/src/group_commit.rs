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
//! Requests that only enqueue jobs ([`GroupCommit::enqueue`]) share more
//! than the commit: a batch writes all their jobs with one
//! [`enqueue`](crate::jobs::enqueue) — one statement for all the `jobs`
//! rows — instead of a statement and a savepoint per request. Should that shared write fail, the batch is run again with
//! each request's enqueue in its own savepoint, so a bad job fails alone.
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
    jobs::{JobRecord, NewJob, enqueue, wakeup},
};

/// One request's work: runs in the lane's transaction; `true` when it
/// succeeded (its writes are to be kept).
type Work = Box<dyn for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, bool> + Send>;

/// Where a request finds its own result once its batch is done.
type Slot<T> = Arc<Mutex<Option<Result<T>>>>;

enum Task {
    Work(Work),
    /// Jobs to enqueue, written together with the batch's other enqueues.
    Enqueue(Vec<NewJob>, Slot<Vec<JobRecord>>),
}

struct Entry {
    task: Task,
    /// The batch's outcome: `Ok` once committed.
    done: oneshot::Sender<Result<()>>,
}

fn put<T>(slot: &Slot<T>, r: Result<T>) {
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
}

/// A work that runs `jobs`' enqueue alone and puts its records in `slot`.
fn enqueue_work(jobs: Vec<NewJob>, slot: Slot<Vec<JobRecord>>) -> Work {
    Box::new(move |conn| {
        Box::pin(async move {
            let r = enqueue(conn, jobs).await;
            let ok = r.is_ok();
            put(&slot, r);
            ok
        })
    })
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
        let slot: Slot<T> = Arc::new(Mutex::new(None));
        let out = slot.clone();
        // The lane's task is not the request's: carry the audit origin over.
        let origin = crate::audit::Origin::current();
        let work: Work = Box::new(move |conn| {
            Box::pin(async move {
                let r = AssertUnwindSafe(crate::audit::with_origin(origin, work(conn)))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err(Error::Internal(anyhow::anyhow!("request panicked"))));
                let ok = r.is_ok();
                put(&out, r);
                ok
            })
        });
        self.submit(Task::Work(work), slot).await
    }

    /// Enqueues `jobs` (as [`enqueue`](crate::jobs::enqueue) does) in a
    /// transaction shared with other requests, with one statement for the
    /// jobs of every enqueue in the batch; returns the records once that
    /// transaction committed.
    pub async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<JobRecord>> {
        let slot: Slot<Vec<JobRecord>> = Arc::new(Mutex::new(None));
        self.submit(Task::Enqueue(jobs, slot.clone()), slot).await
    }

    async fn submit<T>(&self, task: Task, slot: Slot<T>) -> Result<T> {
        let (done, committed) = oneshot::channel();
        self.tx
            .send(Entry { task, done })
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

/// Runs the batch in one transaction: first the enqueues of every
/// [`Task::Enqueue`] together, then each work in the savepoint `lp_group`.
/// When the shared enqueue fails, the batch runs again with each enqueue as
/// a work of its own.
async fn run_batch(db: &PgPool, batch: &mut [Entry]) -> Result<()> {
    let r = match try_batch(db, batch, true).await {
        Err(Retry::Apart) => try_batch(db, batch, false).await,
        r => r,
    };
    r.map_err(|r| match r {
        Retry::Failed(e) => e,
        // Enqueues run apart never ask for it.
        Retry::Apart => Error::Internal(anyhow::anyhow!("a batch asked twice to run apart")),
    })
}

enum Retry {
    /// The shared enqueue failed: run each enqueue in its own savepoint.
    Apart,
    Failed(Error),
}

impl From<sqlx::Error> for Retry {
    fn from(e: sqlx::Error) -> Self {
        Retry::Failed(e.into())
    }
}

/// One try of [`run_batch`]; with `together`, the enqueues share one
/// statement per table.
///
/// Each work runs in the savepoint `lp_group`: kept, it is released and a
/// new one set in the same round trip; failed, the transaction is rolled
/// back to it (which keeps it set for the next work).
async fn try_batch(db: &PgPool, batch: &mut [Entry], together: bool) -> Result<(), Retry> {
    let mut conn = db.acquire().await.map_err(|e| Retry::Failed(e.into()))?;
    let mut tx = conn.begin().await?;
    let alone = batch.len() == 1;

    if together {
        // Every enqueue's jobs, in one list (and how many each brought).
        let mut jobs = Vec::new();
        let mut counts = Vec::new();
        for e in batch.iter_mut() {
            if let Task::Enqueue(own, _) = &mut e.task {
                counts.push(own.len());
                jobs.append(own);
            }
        }
        if !counts.is_empty() {
            match enqueue::enqueue_all(&mut tx, &jobs).await {
                Ok(records) => {
                    let mut records = records.into_iter();
                    let mut counts = counts.into_iter();
                    for e in batch.iter_mut() {
                        if let Task::Enqueue(_, slot) = &e.task {
                            let n = counts.next().unwrap_or(0);
                            put(slot, Ok(records.by_ref().take(n).collect()));
                        }
                    }
                }
                Err(e) if alone => {
                    if let Task::Enqueue(_, slot) = &batch[0].task {
                        put(slot, Err(e));
                    }
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!(error = %e, "a shared enqueue failed; enqueueing apart");
                    // Give each entry its jobs back, in order.
                    let mut rest = jobs;
                    for (e, n) in batch
                        .iter_mut()
                        .rev()
                        .filter_map(|e| match &mut e.task {
                            Task::Enqueue(own, _) => Some(own),
                            Task::Work(_) => None,
                        })
                        .zip(counts.into_iter().rev())
                    {
                        *e = rest.split_off(rest.len() - n);
                    }
                    return Err(Retry::Apart);
                }
            }
        }
    }

    // The works (with, when apart, each enqueue as a work of its own).
    let mut works: Vec<Work> = Vec::with_capacity(batch.len());
    for e in batch.iter_mut() {
        let task = std::mem::replace(
            &mut e.task,
            Task::Work(Box::new(|_| Box::pin(async { false }))),
        );
        match task {
            Task::Work(w) => works.push(w),
            Task::Enqueue(jobs, slot) if !together => works.push(enqueue_work(jobs, slot)),
            // Already written together.
            enqueued => e.task = enqueued,
        }
    }
    let last = works.len().saturating_sub(1);
    if !alone && !works.is_empty() {
        sqlx::raw_sql("SAVEPOINT lp_group")
            .execute(&mut *tx)
            .await?;
    }
    for (i, work) in works.into_iter().enumerate() {
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
