//! Enablement portal: courses and their ordered lessons. Who may do what is
//! decided in `launchpad_domain::lms::access`.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    files::FileId,
    ids::{CourseId, CustomerId, LessonId, MetadataTermId, UserId},
    lms::{
        courses::{self, Course, CourseFilter, CourseLevel, CoursePatch, CourseStatus, NewCourse},
        lessons::{self, Lesson, LessonKind, LessonPatch, NewLesson},
    },
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};

use crate::list_query::Paging;
use crate::types::{Created, NoContent, Page, Tag};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

crate::list_query! {
    /// The query of `GET /api/v1/courses`.
    pub struct CoursesQuery {
        /// Only courses of this customer.
        customer_id: Option<CustomerId>,
        /// Only courses in this status.
        status: Option<CourseStatus>,
        /// Only courses about this product (exact match).
        product: Option<String>,
        /// Only courses with this tag (case-insensitive).
        tag: Option<String>,
        /// Only courses of this level.
        level: Option<CourseLevel>,
        /// Only courses tagged with this metadata term or a term below it.
        term_id: Option<MetadataTermId>,
        /// Text contained in the title or description (case-insensitive).
        q: Option<String>,
    }
}

pub struct CoursesApi;

/// A course of the enablement portal.
#[derive(Object)]
pub struct CourseView {
    pub id: CourseId,
    /// The customer the course belongs to.
    pub customer_id: CustomerId,
    pub status: CourseStatus,
    pub title: String,
    /// Free text (may be empty).
    pub description: String,
    /// The product the course is about.
    #[oai(skip_serializing_if_is_none)]
    pub product: Option<String>,
    /// Lower-case tags.
    pub tags: Vec<String>,
    pub level: CourseLevel,
    /// Estimated time to complete, in minutes.
    #[oai(skip_serializing_if_is_none)]
    pub estimated_minutes: Option<i32>,
    /// Number of lessons.
    pub lesson_count: i64,
    /// The thumbnail image (a file of purpose `course_thumbnail`; `PUT /courses/{id}/thumbnail`).
    #[oai(skip_serializing_if_is_none)]
    pub thumbnail_file_id: Option<FileId>,
    /// Terms of the customer's metadata hierarchy (`PUT /courses/{id}/terms`).
    pub term_ids: Vec<MetadataTermId>,
    /// The user who created the course (absent once that user is deleted).
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    /// When the course was last published.
    #[oai(skip_serializing_if_is_none)]
    pub published_at: Option<DateTime<Utc>>,
    /// When the course was archived (absent unless archived).
    #[oai(skip_serializing_if_is_none)]
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Course> for CourseView {
    fn from(c: Course) -> Self {
        Self {
            id: c.id,
            customer_id: c.customer_id,
            status: c.status,
            title: c.title,
            description: c.description,
            product: c.product,
            tags: c.tags,
            level: c.level,
            estimated_minutes: c.estimated_minutes,
            lesson_count: c.lesson_count,
            thumbnail_file_id: c.thumbnail_file_id,
            term_ids: c.term_ids,
            created_by: c.created_by,
            published_at: c.published_at,
            archived_at: c.archived_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A new course; it starts as a draft.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateCourse {
    /// The customer the course belongs to.
    pub customer_id: CustomerId,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 10000))]
    pub description: Option<String>,
    /// The product the course is about.
    #[oai(
        skip_serializing_if_is_none,
        validator(min_length = 1, max_length = 100)
    )]
    pub product: Option<String>,
    /// Up to 20 tags of 1–50 characters; stored lower-cased.
    #[serde(default)]
    #[oai(default, validator(max_items = 20))]
    pub tags: Vec<String>,
    pub level: CourseLevel,
    /// Estimated time to complete, 1–10000 minutes.
    #[oai(
        skip_serializing_if_is_none,
        validator(minimum(value = "1"), maximum(value = "10000"))
    )]
    pub estimated_minutes: Option<i64>,
}

impl Example for CreateCourse {
    fn example() -> Self {
        Self {
            customer_id: CustomerId(uuid::Uuid::from_u128(
                0x0193_5c1e_7d2a_7b11_8a3e_4f5a_6b7c_8d9e,
            )),
            title: "Lakehouse fundamentals".into(),
            description: Some("Tables, files and governance in one afternoon.".into()),
            product: Some("Lakehouse".into()),
            tags: vec!["data engineering".into(), "sql".into()],
            level: CourseLevel::Beginner,
            estimated_minutes: Some(90),
        }
    }
}

/// Changes to a course; absent fields stay as they are.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateCourse {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    #[oai(validator(max_length = 10000))]
    pub description: Option<String>,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub product: Option<String>,
    /// Replaces all tags.
    #[oai(validator(max_items = 20))]
    pub tags: Option<Vec<String>>,
    pub level: Option<CourseLevel>,
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub estimated_minutes: Option<i64>,
}

