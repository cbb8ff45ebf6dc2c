//! Enablement portal: assignments and their derived status.

use chrono::{Duration, Utc};
use test_support::app::json;

use crate::lms_common::{id, ids, lms, shape};

fn in_days(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339()
}

#[tokio::test]
async fn status_is_derived_from_progress_and_the_date() {
    let w = lms().await;
    let app = &w.app;
    let (course, l) = w.published(&w.a, "Course", 2).await;
    let (second, l2) = w.published(&w.a, "Second", 1).await;
    let path = w.path(&w.a, &[&course, &second]).await;
    let me = &w.member_a;
    let exec = &w.exec_a.access;

    let r = app
        .post(
            "/api/v1/assignments",
            exec,
            &json!({"user_id": me.user_id, "course_id": course, "due_at": in_days(7)}),
        )
        .await;
    r.expect(201);
    let by_course = id(&r.body);
    assert_eq!(r.body["status"], "assigned");
    assert_eq!(r.body["customer_id"], w.a.as_str());
    assert_eq!(r.body["assigned_by"], w.exec_a.user_id.as_str());
    assert!(
        r.body.get("path_id").is_none() && r.body.get("completed_at").is_none(),
        "{}",
        r.text
    );
    let r = app
        .post(
            "/api/v1/assignments",
            exec,
            &json!({"user_id": me.user_id, "path_id": path, "due_at": in_days(30)}),
        )
        .await;
    r.expect(201);
    let by_path = id(&r.body);

    let status = |id: String| async move {
        let r = app
            .get(&format!("/api/v1/assignments/{id}"), &me.access)
            .await;
        r.expect(200);
        r.body["status"].as_str().unwrap().to_string()
    };
    let mine = app.get("/api/v1/me/assignments", &me.access).await;
    mine.expect(200);
    assert_eq!(ids(&mine.body), [by_path.as_str(), by_course.as_str()]);

    // Started: in progress (both: the course is on the path).
    w.progress(
        me,
        &course,
        &l[0],
        json!({"status": "in_progress", "percent": 10}),
    )
    .await
    .expect(200);
    assert_eq!(status(by_course.clone()).await, "in_progress");
    assert_eq!(status(by_path.clone()).await, "in_progress");

    // Past the due date and not completed: overdue.
    sqlx::query("UPDATE assignments SET due_at = now() - interval '1 day' WHERE id = $1::uuid")
        .bind(&by_course)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status(by_course.clone()).await, "overdue");
    let overdue = app.get("/api/v1/assignments?status=overdue", exec).await;
    assert_eq!(ids(&overdue.body), [by_course.as_str()]);
    let mine = app
        .get("/api/v1/me/assignments?status=overdue", &me.access)
        .await;
    assert_eq!(ids(&mine.body), [by_course.as_str()]);

    // Completing the course completes its assignment, late or not; the path needs every course.
    for lesson in &l {
        w.progress(me, &course, lesson, json!({"status": "completed"}))
            .await
            .expect(200);
    }
    let done = app
        .get(&format!("/api/v1/assignments/{by_course}"), &me.access)
        .await;
    assert_eq!(done.body["status"], "completed");
    assert!(done.body["completed_at"].is_string());
    assert_eq!(status(by_path.clone()).await, "in_progress");
    w.progress(me, &second, &l2[0], json!({"status": "completed"}))
        .await
        .expect(200);
    assert_eq!(status(by_path.clone()).await, "completed");
    assert_eq!(
        ids(&app
            .get("/api/v1/assignments?status=completed", exec)
            .await
            .body)
        .len(),
        2
    );
    assert!(
        ids(&app
            .get("/api/v1/assignments?status=assigned", exec)
            .await
            .body)
        .is_empty()
    );

    // A fresh assignment of someone else is `assigned`.
    let (third, _) = w.published(&w.a, "Third", 1).await;
    let r = app
        .post(
            "/api/v1/assignments",
            exec,
            &json!({"user_id": w.exec_a.user_id, "course_id": third, "due_at": in_days(1)}),
        )
        .await;
    r.expect(201);
    let listed = app
        .get(
            &format!("/api/v1/assignments?user_id={}", w.exec_a.user_id),
            exec,
        )
        .await;
    assert_eq!(ids(&listed.body), [id(&r.body)]);
    assert_eq!(listed.body["items"][0]["status"], "assigned");
    assert_eq!(
        ids(&app
            .get(&format!("/api/v1/assignments?path_id={path}"), exec)
            .await
            .body),
        [by_path.as_str()]
    );
    assert_eq!(
        ids(&app
            .get(&format!("/api/v1/assignments?course_id={course}"), exec)
            .await
            .body),
        [by_course]
    );
}

