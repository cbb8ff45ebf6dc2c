//! The enablement portal's demo data.

use sqlx::PgPool;

use super::DEMO_EXEC_EMAIL;
use crate::{
    Result,
    ids::{CustomerId, UserId},
};

/// The demo course of the enablement portal (its title identifies it).
pub const DEMO_COURSE_TITLE: &str = "Lakehouse fundamentals";

/// Enablement portal demo data for `customer`, idempotent: a published
/// course with four lessons, a short published course, a learning path of
/// both, progress of the demo exec (the short course completed, so a
/// completion exists for the certificates job) and of up to six
/// `customer_member` users of the customer, and assignments of the path.
pub async fn seed_lms(db: &PgPool, customer: CustomerId) -> Result<()> {
    use crate::{
        ids::{AssignmentId, CourseId, LessonId, PathId},
        lms::progress::{LessonProgressInput, ProgressStatus, record_lesson_progress},
        tenancy::{Caller, Role},
    };

    const MAIN_LESSONS: [(&str, &str, &str); 4] = [
        (
            "video",
            "What is a lakehouse?",
            "Tables and files, one copy of the data.",
        ),
        (
            "text",
            "Tables, files and formats",
            "How open table formats keep files consistent.",
        ),
        (
            "video",
            "Your first pipeline",
            "Ingest, clean and publish a table.",
        ),
        (
            "quiz",
            "Check your understanding",
            "Ten questions on the essentials.",
        ),
    ];
    const SHORT_LESSONS: [(&str, &str, &str); 2] = [
        (
            "text",
            "Who owns which data",
            "Catalogs, schemas and owners.",
        ),
        (
            "quiz",
            "Governance quiz",
            "Five questions on access control.",
        ),
    ];

    /// The course titled `title`, created (published, with `lessons`) if missing; its lesson ids in order.
    async fn course(
        conn: &mut sqlx::PgConnection,
        customer: CustomerId,
        title: &str,
        level: &str,
        minutes: i32,
        lessons: &[(&str, &str, &str)],
    ) -> Result<(CourseId, Vec<LessonId>)> {
        let existing: Option<CourseId> =
            sqlx::query_scalar("SELECT id FROM courses WHERE customer_id = $1 AND title = $2")
                .bind(customer)
                .bind(title)
                .fetch_optional(&mut *conn)
                .await?;
        let id = match existing {
            Some(id) => id,
            None => {
                let id = CourseId::new();
                sqlx::query(
                    "INSERT INTO courses (id, customer_id, status, title, description, product, tags, level,
                         estimated_minutes, published_at)
                     VALUES ($1, $2, 'published', $3, $4, 'Lakehouse', ARRAY['data engineering', 'onboarding'], $5, $6, now())",
                )
                .bind(id)
                .bind(customer)
                .bind(title)
                .bind(format!("{title}: a demo course of the enablement portal."))
                .bind(level)
                .bind(minutes)
                .execute(&mut *conn)
                .await?;
                for (i, (kind, lesson_title, body)) in lessons.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO lessons (id, course_id, position, kind, title, body) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(LessonId::new())
                    .bind(id)
                    .bind(i as i32 + 1)
                    .bind(kind)
                    .bind(lesson_title)
                    .bind(body)
                    .execute(&mut *conn)
                    .await?;
                }
                id
            }
        };
        let lesson_ids =
            sqlx::query_scalar("SELECT id FROM lessons WHERE course_id = $1 ORDER BY position")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        Ok((id, lesson_ids))
    }

    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(7270003)")
        .execute(&mut *tx)
        .await?;
    let (main, main_lessons) = course(
        &mut tx,
        customer,
        DEMO_COURSE_TITLE,
        "beginner",
        90,
        &MAIN_LESSONS,
    )
    .await?;
    let (short, short_lessons) = course(
        &mut tx,
        customer,
        "Data governance essentials",
        "intermediate",
        30,
        &SHORT_LESSONS,
    )
    .await?;

    let path_title = "Data engineer onboarding";
    let path: Option<PathId> =
        sqlx::query_scalar("SELECT id FROM learning_paths WHERE customer_id = $1 AND title = $2")
            .bind(customer)
            .bind(path_title)
            .fetch_optional(&mut *tx)
            .await?;
    let path = match path {
        Some(p) => p,
        None => {
            let p = PathId::new();
            sqlx::query(
                "INSERT INTO learning_paths (id, customer_id, title, description) VALUES ($1, $2, $3, 'Start here.')",
            )
            .bind(p)
            .bind(customer)
            .bind(path_title)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO learning_path_courses (path_id, course_id, position) VALUES ($1, $2, 1), ($1, $3, 2)")
                .bind(p)
                .bind(main)
                .bind(short)
                .execute(&mut *tx)
                .await?;
            p
        }
    };

    // Learners: the demo exec first, then up to six members of the customer.
    let learners: Vec<(UserId, String, String, Vec<String>)> = sqlx::query_as(
        "SELECT u.id, u.email, u.name, u.roles FROM users u JOIN user_customers uc ON uc.user_id = u.id
         WHERE uc.customer_id = $1 AND (lower(u.email) = $2 OR 'customer_member' = ANY(u.roles))
         ORDER BY lower(u.email) = $2 DESC, lower(u.email) LIMIT 7",
    )
    .bind(customer)
    .bind(DEMO_EXEC_EMAIL)
    .fetch_all(&mut *tx)
    .await?;
    let done = |percent| LessonProgressInput::parse(ProgressStatus::Completed, percent);
    let started = |percent| LessonProgressInput::parse(ProgressStatus::InProgress, Some(percent));
    for (i, (user_id, email, name, roles)) in learners.into_iter().enumerate() {
        let caller = Caller {
            user_id,
            email,
            name,
            roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
            customer_ids: vec![customer],
        };
        // (course, lessons, how many completed, percent of the next one)
        let plan: Vec<(CourseId, &[LessonId], usize, Option<i64>)> = match i % 3 {
            0 => vec![
                (short, &short_lessons, 2, None),
                (main, &main_lessons, 2, Some(40)),
            ],
            1 => vec![(main, &main_lessons, 4, None)],
            _ => vec![(main, &main_lessons, 1, Some(25))],
        };
        for (course_id, lessons, completed, next) in plan {
            // Leave alone whoever already has progress (seeded before, or their own).
            let has_progress: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM lesson_progress WHERE user_id = $1 AND course_id = $2)")
                    .bind(user_id)
                    .bind(course_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if has_progress {
                continue;
            }
            for (n, lesson) in lessons.iter().enumerate() {
                let input = match (n < completed, next) {
                    (true, _) => done(None)?,
                    (false, Some(p)) if n == completed => started(p)?,
                    _ => continue,
                };
                record_lesson_progress(&mut tx, &caller, course_id, *lesson, input).await?;
            }
        }
        // The path is assigned to everyone; one member's is already overdue.
        let due = if i == 2 { "-3 days" } else { "30 days" };
        sqlx::query(
            "INSERT INTO assignments (id, customer_id, user_id, path_id, due_at)
             VALUES ($1, $2, $3, $4, now() + $5::interval)
             ON CONFLICT (user_id, path_id) WHERE path_id IS NOT NULL DO NOTHING",
        )
        .bind(AssignmentId::new())
        .bind(customer)
        .bind(user_id)
        .bind(path)
        .bind(due)
        .execute(&mut *tx)
        .await?;
    }
    seed_library(&mut tx, customer, &[main, short]).await?;
    tx.commit().await?;
    Ok(())
}

