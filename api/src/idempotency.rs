//! `Idempotency-Key` handling for job-creating POSTs.

use launchpad_domain::{
    idempotency::{self, Claim, StoredResponse},
    tenancy::Caller,
};
use sqlx::{PgConnection, PgPool};

use crate::problem::ApiError;

/// An idempotency claim for one request; complete it in the work's
/// transaction. Dropped without completing, it is released.
pub struct IdempotencyGuard {
    db: PgPool,
    scope: String,
    key: Option<String>,
    completed: bool,
}

pub enum Begin {
    Fresh(IdempotencyGuard),
    Replay(StoredResponse),
}

/// Claims `key` (if any) for this request. `tenant` scopes the key: the
/// customer the request acts on, or the caller for tenantless requests.
pub async fn begin(
    db: &PgPool,
    caller: &Caller,
    tenant: Option<String>,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> Result<Begin, ApiError> {
    let scope = tenant.unwrap_or_else(|| format!("user:{}", caller.user_id));
    let Some(key) = key else {
        return Ok(Begin::Fresh(IdempotencyGuard {
            db: db.clone(),
            scope,
            key: None,
            completed: false,
        }));
    };
    let key = idempotency::parse_key(key)?;
    let fp = idempotency::fingerprint(method, path, body);
    match idempotency::claim(db, &scope, &key, &fp).await? {
        Claim::New => Ok(Begin::Fresh(IdempotencyGuard {
            db: db.clone(),
            scope,
            key: Some(key),
            completed: false,
        })),
        Claim::Replay(r) => Ok(Begin::Replay(r)),
    }
}

impl IdempotencyGuard {
    /// Stores the response `resp` builds (only when the request has a key:
    /// most have none, and need not serialise their response twice).
    pub async fn complete(
        &mut self,
        conn: &mut PgConnection,
        resp: impl FnOnce() -> StoredResponse,
    ) -> launchpad_domain::Result<()> {
        if let Some(key) = &self.key {
            idempotency::complete(conn, &self.scope, key, &resp()).await?;
        }
        Ok(())
    }

    /// Call after the work's transaction committed.
    pub fn committed(mut self) {
        self.completed = true;
    }
}

impl Drop for IdempotencyGuard {
    fn drop(&mut self) {
        if self.completed {
            return;
        }
        if let Some(key) = self.key.take() {
            let db = self.db.clone();
            let scope = std::mem::take(&mut self.scope);
            tokio::spawn(async move {
                if let Err(e) = idempotency::release(&db, &scope, &key).await {
                    tracing::warn!(error = %e, "could not release an idempotency key");
                }
            });
        }
    }
}
