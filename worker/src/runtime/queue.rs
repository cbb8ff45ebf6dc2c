//! Launchpad's apalis backend over the `jobs` table: the source of started
//! attempts of one kind for one apalis worker.
//!
//! - a *feeder* task per kind fetches and starts due jobs in one statement
//!   ([`run::fetch_and_start`]) whenever slots are free, while the tasks it
//!   fetched earlier run (fetching is pipelined with running and with the
//!   batched finish writes of [`StateWriter`](super::writer::StateWriter));
//! - it wakes on the process's LISTEN connection ([`Wakeups`]), and a
//!   notification that arrives during a fetch is kept (a [`Notify`] permit),
//!   so no wake-up is lost; a poll interval (or the next retry time, when
//!   sooner) covers delayed and retried tasks, which get no notification;
//! - heartbeats and the orphan rescue are one process-wide task
//!   ([`super::heartbeat`]);
//! - there is no acknowledgement: the outcome's write ends the job (or puts
//!   it back in line for its retry).
//!
//! apalis' worker still drives the tasks: it polls this backend when it has
//! a free slot (its concurrency limit), runs the task function, and shuts
//! down gracefully; buffered tasks not yet handed out are released then.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use apalis::prelude::{Task, TaskId, WorkerContext};
use apalis_core::backend::{Backend, BackendConfig, finalize::Ephemeral};
use futures::{FutureExt, future::BoxFuture};
use launchpad_domain::{
    ids::JobId,
    jobs::{
        JobRecord,
        run::{self, WorkerId},
    },
};
use sqlx::PgPool;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tower::layer::util::Identity;

/// A started attempt: the job row as the start left it (`running`, with its
/// attempt number). The task's argument type.
#[derive(Debug, Clone)]
pub struct Started(pub Box<JobRecord>);

/// How a kind's queue is set up.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub kind: &'static str,
    /// The apalis worker name (kind and process).
    pub worker: String,
    pub concurrency: usize,
    pub batch: usize,
    pub poll: Duration,
}

/// State shared by a kind's feeder, its backend and its running attempts.
pub struct KindQueue {
    settings: QueueSettings,
    /// The job-bookkeeping pool.
    db: PgPool,
    buffer: Mutex<Buffer>,
    /// Attempts started and not finished: buffered plus running.
    in_flight: AtomicUsize,
    /// New tasks may be due (a wake-up or the poll interval).
    wake: Arc<Notify>,
    /// An attempt finished: a slot is free.
    slot_freed: Notify,
    /// Stops the feeder (process shutdown, or the backend dropped).
    stop: CancellationToken,
    /// This process's id once it is registered (started jobs carry it).
    registered: watch::Receiver<Option<WorkerId>>,
    on_end: super::OnEnd,
}

#[derive(Default)]
struct Buffer {
    tasks: VecDeque<JobRecord>,
    waker: Option<Waker>,
    /// The feeder has stopped: nothing more will be buffered.
    feeder_done: bool,
}

