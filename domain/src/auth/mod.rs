//! Authentication: passwords, access tokens (JWT) and rotating refresh tokens.

pub mod account;
pub mod account_tokens;
pub mod password;
pub mod tokens;

use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::{
    audit::{self, AuditEntry},
    error::{Error, Result},
    ids::{CustomerId, UserId},
    tenancy::{Caller, Role},
    values::Password,
};

pub use tokens::{AccessClaims, TokenKeys};

/// What a successful login or refresh hands back.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    pub access_expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub caller: Caller,
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_refresh_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(sqlx::FromRow)]
struct Credentials {
    id: UserId,
    email: String,
    name: String,
    /// `None` until an invited user chooses a password.
    password_hash: Option<String>,
    roles: Vec<String>,
    disabled: bool,
    customer_ids: Vec<uuid::Uuid>,
}

const CREDENTIALS: &str = "SELECT u.id, u.email, u.name, u.password_hash, u.roles, u.disabled,
    coalesce((SELECT array_agg(uc.customer_id ORDER BY uc.customer_id) FROM user_customers uc WHERE uc.user_id = u.id), '{}') AS customer_ids
    FROM users u";

impl Credentials {
    fn caller(&self) -> Caller {
        Caller {
            user_id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            roles: self.roles.iter().filter_map(|r| Role::parse(r)).collect(),
            customer_ids: self.customer_ids.iter().copied().map(CustomerId).collect(),
        }
    }
}

async fn issue(
    tx: &mut sqlx::PgConnection,
    keys: &TokenKeys,
    caller: Caller,
    family: uuid::Uuid,
) -> Result<Session> {
    let refresh_token = new_refresh_token();
    let refresh_ttl = keys.refresh_ttl;
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(family)
    .bind(caller.user_id)
    .bind(hash_token(&refresh_token))
    .bind(Utc::now() + refresh_ttl)
    .execute(&mut *tx)
    .await?;
    let access_token = keys.sign(&caller)?;
    Ok(Session {
        access_token,
        access_expires_in: keys.access_ttl.num_seconds(),
        refresh_token,
        refresh_expires_in: refresh_ttl.num_seconds(),
        caller,
    })
}

/// Email + password → a session. Failures are audited and indistinguishable
/// (unknown email, wrong password, disabled user all answer 401).
pub async fn login(db: &PgPool, keys: &TokenKeys, email: &str, password: &str) -> Result<Session> {
    let creds: Option<Credentials> =
        sqlx::query_as(sqlf!("{CREDENTIALS} WHERE lower(u.email) = lower($1)"))
            .bind(email.trim())
            .fetch_optional(db)
            .await?;
    // An unknown user, or one without a password yet (invited), costs the
    // same verification as a wrong password.
    let hash = creds.as_ref().and_then(|c| c.password_hash.as_deref());
    let ok = password::verify(password, hash.unwrap_or(password::DUMMY_HASH.as_str())).await?
        && hash.is_some();
    let mut tx = db.begin().await?;
    match creds {
        Some(c) if ok && !c.disabled => {
            let caller = c.caller();
            audit::record(
                &mut *tx,
                AuditEntry {
                    actor_id: Some(c.id),
                    actor_email: Some(&c.email),
                    action: "auth.login",
                    target_type: "user",
                    target_id: Some(c.id.to_string()),
                    ..Default::default()
                },
            )
            .await?;
            let s = issue(&mut tx, keys, caller, uuid::Uuid::now_v7()).await?;
            tx.commit().await?;
            Ok(s)
        }
        c => {
            audit::record(
                &mut *tx,
                AuditEntry {
                    actor_id: c.as_ref().map(|c| c.id),
                    actor_email: Some(email.trim()),
                    action: "auth.login_failed",
                    target_type: "user",
                    target_id: c.as_ref().map(|c| c.id.to_string()),
                    after: Some(serde_json::json!({"reason": match &c {
                        None => "unknown_email",
                        Some(c) if c.disabled => "disabled",
                        Some(c) if c.password_hash.is_none() => "invitation_pending",
                        Some(_) => "wrong_password",
                    }})),
                    ..Default::default()
                },
            )
            .await?;
            tx.commit().await?;
            Err(Error::Unauthorized("invalid email or password".into()))
        }
    }
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    id: uuid::Uuid,
    family_id: uuid::Uuid,
    user_id: UserId,
    expires_at: chrono::DateTime<Utc>,
    used_at: Option<chrono::DateTime<Utc>>,
    revoked_at: Option<chrono::DateTime<Utc>>,
}

