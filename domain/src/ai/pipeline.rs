//! The one AI pipeline every AI feature goes through.
//!
//! A feature is an [`AiTask`]: its input (loaded by the job), a hash of
//! that input, its prompts and answer types (used in
//! [`AiTask::with_model`] through a [`ModelRun`]), an offline method for
//! when no provider is configured, and where its result is kept. [`run`]
//! does the rest, the same way for every feature:
//!
//! 1. a result that needs no method at all ([`AiTask::trivial`]) is saved as is;
//! 2. the cache: identical input (per tenant, feature, model and prompt
//!    version) reuses the earlier result, unless the job asks for a refresh;
//! 3. the method: with a provider, [`AiTask::with_model`] asks the model —
//!    every request reserves its estimated tokens against the tenant's
//!    budget first ([`super::budget`]), waits for the process's share of the
//!    provider's limits, and has its answer parsed against the strict schema
//!    it was asked for; long inputs go through [`ModelRun::map`] and
//!    [`ModelRun::reduce`]. Without a provider, [`AiTask::offline`];
//! 4. usage: the attempt's tokens are recorded whatever the outcome (failed
//!    attempts cost tokens too), cache hits as hits;
//! 5. the result is cached (both methods: a repeated offline run is a hit
//!    too) and saved as the subject's latest.
//!
//! A new feature (newsletter drafts, coaching or transcript summaries)
//! writes a prompt, an answer type (`schemars::JsonSchema`), a result type
//! ([`AiResult`]) and an [`AiTask`]; the job handler loads the input and
//! calls [`run`].

use std::{
    future::Future,
    ops::Range,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use futures::{StreamExt, TryStreamExt, future::BoxFuture};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::{PgConnection, PgPool};

use super::{
    budget::{self, Reservation, Reserve},
    provider::{Answer, ChatRequest, LlmProvider},
    repo::{self, CacheEntry, UsageRecord},
    schema::{StructuredAnswer, parse_answer},
    summary::Prompt,
    text::one_line,
    types::TokenUsage,
};
use crate::{
    error::Result,
    ids::{CustomerId, JobId},
    jobs::Failure,
};

/// Settings of the pipeline (the worker reads them from the environment).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Estimated tokens of input per map request.
    pub chunk_tokens: usize,
    /// Longer free-text inputs are cut to this many characters.
    pub max_answer_chars: usize,
    /// Requests one job keeps in flight (map steps).
    pub concurrency: usize,
    /// How long a budget reservation outlives a request that never settled
    /// (its worker died) before it is released.
    pub reservation_ttl: Duration,
}

/// What the AI jobs share: the settings and the provider (none: every
/// feature's offline method).
pub struct Ai {
    pub settings: Settings,
    pub provider: Option<Arc<dyn LlmProvider>>,
}

impl Ai {
    /// The provider's name for logs, or `extractive`.
    pub fn provider_name(&self) -> &'static str {
        self.provider
            .as_ref()
            .map_or(super::EXTRACTIVE_PROVIDER, |p| p.name())
    }
}

/// Progress checkpoints of the running job: records progress (0–100) and
/// fails with [`Failure::Cancelled`] when the job was asked to stop.
pub trait Progress: Send + Sync {
    fn progress<'a>(&'a self, pct: u8, message: &'a str) -> BoxFuture<'a, Result<(), Failure>>;
}

/// The job attempt the pipeline works for.
pub struct JobRun<'a> {
    pub db: &'a PgPool,
    pub job_id: JobId,
    pub attempt: i32,
    /// The tenant whose budget, cache and usage the work counts against.
    pub customer: CustomerId,
    /// Skip the cache.
    pub refresh: bool,
    pub progress: &'a dyn Progress,
}

/// A method's name and version, as recorded in results and cache keys.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    pub model: &'static str,
    pub version: &'static str,
}

/// The result of an AI feature: what the job returns, caches and saves.
pub trait AiResult: Serialize + DeserializeOwned + Send + Sync {
    /// The result as served from the cache: marked as a hit, with no
    /// tokens or requests of its own.
    fn served_from_cache(self) -> Self;
}

/// One AI feature.
pub trait AiTask: Send + Sync {
    type Output: AiResult;
    /// The job kind: names the feature in cache keys and usage rows.
    const KIND: &'static str;
    /// Version of the prompts and answer schemas (cache keys include it).
    const PROMPT_VERSION: &'static str;
    /// The offline method (provider `extractive`).
    const OFFLINE: Method;

