//! Certificates of course completion. The certificates job issues them from
//! `course_completions` with [`issue_certificate_record`]; anyone holding a
//! verification code can check it (public, unauthenticated) with [`verify`].

use crate::text_enum;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use super::progress::CourseCompletion;
use crate::{
    error::{Error, Result},
    ids::{CertificateId, CourseId, CustomerId, UserId},
    webhooks::{WebhookData, WebhookEventType, record_event},
};

/// Crockford's base32 alphabet (no I, L, O, U): unambiguous when read aloud
/// or typed from a printed certificate.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 160 random bits = 32 base32 characters.
pub const CODE_LEN: usize = 32;

text_enum! {
    /// Whether a certificate still stands.
    pub enum CertificateStatus {
        Valid = "valid",
        Revoked = "revoked",
    }
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Certificate {
    pub id: CertificateId,
    /// `None` once the user account is deleted (the certificate stays verifiable).
    pub user_id: Option<UserId>,
    pub course_id: CourseId,
    pub customer_id: CustomerId,
    pub verification_code: String,
    /// Snapshots taken at issue time.
    pub recipient_name: String,
    pub course_title: String,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A certificate as the `certificate.issued` webhook event carries it.
#[derive(poem_openapi::Object)]
pub struct CertificateView {
    pub id: CertificateId,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<UserId>,
    pub course_id: CourseId,
    pub customer_id: CustomerId,
    /// The code anyone can check at `verify_url`.
    pub verification_code: String,
    /// `/api/v1/certificates/verify/{verification_code}` (public).
    pub verify_url: String,
    /// The recipient's name when the certificate was issued.
    pub recipient_name: String,
    /// The course title when the certificate was issued.
    pub course_title: String,
    pub issued_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The public verification path of a code.
pub fn verify_path(code: &str) -> String {
    format!("/api/v1/certificates/verify/{code}")
}

impl From<Certificate> for CertificateView {
    fn from(c: Certificate) -> Self {
        Self {
            id: c.id,
            user_id: c.user_id,
            course_id: c.course_id,
            customer_id: c.customer_id,
            verify_url: verify_path(&c.verification_code),
            verification_code: c.verification_code,
            recipient_name: c.recipient_name,
            course_title: c.course_title,
            issued_at: c.issued_at,
            revoked_at: c.revoked_at,
        }
    }
}

const COLUMNS: &str = "id, user_id, course_id, customer_id, verification_code, recipient_name, course_title, issued_at, revoked_at";

/// A new unguessable verification code: 160 bits from the OS-seeded CSPRNG,
/// Crockford base32.
pub fn new_verification_code() -> String {
    let bytes: [u8; 20] = rand::random();
    let mut out = String::with_capacity(CODE_LEN);
    // 20 bytes = 160 bits = 32 groups of 5 bits.
    let mut acc: u64 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    out
}

/// Issues the certificate of a completion, once: a second call for the same
/// (user, course) returns the existing record unchanged. The recipient's
/// name and the course title are snapshotted now. Call it in the job's
/// transaction; 404 when the user or course no longer exists. Issuing
/// records the `certificate.issued` webhook event in that transaction.
pub async fn issue_certificate_record(
    conn: &mut PgConnection,
    completion: &CourseCompletion,
) -> Result<Certificate> {
    let inserted = sqlx::query(
        "INSERT INTO certificates (id, user_id, course_id, customer_id, verification_code, recipient_name, course_title)
         SELECT $1, u.id, c.id, c.customer_id, $4, u.name, c.title
         FROM users u, courses c WHERE u.id = $2 AND c.id = $3
         ON CONFLICT (user_id, course_id) DO NOTHING",
    )
    .bind(CertificateId::new())
    .bind(completion.user_id)
    .bind(completion.course_id)
    .bind(new_verification_code())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    let cert: Certificate = sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM certificates WHERE user_id = $1 AND course_id = $2"
    ))
    .bind(completion.user_id)
    .bind(completion.course_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("course completion"))?;
    if inserted {
        let data = WebhookData::of_view(
            &CertificateView::from(cert.clone()),
            cert.id,
            verify_path(&cert.verification_code),
        );
        record_event(
            conn,
            cert.customer_id,
            WebhookEventType::CertificateIssued,
            data,
        )
        .await?;
    }
    Ok(cert)
}

/// What the public verification shows: nothing about the holder beyond the
/// name printed on the certificate.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Verification {
    #[sqlx(try_from = "String")]
    pub status: CertificateStatus,
    pub course_title: String,
    pub recipient_name: String,
    pub issued_at: DateTime<Utc>,
}

/// Checks a verification code (case-insensitive). Unknown and malformed
/// codes are both 404.
pub async fn verify(db: &PgPool, code: &str) -> Result<Verification> {
    let code = code.trim().to_ascii_uppercase();
    if code.len() != CODE_LEN || !code.bytes().all(|b| ALPHABET.contains(&b)) {
        return Err(Error::not_found("certificate"));
    }
    sqlx::query_as(
        "SELECT CASE WHEN revoked_at IS NULL THEN 'valid' ELSE 'revoked' END AS status,
                course_title, recipient_name, issued_at
         FROM certificates WHERE verification_code = $1",
    )
    .bind(code)
    .fetch_optional(db)
    .await?
    .ok_or(Error::not_found("certificate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_32_crockford_characters_and_differ() {
        let a = new_verification_code();
        let b = new_verification_code();
        assert_eq!(a.len(), CODE_LEN);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
    }
}
