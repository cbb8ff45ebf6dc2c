//! Coaching: people and reporting lines, one-to-one sessions.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    coaching::{
        CoachingSessionId,
        access::CoachingRole,
        people::{self, CoachingPersonView, GrantInput, PersonFilter},
        sessions::{
            self, CoachingSessionView, NewSessionInput, Scores, SessionFilter, SessionPatch,
            SessionStatus,
        },
    },
    files::FileId,
    ids::{CustomerId, UserId},
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::{Example, MaybeUndefined},
};

use crate::types::{Created, NoContent, Page, Tag};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

crate::list_query! {
    /// The query of `GET /api/v1/coaching/people`.
    pub struct PeopleQuery {
        /// Only people of this customer.
        customer_id: Option<CustomerId>,
        /// Only people with this coaching role.
        role: Option<CoachingRole>,
        /// Only the people who report to this team leader.
        team_leader_id: Option<UserId>,
        /// Only the people this manager manages directly.
        managed_by: Option<UserId>,
    }
}

crate::list_query! {
    /// The query of `GET /api/v1/coaching/sessions`.
    pub struct SessionsQuery {
        /// Only sessions of this customer.
        customer_id: Option<CustomerId>,
        /// Only sessions of this agent.
        agent_id: Option<UserId>,
        /// Only sessions led by this team leader.
        team_leader_id: Option<UserId>,
        /// Only sessions with this status.
        status: Option<SessionStatus>,
        /// Sessions starting at or after this time (RFC 3339).
        from: Option<DateTime<Utc>>,
        /// Sessions starting before this time (RFC 3339).
        to: Option<DateTime<Utc>>,
    }
}

pub struct CoachingApi;

/// A person's coaching role in a customer and their reporting lines. The
/// team leader must hold `team_leader`, the manager `manager` or
/// `coaching_admin`, in the same customer.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct PutCoachingPerson {
    /// The customer; the person's only customer when absent.
    pub customer_id: Option<CustomerId>,
    pub role: CoachingRole,
    /// Their manager.
    pub managed_by: Option<UserId>,
    /// The team leader they report to.
    pub team_leader_id: Option<UserId>,
    #[oai(validator(max_length = 64))]
    pub employee_id: Option<String>,
    #[oai(validator(max_length = 200))]
    pub department: Option<String>,
}

impl Example for PutCoachingPerson {
    fn example() -> Self {
        Self {
            customer_id: None,
            role: CoachingRole::Agent,
            managed_by: None,
            team_leader_id: Some(UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            ))),
            employee_id: Some("E-10442".into()),
            department: Some("Customer Care".into()),
        }
    }
}

/// The person's coaching row, new or changed.
#[derive(ApiResponse)]
pub enum PersonSaved {
    /// Changed.
    #[oai(status = 200)]
    Updated(Json<CoachingPersonView>),
    /// Granted.
    #[oai(status = 201)]
    Created(Json<CoachingPersonView>),
}

/// A new session between an agent and their team leader.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateCoachingSession {
    /// The customer; the agent's only customer when absent.
    #[oai(skip_serializing_if_is_none)]
    pub customer_id: Option<CustomerId>,
    pub agent_id: UserId,
    /// The caller when they are a team leader, else the agent's team leader.
    #[oai(skip_serializing_if_is_none)]
    pub team_leader_id: Option<UserId>,
    pub starts_at: DateTime<Utc>,
    /// 5–480.
    pub duration_minutes: i64,
    /// IANA time zone, e.g. `Europe/London`.
    pub time_zone: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 500))]
    pub location: Option<String>,
    /// An http(s) URL.
    #[oai(skip_serializing_if_is_none, validator(max_length = 2048))]
    pub join_url: Option<String>,
    #[oai(skip_serializing_if_is_none, validator(max_length = 10000))]
    pub preparation_notes: Option<String>,
    /// At most 20.
    #[serde(default)]
    #[oai(default, validator(max_items = 20))]
    pub focus_areas: Vec<String>,
}

impl Example for CreateCoachingSession {
    fn example() -> Self {
        Self {
            customer_id: None,
            agent_id: UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            )),
            team_leader_id: None,
            starts_at: DateTime::parse_from_rfc3339("2026-12-10T10:00:00Z")
                .expect("valid")
                .with_timezone(&Utc),
            duration_minutes: 30,
            time_zone: "Europe/London".into(),
            location: None,
            join_url: Some("https://meet.example.com/coaching-ana".into()),
            preparation_notes: Some("Review last week's escalations.".into()),
            focus_areas: vec!["call_control".into(), "empathy".into()],
        }
    }
}

