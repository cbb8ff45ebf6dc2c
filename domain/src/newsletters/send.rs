//! Sending: the `newsletter_send` fan-out and the `newsletter_progress`
//! follow-up.
//!
//! The fan-out renders the newsletter once (the personal variables as the
//! outbox's slots), stores that content once, and writes one outbox row and
//! one `email_send` job per recipient — slice by slice (at most
//! [`SLICE`] recipients in memory), all in the job's one transaction, so
//! the send is written whole or not at all. Members who turned newsletters
//! off (the `newsletter` notification type's e-mail) or unsubscribed from
//! this CoP's newsletter get no row; addresses on the tenant's suppression
//! list get a `suppressed` row (counted, never sent). Each message carries
//! its recipient's one-click unsubscribe link (`List-Unsubscribe` and the
//! footer's link) and the CoP's `List-Id`.
//!
//! `newsletter_progress` counts the send's rows every few seconds; when
//! none is left to send, the newsletter is `sent`, `newsletter.sent` is
//! told to webhooks and the CoP's managers are notified.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};

use super::{
    Mail, Newsletter, NewsletterId, NewsletterStats, NewsletterStatus, Row, fetch, render,
    unsubscribe::{self, Subscription},
};
use crate::{
    email::{
        Sender,
        outbox::{self, NewContent, NewEmail, Person},
    },
    error::Result,
    ids::{CopId, JobId, UserId},
    jobs::{EnqueueCtx, NewJob, enqueue_bulk, enqueue_one},
    kinds::{
        EmailSend, EmailSendPayload, NewsletterProgress, NewsletterProgressOutput,
        NewsletterProgressPayload, NewsletterSendOutput,
    },
    notifications::{self, Audience, NewNotification, NotificationType},
    webhooks::events::{WebhookData, WebhookEventType, record_event},
};

/// Recipients read and written per statement.
pub const SLICE: i64 = 2_000;

/// How often a sending newsletter's progress is counted.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The `List-Id` of a CoP's newsletter (RFC 2919): the CoP's name (in the
/// characters a phrase may carry unquoted) and an id under the sender's domain.
pub fn list_id(cop: CopId, sender: &Sender) -> String {
    format!(
        "CoP newsletter <{}.newsletters.{}>",
        cop.0.simple(),
        sender.domain()
    )
}

/// Whether newsletters reach a member who chose nothing and whose tenant
/// set no default: the platform's default of the `newsletter` type.
const NEWSLETTER_EMAIL_DEFAULT: bool = crate::notifications::NotificationType::Newsletter
    .defaults()
    .email;

/// One recipient of a slice.
#[derive(FromRow)]
struct Member {
    user_id: UserId,
    email: String,
    name: String,
    opted_out: bool,
}

/// The CoP's members in the audience after `$3` (by id), with whether they
/// opted out (an unsubscribe from the CoP's newsletter, or the `newsletter`
/// type's e-mail off: the person's choice, else the tenant's, else the
/// platform's default `$9`, as every notification type). $1 CoP, $2 tenant,
/// $4 roles (NULL: all), $5 attended only, $6/$7 the period, $8 the slice's
/// size.
const MEMBERS: &str = "
SELECT u.id AS user_id, u.email, u.name,
       (EXISTS (SELECT 1 FROM newsletter_unsubscribes x WHERE x.cop_id = $1 AND x.user_id = u.id)
        OR NOT coalesce(p.email, d.email, $9)) AS opted_out
FROM cop_members m
JOIN users u ON u.id = m.user_id AND NOT u.disabled
LEFT JOIN notification_preferences p ON p.user_id = u.id AND p.type = 'newsletter'
LEFT JOIN notification_tenant_defaults d ON d.customer_id = $2 AND d.type = 'newsletter'
WHERE m.cop_id = $1 AND m.user_id > $3
  AND ($4::text[] IS NULL OR m.role = ANY ($4))
  AND (NOT $5 OR EXISTS (
      SELECT 1 FROM event_attendance a JOIN events e ON e.id = a.event_id
      WHERE e.cop_id = $1 AND a.user_id = u.id AND a.joined_at >= $6 AND a.joined_at < $7))
  AND (u.roles && ARRAY['admin', 'internal']
       OR EXISTS (SELECT 1 FROM user_customers uc WHERE uc.user_id = u.id AND uc.customer_id = $2))
