//! One-click unsubscribe (RFC 8058): every notification e-mail of a type
//! that can be turned off carries `List-Unsubscribe: <…?token=…>` and
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click`. The token names the
//! person and the type and is signed (HMAC-SHA256) with the platform's key
//! (`notification_keys`), so the link works without a login; using it
//! turns that type's e-mail off for that person, as often as it is used.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgConnection;

use super::{Channel, NotificationType, prefs::DigestFrequency};
use crate::{
    error::{Error, Result},
    ids::UserId,
};

/// The path of the unsubscribe endpoint (the API's).
pub const PATH: &str = "/api/v1/notifications/unsubscribe";

/// The platform's signing key.
pub async fn key(conn: &mut PgConnection) -> Result<Vec<u8>> {
    Ok(
        sqlx::query_scalar("SELECT secret FROM notification_keys WHERE id = 1")
            .fetch_one(conn)
            .await?,
    )
}

/// What this module's tokens are signed under; other one-click links
/// (newsletters) sign under their own label, so no token opens another's
/// link.
const LABEL: &[u8] = b"launchpad-unsubscribe\0";

fn mac(key: &[u8], label: &[u8], msg: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(label);
    m.update(msg);
    m
}

/// `base64url(user id ‖ rest) . base64url(HMAC(label ‖ user id ‖ rest))`:
/// the token of a one-click link (signed with [`key`]).
pub(crate) fn sign(key: &[u8], label: &[u8], user: UserId, rest: &[u8]) -> String {
    let mut msg = user.0.as_bytes().to_vec();
    msg.extend_from_slice(rest);
    let sig = mac(key, label, &msg).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&msg),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// The person and the rest of a [`sign`]ed token, when its signature under
/// `label` holds (compared in constant time).
pub(crate) fn open(key: &[u8], label: &[u8], token: &str) -> Option<(UserId, Vec<u8>)> {
    let (msg, sig) = token.trim().split_once('.')?;
    let msg = URL_SAFE_NO_PAD.decode(msg).ok()?;
    let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
    mac(key, label, &msg).verify_slice(&sig).ok()?;
    if msg.len() < 17 {
        return None;
    }
    let user = uuid::Uuid::from_slice(&msg[..16]).ok()?;
    Some((UserId(user), msg[16..].to_vec()))
}

/// The token of (person, type): the user id and the type's name, signed.
pub fn token(key: &[u8], user: UserId, t: NotificationType) -> String {
    sign(key, LABEL, user, t.as_str().as_bytes())
}

/// The person and type a token names, when its signature holds.
pub fn verify(key: &[u8], token: &str) -> Option<(UserId, NotificationType)> {
    let (user, rest) = open(key, LABEL, token)?;
    let t = NotificationType::parse(std::str::from_utf8(&rest).ok()?)?;
    Some((user, t))
}

/// What follows the user id in a digest token (no type is named so).
const DIGEST: &[u8] = b"digest";

/// The digest e-mail's token: the person and `digest`, signed.
pub fn digest_token(key: &[u8], user: UserId) -> String {
    sign(key, LABEL, user, DIGEST)
}

/// The person a digest token names, when its signature holds.
pub fn verify_digest(key: &[u8], token: &str) -> Option<UserId> {
    let (user, rest) = open(key, LABEL, token)?;
    (rest == DIGEST).then_some(user)
}

/// The absolute link, under the API's public base URL.
pub fn link(public_url: &str, token: &str) -> String {
    format!("{}{PATH}?token={token}", public_url.trim_end_matches('/'))
}

/// The path of the digest's unsubscribe endpoint (the API's).
pub const DIGEST_PATH: &str = "/api/v1/notifications/digest/unsubscribe";

/// The digest's absolute link, under the API's public base URL.
pub fn digest_link(public_url: &str, token: &str) -> String {
    format!(
        "{}{DIGEST_PATH}?token={token}",
        public_url.trim_end_matches('/')
    )
}

/// The person a digest token names (or a 400 naming it; a person who no
/// longer exists too).
async fn check_digest(conn: &mut PgConnection, token: &str) -> Result<UserId> {
    let key = key(conn).await?;
    let bad = || Error::field("/token", "not a valid digest unsubscribe token");
    let user = verify_digest(&key, token).ok_or_else(bad)?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
        .bind(user)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Err(bad());
    }
    Ok(user)
}

/// The digest frequency of the person a digest token names (changes
/// nothing: mail scanners follow links).
pub async fn digest_preview(conn: &mut PgConnection, token: &str) -> Result<DigestFrequency> {
    let user = check_digest(conn, token).await?;
    let f: Option<String> =
        sqlx::query_scalar("SELECT digest_frequency FROM notification_settings WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(f.as_deref()
        .and_then(DigestFrequency::parse)
        .unwrap_or(DigestFrequency::Daily))
}

/// Turns the digest off for the person a digest token names (again is a
/// no-op); their other e-mails and their inbox are untouched.
pub async fn digest_apply(conn: &mut PgConnection, token: &str) -> Result<UserId> {
    let user = check_digest(conn, token).await?;
    sqlx::query(
        "INSERT INTO notification_settings (user_id, digest_frequency) VALUES ($1, 'off')
         ON CONFLICT (user_id) DO UPDATE SET digest_frequency = 'off', updated_at = now()
         WHERE notification_settings.digest_frequency <> 'off'",
    )
    .bind(user)
    .execute(&mut *conn)
    .await?;
    Ok(user)
}

/// What a token names (or a 400 naming it).
pub async fn check(conn: &mut PgConnection, token: &str) -> Result<(UserId, NotificationType)> {
    let key = key(conn).await?;
    let bad = || Error::field("/token", "not a valid unsubscribe token");
    let (user, t) = verify(&key, token).ok_or_else(bad)?;
    if t.is_mandatory(Channel::Email) {
        return Err(bad());
    }
    Ok((user, t))
}

/// What a token's link would change: its type, and whether that type's
/// e-mails reach its person now (after an unsubscribe: false).
pub async fn preview(conn: &mut PgConnection, token: &str) -> Result<(NotificationType, bool)> {
    let (user, t) = check(conn, token).await?;
    Ok((t, super::prefs::email_on(conn, user, t).await?))
}

/// Turns the type's e-mail off for the person the token names (again is a
/// no-op). Returns them; a person who no longer exists is a 400 too.
pub async fn apply(conn: &mut PgConnection, token: &str) -> Result<(UserId, NotificationType)> {
    let (user, t) = check(conn, token).await?;
    let done = sqlx::query(
        "INSERT INTO notification_preferences (user_id, type, email)
         SELECT id, $2, false FROM users WHERE id = $1
         ON CONFLICT (user_id, type) DO UPDATE SET email = false, updated_at = now()
         WHERE notification_preferences.email IS DISTINCT FROM false",
    )
    .bind(user)
    .bind(t)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
            .bind(user)
            .fetch_one(&mut *conn)
            .await?;
        if !exists {
            return Err(Error::field("/token", "not a valid unsubscribe token"));
        }
    }
    Ok((user, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        let key = b"0123456789abcdef0123456789abcdef";
        let u = UserId::new();
        let t = token(key, u, NotificationType::EventCreated);
        assert_eq!(verify(key, &t), Some((u, NotificationType::EventCreated)));
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_eq!(verify(b"another key, also 32 bytes long!", &t), None);
        let other = token(key, u, NotificationType::JobFailed);
        let (msg, _) = other.split_once('.').unwrap();
        let (_, sig) = t.split_once('.').unwrap();
        assert_eq!(verify(key, &format!("{msg}.{sig}")), None);
        assert_eq!(verify(key, "garbage"), None);
        assert_eq!(verify(key, ""), None);
    }

    #[test]
    fn digest_tokens_and_type_tokens_are_not_interchangeable() {
        let key = b"0123456789abcdef0123456789abcdef";
        let u = UserId::new();
        assert_eq!(NotificationType::parse("digest"), None);
        let d = digest_token(key, u);
        assert_eq!(verify_digest(key, &d), Some(u));
        assert_eq!(verify(key, &d), None);
        let t = token(key, u, NotificationType::EventCreated);
        assert_eq!(verify_digest(key, &t), None);
        assert_eq!(verify_digest(b"another key, also 32 bytes long!", &d), None);
    }
}
