//! Enablement portal: the content library and the metadata hierarchy over
//! HTTP (who may do what, lifecycle, files, filters through the hierarchy).

use test_support::app::json;

use crate::lms_common::{Lms, id, ids, lms};

/// A file row of `customer` as the `file_process` job leaves it (the bytes
/// are not needed here: attaching only reads the record).
async fn file(w: &Lms, customer: &str, purpose: &str, status: &str) -> String {
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO files (id, customer_id, purpose, filename, content_type, size, status)
         VALUES ($1, $2::uuid, $3, 'deck.pdf', 'application/pdf', 1000, $4)",
    )
    .bind(id)
    .bind(customer)
    .bind(purpose)
    .bind(status)
    .execute(&w.app.db.pool)
    .await
    .unwrap();
    id.to_string()
}

async fn term(w: &Lms, customer: &str, group: &str, name: &str, parent: Option<&str>) -> String {
    let r = w
        .app
        .post(
            &format!("/api/v1/customers/{customer}/metadata-terms"),
            &w.internal.access,
            &json!({"group_key": group, "name": name, "parent_id": parent}),
        )
        .await;
    r.expect(201);
    id(&r.body)
}

#[tokio::test]
async fn metadata_terms_form_a_hierarchy_per_customer() {
    let w = lms().await;
    let (app, a) = (&w.app, &w.a);
    let suite = term(&w, a, "product_suite", "Lakehouse", None).await;
    let r = app
        .post(
            &format!("/api/v1/customers/{a}/metadata-terms"),
            &w.internal.access,
            &json!({"group_key": "concept", "name": "Delta Live Tables", "parent_id": suite,
                    "sort_order": 5, "color": "#1B3A5C"}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["color"], "#1b3a5c");
    assert_eq!(r.body["parent_id"], suite.as_str());
    let concept = id(&r.body);

    // Names are unique among siblings of a group, case-insensitively.
    let dup = app
        .post(
            &format!("/api/v1/customers/{a}/metadata-terms"),
            &w.internal.access,
            &json!({"group_key": "concept", "name": "delta live tables", "parent_id": suite}),
        )
        .await;
    assert_eq!(dup.expect_problem(400)["errors"][0]["pointer"], "/name");

    // Bad input names its field.
    let bad = app
        .post(
            &format!("/api/v1/customers/{a}/metadata-terms"),
            &w.internal.access,
            &json!({"group_key": "Product Suite", "name": "X", "color": "blue"}),
        )
        .await;
    bad.expect_problem(400);
    assert_eq!(bad.pointers(), ["/group_key", "/color"]);

    // A parent of another customer is no parent.
    let b_term = term(&w, &w.b, "product_suite", "Streaming", None).await;
    let cross = app
        .post(
            &format!("/api/v1/customers/{a}/metadata-terms"),
            &w.internal.access,
            &json!({"group_key": "concept", "name": "X", "parent_id": b_term}),
        )
        .await;
    assert_eq!(
        cross.expect_problem(400)["errors"][0]["pointer"],
        "/parent_id"
    );

    // No cycles: a term cannot move under itself or below itself.
    for parent in [&concept, &suite] {
        let r = app
            .patch(
                &format!("/api/v1/metadata-terms/{suite}"),
                &w.internal.access,
                &json!({"parent_id": parent}),
            )
            .await;
        assert_eq!(r.expect_problem(400)["errors"][0]["pointer"], "/parent_id");
    }
    let renamed = app
        .patch(
            &format!("/api/v1/metadata-terms/{concept}"),
            &w.internal.access,
            &json!({"name": "Lakeflow Pipelines", "parent_id": null}),
        )
        .await;
    renamed.expect(200);
    assert_eq!(renamed.body["name"], "Lakeflow Pipelines");
    assert!(renamed.body.get("parent_id").is_none(), "{}", renamed.text);

    // Everyone in the customer reads the list; other tenants get 404.
    let list = app
        .get(
            &format!("/api/v1/customers/{a}/metadata-terms"),
            &w.member_a.access,
        )
        .await;
    list.expect(200);
    assert_eq!(ids(&list.body), [concept.as_str(), suite.as_str()]);
    app.get(
        &format!("/api/v1/customers/{a}/metadata-terms"),
        &w.exec_b.access,
    )
    .await
    .expect_problem(404);
    app.patch(
        &format!("/api/v1/metadata-terms/{concept}"),
        &w.exec_b.access,
        &json!({"name": "Mine"}),
    )
    .await
    .expect_problem(404);
    // Viewers do not write; deleting needs an approver.
    app.post(
        &format!("/api/v1/customers/{a}/metadata-terms"),
        &w.member_a.access,
        &json!({"group_key": "concept", "name": "Z"}),
    )
    .await
    .expect_problem(403);
    app.delete(
        &format!("/api/v1/metadata-terms/{concept}"),
        &w.internal.access,
    )
    .await
    .expect_problem(403);

    // A term with terms below it is not deleted.
    let child = term(&w, a, "concept", "Autoloader", Some(&suite)).await;
    let r = app
        .delete(&format!("/api/v1/metadata-terms/{suite}"), &w.exec_a.access)
        .await;
    assert_eq!(r.expect_problem(409)["code"], "term_has_children");
    app.delete(&format!("/api/v1/metadata-terms/{child}"), &w.exec_a.access)
        .await
        .expect(204);
    app.delete(&format!("/api/v1/metadata-terms/{suite}"), &w.exec_a.access)
        .await
        .expect(204);
}

#[tokio::test]
async fn content_items_follow_their_lifecycle_and_roles() {
    let w = lms().await;
    let (app, a) = (&w.app, &w.a);
    let staff = &w.internal.access;

    let r = app
        .post(
            "/api/v1/content-items",
            staff,
            &json!({"customer_id": a, "title": " Lakehouse pitch deck ",
                    "description": "For first meetings.", "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    r.expect(201);
    let item = id(&r.body);
    assert_eq!(r.body["status"], "draft");
    assert_eq!(r.body["title"], "Lakehouse pitch deck");
    assert_eq!(
        r.body["owner_id"],
        w.internal.user_id.as_str(),
        "the creator owns it"
    );
    assert_eq!(r.body["file_ids"], json!([]));

    // Viewers see approved items only; other tenants nothing.
    app.get(&format!("/api/v1/content-items/{item}"), &w.member_a.access)
        .await
        .expect_problem(404);
    app.get(&format!("/api/v1/content-items/{item}"), &w.exec_b.access)
        .await
        .expect_problem(404);
    assert!(
        ids(&app
            .get("/api/v1/content-items", &w.member_a.access)
            .await
            .body)
        .is_empty()
    );

    // Contributors edit drafts but do not approve.
    app.patch(
        &format!("/api/v1/content-items/{item}"),
        staff,
        &json!({"title": "Lakehouse deck"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/content-items/{item}/approve"),
        staff,
        &json!({}),
    )
    .await
    .expect_problem(403);
    let approved = app
        .post(
            &format!("/api/v1/content-items/{item}/approve"),
            &w.exec_a.access,
            &json!({}),
        )
        .await;
    approved.expect(200);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["approved_by"], w.exec_a.user_id.as_str());
    let again = app
        .post(
            &format!("/api/v1/content-items/{item}/approve"),
            &w.exec_a.access,
            &json!({}),
        )
        .await;
    assert_eq!(
        again.expect_problem(409)["code"],
        "content_status_unchanged"
    );

    // Approved: viewers see it; contributors no longer edit it.
    app.get(&format!("/api/v1/content-items/{item}"), &w.member_a.access)
        .await
        .expect(200);
    app.patch(
        &format!("/api/v1/content-items/{item}"),
        staff,
        &json!({"title": "Mine now"}),
    )
    .await
    .expect_problem(403);

    // Expired items are approved again only with an expiry ahead.
    sqlx::query(
        "UPDATE content_items SET status = 'expired', expires_at = now() - interval '1 day' WHERE id = $1::uuid",
    )
    .bind(&item)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let r = app
        .post(
            &format!("/api/v1/content-items/{item}/approve"),
            &w.exec_a.access,
            &json!({}),
        )
        .await;
    assert_eq!(r.expect_problem(409)["code"], "content_expiry_passed");
    let past = app
        .patch(
            &format!("/api/v1/content-items/{item}"),
            &w.exec_a.access,
            &json!({"expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        past.expect_problem(400)["errors"][0]["pointer"],
        "/expires_at"
    );
    app.patch(
        &format!("/api/v1/content-items/{item}"),
        &w.exec_a.access,
        &json!({"expires_at": null}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/content-items/{item}/approve"),
        &w.exec_a.access,
        &json!({}),
    )
    .await
    .expect(200);

    // Deprecated items leave the default list; `status` brings them back.
    let dep = app
        .post(
            &format!("/api/v1/content-items/{item}/deprecate"),
            &w.exec_a.access,
            &json!({}),
        )
        .await;
    dep.expect(200);
    assert_eq!(dep.body["status"], "deprecated");
    assert!(ids(&app.get("/api/v1/content-items", staff).await.body).is_empty());
    assert_eq!(
        ids(&app
            .get("/api/v1/content-items?status=deprecated", staff)
            .await
            .body),
        [item.as_str()]
    );
    app.get(&format!("/api/v1/content-items/{item}"), &w.member_a.access)
        .await
        .expect_problem(404);

    // Contributors delete drafts only.
    let draft = app
        .post(
            "/api/v1/content-items",
            staff,
            &json!({"customer_id": a, "title": "Scratch"}),
        )
        .await;
    draft.expect(201);
    app.delete(&format!("/api/v1/content-items/{item}"), staff)
        .await
        .expect_problem(403);
    app.delete(&format!("/api/v1/content-items/{}", id(&draft.body)), staff)
        .await
        .expect(204);
    app.delete(&format!("/api/v1/content-items/{item}"), &w.exec_a.access)
        .await
        .expect(204);
}

#[tokio::test]
async fn content_items_carry_ready_files_of_their_customer() {
    let w = lms().await;
    let (app, a) = (&w.app, &w.a);
    let staff = &w.internal.access;
    let deck = file(&w, a, "asset", "ready").await;
    let notes = file(&w, a, "attachment", "ready").await;
    let pending = file(&w, a, "asset", "pending").await;
    let thumb = file(&w, a, "course_thumbnail", "ready").await;
    let foreign = file(&w, &w.b, "asset", "ready").await;

    let r = app
        .post(
            "/api/v1/content-items",
            staff,
            &json!({"customer_id": a, "title": "Deck", "file_ids": [deck, notes]}),
        )
        .await;
    r.expect(201);
    let item = id(&r.body);
    assert_eq!(r.body["file_ids"], json!([deck, notes]), "in order");
    let attached: Vec<Option<String>> =
        sqlx::query_scalar("SELECT attached_to FROM files WHERE id IN ($1::uuid, $2::uuid)")
            .bind(&deck)
            .bind(&notes)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert!(
        attached
            .iter()
            .all(|t| t.as_deref() == Some(format!("content:{item}").as_str())),
        "{attached:?}"
    );

    // Each refused file is named by its position; nothing is written.
    let bad = app
        .patch(
            &format!("/api/v1/content-items/{item}"),
            staff,
            &json!({"file_ids": [deck, pending, thumb, foreign]}),
        )
        .await;
    bad.expect_problem(400);
    assert_eq!(bad.pointers(), ["/file_ids/1"], "the first refusal stops");
    let twice = app
        .patch(
            &format!("/api/v1/content-items/{item}"),
            staff,
            &json!({"file_ids": [deck, deck]}),
        )
        .await;
    twice.expect_problem(400);
    assert_eq!(twice.pointers(), ["/file_ids/1"]);
    for (f, why) in [(&thumb, "purpose"), (&foreign, "no such file")] {
        let r = app
            .patch(
                &format!("/api/v1/content-items/{item}"),
                staff,
                &json!({"file_ids": [f]}),
            )
            .await;
        let p = r.expect_problem(400);
        assert!(p.to_string().contains(why), "{p}");
    }
    let kept = app
        .get(&format!("/api/v1/content-items/{item}"), staff)
        .await;
    assert_eq!(kept.body["file_ids"], json!([deck, notes]));

    // Replacing the files detaches the ones left out.
    let r = app
        .patch(
            &format!("/api/v1/content-items/{item}"),
            staff,
            &json!({"file_ids": [notes]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["file_ids"], json!([notes]));
    let deck_target: Option<String> =
        sqlx::query_scalar("SELECT attached_to FROM files WHERE id = $1::uuid")
            .bind(&deck)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(deck_target, None);

    // A file attached to an item is not attached to another one.
    let other = app
        .post(
            "/api/v1/content-items",
            staff,
            &json!({"customer_id": a, "title": "Other", "file_ids": [notes]}),
        )
        .await;
    assert_eq!(
        other.expect_problem(400)["errors"][0]["pointer"],
        "/file_ids/0"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM content_items WHERE title = 'Other'")
            .await,
        0,
        "nothing half-written"
    );
}

#[tokio::test]
async fn terms_filter_items_and_courses_through_the_hierarchy() {
    let w = lms().await;
    let (app, a) = (&w.app, &w.a);
    let staff = &w.internal.access;
    let suite = term(&w, a, "product_suite", "Lakehouse", None).await;
    let concept = term(&w, a, "concept", "Delta", Some(&suite)).await;
    let other = term(&w, a, "product_suite", "BI", None).await;
    let foreign = term(&w, &w.b, "product_suite", "Lakehouse", None).await;

    let item = |title: &'static str, terms: Vec<&String>| {
        let body = json!({"customer_id": a, "title": title, "term_ids": terms});
        async move {
            let r = app.post("/api/v1/content-items", staff, &body).await;
            r.expect(201);
            id(&r.body)
        }
    };
    let on_concept = item("Delta deck", vec![&concept]).await;
    let on_suite = item("Lakehouse overview", vec![&suite]).await;
    let on_other = item("Dashboards", vec![&other]).await;

    let listed = |query: String| async move {
        let r = app
            .get(&format!("/api/v1/content-items?{query}"), staff)
            .await;
        r.expect(200);
        ids(&r.body)
    };
    assert_eq!(
        listed(format!("term_id={suite}")).await,
        [on_suite.as_str(), on_concept.as_str()],
        "a term matches what is tagged below it"
    );
    assert_eq!(
        listed(format!("term_id={concept}")).await,
        [on_concept.as_str()]
    );
    assert_eq!(
        listed(format!("term_id={other}")).await,
        [on_other.as_str()]
    );

    let bad = app
        .post(
            "/api/v1/content-items",
            staff,
            &json!({"customer_id": a, "title": "X", "term_ids": [suite, foreign]}),
        )
        .await;
    bad.expect_problem(400);
    assert_eq!(bad.pointers(), ["/term_ids/1"]);

    // Courses: terms set by the course's editors, filtered the same way.
    let course = w.course(&w.internal, a, "Delta in depth").await;
    let plain = w.course(&w.internal, a, "Something else").await;
    let r = app
        .put(
            &format!("/api/v1/courses/{course}/terms"),
            staff,
            &json!({"term_ids": [concept, concept]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["term_ids"], json!([concept]));
    let got = app.get(&format!("/api/v1/courses/{course}"), staff).await;
    assert_eq!(got.body["term_ids"], json!([concept]));
    let r = app
        .get(&format!("/api/v1/courses?term_id={suite}"), staff)
        .await;
    assert_eq!(ids(&r.body), [course.as_str()]);
    assert_ne!(course, plain);
    app.put(
        &format!("/api/v1/courses/{course}/terms"),
        &w.member_a.access,
        &json!({"term_ids": []}),
    )
    .await
    .expect_problem(404);

    // Deleting a term untags items and courses.
    app.delete(
        &format!("/api/v1/metadata-terms/{concept}"),
        &w.exec_a.access,
    )
    .await
    .expect(204);
    let got = app.get(&format!("/api/v1/courses/{course}"), staff).await;
    assert_eq!(got.body["term_ids"], json!([]));
    assert!(listed(format!("term_id={suite}")).await == [on_suite.as_str()]);
}