/// The content library's demo data, idempotent: a metadata hierarchy
/// (product suites and their concepts) tagging the demo courses, and four
/// content items owned by the demo exec: two approved (one expiring in a
/// week), a draft and a deprecated one.
async fn seed_library(
    conn: &mut sqlx::PgConnection,
    customer: CustomerId,
    courses: &[crate::ids::CourseId],
) -> Result<()> {
    use crate::ids::{ContentItemId, MetadataTermId};

    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM metadata_terms WHERE customer_id = $1)")
            .bind(customer)
            .fetch_one(&mut *conn)
            .await?;
    if exists {
        return Ok(());
    }
    // (group, name, parent index, colour)
    const TERMS: [(&str, &str, Option<usize>, &str); 6] = [
        ("product_suite", "Lakehouse", None, "#1b3a5c"),
        ("product_suite", "Business intelligence", None, "#8a4b08"),
        ("concept", "Open table formats", Some(0), "#2f6f9f"),
        ("concept", "Pipelines", Some(0), "#3f8f6f"),
        ("concept", "Governance", Some(0), "#6f3f8f"),
        ("concept", "Dashboards", Some(1), "#b06a1c"),
    ];
    let mut ids: Vec<MetadataTermId> = Vec::new();
    for (i, (group, name, parent, color)) in TERMS.iter().enumerate() {
        let id = MetadataTermId::new();
        sqlx::query(
            "INSERT INTO metadata_terms (id, customer_id, group_key, parent_id, name, sort_order, color)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(customer)
        .bind(group)
        .bind(parent.map(|p| ids[p]))
        .bind(name)
        .bind(i as i32 * 10)
        .bind(color)
        .execute(&mut *conn)
        .await?;
        ids.push(id);
    }
    // The main course: formats and pipelines; the short one: governance.
    let tags = [(0, 2), (0, 3), (1, 4)];
    for (course, term) in tags {
        if let Some(c) = courses.get(course) {
            sqlx::query("INSERT INTO course_terms (course_id, term_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(c)
                .bind(ids[term])
                .execute(&mut *conn)
                .await?;
        }
    }
    let owner: Option<UserId> = sqlx::query_scalar(
        "SELECT u.id FROM users u JOIN user_customers uc ON uc.user_id = u.id
         WHERE uc.customer_id = $1 AND lower(u.email) = $2",
    )
    .bind(customer)
    .bind(DEMO_EXEC_EMAIL)
    .fetch_optional(&mut *conn)
    .await?;
    // (title, description, status, expires in days, term)
    const ITEMS: [(&str, &str, &str, Option<i32>, usize); 4] = [
        (
            "Lakehouse pitch deck",
            "The approved deck for first meetings.",
            "approved",
            None,
            0,
        ),
        (
            "Table formats cheat sheet",
            "One page on open table formats, for workshops.",
            "approved",
            Some(7),
            2,
        ),
        (
            "Pipeline patterns (draft)",
            "Bronze, silver, gold — with examples.",
            "draft",
            Some(90),
            3,
        ),
        (
            "Dashboard style guide 2024",
            "Superseded by the 2026 guide.",
            "deprecated",
            None,
            5,
        ),
    ];
    for (title, description, status, days, term) in ITEMS {
        let id = ContentItemId::new();
        sqlx::query(
            "INSERT INTO content_items (id, customer_id, status, title, description, owner_id, created_by,
                 expires_at, approved_by, approved_at, deprecated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6, now() + make_interval(days => $7),
                 CASE WHEN $3 <> 'draft' THEN $6 END, CASE WHEN $3 <> 'draft' THEN now() END,
                 CASE WHEN $3 = 'deprecated' THEN now() END)",
        )
        .bind(id)
        .bind(customer)
        .bind(status)
        .bind(title)
        .bind(description)
        .bind(owner)
        .bind(days)
        .execute(&mut *conn)
        .await?;
        sqlx::query("INSERT INTO content_item_terms (item_id, term_id) VALUES ($1, $2)")
            .bind(id)
            .bind(ids[term])
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