impl KindQueue {
    pub fn new(
        settings: QueueSettings,
        db: PgPool,
        wake: Arc<Notify>,
        registered: watch::Receiver<Option<WorkerId>>,
        on_end: super::OnEnd,
        stop: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings,
            db,
            buffer: Mutex::new(Buffer::default()),
            in_flight: AtomicUsize::new(0),
            wake,
            slot_freed: Notify::new(),
            stop,
            registered,
            on_end,
        })
    }

    pub fn kind(&self) -> &'static str {
        self.settings.kind
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks one attempt finished (its outcome recorded): frees its slot.
    pub fn attempt_done(&self) {
        let n = self.in_flight.fetch_sub(1, Ordering::AcqRel) - 1;
        crate::metrics::jobs_running(self.settings.kind, n);
        self.slot_freed.notify_one();
    }

    fn worker_id(&self) -> Option<WorkerId> {
        *self.registered.borrow()
    }

    /// Fetches while slots are free and tasks are due; see the module docs.
    async fn feed(self: Arc<Self>) {
        let s = &self.settings;
        let batch = s.batch.min(s.concurrency).max(1);
        let mut registered = self.registered.clone();
        tokio::select! {
            _ = self.stop.cancelled() => {}
            _ = registered.wait_for(|r| r.is_some()) => {}
        }
        // Whether the last fetch was full: more tasks are probably due.
        let mut backlog = true;
        let mut idle_wait = s.poll;
        while !self.stop.is_cancelled() {
            if !backlog {
                tokio::select! {
                    _ = self.stop.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(idle_wait) => {}
                }
            }
            // With a backlog, wait for half a batch of free slots (fewer,
            // larger fetches); otherwise any free slot will do.
            let threshold = if backlog { batch.div_ceil(2) } else { 1 };
            let want = loop {
                let free = s
                    .concurrency
                    .saturating_sub(self.in_flight.load(Ordering::Acquire));
                if free >= threshold {
                    break Some(free.min(batch));
                }
                tokio::select! {
                    _ = self.stop.cancelled() => break None,
                    _ = self.slot_freed.notified() => {}
                }
            };
            let Some(want) = want else { break };
            match self.fetch(want).await {
                Ok(jobs) => {
                    backlog = jobs.len() == want;
                    idle_wait = s.poll;
                    if !jobs.is_empty() {
                        crate::metrics::jobs_fetched(s.kind, jobs.len());
                        let n = self.in_flight.fetch_add(jobs.len(), Ordering::AcqRel) + jobs.len();
                        crate::metrics::jobs_running(s.kind, n);
                        let waker = {
                            let mut b = self.buffer();
                            b.tasks.extend(jobs);
                            b.waker.take()
                        };
                        if let Some(w) = waker {
                            w.wake();
                        }
                    }
                    if !backlog && let Ok(Some(next)) = self.next_due().await {
                        idle_wait = idle_wait.min(next);
                    }
                }
                Err(e) => {
                    tracing::warn!(kind = s.kind, error = %e, "could not fetch jobs; retrying");
                    backlog = false;
                    idle_wait = s.poll.min(Duration::from_secs(1));
                }
            }
        }
        let waker = {
            let mut b = self.buffer();
            b.feeder_done = true;
            b.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    async fn fetch(&self, want: usize) -> Result<Vec<JobRecord>, launchpad_domain::Error> {
        let Some(worker) = self.worker_id() else {
            return Ok(vec![]);
        };
        let mut tx = self.db.begin().await?;
        let jobs = run::fetch_and_start(
            &mut tx,
            self.on_end.as_ref(),
            self.settings.kind,
            worker,
            want,
        )
        .await?;
        tx.commit().await?;
        Ok(jobs)
    }

    /// How long until the kind's next delayed or retried task is due.
    async fn next_due(&self) -> Result<Option<Duration>, launchpad_domain::Error> {
        let mut conn = self.db.acquire().await?;
        let next = run::next_due(&mut conn, self.settings.kind).await?;
        // A little late rather than early (`run_at <= now()` on the
        // database's clock), and never a busy loop: a due task can be
        // skipped for a moment while another transaction locks it.
        Ok(next.map(|d| d.max(Duration::from_millis(20)) + Duration::from_millis(5)))
    }

    /// Takes the buffered tasks back (shutdown) and releases them.
    async fn release_buffered(self: Arc<Self>) {
        let ids: Vec<JobId> = {
            let mut b = self.buffer();
            b.tasks.drain(..).map(|j| j.id).collect()
        };
        if ids.is_empty() {
            return;
        }
        self.in_flight.fetch_sub(ids.len(), Ordering::AcqRel);
        let Some(worker) = self.worker_id() else {
            return;
        };
        let released = async {
            let mut tx = self.db.begin().await?;
            let n = run::release(&mut tx, worker, &ids).await?;
            tx.commit().await?;
            Ok::<_, launchpad_domain::Error>(n)
        }
        .await;
        match released {
            Ok(n) => tracing::info!(kind = self.kind(), released = n, "released unstarted jobs"),
            // They stay locked by this worker; once it stops heartbeating,
            // another process rescues them (counting an attempt).
            Err(e) => {
                tracing::warn!(kind = self.kind(), error = %e, "could not release unstarted jobs")
            }
        }
    }
}

/// The apalis [`Backend`] of one kind: hands out what its feeder fetched.
pub struct QueueBackend {
    queue: Arc<KindQueue>,
    /// Cancelled when this backend is dropped: stops its feeder.
    feeder_stop: CancellationToken,
    feeder_started: bool,
    closing: Option<BoxFuture<'static, ()>>,
}

impl QueueBackend {
    pub fn new(queue: Arc<KindQueue>) -> Self {
        Self {
            feeder_stop: queue.stop.clone(),
            queue,
            feeder_started: false,
            closing: None,
        }
    }
}

impl Drop for QueueBackend {
    fn drop(&mut self) {
        // A backend dropped without closing (its apalis worker restarted or
        // was aborted): stop the feeder and hand back what it buffered.
        if self.closing.is_none() && self.feeder_started {
            self.feeder_stop.cancel();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(self.queue.clone().release_buffered());
            }
        }
    }
}

/// The backend never fails: fetch errors are retried by the feeder.
#[derive(Debug, thiserror::Error)]
#[error("launchpad queue backend")]
pub struct QueueError;

impl Backend for QueueBackend {
    type Task = Task<Started>;
    type Error = QueueError;

    fn poll_ready(
        &mut self,
        _cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if !self.feeder_started {
            self.feeder_started = true;
            tokio::spawn(self.queue.clone().feed());
        }
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        let mut b = self.queue.buffer();
        if let Some(job) = b.tasks.pop_front() {
            let id = TaskId::from_uuid(job.id.0);
            let task = apalis_core::task::builder::TaskBuilder::new(Started(Box::new(job)))
                .task_id(id)
                .build();
            return Poll::Ready(Some(Ok(task)));
        }
        if b.feeder_done {
            return Poll::Ready(None);
        }
        b.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if self.closing.is_none() {
            self.feeder_stop.cancel();
            // Wait for the feeder to stop (a fetch in progress completes and
            // buffers its tasks), then release what is buffered.
            {
                let mut b = self.queue.buffer();
                if self.feeder_started && !b.feeder_done {
                    b.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
            self.closing = Some(self.queue.clone().release_buffered().boxed());
        }
        match self.closing.as_mut() {
            Some(f) => f.poll_unpin(cx).map(Ok),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl BackendConfig for QueueBackend {
    type Args = Started;
    type Id = uuid::Uuid;
    type Kind = Ephemeral;
    type Config = QueueSettings;
    type Layer = Identity;

    fn config(&self) -> &Self::Config {
        &self.queue.settings
    }

    fn middleware(&mut self, _worker: &mut WorkerContext) -> Self::Layer {
        Identity::new()
    }
}
