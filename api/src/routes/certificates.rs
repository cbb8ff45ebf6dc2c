//! Certificates of completion: the learner's and a course's certificates,
//! the PDF, issuing and revoking by hand, and public verification (anyone
//! holding a verification code, from a certificate PDF or link, can check
//! it without an account).

use chrono::{DateTime, Utc};
use launchpad_domain::{
    ids::{CertificateId, CourseId, UserId},
    lms::certificates::{
        self, CertificateStatus, CertificateView, RevocationReason, Verification, repo,
    },
    tenancy::Caller,
};
use poem::{Body, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path},
    payload::{Binary, Json},
    types::Example,
};

use super::jobs::{JobAccepted, JobRequest, accept_job};
use crate::types::{Page, Tag};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

pub struct CertificatesApi;

crate::list_query! {
    /// The query of `GET /api/v1/me/certificates`.
    pub struct MyCertificatesQuery {}
}

crate::list_query! {
    /// The query of `GET /api/v1/courses/{course_id}/certificates`.
    pub struct CourseCertificatesQuery {}
}

type CertificatePage = Page<CertificateView>;

/// What a verification code certifies. Deliberately nothing else about the
/// holder than the name printed on the certificate.
#[derive(Object)]
#[oai(example)]
pub struct CertificateVerification {
    /// Whether the certificate stands (`status` is `valid`).
    pub valid: bool,
    pub status: CertificateStatus,
    /// The course's or path's title when the certificate was issued.
    pub course_title: String,
    /// The recipient's name when the certificate was issued.
    pub recipient_name: String,
    /// Who issued it (the organisation).
    pub issuer_name: String,
    pub issued_at: DateTime<Utc>,
    /// When it was revoked (revoked certificates only).
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub revocation_reason: Option<RevocationReason>,
}

impl From<Verification> for CertificateVerification {
    fn from(v: Verification) -> Self {
        Self {
            valid: v.status == CertificateStatus::Valid,
            status: v.status,
            course_title: v.course_title,
            recipient_name: v.recipient_name,
            issuer_name: v.issuer_name,
            issued_at: v.issued_at,
            revoked_at: v.revoked_at,
            revocation_reason: v.revocation_reason,
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
            issuer_name: "Acme Corp".into(),
            issued_at: DateTime::parse_from_rfc3339("2026-11-21T10:30:00Z")
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
            revoked_at: None,
            revocation_reason: None,
        }
    }
}

/// Issues (or re-issues) a person's certificate of the course.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct IssueCertificate {
    /// The learner (a user of the course's customer).
    pub user_id: UserId,
    /// Revoke the standing certificate (reason `superseded`) and issue a
    /// new one; without it, a standing certificate is kept as it is.
    #[oai(default)]
    #[serde(default)]
    pub reissue: bool,
}

impl Example for IssueCertificate {
    fn example() -> Self {
        Self {
            user_id: UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            )),
            reissue: false,
        }
    }
}

/// Why a certificate is revoked.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct RevokeCertificate {
    pub reason: RevocationReason,
    /// An internal note (audited; never shown publicly).
    #[oai(skip_serializing_if_is_none, validator(max_length = 1000))]
    pub note: Option<String>,
}

impl Example for RevokeCertificate {
    fn example() -> Self {
        Self {
            reason: RevocationReason::IssuedInError,
            note: Some("Completed on a test account".into()),
        }
    }
}

/// A certificate's PDF.
#[derive(ApiResponse)]
pub enum CertificatePdf {
    /// The PDF (PDF/A-2b), as an attachment with a readable filename.
    #[oai(status = 200, content_type = "application/pdf")]
    Pdf(
        Binary<Body>,
        /// `attachment; filename="Certificate - {title} - {name}.pdf"` (RFC 6266).
        #[oai(header = "Content-Disposition")]
        String,
        /// The PDF's size in bytes (the body is streamed from storage).
        #[oai(header = "Content-Length")]
        u64,
    ),
}

