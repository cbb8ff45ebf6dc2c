//! Learners' progress: one row per (user, lesson) touched; the course's
//! progress is derived from its lessons. When every lesson of a course is
//! completed, one `course_completions` row is written in the same
//! transaction (the certificates job reads it).

use crate::text_enum;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use super::courses::{self, Course, CourseStatus, Lock};
use crate::{
    error::{Error, Result, Validator},
    ids::{CourseId, CustomerId, LessonId, UserId},
    tenancy::Caller,
    webhooks::{WebhookData, WebhookEventType, record_event},
};

text_enum! {
    /// Progress of a lesson or a course.
    pub enum ProgressStatus {
        NotStarted = "not_started",
        InProgress = "in_progress",
        Completed = "completed",
    }
}

/// A validated progress update of one lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LessonProgressInput {
    pub status: ProgressStatus,
    pub percent: i16,
}

impl LessonProgressInput {
    /// `percent` defaults to 100 for `completed` and 0 otherwise; it must be
    /// 100 when completed and 0 when not started.
    pub fn parse(status: ProgressStatus, percent: Option<i64>) -> Result<Self> {
        let mut v = Validator::new();
        let percent = match percent {
            None if status == ProgressStatus::Completed => 100,
            None => 0,
            Some(p) if !(0..=100).contains(&p) => {
                v.push("/percent", "must be between 0 and 100");
                0
            }
            Some(p) => p as i16,
        };
        if v.is_ok() {
            match status {
                ProgressStatus::Completed if percent != 100 => {
                    v.push("/percent", "must be 100 when status is completed")
                }
                ProgressStatus::NotStarted if percent != 0 => {
                    v.push("/percent", "must be 0 when status is not_started")
                }
                _ => {}
            }
        }
        v.finish()?;
        Ok(Self { status, percent })
    }
}

/// One lesson of a course with the learner's progress on it.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct LessonProgress {
    pub lesson_id: LessonId,
    pub position: i32,
    pub title: String,
    #[sqlx(try_from = "String")]
    pub status: ProgressStatus,
    pub percent: i16,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A learner's progress on a course.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CourseProgress {
    pub course_id: CourseId,
    pub customer_id: CustomerId,
    pub user_id: UserId,
    /// `completed` once a completion is recorded (it stays recorded if
    /// lessons are added later); `in_progress` once any lesson is started.
    pub status: ProgressStatus,
    /// The mean of the lessons' percentages, rounded down.
    pub percent: i16,
    pub completed_at: Option<DateTime<Utc>>,
    /// Every lesson of the course, in order (at most 500).
    pub lessons: Vec<LessonProgress>,
}

/// A lesson with the caller's progress on it.
#[derive(poem_openapi::Object)]
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
#[derive(poem_openapi::Object)]
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

/// A course completed by a user: one row per (user, course), written once.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize, serde::Deserialize)]
pub struct CourseCompletion {
    pub user_id: UserId,
    pub course_id: CourseId,
    pub customer_id: CustomerId,
    pub completed_at: DateTime<Utc>,
}

/// What [`record_lesson_progress`] did.
#[derive(Debug, Clone)]
pub struct RecordedProgress {
    /// The learner's progress on the course after the update.
    pub progress: CourseProgress,
    /// `Some` exactly when this update completed the course (the completion
    /// row was written by this transaction); `None` when the course is not
    /// complete or was completed before.
    pub newly_completed: Option<CourseCompletion>,
}