/// Changes to a session; absent fields stay, `null` clears optional ones.
/// A scheduled session's time and place (moving it bumps `sequence` and
/// sends updates); a completed one's notes, scores and recording, by its
/// team leader for 7 days. `status` takes `in_progress` or `no_show`
/// (cancel and complete have their own operations); `notes` and `scores`
/// are for completed sessions.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateCoachingSession {
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i64>,
    pub time_zone: Option<String>,
    #[serde(default)]
    pub location: MaybeUndefined<String>,
    #[serde(default)]
    pub join_url: MaybeUndefined<String>,
    #[serde(default)]
    pub preparation_notes: MaybeUndefined<String>,
    pub focus_areas: Option<Vec<String>>,
    pub status: Option<SessionStatus>,
    #[serde(default)]
    pub recording_file_id: MaybeUndefined<FileId>,
    /// Markdown (completed sessions).
    #[serde(default)]
    pub notes: MaybeUndefined<String>,
    #[serde(default)]
    pub scores: MaybeUndefined<Scores>,
}

impl Example for UpdateCoachingSession {
    fn example() -> Self {
        Self {
            starts_at: Some(
                DateTime::parse_from_rfc3339("2026-12-10T14:00:00Z")
                    .expect("valid")
                    .with_timezone(&Utc),
            ),
            duration_minutes: Some(45),
            time_zone: None,
            location: MaybeUndefined::Undefined,
            join_url: MaybeUndefined::Undefined,
            preparation_notes: MaybeUndefined::Undefined,
            focus_areas: None,
            status: None,
            recording_file_id: MaybeUndefined::Undefined,
            notes: MaybeUndefined::Undefined,
            scores: MaybeUndefined::Undefined,
        }
    }
}

/// Completes a session with its notes (Markdown) and scores.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct CompleteCoachingSession {
    #[oai(validator(max_length = 20000))]
    pub notes: Option<String>,
    pub scores: Option<Scores>,
}

impl Example for CompleteCoachingSession {
    fn example() -> Self {
        Self {
            notes: Some(
                "**Strong** opening; work on *hold etiquette*.\n\n- agreed: shadow Sam on Friday"
                    .into(),
            ),
            scores: Some(Scores {
                before: Some(62),
                after: Some(71),
                criteria: vec![sessions::CriterionScore {
                    name: "empathy".into(),
                    before: Some(70),
                    after: Some(80),
                }],
            }),
        }
    }
}

