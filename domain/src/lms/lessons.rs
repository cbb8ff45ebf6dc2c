//! Lessons: ordered (1-based, contiguous `position`) within their course.
//! They are seen and edited under the rules of their course.

use crate::text_enum;
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    access,
    courses::{self, Course, CourseStatus, Lock},
};
use crate::{
    audit,
    error::{Error, Result, Validator},
    ids::{CourseId, LessonId},
    notifications::{self, Audience, NewNotification, NotificationType},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    values,
};

/// At most this many lessons per course: bounds every list of a course's
/// lessons (reordering, progress).
pub const MAX_LESSONS_PER_COURSE: usize = 500;

text_enum! {
    /// What a lesson is.
    pub enum LessonKind {
        Video = "video",
        Text = "text",
        Quiz = "quiz",
    }
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Lesson {
    pub id: LessonId,
    pub course_id: CourseId,
    pub position: i32,
    #[sqlx(try_from = "String")]
    pub kind: LessonKind,
    pub title: String,
    pub body: String,
    pub media_url: Option<String>,
    pub media_file_id: Option<crate::files::FileId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, course_id, position, kind, title, body, media_url, media_file_id, created_at, updated_at";

fn body(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Ok(String::new());
    }
    values::text(s, 100_000, true)
}

fn position(p: i64) -> Result<i32, String> {
    i32::try_from(p)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| "must be a position from 1".into())
}

/// A validated new lesson; without a position it is appended.
#[derive(Debug)]
pub struct NewLesson {
    pub kind: LessonKind,
    pub title: String,
    pub body: String,
    pub media_url: Option<String>,
    pub position: Option<i32>,
}

impl NewLesson {
    pub fn parse(
        kind: LessonKind,
        title: &str,
        body_text: Option<&str>,
        media_url: Option<&str>,
        at: Option<i64>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let title = v.check("/title", values::name(title));
        let body_text = v.check("/body", body(body_text.unwrap_or_default()));
        let media_url = media_url.and_then(|u| v.check("/media_url", values::http_url(u)));
        let at = at.and_then(|p| v.check("/position", position(p)));
        v.finish()?;
        Ok(Self {
            kind,
            title: title.expect("checked"),
            body: body_text.expect("checked"),
            media_url,
            position: at,
        })
    }
}

/// A validated change; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct LessonPatch {
    pub kind: Option<LessonKind>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub media_url: Option<String>,
    pub position: Option<i32>,
}

impl LessonPatch {
    pub fn parse(
        kind: Option<LessonKind>,
        title: Option<&str>,
        body_text: Option<&str>,
        media_url: Option<&str>,
        at: Option<i64>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let title = title.and_then(|t| v.check("/title", values::name(t)));
        let body_text = body_text.and_then(|b| v.check("/body", body(b)));
        let media_url = media_url.and_then(|u| v.check("/media_url", values::http_url(u)));
        let at = at.and_then(|p| v.check("/position", position(p)));
        v.finish()?;
        Ok(Self {
            kind,
            title,
            body: body_text,
            media_url,
            position: at,
        })
    }
}

/// Loads the course for a change to its lessons: locked, and 403 unless the
/// caller may edit a course in its status.
async fn course_for_edit(
    conn: &mut PgConnection,
    caller: &Caller,
    course_id: CourseId,
) -> Result<Course> {
    let (course, role) = courses::load(conn, caller, course_id, Lock::Update).await?;
    access::ensure(role, access::role_to_edit(course.status))?;
    Ok(course)
}

async fn fetch(
    conn: &mut PgConnection,
    course_id: CourseId,
    id: LessonId,
    for_update: bool,
) -> Result<Lesson> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM lessons WHERE id = $1 AND course_id = $2{lock}"
    ))
    .bind(id)
    .bind(course_id)
    .fetch_optional(conn)
    .await?
    .ok_or(Error::not_found("lesson"))
}

fn out_of_range(max: i64) -> Error {
    Error::field("/position", format!("must be between 1 and {max}"))
}

