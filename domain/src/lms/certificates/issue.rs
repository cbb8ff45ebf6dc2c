//! The `certificate_issue` job's steps around rendering: [`prepare`] writes
//! (or finds) the certificate row and gathers the template's variables;
//! [`finish`] records the stored PDF and tells everyone, in one transaction.

use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    COLUMNS, Certificate, CertificateView, RevocationReason, Subject, new_verification_code,
    render::{self, Document, Paper},
    verify_page_path,
};
use crate::{
    email::{
        self, Sender,
        outbox::{self, Attachment, NewContent, NewEmail, Person},
        template::Vars,
    },
    error::{Error, Result},
    files::{FileId, FilePurpose},
    ids::{CertificateId, CustomerId, UserId},
    jobs::EnqueueCtx,
    notifications::{self, NewNotification, NotificationType},
    webhooks::{WebhookData, WebhookEventType, record_event},
};

/// A tenant's overrides of the template's variables.
#[derive(Debug, Clone, Default, FromRow)]
pub struct TemplateSettings {
    pub paper: Option<Paper>,
    /// The logo, when set and ready (its object key's parts).
    pub logo_file_id: Option<FileId>,
    pub logo_customer_id: Option<CustomerId>,
    pub signatory_name: Option<String>,
    pub signatory_title: Option<String>,
    pub primary_color: Option<String>,
    pub accent_color: Option<String>,
}

/// What [`prepare`] found.
#[derive(Debug)]
pub enum Prepared {
    /// A standing certificate with its PDF exists: nothing to do.
    AlreadyIssued(Certificate),
    /// Render and store this certificate's PDF.
    Render(Box<Certificate>, TemplateSettings),
    /// The person or the course/path no longer exists.
    Gone(&'static str),
}

/// The standing certificate of `user` for `subject`, written now (with
/// snapshots of the name, title and issuer) when there is none. With
/// `reissue`, a standing certificate whose PDF exists is revoked as
/// `superseded` first and a new one written.
pub async fn prepare(
    db: &PgPool,
    user: UserId,
    subject: Subject,
    reissue: bool,
    actor: Option<UserId>,
) -> Result<Prepared> {
    let mut tx = db.begin().await?;
    // One issuance per (person, subject) at a time.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('certificate:' || $1::text || ':' || $2, 0))")
        .bind(user)
        .bind(subject.key())
        .execute(&mut *tx)
        .await?;
    let mut found = standing(&mut tx, user, subject).await?;
    if reissue && let Some(c) = found.as_ref().filter(|c| c.file_id.is_some()) {
        revoke_row(&mut tx, c.id, RevocationReason::Superseded, None, actor).await?;
        found = None;
    }
    let cert = match found {
        Some(c) => c,
        None => {
            let inserted = sqlx::query(
                "INSERT INTO certificates (id, user_id, course_id, path_id, customer_id, verification_code,
                     recipient_name, recipient_email, course_title, issuer_name)
                 SELECT $1, u.id, $3, $4, s.customer_id, $5, u.name, u.email, s.title, cu.name
                 FROM users u,
                      (SELECT id, customer_id, title FROM courses WHERE id = $3
                       UNION ALL SELECT id, customer_id, title FROM learning_paths WHERE id = $4) s
                 JOIN customers cu ON cu.id = s.customer_id
                 WHERE u.id = $2
                 ON CONFLICT DO NOTHING",
            )
            .bind(CertificateId::new())
            .bind(user)
            .bind(subject.course_id())
            .bind(subject.path_id())
            .bind(new_verification_code())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                let user_exists: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
                        .bind(user)
                        .fetch_one(&mut *tx)
                        .await?;
                return Ok(Prepared::Gone(if user_exists {
                    match subject {
                        Subject::Course(_) => "course",
                        Subject::Path(_) => "learning path",
                    }
                } else {
                    "user"
                }));
            }
            standing(&mut tx, user, subject)
                .await?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("certificate vanished")))?
        }
    };
    if cert.file_id.is_some() {
        tx.commit().await?;
        return Ok(Prepared::AlreadyIssued(cert));
    }
    let settings: TemplateSettings = sqlx::query_as(
        "SELECT s.paper, f.id AS logo_file_id, f.customer_id AS logo_customer_id, s.signatory_name,
                s.signatory_title, s.primary_color, s.accent_color
         FROM certificate_settings s
         LEFT JOIN files f ON f.id = s.logo_file_id AND f.status = 'ready' AND f.deleted_at IS NULL
         WHERE s.customer_id = $1",
    )
    .bind(cert.customer_id)
    .fetch_optional(&mut *tx)
    .await?
    .unwrap_or_default();
    tx.commit().await?;
    Ok(Prepared::Render(Box::new(cert), settings))
}

