//! Surveys: questions, responses and aggregated results.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    ai::{self, types::SurveySummary},
    ids::{CopId, EventId, QuestionId, ResponseId, SurveyId, UserId},
    portal::surveys::{
        self, AnswerInput, NewSurvey, NewSurveyInput, OptionCount, QuestionInput, QuestionKind,
        QuestionResult, ScoreCount, SurveyFilter, SurveyKind, SurveyPatch, SurveyResponse,
        SurveyResults, SurveyStatus, SurveyView,
    },
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::Path,
    payload::Json,
    types::{Example, MaybeUndefined},
};

use crate::types::{Created, NoContent, Page, Tag};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

crate::list_query! {
    /// The query of `GET /api/v1/cops/{cop_id}/surveys`.
    pub struct SurveysQuery {
        /// Only surveys of this kind.
        kind: Option<SurveyKind>,
        /// Only surveys in this status.
        status: Option<SurveyStatus>,
        /// Only the surveys of this event.
        event_id: Option<EventId>,
    }
}

pub struct SurveysApi;

/// A question of a new survey (its id is generated).
#[derive(Object, serde::Deserialize)]
pub struct CreateQuestion {
    pub kind: QuestionKind,
    #[oai(validator(min_length = 1, max_length = 500))]
    pub prompt: String,
    /// 2–50 distinct options for choice questions; none otherwise.
    #[serde(default)]
    #[oai(default, validator(max_items = 50))]
    pub options: Vec<String>,
    /// Whether every response must answer it (default false).
    #[serde(default)]
    #[oai(default)]
    pub required: bool,
}

fn questions(qs: Vec<CreateQuestion>) -> Vec<QuestionInput> {
    qs.into_iter()
        .map(|q| QuestionInput {
            kind: q.kind,
            prompt: q.prompt,
            options: q.options,
            required: q.required,
        })
        .collect()
}

/// A new survey (created as `draft`). `event_id` is required for
/// `session_feedback` surveys (an event of the same CoP) and forbidden otherwise.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateSurvey {
    pub kind: SurveyKind,
    #[oai(skip_serializing_if_is_none)]
    pub event_id: Option<EventId>,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 5000))]
    pub description: Option<String>,
    /// 1–50 questions.
    #[oai(validator(min_items = 1, max_items = 50))]
    pub questions: Vec<CreateQuestion>,
}

impl Example for CreateSurvey {
    fn example() -> Self {
        Self {
            kind: SurveyKind::CopHealth,
            event_id: None,
            title: "Quarterly CoP health check".into(),
            description: None,
            questions: vec![
                CreateQuestion {
                    kind: QuestionKind::Nps,
                    prompt: "How likely are you to recommend this CoP to a colleague?".into(),
                    options: vec![],
                    required: true,
                },
                CreateQuestion {
                    kind: QuestionKind::SingleChoice,
                    prompt: "Which session format works best?".into(),
                    options: vec!["Office hours".into(), "Deep dives".into()],
                    required: false,
                },
                CreateQuestion {
                    kind: QuestionKind::Text,
                    prompt: "What should we do differently?".into(),
                    options: vec![],
                    required: false,
                },
            ],
        }
    }
}

/// Changes to a draft survey; `questions` replaces every question (new ids).
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateSurvey {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    #[serde(default)]
    pub description: MaybeUndefined<String>,
    #[oai(validator(min_items = 1, max_items = 50))]
    pub questions: Option<Vec<CreateQuestion>>,
}

impl Example for UpdateSurvey {
    fn example() -> Self {
        Self {
            title: Some("Q4 CoP health check".into()),
            description: MaybeUndefined::Value("Five minutes, anonymous to other members.".into()),
            questions: Some(vec![
                CreateQuestion {
                    kind: QuestionKind::Nps,
                    prompt: "How likely are you to recommend this CoP to a colleague?".into(),
                    options: vec![],
                    required: true,
                },
                CreateQuestion {
                    kind: QuestionKind::Rating,
                    prompt: "How useful were this quarter's sessions?".into(),
                    options: vec![],
                    required: false,
                },
            ]),
        }
    }
}

/// An answer to one question: `score` for `rating` (1–5) and `nps` (0–10),
/// `choices` for choice questions (exactly one for `single_choice`), `text`
/// for `text` questions.
#[derive(Object, serde::Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct AnswerBody {
    pub question_id: QuestionId,
    pub score: Option<i64>,
    pub choices: Option<Vec<String>>,
    #[oai(validator(max_length = 5000))]
    pub text: Option<String>,
}

/// The caller's response to an open survey.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateResponse {
    #[oai(validator(max_items = 50))]
    pub answers: Vec<AnswerBody>,
}

