//! Use cases, champions and KPI ingestion.

use test_support::app::json;

use crate::portal_common::{expect_field, id, ids, portal};

#[tokio::test]
async fn use_cases_submit_list_approve_reject() {
    let p = portal().await;
    let app = &p.app;
    let use_cases = format!("/api/v1/cops/{}/use-cases", p.cop);
    let body = json!({"title": "Churn model", "summary": "Streaming features", "business_value": "1M EUR/year"});
    let r = app.post(&use_cases, &p.member.access, &body).await;
    r.expect(201);
    let uc = id(&r.body);
    assert_eq!(r.body["status"], "submitted");
    assert_eq!(r.body["submitted_by"], p.member.user_id.as_str());
    assert!(r.body.get("approved_at").is_none());
    let second = id(&app
        .post(
            &use_cases,
            &p.exec.access,
            &json!({"title": "Alerts", "summary": "Quality alerts"}),
        )
        .await
        .body);
    app.post(&use_cases, &p.outsider.access, &body)
        .await
        .expect_problem(403);
    expect_field(
        &app.post(
            &use_cases,
            &p.member.access,
            &json!({"title": "x", "summary": " "}),
        )
        .await,
        "/summary",
    );

    // Approving: the CoP's exec_sponsor or lead, or staff; not members, champions or the customer's exec.
    let approve = format!("/api/v1/use-cases/{uc}/approve");
    for t in [&p.member, &p.champion, &p.exec, &p.outsider] {
        app.post(&approve, &t.access, &json!({}))
            .await
            .expect_problem(403);
    }
    let r = app.post(&approve, &p.lead.access, &json!({})).await;
    r.expect(200);
    assert_eq!(r.body["status"], "approved");
    assert!(r.body["approved_at"].is_string());
    assert_eq!(r.body["decided_by"], p.lead.user_id.as_str());
    assert_eq!(
        app.post(&approve, &p.sponsor.access, &json!({}))
            .await
            .expect_problem(409)["code"],
        "use_case_decided"
    );
    let r = app
        .post(
            &format!("/api/v1/use-cases/{second}/reject"),
            &p.sponsor.access,
            &json!({}),
        )
        .await;
    assert_eq!(r.body["status"], "rejected");
    assert!(r.body.get("approved_at").is_none());

    assert_eq!(
        ids(&app.get(&use_cases, &p.outsider.access).await.body),
        vec![second.clone(), uc.clone()]
    );
    assert_eq!(
        ids(&app
            .get(&format!("{use_cases}?status=approved"), &p.member.access)
            .await
            .body),
        vec![uc.clone()]
    );
    assert_eq!(
        app.get(&format!("/api/v1/use-cases/{uc}"), &p.member.access)
            .await
            .body["title"],
        "Churn model"
    );

    let third = id(&app
        .post(
            &use_cases,
            &p.member.access,
            &json!({"title": "T", "summary": "S"}),
        )
        .await
        .body);
    app.post(
        &format!("/api/v1/use-cases/{third}/approve"),
        &p.admin.access,
        &json!({}),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn champions_recognise_members_for_a_period() {
    let p = portal().await;
    let app = &p.app;
    let champions = format!("/api/v1/cops/{}/champions", p.cop);
    let body = json!({"user_id": p.champion.user_id, "title": "Champion of the quarter",
                      "period_start": "2026-07-01", "period_end": "2026-09-30"});
    let r = app.post(&champions, &p.lead.access, &body).await;
    r.expect(201);
    assert_eq!(r.body["email"], "champion@acme.test");
    assert_eq!(r.body["period_end"], "2026-09-30");
    assert_eq!(
        app.post(&champions, &p.lead.access, &body)
            .await
            .expect_problem(409)["code"],
        "already_recognised"
    );
    let later = json!({"user_id": p.member.user_id, "title": "Rising star", "period_start": "2026-10-01", "period_end": "2026-12-31"});
    let second = id(&app.post(&champions, &p.exec.access, &later).await.body);

    expect_field(
        &app.post(&champions, &p.exec.access, &json!({"user_id": p.outsider.user_id, "title": "x", "period_start": "2026-01-01", "period_end": "2026-01-31"}))
            .await,
        "/user_id",
    );
    expect_field(
        &app.post(&champions, &p.exec.access, &json!({"user_id": p.member.user_id, "title": "x", "period_start": "2026-02-01", "period_end": "2026-01-31"}))
            .await,
        "/period_end",
    );
    expect_field(
        &app.post(&champions, &p.exec.access, &json!({"user_id": p.member.user_id, "title": "x", "period_start": "2026-02-30", "period_end": "2026-03-31"}))
            .await,
        "/period_start",
    );
    for t in [&p.member, &p.champion, &p.outsider] {
        app.post(&champions, &t.access, &later)
            .await
            .expect_problem(403);
    }
    let list = app.get(&champions, &p.outsider.access).await;
    list.expect(200);
    assert_eq!(ids(&list.body)[0], second, "most recent period first");
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);

    let t = &p.other_exec.access;
    app.get(&champions, t).await.expect_problem(404);
    app.post(&champions, t, &later).await.expect_problem(404);
    assert_eq!(p.count("SELECT count(*) FROM champions").await, 2);
}

#[tokio::test]
async fn kpi_ingest_upserts_idempotently() {
    let p = portal().await;
    let app = &p.app;
    let path = format!("/api/v1/cops/{}/kpis/ingest", p.cop);
    let body = json!({"metric": "dbu_consumed", "points": [
        {"date": "2026-11-01", "value": 120.5}, {"date": "2026-11-02", "value": 98.0}, {"date": "2026-11-03"},
    ]});
    let r = app.post(&path, &p.lead.access, &body).await;
    r.expect(200);
    assert_eq!(r.body, json!({"metric": "dbu_consumed", "upserted": 3}));
    app.post(&path, &p.exec.access, &body).await.expect(200);
    assert_eq!(
        p.count("SELECT count(*) FROM kpi_metrics").await,
        3,
        "same keys, same rows"
    );
    let fix =
        json!({"metric": "dbu_consumed", "points": [{"date": "2026-11-02", "value": 101.25}]});
    app.post(&path, &p.exec.access, &fix).await.expect(200);
    let v: f64 = sqlx::query_scalar("SELECT value FROM kpi_metrics WHERE date = '2026-11-02'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(v, 101.25);
    assert_eq!(
        p.count("SELECT count(*) FROM kpi_metrics WHERE source = 'ingest' AND value IS NULL")
            .await,
        1
    );

    // Names, reserved rollup metrics, duplicates, sizes; nothing written.
    let point = json!([{"date": "2026-10-01", "value": 1}]);
    expect_field(
        &app.post(
            &path,
            &p.exec.access,
            &json!({"metric": "nps", "points": point}),
        )
        .await,
        "/metric",
    );
    expect_field(
        &app.post(
            &path,
            &p.exec.access,
            &json!({"metric": "Bad-Name", "points": point}),
        )
        .await,
        "/metric",
    );
    expect_field(
        &app.post(
            &path,
            &p.exec.access,
            &json!({"metric": "x", "points": [{"date": "2026-10-01"}, {"date": "2026-10-01"}]}),
        )
        .await,
        "/points/1/date",
    );
    let many: Vec<_> = (0..1001)
        .map(|i| json!({"date": "2020-01-01", "value": i}))
        .collect();
    expect_field(
        &app.post(
            &path,
            &p.exec.access,
            &json!({"metric": "x", "points": many}),
        )
        .await,
        "/points",
    );
    expect_field(
        &app.post(
            &path,
            &p.exec.access,
            &json!({"metric": "x", "points": [{"date": "2026-13-01"}]}),
        )
        .await,
        "/points/0/date",
    );
    for t in [&p.member, &p.champion, &p.outsider] {
        app.post(&path, &t.access, &body).await.expect_problem(403);
    }
    app.post(&path, &p.other_exec.access, &body)
        .await
        .expect_problem(404);
    assert_eq!(p.count("SELECT count(*) FROM kpi_metrics").await, 3);
}

#[tokio::test]
async fn use_cases_of_other_tenants_answer_404_and_stay_unchanged() {
    let p = portal().await;
    let app = &p.app;
    let uc = id(&app
        .post(
            &format!("/api/v1/cops/{}/use-cases", p.cop),
            &p.member.access,
            &json!({"title": "T", "summary": "S"}),
        )
        .await
        .body);
    let t = &p.other_exec.access;
    assert_eq!(
        app.get(&format!("/api/v1/use-cases/{uc}"), t)
            .await
            .expect_problem(404)["detail"],
        "use case not found"
    );
    app.post(
        &format!("/api/v1/use-cases/{uc}/approve"),
        &p.admin.access,
        &json!({}),
    )
    .await
    .expect(200);
    let other_uc = id(&app
        .post(
            &format!("/api/v1/cops/{}/use-cases", p.other_cop),
            t,
            &json!({"title": "T", "summary": "S"}),
        )
        .await
        .body);
    for who in [&p.exec, &p.lead] {
        app.post(
            &format!("/api/v1/use-cases/{other_uc}/approve"),
            &who.access,
            &json!({}),
        )
        .await
        .expect_problem(404);
        app.post(
            &format!("/api/v1/use-cases/{other_uc}/reject"),
            &who.access,
            &json!({}),
        )
        .await
        .expect_problem(404);
        app.get(
            &format!("/api/v1/cops/{}/use-cases", p.other_cop),
            &who.access,
        )
        .await
        .expect_problem(404);
    }
    app.post(
        &format!("/api/v1/cops/{}/use-cases", p.cop),
        t,
        &json!({"title": "T", "summary": "S"}),
    )
    .await
    .expect_problem(404);
    assert_eq!(
        p.count("SELECT count(*) FROM use_cases WHERE status = 'submitted'")
            .await,
        1
    );
    assert_eq!(p.count("SELECT count(*) FROM use_cases").await, 2);
}
