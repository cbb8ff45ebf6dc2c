//! Enablement portal: courses and lessons over HTTP.

use test_support::app::json;

use crate::lms_common::{ids, lms, shape};

#[tokio::test]
async fn course_lifecycle_filters_and_pages() {
    let w = lms().await;
    let (app, a) = (&w.app, &w.a);
    let staff = &w.internal.access;

    let r = app
        .post(
            "/api/v1/courses",
            staff,
            &json!({"customer_id": a, "title": " Lakehouse 101 ", "description": "Tables and files.",
                    "product": "Lakehouse", "tags": ["SQL", "Delta Lake", "sql"], "level": "beginner",
                    "estimated_minutes": 90}),
        )
        .await;
    r.expect(201);
    let course = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["status"], "draft");
    assert_eq!(r.body["title"], "Lakehouse 101");
    assert_eq!(r.body["tags"], json!(["sql", "delta lake"]));
    assert_eq!(r.body["lesson_count"], 0);
    assert_eq!(r.body["created_by"], w.internal.user_id.as_str());
    assert!(
        r.body.get("published_at").is_none(),
        "absent, not null: {}",
        r.text
    );
    let other = w.course(&w.internal, a, "Streaming basics").await;

    let got = app.get(&format!("/api/v1/courses/{course}"), staff).await;
    got.expect(200);
    assert_eq!(got.body, r.body);

    let patched = app
        .patch(
            &format!("/api/v1/courses/{course}"),
            staff,
            &json!({"title": "Lakehouse fundamentals", "level": "intermediate", "tags": ["sql"]}),
        )
        .await;
    patched.expect(200);
    assert_eq!(patched.body["title"], "Lakehouse fundamentals");
    assert_eq!(patched.body["level"], "intermediate");
    assert_eq!(patched.body["tags"], json!(["sql"]));
    assert_eq!(
        patched.body["product"], "Lakehouse",
        "untouched fields stay"
    );

    // Filters.
    let list = |query: &str| {
        let path = format!("/api/v1/courses?{query}");
        async move { app.get(&path, staff).await }
    };
    assert_eq!(ids(&list("").await.body), [other.as_str(), course.as_str()]);
    assert_eq!(ids(&list("tag=SQL").await.body), [course.as_str()]);
    assert_eq!(
        ids(&list("product=Lakehouse").await.body),
        [course.as_str()]
    );
    assert_eq!(
        ids(&list("level=intermediate").await.body),
        [course.as_str()]
    );
    assert_eq!(ids(&list("q=fundament").await.body), [course.as_str()]);
    assert_eq!(
        ids(&list("q=tables%20and").await.body),
        [course.as_str()],
        "description matches"
    );
    assert!(ids(&list("q=100%25").await.body).is_empty(), "% is literal");
    assert_eq!(
        ids(&list(&format!("customer_id={}", w.b)).await.body),
        Vec::<String>::new()
    );
    assert_eq!(ids(&list("status=draft").await.body).len(), 2);
    list("level=expert").await.expect_problem(400);

    // Pages.
    let first = list("limit=1").await;
    assert_eq!(ids(&first.body), [other.as_str()]);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let second = list(&format!("limit=1&cursor={cursor}")).await;
    assert_eq!(ids(&second.body), [course.as_str()]);
    assert!(second.body.get("next_cursor").is_none(), "{}", second.text);
    assert_eq!(
        list("limit=201").await.expect_problem(400)["errors"][0]["pointer"],
        "/limit"
    );

    // Publishing needs a lesson, and an approver.
    let exec = &w.exec_a;
    let no_lessons = w
        .action(exec, &format!("/api/v1/courses/{course}/publish"))
        .await;
    assert_eq!(
        no_lessons.expect_problem(409)["code"],
        "course_has_no_lessons"
    );
    w.lesson(&w.internal, &course, "Intro").await;
    let published = w
        .action(exec, &format!("/api/v1/courses/{course}/publish"))
        .await;
    published.expect(200);
    assert_eq!(published.body["status"], "published");
    assert!(published.body["published_at"].is_string());
    assert_eq!(published.body["lesson_count"], 1);
    let again = w
        .action(exec, &format!("/api/v1/courses/{course}/publish"))
        .await;
    assert_eq!(again.expect_problem(409)["code"], "course_status_unchanged");
    assert_eq!(ids(&list("status=published").await.body), [course.as_str()]);

    // Archived courses leave the default list.
    let archived = w
        .action(exec, &format!("/api/v1/courses/{course}/archive"))
        .await;
    archived.expect(200);
    assert_eq!(archived.body["status"], "archived");
    assert_eq!(ids(&list("").await.body), [other.as_str()]);
    assert_eq!(ids(&list("status=archived").await.body), [course.as_str()]);
    assert_eq!(
        w.scalar(&format!(
            "SELECT count(*) FROM audit_log WHERE target_id = '{course}'
             AND action IN ('course.created', 'course.updated', 'course.published', 'course.archived')"
        ))
        .await,
        4
    );
}

