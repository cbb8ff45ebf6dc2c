//! Newsletters of a CoP: drafted (AI or template), edited, previewed,
//! approved, test-sent, sent now or at `send_at`, and one-click unsubscribe.

use chrono::{DateTime, NaiveDate, Utc};
use launchpad_domain::{
    ids::{CopId, UserId},
    newsletters::{
        self, Mail, NewNewsletter, Newsletter, NewsletterAudience, NewsletterId, NewsletterPatch,
        NewsletterStats, NewsletterStatus, Section, TestSent, unsubscribe,
    },
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::Example,
};

use super::jobs::{JobAccepted, JobRequest, accept_job, check_callback};
use crate::types::{NoContent, Page, Tag};
use crate::{
    body::{JsonBody, OptionalJsonBody},
    problem::ApiResult,
    security::BearerAuth,
    state::SharedState,
};

crate::list_query! {
    /// The query of `GET /api/v1/cops/{cop_id}/newsletters`.
    pub struct NewslettersQuery {
        /// Only newsletters in this status.
        status: Option<NewsletterStatus>,
    }
}

pub struct NewslettersApi;

/// What a newsletter is drafted from; every field is optional.
#[derive(Object, serde::Deserialize, Default)]
#[oai(example, skip_serializing_if_is_none)]
pub struct CreateNewsletter {
    /// First day of the period it covers (default: 30 days ago).
    pub period_from: Option<NaiveDate>,
    /// Last day of the period (default: today).
    pub period_to: Option<NaiveDate>,
    pub audience: Option<NewsletterAudience>,
    /// The tone of the draft (`warm`, `formal`, ...).
    #[oai(validator(max_length = 200))]
    pub tone: Option<String>,
    /// What the draft should stress.
    #[oai(validator(max_length = 2000))]
    pub instructions: Option<String>,
    /// Receives the draft job's terminal event (see `JobOptions`).
    #[oai(validator(max_length = 2048))]
    pub callback_url: Option<String>,
}

/// Changes to a newsletter; absent fields stay. Every text (subject,
/// preheader, intro, headings, bodies, link titles) may use these template
/// variables (minijinja syntax, `{{ first_name }}`), filled per recipient
/// when sent: `first_name` (the recipient's first name), `name` (their full
/// name), `email` (their address), `cop_name` (the CoP's name),
/// `unsubscribe_url` (their one-click unsubscribe link). Any other variable
/// is refused (400 naming it and its section).
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateNewsletter {
    /// One line (no CR or LF), 1–998 characters: refused beyond, never cut.
    pub subject: Option<String>,
    /// One line, at most 300 characters (`""` clears it).
    pub preheader: Option<String>,
    /// Markdown, at most 20,000 characters.
    pub intro: Option<String>,
    /// At most 20 sections (the whole list is replaced).
    pub sections: Option<Vec<Section>>,
    pub audience: Option<NewsletterAudience>,
}

/// Where a test goes: the caller's own address without `to`.
#[derive(Object, serde::Deserialize, Default)]
#[oai(example, skip_serializing_if_is_none)]
pub struct TestSend {
    /// At most 10 addresses.
    pub to: Option<Vec<String>>,
}

/// When to send: now without `send_at`.
#[derive(Object, serde::Deserialize, Default)]
#[oai(example, skip_serializing_if_is_none)]
pub struct SendNewsletter {
    /// An instant (RFC 3339 with its offset, e.g. `2026-12-10T09:00:00+01:00`);
    /// not in the past.
    pub send_at: Option<DateTime<Utc>>,
    /// Receives the send job's terminal event (see `JobOptions`).
    #[oai(validator(max_length = 2048))]
    pub callback_url: Option<String>,
}

impl Example for CreateNewsletter {
    fn example() -> Self {
        Self {
            period_from: NaiveDate::from_ymd_opt(2026, 11, 1),
            period_to: NaiveDate::from_ymd_opt(2026, 11, 30),
            audience: Some(NewsletterAudience::default()),
            tone: Some("warm".into()),
            instructions: Some("Stress the December office hours.".into()),
            callback_url: None,
        }
    }
}

