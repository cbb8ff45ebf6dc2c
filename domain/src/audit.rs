//! The audit log: logins, user and role changes, grants and deletions.
//!
//! Every row carries the request id and the client address of the request
//! that caused it: the API's edge sets them once per request
//! ([`with_origin`]) and [`record`] reads them from there, so no call site
//! passes them.

use std::future::Future;

use serde_json::Value;
use sqlx::PgExecutor;

use crate::{
    error::Result,
    ids::{CustomerId, UserId},
};

/// One audit entry. `before`/`after` are JSON snapshots (never secrets).
#[derive(Debug, Default)]
pub struct AuditEntry<'a> {
    pub actor_id: Option<UserId>,
    pub actor_email: Option<&'a str>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<String>,
    pub customer_id: Option<CustomerId>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Where the current change comes from: the HTTP request's id and client IP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

tokio::task_local! {
    static ORIGIN: Origin;
}

impl Origin {
    /// The origin of the running task (empty outside a request).
    pub fn current() -> Self {
        ORIGIN.try_with(Clone::clone).unwrap_or_default()
    }
}

/// Runs `f` with `origin` as the origin of every audit row it records.
pub async fn with_origin<F: Future>(origin: Origin, f: F) -> F::Output {
    ORIGIN.scope(origin, f).await
}

pub async fn record(db: impl PgExecutor<'_>, e: AuditEntry<'_>) -> Result<()> {
    let origin = Origin::current();
    sqlx::query(
        "INSERT INTO audit_log (actor_id, actor_email, action, target_type, target_id, customer_id, before, after, request_id, ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(e.actor_id)
    .bind(e.actor_email)
    .bind(e.action)
    .bind(e.target_type)
    .bind(e.target_id)
    .bind(e.customer_id)
    .bind(e.before)
    .bind(e.after)
    .bind(origin.request_id)
    .bind(origin.ip)
    .execute(db)
    .await?;
    Ok(())
}