#[tokio::test]
async fn course_roles_follow_the_portal_mapping() {
    let w = lms().await;
    let (app, a) = (&w.app, &w.a);
    let member = &w.member_a.access;
    let draft = w.course(&w.internal, a, "Draft course").await;
    let (published, _) = w.published(a, "Published course", 1).await;

    // Viewers: no creating; drafts are 404 and unlisted; published visible.
    let create = app
        .post(
            "/api/v1/courses",
            member,
            &json!({"customer_id": a, "title": "Mine", "level": "beginner"}),
        )
        .await;
    create.expect_problem(403);
    let hidden = app.get(&format!("/api/v1/courses/{draft}"), member).await;
    hidden.expect_problem(404);
    let missing = app
        .get(&format!("/api/v1/courses/{}", uuid::Uuid::now_v7()), member)
        .await;
    assert_eq!(shape(&hidden.body), shape(&missing.body));
    app.get(&format!("/api/v1/courses/{draft}/lessons"), member)
        .await
        .expect_problem(404);
    app.get(&format!("/api/v1/courses/{published}"), member)
        .await
        .expect(200);
    assert_eq!(
        ids(&app.get("/api/v1/courses", member).await.body),
        [published.as_str()]
    );
    assert!(ids(&app.get("/api/v1/courses?status=draft", member).await.body).is_empty());
    let edit = app
        .patch(
            &format!("/api/v1/courses/{published}"),
            member,
            &json!({"title": "X"}),
        )
        .await;
    edit.expect_problem(403);
    app.patch(
        &format!("/api/v1/courses/{draft}"),
        member,
        &json!({"title": "X"}),
    )
    .await
    .expect_problem(404);

    // Contributors (internal): edit drafts, but neither publish nor edit published courses.
    let staff = &w.internal;
    app.patch(
        &format!("/api/v1/courses/{draft}"),
        &staff.access,
        &json!({"title": "Better draft"}),
    )
    .await
    .expect(200);
    w.lesson(staff, &draft, "One").await;
    let publish = w
        .action(staff, &format!("/api/v1/courses/{draft}/publish"))
        .await;
    assert!(
        publish.expect_problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("approver")
    );
    w.action(staff, &format!("/api/v1/courses/{published}/archive"))
        .await
        .expect_problem(403);
    app.patch(
        &format!("/api/v1/courses/{published}"),
        &staff.access,
        &json!({"title": "X"}),
    )
    .await
    .expect_problem(403);
    let add = app
        .post(
            &format!("/api/v1/courses/{published}/lessons"),
            &staff.access,
            &json!({"kind": "text", "title": "Sneaky"}),
        )
        .await;
    add.expect_problem(403);
    assert_eq!(
        w.scalar(&format!(
            "SELECT count(*) FROM lessons WHERE course_id = '{published}'"
        ))
        .await,
        1
    );

    // Approvers (customer_exec of A): publish and edit published courses.
    let exec = &w.exec_a;
    app.patch(
        &format!("/api/v1/courses/{published}"),
        &exec.access,
        &json!({"title": "Renamed"}),
    )
    .await
    .expect(200);
    w.action(exec, &format!("/api/v1/courses/{draft}/publish"))
        .await
        .expect(200);
    // ...but only in their own customer: B's exec cannot create in A.
    let foreign = app
        .post(
            "/api/v1/courses",
            &w.exec_b.access,
            &json!({"customer_id": a, "title": "X", "level": "beginner"}),
        )
        .await;
    assert_eq!(
        foreign.expect_problem(400)["errors"][0]["pointer"],
        "/customer_id"
    );
    assert_eq!(w.scalar("SELECT count(*) FROM courses").await, 2);
}