ORDER BY m.user_id
LIMIT $8";

/// The period a newsletter covers: its dates (inclusive), else the last 30 days.
pub(super) fn period(n: &Row) -> (DateTime<Utc>, DateTime<Utc>) {
    let now = Utc::now();
    let from = n
        .period_from
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(now - chrono::Duration::days(30));
    let to = n
        .period_to
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(now);
    (from, to)
}

/// The fan-out of the send whose job is `job`, in the caller's transaction.
pub async fn run(
    conn: &mut PgConnection,
    job: JobId,
    id: NewsletterId,
    mail: Mail<'_>,
    ctx: &EnqueueCtx,
) -> Result<NewsletterSendOutput> {
    let skipped = |why: &str| NewsletterSendOutput {
        skipped: Some(why.into()),
        ..Default::default()
    };
    let Some(n) = fetch(conn, id, true).await? else {
        return Ok(skipped("the newsletter is gone"));
    };
    if n.status != NewsletterStatus::Scheduled || n.send_job_id != Some(job.0) {
        return Ok(skipped(
            "the send was cancelled or rescheduled, or the newsletter was edited",
        ));
    }
    let cop = notifications::cop_name(conn, n.cop_id).await?;
    let rendered = match render::render(&n.texts(), &cop) {
        Ok(r) => r,
        Err(e) => {
            sqlx::query(
                "UPDATE newsletters SET status = 'failed', failure = $2, send_job_id = NULL, updated_at = now()
                 WHERE id = $1",
            )
            .bind(id)
            .bind(format!("the newsletter could not be rendered: {e}"))
            .execute(&mut *conn)
            .await?;
            return Ok(skipped("the newsletter could not be rendered"));
        }
    };
    let content = NewContent {
        customer_id: Some(n.customer_id),
        template: "newsletter",
        rendered,
        ics: None,
        list_id: Some(list_id(n.cop_id, mail.sender)),
        attachment: None,
    };
    let content_id = outbox::write_content(conn, &content).await?;
    let key = notifications::unsubscribe::key(conn).await?;
    let (from, to) = period(&n);
    let roles = n.audience_roles.clone();
    let mut out = NewsletterSendOutput {
        newsletter_id: Some(id),
        ..Default::default()
    };
    let mut after = uuid::Uuid::nil();
    loop {
        let members: Vec<Member> = sqlx::query_as(MEMBERS)
            .bind(n.cop_id)
            .bind(n.customer_id)
            .bind(after)
            .bind(&roles)
            .bind(n.audience_attended)
            .bind(from)
            .bind(to)
            .bind(SLICE)
            .bind(NEWSLETTER_EMAIL_DEFAULT)
            .fetch_all(&mut *conn)
            .await?;
        let Some(last) = members.last() else {
            break;
        };
        after = last.user_id.0;
        let full = members.len() as i64 == SLICE;
        let mut emails = Vec::with_capacity(members.len());
        for m in members {
            if m.opted_out {
                out.opted_out += 1;
                continue;
            }
            let mut e = NewEmail::to_person(Person {
                user_id: m.user_id,
                address: &m.email,
                name: &m.name,
                dedupe_key: format!("newsletter:{id}:{}", m.user_id),
                sender: mail.sender,
            });
            let token = unsubscribe::token(
                &key,
                Subscription {
                    user_id: m.user_id,
                    cop_id: n.cop_id,
                    newsletter_id: id,
                },
            );
            e.list_unsubscribe = Some(unsubscribe::link(mail.public_url, &token));
            emails.push(e);
        }
        let q = outbox::queue_rows(conn, content_id, &content, emails, ctx).await?;
        out.queued += q.pending.len() as u32;
        out.suppressed += q.suppressed as u32;
        out.already_written += q.duplicates as u32;
        if !full {
            break;
        }
    }
    out.recipients = out.queued + out.suppressed;
    sqlx::query(
        "UPDATE newsletters SET status = 'sending', content_id = $2, recipients = $3, opted_out = $4,
             sending_started_at = now(), send_job_id = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(content_id)
    .bind(out.recipients as i32)
    .bind(out.opted_out as i32)
    .execute(&mut *conn)
    .await?;
    enqueue_progress(conn, id, ctx, out.queued > 0).await?;
    Ok(out)
}

/// Enqueues the next count of a send's progress (now, or after
/// [`PROGRESS_EVERY`] when messages are still going out).
pub async fn enqueue_progress(
    conn: &mut PgConnection,
    id: NewsletterId,
    ctx: &EnqueueCtx,
    later: bool,
) -> Result<()> {
    let mut job = NewJob::of::<NewsletterProgress>(
        &NewsletterProgressPayload { newsletter_id: id },
        &EnqueueCtx {
            customer_id: ctx.customer_id,
            requested_by: ctx.requested_by,
            callback_url: None,
        },
    );
    if later {
        job.run_at =
            Some(Utc::now() + chrono::Duration::from_std(PROGRESS_EVERY).unwrap_or_default());
    }
    enqueue_one(conn, job).await?;
    Ok(())
}

/// Holds (pauses) or releases the send's content: held messages are not
/// sent (`outbox::Claim::Held`).
pub(super) async fn hold(conn: &mut PgConnection, n: &Row, held: bool) -> Result<()> {
    sqlx::query("UPDATE email_contents SET held = $2 WHERE id = $1")
        .bind(n.content_id)
        .bind(held)
        .execute(conn)
        .await?;
    Ok(())
}

/// Enqueues an `email_send` job for each pending message of the send
/// that has none queued (the jobs of a paused send ended without
/// sending), slice by slice.
pub(super) async fn requeue(conn: &mut PgConnection, n: &Row, ctx: &EnqueueCtx) -> Result<u64> {
    let Some(content_id) = n.content_id else {
        return Ok(0);
    };
    let job_ctx = EnqueueCtx {
        customer_id: ctx.customer_id,
        requested_by: ctx.requested_by,
        callback_url: None,
    };
    let mut after = uuid::Uuid::nil();
    let mut total = 0;
    loop {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT o.id FROM email_outbox o
             WHERE o.content_id = $1 AND o.status = 'pending' AND o.id > $2
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = 'email_send'
                               AND j.status IN ('queued', 'running') AND j.subject = o.id::text)
             ORDER BY o.id LIMIT $3",
        )
        .bind(content_id)
        .bind(after)
        .bind(SLICE)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = ids.last() else {
            return Ok(total);
        };
        after = *last;
        total += ids.len() as u64;
        let full = ids.len() as i64 == SLICE;
        let jobs = ids
            .into_iter()
            .map(|outbox_id| NewJob::of::<EmailSend>(&EmailSendPayload { outbox_id }, &job_ctx))
            .collect();
        enqueue_bulk(conn, jobs).await?;
        if !full {
            return Ok(total);
        }
    }
}