impl Example for CreateResponse {
    fn example() -> Self {
        let q = |n: u128| {
            QuestionId(uuid::Uuid::from_u128(
                0x0193_5c30_4c5d_7e44_9d6e_7f80_91a2_b300 + n,
            ))
        };
        Self {
            answers: vec![
                AnswerBody {
                    question_id: q(1),
                    score: Some(9),
                    choices: None,
                    text: None,
                },
                AnswerBody {
                    question_id: q(2),
                    score: None,
                    choices: Some(vec!["Office hours".into()]),
                    text: None,
                },
                AnswerBody {
                    question_id: q(3),
                    score: None,
                    choices: None,
                    text: Some("More hands-on labs, please.".into()),
                },
            ],
        }
    }
}

/// A recorded response.
#[derive(Object)]
#[oai(example)]
pub struct ResponseView {
    pub id: ResponseId,
    pub survey_id: SurveyId,
    pub user_id: UserId,
    pub responded_at: DateTime<Utc>,
}

impl Example for ResponseView {
    fn example() -> Self {
        Self {
            id: ResponseId(uuid::Uuid::from_u128(
                0x0193_5c25_6071_7288_9192_a3b4_c5d6_e7f8,
            )),
            survey_id: SurveyId(uuid::Uuid::from_u128(
                0x0193_5c26_7182_7399_a2a3_b4c5_d6e7_f809,
            )),
            user_id: UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            )),
            responded_at: chrono::DateTime::parse_from_rfc3339("2026-12-03T16:05:00Z")
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
        }
    }
}

impl From<SurveyResponse> for ResponseView {
    fn from(r: SurveyResponse) -> Self {
        Self {
            id: r.id,
            survey_id: r.survey_id,
            user_id: r.user_id,
            responded_at: r.responded_at,
        }
    }
}

/// How often a score was given.
#[derive(Object)]
pub struct ScoreCountView {
    pub score: i16,
    pub count: i64,
}

impl From<ScoreCount> for ScoreCountView {
    fn from(s: ScoreCount) -> Self {
        Self {
            score: s.score,
            count: s.count,
        }
    }
}

/// How often an option was chosen; `share` = count ÷ answers to the
/// question (0–1; for `multi_choice` the shares can add up to more than 1).
#[derive(Object)]
pub struct OptionCountView {
    pub option: String,
    pub count: i64,
    pub share: f64,
}

impl From<OptionCount> for OptionCountView {
    fn from(o: OptionCount) -> Self {
        Self {
            option: o.option,
            count: o.count,
            share: o.share,
        }
    }
}

/// The aggregate of one question. `average` and `distribution` are set for
/// `rating` and `nps`; `promoters` (9–10), `passives` (7–8), `detractors`
/// (0–6) and `nps` (% promoters − % detractors, absent without answers)
/// for `nps`; `options` for choice questions.
#[derive(Object)]
pub struct QuestionResultView {
    pub question_id: QuestionId,
    pub kind: QuestionKind,
    pub prompt: String,
    /// Responses answering this question (for `text`: the number of text answers).
    pub answer_count: i64,
    #[oai(skip_serializing_if_is_none)]
    pub average: Option<f64>,
    #[oai(skip_serializing_if_is_none)]
    pub distribution: Option<Vec<ScoreCountView>>,
    #[oai(skip_serializing_if_is_none)]
    pub promoters: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub passives: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub detractors: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub nps: Option<f64>,
    #[oai(skip_serializing_if_is_none)]
    pub options: Option<Vec<OptionCountView>>,
}

impl From<QuestionResult> for QuestionResultView {
    fn from(q: QuestionResult) -> Self {
        Self {
            question_id: q.question_id,
            kind: q.kind,
            prompt: q.prompt,
            answer_count: q.answer_count,
            average: q.average,
            distribution: q
                .distribution
                .map(|d| d.into_iter().map(Into::into).collect()),
            promoters: q.promoters,
            passives: q.passives,
            detractors: q.detractors,
            nps: q.nps,
            options: q.options.map(|o| o.into_iter().map(Into::into).collect()),
        }
    }
}

/// Aggregated results of a survey.
#[derive(Object)]
pub struct SurveyResultsView {
    pub survey_id: SurveyId,
    pub status: SurveyStatus,
    pub response_count: i64,
    /// Current members of the CoP.
    pub member_count: i64,
    /// `response_count` ÷ `member_count`; absent for a CoP without members.
    #[oai(skip_serializing_if_is_none)]
    pub response_rate: Option<f64>,
    pub questions: Vec<QuestionResultView>,
    #[oai(skip_serializing_if_is_none)]
    pub ai_summary: Option<SurveySummary>,
}

impl From<SurveyResults> for SurveyResultsView {
    fn from(r: SurveyResults) -> Self {
        Self {
            survey_id: r.survey_id,
            status: r.status,
            response_count: r.response_count,
            member_count: r.member_count,
            response_rate: r.response_rate,
            questions: r.questions.into_iter().map(Into::into).collect(),
            ai_summary: None,
        }
    }
}

