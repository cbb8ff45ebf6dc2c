//! A person's inbox: list, counts and state changes (read, unread,
//! archived, seen). Only the recipient sees a row: another person's is a
//! 404, exactly like one that does not exist. Every change tells the
//! person's live streams ([`super::notify_users`]).

use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{FromRow, PgPool};

use super::{NotificationType, notify_users};
use crate::{
    email::template::escape_html,
    error::{Error, Result},
    ids::{CustomerId, NotificationId, UserId},
    pagination::{Keyset, Page, PageRequest},
};

/// An inbox row.
#[derive(Debug, Clone, FromRow)]
pub struct Notification {
    pub id: NotificationId,
    pub seq: i64,
    pub customer_id: Option<CustomerId>,
    #[sqlx(rename = "type")]
    pub notification_type: NotificationType,
    pub title: String,
    pub body: String,
    pub link_path: Option<String>,
    pub link_url: Option<String>,
    pub count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub seen_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
}

/// A notification in the caller's inbox. Repeats of one group (e.g. several
/// new events of a CoP) collapse into one unread row whose `count` grows.
#[derive(Debug, Clone, poem_openapi::Object, serde::Serialize)]
pub struct NotificationView {
    pub id: NotificationId,
    /// Its position in the inbox (grows with each new or collapsed
    /// notification): the live stream's event id.
    pub seq: i64,
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub notification_type: NotificationType,
    pub title: String,
    /// Plain text.
    pub body: String,
    /// The body as HTML-safe text (escaped, line breaks as `<br>`).
    pub body_html: String,
    /// The API path of what it is about.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_path: Option<String>,
    /// The same in the tenant's portal, when it has configured one.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_url: Option<String>,
    /// How many notifications this row stands for.
    pub count: i32,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    pub created_at: DateTime<Utc>,
    /// The last notification merged into it.
    pub updated_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
}

/// Escaped text with line breaks as `<br>`.
pub fn html_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for (i, line) in s.lines().enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        escape_html(line, &mut out);
    }
    out
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            seq: n.seq,
            notification_type: n.notification_type,
            body_html: html_safe(&n.body),
            title: n.title,
            body: n.body,
            link_path: n.link_path,
            link_url: n.link_url,
            count: n.count,
            customer_id: n.customer_id,
            created_at: n.created_at,
            updated_at: n.updated_at,
            seen_at: n.seen_at,
            read_at: n.read_at,
            archived_at: n.archived_at,
        }
    }
}

crate::text_enum! {
    /// What an event of the notification stream carries.
    pub enum StreamEventKind {
        /// A new notification, or one that repeats collapsed into (same `id`, new `seq`).
        Notification = "notification",
        /// The counts changed (read, seen, archived).
        Counts = "counts",
    }
}

/// Unread and unseen notifications (rows) of the inbox, archived ones aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow, poem_openapi::Object, serde::Serialize)]
pub struct Counts {
    pub unread: i64,
    /// Unread and not seen since the inbox was last opened (`POST …/seen`).
    pub unseen: i64,
}

const COLUMNS: &str = "id, seq, customer_id, type, title, body, link_path, link_url, count, created_at, \
    updated_at, seen_at, read_at, archived_at";

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only unread (true) or only read (false) ones.
    pub unread: Option<bool>,
    pub notification_type: Option<NotificationType>,
    /// The archive (true) instead of the inbox (false, the default).
    pub archived: bool,
}

/// Newest activity first.
const NEWEST: Keyset<i64> = Keyset::descending(&["seq"]);

pub async fn list(
    db: &PgPool,
    user: UserId,
    f: &Filter,
    page: &PageRequest,
) -> Result<Page<Notification>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("notifications")
        .and_where(Expr::col("recipient_id").eq(user.as_uuid()));
    q.and_where(if f.archived {
        Expr::col("archived_at").is_not_null()
    } else {
        Expr::col("archived_at").is_null()
    });
    match f.unread {
        Some(true) => {
            q.and_where(Expr::col("read_at").is_null());
        }
        Some(false) => {
            q.and_where(Expr::col("read_at").is_not_null());
        }
        None => {}
    }
    if let Some(t) = f.notification_type {
        q.and_where(Expr::col("type").eq(t.as_str()));
    }
    NEWEST.fetch(db, q, page, |n: &Notification| n.seq).await
}

