//! Drafting: what a newsletter is written from (the period's events —
//! held, with attendance, and upcoming, with registrations —, new content
//! assets, new champions and approved use cases: [`gather`]), the draft
//! made from it without a provider ([`from_template`]), and writing a draft
//! into its newsletter ([`finish`]) or failing it ([`fail`], also when its
//! job fails for good: [`DraftEnded`]).

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::{FromRow, PgConnection};

use super::{NewsletterId, NewsletterStatus, Section, SectionLink, fetch, send::period};
use crate::{
    error::Result,
    jobs::{JobRecord, JobStatus, hooks::OnJobEnd},
    notifications::{self, Audience, NewNotification, NotificationType, fanout::Links},
};

/// One thing the newsletter may name and link to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Item {
    /// `e1`, `a2`, ...: how a model refers to it.
    pub key: String,
    /// `held_event`, `upcoming_event`, `content`, `champion`, `use_case`.
    pub kind: &'static str,
    pub title: String,
    /// One line: the date and attendance, the content's kind, ...
    pub detail: String,
    /// Where it lives (absent for champions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What a newsletter is written from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DraftData {
    pub cop_name: String,
    pub from: String,
    pub to: String,
    pub tone: Option<String>,
    pub instructions: Option<String>,
    pub items: Vec<Item>,
}

/// A draft: what [`finish`] writes into the newsletter.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub subject: String,
    pub preheader: String,
    pub intro: String,
    pub sections: Vec<Section>,
}

/// At most this many items of each kind.
const PER_KIND: i64 = 8;

#[derive(FromRow)]
struct Fact {
    id: uuid::Uuid,
    title: String,
    at: DateTime<Utc>,
    count: i64,
    extra: Option<String>,
}

/// The data of the newsletter's period (`None`: the newsletter is gone or
/// no longer drafting).
pub async fn gather(
    conn: &mut PgConnection,
    id: NewsletterId,
    links: &Links,
) -> Result<Option<DraftData>> {
    let Some(n) = fetch(conn, id, false).await? else {
        return Ok(None);
    };
    if n.status != NewsletterStatus::Drafting {
        return Ok(None);
    }
    let (from, to) = period(&n);
    let cop_name = notifications::cop_name(conn, n.cop_id).await?;
    let portal: Option<String> =
        sqlx::query_scalar("SELECT portal_base_url FROM customers WHERE id = $1")
            .bind(n.customer_id)
            .fetch_one(&mut *conn)
            .await?;
    let portal = portal.as_deref();
    let facts = |sql: &'static str| {
        sqlx::query_as::<_, Fact>(sql)
            .bind(n.cop_id)
            .bind(from)
            .bind(to)
            .bind(PER_KIND)
    };
    let held = facts(
        "SELECT e.id, e.title, e.starts_at AS at,
                (SELECT count(*) FROM event_attendance a WHERE a.event_id = e.id) AS count, e.type AS extra
         FROM events e WHERE e.cop_id = $1 AND e.status = 'scheduled' AND e.starts_at >= $2 AND e.starts_at < $3
           AND e.starts_at < now()
         ORDER BY e.starts_at LIMIT $4",
    )
    .fetch_all(&mut *conn)
    .await?;
    let upcoming = facts(
        "SELECT e.id, e.title, e.starts_at AS at,
                (SELECT count(*) FROM event_registrations r WHERE r.event_id = e.id) AS count, e.type AS extra
         FROM events e WHERE e.cop_id = $1 AND e.status = 'scheduled' AND e.starts_at >= greatest(now(), $2)
           AND e.starts_at < greatest(now(), $3) + interval '45 days'
         ORDER BY e.starts_at LIMIT $4",
    )
    .fetch_all(&mut *conn)
    .await?;
    let assets = facts(
        "SELECT a.id, a.title, a.created_at AS at, 0::bigint AS count, a.kind || ' ' || a.url AS extra
         FROM content_assets a WHERE a.cop_id = $1 AND a.deleted_at IS NULL AND a.created_at >= $2
           AND a.created_at < $3
         ORDER BY a.created_at DESC LIMIT $4",
    )
    .fetch_all(&mut *conn)
    .await?;
    let champions = facts(
        "SELECT c.id, u.name AS title, c.created_at AS at, 0::bigint AS count, c.title AS extra
         FROM champions c JOIN users u ON u.id = c.user_id
         WHERE c.cop_id = $1 AND c.created_at >= $2 AND c.created_at < $3
         ORDER BY c.created_at DESC LIMIT $4",
    )
    .fetch_all(&mut *conn)
    .await?;
    let use_cases = facts(
        "SELECT u.id, u.title, u.approved_at AS at, 0::bigint AS count, u.summary AS extra
         FROM use_cases u WHERE u.cop_id = $1 AND u.status = 'approved' AND u.approved_at >= $2
           AND u.approved_at < $3
         ORDER BY u.approved_at DESC LIMIT $4",
    )
    .fetch_all(&mut *conn)
    .await?;

    let mut items = vec![];
    let day = |t: DateTime<Utc>| t.format("%-d %B %Y").to_string();
    for (i, f) in held.into_iter().enumerate() {
        items.push(Item {
            key: format!("e{}", i + 1),
            kind: "held_event",
            detail: format!(
                "{} on {}, {} attended",
                f.extra.unwrap_or_default().replace('_', " "),
                day(f.at),
                f.count
            ),
            url: Some(links.of(portal, &format!("/api/v1/events/{}", f.id))),
            title: f.title,
        });
    }
    for (i, f) in upcoming.into_iter().enumerate() {
        items.push(Item {
            key: format!("u{}", i + 1),
            kind: "upcoming_event",
            detail: format!(
                "{} on {}, {} registered so far",
                f.extra.unwrap_or_default().replace('_', " "),
                day(f.at),
                f.count
            ),
            url: Some(links.of(portal, &format!("/api/v1/events/{}", f.id))),
            title: f.title,
        });
    }
    for (i, f) in assets.into_iter().enumerate() {
        let extra = f.extra.unwrap_or_default();
        let (kind, url) = extra.split_once(' ').unwrap_or(("content", ""));
        items.push(Item {
            key: format!("a{}", i + 1),
            kind: "content",
            detail: format!("new {kind}, added {}", day(f.at)),
            url: crate::values::http_url(url).ok(),
            title: f.title,
        });
    }
    for (i, f) in champions.into_iter().enumerate() {
        items.push(Item {
            key: format!("c{}", i + 1),
            kind: "champion",
            detail: f.extra.unwrap_or_default(),
            url: None,
            title: f.title,
        });
    }
    for (i, f) in use_cases.into_iter().enumerate() {
        items.push(Item {
            key: format!("s{}", i + 1),
            kind: "use_case",
            detail: crate::ai::text::one_line(&f.extra.unwrap_or_default(), 240),
            url: Some(links.of(portal, &format!("/api/v1/use-cases/{}", f.id))),
            title: f.title,
        });
    }
    Ok(Some(DraftData {
        cop_name,
        from: day(from),
        to: day(to - chrono::Duration::seconds(1)),
        tone: n.tone,
        instructions: n.instructions,
        items,
    }))
}

