//! `email_send`: sends one outbox row. The row is claimed (`pending` →
//! `sending` under a lease) before the SMTP transaction and marked `sent`
//! right after the server's `250`, so a retried or re-delivered job never
//! sends a row that is recorded as sent.

use std::time::Duration;

use launchpad_domain::kinds::{EmailSend, EmailSendOutput, EmailSendPayload};
use launchpad_domain::{
    email::outbox::{self, Claim, EmailStatus},
    jobs::{Failure, JobKind},
};

use launchpad_domain::files::repo as files_repo;
use object_store::ObjectStoreExt;

use crate::{
    mail::{MailAttachment, SendError},
    runtime::{Handler, JobContext},
};

/// How long a claim holds: longer than an attempt may run.
const LEASE: Duration = Duration::from_secs(EmailSend::TIMEOUT.as_secs() + 30);

impl Handler for EmailSend {
    async fn run(ctx: &JobContext, p: EmailSendPayload) -> Result<EmailSendOutput, Failure> {
        let mail = &ctx.services.mail;
        let id = p.outbox_id;
        let output = |status: EmailStatus, message_id: Option<String>, detail: Option<String>| {
            EmailSendOutput {
                outbox_id: id,
                status: status.as_str().to_string(),
                message_id,
                detail,
            }
        };
        // Wait for the relay's rate limit before claiming: a worker stopped
        // while it waits leaves the row pending.
        mail.until_ready().await;
        let row = match outbox::claim(&ctx.db, id, LEASE).await? {
            Claim::Send(row) => row,
            Claim::Finished(status) => {
                return Ok(output(status, None, Some("already finished".into())));
            }
            Claim::Skipped(reason) => {
                return Ok(output(
                    EmailStatus::Suppressed,
                    None,
                    Some(reason.as_str().into()),
                ));
            }
            Claim::Held => {
                return Ok(output(
                    EmailStatus::Pending,
                    None,
                    Some("held: its fan-out is paused".into()),
                ));
            }
            Claim::Gone => {
                return Err(Failure::permanent(
                    "subject_not_found",
                    "the outbox row no longer exists",
                ));
            }
            Claim::Busy(left) => {
                return Err(Failure::Transient {
                    code: "email_claimed".into(),
                    message: "another attempt holds this message's claim".into(),
                    retry_after: Some(left + Duration::from_secs(1)),
                });
            }
        };
        let attachment = match read_attachment(ctx, &row).await {
            Ok(a) => a,
            Err(e) => {
                // Storage is down: the claim is given back for the retry.
                if let Err(db) = outbox::release(&ctx.db, id, &e).await {
                    tracing::warn!(outbox_id = %id, error = %db, "could not release a claim");
                }
                return Err(Failure::transient("storage_unavailable", e));
            }
        };
        let message = match mail.build(&row, attachment.as_ref()) {
            Ok(m) => m,
            Err(e) => return Err(fail(ctx, id, e).await),
        };
        match mail.send(&message).await {
            Ok(response) => {
                record_sent(ctx, id, &response).await?;
                Ok(output(
                    EmailStatus::Sent,
                    Some(row.message_id.clone()),
                    Some(response),
                ))
            }
            Err(e) => Err(fail(ctx, id, e).await),
        }
    }
}

/// The bytes of the row's attached file, if it has one. A file deleted
/// meanwhile sends the message without it; storage errors are `Err`.
async fn read_attachment(
    ctx: &JobContext,
    row: &outbox::OutboxEmail,
) -> Result<Option<MailAttachment>, String> {
    let Some(file_id) = row.attachment_file_id else {
        return Ok(None);
    };
    let file = match files_repo::fetch_any(&ctx.db, file_id).await {
        Ok(Some(f)) if f.deleted_at.is_none() => f,
        Ok(_) => {
            tracing::warn!(outbox_id = %row.id, %file_id, "the attachment's file is gone; sending without it");
            return Ok(None);
        }
        Err(e) => return Err(e.to_string()),
    };
    let storage = &ctx.services.storage;
    let got = match storage.objects().get(&storage.path(&file.key())).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => {
            tracing::warn!(outbox_id = %row.id, %file_id, "the attachment's object is gone; sending without it");
            return Ok(None);
        }
        Err(e) => return Err(e.to_string()),
    };
    let bytes = got.bytes().await.map_err(|e| e.to_string())?;
    Ok(Some(MailAttachment {
        filename: row
            .attachment_filename
            .clone()
            .unwrap_or_else(|| file.filename.clone()),
        content_type: file.content_type.clone(),
        bytes: bytes.to_vec(),
    }))
}

/// Records a failure on the row and turns it into the job's failure.
async fn fail(ctx: &JobContext, id: uuid::Uuid, e: SendError) -> Failure {
    let recorded = match &e {
        SendError::Transient(msg) if ctx.job.attempts < ctx.job.max_attempts => {
            outbox::release(&ctx.db, id, msg).await
        }
        // The last attempt: the row is given up with the job.
        SendError::Transient(msg) => outbox::mark_failed(&ctx.db, id, msg, false).await,
        SendError::Permanent {
            response,
            hard_bounce,
        } => outbox::mark_failed(&ctx.db, id, response, *hard_bounce).await,
        SendError::Invalid(msg) => outbox::mark_failed(&ctx.db, id, msg, false).await,
    };
    if let Err(db) = recorded {
        // The row stays `sending` until its lease expires; the retry takes it then.
        tracing::warn!(outbox_id = %id, error = %db, "could not record a send failure");
        return Failure::from(db);
    }
    match e {
        SendError::Transient(msg) => Failure::transient("smtp_transient", msg),
        SendError::Permanent { response, .. } => Failure::permanent("smtp_rejected", response),
        SendError::Invalid(msg) => Failure::permanent("invalid_message", msg),
    }
}

/// Marks the row sent, retrying a few times: until this commits, a worker
/// death would send the message again (the at-least-once window).
async fn record_sent(ctx: &JobContext, id: uuid::Uuid, response: &str) -> Result<(), Failure> {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match outbox::mark_sent(&ctx.db, id, response).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 8 => {
                tracing::warn!(outbox_id = %id, error = %e, "could not record a sent message; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
