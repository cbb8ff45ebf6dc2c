//! Certificates of completion, for a course or a learning path.
//!
//! Completing a course (and completing every course of a path) enqueues a
//! `certificate_issue` job in the progress update's transaction
//! ([`enqueue_for_completion`]); admins may issue by hand. The job
//! ([`issue`]) writes the `certificates` row (snapshots of the name, the
//! title and the issuer), renders the PDF through a [`render::Renderer`]
//! the worker implements, stores it as a file (purpose `certificate`) and,
//! in one transaction, points the row at it, records `certificate.issued`,
//! the `certificate_issued` notification and the e-mail with the PDF.
//!
//! Anyone holding a verification code can check it (public,
//! unauthenticated) with [`verify`]. One standing certificate exists per
//! person and course or path; a revoked one may be followed by a new one.

pub mod credential;
pub mod issue;
pub mod render;
pub mod repo;

use crate::text_enum;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use crate::{
    error::{Error, Result},
    files::FileId,
    ids::{CertificateId, CourseId, CustomerId, PathId, UserId},
    jobs::{EnqueueCtx, NewJob, enqueue},
    kinds::{CertificateIssue, CertificateIssuePayload},
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

text_enum! {
    /// What a certificate certifies the completion of.
    pub enum SubjectType {
        Course = "course",
        Path = "path",
    }
}

text_enum! {
    /// Why a certificate was revoked (shown publicly; the note is not).
    pub enum RevocationReason {
        IssuedInError = "issued_in_error",
        Misconduct = "misconduct",
        /// A new certificate replaced it (a re-issue).
        Superseded = "superseded",
        Withdrawn = "withdrawn",
        Other = "other",
    }
}

/// A course or a learning path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Course(CourseId),
    Path(PathId),
}

impl Subject {
    pub fn course_id(self) -> Option<CourseId> {
        match self {
            Self::Course(c) => Some(c),
            Self::Path(_) => None,
        }
    }

    pub fn path_id(self) -> Option<PathId> {
        match self {
            Self::Path(p) => Some(p),
            Self::Course(_) => None,
        }
    }

    pub fn key(self) -> String {
        match self {
            Self::Course(c) => format!("course:{c}"),
            Self::Path(p) => format!("path:{p}"),
        }
    }
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Certificate {
    pub id: CertificateId,
    /// `None` once the user account is deleted (the certificate stays verifiable).
    pub user_id: Option<UserId>,
    pub course_id: Option<CourseId>,
    pub path_id: Option<PathId>,
    pub customer_id: CustomerId,
    pub verification_code: String,
    /// Snapshots taken at issue time.
    pub recipient_name: String,
    /// The course's or path's title.
    pub course_title: String,
    pub issuer_name: String,
    #[serde(skip)]
    pub recipient_email: Option<String>,
    pub file_id: Option<FileId>,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<RevocationReason>,
    pub status_index: i64,
}

impl Certificate {
    pub fn subject(&self) -> Subject {
        match (self.course_id, self.path_id) {
            (Some(c), _) => Subject::Course(c),
            (None, Some(p)) => Subject::Path(p),
            // The table's CHECK makes this unreachable.
            (None, None) => Subject::Course(CourseId(uuid::Uuid::nil())),
        }
    }

    pub fn subject_type(&self) -> SubjectType {
        match self.subject() {
            Subject::Course(_) => SubjectType::Course,
            Subject::Path(_) => SubjectType::Path,
        }
    }

    pub fn status(&self) -> CertificateStatus {
        if self.revoked_at.is_some() {
            CertificateStatus::Revoked
        } else {
            CertificateStatus::Valid
        }
    }

