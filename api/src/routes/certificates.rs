//! Public certificate verification: anyone holding a verification code (from
//! a certificate PDF or link) can check it without an account.

use chrono::{DateTime, Utc};
use launchpad_domain::lms::certificates::{self, CertificateStatus, Verification};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};

use crate::types::Tag;
use crate::{problem::ApiResult, request_context, state::SharedState};

pub struct CertificatesApi;

/// What a verification code certifies. Deliberately nothing else about the
/// holder than the name printed on the certificate.
#[derive(Object)]
#[oai(example)]
pub struct CertificateVerification {
    /// Whether the certificate stands (`status` is `valid`).
    pub valid: bool,
    pub status: CertificateStatus,
    /// The course title when the certificate was issued.
    pub course_title: String,
    /// The recipient's name when the certificate was issued.
    pub recipient_name: String,
    pub issued_at: DateTime<Utc>,
}

impl From<Verification> for CertificateVerification {
    fn from(v: Verification) -> Self {
        Self {
            valid: v.status == CertificateStatus::Valid,
            status: v.status,
            course_title: v.course_title,
            recipient_name: v.recipient_name,
            issued_at: v.issued_at,
        }
    }
}

impl Example for CertificateVerification {
    fn example() -> Self {
        Self {
            valid: true,
            status: CertificateStatus::Valid,
            course_title: "Lakehouse fundamentals".into(),
            recipient_name: "Ada Lovelace".into(),
            issued_at: DateTime::parse_from_rfc3339("2026-11-21T10:30:00Z")
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
        }
    }
}

#[OpenApi(tag = "Tag::Certificates")]
impl CertificatesApi {
    /// Verifies a certificate by its code (no authentication; rate-limited
    /// per client IP). Unknown codes answer 404.
    #[oai(
        path = "/api/v1/certificates/verify/:code",
        method = "get",
        operation_id = "certificates_verify"
    )]
    async fn verify(
        &self,
        state: Data<&SharedState>,
        /// The 32-character verification code (case-insensitive).
        code: Path<String>,
    ) -> ApiResult<Json<CertificateVerification>> {
        let ip = request_context::current()
            .and_then(|c| c.ip)
            .and_then(|i| i.parse().ok());
        state.limits.check_anonymous(ip)?;
        Ok(Json(certificates::verify(&state.db, &code.0).await?.into()))
    }
}