/// Adds a lesson at `position` (shifting later ones) or at the end.
pub async fn create(
    db: &PgPool,
    caller: &Caller,
    course_id: CourseId,
    input: NewLesson,
) -> Result<Lesson> {
    let mut tx = db.begin().await?;
    let course = course_for_edit(&mut tx, caller, course_id).await?;
    let count = course.lesson_count;
    if count >= MAX_LESSONS_PER_COURSE as i64 {
        return Err(Error::conflict(
            "too_many_lessons",
            format!("a course has at most {MAX_LESSONS_PER_COURSE} lessons"),
        ));
    }
    let at = match input.position {
        None => count as i32 + 1,
        Some(p) if i64::from(p) <= count + 1 => p,
        Some(_) => return Err(out_of_range(count + 1)),
    };
    sqlx::query(
        "UPDATE lessons SET position = position + 1 WHERE course_id = $1 AND position >= $2",
    )
    .bind(course_id)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    let id = LessonId::new();
    let lesson: Lesson = sqlx::query_as(sqlf!(
        "INSERT INTO lessons (id, course_id, position, kind, title, body, media_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(course_id)
    .bind(at)
    .bind(input.kind.as_str())
    .bind(&input.title)
    .bind(&input.body)
    .bind(&input.media_url)
    .fetch_one(&mut *tx)
    .await?;
    tell_learners(
        &mut tx,
        caller,
        &course,
        format!("New lesson “{}” in “{}”.", lesson.title, course.title),
    )
    .await?;
    tx.commit().await?;
    Ok(lesson)
}

/// In course order.
const IN_ORDER: Keyset<i32> = Keyset::ascending(&["position"]);

/// The lessons of a course in order, keyset-paginated on `position`.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    course_id: CourseId,
    page: &PageRequest,
) -> Result<Page<Lesson>> {
    let mut conn = db.acquire().await?;
    courses::load(&mut conn, caller, course_id, Lock::None).await?;
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("lessons")
        .and_where(Expr::col("course_id").eq(course_id.as_uuid()));
    IN_ORDER
        .fetch(&mut *conn, q, page, |l: &Lesson| l.position)
        .await
}

pub async fn get(
    db: &PgPool,
    caller: &Caller,
    course_id: CourseId,
    id: LessonId,
) -> Result<Lesson> {
    let mut conn = db.acquire().await?;
    courses::load(&mut conn, caller, course_id, Lock::None).await?;
    fetch(&mut conn, course_id, id, false).await
}

/// Edits a lesson; a new `position` moves it, shifting the lessons between.
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    course_id: CourseId,
    id: LessonId,
    patch: LessonPatch,
) -> Result<Lesson> {
    let mut tx = db.begin().await?;
    let course = course_for_edit(&mut tx, caller, course_id).await?;
    let before = fetch(&mut tx, course_id, id, true).await?;
    if let Some(to) = patch.position {
        if i64::from(to) > course.lesson_count {
            return Err(out_of_range(course.lesson_count));
        }
        let from = before.position;
        // Close the gap left at `from` and open one at `to`.
        let shift = if to < from {
            "UPDATE lessons SET position = position + 1 WHERE course_id = $1 AND position >= $2 AND position < $3"
        } else {
            "UPDATE lessons SET position = position - 1 WHERE course_id = $1 AND position > $3 AND position <= $2"
        };
        sqlx::query(shift)
            .bind(course_id)
            .bind(to)
            .bind(from)
            .execute(&mut *tx)
            .await?;
    }
    let lesson: Lesson = sqlx::query_as(sqlf!(
        "UPDATE lessons SET kind = coalesce($2, kind), title = coalesce($3, title), body = coalesce($4, body),
             media_url = coalesce($5, media_url), position = coalesce($6, position), updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(patch.kind.map(LessonKind::as_str))
    .bind(&patch.title)
    .bind(&patch.body)
    .bind(&patch.media_url)
    .bind(patch.position)
    .fetch_one(&mut *tx)
    .await?;
    // A move alone changes nothing a learner reads.
    if (lesson.kind, &lesson.title, &lesson.body, &lesson.media_url)
        != (before.kind, &before.title, &before.body, &before.media_url)
    {
        tell_learners(
            &mut tx,
            caller,
            &course,
            format!(
                "The lesson “{}” of “{}” changed.",
                lesson.title, course.title
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(lesson)
}

/// The content-update notice of a published course (drafts have no
/// learners yet): to everyone taking it or assigned it, not the editor;
/// repeats collapse into one unread inbox row per course.
async fn tell_learners(
    conn: &mut PgConnection,
    caller: &Caller,
    course: &Course,
    what: String,
) -> Result<()> {
    if course.status != CourseStatus::Published {
        return Ok(());
    }
    notifications::record(
        conn,
        NewNotification::new(
            Some(course.customer_id),
            NotificationType::CourseUpdated,
            format!("“{}” was updated", course.title),
            what,
        )
        .link(format!("/api/v1/courses/{}", course.id))
        .group(
            course.id.to_string(),
            format!("{{count}} updates to “{}”", course.title),
        )
        .to(Audience::CourseLearners, course.id.0)
        .by(caller.user_id),
    )
    .await?;
    Ok(())
}

/// Deletes a lesson (and its progress rows); later lessons move up.
pub async fn delete(db: &PgPool, caller: &Caller, course_id: CourseId, id: LessonId) -> Result<()> {
    let mut tx = db.begin().await?;
    let course = course_for_edit(&mut tx, caller, course_id).await?;
    let before = fetch(&mut tx, course_id, id, true).await?;
    sqlx::query("DELETE FROM lessons WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE lessons SET position = position - 1 WHERE course_id = $1 AND position > $2",
    )
    .bind(course_id)
    .bind(before.position)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: serde_json::to_value(&before).ok(),
            ..super::audit_entry(caller, "lesson.deleted", "lesson", id, course.customer_id)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Puts the lessons in the order of `ids`, which must list every lesson of
/// the course exactly once. Returns the new order.
pub async fn reorder(
    db: &PgPool,
    caller: &Caller,
    course_id: CourseId,
    ids: &[LessonId],
) -> Result<Vec<LessonId>> {
    let mut tx = db.begin().await?;
    course_for_edit(&mut tx, caller, course_id).await?;
    let current: Vec<LessonId> =
        sqlx::query_scalar("SELECT id FROM lessons WHERE course_id = $1 ORDER BY position")
            .bind(course_id)
            .fetch_all(&mut *tx)
            .await?;
    check_order(&current, ids)?;
    let uuids: Vec<uuid::Uuid> = ids.iter().map(LessonId::as_uuid).collect();
    sqlx::query(
        "UPDATE lessons l SET position = o.ord, updated_at = now()
         FROM unnest($2::uuid[]) WITH ORDINALITY AS o(id, ord)
         WHERE l.id = o.id AND l.course_id = $1 AND l.position <> o.ord",
    )
    .bind(course_id)
    .bind(&uuids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids.to_vec())
}

/// `ids` must be a permutation of `current`; errors point into `/lesson_ids`.
fn check_order(current: &[LessonId], ids: &[LessonId]) -> Result<()> {
    if ids.len() > MAX_LESSONS_PER_COURSE {
        return Err(Error::field(
            "/lesson_ids",
            format!("must have at most {MAX_LESSONS_PER_COURSE} entries"),
        ));
    }
    let mut v = Validator::new();
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if !current.contains(id) {
            v.push(
                &format!("/lesson_ids/{i}"),
                "is not a lesson of this course",
            );
        } else if !seen.insert(*id) {
            v.push(&format!("/lesson_ids/{i}"), "is listed twice");
        }
    }
    let missing = current.iter().filter(|c| !ids.contains(c)).count();
    if missing > 0 {
        v.push(
            "/lesson_ids",
            format!("must list every lesson of the course; {missing} missing"),
        );
    }
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_must_be_a_permutation() {
        let (a, b, c) = (LessonId::new(), LessonId::new(), LessonId::new());
        assert!(check_order(&[a, b], &[b, a]).is_ok());
        let pointers = |r: Result<()>| match r {
            Err(Error::Validation(e)) => e.into_iter().map(|f| f.pointer).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(pointers(check_order(&[a, b], &[a])), vec!["/lesson_ids"]);
        assert_eq!(
            pointers(check_order(&[a, b], &[a, b, c])),
            vec!["/lesson_ids/2"]
        );
        assert_eq!(
            pointers(check_order(&[a, b], &[a, a])),
            vec!["/lesson_ids/1", "/lesson_ids"]
        );
    }
}
