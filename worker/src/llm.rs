//! The AI provider: the worker's implementation of the pipeline's
//! [`LlmProvider`] — chat completions through async-openai against any
//! OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM, Ollama…), with
//! strict JSON-schema output, the provider's request and token limits
//! shared by the worker processes ([`Limits`], [`share_limits`]), and
//! failures classified for the job runtime. Without a configured provider
//! the pipeline runs each feature's offline method.
//!
//! Retries: async-openai's default executor retries 429/5xx in process
//! (with sleeps). This client replaces it with a tower service that retries
//! nothing and turns 429 and 5xx into errors carrying the provider's
//! `Retry-After`. The job then fails *transiently* and the job core's
//! durable backoff does the waiting: the wait holds no worker slot or
//! provider permit, survives restarts, is visible in `next_attempt_at`, and
//! counts against the job's attempts. Map-reduce jobs resume cheaply
//! because finished chunks are cached.

use std::{
    num::NonZeroU32,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU32, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use async_openai::{
    Client,
    config::{AzureConfig, Config, OpenAIConfig},
    error::OpenAIError,
    middleware::{HttpRequestFactory, ReqwestService},
    types::chat::{
        ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
        CreateChatCompletionRequest, CreateChatCompletionRequestArgs, FinishReason, ResponseFormat,
        ResponseFormatJsonSchema,
    },
};
use futures::future::BoxFuture;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use launchpad_domain::{
    ai::{
        pipeline::{self, JobRun, Progress},
        provider::{Answer, ChatRequest, Completion, LlmProvider},
        summary::Prompt,
        types::TokenUsage,
    },
    config::{self, ConfigError},
    ids::CustomerId,
    jobs::Failure,
};
use reqwest_ai as reqwest;
use tokio::sync::Semaphore;

use crate::runtime::JobContext;

/// AI settings, read once from the environment.
#[derive(Clone)]
pub struct AiSettings {
    /// `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `OPENAI_API_VERSION`.
    pub endpoint: Endpoint,
    /// `LAUNCHPAD_AI_MODEL`.
    pub model: String,
    /// `LAUNCHPAD_AI_TIMEOUT_SECS`: one request, end to end.
    pub request_timeout: Duration,
    /// `LAUNCHPAD_AI_CONNECT_TIMEOUT_SECS`.
    pub connect_timeout: Duration,
    /// `LAUNCHPAD_AI_CONCURRENCY`: requests in flight to the provider per worker process.
    pub concurrency: usize,
    /// `LAUNCHPAD_AI_RPM`: requests per minute (0 = no limit).
    pub rpm: u32,
    /// `LAUNCHPAD_AI_TPM`: estimated tokens per minute (0 = no limit).
    pub tpm: u32,
    /// `LAUNCHPAD_AI_MAX_OUTPUT_TOKENS`: completion tokens per request.
    pub max_output_tokens: u32,
    /// `LAUNCHPAD_AI_CHUNK_TOKENS`: estimated tokens of answers per map request.
    pub chunk_tokens: usize,
    /// `LAUNCHPAD_AI_MAX_ANSWER_CHARS`: longer answers are cut.
    pub max_answer_chars: usize,
}

impl std::fmt::Debug for AiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiSettings")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("concurrency", &self.concurrency)
            .field("rpm", &self.rpm)
            .field("tpm", &self.tpm)
            .finish_non_exhaustive()
    }
}