/// Records the caller's progress on a lesson of a published course they can
/// see, inside the caller's transaction, and records the course completion
/// when this update completes the last lesson.
///
/// Work that must follow a completion (e.g. enqueueing the certificate job)
/// belongs in the same transaction, when `newly_completed` is `Some`.
pub async fn record_lesson_progress(
    conn: &mut PgConnection,
    caller: &Caller,
    course_id: CourseId,
    lesson_id: LessonId,
    input: LessonProgressInput,
) -> Result<RecordedProgress> {
    // FOR SHARE: the course's lessons cannot change until we commit.
    let (course, _) = courses::load(conn, caller, course_id, Lock::Share).await?;
    if course.status != CourseStatus::Published {
        return Err(Error::conflict(
            "course_not_published",
            format!(
                "progress is recorded on published courses only; this one is {}",
                course.status.as_str()
            ),
        ));
    }
    let lesson: Option<LessonId> =
        sqlx::query_scalar("SELECT id FROM lessons WHERE id = $1 AND course_id = $2")
            .bind(lesson_id)
            .bind(course_id)
            .fetch_optional(&mut *conn)
            .await?;
    if lesson.is_none() {
        return Err(Error::not_found("lesson"));
    }
    let user = caller.user_id;
    // One progress update per (user, course) at a time, so that two last
    // lessons completed concurrently still see each other.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('lms_progress:' || $1::text || ':' || $2::text, 0))")
        .bind(user)
        .bind(course_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO lesson_progress (user_id, lesson_id, course_id, customer_id, status, percent, completed_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5 = 'completed' THEN now() END)
         ON CONFLICT (user_id, lesson_id) DO UPDATE SET
             status = EXCLUDED.status, percent = EXCLUDED.percent,
             completed_at = CASE WHEN EXCLUDED.status = 'completed'
                                 THEN coalesce(lesson_progress.completed_at, now()) END,
             updated_at = now()",
    )
    .bind(user)
    .bind(lesson_id)
    .bind(course_id)
    .bind(course.customer_id)
    .bind(input.status.as_str())
    .bind(input.percent)
    .execute(&mut *conn)
    .await?;
    let all_done: Option<bool> = sqlx::query_scalar(
        "SELECT bool_and(lp.status IS NOT DISTINCT FROM 'completed')
         FROM lessons l LEFT JOIN lesson_progress lp ON lp.lesson_id = l.id AND lp.user_id = $1
         WHERE l.course_id = $2",
    )
    .bind(user)
    .bind(course_id)
    .fetch_one(&mut *conn)
    .await?;
    let newly_completed = if all_done == Some(true) {
        sqlx::query_as(
            "INSERT INTO course_completions (user_id, course_id, customer_id) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, course_id) DO NOTHING
             RETURNING user_id, course_id, customer_id, completed_at",
        )
        .bind(user)
        .bind(course_id)
        .bind(course.customer_id)
        .fetch_optional(&mut *conn)
        .await?
    } else {
        None
    };
    let progress = load_progress(conn, user, &course).await?;
    if newly_completed.is_some() {
        // The course's reference: progress is per person (`/me/progress`).
        let data = WebhookData::of_view(
            &CourseProgressView::from(progress.clone()),
            course_id,
            format!("/api/v1/courses/{course_id}"),
        )
        .with_reference_field("user_id", user);
        record_event(
            conn,
            course.customer_id,
            WebhookEventType::CourseCompleted,
            data,
        )
        .await?;
        // The learner, and whoever assigned them the course.
        let (learner, assigners): (String, Vec<uuid::Uuid>) = sqlx::query_as(
            "SELECT u.name, coalesce((SELECT array_agg(DISTINCT a.assigned_by) FROM assignments a
                                      WHERE a.user_id = u.id AND a.course_id = $2 AND a.assigned_by IS NOT NULL
                                        AND a.assigned_by <> u.id), '{}')
             FROM users u WHERE u.id = $1",
        )
        .bind(user)
        .bind(course_id)
        .fetch_one(&mut *conn)
        .await?;
        crate::notifications::record(
            conn,
            crate::notifications::NewNotification::new(
                Some(course.customer_id),
                crate::notifications::NotificationType::CourseCompleted,
                format!("{learner} completed {}", course.title),
                format!("{learner} completed the course “{}”.", course.title),
            )
            .link(format!("/api/v1/courses/{course_id}"))
            .to_users([user])
            .to_users(assigners.into_iter().map(UserId)),
        )
        .await?;
        crate::lms::certificates::enqueue_for_completion(conn, user, course.customer_id, course_id)
            .await?;
    }
    Ok(RecordedProgress {
        progress,
        newly_completed,
    })
}

