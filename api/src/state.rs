//! Shared application state, available to every endpoint as `Data<&Arc<AppState>>`.

use std::sync::Arc;

use launchpad_domain::auth::{TokenKeys, account::AccountMail};
use sqlx::PgPool;

use crate::{config::Settings, job_events::JobEvents, rate_limit::RateLimits};

pub struct AppState {
    pub db: PgPool,
    pub settings: Settings,
    pub keys: TokenKeys,
    pub limits: RateLimits,
    pub job_events: JobEvents,
    /// Wakes the notification streams of the people whose inbox changed.
    pub notifications: crate::notification_hub::NotificationHub,
    /// Runs job-creating requests' transactions in shared commits, and
    /// wakes workers after each.
    pub commits: launchpad_domain::group_commit::GroupCommit,
    /// Where file contents live (local disk or S3-compatible).
    pub storage: Arc<dyn launchpad_domain::files::storage::Storage>,
    /// Signs and checks the API's own file URLs (local storage).
    pub url_signer: launchpad_domain::files::storage::UrlSigner,
    /// Who sends the account e-mails and where their links point.
    pub account_mail: AccountMail,
    /// Password resets run after the answer (so that it says nothing about
    /// the address); at most this many at once, callers wait for a permit.
    pub resets: Arc<tokio::sync::Semaphore>,
}

pub type SharedState = Arc<AppState>;