impl AiSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            endpoint: Endpoint::from_env("OPENAI_")?,
            model: config::optional("LAUNCHPAD_AI_MODEL")?.unwrap_or_else(|| "gpt-4o-mini".into()),
            request_timeout: Duration::from_secs(
                config::parsed_or("LAUNCHPAD_AI_TIMEOUT_SECS", 120u64)?.max(1),
            ),
            connect_timeout: Duration::from_secs(
                config::parsed_or("LAUNCHPAD_AI_CONNECT_TIMEOUT_SECS", 10u64)?.max(1),
            ),
            concurrency: config::parsed_or("LAUNCHPAD_AI_CONCURRENCY", 16usize)?.max(1),
            rpm: config::parsed_or("LAUNCHPAD_AI_RPM", 500u32)?,
            tpm: config::parsed_or("LAUNCHPAD_AI_TPM", 200_000u32)?,
            max_output_tokens: config::parsed_or("LAUNCHPAD_AI_MAX_OUTPUT_TOKENS", 4096u32)?
                .max(256),
            chunk_tokens: config::parsed_or("LAUNCHPAD_AI_CHUNK_TOKENS", 8000usize)?.max(200),
            max_answer_chars: config::parsed_or("LAUNCHPAD_AI_MAX_ANSWER_CHARS", 2000usize)?
                .max(50),
        })
    }

    /// No key and no base URL: the offline extractive method.
    pub fn provider_configured(&self) -> bool {
        self.endpoint.configured()
    }
}

impl AiSettings {
    /// The pipeline's settings.
    pub fn pipeline(&self) -> pipeline::Settings {
        pipeline::Settings {
            chunk_tokens: self.chunk_tokens,
            max_answer_chars: self.max_answer_chars,
            concurrency: self.concurrency,
            // A request waits for rate limits and a permit after reserving,
            // then runs for at most the request timeout.
            reservation_ttl: self.request_timeout * 2 + Duration::from_secs(300),
        }
    }
}

/// What the worker's AI jobs share: the pipeline (with the provider, if
/// one is configured) and the provider's limits this process keeps.
pub struct Ai {
    pub pipeline: pipeline::Ai,
    pub limits: Option<Arc<Limits>>,
}

impl Ai {
    pub fn from_settings(s: &AiSettings) -> anyhow::Result<Self> {
        let provider = OpenAiProvider::from_settings(s)?.map(Arc::new);
        Ok(Self {
            limits: provider.as_ref().map(|p| p.limits.clone()),
            pipeline: pipeline::Ai {
                settings: s.pipeline(),
                provider: provider.map(|p| p as Arc<dyn LlmProvider>),
            },
        })
    }
}

/// The pipeline's view of a running AI job of `customer`.
pub fn job_run(ctx: &JobContext, customer: CustomerId, refresh: bool) -> JobRun<'_> {
    JobRun {
        db: &ctx.db,
        job_id: ctx.job.id,
        attempt: ctx.job.attempts,
        customer,
        refresh,
        progress: ctx,
    }
}

/// The job's progress checkpoints, for the pipeline.
impl Progress for JobContext {
    fn progress<'a>(&'a self, pct: u8, message: &'a str) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(JobContext::progress(self, pct, message))
    }
}

/// The provider's request and token limits per minute (`LAUNCHPAD_AI_RPM`,
/// `LAUNCHPAD_AI_TPM`), shared by every worker process that calls it: each
/// keeps `limit / processes` ([`Limits::share_with`]).
///
/// A share `s` per minute is kept with bursts of `b` (a sixtieth of `s`,
/// at least one request; for tokens at least one request's estimate) and a
/// refill of `s − b` per minute: no window of a minute carries more than
/// `s`, and no window of `t` seconds more than `b + (s − b)·t/60`.
pub struct Limits {
    rpm: u32,
    tpm: u32,
    /// Tokens one request can count for (its estimate is clamped to this).
    min_token_burst: u32,
    processes: AtomicU32,
    current: RwLock<Arc<Limiters>>,
}

struct Limiters {
    requests: Option<DefaultDirectRateLimiter>,
    tokens: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
}

/// One process's share of `limit` when `processes` share it (rounded down,
/// at least 1); `None` for no limit.
pub fn share_of(limit: u32, processes: u32) -> Option<NonZeroU32> {
    if limit == 0 {
        return None;
    }
    NonZeroU32::new(limit / processes.max(1)).or(Some(NonZeroU32::MIN))
}