#[OpenApi(tag = "Tag::Surveys")]
impl SurveysApi {
    /// Creates a draft survey in a CoP.
    #[oai(
        path = "/api/v1/cops/:cop_id/surveys",
        method = "post",
        operation_id = "surveys_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        body: JsonBody<CreateSurvey>,
    ) -> ApiResult<Created<SurveyView>> {
        let b = body.value;
        let input = NewSurvey::parse(NewSurveyInput {
            kind: b.kind,
            event_id: b.event_id,
            title: b.title,
            description: b.description,
            questions: questions(b.questions),
        })?;
        Ok(Created::Created(Json(
            surveys::create(&state.db, &auth.0, cop_id.0, input)
                .await?
                .into(),
        )))
    }

    /// Lists a CoP's surveys, newest first.
    #[oai(
        path = "/api/v1/cops/:cop_id/surveys",
        method = "get",
        operation_id = "surveys_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        query: SurveysQuery,
    ) -> ApiResult<Json<Page<SurveyView>>> {
        let filter = SurveyFilter {
            kind: query.kind,
            status: query.status,
            event_id: query.event_id,
        };
        let page = surveys::list(&state.db, &auth.0, cop_id.0, &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, SurveyView::from)))
    }

    /// Gets a survey with its questions.
    #[oai(
        path = "/api/v1/surveys/:survey_id",
        method = "get",
        operation_id = "surveys_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        survey_id: Path<SurveyId>,
    ) -> ApiResult<Json<SurveyView>> {
        Ok(Json(
            surveys::get(&state.db, &auth.0, survey_id.0).await?.into(),
        ))
    }

    /// Updates a draft survey (409 once it is open).
    #[oai(
        path = "/api/v1/surveys/:survey_id",
        method = "patch",
        operation_id = "surveys_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        survey_id: Path<SurveyId>,
        body: JsonBody<UpdateSurvey>,
    ) -> ApiResult<Json<SurveyView>> {
        let b = body.value;
        let description: Option<Option<String>> = b.description.into();
        let patch = SurveyPatch::parse(
            b.title.as_deref(),
            description.as_ref().map(|d| d.as_deref()),
            b.questions.map(questions),
        )?;
        Ok(Json(
            surveys::update(&state.db, &auth.0, survey_id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Deletes a draft survey with its questions (409 once it has been
    /// opened: its responses stay, close it instead).
    #[oai(
        path = "/api/v1/surveys/:survey_id",
        method = "delete",
        operation_id = "surveys_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        survey_id: Path<SurveyId>,
    ) -> ApiResult<NoContent> {
        surveys::delete(&state.db, &auth.0, survey_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Opens a draft survey for responses.
    #[oai(
        path = "/api/v1/surveys/:survey_id/open",
        method = "post",
        operation_id = "surveys_open"
    )]
    async fn open(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        survey_id: Path<SurveyId>,
    ) -> ApiResult<Json<SurveyView>> {
        Ok(Json(
            surveys::open(&state.db, &auth.0, survey_id.0).await?.into(),
        ))
    }

    /// Closes an open survey; no more responses are accepted.
    #[oai(
        path = "/api/v1/surveys/:survey_id/close",
        method = "post",
        operation_id = "surveys_close"
    )]
    async fn close(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        survey_id: Path<SurveyId>,
    ) -> ApiResult<Json<SurveyView>> {
        Ok(Json(
            surveys::close(&state.db, &auth.0, survey_id.0)
                .await?
                .into(),
        ))
    }

    /// Responds to an open survey (members of its CoP, once each). Answers
    /// are checked against the questions; problems name `/answers/N/...`.
    #[oai(
        path = "/api/v1/surveys/:survey_id/responses",
        method = "post",
        operation_id = "surveys_respond"
    )]
    async fn respond(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        survey_id: Path<SurveyId>,
        body: JsonBody<CreateResponse>,
    ) -> ApiResult<Created<ResponseView>> {
        let answers = body
            .value
            .answers
            .into_iter()
            .map(|a| AnswerInput {
                question_id: a.question_id,
                score: a.score,
                choices: a.choices,
                text: a.text,
            })
            .collect();
        let r = surveys::respond(&state.db, &auth.0, survey_id.0, answers).await?;
        Ok(Created::Created(Json(r.into())))
    }

    /// Aggregated results per question: counts, averages, NPS, choice
    /// shares, and the response rate (responses ÷ CoP members); with
    /// `ai_summary`, the latest successful AI summary of the free-text
    /// answers (see `POST /surveys/{survey_id}/ai/summary`).
    #[oai(
        path = "/api/v1/surveys/:survey_id/results",
        method = "get",
        operation_id = "surveys_results"
    )]
    async fn results(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        survey_id: Path<SurveyId>,
    ) -> ApiResult<Json<SurveyResultsView>> {
        let mut view: SurveyResultsView = surveys::results(&state.db, &auth.0, survey_id.0)
            .await?
            .into();
        // The results call checked access; add the latest AI summary, if any.
        view.ai_summary = ai::repo::summary_of(&state.db, survey_id.0)
            .await?
            .map(|s| s.result);
        Ok(Json(view))
    }
}
