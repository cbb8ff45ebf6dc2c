//! The outside integrations job handlers use, built from the worker's
//! settings in one place and handed to the runtime.

use std::sync::Arc;

use launchpad_domain::notifications::fanout::Links;

use crate::{
    config::{WebhookSettings, WorkerSettings},
    http::WebhookClient,
    llm,
    mail::Mailer,
};

pub struct Services {
    /// Sends webhook deliveries (SSRF-guarded, no redirects, capped reads).
    pub webhook_client: WebhookClient,
    pub webhook_settings: WebhookSettings,
    /// SMTP to the configured relay, rate-limited (the rate is shared with
    /// the other processes that send, see [`crate::mail::share_rate`]).
    pub mail: Arc<Mailer>,
    /// The AI provider (absent: the offline extractive method) and its settings.
    pub ai: llm::Ai,
    /// Object storage of files.
    pub storage: Arc<dyn launchpad_domain::files::storage::Storage>,
    /// Links in e-mails (the API's public URL).
    pub links: Links,
    /// Certificate PDFs (typst).
    pub certificates: Arc<dyn launchpad_domain::lms::certificates::render::Renderer>,
}

impl Services {
    pub fn from_settings(settings: &WorkerSettings) -> anyhow::Result<Self> {
        Ok(Self {
            webhook_client: WebhookClient::new(
                settings.webhooks.timeout,
                settings.webhooks.allow_insecure,
            )?,
            webhook_settings: settings.webhooks.clone(),
            mail: Arc::new(Mailer::new(&settings.mail).map_err(|e| anyhow::anyhow!(e))?),
            ai: llm::Ai::from_settings(&settings.ai)?,
            // The worker signs no URLs: any key will do.
            storage: launchpad_domain::files::storage::build(&settings.files.storage, b"worker")?,
            links: Links {
                public_url: settings.public_url.clone(),
            },
            certificates: Arc::new(crate::certificates::TypstRenderer::new()),
        })
    }
}