pub async fn counts(db: &PgPool, user: UserId) -> Result<Counts> {
    Ok(sqlx::query_as(
        "SELECT count(*) AS unread, count(*) FILTER (WHERE seen_at IS NULL) AS unseen
         FROM notifications WHERE recipient_id = $1 AND read_at IS NULL AND archived_at IS NULL",
    )
    .bind(user)
    .fetch_one(db)
    .await?)
}

/// The person's rows changed since `after` (by `seq`), oldest first: the
/// live stream's catch-up. At most `limit`.
pub async fn since(db: &PgPool, user: UserId, after: i64, limit: i64) -> Result<Vec<Notification>> {
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM notifications WHERE recipient_id = $1 AND seq > $2
         ORDER BY seq LIMIT $3"
    ))
    .bind(user)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// The person's latest `seq` (0 for an empty inbox).
pub async fn latest_seq(db: &PgPool, user: UserId) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(max(seq), 0) FROM notifications WHERE recipient_id = $1",
    )
    .bind(user)
    .fetch_one(db)
    .await?)
}

/// A state change of one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Read,
    Unread,
    Archive,
}

/// Marks one of the person's notifications; 404 for anyone else's.
pub async fn mark(db: &PgPool, user: UserId, id: NotificationId, m: Mark) -> Result<Notification> {
    let mut tx = db.begin().await?;
    let set = match m {
        Mark::Read => "read_at = coalesce(n.read_at, now()), seen_at = coalesce(n.seen_at, now())",
        // Back among the open rows; when its group has another open row
        // meanwhile, it leaves the group (repeats collapse into that one).
        Mark::Unread => {
            "read_at = NULL, group_key = CASE WHEN n.read_at IS NOT NULL AND n.archived_at IS NULL AND EXISTS (
                 SELECT 1 FROM notifications o WHERE o.recipient_id = n.recipient_id AND o.group_key = n.group_key
                   AND o.id <> n.id AND o.read_at IS NULL AND o.archived_at IS NULL)
             THEN n.group_key || '#' || n.id ELSE n.group_key END"
        }
        Mark::Archive => "archived_at = coalesce(n.archived_at, now())",
    };
    let row: Option<Notification> = sqlx::query_as(sqlf!(
        "UPDATE notifications n SET {set} WHERE n.id = $1 AND n.recipient_id = $2 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or(Error::not_found("notification"))?;
    notify_users(&mut tx, &[user]).await?;
    tx.commit().await?;
    Ok(row)
}

/// Marks every unread notification read (of the inbox and the archive),
/// or those up to and including `up_to` (by inbox order); 404 when `up_to`
/// is not the person's. Returns how many changed.
pub async fn read_all(db: &PgPool, user: UserId, up_to: Option<NotificationId>) -> Result<u64> {
    let mut tx = db.begin().await?;
    let bound: i64 = match up_to {
        Some(id) => sqlx::query_scalar::<_, i64>(
            "SELECT seq FROM notifications WHERE id = $1 AND recipient_id = $2",
        )
        .bind(id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::field("/up_to", "no such notification in your inbox"))?,
        None => i64::MAX,
    };
    let n = sqlx::query(
        "UPDATE notifications SET read_at = now(), seen_at = coalesce(seen_at, now())
         WHERE recipient_id = $1 AND read_at IS NULL AND seq <= $2",
    )
    .bind(user)
    .bind(bound)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n > 0 {
        notify_users(&mut tx, &[user]).await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// The inbox was opened: every unread notification counts as seen.
pub async fn seen(db: &PgPool, user: UserId) -> Result<u64> {
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "UPDATE notifications SET seen_at = now()
         WHERE recipient_id = $1 AND read_at IS NULL AND archived_at IS NULL AND seen_at IS NULL",
    )
    .bind(user)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n > 0 {
        notify_users(&mut tx, &[user]).await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// Who got an inbox row from a fan-out (`source`): the streams to wake.
pub async fn recipients_of(db: &PgPool, source: uuid::Uuid) -> Result<Vec<UserId>> {
    Ok(
        sqlx::query_scalar("SELECT recipient_id FROM notifications WHERE source_id = $1")
            .bind(source)
            .fetch_all(db)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_rendered_html_safe() {
        assert_eq!(html_safe("a <b>\n& c"), "a &lt;b&gt;<br>&amp; c");
    }
}
