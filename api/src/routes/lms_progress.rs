//! Enablement portal: the caller's progress on courses and lessons.

use launchpad_domain::{
    ids::{CourseId, LessonId},
    lms::progress::{self, CourseProgressView, LessonProgressInput, ProgressStatus},
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};

use crate::types::Tag;
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
