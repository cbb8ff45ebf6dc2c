//! Every job kind the worker runs, registered in one place.

pub mod ai_cop_advice;
pub mod ai_survey_summary;
pub mod diagnostic;
pub mod email_send;
pub mod event_invites;
pub mod kpi_rollup;
pub mod prune;
pub mod webhook_deliver;

use std::{sync::Arc, time::Duration};

use apalis::prelude::{Monitor, WorkerBuilder, WorkerBuilderExt};
use launchpad_domain::{
    jobs::{EnqueueCtx, JobKind, NewJob, kinds},
    kpi,
};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    config::WorkerSettings,
    runtime::{
        JobHandler, Runtime,
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
    /// `(apalis worker name, kind)` of every registered kind.
    pub workers: Vec<(String, String)>,
    pool: PgPool,
    rt: Arc<Runtime>,
    settings: WorkerSettings,
    instance: String,
    wakeups: Wakeups,
    registered: watch::Receiver<bool>,
    stop: CancellationToken,
}

impl Registry {
    /// `pool` is the job-bookkeeping pool; `registered` turns true once the
    /// workers are registered; `stop` stops fetching (process shutdown).
    pub fn new(
        pool: PgPool,
        rt: Arc<Runtime>,
        settings: WorkerSettings,
        instance: String,
        registered: watch::Receiver<bool>,
        stop: CancellationToken,
    ) -> Self {
        let wakeups = Wakeups::start(pool.clone(), stop.clone());
        Self {
            monitor: Monitor::new(),
            kinds: vec![],
            workers: vec![],
            pool,
            rt,
            wakeups,
            settings,
            instance,
            registered,
            stop,
        }
    }

    /// Registers the handler of one kind.
    #[allow(clippy::should_implement_trait)] // a builder step, not `std::ops::Add`
    pub fn add<H: JobHandler>(mut self, handler: H) -> Self {
        let kind = <H::Kind as JobKind>::NAME;
        let s = &self.settings;
        let name = format!("{kind}@{}", self.instance);
        let queue_settings = QueueSettings {
            kind,
            worker: name.clone(),
            concurrency: s.concurrency_for(kind, <H::Kind as JobKind>::CONCURRENCY),
            batch: s.batch_size,
            poll: s.poll_interval,
        };
        let pool = self.pool.clone();
        let wake = self.wakeups.kind(kind);
        let registered = self.registered.clone();
        let stop = self.stop.clone();
        let rt = self.rt.clone();
        let handler = Arc::new(handler);
        let concurrency = queue_settings.concurrency;
        self.monitor = self.monitor.register(move |_restarts| {
            let queue = KindQueue::new(
                queue_settings.clone(),
                pool.clone(),
                wake.clone(),
                registered.clone(),
                stop.child_token(),
            );
            WorkerBuilder::new(queue_settings.worker.clone())
                .backend(QueueBackend::new(queue.clone()))
                .concurrency(concurrency)
                .data(rt.clone())
                .data(handler.clone())
                .data(queue)
                .build(run_task::<H>)
        });
        self.kinds.push(kind);
        self.workers.push((name, kind.to_string()));
        self
    }
}

/// All kinds. Diagnostic jobs only when enabled (tests, benchmarks).
pub fn register_all(reg: Registry, settings: &WorkerSettings) -> Registry {
    let reg = reg
        .add(prune::Prune)
        .add(webhook_deliver::WebhookDeliverHandler)
        .add(event_invites::EventInvitesHandler)
        .add(email_send::EmailSendHandler)
        .add(ai_survey_summary::AiSurveySummaryHandler)
        .add(ai_cop_advice::AiCopAdviceHandler)
        .add(kpi_rollup::KpiRollupHandler);
    if settings.diagnostic_jobs {
        reg.add(diagnostic::DiagnosticHandler)
    } else {
        reg
    }
}

/// Periodic jobs: default schedules, overridable with `LAUNCHPAD_CRON_<KIND>`.
pub fn cron_entries(settings: &WorkerSettings) -> Result<Vec<CronEntry>, String> {
    let mut out = vec![];
    let retention = settings.job_retention_days;
    if let Some(expr) = settings.cron_for(kinds::PruneJobs::NAME, Some("0 17 3 * * *")) {
        out.push(CronEntry::new(
            kinds::PruneJobs::NAME,
            &expr,
            move |tick| {
                vec![
                    NewJob::of::<kinds::PruneJobs>(
                        &kinds::PruneJobsPayload {
                            retention_days: retention,
                        },
                        &EnqueueCtx::default(),
                    )
                    .unique(format!("cron:{}", tick.timestamp())),
                ]
            },
        )?);
    }
    // Nightly KPI rollups: one per active CoP for the trailing window,
    // coalesced with any rollup of the CoP already queued.
    let trailing_days = settings.kpi_trailing_days;
    if let Some(expr) = settings.cron_for(kinds::KpiRollup::NAME, Some("0 0 2 * * *")) {
        out.push(CronEntry::enqueuing(
            kinds::KpiRollup::NAME,
            &expr,
            move |conn, tick| Box::pin(kpi::rollup::enqueue_nightly(conn, tick, trailing_days)),
        )?);
    }
    if settings.diagnostic_jobs
        && let Some(expr) = settings.cron_for(kinds::Diagnostic::NAME, None)
    {
        out.push(CronEntry::new(kinds::Diagnostic::NAME, &expr, |tick| {
            let payload = kinds::DiagnosticPayload {
                behaviour: kinds::DiagnosticBehaviour::Succeed,
                fail_times: 0,
                sleep_ms: 0,
                label: Some(format!("cron:{}", tick.timestamp())),
            };
            vec![NewJob::of::<kinds::Diagnostic>(
                &payload,
                &EnqueueCtx::default(),
            )]
        })?);
    }
    Ok(out)
}

/// How long a graceful shutdown waits for in-flight jobs.
pub fn shutdown_grace(settings: &WorkerSettings) -> Duration {
    settings.shutdown_grace
}
