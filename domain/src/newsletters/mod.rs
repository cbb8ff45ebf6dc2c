//! Newsletters (#22): a CoP's newsletter is drafted (through the AI
//! pipeline, or from a template without a provider: [`draft`]), edited,
//! reviewed and approved by a manager of the CoP who is not its last editor
//! (unless the tenant allows self-approval), test-sent, and sent — now or
//! at `send_at` — to the CoP's members through the e-mail outbox ([`send`]).
//!
//! Status: `drafting → draft → approved → scheduled → sending → sent`, and
//! `paused` (while sending), `cancelled` (a schedule called off), `failed`
//! (drafting failed). Approval stores a hash of the content; an edit that
//! changes it returns the newsletter to `draft`.

pub mod draft;
pub mod render;
pub mod send;
pub mod unsubscribe;

use chrono::{DateTime, NaiveDate, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sha2::{Digest, Sha256};
use sqlx::{FromRow, PgConnection, PgPool, Postgres, Transaction, types::Json};

use crate::{
    email::{
        Sender,
        outbox::{self, NewContent, NewEmail},
        templates::Rendered,
    },
    error::{Error, FieldError, Result, Validator},
    ids::{CopId, CustomerId, UserId},
    jobs::{EnqueueCtx, JobRecord, NewJob, enqueue_one},
    kinds::{NewsletterDraft, NewsletterDraftPayload, NewsletterSend, NewsletterSendPayload},
    pagination::{Keyset, Page, PageRequest},
    portal::access::{self, Action, CopAccess, CopRole},
    tenancy::Caller,
    text_enum, values,
};

crate::uuid_id!(
    /// A CoP's newsletter.
    NewsletterId
);

text_enum! {
    /// Where a newsletter is in its life.
    pub enum NewsletterStatus {
        /// Its `newsletter_draft` job is writing the draft.
        Drafting = "drafting",
        /// Editable; needs approval before it can be sent.
        Draft = "draft",
        /// Approved as it is (an edit returns it to `draft`).
        Approved = "approved",
        /// Its send is queued (now or at `send_at`); it can be cancelled or rescheduled.
        Scheduled = "scheduled",
        /// Its messages are being sent.
        Sending = "sending",
        /// Sending is paused; resume to go on.
        Paused = "paused",
        /// Every message was sent (or given up).
        Sent = "sent",
        /// A scheduled send was cancelled.
        Cancelled = "cancelled",
        /// Drafting failed (see `failure`); edit it to write the draft by hand.
        Failed = "failed",
    }
}

/// A link of a section: to an item the newsletter names.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, poem_openapi::Object,
)]
pub struct SectionLink {
    /// 1–200 characters; may use the template variables.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    /// An absolute http(s) URL.
    #[oai(validator(min_length = 1, max_length = 2048))]
    pub url: String,
}

/// A section of a newsletter.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, poem_openapi::Object,
)]
pub struct Section {
    /// One line, 1–200 characters; may use the template variables.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub heading: String,
    /// Markdown (rendered to sanitised HTML), at most 20,000 characters;
    /// may use the template variables.
    #[oai(validator(max_length = 20000))]
    pub body: String,
    /// At most 20.
    #[oai(default, validator(max_items = 20))]
    #[serde(default)]
    pub links: Vec<SectionLink>,
}

/// Who receives a newsletter: every member of the CoP by default.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, poem_openapi::Object,
)]
pub struct NewsletterAudience {
    /// Only members with these CoP roles (absent: every role).
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<CopRole>>,
    /// Only members who attended an event of the CoP in the newsletter's
    /// period (`period_from`..`period_to`; the last 30 days without one).
    #[oai(default)]
    #[serde(default)]
    pub attended_event: bool,
}

