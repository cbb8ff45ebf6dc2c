//! The e-mail outbox: one row per message per recipient. Rows are written
//! (with their `email_send` jobs) in the transaction of whatever caused
//! them; the job claims its row, sends it and records the outcome.
//!
//! What the messages of one [`queue`] call say is stored once
//! (`email_contents`): rendered with the recipient's name as a slot and the
//! calendar object without an `ATTENDEE`. A row holds its recipient, and
//! [`claim`] makes the content out to them — the same message as rendering
//! it for them alone, so a fan-out to 10,000 people writes one copy of
//! the bodies instead of 10,000.
//!
//! Never twice: a row is sent only by the job that moved it from `pending`
//! to `sending` (under a lease), and a `sent` row is never claimed again.
//! The one window left is a worker that dies after the server's `250` and
//! before `sent` is committed: once the lease expires the row is sent again
//! — with the same `Message-ID`, which receiving systems use to drop
//! duplicates (see the README).

use crate::text_enum;
use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use super::{
    Sender,
    templates::{Recipient, Rendered},
};
use crate::{
    calendar::ics::{self, Method, Party},
    error::Result,
    files::FileId,
    ids::{CustomerId, UserId},
    jobs::{EnqueueCtx, NewJob, enqueue_bulk},
    kinds::{EmailSend, EmailSendPayload},
};

text_enum! {
    /// Where a message is in its life.
    pub enum EmailStatus {
        /// Waiting for its `email_send` job (also between retries).
        Pending = "pending",
        /// Claimed by a job; the SMTP transaction is under way.
        Sending = "sending",
        /// The server accepted it (`250`).
        Sent = "sent",
        /// Refused for good (5xx), or given up after the job's attempts.
        Failed = "failed",
        /// Not sent on purpose (see the skip reason).
        Suppressed = "suppressed",
    }
}

text_enum! {
    /// Why a message was not sent.
    pub enum SkipReason {
        /// The address is on the tenant's suppression list (a hard bounce).
        AddressSuppressed = "address_suppressed",
        /// The recipient has no e-mail address.
        NoAddress = "no_address",
        /// The recipient's address is not a valid e-mail address.
        InvalidAddress = "invalid_address",
        /// A newer message of the same thread to the same person exists.
        Superseded = "superseded",
    }
}

/// The calendar part of a message.
#[derive(Debug, Clone)]
pub struct IcsPart {
    pub method: Method,
    pub sequence: i32,
    pub text: String,
}

/// What every message of one [`queue`] call says, rendered once: with
/// [`Vars::recipient_slot`](super::template::Vars::recipient_slot) for the
/// recipient's name, and a calendar object rendered without an attendee
/// (each recipient is added as `ATTENDEE` when sent).
#[derive(Debug, Clone)]
pub struct NewContent {
    /// The tenant the message is sent for; `None` for the platform's own
    /// mail (account e-mails), whatever tenants the recipient belongs to.
    pub customer_id: Option<CustomerId>,
    /// The template the content was rendered from (`event_invite`, ...).
    pub template: &'static str,
    pub rendered: Rendered,
    pub ics: Option<IcsPart>,
    /// `List-Id` (RFC 2919: `Name <id.domain>`) of a list's messages.
    pub list_id: Option<String>,
    /// A stored file sent as an attachment (read from storage when sent).
    pub attachment: Option<Attachment>,
}

/// A stored file attached to a message.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub file_id: FileId,
    /// The attachment's name in the message.
    pub filename: String,
}

/// A recipient of a message to write to the outbox.
#[derive(Debug, Clone)]
pub struct NewEmail {
    pub id: Uuid,
    pub thread_key: Option<String>,
    pub user_id: Option<UserId>,
    /// Writing a second row with the same key is a no-op.
    pub dedupe_key: Option<String>,
    pub to_address: String,
    /// Header text ([`header_text`](super::header_text)); the slot is filled
    /// with it, or with the address when absent.
    pub to_name: Option<String>,
    pub message_id: String,
    /// Recorded as `suppressed` with this reason instead of being sent.
    pub skip: Option<SkipReason>,
    /// A one-click unsubscribe URL (RFC 8058): sent as `List-Unsubscribe`
    /// with `List-Unsubscribe-Post`.
    pub list_unsubscribe: Option<String>,
}

