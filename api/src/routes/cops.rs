//! Communities of practice (CoPs) and their members.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    ids::{CopId, CustomerId, UserId},
    portal::{
        access::CopRole,
        cops::{self, Cop, CopDetail, CopFilter, CopPatch, CopPhase, CopStats, CopStatus, NewCop},
        members::{self, Member},
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
    /// The query of `GET /api/v1/cops`.
    pub struct CopsQuery {
        /// Only CoPs of this customer.
        customer_id: Option<CustomerId>,
        /// Only CoPs owned by this user.
        owner_id: Option<UserId>,
        /// Only CoPs in this phase.
        phase: Option<CopPhase>,
        /// Only CoPs with this status.
        status: Option<CopStatus>,
        /// Case-insensitive search in the name.
        q: Option<String>,
        /// Include archived CoPs (default false).
        include_archived: Option<bool>,
    }
}

crate::list_query! {
    /// The query of `GET /api/v1/cops/{cop_id}/members`.
    pub struct MembersQuery {
        /// Only members with this role.
        role: Option<CopRole>,
    }
}

pub struct CopsApi;

/// Activity figures of a CoP, computed when it is read.
#[derive(Object)]
pub struct CopStatsView {
    /// Members of the CoP (any role).
    pub member_count: i64,
    /// Scheduled (not cancelled) events that started in the last 90 days.
    pub sessions_last_90_days: i64,
    /// The NPS (−100…100) of the most recently closed survey with NPS answers.
    #[oai(skip_serializing_if_is_none)]
    pub latest_nps: Option<f64>,
}

impl From<CopStats> for CopStatsView {
    fn from(s: CopStats) -> Self {
        Self {
            member_count: s.member_count,
            sessions_last_90_days: s.sessions_last_90_days,
            latest_nps: s.latest_nps,
        }
    }
}

/// A community of practice. `stats` is present when a single CoP is read
/// (get, create, update), absent in lists.
#[derive(Object)]
pub struct CopView {
    pub id: CopId,
    pub customer_id: CustomerId,
    pub name: String,
    /// The user responsible for the CoP (a user of its customer).
    #[oai(skip_serializing_if_is_none)]
    pub owner_id: Option<UserId>,
    pub phase: CopPhase,
    pub status: CopStatus,
    #[oai(skip_serializing_if_is_none)]
    pub mission: Option<String>,
    /// The CoP's charter (markdown).
    #[oai(skip_serializing_if_is_none)]
    pub charter: Option<String>,
    /// Set when the CoP was archived (soft-deleted).
    #[oai(skip_serializing_if_is_none)]
    pub archived_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub stats: Option<CopStatsView>,
}

impl From<Cop> for CopView {
    fn from(c: Cop) -> Self {
        Self {
            id: c.id,
            customer_id: c.customer_id,
            name: c.name,
            owner_id: c.owner_id,
            phase: c.phase,
            status: c.status,
            mission: c.mission,
            charter: c.charter,
            archived_at: c.archived_at,
            created_by: c.created_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
            stats: None,
        }
    }
}

impl From<CopDetail> for CopView {
    fn from(d: CopDetail) -> Self {
        Self {
            stats: Some(d.stats.into()),
            ..d.cop.into()
        }
    }
}

/// A new CoP.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateCop {
    /// The customer (tenant) the CoP belongs to.
    pub customer_id: CustomerId,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// A user of the customer; defaults to the caller when they are one.
    #[oai(skip_serializing_if_is_none)]
    pub owner_id: Option<UserId>,
    #[oai(skip_serializing_if_is_none)]
    pub phase: Option<CopPhase>,
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<CopStatus>,
    #[oai(skip_serializing_if_is_none, validator(max_length = 2000))]
    pub mission: Option<String>,
    #[oai(skip_serializing_if_is_none, validator(max_length = 20000))]
    pub charter: Option<String>,
}

impl Example for CreateCop {
    fn example() -> Self {
        Self {
            customer_id: CustomerId(uuid::Uuid::nil()),
            name: "Data Engineering CoP".into(),
            owner_id: None,
            phase: Some(CopPhase::Launch),
            status: None,
            mission: Some("Share lakehouse patterns across teams.".into()),
            charter: None,
        }
    }
}

/// Changes to a CoP; absent fields stay, `null` clears `mission`/`charter`.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateCop {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    pub owner_id: Option<UserId>,
    pub phase: Option<CopPhase>,
    pub status: Option<CopStatus>,
    #[serde(default)]
    pub mission: MaybeUndefined<String>,
    #[serde(default)]
    pub charter: MaybeUndefined<String>,
}

impl Example for UpdateCop {
    fn example() -> Self {
        Self {
            name: None,
            owner_id: None,
            phase: Some(CopPhase::Growth),
            status: None,
            mission: MaybeUndefined::Value("Make every team ship pipelines safely.".into()),
            charter: MaybeUndefined::Undefined,
        }
    }
}

/// A member of a CoP: a user of its customer, with a role in the CoP.
#[derive(Object)]
#[oai(example)]
pub struct MemberView {
    pub cop_id: CopId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub role: CopRole,
    pub joined_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Example for MemberView {
    fn example() -> Self {
        Self {
            cop_id: CopId(uuid::Uuid::from_u128(
                0x0193_5c22_3d4e_7f55_8e6f_7081_92a3_b4c5,
            )),
            user_id: UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            )),
            email: "ana.silva@acme.example".into(),
            name: "Ana Silva".into(),
            role: CopRole::Champion,
            joined_at: chrono::DateTime::parse_from_rfc3339("2026-09-01T12:00:00Z")
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
            updated_at: chrono::DateTime::parse_from_rfc3339("2026-10-02T09:00:00Z")
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
        }
    }
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            cop_id: m.cop_id,
            user_id: m.user_id,
            email: m.email,
            name: m.name,
            role: m.role,
            joined_at: m.joined_at,
            updated_at: m.updated_at,
        }
    }
}

