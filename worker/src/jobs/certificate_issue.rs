//! `certificate_issue`: the certificate row (domain), the PDF (typst, off
//! the async threads), the object in storage, then one transaction that
//! points the row at its file and tells everyone (domain). A run again
//! finds the rendered certificate and does nothing.

use launchpad_domain::{
    files::{FileId, storage::ObjectKey},
    jobs::Failure,
    kinds::{
        CertificateIssue, CertificateIssueOutcome, CertificateIssueOutput, CertificateIssuePayload,
    },
    lms::certificates::{
        Subject,
        issue::{self, Delivery, Prepared, StoredPdf, TemplateSettings},
        render::RenderError,
    },
};
use object_store::{Attribute, Attributes, ObjectStoreExt, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

use crate::runtime::{Handler, JobContext};

/// A logo larger than this is left out.
const LOGO_MAX: u64 = 5 * 1024 * 1024;

impl Handler for CertificateIssue {
    async fn run(
        ctx: &JobContext,
        p: CertificateIssuePayload,
    ) -> Result<CertificateIssueOutput, Failure> {
        let subject = match (p.course_id, p.path_id) {
            (Some(c), None) => Subject::Course(c),
            (None, Some(path)) => Subject::Path(path),
            _ => {
                return Err(Failure::permanent(
                    "invalid_payload",
                    "exactly one of course_id and path_id",
                ));
            }
        };
        let out = |outcome, id, detail: Option<String>| CertificateIssueOutput {
            outcome,
            certificate_id: id,
            detail,
        };
        let prepared =
            issue::prepare(&ctx.db, p.user_id, subject, p.reissue, ctx.job.requested_by).await?;
        let (cert, settings) = match prepared {
            Prepared::Gone(what) => {
                return Ok(out(
                    CertificateIssueOutcome::Skipped,
                    None,
                    Some(format!("the {what} no longer exists")),
                ));
            }
            Prepared::AlreadyIssued(c) => {
                return Ok(out(
                    CertificateIssueOutcome::AlreadyIssued,
                    Some(c.id),
                    None,
                ));
            }
            Prepared::Render(c, s) => (c, s),
        };
        let services = &ctx.services;
        let logo = read_logo(ctx, &settings).await;
        let doc = issue::document(&cert, &settings, logo, &services.links.public_url);
        let renderer = services.certificates.clone();
        let pdf = tokio::task::spawn_blocking(move || renderer.render(&doc))
            .await
            .map_err(|e| {
                Failure::permanent(
                    "certificate_render_failed",
                    format!("rendering stopped: {e}"),
                )
            })?
            .map_err(|e| match e {
                RenderError::Template(m) => Failure::permanent("certificate_template_error", m),
                RenderError::Other(m) => Failure::transient("certificate_render_failed", m),
            })?;

        let storage = &services.storage;
        let file_id = FileId::new();
        let key = ObjectKey::of(cert.customer_id, file_id);
        let stored = StoredPdf {
            file_id,
            size: pdf.len() as i64,
            sha256: hex::encode(Sha256::digest(&pdf)),
        };
        let mut attributes = Attributes::new();
        if storage.stores_content_type() {
            attributes.insert(Attribute::ContentType, "application/pdf".into());
        }
        storage
            .objects()
            .put_opts(
                &storage.path(&key),
                PutPayload::from(pdf),
                PutOptions {
                    attributes,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Failure::transient("storage_unavailable", e.to_string()))?;
        let delivery = Delivery {
            sender: services.mail.sender(),
            public_url: &services.links.public_url,
        };
        let finished = issue::finish(&ctx.db, &cert, &stored, delivery).await;
        if !matches!(finished, Ok(Some(_))) {
            // Nothing points at the object (files_cleanup would find it too).
            if let Err(e) = launchpad_domain::files::storage::delete(storage.as_ref(), &key).await {
                tracing::warn!(key = %key, error = %e, "could not remove an unused certificate PDF");
            }
        }
        match finished? {
            Some(done) => Ok(out(CertificateIssueOutcome::Issued, Some(done.id), None)),
            None => Ok(out(
                CertificateIssueOutcome::AlreadyIssued,
                Some(cert.id),
                Some("finished or revoked by another run meanwhile".into()),
            )),
        }
    }
}

/// The tenant's logo, when set, readable and not too large; a missing one
/// renders the certificate without it.
async fn read_logo(ctx: &JobContext, s: &TemplateSettings) -> Option<Vec<u8>> {
    let (Some(file), Some(customer)) = (s.logo_file_id, s.logo_customer_id) else {
        return None;
    };
    let storage = &ctx.services.storage;
    let path = storage.path(&ObjectKey::of(customer, file));
    let got = match storage.objects().get(&path).await {
        Ok(g) if g.meta.size <= LOGO_MAX => g,
        Ok(_) => {
            tracing::warn!(file_id = %file, "the certificate logo is too large; left out");
            return None;
        }
        Err(e) => {
            tracing::warn!(file_id = %file, error = %e, "the certificate logo cannot be read; left out");
            return None;
        }
    };
    match got.bytes().await {
        Ok(b) => Some(b.to_vec()),
        Err(e) => {
            tracing::warn!(file_id = %file, error = %e, "the certificate logo cannot be read; left out");
            None
        }
    }
}
