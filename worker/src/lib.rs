//! launchpad-worker: runs every job kind against Postgres (apalis workers
//! over Launchpad's `jobs` table), plus cron ticks and metrics.

pub mod certificates;
pub mod config;
pub mod http;
pub mod jobs;
pub mod llm;
pub mod mail;
pub mod metrics;
pub mod runtime;
pub mod services;
pub mod share;
pub mod speech;

use std::sync::Arc;

use launchpad_domain::{
    db,
    jobs::{JobKind, hooks::Both},
    kinds::{AiSurveySummary, EmailSend},
    newsletters, notifications, webhooks,
};
use tokio_util::sync::CancellationToken;

use crate::{
    config::WorkerSettings,
    runtime::{OnEnd, Runtime, writer::StateWriter},
    services::Services,
};

/// A name unique per process: host and pid.
pub fn instance_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Runs the worker until `shutdown` resolves, then drains within the grace period.
pub async fn run(
    settings: WorkerSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let pool = db::connect_lazy(
        &settings.database_url,
        &db::PoolSettings {
            max_connections: settings.db_max_connections,
            ..Default::default()
        },
    )?;
    // The job bookkeeping (apalis' fetches, acks and heartbeats; our start
    // and finish writes) has its own small pool: handlers holding every
    // connection of the main pool cannot stall fetches or heartbeats (a
    // missed heartbeat gets tasks re-delivered as orphans). Its commits do
    // not wait for the WAL flush: losing one in a Postgres crash re-runs the
    // job, which at-least-once delivery allows; handlers' own writes (the
    // main pool) stay synchronous.
    let transport = db::connect_lazy(
        &settings.database_url,
        &db::PoolSettings {
            max_connections: settings.db_transport_connections,
            async_commit: true,
            ..Default::default()
        },
    )?;
    let stop = CancellationToken::new();
    // Stops fetching at the shutdown signal; heartbeats go on until the
    // in-flight jobs are done.
    let stop_fetching = stop.child_token();
    let metrics_addr = metrics::serve(settings.metrics_addr, pool.clone(), stop.clone()).await?;
    // What the core tells when jobs end: the `job.*` webhook events, the
    // `job_failed` notifications, and failed newsletter drafts.
    let on_end: OnEnd = Arc::new(Both::new(
        Both::new(webhooks::events::JobEvents, notifications::JobFailed),
        newsletters::draft::DraftEnded,
    ));
    let services = Arc::new(Services::from_settings(&settings)?);
    let rt = Arc::new(Runtime {
        db: pool.clone(),
        writer: StateWriter::start(transport.clone(), on_end.clone()),
        services: services.clone(),
    });
    let instance = instance_name();
    let (registered_tx, registered) = tokio::sync::watch::channel(None);
    let reg = jobs::register_all(jobs::Registry::new(jobs::RegistryParts {
        pool: transport.clone(),
        rt: rt.clone(),
        on_end,
        settings: settings.clone(),
        instance: instance.clone(),
        registered,
        stop: stop_fetching.clone(),
    }));
    let heartbeat = runtime::heartbeat::Heartbeat {
        db: transport.clone(),
        name: instance.clone(),
        kinds: reg.kinds.clone(),
        every: settings.heartbeat,
        dead_after: settings.heartbeat * settings.missed_heartbeats as u32,
        registered: registered_tx,
    };
    let heartbeat = tokio::spawn(heartbeat.run(stop.clone()));
    // The relay's rate is shared by every process that sends mail.
    if reg.kinds.contains(&EmailSend::NAME) {
        tokio::spawn(mail::share_rate(
            transport.clone(),
            services.mail.clone(),
            instance.clone(),
            settings.heartbeat,
            settings.heartbeat * settings.missed_heartbeats as u32,
            stop.clone(),
        ));
    }
    // So are the AI provider's limits, by every process that runs AI jobs.
    if let Some(limits) = &services.ai.limits
        && reg.kinds.contains(&AiSurveySummary::NAME)
    {
        tokio::spawn(llm::share_limits(
            transport.clone(),
            limits.clone(),
            instance.clone(),
            settings.heartbeat,
            settings.heartbeat * settings.missed_heartbeats as u32,
            stop.clone(),
        ));
    }
    let crons = jobs::cron_entries(&settings).map_err(|e| anyhow::anyhow!(e))?;
    tracing::info!(
        instance = %instance,
        kinds = ?reg.kinds,
        cron = ?crons.iter().map(|c| c.kind).collect::<Vec<_>>(),
        metrics = %metrics_addr,
        smtp = %settings.mail.relay_for_logs(),
        ai_provider = services.ai.pipeline.provider_name(),
        "launchpad-worker started"
    );
    for entry in crons {
        tokio::spawn(runtime::cron::run(
            pool.clone(),
            entry,
            stop_fetching.clone(),
        ));
    }
    let grace = jobs::shutdown_grace(&settings);
    let stop2 = stop_fetching.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new jobs; waiting for in-flight jobs");
        stop2.cancel();
        Ok(())
    };
    let ran = reg
        .monitor
        .shutdown_timeout(grace)
        .should_restart(|ctx, err| {
            tracing::warn!(worker = %ctx.name(), error = %err, "apalis worker stopped; restarting");
            true
        })
        .run_with_signal(signal)
        .await
        .map_err(|e| anyhow::anyhow!("monitor: {e}"));
    stop.cancel();
    let _ = heartbeat.await;
    ran?;
    tracing::info!("launchpad-worker stopped");
    Ok(())
}
