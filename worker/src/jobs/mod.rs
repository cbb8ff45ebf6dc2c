//! The handlers of every job kind (one module per kind, each implementing
//! [`Handler`] for the kind `launchpad_domain::kinds` declares), registered
//! from the one list of kinds ([`register_all`]).

pub mod ai_cop_advice;
pub mod ai_survey_summary;
pub mod assignment_reminders;
pub mod certificate_issue;
pub mod coaching_invites;
pub mod content_expire;
pub mod diagnostic;
pub mod email_send;
pub mod event_invites;
pub mod file_delete;
pub mod file_process;
pub mod files_cleanup;
pub mod kpi_rollup;
pub mod newsletter_draft;
pub mod newsletter_progress;
pub mod newsletter_send;
pub mod notify;
pub mod notify_digest;
pub mod prune;
pub mod webhook_deliver;

use std::{sync::Arc, time::Duration};

use apalis::prelude::{Monitor, WorkerBuilder, WorkerBuilderExt};
use launchpad_domain::{
    jobs::{EnqueueCtx, JobKind, NewJob, run::WorkerId},
    kinds::{
        self, AssignmentReminders, AssignmentRemindersPayload, Diagnostic, DiagnosticBehaviour,
        DiagnosticPayload, KpiRollup, NotifyDigest, NotifyDigestPayload, PruneJobs,
        PruneJobsPayload,
    },
    kpi,
};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    config::WorkerSettings,
    runtime::{
        Handler, OnEnd, Runtime,
        cron::CronEntry,
        queue::{KindQueue, QueueBackend, QueueSettings},
        run_task,
        wakeups::Wakeups,
    },
};

/// Builds the apalis monitor: one apalis worker per registered kind, each
/// fed by Launchpad's queue backend.
pub struct Registry {
    pub monitor: Monitor,
    pub kinds: Vec<&'static str>,
    pool: PgPool,
    rt: Arc<Runtime>,
    on_end: OnEnd,
    settings: WorkerSettings,
    instance: String,
    wakeups: Wakeups,
    registered: watch::Receiver<Option<WorkerId>>,
    stop: CancellationToken,
}

/// What a [`Registry`] is built from.
pub struct RegistryParts {
    /// The job-bookkeeping pool.
    pub pool: PgPool,
    pub rt: Arc<Runtime>,
    pub on_end: OnEnd,
    pub settings: WorkerSettings,
    /// This process's name.
    pub instance: String,
    /// The process's id, once registered.
    pub registered: watch::Receiver<Option<WorkerId>>,
    /// Stops fetching (process shutdown).
    pub stop: CancellationToken,
}

impl Registry {
    pub fn new(p: RegistryParts) -> Self {
        let wakeups = Wakeups::start(p.pool.clone(), p.stop.clone());
        Self {
            monitor: Monitor::new(),
            kinds: vec![],
            pool: p.pool,
            rt: p.rt,
            on_end: p.on_end,
            wakeups,
            settings: p.settings,
            instance: p.instance,
            registered: p.registered,
            stop: p.stop,
        }
    }

    /// Registers the handler of kind `K` (diagnostic kinds only when enabled).
    pub fn add<K: Handler>(mut self) -> Self {
        if K::DIAGNOSTIC && !self.settings.diagnostic_jobs {
            return self;
        }
        let kind = K::NAME;
        let s = &self.settings;
        let queue_settings = QueueSettings {
            kind,
            worker: format!("{kind}@{}", self.instance),
            concurrency: s.concurrency_for(kind, K::CONCURRENCY),
            batch: s.batch_size,
            poll: s.poll_interval,
        };
        let pool = self.pool.clone();
        let wake = self.wakeups.kind(kind);
        let registered = self.registered.clone();
        let on_end = self.on_end.clone();
        let stop = self.stop.clone();
        let rt = self.rt.clone();
        let concurrency = queue_settings.concurrency;
        self.monitor = self.monitor.register(move |_restarts| {
            let queue = KindQueue::new(
                queue_settings.clone(),
                pool.clone(),
                wake.clone(),
                registered.clone(),
                on_end.clone(),
                stop.child_token(),
            );
            WorkerBuilder::new(queue_settings.worker.clone())
                .backend(QueueBackend::new(queue.clone()))
                .concurrency(concurrency)
                .data(rt.clone())
                .data(queue)
                .build(run_task::<K>)
        });
        self.kinds.push(kind);
        self
    }
}

