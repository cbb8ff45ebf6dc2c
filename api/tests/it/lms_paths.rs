//! Enablement portal: learning paths over HTTP.

use test_support::app::json;

use crate::lms_common::{ids, lms, shape};

#[tokio::test]
async fn path_crud_and_what_viewers_see() {
    let w = lms().await;
    let (app, a) = (&w.app, &w.a);
    let staff = &w.internal.access;
    let (published, _) = w.published(a, "Published", 1).await;
    let draft = w.course(&w.internal, a, "Draft").await;

    let r = app
        .post(
            "/api/v1/paths",
            staff,
            &json!({"customer_id": a, "title": "Onboarding", "description": "Start here.",
                    "course_ids": [draft, published]}),
        )
        .await;
    r.expect(201);
    let path = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["course_ids"], json!([draft, published]));
    assert_eq!(r.body["customer_id"], a.as_str());

    let got = app.get(&format!("/api/v1/paths/{path}"), staff).await;
    got.expect(200);
    assert_eq!(got.body, r.body);
    // Viewers see the path with its published courses only.
    let seen = app
        .get(&format!("/api/v1/paths/{path}"), &w.member_a.access)
        .await;
    seen.expect(200);
    assert_eq!(seen.body["course_ids"], json!([published]));
    let listed = app.get("/api/v1/paths", &w.member_a.access).await;
    assert_eq!(listed.body["items"][0]["course_ids"], json!([published]));

    let patched = app
        .patch(
            &format!("/api/v1/paths/{path}"),
            staff,
            &json!({"title": "Onboarding v2", "course_ids": [published, draft]}),
        )
        .await;
    patched.expect(200);
    assert_eq!(patched.body["title"], "Onboarding v2");
    assert_eq!(patched.body["description"], "Start here.");
    assert_eq!(patched.body["course_ids"], json!([published, draft]));

    let second = w.path(a, &[&published]).await;
    assert_eq!(
        ids(&app.get("/api/v1/paths", staff).await.body),
        [second.as_str(), path.as_str()]
    );
    assert_eq!(
        ids(&app
            .get(&format!("/api/v1/paths?course_id={draft}"), staff)
            .await
            .body),
        [path.as_str()]
    );
    assert_eq!(
        ids(&app
            .get(&format!("/api/v1/paths?customer_id={}", w.b), staff)
            .await
            .body),
        Vec::<String>::new()
    );
    let page = app.get("/api/v1/paths?limit=1", staff).await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&app
            .get(&format!("/api/v1/paths?limit=1&cursor={cursor}"), staff)
            .await
            .body),
        [path.as_str()]
    );

    // Bad input names the field and writes nothing.
    let (foreign, _) = w.published(&w.b, "B's course", 1).await;
    let before = w.row("learning_paths", &path).await;
    let bad = app
        .patch(
            &format!("/api/v1/paths/{path}"),
            staff,
            &json!({"course_ids": [published, foreign]}),
        )
        .await;
    assert_eq!(
        bad.expect_problem(400)["errors"][0]["pointer"],
        "/course_ids/1"
    );
    let dup = app
        .patch(
            &format!("/api/v1/paths/{path}"),
            staff,
            &json!({"course_ids": [draft, draft]}),
        )
        .await;
    assert_eq!(
        dup.expect_problem(400)["errors"][0]["pointer"],
        "/course_ids/1"
    );
    let untitled = app
        .patch(
            &format!("/api/v1/paths/{path}"),
            staff,
            &json!({"title": ""}),
        )
        .await;
    assert_eq!(
        untitled.expect_problem(400)["errors"][0]["pointer"],
        "/title"
    );
    assert_eq!(w.row("learning_paths", &path).await, before);
    assert_eq!(
        app.get(&format!("/api/v1/paths/{path}"), staff).await.body["course_ids"],
        json!([published, draft])
    );

    app.delete(&format!("/api/v1/paths/{path}"), staff)
        .await
        .expect(204);
    app.get(&format!("/api/v1/paths/{path}"), staff)
        .await
        .expect_problem(404);
    assert_eq!(
        w.scalar(&format!(
            "SELECT count(*) FROM learning_path_courses WHERE path_id = '{path}'"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn path_roles_conflicts_and_isolation() {
    let w = lms().await;
    let (app, a) = (&w.app, &w.a);
    let (course, _) = w.published(a, "Course", 1).await;
    let path = w.path(a, &[&course]).await;

    // Viewers may not manage paths.
    let member = &w.member_a.access;
    app.post(
        "/api/v1/paths",
        member,
        &json!({"customer_id": a, "title": "Mine"}),
    )
    .await
    .expect_problem(403);
    app.patch(
        &format!("/api/v1/paths/{path}"),
        member,
        &json!({"title": "X"}),
    )
    .await
    .expect_problem(403);
    app.delete(&format!("/api/v1/paths/{path}"), member)
        .await
        .expect_problem(403);

    // Another customer's approver: 404 like a missing path, nothing changes.
    let before = w.row("learning_paths", &path).await;
    let t = &w.exec_b.access;
    let reference = app
        .get(&format!("/api/v1/paths/{}", uuid::Uuid::now_v7()), t)
        .await;
    for r in [
        app.get(&format!("/api/v1/paths/{path}"), t).await,
        app.patch(
            &format!("/api/v1/paths/{path}"),
            t,
            &json!({"title": "Hijacked", "course_ids": []}),
        )
        .await,
        app.delete(&format!("/api/v1/paths/{path}"), t).await,
    ] {
        r.expect_problem(404);
        assert_eq!(shape(&r.body), shape(&reference.body));
    }
    let foreign = app
        .post("/api/v1/paths", t, &json!({"customer_id": a, "title": "X"}))
        .await;
    assert_eq!(
        foreign.expect_problem(400)["errors"][0]["pointer"],
        "/customer_id"
    );
    assert!(ids(&app.get("/api/v1/paths", t).await.body).is_empty());
    assert_eq!(w.row("learning_paths", &path).await, before);
    assert_eq!(
        w.scalar(&format!(
            "SELECT count(*) FROM learning_path_courses WHERE path_id = '{path}'"
        ))
        .await,
        1
    );

    // An assigned path cannot be deleted.
    let due = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    app.post(
        "/api/v1/assignments",
        &w.exec_a.access,
        &json!({"user_id": w.member_a.user_id, "path_id": path, "due_at": due}),
    )
    .await
    .expect(201);
    let assigned = app
        .delete(&format!("/api/v1/paths/{path}"), &w.internal.access)
        .await;
    assert_eq!(assigned.expect_problem(409)["code"], "path_assigned");
    assert_eq!(w.scalar("SELECT count(*) FROM learning_paths").await, 1);
}