async fn standing(
    conn: &mut PgConnection,
    user: UserId,
    subject: Subject,
) -> Result<Option<Certificate>> {
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM certificates
         WHERE user_id = $1 AND revoked_at IS NULL
           AND (course_id = $2 OR path_id = $3)"
    ))
    .bind(user)
    .bind(subject.course_id())
    .bind(subject.path_id())
    .fetch_optional(conn)
    .await?)
}

/// The template's variables of a certificate (the logo's bytes are the
/// caller's to read from storage).
pub fn document(
    cert: &Certificate,
    settings: &TemplateSettings,
    logo: Option<Vec<u8>>,
    public_url: &str,
) -> Document {
    Document {
        recipient_name: render::printable(&cert.recipient_name, 120),
        title: render::printable(&cert.course_title, 200),
        subject_label: match cert.subject() {
            Subject::Course(_) => "course".into(),
            Subject::Path(_) => "learning path".into(),
        },
        issued_at: cert.issued_at,
        issued_on: render::long_date(cert.issued_at),
        issuer_name: render::printable(&cert.issuer_name, 200),
        logo,
        signatory_name: settings
            .signatory_name
            .as_deref()
            .map(|s| render::printable(s, 100))
            .filter(|s| !s.is_empty()),
        signatory_title: settings
            .signatory_title
            .as_deref()
            .map(|s| render::printable(s, 100))
            .filter(|s| !s.is_empty()),
        primary_color: settings
            .primary_color
            .clone()
            .unwrap_or_else(|| render::DEFAULT_PRIMARY.into()),
        accent_color: settings
            .accent_color
            .clone()
            .unwrap_or_else(|| render::DEFAULT_ACCENT.into()),
        paper: settings.paper.unwrap_or(Paper::A4),
        verification_code: cert.verification_code.clone(),
        verify_url: verify_url(public_url, &cert.verification_code),
    }
}

/// The absolute URL of a code's public page.
pub fn verify_url(public_url: &str, code: &str) -> String {
    format!(
        "{}{}",
        public_url.trim_end_matches('/'),
        verify_page_path(code)
    )
}

/// A rendered PDF, already in storage under `{customer}/{file_id}`.
#[derive(Debug, Clone)]
pub struct StoredPdf {
    pub file_id: FileId,
    pub size: i64,
    pub sha256: String,
}

/// Where the learner's e-mail comes from and links to.
pub struct Delivery<'a> {
    pub sender: &'a Sender,
    pub public_url: &'a str,
}