impl Example for UpdateCourse {
    fn example() -> Self {
        Self {
            title: None,
            description: Some("Tables, pipelines and governance in one afternoon.".into()),
            product: None,
            tags: Some(vec!["lakehouse".into(), "delta".into()]),
            level: None,
            estimated_minutes: Some(120),
        }
    }
}

/// A lesson of a course.
#[derive(Object)]
pub struct LessonView {
    pub id: LessonId,
    pub course_id: CourseId,
    /// 1-based position within the course.
    pub position: i32,
    pub kind: LessonKind,
    pub title: String,
    /// The lesson's text (Markdown); may be empty.
    pub body: String,
    /// Where the video or other media lives.
    #[oai(skip_serializing_if_is_none)]
    pub media_url: Option<String>,
    /// The lesson's media (a file of purpose `lesson_media`; video lessons,
    /// `PUT /courses/{id}/lessons/{id}/media`).
    #[oai(skip_serializing_if_is_none)]
    pub media_file_id: Option<FileId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Lesson> for LessonView {
    fn from(l: Lesson) -> Self {
        Self {
            id: l.id,
            course_id: l.course_id,
            position: l.position,
            kind: l.kind,
            title: l.title,
            body: l.body,
            media_url: l.media_url,
            media_file_id: l.media_file_id,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

/// A new lesson.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateLesson {
    pub kind: LessonKind,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    /// The lesson's text (Markdown).
    #[oai(skip_serializing_if_is_none, validator(max_length = 100000))]
    pub body: Option<String>,
    /// An http(s) URL of the video or other media.
    #[oai(skip_serializing_if_is_none, validator(max_length = 2048))]
    pub media_url: Option<String>,
    /// Where to insert it (1-based; later lessons move down). Default: at the end.
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "1")))]
    pub position: Option<i64>,
}

impl Example for CreateLesson {
    fn example() -> Self {
        Self {
            kind: LessonKind::Video,
            title: "What is a lakehouse?".into(),
            body: Some("Watch the video, then read the summary below.".into()),
            media_url: Some("https://media.example.com/lakehouse-intro.mp4".into()),
            position: None,
        }
    }
}

/// Changes to a lesson; absent fields stay as they are.
#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateLesson {
    pub kind: Option<LessonKind>,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    #[oai(validator(max_length = 100000))]
    pub body: Option<String>,
    #[oai(validator(max_length = 2048))]
    pub media_url: Option<String>,
    /// Moves the lesson (1-based; the lessons between shift by one).
    #[oai(validator(minimum(value = "1")))]
    pub position: Option<i64>,
}

impl Example for UpdateLesson {
    fn example() -> Self {
        Self {
            kind: None,
            title: Some("What is a lakehouse? (updated)".into()),
            body: None,
            media_url: Some("https://media.example.com/lakehouse-intro-v2.mp4".into()),
            position: Some(1),
        }
    }
}

/// The order of a course's lessons: every lesson id, exactly once.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct LessonOrder {
    #[oai(validator(max_items = 500))]
    pub lesson_ids: Vec<LessonId>,
}

impl Example for LessonOrder {
    fn example() -> Self {
        let l = |n: u128| {
            LessonId(uuid::Uuid::from_u128(
                0x0193_5c21_2c3d_7e44_8d6e_7f80_91a2_b300 + n,
            ))
        };
        Self {
            lesson_ids: vec![l(3), l(1), l(2)],
        }
    }
}