    /// A stable hash of everything the result depends on.
    fn input_hash(&self, settings: &Settings) -> String;

    /// A result that needs no method (e.g. nothing to summarise).
    fn trivial(&self) -> Option<Self::Output> {
        None
    }

    /// The result, asking the model.
    fn with_model(
        &self,
        run: &ModelRun<'_>,
    ) -> impl Future<Output = Result<Self::Output, Failure>> + Send;

    /// The result without a provider (no network).
    fn offline(&self) -> Self::Output;

    /// Keeps the result as its subject's latest.
    fn save(
        &self,
        conn: &mut PgConnection,
        job: JobId,
        result: &Self::Output,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Runs `task` for `job`: see the module documentation.
pub async fn run<T: AiTask>(ai: &Ai, job: &JobRun<'_>, task: &T) -> Result<T::Output, Failure> {
    let result = match task.trivial() {
        Some(r) => r,
        None => produce(ai, job, task).await?,
    };
    let mut conn = job.db.acquire().await?;
    task.save(&mut conn, job.job_id, &result).await?;
    Ok(result)
}

async fn produce<T: AiTask>(ai: &Ai, job: &JobRun<'_>, task: &T) -> Result<T::Output, Failure> {
    let (model, version) = match &ai.provider {
        Some(p) => (p.model(), T::PROMPT_VERSION),
        None => (T::OFFLINE.model, T::OFFLINE.version),
    };
    let key = repo::cache_key(
        job.customer,
        T::KIND,
        model,
        version,
        &task.input_hash(&ai.settings),
    );
    let entry = CacheEntry {
        key: &key,
        customer: job.customer,
        kind: T::KIND,
        model,
        prompt_version: version,
    };
    if !job.refresh
        && let Some(hit) = repo::cache_get::<T::Output>(job.db, &key).await?
    {
        if let Some(p) = &ai.provider {
            record_usage::<T>(job, p.as_ref(), 0, TokenUsage::default(), true, 0).await?;
        }
        return Ok(hit.served_from_cache());
    }
    let result = match &ai.provider {
        Some(p) => {
            let run = ModelRun::start(p.as_ref(), job, &ai.settings).await?;
            let outcome = task.with_model(&run).await;
            // Tokens are spent whether or not the attempt succeeds.
            run.record::<T>().await?;
            outcome?
        }
        None => task.offline(),
    };
    repo::cache_put(job.db, entry, &result).await?;
    Ok(result)
}

async fn record_usage<T: AiTask>(
    job: &JobRun<'_>,
    provider: &dyn LlmProvider,
    requests: i64,
    usage: TokenUsage,
    cache_hit: bool,
    unsettled: i64,
) -> Result<(), Failure> {
    repo::record_usage(
        job.db,
        &UsageRecord {
            job_id: &job.job_id.to_string(),
            attempt: job.attempt,
            customer: job.customer,
            kind: T::KIND,
            provider: provider.name(),
            model: provider.model(),
            requests,
            usage,
            cache_hit,
        },
        unsettled,
    )
    .await?;
    Ok(())
}

/// How long a request waits for budget that requests in flight hold
/// before its attempt fails (transiently).
const HELD_BUDGET_WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Tally {
    usage: TokenUsage,
    requests: i64,
    /// Tokens already added to the tenant's month by settled reservations.
    settled: i64,
}

/// One job attempt's use of the model: budget reservations, the tokens
/// spent, and the helpers features build on ([`Self::ask`], [`Self::map`],
/// [`Self::reduce`]).
pub struct ModelRun<'a> {
    provider: &'a dyn LlmProvider,
    job: &'a JobRun<'a>,
    pub settings: &'a Settings,
    /// The tenant had a budget when the attempt started: requests reserve.
    budgeted: bool,
    tally: Mutex<Tally>,
}

impl<'a> ModelRun<'a> {
    async fn start(
        provider: &'a dyn LlmProvider,
        job: &'a JobRun<'a>,
        settings: &'a Settings,
    ) -> Result<Self, Failure> {
        let mut conn = job.db.acquire().await?;
        let budgeted = repo::budget_limit(&mut conn, job.customer).await?.is_some();
        Ok(Self {
            provider,
            job,
            settings,
            budgeted,
            tally: Mutex::new(Tally::default()),
        })
    }

    /// The provider's name (`openai`…), as results record it.
    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
    }

    pub fn model(&self) -> &str {
        self.provider.model()
    }

    /// Tokens spent so far by this attempt.
    pub fn usage(&self) -> TokenUsage {
        self.tally.lock().expect("tally lock").usage
    }