/// Records the stored PDF (a `files` row, ready, attached to the
/// certificate), points the certificate at it and, in the same
/// transaction, records `certificate.issued`, the learner's notification
/// and the e-mail with the PDF attached. `None` when the certificate was
/// finished by another run or revoked meanwhile (the caller removes the
/// object it stored).
pub async fn finish(
    db: &PgPool,
    cert: &Certificate,
    pdf: &StoredPdf,
    d: Delivery<'_>,
) -> Result<Option<Certificate>> {
    let mut tx = db.begin().await?;
    let filename = cert.pdf_filename();
    sqlx::query(
        "INSERT INTO files (id, customer_id, created_by, purpose, filename, content_type, size, sha256, status,
             uploaded_at, detected_type, attached_to, attached_at, completed_at)
         VALUES ($1, $2, NULL, $3, $4, 'application/pdf', $5, $6, 'ready', now(), 'application/pdf', $7, now(), now())",
    )
    .bind(pdf.file_id)
    .bind(cert.customer_id)
    .bind(FilePurpose::Certificate)
    .bind(&filename)
    .bind(pdf.size)
    .bind(&pdf.sha256)
    .bind(format!("certificate:{}", cert.id))
    .execute(&mut *tx)
    .await?;
    let done: Option<Certificate> = sqlx::query_as(sqlf!(
        "UPDATE certificates SET file_id = $2
         WHERE id = $1 AND file_id IS NULL AND revoked_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(cert.id)
    .bind(pdf.file_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(done) = done else {
        return Ok(None);
    };
    let path = format!("/api/v1/certificates/{}", done.id);
    record_event(
        &mut tx,
        done.customer_id,
        WebhookEventType::CertificateIssued,
        WebhookData::of_view(&CertificateView::from(done.clone()), done.id, path.clone()),
    )
    .await?;
    if let Some(user) = done.user_id {
        notifications::record(
            &mut tx,
            NewNotification::new(
                Some(done.customer_id),
                NotificationType::CertificateIssued,
                format!("Your certificate: {}", done.course_title),
                format!(
                    "{} issued your certificate for “{}”. Anyone can check it at {}.",
                    done.issuer_name,
                    done.course_title,
                    verify_url(d.public_url, &done.verification_code)
                ),
            )
            .link(path)
            .to_users([user]),
        )
        .await?;
        mail_learner(&mut tx, &done, user, &filename, &d).await?;
    }
    tx.commit().await?;
    Ok(Some(done))
}

/// The learner's e-mail with the PDF attached, once per certificate.
async fn mail_learner(
    conn: &mut PgConnection,
    cert: &Certificate,
    user: UserId,
    filename: &str,
    d: &Delivery<'_>,
) -> Result<()> {
    let person: Option<(String, String)> =
        sqlx::query_as("SELECT email, name FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((address, name)) = person else {
        return Ok(());
    };
    let template = email::templates::CERTIFICATE_ISSUED;
    let mut vars = Vars::new();
    vars.set("title", email::header_text(&cert.course_title, 200))
        .set("issuer_name", email::header_text(&cert.issuer_name, 200))
        .set(
            "verify_url",
            verify_url(d.public_url, &cert.verification_code),
        )
        .set("verification_code", cert.verification_code.clone())
        .set("organizer_name", d.sender.display_name())
        .recipient_slot("recipient_name");
    let rendered = template
        .render(&vars)
        .map_err(|err| Error::Internal(anyhow::anyhow!("{}: {err}", template.name)))?;
    let content = NewContent {
        customer_id: Some(cert.customer_id),
        template: template.name,
        rendered,
        ics: None,
        list_id: None,
        attachment: cert.file_id.map(|file_id| Attachment {
            file_id,
            filename: filename.to_string(),
        }),
    };
    let mail = NewEmail::to_person(Person {
        user_id: user,
        address: &address,
        name: &name,
        dedupe_key: format!("certificate-issued:{}", cert.id),
        sender: d.sender,
    });
    let ctx = EnqueueCtx {
        customer_id: Some(cert.customer_id),
        requested_by: None,
        callback_url: None,
    };
    outbox::queue(conn, &content, vec![mail], &ctx).await?;
    Ok(())
}

/// Revokes a standing certificate in the caller's transaction and records
/// `certificate.revoked`. `None` when it was already revoked.
pub(crate) async fn revoke_row(
    conn: &mut PgConnection,
    id: CertificateId,
    reason: RevocationReason,
    note: Option<&str>,
    actor: Option<UserId>,
) -> Result<Option<Certificate>> {
    let revoked: Option<Certificate> = sqlx::query_as(sqlf!(
        "UPDATE certificates SET revoked_at = now(), revocation_reason = $2, revocation_note = $3, revoked_by = $4
         WHERE id = $1 AND revoked_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(reason)
    .bind(note)
    .bind(actor)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(c) = &revoked {
        record_event(
            conn,
            c.customer_id,
            WebhookEventType::CertificateRevoked,
            WebhookData::of_view(
                &CertificateView::from(c.clone()),
                c.id,
                format!("/api/v1/certificates/{}", c.id),
            ),
        )
        .await?;
    }
    Ok(revoked)
}
