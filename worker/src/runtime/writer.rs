//! Batches the outcomes of many concurrent attempts: finishes queue up while
//! a flush runs and go out together in one transaction, so a busy worker
//! writes one statement per batch instead of a commit per job.
//!
//! An outcome is the only record of an attempt's work, and until it is
//! written the task stays locked by this worker, so a flush that fails is
//! retried until it is written: with backoff while the database is
//! unreachable; one job at a time when the batch itself is refused (a
//! result Postgres cannot store fails that job, with the reason, instead of
//! blocking the others).

use std::time::Duration;

use launchpad_domain::{
    Error,
    jobs::{
        JobError,
        run::{Finish, Outcome, finish},
    },
};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::OnEnd;

type Reply = oneshot::Sender<()>;

struct Op {
    outcome: Outcome,
    reply: Reply,
}

#[derive(Clone)]
pub struct StateWriter {
    tx: mpsc::Sender<Op>,
}

const MAX_BATCH: usize = 1024;
/// Flushes run concurrently up to this many, so one slow commit does not
/// stall every job of the process.
const MAX_FLUSHES: usize = 2;

impl StateWriter {
    pub fn start(db: PgPool, on_end: OnEnd) -> Self {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(run(db, on_end, rx));
        Self { tx }
    }

    /// Records an attempt's outcome; returns once it is written.
    pub async fn finish_job(&self, outcome: Outcome) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Op { outcome, reply })
            .await
            .map_err(|_| "state writer stopped".to_string())?;
        rx.await.map_err(|_| "state writer stopped".to_string())
    }
}

async fn run(db: PgPool, on_end: OnEnd, mut rx: mpsc::Receiver<Op>) {
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_FLUSHES));
    let mut buf = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        // While waiting for a permit more ops arrived: take them into this batch.
        while buf.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => buf.push(op),
                Err(_) => break,
            }
        }
        let ops = std::mem::take(&mut buf);
        let db = db.clone();
        let on_end = on_end.clone();
        tokio::spawn(async move {
            flush(&db, &on_end, ops).await;
            drop(permit);
        });
        buf.reserve(MAX_BATCH);
    }
}

async fn write(db: &PgPool, on_end: &OnEnd, items: &[Outcome]) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    finish(&mut tx, on_end.as_ref(), items).await?;
    tx.commit().await?;
    Ok(())
}

async fn flush(db: &PgPool, on_end: &OnEnd, ops: Vec<Op>) {
    let mut items: Vec<Outcome> = ops.iter().map(|o| o.outcome.clone()).collect();
    let mut backoff = Duration::from_millis(100);
    loop {
        match write(db, on_end, &items).await {
            Ok(()) => break,
            Err(e @ Error::Unavailable(_)) => {
                tracing::warn!(error = %e, jobs = items.len(), "could not record job outcomes; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) if items.len() > 1 => {
                tracing::warn!(error = %e, jobs = items.len(), "a batch of job outcomes was refused; writing them one by one");
                for op in ops {
                    Box::pin(flush(db, on_end, vec![op])).await;
                }
                return;
            }
            Err(e) => {
                let Outcome { id, finish: f, .. } = &items[0];
                if matches!(f, Finish::Failed { error } if error.code == "outcome_not_recorded") {
                    // Even the plain failure was refused: leave the task to
                    // the orphan rescue of the next process start.
                    tracing::error!(job_id = %id, error = %e, "could not record the job's outcome");
                    break;
                }
                tracing::warn!(job_id = %id, error = %e, "the job's outcome was refused; failing the job");
                items[0].finish = Finish::Failed {
                    error: JobError::new(
                        "outcome_not_recorded",
                        format!("the attempt's outcome could not be stored: {e}"),
                        false,
                    ),
                };
            }
        }
    }
    for op in ops {
        let _ = op.reply.send(());
    }
}