impl Example for UpdateNewsletter {
    fn example() -> Self {
        Self {
            subject: Some("Lakehouse CoP — November for {{ first_name }}".into()),
            preheader: Some("Three sessions, two new guides and a champion".into()),
            intro: Some(
                "Hello {{ first_name }},\n\nHere is November in **{{ cop_name }}**.".into(),
            ),
            sections: Some(vec![Section {
                heading: "Events".into(),
                body: "- **Lakehouse 101** — 42 attended\n- **Office hours** — 12 December".into(),
                links: vec![newsletters::SectionLink {
                    title: "Office hours".into(),
                    url: "https://portal.acme.example/events/office-hours".into(),
                }],
            }]),
            audience: None,
        }
    }
}

impl Example for TestSend {
    fn example() -> Self {
        Self {
            to: Some(vec!["reviewer@acme.example".into()]),
        }
    }
}

impl Example for SendNewsletter {
    fn example() -> Self {
        Self {
            send_at: chrono::DateTime::parse_from_rfc3339("2026-12-10T09:00:00+01:00")
                .map(|d| d.with_timezone(&Utc))
                .ok(),
            callback_url: None,
        }
    }
}

/// A newsletter as one member would receive it.
#[derive(Object)]
pub struct NewsletterPreview {
    pub subject: String,
    /// The HTML part (CSS inlined).
    pub html: String,
    /// The plain-text part.
    pub text: String,
}

/// What the unsubscribe link did (or would do).
#[derive(Object)]
pub struct NewsletterUnsubscribed {
    pub cop_id: CopId,
    pub newsletter_id: NewsletterId,
    /// Whether the person still receives the CoP's newsletter.
    pub subscribed: bool,
}