/// Rotates a refresh token. Presenting a token that was already used revokes
/// its whole family (the token was stolen, or replayed).
pub async fn refresh(db: &PgPool, keys: &TokenKeys, token: &str) -> Result<Session> {
    let invalid = || Error::Unauthorized("invalid or expired refresh token".into());
    let mut tx = db.begin().await?;
    let row: RefreshRow = sqlx::query_as(
        "SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(hash_token(token))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid)?;
    if row.used_at.is_some() && row.revoked_at.is_none() {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(row.family_id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut *tx,
            AuditEntry {
                actor_id: Some(row.user_id),
                action: "auth.refresh_reuse_detected",
                target_type: "user",
                target_id: Some(row.user_id.to_string()),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
        return Err(invalid());
    }
    if row.revoked_at.is_some() || row.used_at.is_some() || row.expires_at <= Utc::now() {
        return Err(invalid());
    }
    let creds: Credentials = sqlx::query_as(sqlf!("{CREDENTIALS} WHERE u.id = $1"))
        .bind(row.user_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(invalid)?;
    if creds.disabled {
        return Err(invalid());
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE id = $1")
        .bind(row.id)
        .execute(&mut *tx)
        .await?;
    let s = issue(&mut tx, keys, creds.caller(), row.family_id).await?;
    tx.commit().await?;
    Ok(s)
}

/// Revokes the refresh token's whole family. Unknown tokens are ignored
/// (logout is idempotent).
pub async fn logout(db: &PgPool, caller: &Caller, token: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2) AND revoked_at IS NULL",
    )
    .bind(hash_token(token))
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "auth.logout",
            target_type: "user",
            target_id: Some(caller.user_id.to_string()),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes every live refresh token of `user`; returns how many.
pub(crate) async fn revoke_refresh_tokens(
    conn: &mut sqlx::PgConnection,
    user: UserId,
) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// Changes the caller's own password, which needs the current one (a stolen
/// access token alone cannot take the account over). Every refresh token of
/// the user is revoked: other sessions end when their access token expires.
/// Attempts with a wrong current password are audited.
pub async fn change_own_password(
    db: &PgPool,
    caller: &Caller,
    current: &str,
    new: &Password,
) -> Result<()> {
    let row: Option<(Option<String>, bool)> =
        sqlx::query_as("SELECT password_hash, disabled FROM users WHERE id = $1")
            .bind(caller.user_id)
            .fetch_optional(db)
            .await?;
    let Some((Some(old_hash), false)) = row else {
        return Err(Error::Unauthorized(
            "the account no longer exists or is disabled".into(),
        ));
    };
    if !password::verify(current, &old_hash).await? {
        audit::record(
            db,
            AuditEntry {
                actor_id: Some(caller.user_id),
                actor_email: Some(&caller.email),
                action: "auth.password_change_failed",
                target_type: "user",
                target_id: Some(caller.user_id.to_string()),
                after: Some(serde_json::json!({"reason": "wrong_current_password"})),
                ..Default::default()
            },
        )
        .await?;
        return Err(Error::field(
            "/current_password",
            "is not your current password",
        ));
    }
    if new.expose() == current {
        return Err(Error::field(
            "/new_password",
            "must differ from the current password",
        ));
    }
    let hash = password::hash(new).await?;
    let mut tx = db.begin().await?;
    // Only if the password was not changed meanwhile (the current one was checked).
    let changed = sqlx::query(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 AND password_hash = $3",
    )
    .bind(caller.user_id)
    .bind(hash)
    .bind(&old_hash)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(Error::conflict(
            "password_changed_concurrently",
            "the password was changed meanwhile; try again with the new current password",
        ));
    }
    let revoked = revoke_refresh_tokens(&mut tx, caller.user_id).await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "user.password_changed",
            target_type: "user",
            target_id: Some(caller.user_id.to_string()),
            after: Some(serde_json::json!({"by": "self", "refresh_tokens_revoked": revoked})),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the caller's own e-mail address, which needs the current
/// password (a stolen access token alone cannot move the account, and its
/// password resets, to another address). As for anyone's: the change takes
/// effect when the link mailed to the new address is used; until then the
/// address stays. The current address cancels a pending change.
pub async fn change_own_email(
    db: &PgPool,
    mail: &account::AccountMail,
    caller: &Caller,
    current: &str,
    new: &crate::values::Email,
) -> Result<()> {
    let row: Option<(Option<String>, bool)> =
        sqlx::query_as("SELECT password_hash, disabled FROM users WHERE id = $1")
            .bind(caller.user_id)
            .fetch_optional(db)
            .await?;
    let Some((Some(hash), false)) = row else {
        return Err(Error::Unauthorized(
            "the account no longer exists or is disabled".into(),
        ));
    };
    if !password::verify(current, &hash).await? {
        audit::record(
            db,
            AuditEntry {
                actor_id: Some(caller.user_id),
                actor_email: Some(&caller.email),
                action: "auth.email_change_failed",
                target_type: "user",
                target_id: Some(caller.user_id.to_string()),
                after: Some(serde_json::json!({"reason": "wrong_current_password"})),
                ..Default::default()
            },
        )
        .await?;
        return Err(Error::field(
            "/current_password",
            "is not your current password",
        ));
    }
    let mut tx = db.begin().await?;
    crate::users::change_email(&mut tx, mail, caller, caller.user_id, new).await?;
    tx.commit().await?;
    Ok(())
}

/// Refresh tokens live 7 days by default, access tokens 15 minutes.
pub fn default_ttls() -> (Duration, Duration) {
    (Duration::minutes(15), Duration::days(7))
}