#[OpenApi(tag = "Tag::Certificates")]
impl CertificatesApi {
    /// Verifies a certificate by its code (no authentication; rate-limited
    /// per client IP). Unknown and malformed codes answer 404 alike.
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
        state.limits.check_anonymous_client()?;
        Ok(Json(certificates::verify(&state.db, &code.0).await?.into()))
    }

    /// The caller's certificates, newest first.
    #[oai(
        path = "/api/v1/me/certificates",
        method = "get",
        operation_id = "certificates_list_mine"
    )]
    async fn list_mine(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: MyCertificatesQuery,
    ) -> ApiResult<Json<CertificatePage>> {
        let page = repo::list_mine(&state.db, &auth.0, &query.page).await?;
        let base = state.settings.public_base_url();
        Ok(Json(Page::from_domain(page, |c| {
            CertificateView::from(c).with_links(&base)
        })))
    }

    /// A certificate: for its learner, admins, internal staff and the
    /// customer's approvers (404 for anyone else).
    #[oai(
        path = "/api/v1/certificates/:certificate_id",
        method = "get",
        operation_id = "certificates_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        certificate_id: Path<CertificateId>,
    ) -> ApiResult<Json<CertificateView>> {
        let c = repo::get(&state.db, &auth.0, certificate_id.0).await?;
        Ok(Json(
            CertificateView::from(c).with_links(&state.settings.public_base_url()),
        ))
    }

    /// Downloads a certificate's PDF (409 `certificate_not_rendered` until
    /// its job has rendered it).
    #[oai(
        path = "/api/v1/certificates/:certificate_id/pdf",
        method = "get",
        operation_id = "certificates_pdf"
    )]
    async fn pdf(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        certificate_id: Path<CertificateId>,
    ) -> ApiResult<CertificatePdf> {
        let (c, f) = repo::pdf(&state.db, &auth.0, certificate_id.0).await?;
        let (body, size) = super::files::object_body(&state, &f.key(), "certificate PDF").await?;
        Ok(CertificatePdf::Pdf(
            Binary(body),
            launchpad_domain::files::storage::content_disposition(&c.pdf_filename()),
            size,
        ))
    }

    /// Revokes a certificate (admins and the customer's approvers; audited).
    /// The public verification then says revoked, with the date and the
    /// reason; `certificate.revoked` fires. 409 when already revoked.
    #[oai(
        path = "/api/v1/certificates/:certificate_id/revoke",
        method = "post",
        operation_id = "certificates_revoke"
    )]
    async fn revoke(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        certificate_id: Path<CertificateId>,
        body: JsonBody<RevokeCertificate>,
    ) -> ApiResult<Json<CertificateView>> {
        let b = body.value;
        let c = repo::revoke(
            &state.db,
            &auth.0,
            certificate_id.0,
            b.reason,
            b.note.as_deref(),
        )
        .await?;
        Ok(Json(c.into()))
    }

    /// A course's certificates, revoked ones too, newest first (admins,
    /// internal staff and the customer's approvers).
    #[oai(
        path = "/api/v1/courses/:course_id/certificates",
        method = "get",
        operation_id = "certificates_list_for_course"
    )]
    async fn list_for_course(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        course_id: Path<CourseId>,
        query: CourseCertificatesQuery,
    ) -> ApiResult<Json<CertificatePage>> {
        let page = repo::list_for_course(&state.db, &auth.0, course_id.0, &query.page).await?;
        let base = state.settings.public_base_url();
        Ok(Json(Page::from_domain(page, |c| {
            CertificateView::from(c).with_links(&base)
        })))
    }

    /// Issues a person's certificate of the course by hand (admins and the
    /// customer's approvers), with or without a recorded completion: a
    /// `certificate_issue` job renders and sends it. A standing certificate
    /// is kept unless `reissue` is set.
    #[oai(
        path = "/api/v1/courses/:course_id/certificates",
        method = "post",
        operation_id = "certificates_issue"
    )]
    async fn issue(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        course_id: Path<CourseId>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: JsonBody<IssueCertificate>,
    ) -> ApiResult<JobAccepted> {
        let course = course_id.0;
        let caller: Caller = auth.0.clone();
        let b = body.value;
        let (user, reissue) = (b.user_id, b.reissue);
        let path = format!("/api/v1/courses/{course}/certificates");
        let fingerprint = serde_json::json!({"user_id": user, "reissue": reissue});
        let req = JobRequest {
            caller: &auth.0,
            tenant: None,
            idempotency_key: idempotency_key.0.as_deref(),
            path: &path,
            body: &fingerprint,
        };
        accept_job(&state, &req, move |conn| {
            Box::pin(async move { repo::request_issue(conn, &caller, course, user, reissue).await })
        })
        .await
    }
}
