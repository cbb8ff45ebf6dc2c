//! The model behind the pipeline: a chat model that answers a prompt with
//! JSON following a strict schema. `domain` defines what it must do; the
//! worker supplies the implementation (async-openai against any
//! OpenAI-compatible endpoint), together with the process's share of the
//! provider's request and token limits.

use futures::future::BoxFuture;
use serde_json::Value;

use super::{summary::Prompt, text::estimate_tokens, types::TokenUsage};
use crate::jobs::Failure;

/// One request: the prompt, and the schema the answer must follow.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    /// The schema's name as the provider sees it (`survey_chunk_summary`…).
    pub schema_name: &'a str,
    pub schema: &'a Value,
    pub prompt: &'a Prompt,
}

/// What the model answered, and the tokens it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub usage: TokenUsage,
    pub answer: Answer,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Content(String),
    Refusal(String),
    /// Cut off at the output token limit.
    Truncated,
    /// Stopped by the provider's content filter.
    Filtered,
    Empty,
}

/// A chat model that follows strict JSON schemas.
///
/// `complete` waits for the process's share of the provider's limits
/// (requests and tokens per minute, requests in flight) rather than failing
/// on them, and maps the provider's errors to job failures (transient for
/// 429, 5xx and unreachable; permanent for other rejections), naming the
/// provider.
pub trait LlmProvider: Send + Sync {
    /// `openai`, `azure_openai` or `openai_compatible`, as recorded in results and usage.
    fn name(&self) -> &'static str;
    fn model(&self) -> &str;
    /// The completion tokens one request may use (`max_completion_tokens`).
    fn max_output_tokens(&self) -> u32;
    fn complete<'a>(
        &'a self,
        request: ChatRequest<'a>,
    ) -> BoxFuture<'a, Result<Completion, Failure>>;

    /// The most tokens `prompt` can cost: its estimated prompt tokens plus
    /// the output limit. Budgets reserve it; token-rate limits count it.
    fn estimate(&self, prompt: &Prompt) -> i64 {
        (estimate_tokens(&prompt.system)
            + estimate_tokens(&prompt.user)
            + self.max_output_tokens() as usize) as i64
    }
}