    /// Requests answered so far in this attempt.
    pub fn requests(&self) -> i64 {
        self.tally.lock().expect("tally lock").requests
    }

    /// Records progress of the job.
    pub async fn progress(&self, pct: u8, message: &str) -> Result<(), Failure> {
        self.job.progress.progress(pct, message).await
    }

    /// Asks the model for a `T` (strict schema `schema_name`): reserves the
    /// request's estimated tokens when the tenant has a budget, sends it,
    /// settles the reservation to the real usage, and parses the answer. A
    /// refusal or an answer that does not fit the schema is a permanent
    /// failure naming the reason.
    pub async fn ask<T: StructuredAnswer>(
        &self,
        schema_name: &str,
        prompt: &Prompt,
    ) -> Result<T, Failure> {
        let reservation = self.reserve(self.provider.estimate(prompt)).await?;
        let schema = T::schema();
        let result = self
            .provider
            .complete(ChatRequest {
                schema_name,
                schema: &schema,
                prompt,
            })
            .await;
        let spent = result.as_ref().map_or(0, |c| c.usage.total_tokens);
        if let Ok(c) = &result {
            let mut t = self.tally.lock().expect("tally lock");
            t.usage.add(c.usage);
            t.requests += 1;
        }
        if let Some(r) = reservation {
            budget::settle(self.job.db, r, spent).await?;
            self.tally.lock().expect("tally lock").settled += spent;
        }
        interpret(result?.answer, self.provider.max_output_tokens())
    }

