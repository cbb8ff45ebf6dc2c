//! CoPs and their members: CRUD, filters, stats, roles, tenant isolation.

use test_support::app::json;

use crate::portal_common::{create_cop, expect_field, id, ids, portal};

#[tokio::test]
async fn cop_create_get_update_archive_and_list_filters() {
    let p = portal().await;
    let app = &p.app;
    let exec = &p.exec.access;

    let r = app
        .post(
            "/api/v1/cops",
            exec,
            &json!({"customer_id": p.a, "name": "ML Guild", "phase": "launch",
                    "mission": "Ship models", "charter": "## Charter"}),
        )
        .await;
    r.expect(201);
    let ml = id(&r.body);
    assert_eq!(
        r.body["owner_id"],
        p.exec.user_id.as_str(),
        "the caller owns by default"
    );
    assert_eq!(r.body["phase"], "launch");
    assert_eq!(r.body["status"], "active");
    assert_eq!(
        r.body["stats"],
        json!({"member_count": 0, "sessions_last_90_days": 0})
    );

    let g = app.get(&format!("/api/v1/cops/{ml}"), exec).await;
    g.expect(200);
    assert_eq!(g.body["mission"], "Ship models");

    // PATCH: set some fields, clear one, keep the rest.
    let u = app
        .patch(
            &format!("/api/v1/cops/{ml}"),
            exec,
            &json!({"phase": "growth", "status": "paused", "charter": null, "owner_id": p.lead.user_id}),
        )
        .await;
    u.expect(200);
    assert_eq!(u.body["phase"], "growth");
    assert_eq!(u.body["status"], "paused");
    assert_eq!(u.body["mission"], "Ship models");
    assert!(u.body.get("charter").is_none(), "{}", u.text);
    assert_eq!(u.body["owner_id"], p.lead.user_id.as_str());

    // Filters: name search, phase, status, owner, customer; other tenants never appear.
    let list = |q: &'static str| async move { app.get(&format!("/api/v1/cops?{q}"), exec).await };
    assert_eq!(ids(&list("q=guild").await.body), vec![ml.clone()]);
    assert_eq!(
        ids(&list("q=%25").await.body),
        Vec::<String>::new(),
        "wildcards are literal"
    );
    assert_eq!(ids(&list("phase=growth").await.body), vec![ml.clone()]);
    assert_eq!(ids(&list("status=active").await.body), vec![p.cop.clone()]);
    let by_owner = app
        .get(&format!("/api/v1/cops?owner_id={}", p.lead.user_id), exec)
        .await;
    assert_eq!(ids(&by_owner.body), vec![ml.clone()]);
    let all = list("").await;
    assert_eq!(
        ids(&all.body),
        vec![p.cop.clone(), ml.clone()],
        "sorted by name"
    );
    let first = list("limit=1").await;
    assert_eq!(ids(&first.body), vec![p.cop.clone()]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/api/v1/cops?limit=1&cursor={cursor}"), exec)
        .await;
    assert_eq!(ids(&second.body), vec![ml.clone()]);
    assert!(second.body.get("next_cursor").is_none());
    let staff = app
        .get(
            &format!("/api/v1/cops?customer_id={}", p.b),
            &p.admin.access,
        )
        .await;
    assert_eq!(ids(&staff.body), vec![p.other_cop.clone()]);

    // Archive: gone from lists unless asked for, still readable, read-only.
    app.delete(&format!("/api/v1/cops/{ml}"), exec)
        .await
        .expect(204);
    assert_eq!(ids(&list("").await.body), vec![p.cop.clone()]);
    assert_eq!(ids(&list("include_archived=true").await.body).len(), 2);
    let archived = app.get(&format!("/api/v1/cops/{ml}"), exec).await;
    archived.expect(200);
    assert!(archived.body["archived_at"].is_string());
    let r = app
        .patch(&format!("/api/v1/cops/{ml}"), exec, &json!({"name": "x"}))
        .await;
    assert_eq!(r.expect_problem(409)["code"], "cop_archived");
    app.delete(&format!("/api/v1/cops/{ml}"), exec)
        .await
        .expect(204);
    let r = app
        .post(
            &format!("/api/v1/cops/{ml}/events"),
            exec,
            &crate::portal_common::event_body(24, None),
        )
        .await;
    r.expect_problem(409);
}

#[tokio::test]
async fn cop_input_is_validated() {
    let p = portal().await;
    let exec = &p.exec.access;
    let r = p
        .app
        .post(
            "/api/v1/cops",
            exec,
            &json!({"customer_id": p.a, "name": "  "}),
        )
        .await;
    expect_field(&r, "/name");
    let r = p
        .app
        .post(
            "/api/v1/cops",
            exec,
            &json!({"customer_id": p.a, "name": "x", "phase": "done"}),
        )
        .await;
    expect_field(&r, "/phase");
    let r = p
        .app
        .post(
            "/api/v1/cops",
            exec,
            &json!({"customer_id": p.a, "name": "x", "owner_id": p.other_exec.user_id}),
        )
        .await;
    expect_field(&r, "/owner_id");
    let r = p
        .app
        .patch(
            &format!("/api/v1/cops/{}", p.cop),
            exec,
            &json!({"mission": "x".repeat(2001)}),
        )
        .await;
    expect_field(&r, "/mission");
    assert_eq!(
        p.count("SELECT count(*) FROM cops").await,
        2,
        "nothing written"
    );
}

#[tokio::test]
async fn cop_roles() {
    let p = portal().await;
    let app = &p.app;
    // Creating: staff or the customer's exec.
    let body = json!({"customer_id": p.a, "name": "New"});
    app.post("/api/v1/cops", &p.member.access, &body)
        .await
        .expect_problem(403);
    app.post("/api/v1/cops", &p.lead.access, &body)
        .await
        .expect_problem(403);
    app.post("/api/v1/cops", &p.admin.access, &body)
        .await
        .expect(201);
    let internal = app
        .user(&p.admin, "staff@launchpad.test", &["internal"], &[])
        .await;
    app.post(
        "/api/v1/cops",
        &internal.access,
        &json!({"customer_id": p.a, "name": "Newer"}),
    )
    .await
    .expect(201);
    // Another customer's exec does not see customer A at all.
    app.post("/api/v1/cops", &p.other_exec.access, &body)
        .await
        .expect_problem(404);

    // Updating and archiving the CoP itself: not even its leaders.
    let path = format!("/api/v1/cops/{}", p.cop);
    for (role, t) in p.roles() {
        let r = app
            .patch(&path, &t.access, &json!({"phase": "growth"}))
            .await;
        assert_eq!(r.status, 403, "{role} may not update the CoP: {}", r.text);
        let r = app.delete(&path, &t.access).await;
        assert_eq!(r.status, 403, "{role} may not archive the CoP: {}", r.text);
        app.get(&path, &t.access).await.expect(200);
    }
    app.get(&path, &p.outsider.access).await.expect(200);
    app.patch(&path, &p.outsider.access, &json!({"phase": "growth"}))
        .await
        .expect_problem(403);
    app.patch(&path, &internal.access, &json!({"phase": "growth"}))
        .await
        .expect(200);
}

#[tokio::test]
async fn cops_of_other_tenants_answer_404_and_stay_unchanged() {
    let p = portal().await;
    let app = &p.app;
    let t = &p.other_exec.access;
    let path = format!("/api/v1/cops/{}", p.cop);
    assert_eq!(
        app.get(&path, t).await.expect_problem(404)["detail"],
        "cop not found"
    );
    app.patch(&path, t, &json!({"name": "Hacked"}))
        .await
        .expect_problem(404);
    app.delete(&path, t).await.expect_problem(404);
    app.get(&format!("{path}/members"), t)
        .await
        .expect_problem(404);
    app.post(
        &format!("{path}/members"),
        t,
        &json!({"user_id": p.other_exec.user_id}),
    )
    .await
    .expect_problem(404);
    app.patch(
        &format!("{path}/members/{}", p.member.user_id),
        t,
        &json!({"role": "lead"}),
    )
    .await
    .expect_problem(404);
    app.delete(&format!("{path}/members/{}", p.member.user_id), t)
        .await
        .expect_problem(404);
    let missing = format!("/api/v1/cops/{}", uuid::Uuid::now_v7());
    assert_eq!(
        app.get(&missing, t).await.expect_problem(404)["detail"],
        "cop not found"
    );
    let listed = app.get("/api/v1/cops?include_archived=true", t).await;
    assert_eq!(ids(&listed.body), vec![p.other_cop.clone()]);

    let g = app.get(&path, &p.exec.access).await;
    assert_eq!(g.body["name"], "Data Engineering");
    assert!(g.body.get("archived_at").is_none());
    assert_eq!(g.body["stats"]["member_count"], 4);
    let role: String = sqlx::query_scalar("SELECT role FROM cop_members WHERE user_id = $1::uuid")
        .bind(&p.member.user_id)
        .fetch_one(&p.app.db.pool)
        .await
        .unwrap();
    assert_eq!(role, "member");
}

#[tokio::test]
async fn members_add_list_change_role_remove() {
    let p = portal().await;
    let app = &p.app;
    let members = format!("/api/v1/cops/{}/members", p.cop);

    // The lead manages members; the new one defaults to `member`.
    let r = app
        .post(
            &members,
            &p.lead.access,
            &json!({"user_id": p.outsider.user_id}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["role"], "member");
    assert_eq!(r.body["email"], "outsider@acme.test");
    let dup = app
        .post(
            &members,
            &p.lead.access,
            &json!({"user_id": p.outsider.user_id}),
        )
        .await;
    assert_eq!(dup.expect_problem(409)["code"], "already_member");

    let list = app.get(&members, &p.member.access).await;
    list.expect(200);
    let users: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        users,
        [
            &p.sponsor.user_id,
            &p.lead.user_id,
            &p.champion.user_id,
            &p.member.user_id,
            &p.outsider.user_id
        ]
        .map(String::as_str)
    );
    let leads = app
        .get(&format!("{members}?role=lead"), &p.member.access)
        .await;
    assert_eq!(leads.body["items"].as_array().unwrap().len(), 1);
    let page = app
        .get(&format!("{members}?limit=2"), &p.member.access)
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    let next = app
        .get(
            &format!("{members}?limit=2&cursor={cursor}"),
            &p.member.access,
        )
        .await;
    assert_eq!(
        next.body["items"][0]["user_id"],
        p.champion.user_id.as_str()
    );

    let one = format!("{members}/{}", p.outsider.user_id);
    let r = app
        .patch(&one, &p.sponsor.access, &json!({"role": "champion"}))
        .await;
    r.expect(200);
    assert_eq!(r.body["role"], "champion");
    assert_eq!(
        app.get(&one, &p.outsider.access).await.body["role"],
        "champion"
    );
    expect_field(
        &app.patch(&one, &p.sponsor.access, &json!({"role": "boss"}))
            .await,
        "/role",
    );

    // Members cannot manage others, but may leave.
    app.delete(&format!("{members}/{}", p.lead.user_id), &p.member.access)
        .await
        .expect_problem(403);
    app.post(
        &members,
        &p.champion.access,
        &json!({"user_id": p.exec.user_id}),
    )
    .await
    .expect_problem(403);
    app.delete(&one, &p.outsider.access).await.expect(204);
    app.get(&one, &p.exec.access).await.expect_problem(404);
    app.delete(&one, &p.exec.access).await.expect_problem(404);
    app.delete(&format!("{members}/{}", p.member.user_id), &p.exec.access)
        .await
        .expect(204);

    // Only users of the CoP's customer can join.
    let r = app
        .post(
            &members,
            &p.exec.access,
            &json!({"user_id": p.other_exec.user_id}),
        )
        .await;
    expect_field(&r, "/user_id");
    let r = app
        .post(
            &members,
            &p.exec.access,
            &json!({"user_id": uuid::Uuid::now_v7()}),
        )
        .await;
    expect_field(&r, "/user_id");
    assert_eq!(p.count("SELECT count(*) FROM cop_members").await, 3);
}

#[tokio::test]
async fn cop_stats_count_members_recent_sessions_and_latest_nps() {
    let p = portal().await;
    let app = &p.app;
    // Two past sessions within 90 days, one older, one cancelled, one upcoming.
    for hours in [-24, -24 * 30, -24 * 100, 24] {
        p.event(hours, None).await;
    }
    let cancelled = p.event(-48, None).await;
    sqlx::query("UPDATE events SET status = 'cancelled', cancelled_at = now() WHERE id = $1::uuid")
        .bind(&cancelled)
        .execute(&app.db.pool)
        .await
        .unwrap();
    // A closed survey with NPS answers 10, 9, 2 → (2 − 1) / 3 = 33.3.
    let s = app
        .post(
            &format!("/api/v1/cops/{}/surveys", p.cop),
            &p.exec.access,
            &json!({"kind": "cop_health", "title": "Health", "questions": [{"kind": "nps", "prompt": "Recommend?"}]}),
        )
        .await;
    s.expect(201);
    let survey = id(&s.body);
    let q = s.body["questions"][0]["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/surveys/{survey}/open"),
        &p.exec.access,
        &json!({}),
    )
    .await
    .expect(200);
    for (t, score) in [(&p.sponsor, 10), (&p.lead, 9), (&p.member, 2)] {
        app.post(
            &format!("/api/v1/surveys/{survey}/responses"),
            &t.access,
            &json!({"answers": [{"question_id": q, "score": score}]}),
        )
        .await
        .expect(201);
    }
    let before = app
        .get(&format!("/api/v1/cops/{}", p.cop), &p.exec.access)
        .await;
    assert!(
        before.body["stats"].get("latest_nps").is_none(),
        "open surveys do not count"
    );
    app.post(
        &format!("/api/v1/surveys/{survey}/close"),
        &p.exec.access,
        &json!({}),
    )
    .await
    .expect(200);

    let g = app
        .get(&format!("/api/v1/cops/{}", p.cop), &p.member.access)
        .await;
    g.expect(200);
    let stats = &g.body["stats"];
    assert_eq!(stats["member_count"], 4);
    assert_eq!(stats["sessions_last_90_days"], 2);
    let nps = stats["latest_nps"].as_f64().unwrap();
    assert!((nps - 100.0 / 3.0).abs() < 1e-9, "{nps}");
    // Lists carry no stats.
    let list = app.get("/api/v1/cops", &p.member.access).await;
    assert!(list.body["items"][0].get("stats").is_none());
}

#[tokio::test]
async fn customer_exec_of_another_customer_cannot_create_there_even_by_id() {
    let p = portal().await;
    // An exec of both customers may create in both.
    let both = p
        .app
        .user(
            &p.admin,
            "exec@both.test",
            &["customer_exec"],
            &[&p.a, &p.b],
        )
        .await;
    create_cop(&p.app, &both, &p.b, "Shared").await;
    let r = p
        .app
        .post(
            "/api/v1/cops",
            &p.exec.access,
            &json!({"customer_id": p.b, "name": "Sneaky"}),
        )
        .await;
    r.expect_problem(404);
    assert_eq!(
        p.count("SELECT count(*) FROM cops WHERE name = 'Sneaky'")
            .await,
        0
    );
}
