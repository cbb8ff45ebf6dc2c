//! AI features of the CoP portal: survey summaries and CoP advice.
//!
//! Pure logic lives here — the result types and the strict JSON schema the
//! model must follow ([`types`], [`schema`]), token estimates, chunking,
//! delimiting of untrusted text and quote verification ([`text`]), prompts
//! and map-reduce assembly ([`summary`], [`advice`]), the offline extractive
//! method ([`extractive`]) — plus the SQL the jobs and the API share
//! ([`context`] gathers what a job reads, [`repo`] stores usage, budgets,
//! the cache and the latest results). The HTTP client of the provider lives
//! in the worker (`worker/src/llm.rs`).

pub mod advice;
pub mod context;
pub mod extractive;
pub mod repo;
pub mod schema;
pub mod summary;
pub mod text;
pub mod types;

/// The provider name of the offline fallback.
pub const EXTRACTIVE_PROVIDER: &str = "extractive";
/// The "model" of the offline fallback, as recorded in results.
pub const EXTRACTIVE_MODEL: &str = "rake-lexicon-v1";
