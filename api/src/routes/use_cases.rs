//! Use cases (success stories) of a CoP.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    ids::{CopId, UseCaseId, UserId},
    portal::use_cases::{self, NewUseCase, UseCase, UseCasePatch, UseCaseStatus},
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
    /// The query of `GET /api/v1/cops/{cop_id}/use-cases`.
    pub struct UseCasesQuery {
        /// Only use cases in this status.
        status: Option<UseCaseStatus>,
    }
}

pub struct UseCasesApi;

/// A use case submitted to a CoP.
#[derive(Object)]
#[oai(example)]
pub struct UseCaseView {
    pub id: UseCaseId,
    pub cop_id: CopId,
    pub title: String,
    pub summary: String,
    /// The value delivered (free text: savings, time to market, ...).
    #[oai(skip_serializing_if_is_none)]
    pub business_value: Option<String>,
    pub status: UseCaseStatus,
    #[oai(skip_serializing_if_is_none)]
    pub submitted_by: Option<UserId>,
    /// Who approved or rejected it.
    #[oai(skip_serializing_if_is_none)]
    pub decided_by: Option<UserId>,
    #[oai(skip_serializing_if_is_none)]
    pub decided_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub approved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Example for UseCaseView {
    fn example() -> Self {
        Self {
            id: UseCaseId(uuid::Uuid::from_u128(
                0x0193_5c23_4e5f_7066_8f70_8192_a3b4_c5d6,
            )),
            cop_id: CopId(uuid::Uuid::from_u128(
                0x0193_5c22_3d4e_7f55_8e6f_7081_92a3_b4c5,
            )),
            title: "Churn prediction on streaming features".into(),
            summary: "Moved the churn model to streaming features computed in the lakehouse."
                .into(),
            business_value: Some("Retention up 3 points; about 1M EUR a year.".into()),
            status: UseCaseStatus::Approved,
            submitted_by: Some(UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            ))),
            decided_by: Some(UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2c4,
            ))),
            decided_at: Some(
                chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
                    .map(|d| d.with_timezone(&chrono::Utc))
                    .unwrap_or_default(),
            ),
            approved_at: Some(
                chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
                    .map(|d| d.with_timezone(&chrono::Utc))
                    .unwrap_or_default(),
            ),
            created_at: chrono::DateTime::parse_from_rfc3339("2026-11-12T08:30:00Z")
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
            updated_at: chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
        }
    }
}

impl From<UseCase> for UseCaseView {
    fn from(u: UseCase) -> Self {
        Self {
            id: u.id,
            cop_id: u.cop_id,
            title: u.title,
            summary: u.summary,
            business_value: u.business_value,
            status: u.status,
            submitted_by: u.submitted_by,
            decided_by: u.decided_by,
            decided_at: u.decided_at,
            approved_at: u.approved_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A new use case; the caller is recorded as the submitter.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct CreateUseCase {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    #[oai(validator(min_length = 1, max_length = 5000))]
    pub summary: String,
    #[oai(validator(max_length = 5000))]
    pub business_value: Option<String>,
}

impl Example for CreateUseCase {
    fn example() -> Self {
        Self {
            title: "Churn prediction on streaming features".into(),
            summary: "Moved the churn model to streaming features computed in the lakehouse."
                .into(),
            business_value: Some("Retention up 3 points; about 1M EUR a year.".into()),
        }
    }
}

/// Changes to a use case; absent fields stay, `null` clears `business_value`.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateUseCase {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    #[oai(validator(min_length = 1, max_length = 5000))]
    pub summary: Option<String>,
    /// At most 5000 characters.
    #[serde(default)]
    pub business_value: MaybeUndefined<String>,
}

impl Example for UpdateUseCase {
    fn example() -> Self {
        Self {
            title: None,
            summary: None,
            business_value: MaybeUndefined::Value(
                "Retention up 4 points; about 1.3M EUR a year.".into(),
            ),
        }
    }
}

#[OpenApi(tag = "Tag::UseCases")]
impl UseCasesApi {
    /// Submits a use case (members of the CoP, or its customer's managers).
    #[oai(
        path = "/api/v1/cops/:cop_id/use-cases",
        method = "post",
        operation_id = "use_cases_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        body: JsonBody<CreateUseCase>,
    ) -> ApiResult<Created<UseCaseView>> {
        let b = body.value;
        let input = NewUseCase::parse(&b.title, &b.summary, b.business_value.as_deref())?;
        Ok(Created::Created(Json(
            use_cases::submit(&state.db, &auth.0, cop_id.0, input)
                .await?
                .into(),
        )))
    }

    /// Lists a CoP's use cases, newest first.
    #[oai(
        path = "/api/v1/cops/:cop_id/use-cases",
        method = "get",
        operation_id = "use_cases_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        cop_id: Path<CopId>,
        query: UseCasesQuery,
    ) -> ApiResult<Json<Page<UseCaseView>>> {
        let page = use_cases::list(&state.db, &auth.0, cop_id.0, query.status, &query.page).await?;
        Ok(Json(Page::from_domain(page, UseCaseView::from)))
    }

    /// Gets a use case.
    #[oai(
        path = "/api/v1/use-cases/:use_case_id",
        method = "get",
        operation_id = "use_cases_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        use_case_id: Path<UseCaseId>,
    ) -> ApiResult<Json<UseCaseView>> {
        Ok(Json(
            use_cases::get(&state.db, &auth.0, use_case_id.0)
                .await?
                .into(),
        ))
    }

    /// Edits a use case that is not approved (its submitter, the CoP's
    /// exec_sponsor or lead, admin or internal; 409 once approved). Editing a
    /// rejected use case resubmits it.
    #[oai(
        path = "/api/v1/use-cases/:use_case_id",
        method = "patch",
        operation_id = "use_cases_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        use_case_id: Path<UseCaseId>,
        body: JsonBody<UpdateUseCase>,
    ) -> ApiResult<Json<UseCaseView>> {
        let b = body.value;
        let business_value: Option<Option<String>> = b.business_value.into();
        let patch = UseCasePatch::parse(
            b.title.as_deref(),
            b.summary.as_deref(),
            business_value.as_ref().map(|v| v.as_deref()),
        )?;
        Ok(Json(
            use_cases::update(&state.db, &auth.0, use_case_id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Deletes a use case that is not approved (same roles as editing; 409
    /// once approved).
    #[oai(
        path = "/api/v1/use-cases/:use_case_id",
        method = "delete",
        operation_id = "use_cases_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        use_case_id: Path<UseCaseId>,
    ) -> ApiResult<NoContent> {
        use_cases::delete(&state.db, &auth.0, use_case_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Approves a submitted use case (the CoP's exec_sponsor or lead, admin or internal).
    #[oai(
        path = "/api/v1/use-cases/:use_case_id/approve",
        method = "post",
        operation_id = "use_cases_approve"
    )]
    async fn approve(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        use_case_id: Path<UseCaseId>,
    ) -> ApiResult<Json<UseCaseView>> {
        Ok(Json(
            use_cases::decide(&state.db, &auth.0, use_case_id.0, true)
                .await?
                .into(),
        ))
    }

    /// Rejects a submitted use case (same roles as approving).
    #[oai(
        path = "/api/v1/use-cases/:use_case_id/reject",
        method = "post",
        operation_id = "use_cases_reject"
    )]
    async fn reject(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        use_case_id: Path<UseCaseId>,
    ) -> ApiResult<Json<UseCaseView>> {
        Ok(Json(
            use_cases::decide(&state.db, &auth.0, use_case_id.0, false)
                .await?
                .into(),
        ))
    }
}
