//! The worker's settings, parsed once from the environment.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use launchpad_domain::{
    config::{self, ConfigError, LogFormat},
    email::Sender,
    jobs::Concurrency,
};

use crate::mail::{MailSettings, check_smtp_url};

/// `LAUNCHPAD_SMTP_URL` when unset: a mail server on this machine.
pub const DEFAULT_SMTP_URL: &str = "smtp://127.0.0.1:25";

use crate::llm::AiSettings;

#[derive(Clone)]
pub struct WorkerSettings {
    pub database_url: String,
    pub log_format: LogFormat,
    pub metrics_addr: SocketAddr,
    /// Default in-flight jobs per kind; `LAUNCHPAD_WORKER_CONCURRENCY_<KIND>` overrides.
    pub concurrency: usize,
    pub concurrency_per_kind: HashMap<String, usize>,
    /// Tasks fetched per query.
    pub batch_size: usize,
    pub heartbeat: Duration,
    pub missed_heartbeats: usize,
    /// Fallback poll when no NOTIFY arrives (delayed and retried jobs get none).
    pub poll_interval: Duration,
    pub shutdown_grace: Duration,
    pub diagnostic_jobs: bool,
    pub db_max_connections: u32,
    /// Connections of the job-bookkeeping pool (fetches, acks, heartbeats,
    /// job state writes).
    pub db_transport_connections: u32,
    /// Cron expressions per periodic kind (`off` disables one).
    pub cron: HashMap<String, Option<String>>,
    pub job_retention_days: u32,
    pub webhooks: WebhookSettings,
    pub mail: MailSettings,
    /// The AI provider and the AI jobs' limits.
    pub ai: AiSettings,
    /// Days the nightly KPI rollup recomputes, ending today (late data lands in them).
    pub kpi_trailing_days: u32,
    /// Where file contents live (`LAUNCHPAD_STORAGE_*`), and their limits.
    pub files: launchpad_domain::files::FilesConfig,
    /// Where the API is reachable from outside (`LAUNCHPAD_PUBLIC_URL`):
    /// links in e-mails (notifications, one-click unsubscribe).
    pub public_url: String,
}

/// Webhook delivery settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Plain http and loopback/private targets (`LAUNCHPAD_WEBHOOKS_ALLOW_INSECURE`,
    /// local development and tests only).
    pub allow_insecure: bool,
    /// Total time of one attempt: connect, send, answer (`LAUNCHPAD_WEBHOOKS_TIMEOUT_MS`, 15 s).
    pub timeout: Duration,
    /// Multiplies the retry schedule (`LAUNCHPAD_WEBHOOKS_RETRY_SCALE`, 1; tests shrink it).
    pub retry_scale: f64,
    /// An endpoint whose attempts all failed for this long is disabled
    /// (`LAUNCHPAD_WEBHOOKS_DISABLE_AFTER_HOURS`, 120 = 5 days).
    pub disable_after: Duration,
}

impl std::fmt::Debug for WorkerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSettings")
            .field("metrics_addr", &self.metrics_addr)
            .field("concurrency", &self.concurrency)
            .field("batch_size", &self.batch_size)
            .field("heartbeat", &self.heartbeat)
            .field("poll_interval", &self.poll_interval)
            .field("smtp_relay", &self.mail.relay_for_logs())
            .field("smtp_rate_per_sec", &self.mail.rate_per_sec)
            .field("ai", &self.ai)
            .finish_non_exhaustive()
    }
}

