//! Enablement portal: courses and learning paths assigned to users, with a
//! status derived from their progress and the due date.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    ids::{AssignmentId, CourseId, CustomerId, PathId, UserId},
    lms::assignments::{
        self, Assignment, AssignmentFilter, AssignmentPatch, AssignmentStatus, NewAssignment,
    },
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};

use crate::types::{Created, NoContent, Page, Tag};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

crate::list_query! {
    /// The query of `GET /api/v1/assignments`.
    pub struct AssignmentsQuery {
        /// Only assignments of this customer.
        customer_id: Option<CustomerId>,
        /// Only assignments of this user.
        user_id: Option<UserId>,
        /// Only assignments of this course.
        course_id: Option<CourseId>,
        /// Only assignments of this learning path.
        path_id: Option<PathId>,
        /// Only assignments in this (derived) status.
        status: Option<AssignmentStatus>,
    }
}

crate::list_query! {
    /// The query of `GET /api/v1/me/assignments`.
    pub struct MyAssignmentsQuery {
        /// Only assignments in this (derived) status.
        status: Option<AssignmentStatus>,
    }
}

pub struct AssignmentsApi;

/// A course or a learning path assigned to a user.
#[derive(Object)]
pub struct AssignmentView {
    pub id: AssignmentId,
    pub customer_id: CustomerId,
    /// The assignee.
    pub user_id: UserId,
    /// The assigned course (absent when a path is assigned).
    #[oai(skip_serializing_if_is_none)]
    pub course_id: Option<CourseId>,
    /// The assigned learning path (absent when a course is assigned).
    #[oai(skip_serializing_if_is_none)]
    pub path_id: Option<PathId>,
    pub due_at: DateTime<Utc>,
    pub status: AssignmentStatus,
    /// When the course (the last course of the path) was completed.
    #[oai(skip_serializing_if_is_none)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Who assigned it (absent once that user is deleted).
    #[oai(skip_serializing_if_is_none)]
    pub assigned_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Assignment> for AssignmentView {
    fn from(a: Assignment) -> Self {
        Self {
            id: a.id,
            customer_id: a.customer_id,
            user_id: a.user_id,
            course_id: a.course_id,
            path_id: a.path_id,
            due_at: a.due_at,
            status: a.status,
            completed_at: a.completed_at,
            assigned_by: a.assigned_by,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A new assignment: exactly one of `course_id` (a published course) and `path_id`.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateAssignment {
    /// The assignee: a member of the course's (path's) customer.
    pub user_id: UserId,
    #[oai(skip_serializing_if_is_none)]
    pub course_id: Option<CourseId>,
    #[oai(skip_serializing_if_is_none)]
    pub path_id: Option<PathId>,
    /// When it is due (RFC 3339, in the future).
    pub due_at: DateTime<Utc>,
}

impl Example for CreateAssignment {
    fn example() -> Self {
        Self {
            user_id: UserId(uuid::Uuid::from_u128(
                0x0193_5c20_1b2c_7d33_8c5d_6e7f_8091_a2b3,
            )),
            course_id: Some(CourseId(uuid::Uuid::from_u128(
                0x0193_5c1f_0a11_7c22_9b4f_5a6b_7c8d_9eaf,
            ))),
            path_id: None,
            due_at: DateTime::parse_from_rfc3339("2027-03-31T17:00:00Z")
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
        }
    }
}

/// Changes to an assignment.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct UpdateAssignment {
    /// A new due date (in the future).
    pub due_at: Option<DateTime<Utc>>,
}

impl Example for UpdateAssignment {
    fn example() -> Self {
        Self {
            due_at: DateTime::parse_from_rfc3339("2027-04-30T17:00:00Z")
                .map(|d| d.with_timezone(&Utc))
                .ok(),
        }
    }
}

#[OpenApi(tag = "Tag::Assignments")]
impl AssignmentsApi {
    /// Assigns a published course or a learning path to a member of its
    /// customer (approvers: admin, customer_exec of the customer).
    #[oai(
        path = "/api/v1/assignments",
        method = "post",
        operation_id = "assignments_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<CreateAssignment>,
    ) -> ApiResult<Created<AssignmentView>> {
        let b = body.value;
        let input = NewAssignment::parse(b.user_id, b.course_id, b.path_id, b.due_at, Utc::now())?;
        Ok(Created::Created(Json(
            assignments::create(&state.db, &auth.0, input).await?.into(),
        )))
    }

    /// Lists the assignments of the customers the caller manages, newest
    /// first (contributors and up; viewers use `GET /api/v1/me/assignments`).
    #[oai(
        path = "/api/v1/assignments",
        method = "get",
        operation_id = "assignments_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: AssignmentsQuery,
    ) -> ApiResult<Json<Page<AssignmentView>>> {
        let filter = AssignmentFilter {
            customer_id: query.customer_id,
            user_id: query.user_id,
            course_id: query.course_id,
            path_id: query.path_id,
            status: query.status,
        };
        let page = assignments::list(&state.db, &auth.0, &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, AssignmentView::from)))
    }

    /// Lists the caller's own assignments, newest first.
    #[oai(
        path = "/api/v1/me/assignments",
        method = "get",
        operation_id = "assignments_list_mine"
    )]
    async fn list_mine(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: MyAssignmentsQuery,
    ) -> ApiResult<Json<Page<AssignmentView>>> {
        let page = assignments::list_mine(&state.db, &auth.0, query.status, &query.page).await?;
        Ok(Json(Page::from_domain(page, AssignmentView::from)))
    }

    /// Gets an assignment (the assignee's own, or as a contributor and up).
    #[oai(
        path = "/api/v1/assignments/:id",
        method = "get",
        operation_id = "assignments_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<AssignmentId>,
    ) -> ApiResult<Json<AssignmentView>> {
        Ok(Json(
            assignments::get(&state.db, &auth.0, id.0).await?.into(),
        ))
    }

    /// Changes the due date (approvers).
    #[oai(
        path = "/api/v1/assignments/:id",
        method = "patch",
        operation_id = "assignments_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<AssignmentId>,
        body: JsonBody<UpdateAssignment>,
    ) -> ApiResult<Json<AssignmentView>> {
        let patch = AssignmentPatch::parse(body.value.due_at, Utc::now())?;
        Ok(Json(
            assignments::update(&state.db, &auth.0, id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Removes an assignment (approvers); the assignee's progress stays.
    #[oai(
        path = "/api/v1/assignments/:id",
        method = "delete",
        operation_id = "assignments_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<AssignmentId>,
    ) -> ApiResult<NoContent> {
        assignments::delete(&state.db, &auth.0, id.0).await?;
        Ok(NoContent::Done)
    }
}