#[OpenApi(tag = "Tag::Newsletters")]
impl NewslettersApi {
    /// Drafts a newsletter for the CoP (managers of the CoP): answers `202`
    /// with the `newsletter_draft` job, whose `subject` is the new
    /// newsletter's id. The draft is written from the period's events (held,
    /// with attendance, and upcoming), new content, new champions and
    /// approved use cases — through the AI pipeline (it links only the items
    /// it was given), or from a template without a provider. The CoP's
    /// managers are notified when it is ready for review; a draft that
    /// fails leaves the newsletter `failed`.
    #[oai(
        path = "/api/v1/cops/:cop_id/newsletters",
        method = "post",
        operation_id = "newsletters_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        /// Makes the request safe to retry: the same key returns the first job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: OptionalJsonBody<CreateNewsletter>,
    ) -> ApiResult<JobAccepted> {
        let raw = body.raw.clone();
        let b = body.value.unwrap_or_default();
        let callback_url = check_callback(&state, b.callback_url.as_deref()).await?;
        let input = NewNewsletter {
            period_from: b.period_from,
            period_to: b.period_to,
            audience: b.audience.unwrap_or_default(),
            tone: b.tone,
            instructions: b.instructions,
        }
        .check()?;
        let tenant = {
            let mut conn = state
                .db
                .acquire()
                .await
                .map_err(launchpad_domain::Error::from)?;
            launchpad_domain::portal::access::load(&mut conn, &auth.0, cop_id.0, "cop")
                .await?
                .customer_id
        };
        let caller = auth.0.clone();
        let cop = cop_id.0;
        accept_job(
            &state,
            &JobRequest {
                caller: &auth.0,
                tenant: Some(tenant),
                idempotency_key: idempotency_key.0.as_deref(),
                path: &format!("/api/v1/cops/{cop}/newsletters"),
                body: &raw,
            },
            move |conn| {
                Box::pin(async move {
                    newsletters::create(conn, &caller, cop, input, callback_url).await
                })
            },
        )
        .await
    }

    /// Lists the CoP's newsletters, newest first (managers of the CoP).
    #[oai(
        path = "/api/v1/cops/:cop_id/newsletters",
        method = "get",
        operation_id = "newsletters_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        query: NewslettersQuery,
    ) -> ApiResult<Json<Page<Newsletter>>> {
        let page =
            newsletters::list(&state.db, &auth.0, cop_id.0, query.status, &query.page).await?;
        Ok(Json(Page::from_domain(page, |n| n)))
    }

    /// Gets a newsletter (managers of its CoP).
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id",
        method = "get",
        operation_id = "newsletters_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
    ) -> ApiResult<Json<Newsletter>> {
        Ok(Json(
            newsletters::get(&state.db, &auth.0, newsletter_id.0).await?,
        ))
    }

    /// Edits a newsletter (draft, approved, scheduled, cancelled or failed;
    /// 409 otherwise). An edit that changes what was approved returns it to
    /// `draft` (a scheduled send is called off). Texts may use the template
    /// variables `first_name`, `name`, `email`, `cop_name` and
    /// `unsubscribe_url` (see `UpdateNewsletter`); any other is a 400 naming
    /// the variable and its section.
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id",
        method = "patch",
        operation_id = "newsletters_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
        body: JsonBody<UpdateNewsletter>,
    ) -> ApiResult<Json<Newsletter>> {
        let b = body.value;
        let patch = NewsletterPatch {
            subject: b.subject,
            preheader: b.preheader,
            intro: b.intro,
            sections: b.sections,
            audience: b.audience,
        }
        .check()?;
        Ok(Json(
            newsletters::update(&state.db, &auth.0, newsletter_id.0, patch).await?,
        ))
    }

    /// Deletes a newsletter that was never sent (draft, failed or cancelled; 409 otherwise).
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id",
        method = "delete",
        operation_id = "newsletters_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
    ) -> ApiResult<NoContent> {
        newsletters::delete(&state.db, &auth.0, newsletter_id.0).await?;
        Ok(NoContent::Done)
    }

    /// The newsletter rendered for one member of the CoP (the caller without
    /// `user_id`): subject, HTML (sanitised, CSS inlined) and text. The
    /// unsubscribe link in it is inert.
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id/preview",
        method = "get",
        operation_id = "newsletters_preview"
    )]
    async fn preview(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
        /// A member of the CoP to render it for.
        user_id: Query<Option<UserId>>,
    ) -> ApiResult<Json<NewsletterPreview>> {
        let r = newsletters::preview(
            &state.db,
            &auth.0,
            newsletter_id.0,
            user_id.0,
            &state.settings.public_base_url(),
        )
        .await?;
        Ok(Json(NewsletterPreview {
            subject: r.subject,
            html: r.html,
            text: r.text,
        }))
    }

    /// Approves a draft as it is: a manager of the CoP who is not its last
    /// editor (403), unless the tenant allows self-approval
    /// (`newsletter_self_approval`). 409 unless it is a draft.
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id/approve",
        method = "post",
        operation_id = "newsletters_approve"
    )]
    async fn approve(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
    ) -> ApiResult<Json<Newsletter>> {
        Ok(Json(
            newsletters::approve(&state.db, &auth.0, newsletter_id.0).await?,
        ))
    }

    /// Sends the newsletter as it is now to `to` (or the caller), the
    /// subject prefixed `[TEST]`. Not counted in its statistics; its
    /// unsubscribe link is inert.
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id/test-send",
        method = "post",
        operation_id = "newsletters_test_send"
    )]
    async fn test_send(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
        body: OptionalJsonBody<TestSend>,
    ) -> ApiResult<Json<TestSent>> {
        let to = body.value.and_then(|b| b.to).unwrap_or_default();
        let public = state.settings.public_base_url();
        let mail = Mail {
            sender: &state.settings.mail_from,
            public_url: &public,
        };
        Ok(Json(
            newsletters::test_send(&state.db, &auth.0, newsletter_id.0, to, mail).await?,
        ))
    }

    /// Sends an approved newsletter now, or at `send_at` (a scheduled one is
    /// rescheduled): `202` with the `newsletter_send` job, which writes one
    /// message per member of the audience (respecting the suppression list,
    /// the `newsletter` preference and earlier unsubscribes) when it runs.
    /// 409 unless approved or scheduled; 400 naming `send_at` in the past.
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id/send",
        method = "post",
        operation_id = "newsletters_send"
    )]
    async fn send(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
        /// Makes the request safe to retry: the same key returns the first job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: OptionalJsonBody<SendNewsletter>,
    ) -> ApiResult<JobAccepted> {
        let raw = body.raw.clone();
        let b = body.value.unwrap_or_default();
        let callback_url = check_callback(&state, b.callback_url.as_deref()).await?;
        let id = newsletter_id.0;
        let tenant = newsletters::get(&state.db, &auth.0, id).await?.customer_id;
        let caller = auth.0.clone();
        let send_at = b.send_at;
        accept_job(
            &state,
            &JobRequest {
                caller: &auth.0,
                tenant: Some(tenant),
                idempotency_key: idempotency_key.0.as_deref(),
                path: &format!("/api/v1/newsletters/{id}/send"),
                body: &raw,
            },
            move |conn| {
                Box::pin(async move {
                    newsletters::send(conn, &caller, id, send_at, callback_url).await
                })
            },
        )
        .await
    }

    /// Calls off a scheduled send (`cancelled`; 409 unless scheduled). Edit
    /// it to make it a draft again.
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id/cancel",
        method = "post",
        operation_id = "newsletters_cancel"
    )]
    async fn cancel(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
    ) -> ApiResult<Json<Newsletter>> {
        Ok(Json(
            newsletters::cancel(&state.db, &auth.0, newsletter_id.0).await?,
        ))
    }

    /// Pauses a sending newsletter: messages not yet sent wait (409
    /// `newsletter_not_sending` unless sending).
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id/pause",
        method = "post",
        operation_id = "newsletters_pause"
    )]
    async fn pause(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
    ) -> ApiResult<Json<Newsletter>> {
        Ok(Json(
            newsletters::pause(&state.db, &auth.0, newsletter_id.0).await?,
        ))
    }

    /// Resumes a paused newsletter: its messages not yet sent go out (409
    /// `newsletter_not_sending` unless paused).
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id/resume",
        method = "post",
        operation_id = "newsletters_resume"
    )]
    async fn resume(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
    ) -> ApiResult<Json<Newsletter>> {
        Ok(Json(
            newsletters::resume(&state.db, &auth.0, newsletter_id.0).await?,
        ))
    }

    /// The newsletter's numbers: recipients, queued, sent, failed,
    /// suppressed, opted out, and unsubscribes since it started sending.
    #[oai(
        path = "/api/v1/newsletters/:newsletter_id/stats",
        method = "get",
        operation_id = "newsletters_stats"
    )]
    async fn stats(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        newsletter_id: Path<NewsletterId>,
    ) -> ApiResult<Json<NewsletterStats>> {
        Ok(Json(
            newsletters::stats(&state.db, &auth.0, newsletter_id.0).await?,
        ))
    }

    /// One-click unsubscribe (RFC 8058), the `List-Unsubscribe` target and
    /// the footer link of newsletter messages: the token's person no longer
    /// receives the CoP's newsletter. No login (the token is signed); using
    /// it again changes nothing and answers the same. Rate-limited per client IP.
    #[oai(
        path = "/api/v1/newsletters/unsubscribe",
        method = "post",
        operation_id = "newsletters_unsubscribe"
    )]
    async fn unsubscribe(
        &self,
        state: Data<&SharedState>,
        /// The token of the message's link.
        token: Query<String>,
    ) -> ApiResult<Json<NewsletterUnsubscribed>> {
        state.limits.check_anonymous_client()?;
        let mut conn = state
            .db
            .acquire()
            .await
            .map_err(launchpad_domain::Error::from)?;
        let s = unsubscribe::apply(&mut conn, &token.0).await?;
        Ok(Json(NewsletterUnsubscribed {
            cop_id: s.cop_id,
            newsletter_id: s.newsletter_id,
            subscribed: false,
        }))
    }

    /// What the unsubscribe link would do (changes nothing: mail scanners
    /// follow links; the change is the POST).
    #[oai(
        path = "/api/v1/newsletters/unsubscribe",
        method = "get",
        operation_id = "newsletters_unsubscribe_preview"
    )]
    async fn unsubscribe_preview(
        &self,
        state: Data<&SharedState>,
        /// The token of the message's link.
        token: Query<String>,
    ) -> ApiResult<Json<NewsletterUnsubscribed>> {
        state.limits.check_anonymous_client()?;
        let mut conn = state
            .db
            .acquire()
            .await
            .map_err(launchpad_domain::Error::from)?;
        let (s, subscribed) = unsubscribe::preview(&mut conn, &token.0).await?;
        Ok(Json(NewsletterUnsubscribed {
            cop_id: s.cop_id,
            newsletter_id: s.newsletter_id,
            subscribed,
        }))
    }
}
