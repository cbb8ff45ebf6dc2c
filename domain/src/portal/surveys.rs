//! Surveys: session feedback (linked to an event), CoP health and exec
//! pulse surveys; their questions, responses, answers and results.
//!
//! Life cycle: `draft` (editable) → `open` (accepts responses) → `closed`.
//! Answers are stored one row per question in `survey_answers`
//! (`numeric_value` for rating/NPS scores, `choice_values`, `text_value`),
//! so SQL aggregates them and the KPI and AI jobs read them directly.

use crate::text_enum;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access::{self, Action, CopAccess},
    audit, opt_text,
};
use crate::{
    error::{Error, Result, Validator},
    ids::{CopId, EventId, QuestionId, ResponseId, SurveyId, UserId},
    notifications::{self, Audience, NewNotification, NotificationType},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    values,
    webhooks::{WebhookData, WebhookEventType, record_event},
};

text_enum! {
    /// What a survey is for. `session_feedback` surveys belong to an event.
    pub enum SurveyKind {
        SessionFeedback = "session_feedback",
        CopHealth = "cop_health",
        ExecPulse = "exec_pulse",
    }
}

text_enum! {
    /// `draft` (editable) → `open` (accepts responses) → `closed`.
    pub enum SurveyStatus {
        Draft = "draft",
        Open = "open",
        Closed = "closed",
    }
}

text_enum! {
    /// How a question is answered: `rating` 1–5, `nps` 0–10, one option,
    /// several options, or free text.
    pub enum QuestionKind {
        Rating = "rating",
        Nps = "nps",
        SingleChoice = "single_choice",
        MultiChoice = "multi_choice",
        Text = "text",
    }
}

impl QuestionKind {
    fn is_choice(self) -> bool {
        matches!(self, QuestionKind::SingleChoice | QuestionKind::MultiChoice)
    }

