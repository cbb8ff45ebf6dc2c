//! The digest: per person, one e-mail per period (daily, or weekly from
//! Monday; a period starts at 08:00 in the person's zone) with their
//! unread notifications of digest types that were not e-mailed at once,
//! created before the period started and after the previous digest.
//!
//! Once per person and period across processes: the `notification_digests`
//! row (primary key: person, period) is written in the transaction that
//! queues the e-mail; a second writer waits for the first and writes
//! nothing. A period with nothing to tell gets its row and no e-mail.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgPool};

use super::{NotificationType, fanout::Links, unsubscribe};
use crate::{
    email::{
        Sender,
        outbox::{self, NewContent, NewEmail},
        template::{Vars, escape_html},
        templates,
    },
    error::{Error, Result},
    ids::{CustomerId, UserId},
    jobs::EnqueueCtx,
    kinds::NotifyDigestOutput,
};

/// Items listed in one digest (the count says how many there are in all).
pub const MAX_ITEMS: i64 = 50;

/// Notifications older than this never reach a digest.
const WINDOW_DAYS: i32 = 35;

#[derive(FromRow)]
struct Due {
    user_id: UserId,
    frequency: String,
    period: NaiveDate,
    starts: DateTime<Utc>,
}

#[derive(FromRow)]
struct Item {
    customer_id: Option<CustomerId>,
    title: String,
    body: String,
    link_path: Option<String>,
    link_url: Option<String>,
    count: i32,
    total: i64,
}

/// The people whose current period has begun and has no digest yet, among
/// those with something pending.
const DUE: &str = "
WITH people AS (
    SELECT DISTINCT n.recipient_id AS user_id FROM notifications n
    WHERE n.read_at IS NULL AND n.archived_at IS NULL AND NOT n.emailed
      AND n.created_at > now() - make_interval(days => $1)
), z AS (
    SELECT p.user_id, coalesce(s.digest_frequency, 'daily') AS frequency,
           coalesce(s.time_zone, (
               SELECT c.time_zone FROM user_customers uc JOIN customers c ON c.id = uc.customer_id
               WHERE uc.user_id = p.user_id ORDER BY uc.created_at, c.id LIMIT 1), 'UTC') AS zone
    FROM people p LEFT JOIN notification_settings s ON s.user_id = p.user_id
    WHERE coalesce(s.digest_frequency, 'daily') <> 'off'
), per AS (
    SELECT user_id, frequency, zone,
           CASE WHEN frequency = 'weekly'
                THEN date_trunc('week', (now() AT TIME ZONE zone) - interval '8 hours')::date
                ELSE ((now() AT TIME ZONE zone) - interval '8 hours')::date END AS period
    FROM z
)
SELECT user_id, frequency, period, ((period + time '08:00') AT TIME ZONE zone) AS starts
FROM per
WHERE NOT EXISTS (SELECT 1 FROM notification_digests d WHERE d.user_id = per.user_id AND d.period = per.period)
ORDER BY user_id";

/// A person's pending digest items: unread, not archived, not e-mailed at
/// once, of a type whose digest channel is on for them, created before the
/// period began and after the previous digest. $1 person, $2 period start,
/// $3/$4 types and their platform digest defaults, $5 window, $6 limit,
/// $7 the period (its own claim row is not a previous digest).
const ITEMS: &str = "
WITH defaults AS (
    SELECT * FROM unnest($3::text[], $4::bool[]) AS d(type, digest)
)
SELECT n.customer_id, n.title, n.body, n.link_path, n.link_url, n.count, count(*) OVER () AS total
FROM notifications n
JOIN defaults pd ON pd.type = n.type
LEFT JOIN notification_preferences p ON p.user_id = n.recipient_id AND p.type = n.type
LEFT JOIN notification_tenant_defaults td ON td.customer_id = n.customer_id AND td.type = n.type
WHERE n.recipient_id = $1 AND n.read_at IS NULL AND n.archived_at IS NULL AND NOT n.emailed
  AND n.created_at < $2
  AND n.created_at > greatest(now() - make_interval(days => $5),
        coalesce((SELECT max(d.covered_until) FROM notification_digests d
                  WHERE d.user_id = $1 AND d.period < $7), '-infinity'))
  AND coalesce(p.digest, td.digest, pd.digest)
ORDER BY n.seq DESC
LIMIT $6";

