//! Reading configuration from the environment: typed, validated once at
//! startup, and failing with one clear line that names the variable.

use std::{fmt, str::FromStr};

#[derive(Debug)]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {}: {}", self.var, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Loads `.env` if present (values already in the environment win).
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}

fn raw(var: &str) -> Result<Option<String>, ConfigError> {
    match std::env::var(var) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError {
            var: var.into(),
            reason: "is not valid UTF-8".into(),
        }),
    }
}

/// A required variable.
pub fn required(var: &str) -> Result<String, ConfigError> {
    raw(var)?.ok_or_else(|| ConfigError {
        var: var.into(),
        reason: "is required but not set".into(),
    })
}

pub fn optional(var: &str) -> Result<Option<String>, ConfigError> {
    raw(var)
}

/// An optional variable parsed with `FromStr`, or `default`.
pub fn parsed_or<T: FromStr>(var: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match raw(var)? {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e| ConfigError {
            var: var.into(),
            reason: format!("invalid value {v:?}: {e}"),
        }),
    }
}

pub fn flag(var: &str) -> Result<bool, ConfigError> {
    match raw(var)?.as_deref().map(str::trim) {
        None => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(v) => Err(ConfigError {
            var: var.into(),
            reason: format!("invalid value {v:?}: use true or false"),
        }),
    }
}

/// An optional base URL (`LAUNCHPAD_PUBLIC_URL`, `LAUNCHPAD_PORTAL_URL`):
/// absolute http(s) with a host, no query or fragment; returned without its
/// trailing slash so paths are appended as `{base}/api/v1/…`.
pub fn base_url(var: &str) -> Result<Option<String>, ConfigError> {
    raw(var)?
        .map(|v| parse_base_url(&v).map_err(|m| invalid(var, m)))
        .transpose()
}

/// The check [`base_url`] applies to a value.
pub fn parse_base_url(s: &str) -> Result<String, String> {
    let u = url::Url::parse(s.trim()).map_err(|e| format!("must be an absolute URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err("must be an http:// or https:// URL".into());
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err("must not have a query or a fragment".into());
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

pub fn invalid(var: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var: var.into(),
        reason: reason.into(),
    }
}

/// Log output format (`LOG_FORMAT=json|text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" | "pretty" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("use text or json".into()),
        }
    }
}

/// Installs the global tracing subscriber (`RUST_LOG` filters, default info).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,apalis=warn,apalis_core=warn"));
    // Colours only on a terminal: log files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Installs the SIGINT/SIGTERM handlers now, before the server starts, and
/// returns a future that resolves on the first of them. (Creating the signal
/// streams inside the future would install them only when it is first polled:
/// a SIGTERM arriving earlier would kill the process with the default action.)
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = term => {},
                _ = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