/// A platform user to write one message to (see [`NewEmail::to_person`]).
pub struct Person<'a> {
    pub user_id: UserId,
    pub address: &'a str,
    pub name: &'a str,
    /// Writing a second row with the same key is a no-op.
    pub dedupe_key: String,
    pub sender: &'a Sender,
}

impl NewEmail {
    /// A message to a person: a new outbox id and Message-ID, the name as
    /// header text, and `skip` set when the address is empty or invalid.
    pub fn to_person(p: Person<'_>) -> Self {
        let mut e = Self::to_address(p.address, Some(p.name), p.sender);
        e.user_id = Some(p.user_id);
        e.dedupe_key = Some(p.dedupe_key);
        e
    }

    /// A message to an address (a person's or not): a new outbox id and
    /// Message-ID, the name as header text, and `skip` set when the address
    /// is empty or invalid.
    pub fn to_address(address: &str, name: Option<&str>, sender: &Sender) -> Self {
        let id = Uuid::now_v7();
        let address = address.trim();
        let skip = if address.is_empty() {
            Some(SkipReason::NoAddress)
        } else if crate::values::Email::parse(address).is_err() {
            Some(SkipReason::InvalidAddress)
        } else {
            None
        };
        let name = name.map(|n| super::header_text(n, 200));
        Self {
            id,
            thread_key: None,
            user_id: None,
            dedupe_key: None,
            to_address: address.to_string(),
            to_name: name.filter(|n| !n.is_empty()),
            message_id: super::message_id(id, sender),
            skip,
            list_unsubscribe: None,
        }
    }
}

/// What [`queue`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queued {
    /// Rows written `pending`, each with its `email_send` job.
    pub pending: Vec<Uuid>,
    /// Rows written `suppressed`.
    pub suppressed: usize,
    /// Messages whose dedupe key was already written.
    pub duplicates: usize,
}

/// Which suppression lists apply to a message of tenant `$1` (`None`: the
/// platform's own mail) to the users `$3`: a tenant's message, the tenant's
/// list; the platform's mail, the platform's list and the lists of every
/// tenant the recipient belongs to (an address that bounced for one of
/// them bounces for all). `s` is the suppression row.
const SUPPRESSED_FOR: &str = "(s.customer_id = $1 OR ($1 IS NULL AND (s.customer_id IS NULL
    OR s.customer_id IN (SELECT uc.customer_id FROM user_customers uc WHERE uc.user_id = ANY($3)))))";

