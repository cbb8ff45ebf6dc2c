//! Enablement portal: progress, derived course completion and the
//! completion row written once.

use launchpad_domain::{
    ids::{CourseId, CustomerId, LessonId, UserId},
    lms::progress::{self, LessonProgressInput, ProgressStatus},
    tenancy::{Caller, Role},
};
use test_support::app::json;

use crate::lms_common::lms;

#[tokio::test]
async fn completing_every_lesson_completes_the_course_once() {
    let w = lms().await;
    let app = &w.app;
    let (course, l) = w.published(&w.a, "Three lessons", 3).await;
    let me = &w.member_a;
    let completions =
        format!("SELECT count(*) FROM course_completions WHERE course_id = '{course}'");

    let fresh = app
        .get(&format!("/api/v1/me/progress/{course}"), &me.access)
        .await;
    fresh.expect(200);
    assert_eq!(fresh.body["status"], "not_started");
    assert_eq!(fresh.body["percent"], 0);
    assert_eq!(fresh.body["lessons"].as_array().unwrap().len(), 3);
    assert!(
        fresh.body["lessons"][0].get("updated_at").is_none(),
        "{}",
        fresh.text
    );

    w.progress(me, &course, &l[0], json!({"status": "completed"}))
        .await
        .expect(200);
    let r = w
        .progress(
            me,
            &course,
            &l[1],
            json!({"status": "in_progress", "percent": 50}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "in_progress");
    assert_eq!(r.body["percent"], 50, "(100 + 50 + 0) / 3");
    assert_eq!(r.body["lessons"][0]["status"], "completed");
    assert_eq!(r.body["lessons"][0]["percent"], 100);
    assert!(r.body["lessons"][0]["completed_at"].is_string());
    assert_eq!(r.body["lessons"][1]["percent"], 50);
    assert_eq!(r.body["lessons"][2]["status"], "not_started");
    assert!(r.body.get("completed_at").is_none());

    w.progress(
        me,
        &course,
        &l[1],
        json!({"status": "completed", "percent": 100}),
    )
    .await
    .expect(200);
    assert_eq!(w.scalar(&completions).await, 0);
    let done = w
        .progress(me, &course, &l[2], json!({"status": "completed"}))
        .await;
    done.expect(200);
    assert_eq!(done.body["status"], "completed");
    assert_eq!(done.body["percent"], 100);
    let completed_at = done.body["completed_at"]
        .as_str()
        .expect("completed_at")
        .to_string();
    assert_eq!(w.scalar(&completions).await, 1);

    // The last lesson again, or undone and redone: still one completion, same time.
    w.progress(me, &course, &l[2], json!({"status": "completed"}))
        .await
        .expect(200);
    w.progress(
        me,
        &course,
        &l[2],
        json!({"status": "in_progress", "percent": 90}),
    )
    .await
    .expect(200);
    let redo = w
        .progress(me, &course, &l[2], json!({"status": "completed"}))
        .await;
    assert_eq!(redo.body["completed_at"], completed_at.as_str());
    assert_eq!(w.scalar(&completions).await, 1);
    let row: (String, String) = sqlx::query_as(
        "SELECT user_id::text, customer_id::text FROM course_completions WHERE course_id = $1::uuid",
    )
    .bind(&course)
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(row, (me.user_id.clone(), w.a.clone()));
    let got = app
        .get(&format!("/api/v1/me/progress/{course}"), &me.access)
        .await;
    assert_eq!(got.body, redo.body);

    // Someone else's progress is their own.
    let other = app
        .get(&format!("/api/v1/me/progress/{course}"), &w.exec_a.access)
        .await;
    assert_eq!(other.body["status"], "not_started");
}

#[tokio::test]
async fn the_domain_reports_the_update_that_completed_the_course() {
    let w = lms().await;
    let (course, lessons) = w.published(&w.a, "Two lessons", 2).await;
    let caller = Caller {
        user_id: w.member_a.user_id.parse::<UserId>().unwrap(),
        email: "member@a.test".into(),
        name: "member".into(),
        roles: vec![Role::CustomerMember],
        customer_ids: vec![w.a.parse::<CustomerId>().unwrap()],
    };
    let course: CourseId = course.parse().unwrap();
    let lessons: Vec<LessonId> = lessons.iter().map(|l| l.parse().unwrap()).collect();
    let completed = LessonProgressInput::parse(ProgressStatus::Completed, None).unwrap();
    let db = &w.app.db.pool;

    let first = progress::put_lesson_progress(db, &caller, course, lessons[0], completed)
        .await
        .unwrap();
    assert!(first.newly_completed.is_none());
    let last = progress::put_lesson_progress(db, &caller, course, lessons[1], completed)
        .await
        .unwrap();
    let completion = last
        .newly_completed
        .expect("this update completed the course");
    assert_eq!(
        (completion.user_id, completion.course_id),
        (caller.user_id, course)
    );
    let again = progress::put_lesson_progress(db, &caller, course, lessons[1], completed)
        .await
        .unwrap();
    assert!(again.newly_completed.is_none());
    assert_eq!(
        progress::completion(&mut db.acquire().await.unwrap(), caller.user_id, course)
            .await
            .unwrap(),
        Some(completion)
    );
}

#[tokio::test]
async fn bad_progress_names_the_field_and_writes_nothing() {
    let w = lms().await;
    let app = &w.app;
    let (course, l) = w.published(&w.a, "Course", 2).await;
    let (other_course, other_lessons) = w.published(&w.a, "Other", 1).await;
    let draft = w.course(&w.internal, &w.a, "Draft").await;
    let draft_lesson = w.lesson(&w.internal, &draft, "Draft lesson").await;
    let me = &w.member_a;

    let r = w
        .progress(
            me,
            &course,
            &l[0],
            json!({"status": "in_progress", "percent": 101}),
        )
        .await;
    assert_eq!(r.expect_problem(400)["errors"][0]["pointer"], "/percent");
    let r = w
        .progress(
            me,
            &course,
            &l[0],
            json!({"status": "completed", "percent": 50}),
        )
        .await;
    assert_eq!(r.expect_problem(400)["errors"][0]["pointer"], "/percent");
    let r = w
        .progress(
            me,
            &course,
            &l[0],
            json!({"status": "not_started", "percent": 5}),
        )
        .await;
    assert_eq!(r.expect_problem(400)["errors"][0]["pointer"], "/percent");
    let r = w
        .progress(me, &course, &l[0], json!({"status": "done"}))
        .await;
    assert_eq!(r.expect_problem(400)["errors"][0]["pointer"], "/status");
    let r = w
        .progress(
            me,
            &course,
            &l[0],
            json!({"status": "in_progress", "percent": "half"}),
        )
        .await;
    assert_eq!(r.expect_problem(400)["errors"][0]["pointer"], "/percent");

    // A lesson of another course, under this course: 404 naming the lesson.
    let r = w
        .progress(
            me,
            &course,
            &other_lessons[0],
            json!({"status": "completed"}),
        )
        .await;
    assert_eq!(r.expect_problem(404)["detail"], "lesson not found");
    let r = w
        .progress(me, &other_course, &l[0], json!({"status": "completed"}))
        .await;
    r.expect_problem(404);

    // Drafts: 404 for viewers, 409 for contributors (no progress on unpublished courses).
    let r = w
        .progress(me, &draft, &draft_lesson, json!({"status": "completed"}))
        .await;
    r.expect_problem(404);
    app.get(&format!("/api/v1/me/progress/{draft}"), &me.access)
        .await
        .expect_problem(404);
    let r = w
        .progress(
            &w.internal,
            &draft,
            &draft_lesson,
            json!({"status": "completed"}),
        )
        .await;
    assert_eq!(r.expect_problem(409)["code"], "course_not_published");

    // Another customer's course: 404 like a missing one.
    let r = w
        .progress(&w.exec_b, &course, &l[0], json!({"status": "completed"}))
        .await;
    let missing = w
        .progress(
            &w.exec_b,
            &uuid::Uuid::now_v7().to_string(),
            &l[0],
            json!({"status": "completed"}),
        )
        .await;
    r.expect_problem(404);
    assert_eq!(r.body["detail"], missing.body["detail"]);
    app.get(&format!("/api/v1/me/progress/{course}"), &w.exec_b.access)
        .await
        .expect_problem(404);

    assert_eq!(w.scalar("SELECT count(*) FROM lesson_progress").await, 0);
    assert_eq!(w.scalar("SELECT count(*) FROM course_completions").await, 0);
}
