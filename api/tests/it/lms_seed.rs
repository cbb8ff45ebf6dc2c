//! The demo seed's enablement portal data: present, real, and written once.

use launchpad_domain::demo::{DEMO_COURSE_TITLE, DEMO_EXEC_EMAIL, seed};
use test_support::TestDb;

async fn counts(db: &TestDb) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT count(*) FROM courses WHERE status = 'published'",
        "SELECT count(*) FROM lessons",
        "SELECT count(*) FROM learning_path_courses",
        "SELECT count(*) FROM lesson_progress",
        "SELECT count(*) FROM course_completions",
        "SELECT count(*) FROM assignments",
        "SELECT count(*) FROM metadata_terms",
        "SELECT count(*) FROM course_terms",
        "SELECT count(*) FROM content_items",
        "SELECT count(*) FROM content_items WHERE status = 'approved'",
    ] {
        out.push(sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap());
    }
    out
}

#[tokio::test]
async fn demo_seed_fills_the_lms_once() {
    let db = TestDb::new().await;
    let customer = seed(&db.pool).await.unwrap();
    let first = counts(&db).await;
    assert_eq!(
        first[..3],
        [2, 6, 2],
        "two published courses, 4 + 2 lessons, a path of both"
    );
    assert!(
        first[4] >= 1,
        "a completion for the certificates job: {first:?}"
    );

    let lessons: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lessons l JOIN courses c ON c.id = l.course_id WHERE c.title = $1 AND c.customer_id = $2",
    )
    .bind(DEMO_COURSE_TITLE)
    .bind(customer)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(lessons, 4);
    assert_eq!(
        first[6..],
        [6, 3, 4, 2],
        "a metadata hierarchy tagging both courses, four content items, two approved"
    );
    let exec_progress: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lesson_progress p JOIN users u ON u.id = p.user_id WHERE lower(u.email) = $1",
    )
    .bind(DEMO_EXEC_EMAIL)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(exec_progress >= 3, "the exec has progress: {exec_progress}");
    let states: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT status FROM assignment_states ORDER BY status")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(states.iter().any(|s| s == "in_progress"), "{states:?}");

    seed(&db.pool).await.unwrap();
    assert_eq!(counts(&db).await, first, "seeding again changes nothing");
}
