//! `Idempotency-Key` support for job-creating POSTs, scoped per tenant, kept 24 h.
//!
//! The key is claimed (committed) before the work starts, so a concurrent
//! duplicate sees it in flight (409); the response is stored in the work's
//! own transaction, so a replay returns exactly what was committed.

use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::error::{Error, Result};

pub const RETENTION: Duration = Duration::hours(24);
/// An in-flight claim older than this is considered abandoned (its process died).
pub const ABANDONED_AFTER: Duration = Duration::minutes(2);

/// Validates a client's key: 1–255 visible ASCII characters.
pub fn parse_key(key: &str) -> Result<String> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Error::field(
            "/Idempotency-Key",
            "must be 1–255 visible ASCII characters",
        ));
    }
    Ok(key.to_string())
}

/// Fingerprint of a request: method, path and the canonical JSON body.
pub fn fingerprint(method: &str, path: &str, body: &serde_json::Value) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    // serde_json's map is ordered by key: this serialisation is canonical.
    h.update(body.to_string().as_bytes());
    h.finalize().to_vec()
}

#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: serde_json::Value,
    pub location: Option<String>,
}

#[derive(Debug)]
pub enum Claim {
    /// First use: do the work, then [`complete`] (or [`release`] on failure).
    New,
    /// Seen before with the same request: return the stored response.
    Replay(StoredResponse),
}

pub async fn claim(db: &PgPool, scope: &str, key: &str, fingerprint: &[u8]) -> Result<Claim> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3")
        .bind(scope)
        .bind(key)
        .bind(Utc::now() - RETENTION)
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(fingerprint)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        tx.commit().await?;
        return Ok(Claim::New);
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        request_hash: Vec<u8>,
        status: String,
        response_status: Option<i16>,
        response_body: Option<serde_json::Value>,
        response_location: Option<String>,
        created_at: chrono::DateTime<Utc>,
    }
    let row: Row = sqlx::query_as(
        "SELECT request_hash, status, response_status, response_body, response_location, created_at
         FROM idempotency_keys WHERE scope = $1 AND key = $2 FOR UPDATE",
    )
    .bind(scope)
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    if row.request_hash != fingerprint {
        return Err(Error::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request",
        ));
    }
    if row.status == "done" {
        return Ok(Claim::Replay(StoredResponse {
            status: row.response_status.unwrap_or(200) as u16,
            body: row.response_body.unwrap_or_default(),
            location: row.response_location,
        }));
    }
    if row.created_at > Utc::now() - ABANDONED_AFTER {
        return Err(Error::conflict(
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed; retry later",
        ));
    }
    // An abandoned claim: take it over.
    sqlx::query("UPDATE idempotency_keys SET created_at = now() WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Claim::New)
}

/// Stores the response, in the transaction of the work it describes.
pub async fn complete(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    resp: &StoredResponse,
) -> Result<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = 'done', response_status = $3, response_body = $4, response_location = $5
         WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .bind(resp.status as i16)
    .bind(&resp.body)
    .bind(&resp.location)
    .execute(conn)
    .await?;
    Ok(())
}

/// Frees a claim whose work failed, so the client may retry with the same key.
pub async fn release(db: &PgPool, scope: &str, key: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 'in_flight'",
    )
    .bind(scope)
    .bind(key)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes keys past their retention (maintenance).
pub async fn prune(db: &PgPool) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(Utc::now() - RETENTION)
            .execute(db)
            .await?
            .rows_affected(),
    )
}
