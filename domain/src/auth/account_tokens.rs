//! Single-use tokens of the account e-mails: invitations, password resets
//! and address verification, in one table (`account_tokens`).
//!
//! A token is 32 bytes (256 bits) from the operating system's CSPRNG,
//! handed out once as 43 characters of base64url (in an e-mail's link) and
//! stored only as its SHA-256. It is looked up by that hash and the stored
//! hash is compared again in constant time; it works once, until its
//! expiry, and issuing a new one of the same purpose for the same user
//! revokes the ones before it.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::{TryRngCore, rngs::OsRng};
use sha2::{Digest, Sha256};
use sqlx::{FromRow, PgConnection};
use subtle::ConstantTimeEq;

use crate::{
    error::{Error, Result},
    ids::UserId,
    text_enum,
};

text_enum! {
    /// What a token is for.
    pub enum TokenPurpose {
        /// Sets the first password of an invited user (7 days).
        Invitation = "invitation",
        /// Sets a new password (1 hour).
        PasswordReset = "password_reset",
        /// Confirms a new e-mail address (24 hours).
        EmailVerification = "email_verification",
    }
}

impl TokenPurpose {
    /// How long a token of this purpose works.
    pub fn ttl(self) -> Duration {
        match self {
            Self::Invitation => Duration::days(7),
            Self::PasswordReset => Duration::hours(1),
            Self::EmailVerification => Duration::hours(24),
        }
    }
}

/// Random bytes per token.
const TOKEN_BYTES: usize = 32;
/// Characters of a token (base64url without padding).
pub const TOKEN_CHARS: usize = 43;

/// A token as the client sends it, checked for shape (not yet looked up).
#[derive(Clone)]
pub struct TokenInput {
    hash: [u8; 32],
}

impl std::fmt::Debug for TokenInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenInput(***)")
    }
}

impl TokenInput {
    /// A token of the right shape: 43 base64url characters (32 bytes).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad =
            || "is not a token from a Launchpad e-mail (43 characters of base64url)".to_string();
        if s.len() != TOKEN_CHARS {
            return Err(bad());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .map_err(|_| bad())?;
        if bytes.len() != TOKEN_BYTES {
            return Err(bad());
        }
        Ok(Self { hash: hash(&bytes) })
    }

    /// [`parse`](Self::parse), as a 400 naming `pointer`.
    pub fn parse_at(pointer: &str, s: &str) -> Result<Self> {
        Self::parse(s).map_err(|m| Error::field(pointer, m))
    }
}

fn hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A token just issued: what goes into the e-mail.
#[derive(Clone)]
pub struct Issued {
    pub id: uuid::Uuid,
    /// The token itself; never stored.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// 32 bytes from the operating system's CSPRNG, as base64url.
fn new_token() -> Result<(String, [u8; 32])> {
    let mut bytes = [0u8; TOKEN_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Error::Internal(anyhow::anyhow!("the OS random source failed: {e}")))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Ok((token, hash(&bytes)))
}

/// Issues a token of `purpose` for `user` (with the address it confirms,
/// for a verification), revoking the user's live tokens of that purpose.
pub async fn issue(
    conn: &mut PgConnection,
    purpose: TokenPurpose,
    user: UserId,
    new_email: Option<&str>,
    created_by: Option<UserId>,
) -> Result<Issued> {
    revoke(conn, user, &[purpose]).await?;
    let (token, token_hash) = new_token()?;
    let id = uuid::Uuid::now_v7();
    let expires_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO account_tokens (id, purpose, user_id, token_hash, new_email, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6), $7)
         RETURNING expires_at",
    )
    .bind(id)
    .bind(purpose)
    .bind(user)
    .bind(&token_hash[..])
    .bind(new_email)
    .bind(purpose.ttl().num_seconds() as f64)
    .bind(created_by)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Issued {
        id,
        token,
        expires_at,
    })
}

/// Revokes `user`'s live tokens of `purposes`; returns how many.
pub async fn revoke(
    conn: &mut PgConnection,
    user: UserId,
    purposes: &[TokenPurpose],
) -> Result<u64> {
    let names: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    Ok(sqlx::query(
        "UPDATE account_tokens SET revoked_at = now()
         WHERE user_id = $1 AND purpose = ANY($2) AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(user)
    .bind(&names)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A token taken by [`consume`].
#[derive(Debug, Clone)]
pub struct Consumed {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub new_email: Option<String>,
}

#[derive(FromRow)]
struct Row {
    id: uuid::Uuid,
    purpose: String,
    user_id: UserId,
    token_hash: Vec<u8>,
    new_email: Option<String>,
    expired: bool,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Uses `token` for `purpose`: marks it used in the caller's transaction
/// (the row stays locked until it ends, so of two concurrent uses one
/// waits and then finds it used). An unknown token, one of another purpose
/// or a revoked one is a 400 `token_invalid`, an expired one `token_expired`,
/// a used one `token_used`, each naming `pointer`; nothing is written then.
pub async fn consume(
    conn: &mut PgConnection,
    purpose: TokenPurpose,
    pointer: &str,
    token: &TokenInput,
) -> Result<Consumed> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, purpose, user_id, token_hash, new_email, expires_at <= now() AS expired, used_at, revoked_at
         FROM account_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(&token.hash[..])
    .fetch_optional(&mut *conn)
    .await?;
    let invalid = |why: &str| Error::rejected("token_invalid", pointer, why);
    let Some(row) = row else {
        return Err(invalid("is not a valid link's token"));
    };
    if !bool::from(row.token_hash.as_slice().ct_eq(&token.hash[..])) {
        return Err(invalid("is not a valid link's token"));
    }
    if row.purpose != purpose.as_str() {
        return Err(invalid("is not a valid link's token for this operation"));
    }
    if row.used_at.is_some() {
        return Err(Error::rejected(
            "token_used",
            pointer,
            "was already used; each link works once",
        ));
    }
    if row.revoked_at.is_some() {
        return Err(invalid(
            "was replaced by a newer link; use the latest e-mail",
        ));
    }
    if row.expired {
        return Err(Error::rejected(
            "token_expired",
            pointer,
            "has expired; ask for a new link",
        ));
    }
    sqlx::query("UPDATE account_tokens SET used_at = now() WHERE id = $1")
        .bind(row.id)
        .execute(&mut *conn)
        .await?;
    Ok(Consumed {
        id: row.id,
        user_id: row.user_id,
        new_email: row.new_email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_parse_back_to_their_hash() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_CHARS);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(TokenInput::parse(&a).unwrap().hash, ha);
        assert_ne!(TokenInput::parse(&b).unwrap().hash, ha);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let (good, _) = new_token().unwrap();
        for bad in [
            String::new(),
            "abc".into(),
            format!("{good}A"),
            good[..42].to_string(),
            format!("{}+", &good[..42]),
            format!("{}=", &good[..42]),
            " ".repeat(43),
        ] {
            assert!(TokenInput::parse(&bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn lifetimes() {
        assert_eq!(TokenPurpose::Invitation.ttl(), Duration::days(7));
        assert_eq!(TokenPurpose::PasswordReset.ttl(), Duration::hours(1));
    }
}