impl WorkerSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let database_url = config::required("DATABASE_URL")?;
        let mut concurrency_per_kind = HashMap::new();
        let mut cron = HashMap::new();
        for (k, v) in std::env::vars() {
            if let Some(kind) = k.strip_prefix("LAUNCHPAD_WORKER_CONCURRENCY_") {
                let n: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| config::invalid(&k, "must be a positive integer"))?;
                concurrency_per_kind.insert(kind.to_lowercase(), n.max(1));
            }
            if let Some(kind) = k.strip_prefix("LAUNCHPAD_CRON_") {
                let v = v.trim();
                cron.insert(
                    kind.to_lowercase(),
                    if v == "off" {
                        None
                    } else {
                        Some(v.to_string())
                    },
                );
            }
        }
        Ok(Self {
            database_url,
            log_format: config::parsed_or("LOG_FORMAT", LogFormat::Text)?,
            metrics_addr: config::parsed_or(
                "LAUNCHPAD_WORKER_METRICS_ADDR",
                "127.0.0.1:9091".parse().expect("valid"),
            )?,
            concurrency: config::parsed_or("LAUNCHPAD_WORKER_CONCURRENCY", 32usize)?.max(1),
            concurrency_per_kind,
            batch_size: config::parsed_or("LAUNCHPAD_WORKER_BATCH_SIZE", 64usize)?.max(1),
            heartbeat: Duration::from_secs(
                config::parsed_or("LAUNCHPAD_WORKER_HEARTBEAT_SECS", 5u64)?.max(1),
            ),
            missed_heartbeats: config::parsed_or("LAUNCHPAD_WORKER_MISSED_HEARTBEATS", 6usize)?
                .max(2),
            poll_interval: Duration::from_millis(
                config::parsed_or("LAUNCHPAD_WORKER_POLL_MS", 1000u64)?.max(10),
            ),
            shutdown_grace: Duration::from_secs(config::parsed_or(
                "LAUNCHPAD_WORKER_SHUTDOWN_GRACE_SECS",
                30u64,
            )?),
            diagnostic_jobs: config::flag("LAUNCHPAD_DIAGNOSTIC_JOBS")?,
            db_max_connections: config::parsed_or("LAUNCHPAD_WORKER_DB_MAX_CONNECTIONS", 20u32)?
                .max(4),
            db_transport_connections: config::parsed_or(
                "LAUNCHPAD_WORKER_DB_TRANSPORT_CONNECTIONS",
                10u32,
            )?
            .max(2),
            cron,
            job_retention_days: config::parsed_or("LAUNCHPAD_JOB_RETENTION_DAYS", 30u32)?.max(1),
            webhooks: WebhookSettings::from_env()?,
            mail: mail_from_env()?,
            ai: AiSettings::from_env()?,
            kpi_trailing_days: kpi_trailing_days()?,
            files: launchpad_domain::files::FilesConfig::from_env()?,
            public_url: launchpad_domain::notifications::public_url_from_env()?,
        })
    }

    /// A kind's concurrency: its `LAUNCHPAD_WORKER_CONCURRENCY_<KIND>`, else
    /// what the kind declares relative to the default.
    pub fn concurrency_for(&self, kind: &str, declared: Concurrency) -> usize {
        self.concurrency_per_kind
            .get(kind)
            .copied()
            .unwrap_or_else(|| declared.of(self.concurrency))
    }

    /// The cron expression for a periodic kind: the configured one, else its default.
    pub fn cron_for(&self, kind: &str, default: Option<&str>) -> Option<String> {
        match self.cron.get(kind) {
            Some(v) => v.clone(),
            None => default.map(String::from),
        }
    }
}

impl WebhookSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let retry_scale: f64 = config::parsed_or("LAUNCHPAD_WEBHOOKS_RETRY_SCALE", 1.0)?;
        if !(retry_scale.is_finite() && retry_scale > 0.0 && retry_scale <= 1.0) {
            return Err(config::invalid(
                "LAUNCHPAD_WEBHOOKS_RETRY_SCALE",
                "must be a number in (0, 1]",
            ));
        }
        let timeout_ms = config::parsed_or("LAUNCHPAD_WEBHOOKS_TIMEOUT_MS", 15_000u64)?;
        // Below the webhook_deliver kind's timeout (60 s), with room for bookkeeping.
        if !(100..=45_000).contains(&timeout_ms) {
            return Err(config::invalid(
                "LAUNCHPAD_WEBHOOKS_TIMEOUT_MS",
                "must be between 100 and 45000",
            ));
        }
        let hours = config::parsed_or("LAUNCHPAD_WEBHOOKS_DISABLE_AFTER_HOURS", 120u64)?.max(1);
        Ok(Self {
            allow_insecure: config::flag("LAUNCHPAD_WEBHOOKS_ALLOW_INSECURE")?,
            timeout: Duration::from_millis(timeout_ms),
            retry_scale,
            disable_after: Duration::from_secs(hours * 3600),
        })
    }
}

fn mail_from_env() -> Result<MailSettings, ConfigError> {
    let smtp_url =
        config::optional("LAUNCHPAD_SMTP_URL")?.unwrap_or_else(|| DEFAULT_SMTP_URL.into());
    check_smtp_url(smtp_url.trim()).map_err(|m| config::invalid("LAUNCHPAD_SMTP_URL", m))?;
    let rate: u32 = config::parsed_or("LAUNCHPAD_SMTP_RATE_PER_SEC", 50u32)?;
    Ok(MailSettings {
        smtp_url: smtp_url.trim().to_string(),
        from: Sender::from_env()?,
        pool_size: config::parsed_or("LAUNCHPAD_SMTP_POOL_SIZE", 10u32)?.max(1),
        rate_per_sec: std::num::NonZeroU32::new(rate)
            .ok_or_else(|| config::invalid("LAUNCHPAD_SMTP_RATE_PER_SEC", "must be at least 1"))?,
        timeout: Duration::from_secs(
            config::parsed_or("LAUNCHPAD_SMTP_TIMEOUT_SECS", 30u64)?.max(1),
        ),
    })
}
/// `LAUNCHPAD_KPI_TRAILING_DAYS`: 1–731, default 35.
fn kpi_trailing_days() -> Result<u32, ConfigError> {
    let days = config::parsed_or("LAUNCHPAD_KPI_TRAILING_DAYS", 35u32)?;
    if (1..=731).contains(&days) {
        Ok(days)
    } else {
        Err(config::invalid(
            "LAUNCHPAD_KPI_TRAILING_DAYS",
            "must be between 1 and 731",
        ))
    }
}