#[OpenApi(tag = "Tag::Courses")]
impl CoursesApi {
    /// Creates a draft course (contributors: admin, internal, customer_exec of the customer).
    #[oai(
        path = "/api/v1/courses",
        method = "post",
        operation_id = "courses_create"
    )]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<CreateCourse>,
    ) -> ApiResult<Created<CourseView>> {
        let b = body.value;
        let input = NewCourse::parse(
            b.customer_id,
            &b.title,
            b.description.as_deref(),
            b.product.as_deref(),
            &b.tags,
            b.level,
            b.estimated_minutes,
        )?;
        Ok(Created::Created(Json(
            courses::create(&state.db, &auth.0, input).await?.into(),
        )))
    }

    /// Lists courses, newest first. Viewers see published courses only;
    /// archived courses are left out unless `status=archived`.
    #[oai(
        path = "/api/v1/courses",
        method = "get",
        operation_id = "courses_list"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: CoursesQuery,
    ) -> ApiResult<Json<Page<CourseView>>> {
        let filter = CourseFilter {
            customer_id: query.customer_id,
            status: query.status,
            product: query.product,
            tag: query.tag,
            level: query.level,
            term_id: query.term_id,
            q: query.q,
        }
        .parse()?;
        let page = courses::list(&state.db, &auth.0, &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, CourseView::from)))
    }

    /// Gets a course (drafts and archived courses are 404 for viewers).
    #[oai(
        path = "/api/v1/courses/:id",
        method = "get",
        operation_id = "courses_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CourseId>,
    ) -> ApiResult<Json<CourseView>> {
        Ok(Json(courses::get(&state.db, &auth.0, id.0).await?.into()))
    }

    /// Updates a course: contributors edit drafts; published and archived
    /// courses need an approver (admin, customer_exec of the customer).
    #[oai(
        path = "/api/v1/courses/:id",
        method = "patch",
        operation_id = "courses_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CourseId>,
        body: JsonBody<UpdateCourse>,
    ) -> ApiResult<Json<CourseView>> {
        let b = body.value;
        let patch = CoursePatch::parse(
            b.title.as_deref(),
            b.description.as_deref(),
            b.product.as_deref(),
            b.tags.as_deref(),
            b.level,
            b.estimated_minutes,
        )?;
        Ok(Json(
            courses::update(&state.db, &auth.0, id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Publishes a draft or archived course with at least one lesson
    /// (approvers: admin, customer_exec of the customer).
    #[oai(
        path = "/api/v1/courses/:id/publish",
        method = "post",
        operation_id = "courses_publish"
    )]
    async fn publish(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CourseId>,
    ) -> ApiResult<Json<CourseView>> {
        Ok(Json(
            courses::publish(&state.db, &auth.0, id.0).await?.into(),
        ))
    }

    /// Archives a course: viewers no longer see it; progress, completions
    /// and certificates stay (approvers: admin, customer_exec of the customer).
    #[oai(
        path = "/api/v1/courses/:id/archive",
        method = "post",
        operation_id = "courses_archive"
    )]
    async fn archive(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CourseId>,
    ) -> ApiResult<Json<CourseView>> {
        Ok(Json(
            courses::archive(&state.db, &auth.0, id.0).await?.into(),
        ))
    }

    /// Adds a lesson to a course (at most 500 per course), under the course's editing rules.
    #[oai(
        path = "/api/v1/courses/:id/lessons",
        method = "post",
        operation_id = "lessons_create"
    )]
    async fn lessons_create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CourseId>,
        body: JsonBody<CreateLesson>,
    ) -> ApiResult<Created<LessonView>> {
        let b = body.value;
        let input = NewLesson::parse(
            b.kind,
            &b.title,
            b.body.as_deref(),
            b.media_url.as_deref(),
            b.position,
        )?;
        Ok(Created::Created(Json(
            lessons::create(&state.db, &auth.0, id.0, input)
                .await?
                .into(),
        )))
    }

    /// Lists the lessons of a course in order.
    #[oai(
        path = "/api/v1/courses/:id/lessons",
        method = "get",
        operation_id = "lessons_list"
    )]
    async fn lessons_list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CourseId>,
        query: Paging,
    ) -> ApiResult<Json<Page<LessonView>>> {
        let page = lessons::list(&state.db, &auth.0, id.0, &query.page).await?;
        Ok(Json(Page::from_domain(page, LessonView::from)))
    }

    /// Puts the lessons in a new order; the body lists every lesson id of the course once.
    #[oai(
        path = "/api/v1/courses/:id/lessons/order",
        method = "put",
        operation_id = "lessons_reorder"
    )]
    async fn lessons_reorder(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CourseId>,
        body: JsonBody<LessonOrder>,
    ) -> ApiResult<Json<LessonOrder>> {
        let lesson_ids = lessons::reorder(&state.db, &auth.0, id.0, &body.value.lesson_ids).await?;
        Ok(Json(LessonOrder { lesson_ids }))
    }

    /// Gets a lesson of a course.
    #[oai(
        path = "/api/v1/courses/:id/lessons/:lesson_id",
        method = "get",
        operation_id = "lessons_get"
    )]
    async fn lessons_get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CourseId>,
        lesson_id: Path<LessonId>,
    ) -> ApiResult<Json<LessonView>> {
        Ok(Json(
            lessons::get(&state.db, &auth.0, id.0, lesson_id.0)
                .await?
                .into(),
        ))
    }

    /// Updates a lesson, or moves it with `position`.
    #[oai(
        path = "/api/v1/courses/:id/lessons/:lesson_id",
        method = "patch",
        operation_id = "lessons_update"
    )]
    async fn lessons_update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CourseId>,
        lesson_id: Path<LessonId>,
        body: JsonBody<UpdateLesson>,
    ) -> ApiResult<Json<LessonView>> {
        let b = body.value;
        let patch = LessonPatch::parse(
            b.kind,
            b.title.as_deref(),
            b.body.as_deref(),
            b.media_url.as_deref(),
            b.position,
        )?;
        Ok(Json(
            lessons::update(&state.db, &auth.0, id.0, lesson_id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Deletes a lesson and the progress recorded on it; later lessons move up.
    #[oai(
        path = "/api/v1/courses/:id/lessons/:lesson_id",
        method = "delete",
        operation_id = "lessons_delete"
    )]
    async fn lessons_delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<CourseId>,
        lesson_id: Path<LessonId>,
    ) -> ApiResult<NoContent> {
        lessons::delete(&state.db, &auth.0, id.0, lesson_id.0).await?;
        Ok(NoContent::Done)
    }
}
