//! The content library and engagement.

use test_support::app::json;

use crate::portal_common::{expect_field, id, ids, portal};

#[tokio::test]
async fn asset_create_list_filters_update_delete() {
    let p = portal().await;
    let app = &p.app;
    let assets = format!("/api/v1/cops/{}/assets", p.cop);
    let r = app
        .post(
            &assets,
            &p.lead.access,
            &json!({"kind": "notebook", "title": "Streaming starter", "url": "https://docs.example.com/s",
                    "persona": "data_engineer", "level": "intermediate", "topic": "streaming",
                    "tags": ["Streaming", "joins", "streaming"]}),
        )
        .await;
    r.expect(201);
    let nb = id(&r.body);
    assert_eq!(
        r.body["tags"],
        json!(["streaming", "joins"]),
        "lower-cased, deduplicated"
    );
    assert_eq!(
        (r.body["views"].as_i64(), r.body["likes"].as_i64()),
        (Some(0), Some(0))
    );
    let video = id(&app
        .post(&assets, &p.exec.access, &json!({"kind": "video", "title": "Intro", "url": "https://v.example.com/1", "level": "beginner"}))
        .await
        .body);

    let (base, member) = (&assets, &p.member.access);
    let list = |q: String| async move { ids(&app.get(&format!("{base}?{q}"), member).await.body) };
    assert_eq!(
        list(String::new()).await,
        vec![video.clone(), nb.clone()],
        "newest first"
    );
    assert_eq!(list("kind=notebook".into()).await, vec![nb.clone()]);
    assert_eq!(list("level=beginner".into()).await, vec![video.clone()]);
    assert_eq!(list("persona=data_engineer".into()).await, vec![nb.clone()]);
    assert_eq!(list("topic=streaming".into()).await, vec![nb.clone()]);
    assert_eq!(list("tag=JOINS".into()).await, vec![nb.clone()]);
    assert_eq!(
        list("tag=joins&kind=video".into()).await,
        Vec::<String>::new()
    );
    let page = app
        .get(&format!("{assets}?limit=1"), &p.member.access)
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(
        list(format!("limit=1&cursor={cursor}")).await,
        vec![nb.clone()]
    );

    let path = format!("/api/v1/assets/{nb}");
    assert_eq!(
        app.get(&path, &p.outsider.access).await.body["title"],
        "Streaming starter"
    );
    let u = app
        .patch(&path, &p.sponsor.access, &json!({"title": "Streaming joins starter", "persona": null, "level": "advanced", "tags": []}))
        .await;
    u.expect(200);
    assert_eq!(u.body["title"], "Streaming joins starter");
    assert!(u.body.get("persona").is_none());
    assert_eq!(u.body["level"], "advanced");
    assert_eq!(u.body["tags"], json!([]));
    assert_eq!(u.body["url"], "https://docs.example.com/s");

    app.delete(&path, &p.lead.access).await.expect(204);
    app.get(&path, &p.lead.access).await.expect_problem(404);
    app.delete(&path, &p.lead.access).await.expect_problem(404);
    assert_eq!(list(String::new()).await, vec![video]);
}

#[tokio::test]
async fn asset_input_is_validated() {
    let p = portal().await;
    let assets = format!("/api/v1/cops/{}/assets", p.cop);
    let r = p
        .app
        .post(
            &assets,
            &p.exec.access,
            &json!({"kind": "podcast", "title": "x", "url": "https://x.example"}),
        )
        .await;
    expect_field(&r, "/kind");
    let r = p
        .app
        .post(
            &assets,
            &p.exec.access,
            &json!({"kind": "doc", "title": "", "url": "javascript:alert(1)", "tags": ["ok", ""]}),
        )
        .await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), ["/title", "/url", "/tags/1"]);
    assert_eq!(p.count("SELECT count(*) FROM content_assets").await, 0);
}

#[tokio::test]
async fn engagement_is_appended_by_members() {
    let p = portal().await;
    let app = &p.app;
    let asset = id(&app
        .post(
            &format!("/api/v1/cops/{}/assets", p.cop),
            &p.exec.access,
            &json!({"kind": "doc", "title": "Guide", "url": "https://d.example.com"}),
        )
        .await
        .body);
    let path = format!("/api/v1/assets/{asset}/engagement");
    for (t, action) in [
        (&p.member, "view"),
        (&p.member, "view"),
        (&p.champion, "view"),
        (&p.member, "download"),
        (&p.lead, "like"),
    ] {
        let r = app.post(&path, &t.access, &json!({"action": action})).await;
        r.expect(201);
        assert_eq!(r.body["user_id"], t.user_id.as_str());
        assert_eq!(r.body["action"], action);
    }
    let g = app
        .get(&format!("/api/v1/assets/{asset}"), &p.member.access)
        .await;
    assert_eq!(
        (
            g.body["views"].as_i64(),
            g.body["downloads"].as_i64(),
            g.body["likes"].as_i64()
        ),
        (Some(3), Some(1), Some(1))
    );
    // Only members engage; actions are checked.
    app.post(&path, &p.outsider.access, &json!({"action": "view"}))
        .await
        .expect_problem(403);
    expect_field(
        &app.post(&path, &p.member.access, &json!({"action": "share"}))
            .await,
        "/action",
    );
    assert_eq!(p.count("SELECT count(*) FROM asset_engagement").await, 5);
    // The table is append-only.
    let update = sqlx::query("UPDATE asset_engagement SET action = 'like'")
        .execute(&app.db.pool)
        .await;
    assert!(update.is_err(), "engagement rows must not be updatable");
    // Deleting the asset keeps its history.
    app.delete(&format!("/api/v1/assets/{asset}"), &p.exec.access)
        .await
        .expect(204);
    assert_eq!(p.count("SELECT count(*) FROM asset_engagement").await, 5);
    app.post(&path, &p.member.access, &json!({"action": "view"}))
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn asset_roles_and_tenant_isolation() {
    let p = portal().await;
    let app = &p.app;
    let assets = format!("/api/v1/cops/{}/assets", p.cop);
    let body = json!({"kind": "doc", "title": "Guide", "url": "https://d.example.com"});
    for (role, t) in p.roles() {
        let r = app.post(&assets, &t.access, &body).await;
        let expected = if matches!(role, "exec_sponsor" | "lead") {
            201
        } else {
            403
        };
        assert_eq!(r.status, expected, "{role} adding an asset: {}", r.text);
    }
    let asset = id(&app.post(&assets, &p.exec.access, &body).await.body);
    let path = format!("/api/v1/assets/{asset}");
    app.patch(&path, &p.member.access, &json!({"title": "x"}))
        .await
        .expect_problem(403);
    app.delete(&path, &p.champion.access)
        .await
        .expect_problem(403);

    let t = &p.other_exec.access;
    assert_eq!(
        app.get(&path, t).await.expect_problem(404)["detail"],
        "asset not found"
    );
    app.patch(&path, t, &json!({"title": "Hacked"}))
        .await
        .expect_problem(404);
    app.delete(&path, t).await.expect_problem(404);
    app.post(&format!("{path}/engagement"), t, &json!({"action": "like"}))
        .await
        .expect_problem(404);
    app.get(&assets, t).await.expect_problem(404);
    app.post(&assets, t, &body).await.expect_problem(404);
    let g = app.get(&path, &p.exec.access).await;
    assert_eq!(g.body["title"], "Guide");
    assert_eq!(g.body["likes"], 0);
    assert_eq!(p.count("SELECT count(*) FROM content_assets").await, 3);
}
