//! One-click unsubscribe from a CoP's newsletter (RFC 8058): every
//! newsletter message carries `List-Unsubscribe: <…?token=…>` with
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, and the same link
//! visibly in its footer. The token names the person, the CoP and the
//! newsletter, signed (HMAC-SHA256) with the platform's key (the
//! notifications' `notification_keys`, under another label), so the link
//! works without a login; using it again changes nothing.

use sqlx::PgConnection;

use super::NewsletterId;
use crate::{
    error::{Error, Result},
    ids::{CopId, UserId},
    notifications::unsubscribe as signed,
};

/// The path of the unsubscribe endpoint (the API's).
pub const PATH: &str = "/api/v1/newsletters/unsubscribe";

/// The label newsletter tokens are signed under (the notifications'
/// signing, [`crate::notifications::unsubscribe::sign`], with its own label).
const LABEL: &[u8] = b"launchpad-newsletter-unsubscribe\0";

/// What a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    pub user_id: UserId,
    pub cop_id: CopId,
    pub newsletter_id: NewsletterId,
}

/// `base64url(user ‖ cop ‖ newsletter) . base64url(HMAC)`.
pub fn token(key: &[u8], s: Subscription) -> String {
    let mut rest = Vec::with_capacity(32);
    rest.extend_from_slice(s.cop_id.0.as_bytes());
    rest.extend_from_slice(s.newsletter_id.0.as_bytes());
    signed::sign(key, LABEL, s.user_id, &rest)
}

/// What a token names, when its signature holds (constant-time compare).
pub fn verify(key: &[u8], token: &str) -> Option<Subscription> {
    let (user_id, rest) = signed::open(key, LABEL, token)?;
    if rest.len() != 32 {
        return None;
    }
    Some(Subscription {
        user_id,
        cop_id: CopId(uuid::Uuid::from_slice(&rest[..16]).ok()?),
        newsletter_id: NewsletterId(uuid::Uuid::from_slice(&rest[16..]).ok()?),
    })
}

/// The absolute link, under the API's public base URL.
pub fn link(public_url: &str, token: &str) -> String {
    format!("{}{PATH}?token={token}", public_url.trim_end_matches('/'))
}

async fn check(conn: &mut PgConnection, token: &str) -> Result<Subscription> {
    let key = signed::key(conn).await?;
    verify(&key, token).ok_or_else(|| Error::field("/token", "not a valid unsubscribe token"))
}

/// Whether the token's person still receives the CoP's newsletter.
pub async fn preview(conn: &mut PgConnection, token: &str) -> Result<(Subscription, bool)> {
    let s = check(conn, token).await?;
    let out: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM newsletter_unsubscribes WHERE cop_id = $1 AND user_id = $2)",
    )
    .bind(s.cop_id)
    .bind(s.user_id)
    .fetch_one(conn)
    .await?;
    Ok((s, !out))
}

/// Unsubscribes the token's person from the CoP's newsletter (again is a
/// no-op). A person or CoP that no longer exists is a 400 too.
pub async fn apply(conn: &mut PgConnection, token: &str) -> Result<Subscription> {
    let s = check(conn, token).await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AND EXISTS (SELECT 1 FROM cops WHERE id = $2)",
    )
    .bind(s.user_id)
    .bind(s.cop_id)
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Err(Error::field("/token", "not a valid unsubscribe token"));
    }
    sqlx::query(
        "INSERT INTO newsletter_unsubscribes (cop_id, user_id, newsletter_id)
         VALUES ($1, $2, (SELECT id FROM newsletters WHERE id = $3))
         ON CONFLICT (cop_id, user_id) DO NOTHING",
    )
    .bind(s.cop_id)
    .bind(s.user_id)
    .bind(s.newsletter_id)
    .execute(conn)
    .await?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        let key = b"0123456789abcdef0123456789abcdef";
        let s = Subscription {
            user_id: UserId::new(),
            cop_id: CopId::new(),
            newsletter_id: NewsletterId::new(),
        };
        let t = token(key, s);
        assert_eq!(verify(key, &t), Some(s));
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_eq!(verify(b"another key, also 32 bytes long!", &t), None);
        // A notification unsubscribe token is not a newsletter one.
        let other = crate::notifications::unsubscribe::token(
            key,
            s.user_id,
            crate::notifications::NotificationType::Newsletter,
        );
        assert_eq!(verify(key, &other), None);
        assert_eq!(verify(key, "test"), None);
        assert_eq!(verify(key, ""), None);
    }
}
