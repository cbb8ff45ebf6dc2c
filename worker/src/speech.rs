//! The speech provider: the worker's implementation of
//! [`SpeechProvider`] — `POST /v1/audio/transcriptions` through
//! async-openai against any OpenAI-compatible endpoint (OpenAI, Azure
//! OpenAI, speaches, whisper.cpp's server, or the repository's local server
//! `scripts/transcribe_server.py`).
//!
//! It asks for `verbose_json` with segment and word timestamps through the
//! raw call and reads the answer leniently into Launchpad's own types
//! ([`speech::parse_answer`]): self-hosted servers leave out fields
//! async-openai's typed responses require (`usage`, `seek`). Failures are
//! classified like the AI provider's ([`crate::llm`]): 429, 5xx, timeouts
//! and bad answers are transient with the provider's `Retry-After`, other
//! 4xx permanent.

use std::time::Duration;

use async_openai::{
    Client,
    config::Config,
    types::audio::{
        AudioInput, AudioResponseFormat, CreateTranscriptionRequest, TimestampGranularity,
    },
};
use futures::future::BoxFuture;
use launchpad_domain::{
    config::{self, ConfigError},
    jobs::Failure,
    transcripts::speech::{self, ChunkTranscript, SpeechProvider, SpeechRequest},
};
use reqwest_ai as reqwest;
use tokio::sync::Semaphore;

use crate::llm::{Endpoint, LlmError, classify, provider_failure};

/// OpenAI's request limit for transcriptions.
pub const OPENAI_MAX_REQUEST_BYTES: u64 = 25 * 1024 * 1024;

/// Speech settings, read once from the environment. Each falls back to the
/// AI provider's (`OPENAI_BASE_URL`, `OPENAI_API_KEY`, `OPENAI_API_VERSION`).
#[derive(Clone)]
pub struct SpeechSettings {
    /// `LAUNCHPAD_TRANSCRIBE_BASE_URL`, `…_API_KEY`, `…_API_VERSION`; the
    /// AI provider's (`OPENAI_…`) when neither a base URL nor a key is set.
    pub endpoint: Endpoint,
    /// `LAUNCHPAD_TRANSCRIBE_MODEL` (`whisper-1`).
    pub model: String,
    /// `LAUNCHPAD_TRANSCRIBE_TIMEOUT_SECS` (300): one chunk, end to end.
    pub request_timeout: Duration,
    /// `LAUNCHPAD_TRANSCRIBE_CONCURRENCY` (4): chunks in flight per worker process.
    pub concurrency: usize,
    /// `LAUNCHPAD_TRANSCRIBE_MAX_REQUEST_BYTES` (25 MiB): the provider's request limit.
    pub max_request_bytes: u64,
    /// `LAUNCHPAD_TRANSCRIBE_CHUNK_SECS` (600): the longest chunk sent.
    pub chunk_secs: u64,
    /// `LAUNCHPAD_TRANSCRIBE_OVERLAP_SECS` (2): chunks overlap by twice this.
    pub overlap_secs: f64,
}

impl std::fmt::Debug for SpeechSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechSettings")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("concurrency", &self.concurrency)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish_non_exhaustive()
    }
}

impl SpeechSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let own = Endpoint::from_env("LAUNCHPAD_TRANSCRIBE_")?;
        // The AI provider's endpoint serves speech too, unless one is named.
        let endpoint = if own.configured() {
            own
        } else {
            Endpoint::from_env("OPENAI_")?
        };
        let overlap_secs: f64 = config::parsed_or("LAUNCHPAD_TRANSCRIBE_OVERLAP_SECS", 2.0)?;
        if !(0.0..=30.0).contains(&overlap_secs) {
            return Err(config::invalid(
                "LAUNCHPAD_TRANSCRIBE_OVERLAP_SECS",
                "must be between 0 and 30",
            ));
        }
        Ok(Self {
            endpoint,
            model: config::optional("LAUNCHPAD_TRANSCRIBE_MODEL")?
                .unwrap_or_else(|| "whisper-1".into()),
            request_timeout: Duration::from_secs(
                config::parsed_or("LAUNCHPAD_TRANSCRIBE_TIMEOUT_SECS", 300u64)?.max(1),
            ),
            concurrency: config::parsed_or("LAUNCHPAD_TRANSCRIBE_CONCURRENCY", 4usize)?.max(1),
            max_request_bytes: config::parsed_or(
                "LAUNCHPAD_TRANSCRIBE_MAX_REQUEST_BYTES",
                OPENAI_MAX_REQUEST_BYTES,
            )?
            .max(64 * 1024),
            chunk_secs: config::parsed_or("LAUNCHPAD_TRANSCRIBE_CHUNK_SECS", 600u64)?.max(20),
            overlap_secs,
        })
    }

    /// A provider is configured (else transcription jobs fail with `transcription_unconfigured`).
    pub fn provider_configured(&self) -> bool {
        self.endpoint.configured()
    }
}

/// An OpenAI-compatible transcription endpoint.
pub struct OpenAiSpeech {
    client: Client<Box<dyn Config>>,
    name: &'static str,
    model: String,
    base_url: String,
    concurrency: usize,
    max_request_bytes: u64,
    permits: Semaphore,
}

impl OpenAiSpeech {
    /// The configured provider, or `None`.
    pub fn from_settings(s: &SpeechSettings) -> anyhow::Result<Option<Self>> {
        if !s.provider_configured() {
            return Ok(None);
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(s.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(s.concurrency)
            .build()?;
        let (client, name, base_url) = s.endpoint.client(&s.model, http);
        Ok(Some(Self {
            client,
            name,
            model: s.model.clone(),
            base_url,
            concurrency: s.concurrency,
            max_request_bytes: s.max_request_bytes,
            permits: Semaphore::new(s.concurrency),
        }))
    }

    fn failure(&self, e: LlmError) -> Failure {
        provider_failure("speech provider", &self.base_url, "a transcription", e)
    }

    async fn send(&self, r: SpeechRequest) -> Result<ChunkTranscript, LlmError> {
        let request = CreateTranscriptionRequest {
            file: AudioInput::from_bytes(r.filename, r.audio),
            model: self.model.clone(),
            language: r.language,
            prompt: r.prompt,
            response_format: Some(AudioResponseFormat::VerboseJson),
            timestamp_granularities: Some(vec![
                TimestampGranularity::Segment,
                TimestampGranularity::Word,
            ]),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let result = self
            .client
            .audio()
            .transcription()
            .create_raw(request)
            .await;
        metrics::histogram!("launchpad_transcribe_request_duration_seconds", "provider" => self.name)
            .record(started.elapsed().as_secs_f64());
        let body = result.map_err(classify);
        let outcome = match &body {
            Ok(_) => "ok",
            Err(e) => e.label(),
        };
        metrics::counter!("launchpad_transcribe_requests_total", "provider" => self.name, "outcome" => outcome)
            .increment(1);
        speech::parse_answer(&body?, r.seconds).map_err(LlmError::BadResponse)
    }
}

impl SpeechProvider for OpenAiSpeech {
    fn name(&self) -> &'static str {
        self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn max_request_bytes(&self) -> u64 {
        self.max_request_bytes
    }

    fn transcribe(&self, r: SpeechRequest) -> BoxFuture<'_, Result<ChunkTranscript, Failure>> {
        Box::pin(async move {
            let _permit = self.permits.acquire().await.map_err(|_| {
                self.failure(LlmError::Unreachable("the worker is shutting down".into()))
            })?;
            self.send(r).await.map_err(|e| self.failure(e))
        })
    }
}