    /// A readable download name: `Certificate - {title} - {name}.pdf`.
    pub fn pdf_filename(&self) -> String {
        let clean = |s: &str, n: usize| -> String {
            let s: String = s
                .chars()
                .filter(|c| !c.is_control())
                .map(|c| if "/\\:*?\"<>|".contains(c) { '-' } else { c })
                .collect();
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(n)
                .collect()
        };
        format!(
            "Certificate - {} - {}.pdf",
            clean(&self.course_title, 100),
            clean(&self.recipient_name, 100)
        )
    }
}

/// A certificate (the `certificate.issued` and `certificate.revoked`
/// webhook events carry it too).
#[derive(poem_openapi::Object)]
pub struct CertificateView {
    pub id: CertificateId,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<UserId>,
    pub subject_type: SubjectType,
    /// Set for a course's certificate.
    #[oai(skip_serializing_if_is_none)]
    pub course_id: Option<CourseId>,
    /// Set for a learning path's certificate.
    #[oai(skip_serializing_if_is_none)]
    pub path_id: Option<PathId>,
    pub customer_id: CustomerId,
    /// The code anyone can check at `verify_url`.
    pub verification_code: String,
    /// `/api/v1/certificates/verify/{verification_code}` (public JSON).
    pub verify_url: String,
    /// `/verify/{verification_code}` (the public page).
    pub verify_page_url: String,
    /// The recipient's name when the certificate was issued.
    pub recipient_name: String,
    /// The course's or path's title when the certificate was issued.
    pub title: String,
    /// The issuer (the tenant) when the certificate was issued.
    pub issuer_name: String,
    pub status: CertificateStatus,
    pub issued_at: DateTime<Utc>,
    /// `/api/v1/certificates/{id}/pdf` once the PDF is rendered.
    #[oai(skip_serializing_if_is_none)]
    pub pdf_url: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub revocation_reason: Option<RevocationReason>,
    /// LinkedIn's "Add licence or certification" link, filled in with this
    /// certificate (standing certificates, in the API's answers).
    #[oai(skip_serializing_if_is_none)]
    pub linkedin_add_url: Option<String>,
}

impl CertificateView {
    /// With the links that need the API's public URL.
    pub fn with_links(mut self, public_url: &str) -> Self {
        if self.status == CertificateStatus::Valid {
            let mut u =
                url::Url::parse("https://www.linkedin.com/profile/add").expect("a valid URL");
            u.query_pairs_mut()
                .append_pair("startTask", "CERTIFICATION_NAME")
                .append_pair("name", &self.title)
                .append_pair("organizationName", &self.issuer_name)
                .append_pair("issueYear", &self.issued_at.format("%Y").to_string())
                .append_pair("issueMonth", &self.issued_at.format("%-m").to_string())
                .append_pair(
                    "certUrl",
                    &issue::verify_url(public_url, &self.verification_code),
                )
                .append_pair("certId", &self.verification_code);
            self.linkedin_add_url = Some(u.into());
        }
        self
    }
}

/// The public verification path of a code (JSON).
pub fn verify_path(code: &str) -> String {
    format!("/api/v1/certificates/verify/{code}")
}

/// The public verification page of a code (HTML).
pub fn verify_page_path(code: &str) -> String {
    format!("/verify/{code}")
}

impl From<Certificate> for CertificateView {
    fn from(c: Certificate) -> Self {
        Self {
            id: c.id,
            user_id: c.user_id,
            subject_type: c.subject_type(),
            course_id: c.course_id,
            path_id: c.path_id,
            customer_id: c.customer_id,
            verify_url: verify_path(&c.verification_code),
            verify_page_url: verify_page_path(&c.verification_code),
            status: c.status(),
            pdf_url: c
                .file_id
                .map(|_| format!("/api/v1/certificates/{}/pdf", c.id)),
            verification_code: c.verification_code,
            recipient_name: c.recipient_name,
            title: c.course_title,
            issuer_name: c.issuer_name,
            issued_at: c.issued_at,
            revoked_at: c.revoked_at,
            revocation_reason: c.revocation_reason,
            linkedin_add_url: None,
        }
    }
}

pub(crate) const COLUMNS: &str = "id, user_id, course_id, path_id, customer_id, verification_code, recipient_name, \
    course_title, issuer_name, recipient_email, file_id, issued_at, revoked_at, revocation_reason, status_index";

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

/// The `certificate_issue` job of `user` for `subject`, one per pair while
/// queued (a second completion or a repeated request joins it).
pub fn issue_job(
    user: UserId,
    customer: CustomerId,
    subject: Subject,
    reissue: bool,
    requested_by: Option<UserId>,
) -> NewJob {
    let payload = CertificateIssuePayload {
        user_id: user,
        course_id: subject.course_id(),
        path_id: subject.path_id(),
        reissue,
    };
    let ctx = EnqueueCtx {
        customer_id: Some(customer),
        requested_by,
        callback_url: None,
    };
    NewJob::of::<CertificateIssue>(&payload, &ctx).unique(format!(
        "certificate:{user}:{}{}",
        subject.key(),
        if reissue { ":reissue" } else { "" }
    ))
}

/// In the transaction of the progress update that completed `course`:
/// enqueues the course's certificate, and the certificate of every learning
/// path of the tenant whose courses `user` has now all completed.
pub async fn enqueue_for_completion(
    conn: &mut PgConnection,
    user: UserId,
    customer: CustomerId,
    course: CourseId,
) -> Result<()> {
    let paths: Vec<PathId> = sqlx::query_scalar(
        "SELECT pc.path_id FROM learning_path_courses pc
         JOIN learning_paths p ON p.id = pc.path_id AND p.customer_id = $3
         WHERE pc.course_id = $2
           AND NOT EXISTS (SELECT 1 FROM learning_path_courses o
                           WHERE o.path_id = pc.path_id
                             AND NOT EXISTS (SELECT 1 FROM course_completions cc
                                             WHERE cc.user_id = $1 AND cc.course_id = o.course_id))",
    )
    .bind(user)
    .bind(course)
    .bind(customer)
    .fetch_all(&mut *conn)
    .await?;
    let mut jobs = vec![issue_job(
        user,
        customer,
        Subject::Course(course),
        false,
        None,
    )];
    jobs.extend(
        paths
            .into_iter()
            .map(|p| issue_job(user, customer, Subject::Path(p), false, None)),
    );
    enqueue(conn, jobs).await?;
    Ok(())
}

/// What the public verification shows: nothing about the holder beyond the
/// name printed on the certificate.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Verification {
    #[sqlx(try_from = "String")]
    pub status: CertificateStatus,
    pub course_title: String,
    pub recipient_name: String,
    pub issuer_name: String,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<RevocationReason>,
}

/// Whether `code` has the shape of a verification code (after [`normalise`]).
fn well_formed(code: &str) -> bool {
    code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))
}

fn normalise(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// Checks a verification code (case-insensitive). Unknown and malformed
/// codes are both 404, after the same query (a malformed code is looked up
/// as a code that cannot exist), so they take the same time.
pub async fn verify(db: &PgPool, code: &str) -> Result<Verification> {
    let code = normalise(code);
    let lookup = if well_formed(&code) {
        code
    } else {
        // Never a stored code (the table's CHECK allows no `I`).
        "I".repeat(CODE_LEN)
    };
    sqlx::query_as(
        "SELECT CASE WHEN revoked_at IS NULL THEN 'valid' ELSE 'revoked' END AS status,
                course_title, recipient_name, issuer_name, issued_at, revoked_at, revocation_reason
         FROM certificates WHERE verification_code = $1",
    )
    .bind(lookup)
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
        assert!(well_formed(&a), "{a}");
        assert_ne!(a, b);
        assert!(!well_formed(&"I".repeat(CODE_LEN)));
    }
}
