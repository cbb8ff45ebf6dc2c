//! The API's settings, parsed once from the environment.

use std::{net::SocketAddr, time::Duration};

use launchpad_domain::{
    auth::account::AccountMail,
    config::{self, ConfigError, LogFormat},
    email::Sender,
};

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub http_addr: SocketAddr,
    pub jwt_secret: Vec<u8>,
    pub bootstrap_admin: Option<(String, String)>,
    pub log_format: LogFormat,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub cors_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub rate_limit_per_minute: u32,
    pub login_attempts_per_15_min: u32,
    pub db_max_connections: u32,
    /// Connections that run job-creating requests' transactions in shared
    /// commits (see `launchpad_domain::group_commit`).
    pub commit_lanes: usize,
    pub diagnostic_jobs: bool,
    /// Webhook targets may be plain http and loopback/private addresses
    /// (`LAUNCHPAD_WEBHOOKS_ALLOW_INSECURE`; local development and tests only).
    pub webhooks_allow_insecure: bool,
    /// `LAUNCHPAD_MAIL_FROM`: the ORGANIZER of downloaded invitations and
    /// the sender of the account e-mails.
    pub mail_from: Sender,
    /// Storage and limits of files (`LAUNCHPAD_STORAGE_*`, `LAUNCHPAD_FILES_*`).
    pub files: launchpad_domain::files::FilesConfig,
    /// `LAUNCHPAD_PUBLIC_URL`: the API's external base URL, prefixed to the
    /// signed URLs of local storage (relative to the API otherwise); the
    /// account e-mails' links point at its operations when no portal is
    /// configured (`http://` + the listening address when unset).
    pub public_url: Option<String>,
    /// `LAUNCHPAD_PORTAL_URL`: the portal's base URL; the account e-mails'
    /// links point at its pages (`/accept-invitation`, `/reset-password`,
    /// `/verify-email`, each with `?token=`).
    pub portal_url: Option<String>,
    /// Seal and open coaching notes and scores (`LAUNCHPAD_COACHING_KEYS`).
    pub coaching_keys: launchpad_domain::coaching::crypto::NoteKeys,
    /// Sign certificates' Open Badges credentials and status lists
    /// (`LAUNCHPAD_CREDENTIAL_KEYS`; a development key when unset).
    pub credential_keys:
        std::sync::Arc<launchpad_domain::lms::certificates::credential::CredentialKeys>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets (JWT secret, admin password, database password).
        f.debug_struct("Settings")
            .field("http_addr", &self.http_addr)
            .field("log_format", &self.log_format)
            .field("cors_origins", &self.cors_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The variables left unset whose built-in development key is in use
    /// (logged as a warning at startup, once logging is set up).
    pub fn development_keys(&self) -> Vec<&'static str> {
        let mut unset = vec![];
        if self.coaching_keys.is_development() {
            unset.push("LAUNCHPAD_COACHING_KEYS");
        }
        if self.credential_keys.development {
            unset.push("LAUNCHPAD_CREDENTIAL_KEYS");
        }
        unset
    }

    /// Who sends the account e-mails and where their links point.
    pub fn account_mail(&self) -> AccountMail {
        AccountMail::new(
            self.mail_from.clone(),
            &self.public_base_url(),
            self.portal_url.as_deref(),
        )
    }

    /// Where the API is reachable from outside (`LAUNCHPAD_PUBLIC_URL`,
    /// else its own address): links in e-mails are made from it.
    pub fn public_base_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.http_addr))
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        let database_url = config::required("DATABASE_URL")?;
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(config::invalid("DATABASE_URL", "must be a postgres:// URL"));
        }
        let jwt_secret = config::required("LAUNCHPAD_JWT_SECRET")?;
        if jwt_secret.len() < 32 {
            return Err(config::invalid(
                "LAUNCHPAD_JWT_SECRET",
                "must be at least 32 characters",
            ));
        }
        let admin_email = config::optional("LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL")?;
        let admin_password = config::optional("LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD")?;
        let bootstrap_admin = match (admin_email, admin_password) {
            (Some(e), Some(p)) => Some((e, p)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(config::invalid(
                    "LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD",
                    "is required when LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL is set",
                ));
            }
            (None, Some(_)) => {
                return Err(config::invalid(
                    "LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL",
                    "is required when LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD is set",
                ));
            }
        };
        let cors_origins = config::optional("LAUNCHPAD_CORS_ORIGINS")?
            .map(|s| {
                s.split(',')
                    .map(|o| o.trim().to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            database_url,
            http_addr: config::parsed_or(
                "LAUNCHPAD_HTTP_ADDR",
                "127.0.0.1:8080".parse().expect("valid"),
            )?,
            jwt_secret: jwt_secret.into_bytes(),
            bootstrap_admin,
            log_format: config::parsed_or("LOG_FORMAT", LogFormat::Text)?,
            access_token_ttl: Duration::from_secs(config::parsed_or(
                "LAUNCHPAD_ACCESS_TOKEN_TTL_SECS",
                900u64,
            )?),
            refresh_token_ttl: Duration::from_secs(config::parsed_or(
                "LAUNCHPAD_REFRESH_TOKEN_TTL_SECS",
                7 * 86400u64,
            )?),
            cors_origins,
            max_body_bytes: config::parsed_or("LAUNCHPAD_MAX_BODY_BYTES", 4 * 1024 * 1024usize)?,
            rate_limit_per_minute: config::parsed_or("LAUNCHPAD_RATE_LIMIT_PER_MINUTE", 600u32)?
                .max(1),
            login_attempts_per_15_min: config::parsed_or(
                "LAUNCHPAD_LOGIN_ATTEMPTS_PER_15_MIN",
                5u32,
            )?
            .max(1),
            db_max_connections: config::parsed_or("LAUNCHPAD_DB_MAX_CONNECTIONS", 16u32)?.max(2),
            commit_lanes: config::parsed_or("LAUNCHPAD_API_COMMIT_LANES", 2usize)?.clamp(1, 64),
            diagnostic_jobs: config::flag("LAUNCHPAD_DIAGNOSTIC_JOBS")?,
            webhooks_allow_insecure: config::flag("LAUNCHPAD_WEBHOOKS_ALLOW_INSECURE")?,
            mail_from: Sender::from_env()?,
            files: launchpad_domain::files::FilesConfig::from_env()?,
            public_url: config::base_url("LAUNCHPAD_PUBLIC_URL")?,
            portal_url: config::base_url("LAUNCHPAD_PORTAL_URL")?,
            coaching_keys: launchpad_domain::coaching::crypto::NoteKeys::from_env()?,
            credential_keys: std::sync::Arc::new(
                launchpad_domain::lms::certificates::credential::CredentialKeys::from_env()?,
            ),
        })
    }
}