/// How many members the newsletter would go to if sent now, and how many
/// of its audience opted out.
pub(super) async fn audience(conn: &mut PgConnection, n: &Row) -> Result<(i64, i64)> {
    let (from, to) = period(n);
    Ok(sqlx::query_as(sqlf!(
        "SELECT count(*) FILTER (WHERE NOT t.opted_out), count(*) FILTER (WHERE t.opted_out)
         FROM ({MEMBERS}) t"
    ))
    .bind(n.cop_id)
    .bind(n.customer_id)
    .bind(uuid::Uuid::nil())
    .bind(&n.audience_roles)
    .bind(n.audience_attended)
    .bind(from)
    .bind(to)
    .bind(i64::MAX)
    .bind(NEWSLETTER_EMAIL_DEFAULT)
    .fetch_one(conn)
    .await?)
}

#[derive(Default)]
struct Counts {
    queued: i64,
    sent: i64,
    failed: i64,
    suppressed: i64,
}

async fn counts(conn: &mut PgConnection, content_id: Option<uuid::Uuid>) -> Result<Counts> {
    let mut c = Counts::default();
    let Some(content_id) = content_id else {
        return Ok(c);
    };
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM email_outbox WHERE content_id = $1 GROUP BY status",
    )
    .bind(content_id)
    .fetch_all(conn)
    .await?;
    for (status, n) in rows {
        match status.as_str() {
            "pending" | "sending" => c.queued += n,
            "sent" => c.sent += n,
            "failed" => c.failed += n,
            _ => c.suppressed += n,
        }
    }
    Ok(c)
}

