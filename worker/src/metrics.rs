//! Worker metrics (`GET /metrics` on LAUNCHPAD_WORKER_METRICS_ADDR): jobs by
//! kind and outcome, run durations, time waiting before start, queue depth.

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::{EndpointExt, Route, get, handler, web::Data};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                        60.0, 300.0,
                    ],
                )
                .expect("valid buckets")
                .build_recorder();
            let h = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            h
        })
        .clone()
}

pub fn job_finished(kind: &'static str, outcome: &'static str, seconds: Option<f64>) {
    metrics::counter!("launchpad_jobs_total", "kind" => kind, "outcome" => outcome).increment(1);
    if let Some(s) = seconds {
        metrics::histogram!("launchpad_job_run_duration_seconds", "kind" => kind).record(s);
    }
    if outcome == "retrying" || outcome == "failed" {
        metrics::counter!("launchpad_job_failures_total", "kind" => kind, "outcome" => outcome)
            .increment(1);
    }
}

/// The attempt number of each finished attempt (1 = first try).
pub fn job_attempt(kind: &'static str, attempt: i32) {
    metrics::histogram!("launchpad_job_attempt", "kind" => kind).record(attempt as f64);
}

/// Tasks a kind's feeder fetched and started in one batch.
pub fn jobs_fetched(kind: &'static str, n: usize) {
    metrics::histogram!("launchpad_job_fetch_batch", "kind" => kind).record(n as f64);
}

pub fn job_waited(kind: &'static str, seconds: f64) {
    metrics::histogram!("launchpad_job_wait_seconds", "kind" => kind).record(seconds);
}

/// Refreshes queue-depth gauges from the database every few seconds.
async fn sample_queue(db: PgPool, stop: CancellationToken) {
    let mut t = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = t.tick() => {}
        }
        if let Ok(rows) = launchpad_domain::jobs::repo::queue_depths(&db).await {
            for r in rows {
                metrics::gauge!("launchpad_jobs_in_state", "kind" => r.kind, "status" => "queued")
                    .set(r.jobs as f64);
            }
        }
    }
}

/// Attempts this process runs (or holds to run) of a kind.
pub fn jobs_running(kind: &'static str, n: usize) {
    metrics::gauge!("launchpad_jobs_in_state", "kind" => kind, "status" => "running").set(n as f64);
}

#[handler]
fn render(h: Data<&PrometheusHandle>) -> String {
    h.render()
}

#[handler]
fn health() -> &'static str {
    "ok"
}

/// Serves `/metrics` and `/health`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    db: PgPool,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let handle = install();
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "LAUNCHPAD_WORKER_METRICS_ADDR={addr}: cannot listen for /metrics: {e}. \
                 Another launchpad-worker on this machine? Give each worker its own \
                 address (127.0.0.1:0 picks a free port)"
            ),
        )
    })?;
    let bound = listener.local_addr()?;
    let app = Route::new()
        .at("/metrics", get(render))
        .at("/health", get(health))
        .data(handle);
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener)?;
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, s.cancelled_owned(), Some(Duration::from_secs(1)))
            .await;
    });
    tokio::spawn(sample_queue(db, stop));
    Ok(bound)
}