/// A newsletter.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
pub struct Newsletter {
    pub id: NewsletterId,
    pub cop_id: CopId,
    pub customer_id: CustomerId,
    pub status: NewsletterStatus,
    /// Header text, at most 998 characters (empty while drafting).
    pub subject: String,
    /// The line shown after the subject in inboxes.
    pub preheader: String,
    /// Markdown.
    pub intro: String,
    pub sections: Vec<Section>,
    pub audience: NewsletterAudience,
    #[oai(skip_serializing_if_is_none)]
    pub period_from: Option<NaiveDate>,
    #[oai(skip_serializing_if_is_none)]
    pub period_to: Option<NaiveDate>,
    #[oai(skip_serializing_if_is_none)]
    pub tone: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub instructions: Option<String>,
    /// How the draft was written: the AI provider's name, or `template`.
    #[oai(skip_serializing_if_is_none)]
    pub drafted_by: Option<String>,
    /// Why drafting failed.
    #[oai(skip_serializing_if_is_none)]
    pub failure: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    #[oai(skip_serializing_if_is_none)]
    pub last_edited_by: Option<UserId>,
    #[oai(skip_serializing_if_is_none)]
    pub approved_by: Option<UserId>,
    #[oai(skip_serializing_if_is_none)]
    pub approved_at: Option<DateTime<Utc>>,
    /// When the send starts (or started).
    #[oai(skip_serializing_if_is_none)]
    pub send_at: Option<DateTime<Utc>>,
    /// Messages written by the send (suppressed addresses included).
    #[oai(skip_serializing_if_is_none)]
    pub recipients: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub sending_started_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct Row {
    id: NewsletterId,
    cop_id: CopId,
    customer_id: CustomerId,
    status: NewsletterStatus,
    subject: String,
    preheader: String,
    intro: String,
    sections: Json<Vec<Section>>,
    audience_roles: Option<Vec<String>>,
    audience_attended: bool,
    period_from: Option<NaiveDate>,
    period_to: Option<NaiveDate>,
    tone: Option<String>,
    instructions: Option<String>,
    drafted_by: Option<String>,
    failure: Option<String>,
    created_by: Option<UserId>,
    last_edited_by: Option<UserId>,
    approved_by: Option<UserId>,
    approved_at: Option<DateTime<Utc>>,
    approved_hash: Option<String>,
    send_at: Option<DateTime<Utc>>,
    send_job_id: Option<uuid::Uuid>,
    content_id: Option<uuid::Uuid>,
    recipients: Option<i32>,
    opted_out: Option<i32>,
    sending_started_at: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, cop_id, customer_id, status, subject, preheader, intro, sections, audience_roles, \
    audience_attended, period_from, period_to, tone, instructions, drafted_by, failure, created_by, \
    last_edited_by, approved_by, approved_at, approved_hash, send_at, send_job_id, content_id, recipients, \
    opted_out, sending_started_at, sent_at, created_at, updated_at";

impl Row {
    fn audience(&self) -> NewsletterAudience {
        NewsletterAudience {
            roles: self
                .audience_roles
                .as_ref()
                .map(|r| r.iter().filter_map(|s| CopRole::parse(s)).collect()),
            attended_event: self.audience_attended,
        }
    }

    fn texts(&self) -> render::Texts<'_> {
        render::Texts {
            subject: &self.subject,
            preheader: &self.preheader,
            intro: &self.intro,
            sections: &self.sections.0,
        }
    }

    /// The hash approval stores: the texts and the audience.
    fn hash(&self) -> String {
        content_hash(&self.texts(), &self.audience())
    }

    fn view(self) -> Newsletter {
        let audience = self.audience();
        Newsletter {
            id: self.id,
            cop_id: self.cop_id,
            customer_id: self.customer_id,
            status: self.status,
            subject: self.subject,
            preheader: self.preheader,
            intro: self.intro,
            sections: self.sections.0,
            audience,
            period_from: self.period_from,
            period_to: self.period_to,
            tone: self.tone,
            instructions: self.instructions,
            drafted_by: self.drafted_by,
            failure: self.failure,
            created_by: self.created_by,
            last_edited_by: self.last_edited_by,
            approved_by: self.approved_by,
            approved_at: self.approved_at,
            send_at: self.send_at,
            recipients: self.recipients,
            sending_started_at: self.sending_started_at,
            sent_at: self.sent_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// SHA-256 (hex) of what a newsletter says and to whom.
pub fn content_hash(t: &render::Texts<'_>, audience: &NewsletterAudience) -> String {
    let doc = serde_json::json!({
        "subject": t.subject, "preheader": t.preheader, "intro": t.intro,
        "sections": t.sections, "audience": audience,
    });
    hex::encode(Sha256::digest(doc.to_string().as_bytes()))
}

async fn fetch(conn: &mut PgConnection, id: NewsletterId, lock: bool) -> Result<Option<Row>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM newsletters WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// The newsletter and the caller's standing in its CoP: 404 outside the
/// caller's tenants, 403 without the right to manage the CoP.
async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: NewsletterId,
    lock: bool,
) -> Result<(Row, CopAccess)> {
    let n = fetch(conn, id, lock)
        .await?
        .ok_or(Error::not_found("newsletter"))?;
    let a = access::load(conn, caller, n.cop_id, "newsletter").await?;
    // Reading needs the right to manage the CoP too; changing also needs
    // the CoP not to be archived.
    if lock || !a.allows(Action::Manage) {
        a.require(Action::Manage)?;
    }
    Ok((n, a))
}

async fn audit(
    conn: &mut PgConnection,
    caller: &Caller,
    action: &str,
    n: &Row,
    after: Option<serde_json::Value>,
) -> Result<()> {
    crate::portal::audit(
        conn,
        caller,
        action,
        "newsletter",
        n.id.to_string(),
        n.customer_id,
        after,
    )
    .await
}

/// [`load`] for a change allowed only in the `from` states: locked, and a
/// 409 `code` ("the newsletter is …; `what`") in any other.
async fn load_in(
    conn: &mut PgConnection,
    caller: &Caller,
    id: NewsletterId,
    from: &[NewsletterStatus],
    code: &'static str,
    what: &str,
) -> Result<(Row, CopAccess)> {
    let (n, a) = load(conn, caller, id, true).await?;
    if !from.contains(&n.status) {
        return Err(not_in(n.status, code, what));
    }
    Ok((n, a))
}

/// The end of every change: the newsletter as it now stands, audited as
/// `action`, committed.
async fn finish(
    mut tx: Transaction<'_, Postgres>,
    caller: &Caller,
    id: NewsletterId,
    action: &str,
) -> Result<Newsletter> {
    let n = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("newsletter"))?;
    audit(&mut tx, caller, action, &n, None).await?;
    tx.commit().await?;
    Ok(n.view())
}

fn not_in(status: NewsletterStatus, code: &'static str, what: &str) -> Error {
    Error::conflict(
        code,
        format!("the newsletter is {}; {what}", status.as_str()),
    )
}

// ---------------------------------------------------------------------------
// Inputs

/// What a new newsletter is drafted from.
#[derive(Debug, Clone, Default)]
pub struct NewNewsletter {
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub audience: NewsletterAudience,
    pub tone: Option<String>,
    pub instructions: Option<String>,
}

impl NewNewsletter {
    pub fn check(self) -> Result<Self> {
        let mut v = Validator::new();
        if let (Some(f), Some(t)) = (self.period_from, self.period_to)
            && f > t
        {
            v.push("/period_to", "must not be before period_from");
        }
        let tone = crate::portal::opt_text(&mut v, "/tone", self.tone.as_deref(), 200);
        let instructions =
            crate::portal::opt_text(&mut v, "/instructions", self.instructions.as_deref(), 2000);
        check_audience(&mut v, &self.audience);
        v.finish()?;
        Ok(Self {
            tone,
            instructions,
            ..self
        })
    }
}

fn check_audience(v: &mut Validator, a: &NewsletterAudience) {
    if let Some(r) = &a.roles
        && r.is_empty()
    {
        v.push(
            "/audience/roles",
            "must name at least one role (leave it out for every member)",
        );
    }
}

/// Changes to a newsletter; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct NewsletterPatch {
    pub subject: Option<String>,
    pub preheader: Option<String>,
    pub intro: Option<String>,
    pub sections: Option<Vec<Section>>,
    pub audience: Option<NewsletterAudience>,
}

/// A subject: header text of 1–998 characters without CR or LF (refused,
/// never cut or joined).
pub fn check_subject(s: &str) -> std::result::Result<String, String> {
    if s.contains(['\r', '\n']) {
        return Err("must be one line (no CR or LF)".into());
    }
    if s.chars().count() > 998 {
        return Err("must be at most 998 characters".into());
    }
    values::text(s, 998, false)
}

impl NewsletterPatch {
    /// Checks each field (formats and lengths; templates are checked on the
    /// whole newsletter when it is saved).
    pub fn check(self) -> Result<Self> {
        let mut v = Validator::new();
        let subject = self
            .subject
            .as_deref()
            .and_then(|s| v.check("/subject", check_subject(s)));
        let preheader = self.preheader.as_deref().and_then(|s| {
            if s.trim().is_empty() {
                return Some(String::new());
            }
            v.check("/preheader", values::text(s, 300, false))
        });
        let intro = self.intro.as_deref().and_then(|s| {
            if s.chars().count() > 20_000 {
                v.push("/intro", "must be at most 20000 characters");
                return None;
            }
            Some(s.to_string())
        });
        if let Some(sections) = &self.sections {
            if sections.len() > 20 {
                v.push("/sections", "at most 20 sections");
            }
            for (i, s) in sections.iter().enumerate() {
                v.check(&format!("/sections/{i}/heading"), values::name(&s.heading));
                if s.body.chars().count() > 20_000 {
                    v.push(
                        &format!("/sections/{i}/body"),
                        "must be at most 20000 characters",
                    );
                }
                if s.links.len() > 20 {
                    v.push(&format!("/sections/{i}/links"), "at most 20 links");
                }
                for (j, l) in s.links.iter().enumerate() {
                    v.check(
                        &format!("/sections/{i}/links/{j}/title"),
                        values::name(&l.title),
                    );
                    v.check(
                        &format!("/sections/{i}/links/{j}/url"),
                        render::check_link(l),
                    );
                }
            }
        }
        if let Some(a) = &self.audience {
            check_audience(&mut v, a);
        }
        v.finish()?;
        Ok(Self {
            subject,
            preheader,
            intro,
            ..self
        })
    }

