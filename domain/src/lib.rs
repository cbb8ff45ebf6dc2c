//! Launchpad's domain: typed ids, validated inputs, errors, tenancy, SQL and
//! pure logic. No HTTP, SMTP or LLM clients live here.

/// A SQL string assembled from constant fragments (column lists), marked
/// safe for sqlx: only use it with literals and constants, never with input.
#[macro_export]
macro_rules! sqlf {
    ($($t:tt)*) => {
        sqlx::AssertSqlSafe(format!($($t)*))
    };
}

pub mod ai;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod coaching;
pub mod config;
pub mod customers;
pub mod db;
pub mod demo;
pub mod email;
pub mod error;
pub mod files;
pub mod group_commit;
pub mod idempotency;
pub mod ids;
pub mod jobs;
pub mod kinds;
pub mod kpi;
pub mod lms;
pub mod newsletters;
pub mod notifications;
pub mod pagination;
pub mod portal;
pub mod tenancy;
pub mod text_enum;
pub mod transcripts;
pub mod users;
pub mod values;
pub mod webhooks;

pub use error::{Error, Result};