    /// Reserves `estimate` tokens when the tenant has a budget; waits while
    /// requests in flight hold the rest of it.
    async fn reserve(&self, estimate: i64) -> Result<Option<Reservation>, Failure> {
        if !self.budgeted {
            return Ok(None);
        }
        let customer = self.job.customer;
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let outcome = budget::reserve(
                self.job.db,
                customer,
                estimate,
                self.settings.reservation_ttl,
                Utc::now(),
            )
            .await?;
            match outcome {
                Reserve::Reserved(r) => return Ok(Some(r)),
                Reserve::Unlimited => return Ok(None),
                Reserve::Spent { used, limit } => {
                    return Err(Failure::permanent(
                        "budget_exceeded",
                        format!(
                            "the tenant's monthly AI token budget is spent: {used} of {limit} tokens used this month (UTC); \
                             an admin can raise it with PUT /api/v1/customers/{customer}/ai/budget"
                        ),
                    ));
                }
                Reserve::Held {
                    used,
                    reserved,
                    limit,
                } if started.elapsed() >= HELD_BUDGET_WAIT => {
                    return Err(Failure::Transient {
                        code: "budget_held".into(),
                        message: format!(
                            "the tenant's monthly AI token budget is held by requests in flight: {used} used and \
                             {reserved} reserved of {limit} tokens this month (UTC)"
                        ),
                        retry_after: Some(Duration::from_secs(30)),
                    });
                }
                Reserve::Held { .. } => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Asks one request per prompt (map steps: up to the configured
    /// concurrency at once), reporting progress from 5 % to 85 %
    /// (`"{label} {done} of {n}"`); the answers in the prompts' order. With
    /// `cache` (a cache kind and version), each answer is cached on its own
    /// when there are several prompts, so a retried attempt resumes after
    /// the finished ones.
    pub async fn map<T>(
        &self,
        schema_name: &str,
        cache: Option<(&str, &str)>,
        prompts: &[Prompt],
        label: &str,
    ) -> Result<Vec<T>, Failure>
    where
        T: StructuredAnswer + Serialize + Send,
    {
        let parts = prompts.len();
        // Progress is written by the request futures themselves: awaiting a
        // pool connection outside while the stream is not polled would
        // starve the futures holding connections (a pool deadlock).
        let finished = AtomicUsize::new(0);
        let finished = &finished;
        let one = |i: usize| async move {
            let prompt = &prompts[i];
            let answer = match cache.filter(|_| parts > 1) {
                Some(c) => self.ask_cached::<T>(c, schema_name, prompt).await?,
                None => self.ask::<T>(schema_name, prompt).await?,
            };
            let done = finished.fetch_add(1, Ordering::Relaxed) + 1;
            self.progress(
                5 + (80 * done / parts) as u8,
                &format!("{label} {done} of {parts}"),
            )
            .await?;
            Ok::<_, Failure>(answer)
        };
        futures::stream::iter(0..parts)
            .map(one)
            .buffered(self.settings.concurrency.max(1))
            .try_collect()
            .await
    }

    /// [`Self::ask`] through the cache (`(kind, version)`, keyed by the prompt).
    async fn ask_cached<T>(
        &self,
        (cache_kind, version): (&str, &str),
        schema_name: &str,
        prompt: &Prompt,
    ) -> Result<T, Failure>
    where
        T: StructuredAnswer + Serialize,
    {
        let model = self.provider.model();
        let key = repo::cache_key(
            self.job.customer,
            cache_kind,
            model,
            version,
            &prompt.hash(),
        );
        if let Some(a) = repo::cache_get::<T>(self.job.db, &key).await? {
            return Ok(a);
        }
        let a: T = self.ask(schema_name, prompt).await?;
        let entry = CacheEntry {
            key: &key,
            customer: self.job.customer,
            kind: cache_kind,
            model,
            prompt_version: version,
        };
        repo::cache_put(self.job.db, entry, &a).await?;
        Ok(a)
    }

    /// Merges `level` as a tree until one item is left: `groups` splits a
    /// level into ranges to merge in one request each (at least two items
    /// per range, or a single item that passes through), `merge` asks for
    /// one range's merge. Reports progress at 90 %.
    pub async fn reduce<P, G, M, F>(
        &self,
        mut level: Vec<P>,
        groups: G,
        merge: M,
    ) -> Result<Option<P>, Failure>
    where
        P: Clone,
        G: Fn(&[P]) -> Vec<Range<usize>>,
        M: Fn(Vec<P>) -> F,
        F: Future<Output = Result<P, Failure>>,
    {
        while level.len() > 1 {
            self.progress(90, &format!("merging {} partial summaries", level.len()))
                .await?;
            let mut next = Vec::new();
            for group in groups(&level) {
                let members = &level[group];
                next.push(match members {
                    [one] => one.clone(),
                    _ => merge(members.to_vec()).await?,
                });
            }
            level = next;
        }
        Ok(level.pop())
    }

    /// Records the attempt's usage (nothing when no request was answered).
    async fn record<T: AiTask>(&self) -> Result<(), Failure> {
        let (usage, requests, settled) = {
            let t = self.tally.lock().expect("tally lock");
            (t.usage, t.requests, t.settled)
        };
        if requests == 0 {
            return Ok(());
        }
        record_usage::<T>(
            self.job,
            self.provider,
            requests,
            usage,
            false,
            usage.total_tokens - settled,
        )
        .await
    }
}

/// The model's answer as a `T`, or why not.
fn interpret<T: StructuredAnswer>(answer: Answer, max_output_tokens: u32) -> Result<T, Failure> {
    let invalid = |m: String| Failure::permanent("ai_invalid_answer", m);
    match answer {
        Answer::Content(c) => parse_answer::<T>(&c).map_err(invalid),
        Answer::Refusal(r) => Err(Failure::permanent(
            "ai_refused",
            format!("the model refused: {}", one_line(&r, 300)),
        )),
        Answer::Truncated => Err(invalid(format!(
            "the answer was cut off at the output limit of {max_output_tokens} tokens (LAUNCHPAD_AI_MAX_OUTPUT_TOKENS)"
        ))),
        Answer::Filtered => Err(invalid(
            "the provider's content filter stopped the answer".into(),
        )),
        Answer::Empty => Err(invalid("the answer has no content".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::types::MergedSummaryAnswer;

    #[test]
    fn answers_are_interpreted_with_reasons() {
        let ok = r#"{"working_well":[],"opportunities":[],"top_actions":[]}"#;
        assert!(interpret::<MergedSummaryAnswer>(Answer::Content(ok.into()), 100).is_ok());
        let code = |a: Answer| match interpret::<MergedSummaryAnswer>(a, 100) {
            Err(Failure::Permanent { code, message }) => (code, message),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code(Answer::Refusal("no\nway".into())).1,
            "the model refused: no way"
        );
        assert_eq!(code(Answer::Refusal("x".into())).0, "ai_refused");
        let (c, m) = code(Answer::Truncated);
        assert_eq!(c, "ai_invalid_answer");
        assert!(m.contains("100 tokens"), "{m}");
        assert!(
            code(Answer::Content("{}".into()))
                .1
                .contains("does not match the schema")
        );
        assert_eq!(code(Answer::Empty).0, "ai_invalid_answer");
        assert_eq!(code(Answer::Filtered).0, "ai_invalid_answer");
    }
}