/// Text from the data, safe to put into a newsletter's texts: template
/// syntax is broken up so that it reads as written.
pub fn literal(s: &str) -> String {
    s.replace("{{", "{ {")
        .replace("{%", "{ %")
        .replace("{#", "{ #")
}

/// The draft written without a provider: a section per kind of item.
pub fn from_template(d: &DraftData) -> Draft {
    let bullet = |i: &Item| format!("- **{}** — {}\n", literal(&i.title), literal(&i.detail));
    let link = |i: &Item| {
        i.url.as_ref().map(|u| SectionLink {
            title: crate::email::header_text(&literal(&i.title), 200),
            url: u.clone(),
        })
    };
    let mut sections = vec![];
    let mut add = |heading: &str, lead: &str, kinds: &[&str]| {
        let items: Vec<&Item> = d.items.iter().filter(|i| kinds.contains(&i.kind)).collect();
        if items.is_empty() {
            return;
        }
        let mut body = format!("{lead}\n\n");
        for i in &items {
            body.push_str(&bullet(i));
        }
        sections.push(Section {
            heading: heading.into(),
            body,
            links: items.iter().filter_map(|i| link(i)).collect(),
        });
    };
    add(
        "Events",
        "What we did together, and what comes next:",
        &["held_event", "upcoming_event"],
    );
    add("New content", "Fresh in the library:", &["content"]);
    add(
        "Champions",
        "Please join us in thanking our new champions:",
        &["champion"],
    );
    add(
        "Use cases",
        "Stories of what the community delivered:",
        &["use_case"],
    );
    if sections.is_empty() {
        sections.push(Section {
            heading: "News".into(),
            body: "A quiet period. Share what you are working on with the community — \
                   reply to this newsletter or propose a session."
                .into(),
            links: vec![],
        });
    }
    let cop = literal(&d.cop_name);
    Draft {
        subject: crate::email::header_text(&format!("{cop} newsletter — {}", d.to), 998),
        preheader: crate::email::header_text(
            &format!("Events, content and people of {cop}, {} – {}", d.from, d.to),
            300,
        ),
        intro: format!(
            "Hello {{{{ first_name }}}},\n\nHere is what happened in {{{{ cop_name }}}} between {} and {}.",
            d.from, d.to
        ),
        sections,
    }
}

/// What [`finish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    Written,
    /// The newsletter is gone or no longer drafting.
    Skipped,
}

