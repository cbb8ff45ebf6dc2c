//! Result types of the AI jobs, and the answer types the model must return.
//!
//! The answer types (`*Answer`) derive `schemars::JsonSchema`: the strict
//! JSON schema sent with every request is generated from them
//! ([`super::schema::strict_schema`]) and the model's answer is parsed back
//! into them with unknown fields denied, so the schema and the parser cannot
//! drift apart. The result types (what `jobs.result` holds) derive
//! `poem_openapi::Object` and are documented in the OpenAPI spec.
//!
//! Doc comments of fields become descriptions in both schemas; fields whose
//! type is itself an object carry no doc comment (poem-openapi would emit
//! `allOf`, which some SDK generators reject): their types are documented.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{AssetId, CopId, SurveyId, UseCaseId, UserId};

/// One point of a survey summary, with verbatim excerpts of the answers that support it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Object)]
#[serde(deny_unknown_fields)]
#[oai(rename = "AiSummaryItem")]
pub struct SummaryItem {
    /// The point, in one sentence.
    pub text: String,
    /// Excerpts copied character for character from single answers.
    pub quotes: Vec<String>,
}

/// How many free-text answers read positive, neutral (or mixed) and negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Object)]
#[oai(rename = "AiSentiment")]
pub struct Sentiment {
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
}

/// Tokens spent by the provider. `cached_tokens` is the part of
/// `prompt_tokens` the provider served from its prompt cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Object)]
#[oai(rename = "AiTokenUsage")]
pub struct TokenUsage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    /// `prompt_tokens + completion_tokens` (what budgets count).
    pub total_tokens: i64,
}

impl TokenUsage {
    pub fn new(prompt: i64, completion: i64, cached: i64) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_tokens: cached,
            total_tokens: prompt + completion,
        }
    }

    pub fn add(&mut self, other: TokenUsage) {
        *self = Self::new(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        );
    }
}

/// The model's answer for one chunk of answers (or for the whole survey
/// when it fits in one request).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChunkSummaryAnswer {
    /// What participants say works well: at most 5 points.
    pub working_well: Vec<SummaryItem>,
    /// What participants want improved: at most 5 points.
    pub opportunities: Vec<SummaryItem>,
    /// The most valuable concrete next actions for the organisers: at most 3.
    pub top_actions: Vec<SummaryItem>,
    /// The `id`s of answers whose overall tone is clearly positive.
    pub positive_ids: Vec<u32>,
    /// The `id`s of answers whose overall tone is clearly negative.
    pub negative_ids: Vec<u32>,
}

/// The model's answer when merging partial summaries (the reduce step).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergedSummaryAnswer {
    /// What participants say works well: at most 5 points.
    pub working_well: Vec<SummaryItem>,
    /// What participants want improved: at most 5 points.
    pub opportunities: Vec<SummaryItem>,
    /// The most valuable concrete next actions for the organisers: at most 3.
    pub top_actions: Vec<SummaryItem>,
}

/// The result of an `ai_survey_summary` job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "AiSurveySummary")]
pub struct SurveySummary {
    pub survey_id: SurveyId,
    /// What participants say works well.
    pub working_well: Vec<SummaryItem>,
    /// What participants want improved.
    pub opportunities: Vec<SummaryItem>,
    /// The most valuable next actions for the organisers.
    pub top_actions: Vec<SummaryItem>,
    pub sentiment: Sentiment,
    /// Responses to the survey.
    pub response_count: i64,
    /// Free-text answers summarised (a response may answer several text questions).
    pub text_answer_count: i64,
    /// Answers longer than the configured cap, cut before they were summarised.
    pub truncated_answers: i64,
    /// `openai`, `azure_openai`, `openai_compatible` or `extractive` (the offline method).
    pub provider: String,
    pub model: String,
    /// Version of the prompts (and of the extractive method) that produced the result.
    pub prompt_version: String,
    pub usage: TokenUsage,
    /// Requests sent to the provider by this job (0 for a cache hit or the extractive method).
    pub requests: i64,
    /// Chunks the answers were split into; more than 1 means map-reduce.
    pub chunks: i64,
    /// Quotes the model gave that are not verbatim excerpts of a real answer, dropped.
    pub dropped_quotes: i64,
    /// The result was reused from an earlier job with identical input.
    pub cache_hit: bool,
    /// Why the summary is empty (for example: no free-text answers).
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_reason: Option<String>,
    pub generated_at: DateTime<Utc>,
}

