//! The `notify` job's work: one recorded notification to every recipient's
//! inbox (one `INSERT … SELECT`, preferences applied in it) and to the
//! e-mail outbox of those who want it at once, in one transaction. A run
//! again writes nothing twice: an inbox row remembers the latest source
//! merged into it, and the e-mails' dedupe keys carry the source.

use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::{CHANNEL, Channel, NotificationType, unsubscribe};
use crate::{
    email::{
        Sender,
        outbox::{self, NewContent, NewEmail},
        template::Vars,
        templates,
    },
    error::{Error, Result},
    ids::{CustomerId, UserId},
    jobs::EnqueueCtx,
    kinds::NotifyOutput,
};

#[derive(FromRow)]
struct Source {
    customer_id: Option<CustomerId>,
    #[sqlx(rename = "type")]
    notification_type: String,
    title: String,
    body: String,
    link_path: Option<String>,
    portal_base_url: Option<String>,
    actor_id: Option<UserId>,
}

#[derive(FromRow)]
struct Written {
    written: i64,
    user_ids: Vec<Uuid>,
    addresses: Vec<String>,
    names: Vec<String>,
}

/// Where the API is reachable from outside, for links in e-mails.
#[derive(Debug, Clone)]
pub struct Links {
    /// `LAUNCHPAD_PUBLIC_URL` (e.g. `https://launchpad.example.com`).
    pub public_url: String,
}

impl Links {
    /// The link of a notification: the tenant's portal when configured,
    /// else the API.
    pub fn of(&self, portal_base_url: Option<&str>, path: &str) -> String {
        match portal_base_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => format!("{}{path}", self.public_url.trim_end_matches('/')),
        }
    }
}

/// Fans the source out; in the caller's transaction.
pub async fn run(
    conn: &mut PgConnection,
    source_id: Uuid,
    sender: &Sender,
    links: &Links,
    ctx: &EnqueueCtx,
) -> Result<NotifyOutput> {
    let source: Option<Source> = sqlx::query_as(
        "SELECT s.customer_id, s.type, s.title, s.body, s.link_path, c.portal_base_url, s.actor_id
         FROM notification_sources s LEFT JOIN customers c ON c.id = s.customer_id
         WHERE s.id = $1",
    )
    .bind(source_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(source) = source else {
        return Ok(NotifyOutput {
            skipped: Some("the notification is gone".into()),
            ..Default::default()
        });
    };
    let Some(t) = NotificationType::parse(&source.notification_type) else {
        return Err(Error::Internal(anyhow::anyhow!(
            "unknown notification type {}",
            source.notification_type
        )));
    };
    let d = t.defaults();
    let w: Written = sqlx::query_as(FANOUT)
        .bind(source_id)
        .bind(t.is_mandatory(Channel::InApp))
        .bind(d.in_app)
        .bind(t.is_mandatory(Channel::Email))
        .bind(d.email)
        .fetch_one(&mut *conn)
        .await?;
    let mut out = NotifyOutput {
        inbox_rows: w.written as u32,
        ..Default::default()
    };
    if w.written > 0 {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("s:{source_id}"))
            .execute(&mut *conn)
            .await?;
    }
    // E-mail needs a tenant (the outbox and the suppression list are per tenant).
    let Some(customer) = source.customer_id else {
        return Ok(out);
    };
    if w.user_ids.is_empty() {
        return Ok(out);
    }
    let link = source
        .link_path
        .as_deref()
        .map(|p| links.of(source.portal_base_url.as_deref(), p));
    let mut vars = Vars::new();
    vars.set("title", &source.title)
        .set("body", &source.body)
        .set_opt("link", link.as_deref())
        .set(
            "preferences_url",
            links.of(None, "/api/v1/me/notification-preferences"),
        )
        .set("organizer_name", sender.display_name());
    vars.recipient_slot("recipient_name");
    let template = templates::NOTIFICATION;
    let rendered = template
        .render(&vars)
        .map_err(|e| Error::Internal(anyhow::anyhow!("{}: {e}", template.name)))?;
    let content = NewContent {
        customer_id: Some(customer),
        template: template.name,
        rendered,
        ics: None,
        list_id: None,
        attachment: None,
    };
    let key = unsubscribe::key(conn).await?;
    let one_click = !t.is_mandatory(Channel::Email);
    let mut emails = Vec::with_capacity(w.user_ids.len());
    for ((user, address), name) in w.user_ids.iter().zip(&w.addresses).zip(&w.names) {
        let user = UserId(*user);
        let mut mail = NewEmail::to_person(outbox::Person {
            user_id: user,
            address,
            name,
            dedupe_key: format!("notify:{source_id}:{user}"),
            sender,
        });
        mail.list_unsubscribe = one_click
            .then(|| unsubscribe::link(&links.public_url, &unsubscribe::token(&key, user, t)));
        emails.push(mail);
    }
    let job_ctx = EnqueueCtx {
        customer_id: Some(customer),
        requested_by: ctx.requested_by.or(source.actor_id),
        callback_url: None,
    };
    let queued = outbox::queue(conn, &content, emails, &job_ctx).await?;
    out.emails_queued = queued.pending.len() as u32;
    out.emails_suppressed = queued.suppressed as u32;
    Ok(out)
}