/// [`record_lesson_progress`] in a transaction of its own.
pub async fn put_lesson_progress(
    db: &PgPool,
    caller: &Caller,
    course_id: CourseId,
    lesson_id: LessonId,
    input: LessonProgressInput,
) -> Result<RecordedProgress> {
    let mut tx = db.begin().await?;
    let recorded = record_lesson_progress(&mut tx, caller, course_id, lesson_id, input).await?;
    tx.commit().await?;
    Ok(recorded)
}

/// The caller's progress on a course they can see.
pub async fn course_progress(
    db: &PgPool,
    caller: &Caller,
    course_id: CourseId,
) -> Result<CourseProgress> {
    let mut conn = db.acquire().await?;
    let (course, _) = courses::load(&mut conn, caller, course_id, Lock::None).await?;
    load_progress(&mut conn, caller.user_id, &course).await
}

/// The completion of `course` by `user`, if recorded (for jobs, which carry ids).
pub async fn completion(
    conn: &mut PgConnection,
    user: UserId,
    course: CourseId,
) -> Result<Option<CourseCompletion>> {
    Ok(sqlx::query_as(
        "SELECT user_id, course_id, customer_id, completed_at FROM course_completions WHERE user_id = $1 AND course_id = $2",
    )
    .bind(user)
    .bind(course)
    .fetch_optional(conn)
    .await?)
}

async fn load_progress(
    conn: &mut PgConnection,
    user: UserId,
    course: &Course,
) -> Result<CourseProgress> {
    let lessons: Vec<LessonProgress> = sqlx::query_as(
        "SELECT l.id AS lesson_id, l.position, l.title, coalesce(lp.status, 'not_started') AS status,
                coalesce(lp.percent, 0::smallint) AS percent, lp.completed_at, lp.updated_at
         FROM lessons l LEFT JOIN lesson_progress lp ON lp.lesson_id = l.id AND lp.user_id = $1
         WHERE l.course_id = $2 ORDER BY l.position",
    )
    .bind(user)
    .bind(course.id)
    .fetch_all(&mut *conn)
    .await?;
    let completion = completion(conn, user, course.id).await?;
    let percent = match lessons.len() {
        0 => 0,
        n => (lessons.iter().map(|l| i64::from(l.percent)).sum::<i64>() / n as i64) as i16,
    };
    let status = if completion.is_some() {
        ProgressStatus::Completed
    } else if lessons
        .iter()
        .any(|l| l.status != ProgressStatus::NotStarted)
    {
        ProgressStatus::InProgress
    } else {
        ProgressStatus::NotStarted
    };
    Ok(CourseProgress {
        course_id: course.id,
        customer_id: course.customer_id,
        user_id: user,
        status,
        percent,
        completed_at: completion.map(|c| c.completed_at),
        lessons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rules() {
        let ok = |s, p| LessonProgressInput::parse(s, p).map(|i| i.percent).ok();
        assert_eq!(ok(ProgressStatus::Completed, None), Some(100));
        assert_eq!(ok(ProgressStatus::InProgress, Some(40)), Some(40));
        assert_eq!(ok(ProgressStatus::NotStarted, None), Some(0));
        assert_eq!(ok(ProgressStatus::InProgress, Some(101)), None);
        assert_eq!(ok(ProgressStatus::InProgress, Some(-1)), None);
        assert_eq!(ok(ProgressStatus::Completed, Some(90)), None);
        assert_eq!(ok(ProgressStatus::NotStarted, Some(10)), None);
    }
}