/// A limiter of `per_minute` cells: bursts of `per_minute / 60` (at least
/// `min_burst`, at most `per_minute`), refilled at the rest of the minute's
/// allowance. Returns it with its burst.
pub fn per_minute(
    per_minute: NonZeroU32,
    min_burst: u32,
) -> (DefaultDirectRateLimiter, NonZeroU32) {
    let (quota, burst) = quota_per_minute(per_minute, min_burst);
    (RateLimiter::direct(quota), burst)
}

fn quota_per_minute(per_minute: NonZeroU32, min_burst: u32) -> (Quota, NonZeroU32) {
    let n = per_minute.get();
    let burst = (n / 60).max(min_burst).clamp(1, n);
    let period = Duration::from_secs(60) / (n - burst).max(1);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_minute(per_minute))
        .allow_burst(burst);
    (quota, burst)
}

impl Limits {
    pub fn new(rpm: u32, tpm: u32, min_token_burst: u32) -> Self {
        let l = Self {
            rpm,
            tpm,
            min_token_burst,
            processes: AtomicU32::new(1),
            current: RwLock::new(Arc::new(Limiters {
                requests: None,
                tokens: None,
            })),
        };
        *l.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(l.limiters(1));
        l
    }

    fn limiters(&self, processes: u32) -> Limiters {
        Limiters {
            requests: share_of(self.rpm, processes).map(|n| per_minute(n, 1).0),
            tokens: share_of(self.tpm, processes).map(|n| per_minute(n, self.min_token_burst)),
        }
    }

    /// `processes` worker processes (this one included) call the provider:
    /// from now on this one keeps to its share of the limits.
    pub fn share_with(&self, processes: u32) {
        let processes = processes.max(1);
        if self.processes.swap(processes, Ordering::Relaxed) == processes {
            return;
        }
        tracing::info!(
            processes,
            requests_per_minute = share_of(self.rpm, processes).map(NonZeroU32::get),
            tokens_per_minute = share_of(self.tpm, processes).map(NonZeroU32::get),
            "sharing the AI provider's limits"
        );
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(self.limiters(processes));
    }

    /// Waits until this process's share allows one more request of
    /// `tokens` estimated tokens.
    async fn until_ready(&self, tokens: i64) {
        let l = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(r) = &l.requests {
            r.until_ready().await;
        }
        if let Some((t, burst)) = &l.tokens {
            let n = u32::try_from(tokens)
                .unwrap_or(u32::MAX)
                .clamp(1, burst.get());
            // `n` never exceeds the burst, so this only waits.
            let _ = t
                .until_n_ready(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
                .await;
        }
    }
}

/// Keeps this process's share of the provider's limits: counts the worker
/// processes running AI jobs (`own_worker` is this one's worker of an AI
/// kind) every `every`, until `stop`.
pub async fn share_limits(
    db: sqlx::PgPool,
    limits: Arc<Limits>,
    own_process: String,
    every: Duration,
    alive_within: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    use launchpad_domain::{jobs::JobKind, kinds::AiSurveySummary};
    crate::share::among_processes(
        db,
        AiSurveySummary::NAME,
        own_process,
        every,
        alive_within,
        stop,
        move |n| limits.share_with(n),
    )
    .await;
}

/// How an OpenAI-compatible provider is reached.
pub struct OpenAiProvider {
    client: Client<Box<dyn Config>>,
    /// `openai`, `azure_openai` or `openai_compatible` (any other base URL).
    name: &'static str,
    model: String,
    base_url: String,
    max_output_tokens: u32,
    permits: Semaphore,
    limits: Arc<Limits>,
}

impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn max_output_tokens(&self) -> u32 {
        self.max_output_tokens
    }

