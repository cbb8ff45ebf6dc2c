//! Enablement portal: learning paths, ordered lists of courses.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    ids::{CourseId, CustomerId, PathId, UserId},
    lms::paths::{self, LearningPath, NewPath, PathFilter, PathPatch},
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};

use crate::types::{Created, NoContent, Page, Tag};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

crate::list_query! {
    /// The query of `GET /api/v1/paths`.
    pub struct PathsQuery {
        /// Only paths of this customer.
        customer_id: Option<CustomerId>,
        /// Only paths containing this course.
        course_id: Option<CourseId>,
    }
}

pub struct PathsApi;

/// A learning path: an ordered list of courses of one customer.
#[derive(Object)]
pub struct PathView {
    pub id: PathId,
    pub customer_id: CustomerId,
    pub title: String,
    pub description: String,
    /// The courses in order; viewers get the published ones only.
    pub course_ids: Vec<CourseId>,
    /// The user who created the path (absent once that user is deleted).
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<LearningPath> for PathView {
    fn from(p: LearningPath) -> Self {
        Self {
            id: p.id,
            customer_id: p.customer_id,
            title: p.title,
            description: p.description,
            course_ids: p.course_ids,
            created_by: p.created_by,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A new learning path.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreatePath {
    pub customer_id: CustomerId,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 10000))]
    pub description: Option<String>,
    /// Courses of the same customer, in order, each once (at most 100).
    #[serde(default)]
    #[oai(default, validator(max_items = 100))]
    pub course_ids: Vec<CourseId>,
}

impl Example for CreatePath {
    fn example() -> Self {
        Self {
            customer_id: CustomerId(uuid::Uuid::from_u128(
                0x0193_5c1e_7d2a_7b11_8a3e_4f5a_6b7c_8d9e,
            )),
            title: "Data engineer onboarding".into(),
            description: Some("From the basics to production pipelines.".into()),
            course_ids: vec![
                CourseId(uuid::Uuid::from_u128(
                    0x0193_5c1f_0a11_7c22_9b4f_5a6b_7c8d_9eaf,
                )),
                CourseId(uuid::Uuid::from_u128(
                    0x0193_5c1f_0a12_7c22_9b4f_5a6b_7c8d_9eb0,
                )),
            ],
        }
    }
}

/// Changes to a path; absent fields stay as they are.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdatePath {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    #[oai(validator(max_length = 10000))]
    pub description: Option<String>,
    /// Replaces the whole ordered list.
    #[oai(validator(max_items = 100))]
    pub course_ids: Option<Vec<CourseId>>,
}

impl Example for UpdatePath {
    fn example() -> Self {
        Self {
            title: Some("Data engineer onboarding (2027)".into()),
            description: None,
            course_ids: Some(vec![
                CourseId(uuid::Uuid::from_u128(
                    0x0193_5c1f_0a12_7c22_9b4f_5a6b_7c8d_9eb0,
                )),
                CourseId(uuid::Uuid::from_u128(
                    0x0193_5c1f_0a11_7c22_9b4f_5a6b_7c8d_9eaf,
                )),
            ]),
        }
    }
}

#[OpenApi(tag = "Tag::LearningPaths")]
impl PathsApi {
    /// Creates a learning path (contributors: admin, internal, customer_exec of the customer).
    #[oai(path = "/api/v1/paths", method = "post", operation_id = "paths_create")]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<CreatePath>,
    ) -> ApiResult<Created<PathView>> {
        let b = body.value;
        let input = NewPath::parse(
            b.customer_id,
            &b.title,
            b.description.as_deref(),
            &b.course_ids,
        )?;
        Ok(Created::Created(Json(
            paths::create(&state.db, &auth.0, input).await?.into(),
        )))
    }

    /// Lists learning paths, newest first.
    #[oai(path = "/api/v1/paths", method = "get", operation_id = "paths_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: PathsQuery,
    ) -> ApiResult<Json<Page<PathView>>> {
        let filter = PathFilter {
            customer_id: query.customer_id,
            course_id: query.course_id,
        };
        let page = paths::list(&state.db, &auth.0, &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, PathView::from)))
    }

    /// Gets a learning path.
    #[oai(path = "/api/v1/paths/:id", method = "get", operation_id = "paths_get")]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<PathId>,
    ) -> ApiResult<Json<PathView>> {
        Ok(Json(paths::get(&state.db, &auth.0, id.0).await?.into()))
    }

    /// Updates a learning path (contributors).
    #[oai(
        path = "/api/v1/paths/:id",
        method = "patch",
        operation_id = "paths_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<PathId>,
        body: JsonBody<UpdatePath>,
    ) -> ApiResult<Json<PathView>> {
        let b = body.value;
        let patch = PathPatch::parse(
            b.title.as_deref(),
            b.description.as_deref(),
            b.course_ids.as_deref(),
        )?;
        Ok(Json(
            paths::update(&state.db, &auth.0, id.0, patch).await?.into(),
        ))
    }

    /// Deletes a learning path (contributors); 409 while it is assigned.
    #[oai(
        path = "/api/v1/paths/:id",
        method = "delete",
        operation_id = "paths_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<PathId>,
    ) -> ApiResult<NoContent> {
        paths::delete(&state.db, &auth.0, id.0).await?;
        Ok(NoContent::Done)
    }
}