/// Adds a user of the CoP's customer (default role `member`).
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct AddMember {
    pub user_id: UserId,
    pub role: Option<CopRole>,
}

impl Example for AddMember {
    fn example() -> Self {
        Self {
            user_id: UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            )),
            role: Some(CopRole::Champion),
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct UpdateMember {
    pub role: CopRole,
}

impl Example for UpdateMember {
    fn example() -> Self {
        Self {
            role: CopRole::Lead,
        }
    }
}

fn maybe<T>(m: MaybeUndefined<T>) -> Option<Option<T>> {
    m.into()
}

#[OpenApi(tag = "Tag::Cops")]
impl CopsApi {
    /// Creates a CoP (admin, internal, or customer_exec of the customer).
    #[oai(path = "/api/v1/cops", method = "post", operation_id = "cops_create")]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<CreateCop>,
    ) -> ApiResult<Created<CopView>> {
        let b = body.value;
        let input = NewCop::parse(
            b.customer_id,
            &b.name,
            b.owner_id,
            b.phase,
            b.status,
            b.mission.as_deref(),
            b.charter.as_deref(),
        )?;
        Ok(Created::Created(Json(
            cops::create(&state.db, &auth.0, input).await?.into(),
        )))
    }

    /// Lists the CoPs the caller can see, by name. Archived CoPs are left
    /// out unless `include_archived=true`.
    #[oai(path = "/api/v1/cops", method = "get", operation_id = "cops_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: CopsQuery,
    ) -> ApiResult<Json<Page<CopView>>> {
        let filter = CopFilter {
            customer_id: query.customer_id,
            owner_id: query.owner_id,
            phase: query.phase,
            status: query.status,
            q: query
                .q
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            include_archived: query.include_archived.unwrap_or(false),
        };
        let page = cops::list(&state.db, &auth.0, &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, CopView::from)))
    }

    /// Gets a CoP with its stats: member count, sessions in the last 90
    /// days, latest NPS.
    #[oai(
        path = "/api/v1/cops/:cop_id",
        method = "get",
        operation_id = "cops_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
    ) -> ApiResult<Json<CopView>> {
        Ok(Json(cops::get(&state.db, &auth.0, cop_id.0).await?.into()))
    }

    /// Updates a CoP: name, owner, phase, status, mission, charter.
    #[oai(
        path = "/api/v1/cops/:cop_id",
        method = "patch",
        operation_id = "cops_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        body: JsonBody<UpdateCop>,
    ) -> ApiResult<Json<CopView>> {
        let b = body.value;
        let patch = CopPatch::parse(
            b.name.as_deref(),
            b.owner_id,
            b.phase,
            b.status,
            maybe(b.mission).as_ref().map(|m| m.as_deref()),
            maybe(b.charter).as_ref().map(|c| c.as_deref()),
        )?;
        Ok(Json(
            cops::update(&state.db, &auth.0, cop_id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Archives a CoP (soft delete): it stays readable, leaves lists, and
    /// can no longer be changed.
    #[oai(
        path = "/api/v1/cops/:cop_id",
        method = "delete",
        operation_id = "cops_archive"
    )]
    async fn archive(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
    ) -> ApiResult<NoContent> {
        cops::archive(&state.db, &auth.0, cop_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Adds a member (a user of the CoP's customer).
    #[oai(
        path = "/api/v1/cops/:cop_id/members",
        method = "post",
        operation_id = "members_add"
    )]
    async fn add_member(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        body: JsonBody<AddMember>,
    ) -> ApiResult<Created<MemberView>> {
        let b = body.value;
        let m = members::add(&state.db, &auth.0, cop_id.0, b.user_id, b.role).await?;
        Ok(Created::Created(Json(m.into())))
    }

    /// Lists members in joining order.
    #[oai(
        path = "/api/v1/cops/:cop_id/members",
        method = "get",
        operation_id = "members_list"
    )]
    async fn list_members(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        query: MembersQuery,
    ) -> ApiResult<Json<Page<MemberView>>> {
        let page = members::list(&state.db, &auth.0, cop_id.0, query.role, &query.page).await?;
        Ok(Json(Page::from_domain(page, MemberView::from)))
    }

    /// Gets one member.
    #[oai(
        path = "/api/v1/cops/:cop_id/members/:user_id",
        method = "get",
        operation_id = "members_get"
    )]
    async fn get_member(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        user_id: Path<UserId>,
    ) -> ApiResult<Json<MemberView>> {
        Ok(Json(
            members::get(&state.db, &auth.0, cop_id.0, user_id.0)
                .await?
                .into(),
        ))
    }

    /// Changes a member's role.
    #[oai(
        path = "/api/v1/cops/:cop_id/members/:user_id",
        method = "patch",
        operation_id = "members_update"
    )]
    async fn update_member(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        user_id: Path<UserId>,
        body: JsonBody<UpdateMember>,
    ) -> ApiResult<Json<MemberView>> {
        let m =
            members::change_role(&state.db, &auth.0, cop_id.0, user_id.0, body.value.role).await?;
        Ok(Json(m.into()))
    }

    /// Removes a member (managers), or leaves the CoP (one's own membership).
    #[oai(
        path = "/api/v1/cops/:cop_id/members/:user_id",
        method = "delete",
        operation_id = "members_remove"
    )]
    async fn remove_member(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        user_id: Path<UserId>,
    ) -> ApiResult<NoContent> {
        members::remove(&state.db, &auth.0, cop_id.0, user_id.0).await?;
        Ok(NoContent::Done)
    }
}