    fn is_empty(&self) -> bool {
        self.subject.is_none()
            && self.preheader.is_none()
            && self.intro.is_none()
            && self.sections.is_none()
            && self.audience.is_none()
    }
}

// ---------------------------------------------------------------------------
// Operations

/// Creates a newsletter (`drafting`) and enqueues its `newsletter_draft`
/// job, in the caller's transaction. Managers of the CoP only.
pub async fn create(
    conn: &mut PgConnection,
    caller: &Caller,
    cop: CopId,
    input: NewNewsletter,
    callback_url: Option<String>,
) -> Result<JobRecord> {
    let a = access::load(conn, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    let id = insert(conn, a.customer_id, cop, &input, caller.user_id).await?;
    let n = fetch(conn, id, false)
        .await?
        .ok_or(Error::not_found("newsletter"))?;
    audit(conn, caller, "newsletter.created", &n, None).await?;
    let ctx = EnqueueCtx {
        customer_id: Some(a.customer_id),
        requested_by: Some(caller.user_id),
        callback_url,
    };
    enqueue_one(
        conn,
        NewJob::of::<NewsletterDraft>(&NewsletterDraftPayload { newsletter_id: id }, &ctx),
    )
    .await
}

/// Writes a new newsletter (`drafting`) made by `by`; returns its id.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    customer: CustomerId,
    cop: CopId,
    input: &NewNewsletter,
    by: UserId,
) -> Result<NewsletterId> {
    let id = NewsletterId::new();
    sqlx::query(
        "INSERT INTO newsletters (id, customer_id, cop_id, status, audience_roles, audience_attended, period_from,
             period_to, tone, instructions, created_by, last_edited_by)
         VALUES ($1, $2, $3, 'drafting', $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(id)
    .bind(customer)
    .bind(cop)
    .bind(roles_column(&input.audience))
    .bind(input.audience.attended_event)
    .bind(input.period_from)
    .bind(input.period_to)
    .bind(&input.tone)
    .bind(&input.instructions)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

fn roles_column(a: &NewsletterAudience) -> Option<Vec<&'static str>> {
    a.roles
        .as_ref()
        .map(|r| r.iter().map(|r| r.as_str()).collect())
}

pub async fn get(db: &PgPool, caller: &Caller, id: NewsletterId) -> Result<Newsletter> {
    let mut conn = db.acquire().await?;
    Ok(load(&mut conn, caller, id, false).await?.0.view())
}

const NEWEST: Keyset<(DateTime<Utc>, NewsletterId)> = Keyset::descending(&["created_at", "id"]);

/// A CoP's newsletters, newest first (managers of the CoP).
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    status: Option<NewsletterStatus>,
    page: &PageRequest,
) -> Result<Page<Newsletter>> {
    let mut conn = db.acquire().await?;
    let a = access::load(&mut conn, caller, cop, "cop").await?;
    if !a.allows(Action::Manage) {
        // Drafts are the managers' business.
        a.require(Action::Manage)?;
    }
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("newsletters")
        .and_where(Expr::col("cop_id").eq(cop.0));
    if let Some(s) = status {
        q.and_where(Expr::col("status").eq(s.as_str()));
    }
    let page = NEWEST
        .fetch(&mut *conn, q, page, |n: &Row| (n.created_at, n.id))
        .await?;
    Ok(page.map(Row::view))
}

/// Edits a newsletter (`draft`, `approved`, `scheduled`, `cancelled` or
/// `failed`). An edit that changes what was approved returns it to `draft`
/// (a scheduled send is called off). Unknown template variables are a 400
/// naming the variable and its section.
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: NewsletterId,
    patch: NewsletterPatch,
) -> Result<Newsletter> {
    let mut tx = db.begin().await?;
    use NewsletterStatus::*;
    let (mut n, _) = load_in(
        &mut tx,
        caller,
        id,
        &[Draft, Approved, Scheduled, Cancelled, Failed],
        "newsletter_not_editable",
        "it can be edited as a draft, approved, scheduled, cancelled or failed newsletter only",
    )
    .await?;
    if patch.is_empty() {
        return Ok(n.view());
    }
    if let Some(s) = patch.subject {
        n.subject = s;
    }
    if let Some(s) = patch.preheader {
        n.preheader = s;
    }
    if let Some(s) = patch.intro {
        n.intro = s;
    }
    if let Some(s) = patch.sections {
        n.sections = Json(s);
    }
    let audience = patch.audience.unwrap_or_else(|| n.audience());
    n.audience_roles = roles_column(&audience).map(|r| r.iter().map(|s| s.to_string()).collect());
    n.audience_attended = audience.attended_event;
    let errors = render::check(&n.texts());
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let changed = n.approved_hash.as_deref() != Some(n.hash().as_str());
    let status = match n.status {
        Approved | Scheduled if !changed => n.status,
        _ => Draft,
    };
    sqlx::query(
        "UPDATE newsletters SET subject = $2, preheader = $3, intro = $4, sections = $5, audience_roles = $6,
             audience_attended = $7, status = $8, last_edited_by = $9, failure = NULL,
             approved_by = CASE WHEN $8 = 'draft' THEN NULL ELSE approved_by END,
             approved_at = CASE WHEN $8 = 'draft' THEN NULL ELSE approved_at END,
             approved_hash = CASE WHEN $8 = 'draft' THEN NULL ELSE approved_hash END,
             send_at = CASE WHEN $8 = 'draft' THEN NULL ELSE send_at END,
             send_job_id = CASE WHEN $8 = 'draft' THEN NULL ELSE send_job_id END,
             updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&n.subject)
    .bind(&n.preheader)
    .bind(&n.intro)
    .bind(&n.sections)
    .bind(&n.audience_roles)
    .bind(n.audience_attended)
    .bind(status)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    finish(tx, caller, id, "newsletter.updated").await
}

