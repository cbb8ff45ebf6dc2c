//! The audit log: logins, user and role changes, grants and deletions.

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
    pub request_id: Option<&'a str>,
    pub ip: Option<&'a str>,
}

pub async fn record(db: impl PgExecutor<'_>, e: AuditEntry<'_>) -> Result<()> {
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
    .bind(e.request_id)
    .bind(e.ip)
    .execute(db)
    .await?;
    Ok(())
}