#[tokio::test]
async fn lessons_are_ordered_and_reordered() {
    let w = lms().await;
    let app = &w.app;
    let t = &w.internal.access;
    let course = w.course(&w.internal, &w.a, "Ordered").await;
    let base = format!("/api/v1/courses/{course}/lessons");
    let l1 = w.lesson(&w.internal, &course, "One").await;
    let l2 = w.lesson(&w.internal, &course, "Two").await;
    let first = app
        .post(
            &base,
            t,
            &json!({"kind": "video", "title": "Zero", "media_url": "https://media.example.com/0.mp4", "position": 1}),
        )
        .await;
    first.expect(201);
    assert_eq!(first.body["position"], 1);
    let l0 = first.body["id"].as_str().unwrap().to_string();
    let order = |body: &serde_json::Value| -> Vec<(String, i64)> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["id"].as_str().unwrap().to_string(),
                    l["position"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let list = app.get(&base, t).await;
    list.expect(200);
    assert_eq!(
        order(&list.body),
        [(l0.clone(), 1), (l1.clone(), 2), (l2.clone(), 3)]
    );
    let page = app.get(&format!("{base}?limit=2"), t).await;
    let next = page.body["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(
        order(
            &app.get(&format!("{base}?limit=2&cursor={next}"), t)
                .await
                .body
        ),
        [(l2.clone(), 3)]
    );

    let got = app.get(&format!("{base}/{l0}"), t).await;
    got.expect(200);
    assert_eq!(got.body["kind"], "video");
    assert_eq!(got.body["media_url"], "https://media.example.com/0.mp4");

    // Move the last one first, edit it.
    let moved = app
        .patch(
            &format!("{base}/{l2}"),
            t,
            &json!({"position": 1, "title": "Two!"}),
        )
        .await;
    moved.expect(200);
    assert_eq!(moved.body["title"], "Two!");
    assert_eq!(
        order(&app.get(&base, t).await.body),
        [(l2.clone(), 1), (l0.clone(), 2), (l1.clone(), 3)]
    );

    // Reorder with the full list.
    let put = app
        .put(
            &format!("{base}/order"),
            t,
            &json!({"lesson_ids": [l1, l0, l2]}),
        )
        .await;
    put.expect(200);
    assert_eq!(put.body["lesson_ids"], json!([l1, l0, l2]));
    assert_eq!(
        order(&app.get(&base, t).await.body),
        [(l1.clone(), 1), (l0.clone(), 2), (l2.clone(), 3)]
    );

    // Bad input: nothing changes.
    let before = app.get(&base, t).await.body;
    let partial = app
        .put(
            &format!("{base}/order"),
            t,
            &json!({"lesson_ids": [l1, l0]}),
        )
        .await;
    assert_eq!(
        partial.expect_problem(400)["errors"][0]["pointer"],
        "/lesson_ids"
    );
    let stranger = uuid::Uuid::now_v7().to_string();
    let foreign = app
        .put(
            &format!("{base}/order"),
            t,
            &json!({"lesson_ids": [l1, l0, stranger]}),
        )
        .await;
    foreign.expect_problem(400);
    assert!(
        foreign.pointers().contains(&"/lesson_ids/2".to_string()),
        "{}",
        foreign.text
    );
    let twice = app
        .put(
            &format!("{base}/order"),
            t,
            &json!({"lesson_ids": [l1, l0, l0]}),
        )
        .await;
    assert!(
        twice.pointers().contains(&"/lesson_ids/2".to_string()),
        "{}",
        twice.text
    );
    let far = app
        .patch(&format!("{base}/{l0}"), t, &json!({"position": 4}))
        .await;
    assert_eq!(far.expect_problem(400)["errors"][0]["pointer"], "/position");
    let far = app
        .post(
            &base,
            t,
            &json!({"kind": "text", "title": "X", "position": 5}),
        )
        .await;
    assert_eq!(far.expect_problem(400)["errors"][0]["pointer"], "/position");
    let bad = app
        .post(
            &base,
            t,
            &json!({"kind": "podcast", "title": "X", "media_url": "ftp://x"}),
        )
        .await;
    assert_eq!(bad.expect_problem(400)["errors"][0]["pointer"], "/kind");
    let bad = app
        .post(
            &base,
            t,
            &json!({"kind": "video", "title": " ", "media_url": "ftp://x"}),
        )
        .await;
    bad.expect_problem(400);
    assert_eq!(bad.pointers(), ["/title", "/media_url"]);
    assert_eq!(app.get(&base, t).await.body, before);

    // Delete: later lessons move up.
    app.delete(&format!("{base}/{l1}"), t).await.expect(204);
    assert_eq!(
        order(&app.get(&base, t).await.body),
        [(l0.clone(), 1), (l2.clone(), 2)]
    );
    app.get(&format!("{base}/{l1}"), t)
        .await
        .expect_problem(404);
    assert_eq!(
        app.get(&format!("/api/v1/courses/{course}"), t).await.body["lesson_count"],
        2
    );
}

#[tokio::test]
async fn another_customers_courses_and_lessons_are_404_and_unchanged() {
    let w = lms().await;
    let app = &w.app;
    let (course, lessons) = w.published(&w.a, "A's course", 2).await;
    let (other_course, other_lessons) = w.published(&w.a, "Another course of A", 1).await;
    let t = &w.exec_b.access;
    let missing = uuid::Uuid::now_v7();
    let course_before = w.row("courses", &course).await;
    let lesson_before = w.row("lessons", &lessons[0]).await;
    let reference = app.get(&format!("/api/v1/courses/{missing}"), t).await;
    reference.expect_problem(404);

    let c = format!("/api/v1/courses/{course}");
    let l = format!("{c}/lessons/{}", lessons[0]);
    let attempts = [
        app.get(&c, t).await,
        app.patch(&c, t, &json!({"title": "Hijacked"})).await,
        w.action(&w.exec_b, &format!("{c}/publish")).await,
        w.action(&w.exec_b, &format!("{c}/archive")).await,
        app.get(&format!("{c}/lessons"), t).await,
        app.post(
            &format!("{c}/lessons"),
            t,
            &json!({"kind": "text", "title": "X"}),
        )
        .await,
        app.put(
            &format!("{c}/lessons/order"),
            t,
            &json!({"lesson_ids": [lessons[1], lessons[0]]}),
        )
        .await,
        app.get(&l, t).await,
        app.patch(&l, t, &json!({"title": "Hijacked"})).await,
        app.delete(&l, t).await,
    ];
    for r in &attempts {
        r.expect_problem(404);
        assert_eq!(
            shape(&r.body)["detail"],
            shape(&reference.body)["detail"],
            "{}",
            r.text
        );
    }
    assert_eq!(w.row("courses", &course).await, course_before);
    assert_eq!(w.row("lessons", &lessons[0]).await, lesson_before);
    assert!(ids(&app.get("/api/v1/courses", t).await.body).is_empty());
    assert!(
        ids(&app
            .get(&format!("/api/v1/courses?customer_id={}", w.a), t)
            .await
            .body)
        .is_empty()
    );

    // A lesson addressed under another course (even of the same customer) is 404.
    let crossed = format!("/api/v1/courses/{other_course}/lessons/{}", lessons[0]);
    app.get(&crossed, &w.exec_a.access)
        .await
        .expect_problem(404);
    app.delete(&crossed, &w.exec_a.access)
        .await
        .expect_problem(404);
    app.get(
        &format!("/api/v1/courses/{course}/lessons/{}", other_lessons[0]),
        &w.exec_a.access,
    )
    .await
    .expect_problem(404);
    assert_eq!(w.row("lessons", &lessons[0]).await, lesson_before);
}