/// Writes `content` once and one outbox row per recipient, and enqueues one
/// `email_send` job per message to send, in the caller's transaction, with
/// one statement per table. Addresses on the tenant's suppression list are
/// written `suppressed` and get no job.
pub async fn queue(
    conn: &mut PgConnection,
    content: &NewContent,
    emails: Vec<NewEmail>,
    ctx: &EnqueueCtx,
) -> Result<Queued> {
    if emails.is_empty() {
        return Ok(Queued::default());
    }
    let content_id = write_content(conn, content).await?;
    let out = queue_rows(conn, content_id, content, emails, ctx).await?;
    if out.pending.is_empty() && out.suppressed == 0 {
        // Every message was written before (a fan-out run again).
        sqlx::query("DELETE FROM email_contents WHERE id = $1")
            .bind(content_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(out)
}

/// Stores what the messages of a fan-out say, once; returns its id for
/// [`queue_rows`] (a fan-out in slices writes it once and its rows slice
/// by slice).
pub async fn write_content(conn: &mut PgConnection, content: &NewContent) -> Result<Uuid> {
    let content_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO email_contents (id, customer_id, subject, body_text, body_html, ics, ics_method, ics_sequence,
             list_id, attachment_file_id, attachment_filename)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(content_id)
    .bind(content.customer_id)
    .bind(&content.rendered.subject)
    .bind(&content.rendered.text)
    .bind(&content.rendered.html)
    .bind(content.ics.as_ref().map(|i| &i.text))
    .bind(content.ics.as_ref().map(|i| i.method.as_str()))
    .bind(content.ics.as_ref().map(|i| i.sequence))
    .bind(&content.list_id)
    .bind(content.attachment.as_ref().map(|a| a.file_id))
    .bind(content.attachment.as_ref().map(|a| &a.filename))
    .execute(&mut *conn)
    .await?;
    Ok(content_id)
}

/// Writes one outbox row per recipient of the stored content `content_id`
/// ([`write_content`]; `content` says its tenant and template) and one
/// `email_send` job per message to send, with one statement per table.
/// Addresses on the tenant's suppression list are written `suppressed`.
pub async fn queue_rows(
    conn: &mut PgConnection,
    content_id: Uuid,
    content: &NewContent,
    mut emails: Vec<NewEmail>,
    ctx: &EnqueueCtx,
) -> Result<Queued> {
    if emails.is_empty() {
        return Ok(Queued::default());
    }
    let customer = content.customer_id;
    let addresses: Vec<String> = emails
        .iter()
        .filter(|e| e.skip.is_none())
        .map(|e| e.to_address.to_lowercase())
        .collect();
    let users: Vec<Uuid> = emails
        .iter()
        .filter_map(|e| e.user_id.map(|u| u.0))
        .collect();
    let suppressed: HashSet<String> = sqlx::query_scalar(sqlf!(
        "SELECT s.address FROM email_suppressions s WHERE s.address = ANY($2) AND {SUPPRESSED_FOR}"
    ))
    .bind(customer)
    .bind(&addresses)
    .bind(&users)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    for e in emails.iter_mut().filter(|e| e.skip.is_none()) {
        if suppressed.contains(&e.to_address.to_lowercase()) {
            e.skip = Some(SkipReason::AddressSuppressed);
        }
    }

    let n = emails.len();
    let mut cols = Columns::with_capacity(n);
    for e in &emails {
        cols.push(e);
    }
    let inserted: Vec<(Uuid, EmailStatus)> = sqlx::query_as(
        "INSERT INTO email_outbox (id, content_id, customer_id, template, thread_key, user_id, dedupe_key,
             to_address, to_name, message_id, status, skip_reason, list_unsubscribe)
         SELECT id, $1, $2, $3, thread_key, user_id, dedupe_key, to_address, to_name, message_id, status, skip_reason,
             list_unsubscribe
         FROM unnest($4::uuid[], $5::text[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[],
             $11::text[], $12::text[], $13::text[])
             AS r(id, thread_key, user_id, dedupe_key, to_address, to_name, message_id, status, skip_reason,
                  list_unsubscribe)
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING id, status",
    )
    .bind(content_id)
    .bind(customer)
    .bind(content.template)
    .bind(&cols.id)
    .bind(&cols.thread_key)
    .bind(&cols.user_id)
    .bind(&cols.dedupe_key)
    .bind(&cols.to_address)
    .bind(&cols.to_name)
    .bind(&cols.message_id)
    .bind(&cols.status)
    .bind(&cols.skip_reason)
    .bind(&cols.list_unsubscribe)
    .fetch_all(&mut *conn)
    .await?;

    let mut out = Queued {
        duplicates: n - inserted.len(),
        ..Queued::default()
    };
    let pending: HashSet<Uuid> = inserted
        .iter()
        .filter(|(_, s)| *s == EmailStatus::Pending)
        .map(|(id, _)| *id)
        .collect();
    out.suppressed = inserted.len() - pending.len();
    let job_ctx = EnqueueCtx {
        customer_id: customer,
        requested_by: ctx.requested_by,
        callback_url: None,
    };
    let mut jobs = Vec::with_capacity(pending.len());
    for e in emails.iter().filter(|e| pending.contains(&e.id)) {
        jobs.push(NewJob::of::<EmailSend>(
            &EmailSendPayload { outbox_id: e.id },
            &job_ctx,
        ));
        out.pending.push(e.id);
    }
    enqueue_bulk(conn, jobs).await?;
    Ok(out)
}

/// Column arrays for the bulk insert.
struct Columns {
    id: Vec<Uuid>,
    thread_key: Vec<Option<String>>,
    user_id: Vec<Option<Uuid>>,
    dedupe_key: Vec<Option<String>>,
    to_address: Vec<String>,
    to_name: Vec<Option<String>>,
    message_id: Vec<String>,
    status: Vec<&'static str>,
    skip_reason: Vec<Option<&'static str>>,
    list_unsubscribe: Vec<Option<String>>,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        Self {
            id: Vec::with_capacity(n),
            thread_key: Vec::with_capacity(n),
            user_id: Vec::with_capacity(n),
            dedupe_key: Vec::with_capacity(n),
            to_address: Vec::with_capacity(n),
            to_name: Vec::with_capacity(n),
            message_id: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            skip_reason: Vec::with_capacity(n),
            list_unsubscribe: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, e: &NewEmail) {
        self.id.push(e.id);
        self.thread_key.push(e.thread_key.clone());
        self.user_id.push(e.user_id.map(|u| u.0));
        self.dedupe_key.push(e.dedupe_key.clone());
        self.to_address.push(e.to_address.clone());
        self.to_name.push(e.to_name.clone());
        self.message_id.push(e.message_id.clone());
        self.status.push(if e.skip.is_some() {
            EmailStatus::Suppressed.as_str()
        } else {
            EmailStatus::Pending.as_str()
        });
        self.skip_reason.push(e.skip.map(SkipReason::as_str));
        self.list_unsubscribe.push(e.list_unsubscribe.clone());
    }
}

/// A row as the sender sees it: its content made out to its recipient
/// ([`OutboxEmail::personalise`]).
#[derive(Debug, Clone, FromRow)]
pub struct OutboxEmail {
    pub id: Uuid,
    /// `None` for the platform's own mail.
    pub customer_id: Option<CustomerId>,
    pub template: String,
    pub thread_key: Option<String>,
    pub user_id: Option<UserId>,
    pub to_address: String,
    pub to_name: Option<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub ics: Option<String>,
    pub ics_method: Option<String>,
    pub message_id: String,
    pub status: EmailStatus,
    pub attempts: i32,
    pub smtp_response: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The one-click unsubscribe URL, when the message has one.
    pub list_unsubscribe: Option<String>,
    /// `List-Id`, when the message belongs to a list.
    pub list_id: Option<String>,
    /// A stored file to attach (see [`Attachment`]).
    pub attachment_file_id: Option<FileId>,
    pub attachment_filename: Option<String>,
}

impl OutboxEmail {
    /// Fills in the recipient: their name (or address), first name,
    /// address and unsubscribe URL in the slots of the subject and bodies,
    /// and them as the calendar object's `ATTENDEE`.
    pub fn personalise(mut self) -> Self {
        let name = self.to_name.as_deref().unwrap_or(&self.to_address);
        let r = Rendered {
            subject: std::mem::take(&mut self.subject),
            text: std::mem::take(&mut self.body_text),
            html: std::mem::take(&mut self.body_html),
        }
        .personalise_for(&Recipient {
            name,
            address: &self.to_address,
            unsubscribe_url: self.list_unsubscribe.as_deref().unwrap_or_default(),
        });
        (self.subject, self.body_text, self.body_html) = (r.subject, r.text, r.html);
        if let Some(ics) = &self.ics {
            let attendee = Party {
                name: self.to_name.as_deref(),
                email: &self.to_address,
            };
            self.ics = Some(ics::with_attendee(ics, &attendee));
        }
        self
    }
}

const COLUMNS: &str = "o.id, o.customer_id, o.template, o.thread_key, o.user_id, o.to_address, o.to_name, \
    c.subject, c.body_text, c.body_html, c.ics, c.ics_method, o.message_id, o.status, o.attempts, o.smtp_response, \
    o.created_at, o.list_unsubscribe, c.list_id, c.attachment_file_id, c.attachment_filename";

/// The outcome of [`claim`].
#[derive(Debug)]
pub enum Claim {
    /// Claimed: send it now, then record the outcome.
    Send(Box<OutboxEmail>),
    /// Already finished (`sent`, `failed` or `suppressed`): nothing to do.
    Finished(EmailStatus),
    /// Not sent, on purpose; the row is now `suppressed`.
    Skipped(SkipReason),
    /// Another attempt holds the claim for this long.
    Busy(Duration),
    /// Its fan-out is paused (`email_contents.held`): left `pending`, to be
    /// enqueued again when the fan-out resumes.
    Held,
    /// The row no longer exists.
    Gone,
}

/// Claims a row for sending: `pending` (or `sending` with an expired lease)
/// becomes `sending` until `now + lease`, unless its address is suppressed
/// or a newer message of its thread exists for the same person.
///
/// The claim commits without waiting for its WAL flush: [`mark_sent`],
/// which commits durably after the send, flushes it too, and a claim lost
/// in a Postgres crash before that only means the message may be sent again
/// — the at-least-once window that exists anyway (same `Message-ID`). This
/// halves the flush waits per message, which bound a busy relay's rate.
pub async fn claim(db: &PgPool, id: Uuid, lease: Duration) -> Result<Claim> {
    let mut tx = db
        .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
        .await?;
    #[derive(FromRow)]
    struct Cur {
        status: EmailStatus,
        lease_left: Option<f64>,
        suppressed: bool,
        superseded: bool,
        held: bool,
    }
    let cur: Option<Cur> = sqlx::query_as(
        "SELECT o.status,
                extract(epoch FROM o.lease_until - now())::float8 AS lease_left,
                EXISTS (SELECT 1 FROM email_suppressions s
                        WHERE s.address = lower(o.to_address) AND (s.customer_id = o.customer_id
                            OR (o.customer_id IS NULL AND (s.customer_id IS NULL OR s.customer_id IN (
                                SELECT uc.customer_id FROM user_customers uc WHERE uc.user_id = o.user_id)))))
                    AS suppressed,
                (o.thread_key IS NOT NULL AND o.user_id IS NOT NULL AND EXISTS (
                    SELECT 1 FROM email_outbox n
                    WHERE n.user_id = o.user_id AND n.thread_key = o.thread_key AND n.seq > o.seq)) AS superseded,
                coalesce((SELECT c.held FROM email_contents c WHERE c.id = o.content_id), false) AS held
         FROM email_outbox o WHERE o.id = $1 FOR UPDATE OF o",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(cur) = cur else {
        return Ok(Claim::Gone);
    };
    match cur.status {
        EmailStatus::Sent | EmailStatus::Failed | EmailStatus::Suppressed => {
            return Ok(Claim::Finished(cur.status));
        }
        EmailStatus::Sending if cur.lease_left.is_some_and(|s| s > 0.0) => {
            return Ok(Claim::Busy(Duration::from_secs_f64(
                cur.lease_left.unwrap_or(0.0),
            )));
        }
        EmailStatus::Pending if cur.held => return Ok(Claim::Held),
        EmailStatus::Pending | EmailStatus::Sending => {}
    }
    let skip = if cur.suppressed {
        Some(SkipReason::AddressSuppressed)
    } else if cur.superseded {
        Some(SkipReason::Superseded)
    } else {
        None
    };
    if let Some(reason) = skip {
        sqlx::query(
            "UPDATE email_outbox SET status = 'suppressed', skip_reason = $2, lease_until = NULL, updated_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Claim::Skipped(reason));
    }
    let row: OutboxEmail = sqlx::query_as(sqlf!(
        "UPDATE email_outbox o SET status = 'sending', lease_until = now() + make_interval(secs => $2),
             attempts = o.attempts + 1, updated_at = now()
         FROM email_contents c
         WHERE o.id = $1 AND c.id = o.content_id RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(lease.as_secs_f64())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Claim::Send(Box::new(row.personalise())))
}

/// Records the server's acceptance.
pub async fn mark_sent(db: &PgPool, id: Uuid, smtp_response: &str) -> Result<()> {
    sqlx::query(
        "UPDATE email_outbox SET status = 'sent', sent_at = now(), lease_until = NULL, smtp_response = $2,
             updated_at = now()
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(clip(smtp_response))
    .execute(db)
    .await?;
    Ok(())
}

/// A transient failure: the row goes back to `pending` for the next attempt.
pub async fn release(db: &PgPool, id: Uuid, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE email_outbox SET status = 'pending', lease_until = NULL, smtp_response = $2, updated_at = now()
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(clip(error))
    .execute(db)
    .await?;
    Ok(())
}

/// A permanent failure. With `suppress`, the address joins the suppression
/// list of the message's tenant (the platform's, for its own mail): a hard
/// bounce. In the same transaction.
pub async fn mark_failed(db: &PgPool, id: Uuid, smtp_response: &str, suppress: bool) -> Result<()> {
    let mut tx = db.begin().await?;
    let row: Option<(Option<CustomerId>, String)> = sqlx::query_as(
        "UPDATE email_outbox SET status = 'failed', lease_until = NULL, smtp_response = $2, updated_at = now()
         WHERE id = $1 AND status IN ('sending', 'pending')
         RETURNING customer_id, to_address",
    )
    .bind(id)
    .bind(clip(smtp_response))
    .fetch_optional(&mut *tx)
    .await?;
    if suppress && let Some((customer, address)) = row {
        sqlx::query(
            "INSERT INTO email_suppressions (customer_id, address, reason, outbox_id) VALUES ($1, lower($2), $3, $4)
             ON CONFLICT (customer_id, address) DO NOTHING",
        )
        .bind(customer)
        .bind(address)
        .bind(clip(smtp_response))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The smallest UUIDv7 of the millisecond `at`: every v7 id made before
/// `at` sorts below it (outbox and content ids are v7, so their primary
/// keys order them by creation).
pub fn v7_floor(at: DateTime<Utc>) -> Uuid {
    let ms = at.timestamp_millis().max(0) as u64;
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70;
    b[8] = 0x80;
    Uuid::from_bytes(b)
}

/// Deletes (a slice of at most 10,000 each) finished messages — `sent`,
/// `failed`, `suppressed` — written before `older_than`, and contents of
/// that age no message uses any more. Returns (messages, contents) deleted.
/// Suppressions outlive the message that caused them.
pub async fn prune(db: &PgPool, older_than: DateTime<Utc>) -> Result<(u64, u64)> {
    let bound = v7_floor(older_than);
    let messages = sqlx::query(
        "DELETE FROM email_outbox WHERE id IN (
             SELECT id FROM email_outbox
             WHERE id < $1 AND status IN ('sent', 'failed', 'suppressed')
             ORDER BY id LIMIT 10000)",
    )
    .bind(bound)
    .execute(db)
    .await?
    .rows_affected();
    let contents = sqlx::query(
        "DELETE FROM email_contents WHERE id IN (
             SELECT c.id FROM email_contents c
             WHERE c.id < $1 AND NOT EXISTS (SELECT 1 FROM email_outbox o WHERE o.content_id = c.id)
             ORDER BY c.id LIMIT 10000)",
    )
    .bind(bound)
    .execute(db)
    .await?
    .rows_affected();
    Ok((messages, contents))
}

/// SMTP replies can be long (multi-line); the column keeps 2000 characters.
fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(2000) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// The state of the latest message of a thread to one user.
#[derive(Debug, Clone, FromRow)]
pub struct LatestMessage {
    pub user_id: UserId,
    pub status: EmailStatus,
    pub skip_reason: Option<SkipReason>,
    pub ics_method: Option<String>,
    pub smtp_response: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The latest message of `thread_key` to each of `users` (those that have one).
pub async fn latest_per_user(
    conn: &mut PgConnection,
    thread_key: &str,
    users: &[UserId],
) -> Result<Vec<LatestMessage>> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
    Ok(sqlx::query_as(
        "SELECT o.user_id, o.status, o.skip_reason, c.ics_method, o.smtp_response, o.attempts,
                o.created_at, o.updated_at, o.sent_at
         FROM (SELECT DISTINCT ON (user_id) * FROM email_outbox
               WHERE thread_key = $1 AND user_id = ANY($2)
               ORDER BY user_id, seq DESC) o
         JOIN email_contents c ON c.id = o.content_id",
    )
    .bind(thread_key)
    .bind(&ids)
    .fetch_all(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn v7_floor_orders_ids_by_time() {
        let at = Utc.with_ymd_and_hms(2026, 11, 4, 10, 0, 0).unwrap();
        let floor = v7_floor(at);
        assert_eq!(floor.get_version_num(), 7);
        let ts = |t: DateTime<Utc>| {
            uuid::Timestamp::from_unix(
                uuid::NoContext,
                t.timestamp() as u64,
                t.timestamp_subsec_nanos(),
            )
        };
        let before = Uuid::new_v7(ts(at - chrono::Duration::milliseconds(1)));
        let same = Uuid::new_v7(ts(at));
        let after = Uuid::new_v7(ts(at + chrono::Duration::milliseconds(1)));
        assert!(before < floor, "{before} < {floor}");
        assert!(same >= floor && after > floor);
    }
}