    fn complete<'a>(&'a self, r: ChatRequest<'a>) -> BoxFuture<'a, Result<Completion, Failure>> {
        Box::pin(async move {
            self.limits.until_ready(self.estimate(r.prompt)).await;
            let _permit = self.permits.acquire().await.map_err(|_| {
                self.failure(LlmError::Unreachable("the worker is shutting down".into()))
            })?;
            self.send(r).await.map_err(|e| self.failure(e))
        })
    }
}

impl OpenAiProvider {
    /// The configured provider, or `None` (the offline methods).
    pub fn from_settings(s: &AiSettings) -> anyhow::Result<Option<Self>> {
        if !s.provider_configured() {
            return Ok(None);
        }
        // reqwest 0.13 is built without a bundled crypto provider; use ring
        // (already in the dependency tree) rather than building aws-lc-sys.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(s.request_timeout)
            .connect_timeout(s.connect_timeout)
            .pool_max_idle_per_host(s.concurrency)
            .build()?;
        let (client, name, base_url) = s.endpoint.client(&s.model, http);
        // One request's estimate can reach a chunk, the instructions and the output limit.
        let biggest_request = s.chunk_tokens + s.max_output_tokens as usize + 2_000;
        Ok(Some(Self {
            client,
            name,
            model: s.model.clone(),
            base_url,
            max_output_tokens: s.max_output_tokens,
            permits: Semaphore::new(s.concurrency),
            limits: Arc::new(Limits::new(
                s.rpm,
                s.tpm,
                u32::try_from(biggest_request).unwrap_or(u32::MAX),
            )),
        }))
    }

    /// One chat completion whose answer must follow the request's schema (strict).
    async fn send(&self, r: ChatRequest<'_>) -> Result<Completion, LlmError> {
        let request = self.request(r.schema_name, r.schema.clone(), r.prompt)?;
        let started = std::time::Instant::now();
        let result = self.client.chat().create(request).await;
        metrics::histogram!("launchpad_ai_request_duration_seconds", "provider" => self.name)
            .record(started.elapsed().as_secs_f64());
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                let e = classify(e);
                metrics::counter!("launchpad_ai_requests_total", "provider" => self.name, "outcome" => e.label()).increment(1);
                return Err(e);
            }
        };
        metrics::counter!("launchpad_ai_requests_total", "provider" => self.name, "outcome" => "ok").increment(1);
        let usage = response
            .usage
            .as_ref()
            .map(|u| {
                let cached = u
                    .prompt_tokens_details
                    .as_ref()
                    .and_then(|d| d.cached_tokens)
                    .unwrap_or(0);
                TokenUsage::new(
                    u.prompt_tokens as i64,
                    u.completion_tokens as i64,
                    cached as i64,
                )
            })
            .unwrap_or_default();
        metrics::counter!("launchpad_ai_tokens_total", "type" => "prompt")
            .increment(usage.prompt_tokens.max(0) as u64);
        metrics::counter!("launchpad_ai_tokens_total", "type" => "completion")
            .increment(usage.completion_tokens.max(0) as u64);
        let Some(choice) = response.choices.into_iter().next() else {
            return Ok(Completion {
                usage,
                answer: Answer::Empty,
            });
        };
        let answer = if let Some(r) = choice.message.refusal.filter(|r| !r.trim().is_empty()) {
            Answer::Refusal(r)
        } else {
            match (choice.finish_reason, choice.message.content) {
                (Some(FinishReason::Length), _) => Answer::Truncated,
                (Some(FinishReason::ContentFilter), _) => Answer::Filtered,
                (_, Some(c)) if !c.trim().is_empty() => Answer::Content(c),
                _ => Answer::Empty,
            }
        };
        Ok(Completion { usage, answer })
    }

    fn request(
        &self,
        schema_name: &str,
        schema: serde_json::Value,
        prompt: &Prompt,
    ) -> Result<CreateChatCompletionRequest, LlmError> {
        let build = || -> Result<CreateChatCompletionRequest, OpenAIError> {
            CreateChatCompletionRequestArgs::default()
                .model(&self.model)
                .messages(vec![
                    ChatCompletionRequestSystemMessageArgs::default()
                        .content(prompt.system.as_str())
                        .build()?
                        .into(),
                    ChatCompletionRequestUserMessageArgs::default()
                        .content(prompt.user.as_str())
                        .build()?
                        .into(),
                ])
                .response_format(ResponseFormat::JsonSchema {
                    json_schema: ResponseFormatJsonSchema {
                        name: schema_name.to_string(),
                        description: None,
                        schema,
                        strict: Some(true),
                    },
                })
                .max_completion_tokens(self.max_output_tokens)
                .build()
        };
        build().map_err(|e| LlmError::Rejected {
            status: 0,
            message: format!("could not build the request: {e}"),
        })
    }

    /// A failure for the job runtime, naming the provider.
    fn failure(&self, e: LlmError) -> Failure {
        provider_failure("AI provider", &self.base_url, "a chat completion", e)
    }
}