macro_rules! register_kinds {
    ($($kind:ident),* $(,)?) => {
        /// Every kind of `launchpad_domain::kinds`' list; a kind without a
        /// [`Handler`] does not compile here.
        pub fn register_all(reg: Registry) -> Registry {
            reg $(.add::<kinds::$kind>())*
        }
    };
}
launchpad_domain::for_each_job_kind!(register_kinds);

/// Periodic jobs: default schedules, overridable with `LAUNCHPAD_CRON_<KIND>`.
pub fn cron_entries(settings: &WorkerSettings) -> Result<Vec<CronEntry>, String> {
    let mut out = vec![];
    let retention = settings.job_retention_days;
    if let Some(expr) = settings.cron_for(PruneJobs::NAME, Some("0 17 3 * * *")) {
        out.push(CronEntry::new(PruneJobs::NAME, &expr, move |tick| {
            vec![
                NewJob::of::<PruneJobs>(
                    &PruneJobsPayload {
                        retention_days: retention,
                    },
                    &EnqueueCtx::default(),
                )
                .unique(format!("cron:{}", tick.timestamp())),
            ]
        })?);
    }
    // Nightly KPI rollups: one per active CoP for the trailing window,
    // coalesced with any rollup of the CoP already queued.
    let trailing_days = settings.kpi_trailing_days;
    if let Some(expr) = settings.cron_for(KpiRollup::NAME, Some("0 0 2 * * *")) {
        out.push(CronEntry::enqueuing(
            KpiRollup::NAME,
            &expr,
            move |conn, tick| Box::pin(kpi::rollup::enqueue_nightly(conn, tick, trailing_days)),
        )?);
    }
    // Nightly: content items past their expiry.
    if let Some(expr) = settings.cron_for(kinds::ContentExpire::NAME, Some("0 10 3 * * *")) {
        out.push(CronEntry::new(
            kinds::ContentExpire::NAME,
            &expr,
            move |tick| {
                vec![
                    NewJob::of::<kinds::ContentExpire>(
                        &kinds::ContentExpirePayload::default(),
                        &EnqueueCtx::default(),
                    )
                    .unique(format!("cron:{}", tick.timestamp())),
                ]
            },
        )?);
    }
    // Nightly: orphans, deleted files' objects, objects without a record.
    if let Some(expr) = settings.cron_for(kinds::FilesCleanup::NAME, Some("0 40 3 * * *")) {
        out.push(CronEntry::new(
            kinds::FilesCleanup::NAME,
            &expr,
            move |tick| {
                vec![
                    NewJob::of::<kinds::FilesCleanup>(
                        &kinds::FilesCleanupPayload::default(),
                        &EnqueueCtx::default(),
                    )
                    .unique(format!("cron:{}", tick.timestamp())),
                ]
            },
        )?);
    }
    // Digests: every quarter of an hour, whoever's period (08:00 in their
    // zone) began gets theirs, once.
    if let Some(expr) = settings.cron_for(NotifyDigest::NAME, Some("0 */15 * * * *")) {
        out.push(CronEntry::new(NotifyDigest::NAME, &expr, |tick| {
            vec![
                NewJob::of::<NotifyDigest>(&NotifyDigestPayload { tick }, &EnqueueCtx::default())
                    .unique("cron"),
            ]
        })?);
    }
    // Assignment notices (due soon, overdue): daily.
    if let Some(expr) = settings.cron_for(AssignmentReminders::NAME, Some("0 0 6 * * *")) {
        out.push(CronEntry::new(AssignmentReminders::NAME, &expr, |tick| {
            vec![
                NewJob::of::<AssignmentReminders>(
                    &AssignmentRemindersPayload { tick },
                    &EnqueueCtx::default(),
                )
                .unique("cron"),
            ]
        })?);
    }
    if settings.diagnostic_jobs
        && let Some(expr) = settings.cron_for(Diagnostic::NAME, None)
    {
        out.push(CronEntry::new(Diagnostic::NAME, &expr, |tick| {
            let payload = DiagnosticPayload {
                behaviour: DiagnosticBehaviour::Succeed,
                fail_times: 0,
                sleep_ms: 0,
                label: Some(format!("cron:{}", tick.timestamp())),
            };
            vec![NewJob::of::<Diagnostic>(&payload, &EnqueueCtx::default())]
        })?);
    }
    Ok(out)
}

/// How long a graceful shutdown waits for in-flight jobs.
pub fn shutdown_grace(settings: &WorkerSettings) -> Duration {
    settings.shutdown_grace
}
