//! Enablement portal: the caller's progress on courses and lessons.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    ids::{CourseId, CustomerId, LessonId, UserId},
    lms::progress::{self, CourseProgress, LessonProgress, LessonProgressInput, ProgressStatus},
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};

use super::Tag;
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

pub struct ProgressApi;

/// Progress on one lesson.
#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct PutLessonProgress {
    pub status: ProgressStatus,
    /// 0–100. Defaults to 100 when `completed`, else 0; must be 100 when
    /// `completed` and 0 when `not_started`.
    #[oai(
        skip_serializing_if_is_none,
        validator(minimum(value = "0"), maximum(value = "100"))
    )]
    pub percent: Option<i64>,
}

impl Example for PutLessonProgress {
    fn example() -> Self {
        Self {
            status: ProgressStatus::InProgress,
            percent: Some(40),
        }
    }
}

/// A lesson with the caller's progress on it.
#[derive(Object)]
pub struct LessonProgressView {
    pub lesson_id: LessonId,
    /// 1-based position of the lesson in the course.
    pub position: i32,
    pub title: String,
    pub status: ProgressStatus,
    /// 0–100.
    pub percent: i16,
    /// When the lesson was completed.
    #[oai(skip_serializing_if_is_none)]
    pub completed_at: Option<DateTime<Utc>>,
    /// The last progress update (absent when never started).
    #[oai(skip_serializing_if_is_none)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<LessonProgress> for LessonProgressView {
    fn from(l: LessonProgress) -> Self {
        Self {
            lesson_id: l.lesson_id,
            position: l.position,
            title: l.title,
            status: l.status,
            percent: l.percent,
            completed_at: l.completed_at,
            updated_at: l.updated_at,
        }
    }
}

/// The caller's progress on a course, derived from its lessons. The course
/// is `completed` once every lesson was completed (then it stays completed).
#[derive(Object)]
pub struct CourseProgressView {
    pub course_id: CourseId,
    pub customer_id: CustomerId,
    pub user_id: UserId,
    pub status: ProgressStatus,
    /// The mean of the lessons' percentages, rounded down.
    pub percent: i16,
    /// When the course was completed.
    #[oai(skip_serializing_if_is_none)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Every lesson of the course in order (a course has at most 500).
    pub lessons: Vec<LessonProgressView>,
}

impl From<CourseProgress> for CourseProgressView {
    fn from(p: CourseProgress) -> Self {
        Self {
            course_id: p.course_id,
            customer_id: p.customer_id,
            user_id: p.user_id,
            status: p.status,
            percent: p.percent,
            completed_at: p.completed_at,
            lessons: p.lessons.into_iter().map(Into::into).collect(),
        }
    }
}

#[OpenApi(tag = "Tag::Progress")]
impl ProgressApi {
    /// Records the caller's progress on a lesson of a published course.
    /// Completing the last lesson completes the course (recorded once).
    #[oai(
        path = "/api/v1/me/progress/:course_id/lessons/:lesson_id",
        method = "put",
        operation_id = "progress_put"
    )]
    async fn put(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        course_id: Path<CourseId>,
        lesson_id: Path<LessonId>,
        body: JsonBody<PutLessonProgress>,
    ) -> ApiResult<Json<CourseProgressView>> {
        let input = LessonProgressInput::parse(body.value.status, body.value.percent)?;
        let recorded =
            progress::put_lesson_progress(&state.db, &auth.0, course_id.0, lesson_id.0, input)
                .await?;
        Ok(Json(recorded.progress.into()))
    }

    /// The caller's progress on a course: per lesson and overall.
    #[oai(
        path = "/api/v1/me/progress/:course_id",
        method = "get",
        operation_id = "progress_get"
    )]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        course_id: Path<CourseId>,
    ) -> ApiResult<Json<CourseProgressView>> {
        Ok(Json(
            progress::course_progress(&state.db, &auth.0, course_id.0)
                .await?
                .into(),
        ))
    }
}