#[OpenApi(tag = "Tag::Coaching")]
impl CoachingApi {
    /// Grants a person a coaching role in a customer, with their reporting
    /// lines (coaching admins).
    #[oai(
        path = "/api/v1/coaching/people/:user_id",
        method = "put",
        operation_id = "coaching_people_put"
    )]
    async fn put_person(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        user_id: Path<UserId>,
        body: JsonBody<PutCoachingPerson>,
    ) -> ApiResult<PersonSaved> {
        let b = body.value;
        let (p, created) = people::grant(
            &state.db,
            &auth.0,
            user_id.0,
            GrantInput {
                customer_id: b.customer_id,
                role: b.role,
                managed_by: b.managed_by,
                team_leader_id: b.team_leader_id,
                employee_id: b.employee_id,
                department: b.department,
            },
        )
        .await?;
        Ok(if created {
            PersonSaved::Created(Json(p.into()))
        } else {
            PersonSaved::Updated(Json(p.into()))
        })
    }

    /// Revokes a person's coaching role (coaching admins); their sessions stay.
    #[oai(
        path = "/api/v1/coaching/people/:user_id",
        method = "delete",
        operation_id = "coaching_people_delete"
    )]
    async fn delete_person(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        user_id: Path<UserId>,
        /// The customer; the person's only customer when absent.
        customer_id: Query<Option<CustomerId>>,
    ) -> ApiResult<NoContent> {
        people::revoke(&state.db, &auth.0, user_id.0, customer_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Lists the people in coaching within the caller's reach.
    #[oai(
        path = "/api/v1/coaching/people",
        method = "get",
        operation_id = "coaching_people_list"
    )]
    async fn list_people(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: PeopleQuery,
    ) -> ApiResult<Json<Page<CoachingPersonView>>> {
        let f = PersonFilter {
            customer_id: query.customer_id,
            role: query.role,
            team_leader_id: query.team_leader_id,
            managed_by: query.managed_by,
        };
        let page = people::list(&state.db, &auth.0, &f, &query.page).await?;
        Ok(Json(Page::from_domain(page, CoachingPersonView::from)))
    }

    /// Schedules a session; the agent and the team leader get a calendar
    /// invitation. 422 `agent_not_in_team` when the agent does not report to
    /// the team leader (coaching admins may pair anyone); 409
    /// `session_overlap` naming the agent's clashing session.
    #[oai(
        path = "/api/v1/coaching/sessions",
        method = "post",
        operation_id = "coaching_sessions_create"
    )]
    async fn create_session(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<CreateCoachingSession>,
    ) -> ApiResult<Created<CoachingSessionView>> {
        let b = body.value;
        let s = sessions::create(
            &state.db,
            &state.settings.coaching_keys,
            &auth.0,
            NewSessionInput {
                customer_id: b.customer_id,
                agent_id: b.agent_id,
                team_leader_id: b.team_leader_id,
                starts_at: b.starts_at,
                duration_minutes: b.duration_minutes,
                time_zone: b.time_zone,
                location: b.location,
                join_url: b.join_url,
                preparation_notes: b.preparation_notes,
                focus_areas: b.focus_areas,
            },
        )
        .await?;
        Ok(Created::Created(Json(s.into())))
    }

    /// Lists the sessions within the caller's reach by start time.
    #[oai(
        path = "/api/v1/coaching/sessions",
        method = "get",
        operation_id = "coaching_sessions_list"
    )]
    async fn list_sessions(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: SessionsQuery,
    ) -> ApiResult<Json<Page<CoachingSessionView>>> {
        let f = SessionFilter {
            customer_id: query.customer_id,
            agent_id: query.agent_id,
            team_leader_id: query.team_leader_id,
            status: query.status,
            from: query.from,
            to: query.to,
        };
        let page = sessions::list(
            &state.db,
            &state.settings.coaching_keys,
            &auth.0,
            &f,
            &query.page,
        )
        .await?;
        Ok(Json(Page::from_domain(page, CoachingSessionView::from)))
    }

    /// Gets a session (with its notes, sanitised as `notes_html`, and scores).
    #[oai(
        path = "/api/v1/coaching/sessions/:session_id",
        method = "get",
        operation_id = "coaching_sessions_get"
    )]
    async fn get_session(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        session_id: Path<CoachingSessionId>,
    ) -> ApiResult<Json<CoachingSessionView>> {
        let s = sessions::get(
            &state.db,
            &state.settings.coaching_keys,
            &auth.0,
            session_id.0,
        )
        .await?;
        Ok(Json(s.into()))
    }

    /// Updates a session. 409 `session_edit_window_closed` for a completed
    /// session more than 7 days after completion.
    #[oai(
        path = "/api/v1/coaching/sessions/:session_id",
        method = "patch",
        operation_id = "coaching_sessions_update"
    )]
    async fn update_session(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        session_id: Path<CoachingSessionId>,
        body: JsonBody<UpdateCoachingSession>,
    ) -> ApiResult<Json<CoachingSessionView>> {
        let b = body.value;
        let patch = SessionPatch {
            starts_at: b.starts_at,
            duration_minutes: b.duration_minutes,
            time_zone: b.time_zone,
            location: b.location.into(),
            join_url: b.join_url.into(),
            preparation_notes: b.preparation_notes.into(),
            focus_areas: b.focus_areas,
            status: b.status,
            recording_file_id: b.recording_file_id.into(),
            notes: b.notes.into(),
            scores: b.scores.into(),
        };
        let s = sessions::update(
            &state.db,
            &state.settings.coaching_keys,
            &auth.0,
            session_id.0,
            patch,
        )
        .await?;
        Ok(Json(s.into()))
    }

    /// Cancels a session (bumps `sequence`); both people get a cancellation.
    #[oai(
        path = "/api/v1/coaching/sessions/:session_id/cancel",
        method = "post",
        operation_id = "coaching_sessions_cancel"
    )]
    async fn cancel_session(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        session_id: Path<CoachingSessionId>,
    ) -> ApiResult<Json<CoachingSessionView>> {
        let s = sessions::cancel(
            &state.db,
            &state.settings.coaching_keys,
            &auth.0,
            session_id.0,
        )
        .await?;
        Ok(Json(s.into()))
    }

    /// Completes a session with notes and scores (its team leader or a
    /// coaching admin).
    #[oai(
        path = "/api/v1/coaching/sessions/:session_id/complete",
        method = "post",
        operation_id = "coaching_sessions_complete"
    )]
    async fn complete_session(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        session_id: Path<CoachingSessionId>,
        body: JsonBody<CompleteCoachingSession>,
    ) -> ApiResult<Json<CoachingSessionView>> {
        let b = body.value;
        let s = sessions::complete(
            &state.db,
            &state.settings.coaching_keys,
            &auth.0,
            session_id.0,
            b.notes,
            b.scores,
        )
        .await?;
        Ok(Json(s.into()))
    }
}