/// The recipients (audience ∪ explicit people, enabled accounts of the
/// tenant — or staff —, not the actor), their choices for the type, the
/// inbox rows of those who want them (collapsing into the open row of the
/// group), and who wants an e-mail. $1 source, $2/$3 in-app mandatory /
/// default, $4/$5 e-mail mandatory / default.
const FANOUT: &str = "
WITH s AS (
    SELECT s.*, c.portal_base_url
    FROM notification_sources s LEFT JOIN customers c ON c.id = s.customer_id
    WHERE s.id = $1
), people AS (
    SELECT m.user_id FROM s JOIN cop_members m ON s.audience = 'cop_members' AND m.cop_id = s.audience_id
    UNION
    SELECT m.user_id FROM s JOIN cop_members m
        ON s.audience = 'cop_execs' AND m.cop_id = s.audience_id AND m.role IN ('exec_sponsor', 'lead')
    UNION
    SELECT uc.user_id FROM s JOIN user_customers uc
        ON (s.audience = 'cop_execs' AND uc.customer_id = s.customer_id)
        OR (s.audience = 'customer_execs' AND uc.customer_id = s.audience_id)
    JOIN users x ON x.id = uc.user_id AND 'customer_exec' = ANY (x.roles)
    UNION
    SELECT r.user_id FROM s JOIN event_registrations r ON s.audience = 'event_attendees' AND r.event_id = s.audience_id
    UNION
    SELECT a.user_id FROM s JOIN event_attendance a ON s.audience = 'event_attendees' AND a.event_id = s.audience_id
    UNION
    SELECT p.user_id FROM s JOIN lesson_progress p ON s.audience = 'course_learners' AND p.course_id = s.audience_id
    UNION
    SELECT a.user_id FROM s JOIN assignments a ON s.audience = 'course_learners' AND a.course_id = s.audience_id
    UNION
    SELECT a.user_id FROM s JOIN learning_path_courses pc ON s.audience = 'course_learners' AND pc.course_id = s.audience_id
        JOIN assignments a ON a.path_id = pc.path_id
    UNION
    SELECT unnest(s.user_ids) FROM s
), r AS (
    SELECT u.id AS user_id, u.email AS address, u.name,
           $2 OR coalesce(p.in_app, d.in_app, $3) AS in_app,
           $4 OR coalesce(p.email, d.email, $5) AS email
    FROM people
    JOIN users u ON u.id = people.user_id AND NOT u.disabled
    CROSS JOIN s
    LEFT JOIN notification_preferences p ON p.user_id = u.id AND p.type = s.type
    LEFT JOIN notification_tenant_defaults d ON d.customer_id = s.customer_id AND d.type = s.type
    WHERE u.id IS DISTINCT FROM s.actor_id
      AND (s.customer_id IS NULL OR u.roles && ARRAY['admin', 'internal']
           OR EXISTS (SELECT 1 FROM user_customers uc WHERE uc.user_id = u.id AND uc.customer_id = s.customer_id))
), ins AS (
    INSERT INTO notifications AS n (recipient_id, customer_id, source_id, type, title, body, link_path, link_url,
        group_key, emailed)
    SELECT r.user_id, s.customer_id, s.id, s.type, s.title, s.body, s.link_path, s.portal_base_url || s.link_path,
        s.group_key, r.email
    FROM r CROSS JOIN s WHERE r.in_app
    ON CONFLICT (recipient_id, group_key) WHERE read_at IS NULL AND archived_at IS NULL
    DO UPDATE SET
        count = n.count + 1,
        title = coalesce(
            replace((SELECT g.group_title FROM notification_sources g WHERE g.id = EXCLUDED.source_id),
                    '{count}', (n.count + 1)::text),
            EXCLUDED.title),
        body = EXCLUDED.body, link_path = EXCLUDED.link_path, link_url = EXCLUDED.link_url,
        source_id = EXCLUDED.source_id, emailed = EXCLUDED.emailed,
        seq = nextval('notifications_seq'), updated_at = now(), seen_at = NULL
    WHERE n.source_id <> EXCLUDED.source_id
    RETURNING n.recipient_id
)
SELECT (SELECT count(*) FROM ins) AS written,
       coalesce(array_agg(r.user_id ORDER BY r.user_id) FILTER (WHERE r.email), '{}') AS user_ids,
       coalesce(array_agg(r.address ORDER BY r.user_id) FILTER (WHERE r.email), '{}') AS addresses,
       coalesce(array_agg(r.name ORDER BY r.user_id) FILTER (WHERE r.email), '{}') AS names
FROM r";