#[tokio::test]
async fn assignment_roles_validation_and_isolation() {
    let w = lms().await;
    let app = &w.app;
    let (course, _) = w.published(&w.a, "Course", 1).await;
    let draft = w.course(&w.internal, &w.a, "Draft").await;
    let (course_b, _) = w.published(&w.b, "B's course", 1).await;
    let member_b = app
        .user(&w.admin, "member@b.test", &["customer_member"], &[&w.b])
        .await;
    let peer = app
        .user(&w.admin, "peer@a.test", &["customer_member"], &[&w.a])
        .await;
    let me = &w.member_a;
    let body = json!({"user_id": me.user_id, "course_id": course, "due_at": in_days(7)});

    // Only approvers assign; viewers list their own only.
    app.post("/api/v1/assignments", &w.internal.access, &body)
        .await
        .expect_problem(403);
    app.post("/api/v1/assignments", &me.access, &body)
        .await
        .expect_problem(403);
    app.get("/api/v1/assignments", &me.access)
        .await
        .expect_problem(403);
    let assignments = "SELECT count(*) FROM assignments";
    assert_eq!(w.scalar(assignments).await, 0);

    // Bad input names the field and writes nothing.
    let exec = &w.exec_a.access;
    let bad =
        |body: serde_json::Value| async move { app.post("/api/v1/assignments", exec, &body).await };
    let past =
        bad(json!({"user_id": me.user_id, "course_id": course, "due_at": in_days(-1)})).await;
    assert_eq!(past.expect_problem(400)["errors"][0]["pointer"], "/due_at");
    let both = bad(json!({"user_id": me.user_id, "course_id": course, "path_id": course, "due_at": in_days(1)})).await;
    assert_eq!(both.expect_problem(400)["errors"][0]["pointer"], "/path_id");
    let neither = bad(json!({"user_id": me.user_id, "due_at": in_days(1)})).await;
    assert_eq!(
        neither.expect_problem(400)["errors"][0]["pointer"],
        "/course_id"
    );
    let unpublished =
        bad(json!({"user_id": me.user_id, "course_id": draft, "due_at": in_days(1)})).await;
    assert_eq!(
        unpublished.expect_problem(400)["errors"][0]["pointer"],
        "/course_id"
    );
    let outsider =
        bad(json!({"user_id": member_b.user_id, "course_id": course, "due_at": in_days(1)})).await;
    assert_eq!(
        outsider.expect_problem(400)["errors"][0]["pointer"],
        "/user_id"
    );
    let no_date =
        bad(json!({"user_id": me.user_id, "course_id": course, "due_at": "tomorrow"})).await;
    assert_eq!(
        no_date.expect_problem(400)["errors"][0]["pointer"],
        "/due_at"
    );
    // Another customer's course reads like a missing one.
    let foreign =
        bad(json!({"user_id": me.user_id, "course_id": course_b, "due_at": in_days(1)})).await;
    let missing = bad(
        json!({"user_id": me.user_id, "course_id": uuid::Uuid::now_v7(), "due_at": in_days(1)}),
    )
    .await;
    foreign.expect_problem(400);
    assert_eq!(shape(&foreign.body), shape(&missing.body));
    assert_eq!(w.scalar(assignments).await, 0);

    let r = app.post("/api/v1/assignments", exec, &body).await;
    r.expect(201);
    let assignment = id(&r.body);
    let dup = app.post("/api/v1/assignments", exec, &body).await;
    assert_eq!(dup.expect_problem(409)["code"], "already_assigned");

    // Read: the assignee and contributors and up; not a peer, not another customer.
    app.get(&format!("/api/v1/assignments/{assignment}"), &me.access)
        .await
        .expect(200);
    app.get(
        &format!("/api/v1/assignments/{assignment}"),
        &w.internal.access,
    )
    .await
    .expect(200);
    assert_eq!(
        ids(&app
            .get("/api/v1/assignments", &w.internal.access)
            .await
            .body),
        [assignment.as_str()]
    );
    app.get(&format!("/api/v1/assignments/{assignment}"), &peer.access)
        .await
        .expect_problem(404);
    assert!(ids(&app.get("/api/v1/me/assignments", &peer.access).await.body).is_empty());

    // Changes: approvers only; the assignee may not move their own due date.
    let later = in_days(14);
    app.patch(
        &format!("/api/v1/assignments/{assignment}"),
        &me.access,
        &json!({"due_at": later}),
    )
    .await
    .expect_problem(403);
    app.patch(
        &format!("/api/v1/assignments/{assignment}"),
        &w.internal.access,
        &json!({"due_at": later}),
    )
    .await
    .expect_problem(403);
    let back = app
        .patch(
            &format!("/api/v1/assignments/{assignment}"),
            exec,
            &json!({"due_at": in_days(-2)}),
        )
        .await;
    assert_eq!(back.expect_problem(400)["errors"][0]["pointer"], "/due_at");

    let before = w.row("assignments", &assignment).await;
    let t = &w.exec_b.access;
    let reference = app
        .get(&format!("/api/v1/assignments/{}", uuid::Uuid::now_v7()), t)
        .await;
    for r in [
        app.get(&format!("/api/v1/assignments/{assignment}"), t)
            .await,
        app.patch(
            &format!("/api/v1/assignments/{assignment}"),
            t,
            &json!({"due_at": later}),
        )
        .await,
        app.delete(&format!("/api/v1/assignments/{assignment}"), t)
            .await,
    ] {
        r.expect_problem(404);
        assert_eq!(shape(&r.body), shape(&reference.body));
    }
    assert!(ids(&app.get("/api/v1/assignments", t).await.body).is_empty());
    assert!(
        ids(&app
            .get(&format!("/api/v1/assignments?customer_id={}", w.a), t)
            .await
            .body)
        .is_empty()
    );
    assert_eq!(w.row("assignments", &assignment).await, before);

    let moved = app
        .patch(
            &format!("/api/v1/assignments/{assignment}"),
            exec,
            &json!({"due_at": later}),
        )
        .await;
    moved.expect(200);
    assert_ne!(w.row("assignments", &assignment).await, before);
    app.delete(&format!("/api/v1/assignments/{assignment}"), exec)
        .await
        .expect(204);
    app.get(&format!("/api/v1/assignments/{assignment}"), exec)
        .await
        .expect_problem(404);
    assert_eq!(
        w.scalar(&format!(
            "SELECT count(*) FROM audit_log WHERE target_id = '{assignment}'
             AND action IN ('assignment.created', 'assignment.updated', 'assignment.deleted')"
        ))
        .await,
        3
    );
}