pub(super) async fn stats(conn: &mut PgConnection, n: &Row) -> Result<NewsletterStats> {
    let c = counts(conn, n.content_id).await?;
    let (audience, _) = audience(conn, n).await?;
    let unsubscribed: i64 = match n.sending_started_at {
        None => 0,
        Some(at) => sqlx::query_scalar(
            "SELECT count(*) FROM newsletter_unsubscribes WHERE cop_id = $1 AND created_at >= $2",
        )
        .bind(n.cop_id)
        .bind(at)
        .fetch_one(conn)
        .await?,
    };
    Ok(NewsletterStats {
        newsletter_id: n.id,
        status: n.status,
        recipients: c.queued + c.sent + c.failed + c.suppressed,
        queued: c.queued,
        sent: c.sent,
        failed: c.failed,
        suppressed: c.suppressed,
        opted_out: n.opted_out.unwrap_or(0) as i64,
        unsubscribed_since: unsubscribed,
        audience,
    })
}

/// The `data` of `newsletter.sent`: the newsletter and its numbers.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
pub struct NewsletterSentEvent {
    pub newsletter: Newsletter,
    pub stats: NewsletterStats,
}

/// Counts a sending newsletter's messages; when none is left to send, it
/// is `sent` (webhook `newsletter.sent`, the CoP's managers notified),
/// else the next count is enqueued. In the caller's transaction.
pub async fn progress(
    conn: &mut PgConnection,
    id: NewsletterId,
    ctx: &EnqueueCtx,
) -> Result<NewsletterProgressOutput> {
    let Some(n) = fetch(conn, id, true).await? else {
        return Ok(NewsletterProgressOutput {
            skipped: Some("the newsletter is gone".into()),
            ..Default::default()
        });
    };
    if n.status != NewsletterStatus::Sending {
        // Paused (resuming counts again), or already finished.
        return Ok(NewsletterProgressOutput {
            status: Some(n.status),
            skipped: Some(format!("the newsletter is {}", n.status.as_str())),
            ..Default::default()
        });
    }
    let c = counts(conn, n.content_id).await?;
    let mut out = NewsletterProgressOutput {
        status: Some(n.status),
        queued: c.queued as u64,
        sent: c.sent as u64,
        failed: c.failed as u64,
        suppressed: c.suppressed as u64,
        skipped: None,
    };
    if c.queued > 0 {
        enqueue_progress(conn, id, ctx, true).await?;
        return Ok(out);
    }
    sqlx::query(
        "UPDATE newsletters SET status = 'sent', sent_at = now(), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    out.status = Some(NewsletterStatus::Sent);
    let n = fetch(conn, id, false)
        .await?
        .ok_or(crate::error::Error::not_found("newsletter"))?;
    let stats = stats(conn, &n).await?;
    let (customer, cop, subject) = (n.customer_id, n.cop_id, n.subject.clone());
    let event = NewsletterSentEvent {
        newsletter: n.view(),
        stats: stats.clone(),
    };
    record_event(
        conn,
        customer,
        WebhookEventType::NewsletterSent,
        WebhookData::of_view(&event, id, format!("/api/v1/newsletters/{id}")),
    )
    .await?;
    notifications::record(
        conn,
        NewNotification::new(
            Some(customer),
            NotificationType::NewsletterSent,
            format!("Newsletter sent: {subject}"),
            format!(
                "{} sent, {} failed, {} suppressed, {} opted out.",
                stats.sent, stats.failed, stats.suppressed, stats.opted_out
            ),
        )
        .link(format!("/api/v1/newsletters/{id}/stats"))
        .to(Audience::CopExecs, cop.0),
    )
    .await?;
    Ok(out)
}