    /// The allowed scores of scored questions.
    pub fn score_range(self) -> Option<(i16, i16)> {
        match self {
            QuestionKind::Rating => Some((1, 5)),
            QuestionKind::Nps => Some((0, 10)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Question {
    pub id: QuestionId,
    #[serde(skip)]
    pub survey_id: SurveyId,
    pub position: i16,
    pub kind: QuestionKind,
    pub prompt: String,
    pub options: Vec<String>,
    pub required: bool,
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Survey {
    pub id: SurveyId,
    pub cop_id: CopId,
    pub event_id: Option<EventId>,
    pub kind: SurveyKind,
    pub title: String,
    pub description: Option<String>,
    pub status: SurveyStatus,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub response_count: i64,
    #[sqlx(skip)]
    pub questions: Vec<Question>,
}

/// A survey question. `options` is non-empty exactly for choice questions.
#[derive(poem_openapi::Object)]
pub struct QuestionView {
    pub id: QuestionId,
    /// 0-based order within the survey.
    pub position: i16,
    pub kind: QuestionKind,
    pub prompt: String,
    pub options: Vec<String>,
    pub required: bool,
}

impl From<Question> for QuestionView {
    fn from(q: Question) -> Self {
        Self {
            id: q.id,
            position: q.position,
            kind: q.kind,
            prompt: q.prompt,
            options: q.options,
            required: q.required,
        }
    }
}

/// A survey with its questions.
#[derive(poem_openapi::Object)]
pub struct SurveyView {
    pub id: SurveyId,
    pub cop_id: CopId,
    /// The event of a `session_feedback` survey.
    #[oai(skip_serializing_if_is_none)]
    pub event_id: Option<EventId>,
    pub kind: SurveyKind,
    pub title: String,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    pub status: SurveyStatus,
    #[oai(skip_serializing_if_is_none)]
    pub opened_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub closed_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub response_count: i64,
    pub questions: Vec<QuestionView>,
}

impl From<Survey> for SurveyView {
    fn from(s: Survey) -> Self {
        Self {
            id: s.id,
            cop_id: s.cop_id,
            event_id: s.event_id,
            kind: s.kind,
            title: s.title,
            description: s.description,
            status: s.status,
            opened_at: s.opened_at,
            closed_at: s.closed_at,
            created_by: s.created_by,
            created_at: s.created_at,
            updated_at: s.updated_at,
            response_count: s.response_count,
            questions: s.questions.into_iter().map(Into::into).collect(),
        }
    }
}

/// The webhook `data` of a survey: as `GET /surveys/{id}` shows it.
pub fn webhook_data(s: &Survey) -> WebhookData {
    WebhookData::of_view(
        &SurveyView::from(s.clone()),
        s.id,
        format!("/api/v1/surveys/{}", s.id),
    )
}

const COLUMNS: &str = "id, cop_id, event_id, kind, title, description, status, opened_at, closed_at, \
    created_by, created_at, updated_at, \
    (SELECT count(*) FROM survey_responses r WHERE r.survey_id = surveys.id) AS response_count";

const MAX_QUESTIONS: usize = 50;
const MAX_OPTIONS: usize = 50;
const TEXT_ANSWER_MAX: usize = 5000;

/// A question as received.
#[derive(Debug, Clone)]
pub struct QuestionInput {
    pub kind: QuestionKind,
    pub prompt: String,
    pub options: Vec<String>,
    pub required: bool,
}

/// A validated question (its id is generated when stored).
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuestionData {
    pub kind: QuestionKind,
    pub prompt: String,
    pub options: Vec<String>,
    pub required: bool,
}

fn parse_questions(v: &mut Validator, qs: Vec<QuestionInput>) -> Vec<QuestionData> {
    if qs.is_empty() {
        v.push("/questions", "must contain at least one question");
        return vec![];
    }
    if qs.len() > MAX_QUESTIONS {
        v.push(
            "/questions",
            format!("must contain at most {MAX_QUESTIONS} questions"),
        );
        return vec![];
    }
    let mut out = Vec::with_capacity(qs.len());
    for (i, q) in qs.into_iter().enumerate() {
        let prompt = v.check(
            &format!("/questions/{i}/prompt"),
            values::text(&q.prompt, 500, true),
        );
        let mut options: Vec<String> = Vec::with_capacity(q.options.len());
        if q.kind.is_choice() {
            if q.options.len() < 2 || q.options.len() > MAX_OPTIONS {
                v.push(
                    &format!("/questions/{i}/options"),
                    format!("a choice question needs 2–{MAX_OPTIONS} options"),
                );
            }
            for (j, o) in q.options.iter().enumerate() {
                let pointer = format!("/questions/{i}/options/{j}");
                if let Some(o) = v.check(&pointer, values::text(o, 200, false)) {
                    if options.contains(&o) {
                        v.push(&pointer, "duplicate option");
                    } else {
                        options.push(o);
                    }
                }
            }
        } else if !q.options.is_empty() {
            v.push(
                &format!("/questions/{i}/options"),
                "only choice questions have options",
            );
        }
        if let Some(prompt) = prompt {
            out.push(QuestionData {
                kind: q.kind,
                prompt,
                options,
                required: q.required,
            });
        }
    }
    out
}

/// The raw fields of a new survey.
#[derive(Debug, Clone)]
pub struct NewSurveyInput {
    pub kind: SurveyKind,
    pub event_id: Option<EventId>,
    pub title: String,
    pub description: Option<String>,
    pub questions: Vec<QuestionInput>,
}

/// A validated new survey.
#[derive(Debug, Clone)]
pub struct NewSurvey {
    pub kind: SurveyKind,
    pub event_id: Option<EventId>,
    pub title: String,
    pub description: Option<String>,
    pub questions: Vec<QuestionData>,
}

impl NewSurvey {
    pub fn parse(i: NewSurveyInput) -> Result<Self> {
        let mut v = Validator::new();
        let title = v.check("/title", values::name(&i.title));
        let description = opt_text(&mut v, "/description", i.description.as_deref(), 5000);
        match (i.kind, i.event_id) {
            (SurveyKind::SessionFeedback, None) => {
                v.push("/event_id", "is required for session_feedback surveys")
            }
            (SurveyKind::CopHealth | SurveyKind::ExecPulse, Some(_)) => v.push(
                "/event_id",
                "only session_feedback surveys belong to an event",
            ),
            _ => {}
        }
        let questions = parse_questions(&mut v, i.questions);
        v.finish()?;
        Ok(Self {
            kind: i.kind,
            event_id: i.event_id,
            title: title.expect("checked"),
            description,
            questions,
        })
    }
}

/// A validated update of a draft. `questions` replaces all questions.
#[derive(Debug, Clone, Default)]
pub struct SurveyPatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub questions: Option<Vec<QuestionData>>,
}

impl SurveyPatch {
    pub fn parse(
        title: Option<&str>,
        description: Option<Option<&str>>,
        questions: Option<Vec<QuestionInput>>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let title = title.and_then(|t| v.check("/title", values::name(t)));
        let description = description.map(|d| opt_text(&mut v, "/description", d, 5000));
        let questions = questions.map(|q| parse_questions(&mut v, q));
        v.finish()?;
        Ok(Self {
            title,
            description,
            questions,
        })
    }
}

async fn questions_of(conn: &mut PgConnection, ids: &[SurveyId]) -> Result<Vec<Question>> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.0).collect();
    Ok(sqlx::query_as(
        "SELECT id, survey_id, position, kind, prompt, options, required FROM survey_questions
         WHERE survey_id = ANY($1) ORDER BY survey_id, position",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?)
}

async fn fetch(conn: &mut PgConnection, id: SurveyId, lock: bool) -> Result<Option<Survey>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let s: Option<Survey> =
        sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM surveys WHERE id = $1{lock}"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    match s {
        Some(mut s) => {
            s.questions = questions_of(conn, &[id]).await?;
            Ok(Some(s))
        }
        None => Ok(None),
    }
}

async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: SurveyId,
    lock: bool,
) -> Result<(Survey, CopAccess)> {
    let s = fetch(conn, id, lock)
        .await?
        .ok_or(Error::not_found("survey"))?;
    let a = access::load(conn, caller, s.cop_id, "survey").await?;
    Ok((s, a))
}

async fn insert_questions(
    conn: &mut PgConnection,
    survey: SurveyId,
    qs: &[QuestionData],
) -> Result<()> {
    let rows: Vec<serde_json::Value> = qs
        .iter()
        .enumerate()
        .map(|(i, q)| {
            serde_json::json!({
                "id": QuestionId::new(), "position": i, "kind": q.kind,
                "prompt": q.prompt, "options": q.options, "required": q.required,
            })
        })
        .collect();
    sqlx::query(
        "INSERT INTO survey_questions (id, survey_id, position, kind, prompt, options, required)
         SELECT t.id, $1, t.position, t.kind, t.prompt, t.options, t.required
         FROM jsonb_to_recordset($2) AS t(id uuid, position smallint, kind text, prompt text, options text[], required boolean)",
    )
    .bind(survey)
    .bind(serde_json::Value::Array(rows))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn create(db: &PgPool, caller: &Caller, cop: CopId, input: NewSurvey) -> Result<Survey> {
    let mut tx = db.begin().await?;
    let a = access::load(&mut tx, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    if let Some(e) = input.event_id {
        let of_cop: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM events WHERE id = $1 AND cop_id = $2")
                .bind(e)
                .bind(cop)
                .fetch_optional(&mut *tx)
                .await?;
        if of_cop.is_none() {
            return Err(Error::field("/event_id", "is not an event of this CoP"));
        }
    }
    let id = SurveyId::new();
    sqlx::query(
        "INSERT INTO surveys (id, cop_id, event_id, kind, title, description, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(cop)
    .bind(input.event_id)
    .bind(input.kind)
    .bind(&input.title)
    .bind(&input.description)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    insert_questions(&mut tx, id, &input.questions).await?;
    let s = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("survey"))?;
    audit(
        &mut tx,
        caller,
        "survey.created",
        "survey",
        id.to_string(),
        a.customer_id,
        serde_json::to_value(&s).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(s)
}

pub async fn get(db: &PgPool, caller: &Caller, id: SurveyId) -> Result<Survey> {
    let mut conn = db.acquire().await?;
    let (s, a) = load(&mut conn, caller, id, false).await?;
    a.require(Action::Read)?;
    Ok(s)
}

/// Filters of `GET /cops/{id}/surveys`.
#[derive(Debug, Clone, Default)]
pub struct SurveyFilter {
    pub kind: Option<SurveyKind>,
    pub status: Option<SurveyStatus>,
    pub event_id: Option<EventId>,
}

/// Newest first.
const NEWEST: Keyset<(DateTime<Utc>, SurveyId)> = Keyset::descending(&["created_at", "id"]);

/// A CoP's surveys, newest first, with their questions.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    cop: CopId,
    filter: &SurveyFilter,
    page: &PageRequest,
) -> Result<Page<Survey>> {
    let mut conn = db.acquire().await?;
    access::load(&mut conn, caller, cop, "cop")
        .await?
        .require(Action::Read)?;
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("surveys")
        .and_where(Expr::col("cop_id").eq(cop.0));
    if let Some(k) = filter.kind {
        q.and_where(Expr::col("kind").eq(k));
    }
    if let Some(s) = filter.status {
        q.and_where(Expr::col("status").eq(s));
    }
    if let Some(e) = filter.event_id {
        q.and_where(Expr::col("event_id").eq(e.0));
    }
    let mut page = NEWEST
        .fetch(&mut *conn, q, page, |s: &Survey| (s.created_at, s.id))
        .await?;
    let ids: Vec<SurveyId> = page.items.iter().map(|s| s.id).collect();
    let mut by_survey: HashMap<SurveyId, Vec<Question>> = HashMap::new();
    for q in questions_of(&mut conn, &ids).await? {
        by_survey.entry(q.survey_id).or_default().push(q);
    }
    for s in &mut page.items {
        s.questions = by_survey.remove(&s.id).unwrap_or_default();
    }
    Ok(page)
}

fn ensure_status(s: &Survey, wanted: SurveyStatus, code: &'static str) -> Result<()> {
    if s.status == wanted {
        Ok(())
    } else {
        Err(Error::conflict(
            code,
            format!(
                "the survey is {}; this needs a {} survey",
                s.status.as_str(),
                wanted.as_str()
            ),
        ))
    }
}

/// Edits a draft survey.
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: SurveyId,
    patch: SurveyPatch,
) -> Result<Survey> {
    let mut tx = db.begin().await?;
    let (s, a) = load(&mut tx, caller, id, true).await?;
    a.require(Action::Manage)?;
    ensure_status(&s, SurveyStatus::Draft, "survey_not_draft")?;
    let (description_set, description) = super::cops::split(patch.description);
    sqlx::query(
        "UPDATE surveys SET title = coalesce($2, title),
             description = CASE WHEN $3 THEN $4 ELSE description END, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&patch.title)
    .bind(description_set)
    .bind(description)
    .execute(&mut *tx)
    .await?;
    if let Some(qs) = &patch.questions {
        sqlx::query("DELETE FROM survey_questions WHERE survey_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_questions(&mut tx, id, qs).await?;
    }
    let s = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("survey"))?;
    audit(
        &mut tx,
        caller,
        "survey.updated",
        "survey",
        id.to_string(),
        a.customer_id,
        serde_json::to_value(&s).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok(s)
}

/// Deletes a draft survey that has no responses (with its questions). Open
/// and closed surveys hold members' answers and the KPIs read them: 409.
pub async fn delete(db: &PgPool, caller: &Caller, id: SurveyId) -> Result<()> {
    let mut tx = db.begin().await?;
    let (s, a) = load(&mut tx, caller, id, true).await?;
    a.require(Action::Manage)?;
    ensure_status(&s, SurveyStatus::Draft, "survey_not_draft")?;
    // Responses are only accepted while open, so a draft has none; checked
    // anyway, as deleting would cascade to them.
    let responded: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM survey_responses WHERE survey_id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if responded {
        return Err(Error::conflict(
            "survey_has_responses",
            "the survey has responses; close it instead",
        ));
    }
    sqlx::query("DELETE FROM surveys WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        caller,
        "survey.deleted",
        "survey",
        id.to_string(),
        a.customer_id,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Opens a draft survey for responses.
pub async fn open(db: &PgPool, caller: &Caller, id: SurveyId) -> Result<Survey> {
    let mut tx = db.begin().await?;
    let (s, a) = load(&mut tx, caller, id, true).await?;
    a.require(Action::Manage)?;
    ensure_status(&s, SurveyStatus::Draft, "survey_not_draft")?;
    sqlx::query(
        "UPDATE surveys SET status = 'open', opened_at = now(), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        caller,
        "survey.opened",
        "survey",
        id.to_string(),
        a.customer_id,
        None,
    )
    .await?;
    let s = fetch(&mut tx, id, false)
        .await?
        .ok_or(Error::not_found("survey"))?;
    // Session feedback goes to the session's people; other surveys to the CoP.
    let cop_name = notifications::cop_name(&mut tx, s.cop_id).await?;
    let audience = match s.event_id {
        Some(e) => (Audience::EventAttendees, e.0),
        None => (Audience::CopMembers, s.cop_id.0),
    };
    notifications::record(
        &mut tx,
        NewNotification::new(
            Some(a.customer_id),
            NotificationType::SurveyPublished,
            format!("New survey in {cop_name}: {}", s.title),
            s.description.clone().unwrap_or_else(|| s.title.clone()),
        )
        .link(format!("/api/v1/surveys/{id}"))
        .to(audience.0, audience.1)
        .by(caller.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(s)
}

/// Closes an open survey inside the caller's transaction: everything that
/// must happen atomically with closing (e.g. enqueueing the KPI rollup and
/// AI summary jobs) belongs in this function, on `conn`.
pub async fn close_survey(
    conn: &mut PgConnection,
    caller: &Caller,
    id: SurveyId,
) -> Result<Survey> {
    let (s, a) = load(conn, caller, id, true).await?;
    a.require(Action::Manage)?;
    ensure_status(&s, SurveyStatus::Open, "survey_not_open")?;
    sqlx::query(
        "UPDATE surveys SET status = 'closed', closed_at = now(), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    audit(
        conn,
        caller,
        "survey.closed",
        "survey",
        id.to_string(),
        a.customer_id,
        None,
    )
    .await?;
    crate::kpi::rollup::after_survey_closed(conn, caller, id, s.cop_id, a.customer_id).await?;
    let closed = fetch(conn, id, false)
        .await?
        .ok_or(Error::not_found("survey"))?;
    record_event(
        conn,
        a.customer_id,
        WebhookEventType::SurveyClosed,
        webhook_data(&closed),
    )
    .await?;
    Ok(closed)
}

/// Closes an open survey (one transaction; see [`close_survey`]).
pub async fn close(db: &PgPool, caller: &Caller, id: SurveyId) -> Result<Survey> {
    let mut tx = db.begin().await?;
    let s = close_survey(&mut tx, caller, id).await?;
    tx.commit().await?;
    Ok(s)
}

/// One answer as received: `score` for rating and NPS questions, `choices`
/// for choice questions (exactly one for `single_choice`), `text` for text.
#[derive(Debug, Clone, Default)]
pub struct AnswerInput {
    pub question_id: QuestionId,
    pub score: Option<i64>,
    pub choices: Option<Vec<String>>,
    pub text: Option<String>,
}

/// An answer checked against its question: exactly one value is set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ValidAnswer {
    pub question_id: QuestionId,
    pub numeric_value: Option<i16>,
    pub choice_values: Option<Vec<String>>,
    pub text_value: Option<String>,
}

/// Checks `answers` against the survey's `questions`; every problem names
/// its field (`/answers/2/score`, `/answers/0/choices/1`, ...).
pub fn validate_answers(
    questions: &[Question],
    answers: Vec<AnswerInput>,
) -> Result<Vec<ValidAnswer>> {
    let mut v = Validator::new();
    if answers.is_empty() {
        v.push("/answers", "must answer at least one question");
    }
    if answers.len() > MAX_QUESTIONS {
        return Err(Error::field(
            "/answers",
            format!("must contain at most {MAX_QUESTIONS} answers"),
        ));
    }
    let by_id: HashMap<QuestionId, &Question> = questions.iter().map(|q| (q.id, q)).collect();
    let mut seen: HashSet<QuestionId> = HashSet::new();
    let mut out = Vec::with_capacity(answers.len());
    for (i, a) in answers.into_iter().enumerate() {
        let p = |field: &str| format!("/answers/{i}/{field}");
        let Some(q) = by_id.get(&a.question_id) else {
            v.push(&p("question_id"), "is not a question of this survey");
            continue;
        };
        if !seen.insert(q.id) {
            v.push(
                &p("question_id"),
                "this question is answered more than once",
            );
            continue;
        }
        let mut answer = ValidAnswer {
            question_id: q.id,
            numeric_value: None,
            choice_values: None,
            text_value: None,
        };
        let (wanted, ok) = match q.kind {
            QuestionKind::Rating | QuestionKind::Nps => {
                let (lo, hi) = q.kind.score_range().expect("scored");
                match a.score {
                    Some(s) if (i64::from(lo)..=i64::from(hi)).contains(&s) => {
                        answer.numeric_value = Some(s as i16)
                    }
                    Some(_) => v.push(&p("score"), format!("must be between {lo} and {hi}")),
                    None => v.push(
                        &p("score"),
                        format!("a {} question is answered with a score", q.kind.as_str()),
                    ),
                }
                ("score", a.choices.is_none() && a.text.is_none())
            }
            QuestionKind::SingleChoice | QuestionKind::MultiChoice => {
                match &a.choices {
                    None => v.push(&p("choices"), "a choice question is answered with choices"),
                    Some(c) if c.is_empty() => {
                        v.push(&p("choices"), "must name at least one option")
                    }
                    Some(c) if q.kind == QuestionKind::SingleChoice && c.len() > 1 => v.push(
                        &p("choices"),
                        "a single_choice question takes exactly one option",
                    ),
                    Some(c) => {
                        let mut picked: Vec<String> = Vec::with_capacity(c.len());
                        for (j, o) in c.iter().enumerate() {
                            if !q.options.contains(o) {
                                v.push(
                                    &format!("/answers/{i}/choices/{j}"),
                                    "is not one of the question's options",
                                );
                            } else if picked.contains(o) {
                                v.push(&format!("/answers/{i}/choices/{j}"), "duplicate option");
                            } else {
                                picked.push(o.clone());
                            }
                        }
                        answer.choice_values = Some(picked);
                    }
                }
                ("choices", a.score.is_none() && a.text.is_none())
            }
            QuestionKind::Text => {
                match &a.text {
                    Some(t) => {
                        answer.text_value =
                            v.check(&p("text"), values::text(t, TEXT_ANSWER_MAX, true))
                    }
                    None => v.push(&p("text"), "a text question is answered with text"),
                }
                ("text", a.score.is_none() && a.choices.is_none())
            }
        };
        if !ok {
            v.push(
                &format!("/answers/{i}"),
                format!("a {} question takes only `{wanted}`", q.kind.as_str()),
            );
        }
        out.push(answer);
    }
    for q in questions
        .iter()
        .filter(|q| q.required && !seen.contains(&q.id))
    {
        v.push(
            "/answers",
            format!("question {} (\"{}\") is required", q.id, q.prompt),
        );
    }
    v.finish()?;
    Ok(out)
}

/// A stored response (its answers are in `survey_answers`).
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct SurveyResponse {
    pub id: ResponseId,
    pub survey_id: SurveyId,
    pub user_id: UserId,
    pub responded_at: DateTime<Utc>,
}

/// Records the caller's response to an open survey: once per member.
pub async fn respond(
    db: &PgPool,
    caller: &Caller,
    id: SurveyId,
    answers: Vec<AnswerInput>,
) -> Result<SurveyResponse> {
    let mut tx = db.begin().await?;
    let (s, a) = load(&mut tx, caller, id, false).await?;
    a.require(Action::Participate)?;
    ensure_status(&s, SurveyStatus::Open, "survey_not_open")?;
    let answers = validate_answers(&s.questions, answers)?;
    let already = || {
        Error::conflict(
            "already_responded",
            "you have already responded to this survey",
        )
    };
    let response: SurveyResponse = sqlx::query_as(
        "INSERT INTO survey_responses (id, survey_id, user_id) VALUES ($1, $2, $3)
         ON CONFLICT (survey_id, user_id) DO NOTHING
         RETURNING id, survey_id, user_id, responded_at",
    )
    .bind(ResponseId::new())
    .bind(id)
    .bind(caller.user_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(already)?;
    sqlx::query(
        "INSERT INTO survey_answers (response_id, survey_id, question_id, numeric_value, choice_values, text_value)
         SELECT $1, $2, t.question_id, t.numeric_value, t.choice_values, t.text_value
         FROM jsonb_to_recordset($3)
             AS t(question_id uuid, numeric_value smallint, choice_values text[], text_value text)",
    )
    .bind(response.id)
    .bind(id)
    .bind(serde_json::to_value(&answers).map_err(anyhow::Error::new)?)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(response)
}

/// Net Promoter Score from the three groups: % promoters (9–10) − %
/// detractors (0–6), from −100 to 100; `None` without any answer.
pub fn nps_score(promoters: i64, passives: i64, detractors: i64) -> Option<f64> {
    let total = promoters + passives + detractors;
    (total > 0).then(|| 100.0 * (promoters - detractors) as f64 / total as f64)
}

/// The NPS of the CoP's most recently closed survey that has NPS answers.
pub async fn latest_nps(conn: &mut PgConnection, cop: CopId) -> Result<Option<f64>> {
    let (p, n, d): (i64, i64, i64) = sqlx::query_as(
        "WITH nps AS (
             SELECT s.id, s.closed_at, a.numeric_value
             FROM surveys s
             JOIN survey_questions q ON q.survey_id = s.id AND q.kind = 'nps'
             JOIN survey_answers a ON a.survey_id = s.id AND a.question_id = q.id
             WHERE s.cop_id = $1 AND s.status = 'closed'
         ), latest AS (
             SELECT id FROM nps ORDER BY closed_at DESC, id DESC LIMIT 1
         )
         SELECT count(*) FILTER (WHERE numeric_value >= 9),
                count(*) FILTER (WHERE numeric_value BETWEEN 7 AND 8),
                count(*) FILTER (WHERE numeric_value <= 6)
         FROM nps WHERE id = (SELECT id FROM latest)",
    )
    .bind(cop)
    .fetch_one(conn)
    .await?;
    Ok(nps_score(p, n, d))
}

/// How often one score was given.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScoreCount {
    pub score: i16,
    pub count: i64,
}

/// How often one option was chosen, and the share of the question's answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OptionCount {
    pub option: String,
    pub count: i64,
    pub share: f64,
}

/// The aggregate of one question. Which fields are set depends on the kind.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuestionResult {
    pub question_id: QuestionId,
    pub kind: QuestionKind,
    pub prompt: String,
    /// Responses that answered this question (for text questions: the
    /// number of text answers).
    pub answer_count: i64,
    /// Mean score (rating, nps) when answered.
    pub average: Option<f64>,
    /// Every allowed score with its count (rating, nps).
    pub distribution: Option<Vec<ScoreCount>>,
    pub promoters: Option<i64>,
    pub passives: Option<i64>,
    pub detractors: Option<i64>,
    /// NPS (nps questions with answers).
    pub nps: Option<f64>,
    /// Every option with its count and share (choice questions).
    pub options: Option<Vec<OptionCount>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SurveyResults {
    pub survey_id: SurveyId,
    pub status: SurveyStatus,
    pub response_count: i64,
    pub member_count: i64,
    /// Responses ÷ current CoP members; `None` for a CoP without members.
    pub response_rate: Option<f64>,
    pub questions: Vec<QuestionResult>,
}

/// Aggregates a survey's answers per question.
pub async fn results(db: &PgPool, caller: &Caller, id: SurveyId) -> Result<SurveyResults> {
    let mut conn = db.acquire().await?;
    let (s, a) = load(&mut conn, caller, id, false).await?;
    a.require(Action::Read)?;
    let member_count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cop_members WHERE cop_id = $1")
            .bind(s.cop_id)
            .fetch_one(&mut *conn)
            .await?;
    let per_question: Vec<(QuestionId, i64, Option<f64>, i64, i64, i64)> = sqlx::query_as(
        "SELECT question_id, count(*), avg(numeric_value)::float8,
                count(*) FILTER (WHERE numeric_value >= 9),
                count(*) FILTER (WHERE numeric_value BETWEEN 7 AND 8),
                count(*) FILTER (WHERE numeric_value <= 6)
         FROM survey_answers WHERE survey_id = $1 GROUP BY question_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let scores: Vec<(QuestionId, i16, i64)> = sqlx::query_as(
        "SELECT question_id, numeric_value, count(*) FROM survey_answers
         WHERE survey_id = $1 AND numeric_value IS NOT NULL GROUP BY 1, 2",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let choices: Vec<(QuestionId, String, i64)> = sqlx::query_as(
        "SELECT a.question_id, c.option, count(*) FROM survey_answers a
         CROSS JOIN LATERAL unnest(a.choice_values) AS c(option)
         WHERE a.survey_id = $1 GROUP BY 1, 2",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let stats: HashMap<QuestionId, (i64, Option<f64>, i64, i64, i64)> = per_question
        .into_iter()
        .map(|(q, n, avg, p, m, d)| (q, (n, avg, p, m, d)))
        .collect();
    let score_counts: HashMap<(QuestionId, i16), i64> =
        scores.into_iter().map(|(q, s, n)| ((q, s), n)).collect();
    let choice_counts: HashMap<(QuestionId, String), i64> =
        choices.into_iter().map(|(q, o, n)| ((q, o), n)).collect();
    let questions = s
        .questions
        .iter()
        .map(|q| {
            let (n, average, p, m, d) = stats.get(&q.id).copied().unwrap_or((0, None, 0, 0, 0));
            let is_nps = q.kind == QuestionKind::Nps;
            QuestionResult {
                question_id: q.id,
                kind: q.kind,
                prompt: q.prompt.clone(),
                answer_count: n,
                average: q.kind.score_range().and(average),
                distribution: q.kind.score_range().map(|(lo, hi)| {
                    (lo..=hi)
                        .map(|score| ScoreCount {
                            score,
                            count: score_counts.get(&(q.id, score)).copied().unwrap_or(0),
                        })
                        .collect()
                }),
                promoters: is_nps.then_some(p),
                passives: is_nps.then_some(m),
                detractors: is_nps.then_some(d),
                nps: if is_nps { nps_score(p, m, d) } else { None },
                options: q.kind.is_choice().then(|| {
                    q.options
                        .iter()
                        .map(|o| {
                            let count = choice_counts.get(&(q.id, o.clone())).copied().unwrap_or(0);
                            OptionCount {
                                option: o.clone(),
                                count,
                                share: if n > 0 { count as f64 / n as f64 } else { 0.0 },
                            }
                        })
                        .collect()
                }),
            }
        })
        .collect();
    Ok(SurveyResults {
        survey_id: s.id,
        status: s.status,
        response_count: s.response_count,
        member_count,
        response_rate: (member_count > 0).then(|| s.response_count as f64 / member_count as f64),
        questions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(kind: QuestionKind, options: &[&str], required: bool) -> Question {
        Question {
            id: QuestionId::new(),
            survey_id: SurveyId::new(),
            position: 0,
            kind,
            prompt: "?".into(),
            options: options.iter().map(|s| s.to_string()).collect(),
            required,
        }
    }

    fn pointers(r: Result<Vec<ValidAnswer>>) -> Vec<String> {
        match r {
            Err(Error::Validation(e)) => e.into_iter().map(|e| e.pointer).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nps_formula() {
        assert_eq!(nps_score(0, 0, 0), None);
        assert_eq!(nps_score(5, 3, 2), Some(30.0));
        assert_eq!(nps_score(0, 0, 4), Some(-100.0));
    }

    #[test]
    fn answers_are_checked_against_questions() {
        let qs = vec![
            q(QuestionKind::Rating, &[], true),
            q(QuestionKind::Nps, &[], false),
            q(QuestionKind::SingleChoice, &["a", "b"], false),
            q(QuestionKind::MultiChoice, &["x", "y", "z"], false),
            q(QuestionKind::Text, &[], false),
        ];
        let ok = validate_answers(
            &qs,
            vec![
                AnswerInput {
                    question_id: qs[0].id,
                    score: Some(5),
                    ..Default::default()
                },
                AnswerInput {
                    question_id: qs[3].id,
                    choices: Some(vec!["x".into(), "z".into()]),
                    ..Default::default()
                },
                AnswerInput {
                    question_id: qs[4].id,
                    text: Some(" fine ".into()),
                    ..Default::default()
                },
            ],
        )
        .unwrap();
        assert_eq!(ok[2].text_value.as_deref(), Some("fine"));

        let bad = validate_answers(
            &qs,
            vec![
                AnswerInput {
                    question_id: qs[1].id,
                    score: Some(11),
                    ..Default::default()
                },
                AnswerInput {
                    question_id: qs[2].id,
                    choices: Some(vec!["c".into()]),
                    ..Default::default()
                },
                AnswerInput {
                    question_id: QuestionId::new(),
                    score: Some(1),
                    ..Default::default()
                },
                AnswerInput {
                    question_id: qs[4].id,
                    score: Some(1),
                    text: Some("t".into()),
                    ..Default::default()
                },
                AnswerInput {
                    question_id: qs[4].id,
                    text: Some("again".into()),
                    ..Default::default()
                },
            ],
        );
        assert_eq!(
            pointers(bad),
            [
                "/answers/0/score",
                "/answers/1/choices/0",
                "/answers/2/question_id",
                "/answers/3",
                "/answers/4/question_id",
                "/answers"
            ]
        );
    }
}