/// Sends every digest that is due now.
pub async fn run(db: &PgPool, sender: &Sender, links: &Links) -> Result<NotifyDigestOutput> {
    let due: Vec<Due> = sqlx::query_as(DUE).bind(WINDOW_DAYS).fetch_all(db).await?;
    let types: Vec<&str> = NotificationType::ALL.iter().map(|t| t.as_str()).collect();
    let digest_defaults: Vec<bool> = NotificationType::ALL
        .iter()
        .map(|t| t.defaults().digest)
        .collect();
    let mut out = NotifyDigestOutput::default();
    if due.is_empty() {
        return Ok(out);
    }
    let key = unsubscribe::key(&mut *db.acquire().await?).await?;
    for d in due {
        let mut tx = db.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO notification_digests (user_id, period, frequency, covered_until, items)
             VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING",
        )
        .bind(d.user_id)
        .bind(d.period)
        .bind(&d.frequency)
        .bind(d.starts)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            continue;
        }
        let items: Vec<Item> = sqlx::query_as(ITEMS)
            .bind(d.user_id)
            .bind(d.starts)
            .bind(&types)
            .bind(&digest_defaults)
            .bind(WINDOW_DAYS)
            .bind(MAX_ITEMS)
            .bind(d.period)
            .fetch_all(&mut *tx)
            .await?;
        let Some(total) = items.first().map(|i| i.total) else {
            tx.commit().await?;
            continue;
        };
        let person: Option<(String, String, Option<CustomerId>)> = sqlx::query_as(
            "SELECT u.email, u.name, (SELECT uc.customer_id FROM user_customers uc WHERE uc.user_id = u.id
                                      ORDER BY uc.created_at, uc.customer_id LIMIT 1)
             FROM users u WHERE u.id = $1 AND NOT u.disabled",
        )
        .bind(d.user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((address, name, home)) = person else {
            tx.commit().await?;
            continue;
        };
        // The outbox is per tenant: the person's, else that of an item.
        let Some(customer) = home.or_else(|| items.iter().find_map(|i| i.customer_id)) else {
            tx.commit().await?;
            continue;
        };
        let period = if d.frequency == "weekly" {
            "weekly"
        } else {
            "daily"
        };
        let content = render(&items, total, period, sender, links, customer)?;
        let mut mail = NewEmail::to_person(outbox::Person {
            user_id: d.user_id,
            address: &address,
            name: &name,
            dedupe_key: format!("digest:{}:{}", d.user_id, d.period),
            sender,
        });
        // One click (RFC 8058) turns the digest off, nothing else.
        mail.list_unsubscribe = Some(unsubscribe::digest_link(
            &links.public_url,
            &unsubscribe::digest_token(&key, d.user_id),
        ));
        let id = mail.id;
        let ctx = EnqueueCtx {
            customer_id: Some(customer),
            requested_by: None,
            callback_url: None,
        };
        outbox::queue(&mut tx, &content, vec![mail], &ctx).await?;
        sqlx::query(
            "UPDATE notification_digests SET items = $3, outbox_id = $4 WHERE user_id = $1 AND period = $2",
        )
        .bind(d.user_id)
        .bind(d.period)
        .bind(total as i32)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        out.digests += 1;
        out.items += total as u32;
    }
    Ok(out)
}

/// Stands for the list in the rendered template; replaced afterwards by
/// text (text body) or escaped markup (HTML body). Its noncharacter is none
/// of the per-recipient slots (`template::SLOTS`), which values lose.
const ITEMS_MARK: &str = "\u{FDEF}items\u{FDEF}";

fn render(
    items: &[Item],
    total: i64,
    period: &str,
    sender: &Sender,
    links: &Links,
    customer: CustomerId,
) -> Result<NewContent> {
    let mut vars = Vars::new();
    vars.set("period", period)
        .set("count", total.to_string())
        .set("items", ITEMS_MARK)
        .set(
            "preferences_url",
            links.of(None, "/api/v1/me/notification-preferences"),
        )
        .set("organizer_name", sender.display_name());
    vars.recipient_slot("recipient_name");
    let t = templates::NOTIFICATION_DIGEST;
    let mut r = t
        .render(&vars)
        .map_err(|e| Error::Internal(anyhow::anyhow!("{}: {e}", t.name)))?;
    let mut text = String::new();
    let mut html = String::from("<ul style=\"padding-left:20px;\">");
    for i in items {
        let link = i
            .link_url
            .clone()
            .or_else(|| i.link_path.as_deref().map(|p| links.of(None, p)));
        let times = if i.count > 1 {
            format!(" (×{})", i.count)
        } else {
            String::new()
        };
        text.push_str(&format!("* {}{times}\n", i.title));
        if !i.body.is_empty() {
            for line in i.body.lines() {
                text.push_str(&format!("  {line}\n"));
            }
        }
        if let Some(l) = &link {
            text.push_str(&format!("  {l}\n"));
        }
        text.push('\n');
        html.push_str("<li style=\"margin-bottom:12px;\"><strong>");
        escape_html(&i.title, &mut html);
        escape_html(&times, &mut html);
        html.push_str("</strong>");
        if !i.body.is_empty() {
            html.push_str("<br>");
            html.push_str(&super::inbox::html_safe(&i.body));
        }
        if let Some(l) = &link {
            html.push_str("<br><a href=\"");
            escape_html(l, &mut html);
            html.push_str("\">Open</a>");
        }
        html.push_str("</li>");
    }
    html.push_str("</ul>");
    if total > items.len() as i64 {
        let more = format!("… and {} more in your inbox.", total - items.len() as i64);
        text.push_str(&more);
        text.push('\n');
        html.push_str("<p>");
        escape_html(&more, &mut html);
        html.push_str("</p>");
    }
    r.text = r.text.replace(ITEMS_MARK, text.trim_end());
    r.html = r.html.replace(ITEMS_MARK, &html);
    Ok(NewContent {
        customer_id: Some(customer),
        template: t.name,
        rendered: r,
        ics: None,
        list_id: None,
        attachment: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_items_mark_survives_as_a_template_value() {
        assert!(!ITEMS_MARK.contains(crate::email::template::SLOTS));
        let mut vars = Vars::new();
        vars.set("items", ITEMS_MARK)
            .set("period", "daily")
            .set("count", "1")
            .set("preferences_url", "http://x/")
            .set("organizer_name", "Launchpad");
        vars.recipient_slot("recipient_name");
        let r = templates::NOTIFICATION_DIGEST.render(&vars).unwrap();
        assert!(r.text.contains(ITEMS_MARK) && r.html.contains(ITEMS_MARK));
    }
}
