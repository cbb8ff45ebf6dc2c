//! Batches the `jobs` row transitions of many concurrent attempts: starts
//! and finishes queue up while a flush runs and go out together in one
//! transaction, so a busy worker writes a few statements per batch instead
//! of two commits per job.

use launchpad_domain::{
    ids::JobId,
    jobs::run::{Finish, StartOutcome, apply},
};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

type Reply<T> = oneshot::Sender<Result<T, String>>;

enum Op {
    Start(JobId, Reply<StartOutcome>),
    Finish(JobId, Finish, Reply<()>),
}

#[derive(Clone)]
pub struct StateWriter {
    tx: mpsc::Sender<Op>,
}

const MAX_BATCH: usize = 1024;

impl StateWriter {
    pub fn start(db: PgPool) -> Self {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(run(db, rx));
        Self { tx }
    }

    pub async fn start_job(&self, id: JobId) -> Result<StartOutcome, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Op::Start(id, tx))
            .await
            .map_err(|_| "state writer stopped".to_string())?;
        rx.await.map_err(|_| "state writer stopped".to_string())?
    }

    pub async fn finish_job(&self, id: JobId, f: Finish) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Op::Finish(id, f, tx))
            .await
            .map_err(|_| "state writer stopped".to_string())?;
        rx.await.map_err(|_| "state writer stopped".to_string())?
    }
}

/// Flushes run concurrently up to this many, so one slow commit does not
/// stall every job of the process.
const MAX_FLUSHES: usize = 2;

async fn run(db: PgPool, mut rx: mpsc::Receiver<Op>) {
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
        tokio::spawn(async move {
            flush(&db, ops).await;
            drop(permit);
        });
        buf.reserve(MAX_BATCH);
    }
}

async fn flush(db: &PgPool, ops: Vec<Op>) {
    let mut starts = Vec::new();
    let mut start_replies = Vec::new();
    let mut finishes = Vec::new();
    let mut finish_replies = Vec::new();
    for op in ops {
        match op {
            Op::Start(id, r) => {
                starts.push(id);
                start_replies.push(r);
            }
            Op::Finish(id, f, r) => {
                finishes.push((id, f));
                finish_replies.push(r);
            }
        }
    }
    let result = async {
        let mut tx = db.begin().await?;
        let started = apply(&mut tx, &finishes, &starts).await?;
        tx.commit().await?;
        Ok::<_, launchpad_domain::Error>(started)
    }
    .await;
    match result {
        Ok(started) => {
            for ((_, outcome), reply) in started.into_iter().zip(start_replies) {
                let _ = reply.send(Ok(outcome));
            }
            for reply in finish_replies {
                let _ = reply.send(Ok(()));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            tracing::warn!(error = %msg, "could not write job states");
            for reply in start_replies {
                let _ = reply.send(Err(msg.clone()));
            }
            for reply in finish_replies {
                let _ = reply.send(Err(msg.clone()));
            }
        }
    }
}