/// A recommendation with a one-line reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Object)]
#[serde(deny_unknown_fields)]
#[oai(rename = "AiAdviceItem")]
pub struct AdviceItem {
    /// The recommendation, as a short title.
    pub title: String,
    /// Why, in one line, pointing at the data (a KPI, an event, a survey, a use case).
    pub reason: String,
}

/// A quarterly roadmap: `q1` is the coming three months, `q2` the three
/// after, and so on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema, Object)]
#[serde(deny_unknown_fields)]
#[oai(rename = "AiRoadmap")]
pub struct Roadmap {
    /// One to three priorities for the coming three months.
    pub q1: Vec<AdviceItem>,
    /// One to three priorities for months 4 to 6.
    pub q2: Vec<AdviceItem>,
    /// One to three priorities for months 7 to 9.
    pub q3: Vec<AdviceItem>,
    /// One to three priorities for months 10 to 12.
    pub q4: Vec<AdviceItem>,
}

/// A reference to something in the context (a member, an asset, a use case) with a reason.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefItem {
    /// The `key` of the item in the context (for example `m3`, `a2`, `u1`).
    pub key: String,
    /// Why, in one line, pointing at the data.
    pub reason: String,
}

/// The model's answer for CoP advice.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CopAdviceAnswer {
    /// At most 3 sessions to run next.
    pub next_sessions: Vec<AdviceItem>,
    /// At most 3 content assets (`a…` keys) or approved use cases (`u…` keys) to highlight.
    pub content_to_highlight: Vec<RefItem>,
    /// At most 3 members (`m…` keys) to recognise as champions.
    pub champions_to_recognize: Vec<RefItem>,
    pub roadmap: Roadmap,
}

/// Content to highlight: an asset of the library or an approved use case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "AiContentHighlight")]
pub struct ContentHighlight {
    /// `asset` or `use_case`.
    pub kind: String,
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<AssetId>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_case_id: Option<UseCaseId>,
    pub title: String,
    /// Why, in one line.
    pub reason: String,
}

/// A member to recognise as a champion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "AiChampionSuggestion")]
pub struct ChampionSuggestion {
    pub user_id: UserId,
    pub name: String,
    /// Why, in one line.
    pub reason: String,
}

/// What the advice was based on: how many items of each kind the context held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Object)]
#[oai(rename = "AiAdviceContextStats")]
pub struct ContextStats {
    /// KPI metrics with a recent value.
    pub kpis: i64,
    /// Events of the last 90 days and the next 60.
    pub events: i64,
    /// Attendances in the last 90 days.
    pub attendances: i64,
    pub surveys: i64,
    pub use_cases: i64,
    pub champions: i64,
    pub members: i64,
    pub assets: i64,
}

/// The result of an `ai_cop_advice` job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "AiCopAdvice")]
pub struct CopAdvice {
    pub cop_id: CopId,
    /// Sessions to run next.
    pub next_sessions: Vec<AdviceItem>,
    /// Content assets and success stories to highlight.
    pub content_to_highlight: Vec<ContentHighlight>,
    /// Members to recognise as champions.
    pub champions_to_recognize: Vec<ChampionSuggestion>,
    pub roadmap: Roadmap,
    pub context: ContextStats,
    /// `openai`, `azure_openai`, `openai_compatible` or `extractive` (rule-based).
    pub provider: String,
    pub model: String,
    pub prompt_version: String,
    pub usage: TokenUsage,
    /// Requests sent to the provider by this job.
    pub requests: i64,
    /// Suggestions naming a member, asset or use case absent from the context, dropped.
    pub dropped_items: i64,
    /// The result was reused from an earlier job with identical input.
    pub cache_hit: bool,
    pub generated_at: DateTime<Utc>,
}