/// Writes the draft into the newsletter (`draft`) and tells the CoP's
/// managers it is ready for review; in the caller's transaction.
pub async fn finish(
    conn: &mut PgConnection,
    id: NewsletterId,
    draft: &Draft,
    drafted_by: &str,
) -> Result<Finished> {
    let Some(n) = fetch(conn, id, true).await? else {
        return Ok(Finished::Skipped);
    };
    if n.status != NewsletterStatus::Drafting {
        return Ok(Finished::Skipped);
    }
    write(conn, id, draft, drafted_by).await?;
    notifications::record(
        conn,
        NewNotification::new(
            Some(n.customer_id),
            NotificationType::NewsletterReady,
            format!("Newsletter ready for review: {}", draft.subject),
            "A newsletter draft is ready: review it, test-send it and approve it.",
        )
        .link(format!("/api/v1/newsletters/{id}"))
        .to(Audience::CopExecs, n.cop_id.0),
    )
    .await?;
    Ok(Finished::Written)
}

async fn write(
    conn: &mut PgConnection,
    id: NewsletterId,
    draft: &Draft,
    drafted_by: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE newsletters SET status = 'draft', subject = $2, preheader = $3, intro = $4, sections = $5,
             drafted_by = $6, failure = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&draft.subject)
    .bind(&draft.preheader)
    .bind(&draft.intro)
    .bind(sqlx::types::Json(&draft.sections))
    .bind(drafted_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The demo's newsletter: a draft of the CoP's last 30 days written from
/// the template, as the offline `newsletter_draft` job writes it (without
/// a job or a notification). Returns its id.
pub async fn seed_demo(
    conn: &mut PgConnection,
    customer: crate::ids::CustomerId,
    cop: crate::ids::CopId,
    by: crate::ids::UserId,
    links: &Links,
) -> Result<NewsletterId> {
    let input = super::NewNewsletter {
        tone: Some("warm".into()),
        ..Default::default()
    };
    let id = super::insert(conn, customer, cop, &input, by).await?;
    if let Some(data) = gather(conn, id, links).await? {
        write(conn, id, &from_template(&data), "template").await?;
    }
    Ok(id)
}

/// Marks drafting newsletters `failed` with `why`.
pub async fn fail(conn: &mut PgConnection, ids: &[NewsletterId], why: &str) -> Result<()> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.0).collect();
    sqlx::query(
        "UPDATE newsletters SET status = 'failed', failure = $2, updated_at = now()
         WHERE id = ANY ($1) AND status = 'drafting'",
    )
    .bind(&ids)
    .bind(crate::notifications::clip(why, 2000))
    .execute(conn)
    .await?;
    Ok(())
}

/// When a `newsletter_draft` job fails for good or is cancelled, its
/// newsletter becomes `failed` (never stays `drafting`).
pub struct DraftEnded;

const DRAFT_ENDED: &str = "(j.kind = 'newsletter_draft' AND j.status IN ('failed', 'cancelled'))";

impl OnJobEnd for DraftEnded {
    fn filter(&self) -> &'static str {
        DRAFT_ENDED
    }

    fn ended<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        jobs: &'a [JobRecord],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for j in jobs.iter().filter(|j| {
                j.kind == "newsletter_draft"
                    && matches!(j.status, JobStatus::Failed | JobStatus::Cancelled)
            }) {
                let Some(id) = j.subject.as_deref().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                let why = match (&j.status, &j.error) {
                    (JobStatus::Cancelled, _) => "drafting was cancelled".to_string(),
                    (_, Some(e)) => format!("drafting failed: {} ({})", e.message, e.code),
                    (_, None) => "drafting failed".to_string(),
                };
                fail(conn, &[id], &why).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(items: Vec<Item>) -> DraftData {
        DraftData {
            cop_name: "Data {{ x }} CoP".into(),
            from: "1 November 2026".into(),
            to: "30 November 2026".into(),
            tone: None,
            instructions: None,
            items,
        }
    }

    #[test]
    fn the_template_draft_renders_and_links_its_items() {
        let items = vec![
            Item {
                key: "e1".into(),
                kind: "held_event",
                title: "Lakehouse {% include 'x' %} 101".into(),
                detail: "training on 3 November 2026, 12 attended".into(),
                url: Some("https://portal.example/api/v1/events/1".into()),
            },
            Item {
                key: "c1".into(),
                kind: "champion",
                title: "Ann".into(),
                detail: "Mentor of the month".into(),
                url: None,
            },
        ];
        let d = from_template(&data(items));
        assert_eq!(d.sections.len(), 2);
        assert_eq!(d.sections[0].links.len(), 1);
        assert!(d.sections[1].links.is_empty());
        let t = super::super::render::Texts {
            subject: &d.subject,
            preheader: &d.preheader,
            intro: &d.intro,
            sections: &d.sections,
        };
        assert!(super::super::render::check(&t).is_empty());
        let r = super::super::render::render(&t, "Data CoP").unwrap();
        assert!(r.html.contains("Lakehouse { % include"), "{}", r.html);
        assert!(from_template(&data(vec![])).sections.len() == 1);
    }
}
