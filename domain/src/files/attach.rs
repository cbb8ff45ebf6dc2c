//! Where files attach: a content asset's file, a video lesson's media, a
//! course's thumbnail. Attaching checks that the caller may change the
//! resource (the resource's own rules), and that the file is the same
//! tenant's, of the right purpose and `ready`; the previous file of the
//! resource is detached (and becomes an orphan unless attached elsewhere).

use sqlx::PgPool;

use super::{FileId, FilePurpose, repo};
use crate::{
    error::{Error, Result},
    ids::{AssetId, CourseId, LessonId},
    lms::{
        access as lms_access,
        courses::{self, Lock},
    },
    portal::access::{self as portal_access, Action},
    tenancy::Caller,
};

/// A resource a file can attach to.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// A CoP content asset (purposes `asset`, `attachment`).
    Asset(AssetId),
    /// A course's thumbnail (purpose `course_thumbnail`).
    CourseThumbnail(CourseId),
    /// A video lesson's media (purpose `lesson_media`).
    LessonMedia(CourseId, LessonId),
}

impl Target {
    fn name(self) -> String {
        match self {
            Self::Asset(id) => format!("asset:{id}"),
            Self::CourseThumbnail(id) => format!("course:{id}"),
            Self::LessonMedia(_, id) => format!("lesson:{id}"),
        }
    }

    fn purposes(self) -> &'static [FilePurpose] {
        match self {
            Self::Asset(_) => &[FilePurpose::Asset, FilePurpose::Attachment],
            Self::CourseThumbnail(_) => &[FilePurpose::CourseThumbnail],
            Self::LessonMedia(..) => &[FilePurpose::LessonMedia],
        }
    }
}

/// Attaches `file` to `target` (or detaches its file with `None`).
pub async fn set(db: &PgPool, caller: &Caller, target: Target, file: Option<FileId>) -> Result<()> {
    let mut tx = db.begin().await?;
    let customer = match target {
        Target::Asset(id) => {
            let cop = sqlx::query_scalar(
                "SELECT cop_id FROM content_assets WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::not_found("asset"))?;
            let a = portal_access::load(&mut tx, caller, cop, "asset").await?;
            a.require(Action::Manage)?;
            a.customer_id
        }
        Target::CourseThumbnail(course) | Target::LessonMedia(course, _) => {
            let (c, role) = courses::load(&mut tx, caller, course, Lock::Update).await?;
            lms_access::ensure(role, lms_access::role_to_edit(c.status))?;
            c.customer_id
        }
    };
    if let Target::LessonMedia(course, lesson) = target {
        let kind: Option<String> =
            sqlx::query_scalar("SELECT kind FROM lessons WHERE id = $1 AND course_id = $2")
                .bind(lesson)
                .bind(course)
                .fetch_optional(&mut *tx)
                .await?;
        match kind.as_deref() {
            None => return Err(Error::not_found("lesson")),
            Some("video") => {}
            Some(k) => {
                return Err(Error::unprocessable(
                    "lesson_not_video",
                    format!("only video lessons carry a media file; this one is {k}"),
                ));
            }
        }
    }
    let name = target.name();
    if let Some(f) = file {
        repo::attach(&mut tx, customer, f, target.purposes(), &name, "/file_id").await?;
    }
    repo::detach_others(&mut tx, &name, file).await?;
    let update = match target {
        Target::Asset(_) => {
            "UPDATE content_assets SET file_id = $2, updated_at = now() WHERE id = $1"
        }
        Target::CourseThumbnail(_) => {
            "UPDATE courses SET thumbnail_file_id = $2, updated_at = now() WHERE id = $1"
        }
        Target::LessonMedia(..) => {
            "UPDATE lessons SET media_file_id = $2, updated_at = now() WHERE id = $1"
        }
    };
    let id = match target {
        Target::Asset(id) => id.0,
        Target::CourseThumbnail(id) => id.0,
        Target::LessonMedia(_, id) => id.0,
    };
    sqlx::query(update)
        .bind(id)
        .bind(file)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