/// A failure for the job runtime: transient for 429, 5xx, unreachable and
/// bad answers (with the provider's `Retry-After`), permanent for other
/// rejections; naming the provider (`what`, at `base_url`) and what a good
/// answer is (`expected`).
pub(crate) fn provider_failure(what: &str, base_url: &str, expected: &str, e: LlmError) -> Failure {
    match e {
        LlmError::RateLimited {
            retry_after,
            message,
        } => Failure::Transient {
            code: "provider_rate_limited".into(),
            message: format!("the {what} at {base_url} is rate limiting (429): {message}"),
            retry_after: retry_after.map(bound_retry_after),
        },
        LlmError::Unavailable {
            status,
            retry_after,
            message,
        } => Failure::Transient {
            code: "provider_unavailable".into(),
            message: format!("the {what} at {base_url} answered {status}: {message}"),
            retry_after: retry_after.map(bound_retry_after),
        },
        LlmError::Unreachable(m) => Failure::transient(
            "provider_unreachable",
            format!("could not reach the {what} at {base_url}: {m}"),
        ),
        LlmError::BadResponse(m) => Failure::transient(
            "provider_bad_response",
            format!("the {what} at {base_url} sent something that is not {expected}: {m}"),
        ),
        LlmError::Rejected { status, message } => Failure::permanent(
            "provider_rejected",
            format!("the {what} at {base_url} rejected the request ({status}): {message}"),
        ),
    }
}

/// Where an OpenAI-compatible provider is (OpenAI when no base URL is
/// given; Azure OpenAI with an API version, the model naming the
/// deployment). Shared by the AI and the speech settings.
#[derive(Clone, Default)]
pub struct Endpoint {
    /// `…BASE_URL`: any OpenAI-compatible API (`…/v1`).
    pub base_url: Option<String>,
    /// `…API_KEY`.
    pub api_key: Option<String>,
    /// `…API_VERSION`: set for Azure OpenAI.
    pub azure_api_version: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("azure_api_version", &self.azure_api_version)
            .finish()
    }
}

