//! AI features of the CoP portal: survey summaries and CoP advice.
//!
//! Every feature goes through one pipeline ([`pipeline`]): prompt, budget
//! reservation ([`budget`]), cache, model call (map-reduce over long
//! inputs), schema-checked answer, usage, saved result — behind the
//! [`provider::LlmProvider`] trait, which the worker implements
//! (`worker/src/llm.rs`: async-openai, with the provider's limits shared by
//! the worker processes). The features are small users of it: the survey
//! summary ([`summary::SurveySummaryTask`]) and CoP advice
//! ([`advice::CopAdviceTask`]).
//!
//! Pure logic lives here too — the result types and the strict JSON schema
//! the model must follow ([`types`], [`schema`]), token estimates,
//! chunking, delimiting of untrusted text and quote verification
//! ([`text`]), prompts and grounding ([`summary`], [`advice`]), the offline
//! methods ([`extractive`], [`advice::rules`]) — plus the SQL the jobs and
//! the API share ([`context`] gathers what a job reads, [`repo`] stores
//! usage, budgets, the cache and the latest results).

pub mod advice;
pub mod budget;
pub mod context;
pub mod extractive;
pub mod newsletter;
pub mod pipeline;
pub mod provider;
pub mod repo;
pub mod schema;
pub mod summary;
pub mod text;
pub mod types;

/// The provider name of the offline fallback.
pub const EXTRACTIVE_PROVIDER: &str = "extractive";
/// The "model" of the offline fallback, as recorded in results.
pub const EXTRACTIVE_MODEL: &str = "rake-lexicon-v1";