/// Deletes a newsletter that was never sent (`draft`, `failed`, `cancelled`).
pub async fn delete(db: &PgPool, caller: &Caller, id: NewsletterId) -> Result<()> {
    let mut tx = db.begin().await?;
    use NewsletterStatus::*;
    let (n, _) = load_in(
        &mut tx,
        caller,
        id,
        &[Draft, Failed, Cancelled],
        "newsletter_not_draft",
        "only drafts (and failed or cancelled newsletters) can be deleted",
    )
    .await?;
    sqlx::query("DELETE FROM newsletters WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, caller, "newsletter.deleted", &n, None).await?;
    tx.commit().await?;
    Ok(())
}

/// Approves a draft as it is (its content hash is stored). A manager of the
/// CoP who is not its last editor, unless the tenant allows self-approval.
pub async fn approve(db: &PgPool, caller: &Caller, id: NewsletterId) -> Result<Newsletter> {
    let mut tx = db.begin().await?;
    let (n, a) = load_in(
        &mut tx,
        caller,
        id,
        &[NewsletterStatus::Draft],
        "newsletter_not_draft",
        "only a draft can be approved",
    )
    .await?;
    if n.last_edited_by == Some(caller.user_id) {
        let allowed: bool =
            sqlx::query_scalar("SELECT newsletter_self_approval FROM customers WHERE id = $1")
                .bind(a.customer_id)
                .fetch_one(&mut *tx)
                .await?;
        if !allowed {
            return Err(Error::forbidden(
                "you edited this newsletter last: another manager of the CoP must approve it \
                 (the tenant does not allow self-approval)",
            ));
        }
    }
    check_sendable(&mut tx, &n).await?;
    sqlx::query(
        "UPDATE newsletters SET status = 'approved', approved_by = $2, approved_at = now(), approved_hash = $3,
             updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(caller.user_id)
    .bind(n.hash())
    .execute(&mut *tx)
    .await?;
    finish(tx, caller, id, "newsletter.approved").await
}

/// A newsletter must have a subject and render before it is approved or
/// test-sent (422 `newsletter_incomplete`, or 400 naming the text).
async fn check_sendable(conn: &mut PgConnection, n: &Row) -> Result<Rendered> {
    if n.subject.trim().is_empty() {
        return Err(Error::unprocessable(
            "newsletter_incomplete",
            "the newsletter has no subject yet",
        ));
    }
    let cop = crate::notifications::cop_name(conn, n.cop_id).await?;
    render::render(&n.texts(), &cop)
        .map_err(|e| Error::Validation(vec![FieldError::new(&e.pointer, e.message)]))
}

/// Where messages come from and where their links point.
#[derive(Debug, Clone, Copy)]
pub struct Mail<'a> {
    pub sender: &'a Sender,
    /// The API's public base URL (the unsubscribe link's).
    pub public_url: &'a str,
}

/// What a test send queued.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
pub struct TestSent {
    /// The addresses the test went to.
    pub to: Vec<String>,
    /// Messages queued for sending.
    pub queued: u32,
    /// Addresses on the tenant's suppression list (nothing sent to them).
    pub suppressed: u32,
}

/// Sends the newsletter as it is now to `to` (at most 10 addresses; the
/// caller's own without any), subject prefixed `[TEST]`. Not counted in the
/// newsletter's statistics; its unsubscribe link is inert.
pub async fn test_send(
    db: &PgPool,
    caller: &Caller,
    id: NewsletterId,
    to: Vec<String>,
    mail: Mail<'_>,
) -> Result<TestSent> {
    let mut v = Validator::new();
    if to.len() > 10 {
        v.push("/to", "at most 10 addresses");
    }
    let mut addresses = vec![];
    for (i, a) in to.iter().enumerate() {
        if let Some(e) = v.check(&format!("/to/{i}"), values::Email::parse(a)) {
            addresses.push(e.into_string());
        }
    }
    v.finish()?;
    if addresses.is_empty() {
        addresses.push(caller.email.clone());
    }
    let mut tx = db.begin().await?;
    let (n, a) = load(&mut tx, caller, id, true).await?;
    if n.status == NewsletterStatus::Drafting {
        return Err(not_in(
            n.status,
            "newsletter_not_editable",
            "wait for the draft",
        ));
    }
    let mut rendered = check_sendable(&mut tx, &n).await?;
    rendered.subject = crate::email::header_text(
        &format!("[TEST] {}", rendered.subject),
        crate::email::templates::HEADER_SUBJECT_MAX,
    );
    let content = NewContent {
        customer_id: Some(a.customer_id),
        template: "newsletter_test",
        rendered,
        ics: None,
        list_id: Some(send::list_id(n.cop_id, mail.sender)),
        attachment: None,
    };
    let inert = unsubscribe::link(mail.public_url, "test");
    let emails: Vec<NewEmail> = addresses
        .iter()
        .map(|to| {
            let name = (to == &caller.email).then_some(caller.name.as_str());
            let mut e = NewEmail::to_address(to, name, mail.sender);
            e.list_unsubscribe = Some(inert.clone());
            e
        })
        .collect();
    let ctx = EnqueueCtx {
        customer_id: Some(a.customer_id),
        requested_by: Some(caller.user_id),
        callback_url: None,
    };
    let queued = outbox::queue(&mut tx, &content, emails, &ctx).await?;
    audit(
        &mut tx,
        caller,
        "newsletter.test_sent",
        &n,
        Some(serde_json::json!({ "to": addresses })),
    )
    .await?;
    tx.commit().await?;
    Ok(TestSent {
        to: addresses,
        queued: queued.pending.len() as u32,
        suppressed: queued.suppressed as u32,
    })
}

/// Queues the send of an approved newsletter, now or at `send_at` (a
/// scheduled one is rescheduled): its `newsletter_send` job. 409 unless
/// approved or scheduled; 400 naming `send_at` when it is in the past.
pub async fn send(
    conn: &mut PgConnection,
    caller: &Caller,
    id: NewsletterId,
    send_at: Option<DateTime<Utc>>,
    callback_url: Option<String>,
) -> Result<JobRecord> {
    let now = Utc::now();
    if let Some(at) = send_at
        && at < now
    {
        return Err(Error::field(
            "/send_at",
            "must not be in the past (leave it out to send now)",
        ));
    }
    let (n, a) = load_in(
        conn,
        caller,
        id,
        &[NewsletterStatus::Approved, NewsletterStatus::Scheduled],
        "newsletter_not_approved",
        "only an approved newsletter can be sent",
    )
    .await?;
    if n.approved_hash.as_deref() != Some(n.hash().as_str()) {
        return Err(not_in(
            n.status,
            "newsletter_not_approved",
            "its content changed after approval",
        ));
    }
    let ctx = EnqueueCtx {
        customer_id: Some(a.customer_id),
        requested_by: Some(caller.user_id),
        callback_url,
    };
    let mut job = NewJob::of::<NewsletterSend>(&NewsletterSendPayload { newsletter_id: id }, &ctx);
    job.run_at = send_at;
    let job = enqueue_one(conn, job).await?;
    sqlx::query(
        "UPDATE newsletters SET status = 'scheduled', send_at = $2, send_job_id = $3, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(send_at.unwrap_or(now))
    .bind(job.id)
    .execute(&mut *conn)
    .await?;
    audit(
        conn,
        caller,
        "newsletter.send_queued",
        &n,
        Some(serde_json::json!({ "send_at": send_at.unwrap_or(now), "job_id": job.id })),
    )
    .await?;
    Ok(job)
}

/// Calls a scheduled send off (`cancelled`); its queued job ends without
/// sending. 409 unless scheduled.
pub async fn cancel(db: &PgPool, caller: &Caller, id: NewsletterId) -> Result<Newsletter> {
    let mut tx = db.begin().await?;
    load_in(
        &mut tx,
        caller,
        id,
        &[NewsletterStatus::Scheduled],
        "newsletter_not_scheduled",
        "only a scheduled send can be cancelled",
    )
    .await?;
    sqlx::query(
        "UPDATE newsletters SET status = 'cancelled', send_job_id = NULL, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    finish(tx, caller, id, "newsletter.cancelled").await
}

/// Pauses a sending newsletter: its messages not yet sent stay `pending`
/// (their `email_send` jobs end without sending) until it resumes. 409
/// `newsletter_not_sending` unless sending.
pub async fn pause(db: &PgPool, caller: &Caller, id: NewsletterId) -> Result<Newsletter> {
    let mut tx = db.begin().await?;
    let (n, _) = load_in(
        &mut tx,
        caller,
        id,
        &[NewsletterStatus::Sending],
        "newsletter_not_sending",
        "only a sending newsletter can be paused",
    )
    .await?;
    send::hold(&mut tx, &n, true).await?;
    sqlx::query("UPDATE newsletters SET status = 'paused', updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    finish(tx, caller, id, "newsletter.paused").await
}

/// Resumes a paused newsletter: its pending messages are queued again
/// (those whose `email_send` job is not queued any more). 409
/// `newsletter_not_sending` unless paused.
pub async fn resume(db: &PgPool, caller: &Caller, id: NewsletterId) -> Result<Newsletter> {
    let mut tx = db.begin().await?;
    let (n, a) = load_in(
        &mut tx,
        caller,
        id,
        &[NewsletterStatus::Paused],
        "newsletter_not_sending",
        "only a paused newsletter can be resumed",
    )
    .await?;
    send::hold(&mut tx, &n, false).await?;
    sqlx::query("UPDATE newsletters SET status = 'sending', updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let ctx = EnqueueCtx {
        customer_id: Some(a.customer_id),
        requested_by: Some(caller.user_id),
        callback_url: None,
    };
    send::requeue(&mut tx, &n, &ctx).await?;
    send::enqueue_progress(&mut tx, id, &ctx, true).await?;
    finish(tx, caller, id, "newsletter.resumed").await
}

/// A newsletter's numbers.
#[derive(Debug, Clone, serde::Serialize, poem_openapi::Object)]
pub struct NewsletterStats {
    pub newsletter_id: NewsletterId,
    pub status: NewsletterStatus,
    /// Messages written by the send (suppressed ones included).
    pub recipients: i64,
    /// Waiting to be sent (or being sent).
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    /// Not sent: the address is on the suppression list (or unusable).
    pub suppressed: i64,
    /// Members left out: newsletters turned off, or unsubscribed before.
    pub opted_out: i64,
    /// Members who unsubscribed from the CoP's newsletter since this one started sending.
    pub unsubscribed_since: i64,
    /// Members it would go to if it were sent now (the audience, minus
    /// those who turned newsletters off or unsubscribed): the count to check
    /// before sending.
    pub audience: i64,
}

pub async fn stats(db: &PgPool, caller: &Caller, id: NewsletterId) -> Result<NewsletterStats> {
    let mut conn = db.acquire().await?;
    let (n, _) = load(&mut conn, caller, id, false).await?;
    send::stats(&mut conn, &n).await
}

/// What one member would receive (the caller without `user_id`): subject,
/// HTML and text, with an inert unsubscribe link. 400 naming `user_id`
/// when they are not a member of the CoP.
pub async fn preview(
    db: &PgPool,
    caller: &Caller,
    id: NewsletterId,
    user: Option<UserId>,
    public_url: &str,
) -> Result<Rendered> {
    let mut conn = db.acquire().await?;
    let (n, _) = load(&mut conn, caller, id, false).await?;
    let cop = crate::notifications::cop_name(&mut conn, n.cop_id).await?;
    let (name, address) = match user {
        None => (caller.name.clone(), caller.email.clone()),
        Some(u) => sqlx::query_as::<_, (String, String)>(
            "SELECT u.name, u.email FROM cop_members m JOIN users u ON u.id = m.user_id
             WHERE m.cop_id = $1 AND m.user_id = $2",
        )
        .bind(n.cop_id)
        .bind(u)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::field("/user_id", "not a member of the newsletter's CoP"))?,
    };
    let r = render::render(&n.texts(), &cop)
        .map_err(|e| Error::Validation(vec![FieldError::new(&e.pointer, e.message)]))?;
    let name = crate::email::header_text(&name, 200);
    Ok(r.personalise_for(&crate::email::templates::Recipient {
        name: &name,
        address: &address,
        unsubscribe_url: &unsubscribe::link(public_url, "preview"),
    }))
}