impl Endpoint {
    /// `{prefix}BASE_URL`, `{prefix}API_KEY` and `{prefix}API_VERSION`.
    pub fn from_env(prefix: &str) -> Result<Self, ConfigError> {
        let var = format!("{prefix}BASE_URL");
        let base_url = config::optional(&var)?.map(|u| u.trim().trim_end_matches('/').to_string());
        if let Some(u) = &base_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(config::invalid(&var, "must be an http:// or https:// URL"));
        }
        Ok(Self {
            base_url,
            api_key: config::optional(&format!("{prefix}API_KEY"))?,
            azure_api_version: config::optional(&format!("{prefix}API_VERSION"))?,
        })
    }

    /// A base URL or a key is set.
    pub fn configured(&self) -> bool {
        self.base_url.is_some() || self.api_key.is_some()
    }

    /// An async-openai client for the endpoint, with no retries of its own
    /// ([`Classify`]); with the provider's name (`openai`, `azure_openai`,
    /// `openai_compatible`) and base URL.
    pub(crate) fn client(
        &self,
        model: &str,
        http: reqwest::Client,
    ) -> (Client<Box<dyn Config>>, &'static str, String) {
        let key = self.api_key.clone().unwrap_or_default();
        let (config, name, base_url): (Box<dyn Config>, &'static str, String) =
            match (self.base_url.as_deref(), self.azure_api_version.as_deref()) {
                (Some(base), Some(version)) => (
                    Box::new(
                        AzureConfig::new()
                            .with_api_base(base)
                            .with_api_key(key)
                            .with_deployment_id(model)
                            .with_api_version(version),
                    ),
                    "azure_openai",
                    base.to_string(),
                ),
                (Some(base), None) => (
                    Box::new(OpenAIConfig::new().with_api_base(base).with_api_key(key)),
                    if base.starts_with("https://api.openai.com") {
                        "openai"
                    } else {
                        "openai_compatible"
                    },
                    base.to_string(),
                ),
                (None, _) => (
                    Box::new(
                        OpenAIConfig::new()
                            .with_api_base("https://api.openai.com/v1")
                            .with_api_key(key),
                    ),
                    "openai",
                    "https://api.openai.com/v1".into(),
                ),
            };
        let client = Client::with_config(config).with_http_service(Classify {
            inner: ReqwestService::new(http),
        });
        (client, name, base_url)
    }
}

/// A provider's `Retry-After` is honoured between 1 s and 1 h.
pub(crate) fn bound_retry_after(d: Duration) -> Duration {
    d.clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Why a request did not produce a completion.
#[derive(Debug)]
pub enum LlmError {
    /// 429 (other than an exhausted quota).
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// 5xx or 408.
    Unavailable {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    /// Connection refused, DNS, TLS, timeout.
    Unreachable(String),
    /// A body that is not a chat completion.
    BadResponse(String),
    /// Another 4xx (bad request, auth, unknown model, exhausted quota).
    Rejected { status: u16, message: String },
}

impl LlmError {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            LlmError::RateLimited { .. } => "rate_limited",
            LlmError::Unavailable { .. } => "unavailable",
            LlmError::Unreachable(_) => "unreachable",
            LlmError::BadResponse(_) => "bad_response",
            LlmError::Rejected { .. } => "rejected",
        }
    }
}

/// A 429 or 5xx, with the provider's `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {body}")]
struct RetryableStatus {
    status: u16,
    retry_after: Option<Duration>,
    body: String,
}

/// The HTTP service under async-openai: no retries; 429 and 5xx become
/// [`RetryableStatus`] errors that keep the `Retry-After` header (the
/// client's own error type would drop it).
#[derive(Clone)]
pub(crate) struct Classify {
    pub(crate) inner: ReqwestService,
}

impl tower::Service<HttpRequestFactory> for Classify {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = BoxFuture<'static, Result<reqwest::Response, OpenAIError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequestFactory) -> Self::Future {
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            let status = resp.status();
            if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
                let retry_after = retry_after(resp.headers());
                let body = resp.text().await.unwrap_or_default();
                return Err(OpenAIError::Boxed(Box::new(RetryableStatus {
                    status: status.as_u16(),
                    retry_after,
                    body: shorten(&body),
                })));
            }
            Ok(resp)
        })
    }
}

/// `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

fn shorten(s: &str) -> String {
    launchpad_domain::ai::text::one_line(s, 300)
}

/// An error with its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

