//! What verifiers read without an account: the human verification page of
//! a certificate, the platform's credential keys (JWKS) and the Bitstring
//! Status Lists; and, for those who may see a certificate, its Open Badges
//! 3.0 credential (VC-JWT).

use chrono::Utc;
use launchpad_domain::{
    email::template::escape_html,
    ids::CertificateId,
    lms::certificates::{
        self, CertificateStatus, RevocationReason, Verification, credential, repo,
    },
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Path,
    payload::{Html, Json, PlainText},
};

use crate::types::Tag;
use crate::{
    problem::{ApiError, ApiResult},
    security::BearerAuth,
    state::SharedState,
};
use launchpad_domain::error::Error as DomainError;

pub struct CredentialsApi;

/// A signed credential.
#[derive(ApiResponse)]
pub enum VcJwt {
    /// A VC-JWT (compact JWS, `EdDSA`; `kid` names the key in
    /// `/.well-known/jwks.json`).
    #[oai(status = 200, content_type = "application/vc+jwt")]
    Jwt(PlainText<String>, #[oai(header = "Cache-Control")] String),
}

/// A public key of the platform's credential signatures (RFC 8037).
#[derive(Object)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key (base64url).
    pub x: String,
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[oai(rename = "use")]
    pub use_: String,
}

/// The platform's credential signing keys (JWK Set, RFC 7517).
#[derive(Object)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// The public verification page.
#[derive(ApiResponse)]
pub enum VerifyPage {
    /// The certificate: the learner's name, the course or path, the issuer,
    /// the date and whether it stands (`noindex`).
    #[oai(status = 200)]
    Found(Html<String>, #[oai(header = "X-Robots-Tag")] String),
    /// No certificate has this code (unknown and malformed alike).
    #[oai(status = 404)]
    NotFound(Html<String>, #[oai(header = "X-Robots-Tag")] String),
}

const NOINDEX: &str = "noindex, nofollow";

fn reason_text(r: RevocationReason) -> &'static str {
    match r {
        RevocationReason::IssuedInError => "issued in error",
        RevocationReason::Misconduct => "misconduct",
        RevocationReason::Superseded => "superseded by a newer certificate",
        RevocationReason::Withdrawn => "withdrawn",
        RevocationReason::Other => "other reasons",
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html(s, &mut out);
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{title}</title>
<style>
body {{ margin: 0; padding: 32px 16px; background: #f5f6f8; font-family: Arial, Helvetica, sans-serif; color: #1d2330; }}
main {{ max-width: 640px; margin: 0 auto; background: #fff; border-radius: 8px; padding: 32px; }}
.status {{ display: inline-block; padding: 4px 12px; border-radius: 999px; font-weight: bold; }}
.valid {{ background: #e3f6e8; color: #17692f; }}
.revoked {{ background: #fde8e8; color: #9b1c1c; }}
dt {{ color: #5b6475; font-size: 14px; margin-top: 16px; }}
dd {{ margin: 4px 0 0; font-size: 18px; }}
</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"#,
        title = esc(title)
    )
}

/// The page of a verification (all text escaped).
pub fn verification_page(v: &Verification) -> String {
    let status = match v.status {
        CertificateStatus::Valid => {
            r#"<p id="status" class="status valid" data-status="valid">Valid</p>"#.to_string()
        }
        CertificateStatus::Revoked => format!(
            r#"<p id="status" class="status revoked" data-status="revoked">Revoked{}{}</p>"#,
            v.revoked_at
                .map(|d| format!(" on {}", d.format("%-d %B %Y")))
                .unwrap_or_default(),
            v.revocation_reason
                .map(|r| format!(" ({})", reason_text(r)))
                .unwrap_or_default()
        ),
    };
    let body = format!(
        r#"<h1>Certificate of completion</h1>
{status}
<dl>
<dt>Awarded to</dt><dd id="recipient">{name}</dd>
<dt>For completing</dt><dd id="title">{title}</dd>
<dt>Issued by</dt><dd id="issuer">{issuer}</dd>
<dt>Issued on</dt><dd id="issued"><time datetime="{issued_iso}">{issued}</time></dd>
</dl>"#,
        name = esc(&v.recipient_name),
        title = esc(&v.course_title),
        issuer = esc(&v.issuer_name),
        issued_iso = v.issued_at.to_rfc3339(),
        issued = v.issued_at.format("%-d %B %Y"),
    );
    page(&format!("Certificate: {}", v.course_title), &body)
}

fn not_found_page() -> String {
    page(
        "Certificate not found",
        "<h1>Certificate not found</h1>\n<p id=\"status\" data-status=\"unknown\">No certificate has this verification code. Check the code printed on the certificate.</p>",
    )
}

#[OpenApi(tag = "Tag::Certificates")]
impl CredentialsApi {
    /// The public verification page of a certificate (HTML; no login;
    /// rate-limited per client IP; `noindex`). Unknown and malformed codes
    /// answer the same 404 page.
    #[oai(
        path = "/verify/:code",
        method = "get",
        operation_id = "certificates_verify_page"
    )]
    async fn verify_page(
        &self,
        state: Data<&SharedState>,
        /// The 32-character verification code (case-insensitive).
        code: Path<String>,
    ) -> ApiResult<VerifyPage> {
        state.limits.check_anonymous_client()?;
        match certificates::verify(&state.db, &code.0).await {
            Ok(v) => Ok(VerifyPage::Found(
                Html(verification_page(&v)),
                NOINDEX.into(),
            )),
            Err(DomainError::NotFound { .. }) => {
                Ok(VerifyPage::NotFound(Html(not_found_page()), NOINDEX.into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The public keys of the platform's credential signatures.
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "credentials_jwks"
    )]
    async fn jwks(&self, state: Data<&SharedState>) -> ApiResult<Json<JwkSet>> {
        let set = state.settings.credential_keys.jwks();
        let keys = set["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .map(|k| Jwk {
                        kty: k["kty"].as_str().unwrap_or_default().into(),
                        crv: k["crv"].as_str().unwrap_or_default().into(),
                        x: k["x"].as_str().unwrap_or_default().into(),
                        kid: k["kid"].as_str().unwrap_or_default().into(),
                        alg: k["alg"].as_str().unwrap_or_default().into(),
                        use_: k["use"].as_str().unwrap_or_default().into(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Json(JwkSet { keys }))
    }

    /// A Bitstring Status List of certificate revocations (a signed
    /// `BitstringStatusListCredential`; no login). A certificate's
    /// credential names its list and index in `credentialStatus`.
    #[oai(
        path = "/credentials/status/:list",
        method = "get",
        operation_id = "credentials_status_list"
    )]
    async fn status_list(
        &self,
        state: Data<&SharedState>,
        /// The list's number.
        list: Path<i64>,
    ) -> ApiResult<VcJwt> {
        state.limits.check_anonymous_client()?;
        let bits = credential::revoked_bits(&state.db, list.0).await?;
        let claims = credential::status_list_claims(
            &state.settings.public_base_url(),
            list.0,
            &bits,
            Utc::now(),
        );
        let jwt = state.settings.credential_keys.sign(&claims)?;
        Ok(VcJwt::Jwt(PlainText(jwt), "public, max-age=60".into()))
    }

    /// A certificate as an Open Badges 3.0 `OpenBadgeCredential`, signed as
    /// a VC-JWT (same access as `certificates_get`). Its
    /// `credentialStatus` points at the status list that says whether it
    /// was revoked.
    #[oai(
        path = "/api/v1/certificates/:certificate_id/credential",
        method = "get",
        operation_id = "certificates_credential"
    )]
    async fn credential(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        certificate_id: Path<CertificateId>,
    ) -> ApiResult<VcJwt> {
        let c = repo::get(&state.db, &auth.0, certificate_id.0).await?;
        let claims = credential::claims(&c, &state.settings.public_base_url());
        let jwt = state
            .settings
            .credential_keys
            .sign(&claims)
            .map_err(ApiError::from)?;
        Ok(VcJwt::Jwt(PlainText(jwt), "private, no-store".into()))
    }
}