pub(crate) fn classify(e: OpenAIError) -> LlmError {
    match e {
        OpenAIError::Boxed(b) => match b.downcast::<RetryableStatus>() {
            Ok(r) if r.status == 429 && r.body.contains("insufficient_quota") => {
                LlmError::Rejected {
                    status: 429,
                    message: format!("the account's quota is exhausted: {}", r.body),
                }
            }
            Ok(r) if r.status == 429 => LlmError::RateLimited {
                retry_after: r.retry_after,
                message: r.body,
            },
            Ok(r) => LlmError::Unavailable {
                status: r.status,
                retry_after: r.retry_after,
                message: r.body,
            },
            Err(other) => LlmError::Unreachable(chain(other.as_ref())),
        },
        OpenAIError::ApiError(a) => LlmError::Rejected {
            status: a.status_code.as_u16(),
            message: shorten(&a.api_error.to_string()),
        },
        OpenAIError::Reqwest(e) if e.is_timeout() => {
            LlmError::Unreachable(format!("timed out: {}", chain(&e)))
        }
        OpenAIError::Reqwest(e) if e.is_decode() || e.is_body() => LlmError::BadResponse(chain(&e)),
        OpenAIError::Reqwest(e) => LlmError::Unreachable(chain(&e)),
        OpenAIError::JSONDeserialize(e, body) => {
            LlmError::BadResponse(format!("{e} (body: {})", shorten(&body)))
        }
        OpenAIError::InvalidArgument(m) => LlmError::Rejected {
            status: 0,
            message: m,
        },
        other => LlmError::BadResponse(shorten(&other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_share_the_providers_limits() {
        assert_eq!(share_of(600, 1).map(NonZeroU32::get), Some(600));
        assert_eq!(share_of(600, 2).map(NonZeroU32::get), Some(300));
        assert_eq!(
            share_of(500, 3).map(NonZeroU32::get),
            Some(166),
            "rounded down"
        );
        assert_eq!(share_of(600, 0).map(NonZeroU32::get), Some(600));
        assert_eq!(share_of(2, 5).map(NonZeroU32::get), Some(1), "at least one");
        assert_eq!(share_of(0, 2), None, "no limit");
        let l = Limits::new(600, 0, 1);
        l.share_with(2);
        assert_eq!(l.processes.load(Ordering::Relaxed), 2);
        assert!(l.current.read().unwrap().tokens.is_none());
    }

    /// Takes every cell the limiter allows, 10 ms at a time for three
    /// minutes, `cost` cells at a time: the times of the grants.
    fn greedy(per_minute: u32, min_burst: u32, cost: u32) -> Vec<Duration> {
        let clock = governor::clock::FakeRelativeClock::default();
        let (quota, _) = quota_per_minute(NonZeroU32::new(per_minute).unwrap(), min_burst);
        let l = RateLimiter::direct_with_clock(quota, clock.clone());
        let cost = NonZeroU32::new(cost).unwrap();
        let mut granted = vec![];
        let step = Duration::from_millis(10);
        for i in 0..18_000u32 {
            while matches!(l.check_n(cost), Ok(Ok(()))) {
                granted.push(step * i);
            }
            clock.advance(step);
        }
        granted
    }

    #[test]
    fn no_minute_carries_more_than_the_limit() {
        for (per_minute, min_burst, cost) in [
            (600, 1, 1),
            (300, 1, 1),
            (7, 1, 1),
            (1, 1, 1),
            (100_000, 14_096, 4_000),
        ] {
            let granted = greedy(per_minute, min_burst, cost);
            let minute = Duration::from_secs(60);
            let busiest = granted
                .iter()
                .map(|&t0| {
                    granted
                        .iter()
                        .filter(|&&t| t >= t0 && t - t0 < minute)
                        .count()
                })
                .max()
                .unwrap() as u32
                * cost;
            assert!(
                busiest <= per_minute,
                "{busiest} in a minute of a {per_minute}/min limit"
            );
            // And it is not much slower than the limit over three minutes.
            let total = granted.len() as u32 * cost;
            assert!(
                total as f64 >= 0.9 * 3.0 * per_minute as f64 - cost as f64 - 1.0,
                "{total} in three minutes of a {per_minute}/min limit"
            );
        }
    }
}
