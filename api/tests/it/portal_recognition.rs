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
    // Editing and deleting across tenants: 404 both ways, nothing changes.
    let pending = id(&app
        .post(
            &format!("/api/v1/cops/{}/use-cases", p.cop),
            &p.member.access,
            &json!({"title": "Pending", "summary": "S"}),
        )
        .await
        .body);
    let uc_path = format!("/api/v1/use-cases/{pending}");
    app.patch(&uc_path, t, &json!({"title": "Hacked"}))
        .await
        .expect_problem(404);
    app.delete(&uc_path, t).await.expect_problem(404);
    let other_path = format!("/api/v1/use-cases/{other_uc}");
    for who in [&p.exec, &p.lead, &p.member] {
        app.patch(&other_path, &who.access, &json!({"title": "Hacked"}))
            .await
            .expect_problem(404);
        app.delete(&other_path, &who.access)
            .await
            .expect_problem(404);
    }
    assert_eq!(
        app.get(&uc_path, &p.member.access).await.body["title"],
        "Pending"
    );
    assert_eq!(app.get(&other_path, t).await.body["title"], "T");
    assert_eq!(
        p.count("SELECT count(*) FROM use_cases WHERE status = 'submitted'")
            .await,
        2
    );
    assert_eq!(p.count("SELECT count(*) FROM use_cases").await, 3);
    assert_eq!(
        p.count("SELECT count(*) FROM use_cases WHERE title = 'Hacked'")
            .await,
        0
    );
}

#[tokio::test]
async fn use_cases_are_edited_and_deleted_until_approved() {
    let p = portal().await;
    let app = &p.app;
    let use_cases = format!("/api/v1/cops/{}/use-cases", p.cop);
    let uc = id(&app
        .post(
            &use_cases,
            &p.member.access,
            &json!({"title": "Churn model", "summary": "Batch features", "business_value": "1M EUR/year"}),
        )
        .await
        .body);
    let path = format!("/api/v1/use-cases/{uc}");

    // The submitter edits; absent fields stay, null clears business_value.
    let r = app
        .patch(
            &path,
            &p.member.access,
            &json!({"summary": "Streaming features", "business_value": null}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["title"], "Churn model");
    assert_eq!(r.body["summary"], "Streaming features");
    assert!(r.body.get("business_value").is_none());
    assert_eq!(r.body["status"], "submitted");
    // Approvers edit anyone's; other contributors and outsiders cannot.
    let r = app
        .patch(&path, &p.lead.access, &json!({"title": "Churn prediction"}))
        .await;
    r.expect(200);
    assert_eq!(r.body["title"], "Churn prediction");
    for t in [&p.champion, &p.exec, &p.outsider] {
        app.patch(&path, &t.access, &json!({"title": "Mine"}))
            .await
            .expect_problem(403);
        app.delete(&path, &t.access).await.expect_problem(403);
    }
    // Bad input names the field and writes nothing.
    expect_field(
        &app.patch(&path, &p.member.access, &json!({"title": " "}))
            .await,
        "/title",
    );
    expect_field(
        &app.patch(&path, &p.member.access, &json!({"summary": ""}))
            .await,
        "/summary",
    );
    let g = app.get(&path, &p.member.access).await;
    assert_eq!(g.body["title"], "Churn prediction");
    assert_eq!(g.body["summary"], "Streaming features");

    // Editing a rejected use case resubmits it.
    app.post(&format!("{path}/reject"), &p.sponsor.access, &json!({}))
        .await
        .expect(200);
    let r = app
        .patch(
            &path,
            &p.member.access,
            &json!({"business_value": "Retention +3 points"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "submitted");
    assert!(r.body.get("decided_by").is_none());
    assert!(r.body.get("decided_at").is_none());
    assert_eq!(r.body["business_value"], "Retention +3 points");

    // Approved use cases are final: 409, unchanged and kept.
    app.post(&format!("{path}/approve"), &p.lead.access, &json!({}))
        .await
        .expect(200);
    for t in [&p.member, &p.lead, &p.admin] {
        assert_eq!(
            app.patch(&path, &t.access, &json!({"title": "Late"}))
                .await
                .expect_problem(409)["code"],
            "use_case_approved"
        );
        assert_eq!(
            app.delete(&path, &t.access).await.expect_problem(409)["code"],
            "use_case_approved"
        );
    }
    let g = app.get(&path, &p.member.access).await;
    assert_eq!(g.body["title"], "Churn prediction");
    assert_eq!(g.body["status"], "approved");

    // Deleting: the submitter (or an approver).
    let mine = id(&app
        .post(
            &use_cases,
            &p.member.access,
            &json!({"title": "Draft idea", "summary": "S"}),
        )
        .await
        .body);
    let theirs = id(&app
        .post(
            &use_cases,
            &p.champion.access,
            &json!({"title": "Other idea", "summary": "S"}),
        )
        .await
        .body);
    app.delete(&format!("/api/v1/use-cases/{theirs}"), &p.member.access)
        .await
        .expect_problem(403);
    app.delete(&format!("/api/v1/use-cases/{mine}"), &p.member.access)
        .await
        .expect(204);
    app.delete(&format!("/api/v1/use-cases/{theirs}"), &p.sponsor.access)
        .await
        .expect(204);
    app.get(&format!("/api/v1/use-cases/{mine}"), &p.member.access)
        .await
        .expect_problem(404);
    assert_eq!(
        ids(&app.get(&use_cases, &p.member.access).await.body),
        vec![uc.clone()]
    );
    assert_eq!(
        p.count("SELECT count(*) FROM audit_log WHERE action = 'use_case.updated'")
            .await,
        3
    );
    assert_eq!(
        p.count("SELECT count(*) FROM audit_log WHERE action = 'use_case.deleted'")
            .await,
        2
    );
}

#[tokio::test]
async fn champions_get_update_and_remove() {
    let p = portal().await;
    let app = &p.app;
    let champions = format!("/api/v1/cops/{}/champions", p.cop);
    let c = id(&app
        .post(
            &champions,
            &p.lead.access,
            &json!({"user_id": p.champion.user_id, "title": "Champion of the quarter",
                    "period_start": "2026-07-01", "period_end": "2026-09-30"}),
        )
        .await
        .body);
    let later = id(&app
        .post(
            &champions,
            &p.lead.access,
            &json!({"user_id": p.champion.user_id, "title": "Champion again",
                    "period_start": "2026-10-01", "period_end": "2026-12-31"}),
        )
        .await
        .body);
    let path = format!("/api/v1/champions/{c}");

    // Anyone of the customer reads it.
    let g = app.get(&path, &p.outsider.access).await;
    g.expect(200);
    assert_eq!(g.body["email"], "champion@acme.test");
    assert_eq!(g.body["period_start"], "2026-07-01");

    // Managers change the title or period; absent fields stay.
    let r = app
        .patch(
            &path,
            &p.sponsor.access,
            &json!({"title": "Champion of the half-year", "period_end": "2026-12-31"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["title"], "Champion of the half-year");
    assert_eq!(r.body["period_start"], "2026-07-01");
    assert_eq!(r.body["period_end"], "2026-12-31");
    assert_eq!(r.body["user_id"], p.champion.user_id.as_str());
    for t in [&p.member, &p.champion, &p.outsider] {
        app.patch(&path, &t.access, &json!({"title": "Mine"}))
            .await
            .expect_problem(403);
        app.delete(&path, &t.access).await.expect_problem(403);
    }
    // Bad periods and titles name the field; a second recognition of the
    // member starting the same day conflicts; nothing is written.
    expect_field(
        &app.patch(&path, &p.exec.access, &json!({"period_end": "2026-06-30"}))
            .await,
        "/period_end",
    );
    expect_field(
        &app.patch(
            &path,
            &p.exec.access,
            &json!({"period_start": "2027-01-01"}),
        )
        .await,
        "/period_start",
    );
    expect_field(
        &app.patch(
            &path,
            &p.exec.access,
            &json!({"period_start": "2026-08-01", "period_end": "2026-07-31"}),
        )
        .await,
        "/period_end",
    );
    expect_field(
        &app.patch(&path, &p.exec.access, &json!({"title": ""}))
            .await,
        "/title",
    );
    assert_eq!(
        app.patch(
            &path,
            &p.exec.access,
            &json!({"period_start": "2026-10-01"})
        )
        .await
        .expect_problem(409)["code"],
        "already_recognised"
    );
    let g = app.get(&path, &p.member.access).await;
    assert_eq!(g.body["title"], "Champion of the half-year");
    assert_eq!(g.body["period_start"], "2026-07-01");
    assert_eq!(g.body["period_end"], "2026-12-31");

    // Removing a recognition.
    app.delete(&path, &p.exec.access).await.expect(204);
    app.get(&path, &p.member.access).await.expect_problem(404);
    app.delete(&path, &p.exec.access).await.expect_problem(404);
    assert_eq!(
        ids(&app.get(&champions, &p.member.access).await.body),
        vec![later]
    );
    assert_eq!(
        p.count("SELECT count(*) FROM audit_log WHERE action = 'cop.champion_updated'")
            .await,
        1
    );
    assert_eq!(
        p.count("SELECT count(*) FROM audit_log WHERE action = 'cop.champion_removed'")
            .await,
        1
    );
}

#[tokio::test]
async fn champions_of_other_tenants_answer_404_and_stay_unchanged() {
    let p = portal().await;
    let app = &p.app;
    let c = id(&app
        .post(
            &format!("/api/v1/cops/{}/champions", p.cop),
            &p.lead.access,
            &json!({"user_id": p.champion.user_id, "title": "Champion of the quarter",
                    "period_start": "2026-07-01", "period_end": "2026-09-30"}),
        )
        .await
        .body);
    let path = format!("/api/v1/champions/{c}");
    let t = &p.other_exec.access;
    assert_eq!(
        app.get(&path, t).await.expect_problem(404)["detail"],
        "champion not found"
    );
    app.patch(&path, t, &json!({"title": "Hacked"}))
        .await
        .expect_problem(404);
    app.delete(&path, t).await.expect_problem(404);

    // And B's champion, from A's side.
    let b_member = app
        .user(
            &p.admin,
            "member@globex.test",
            &["customer_member"],
            &[&p.b],
        )
        .await;
    app.post(
        &format!("/api/v1/cops/{}/members", p.other_cop),
        t,
        &json!({"user_id": b_member.user_id}),
    )
    .await
    .expect(201);
    let other = id(&app
        .post(
            &format!("/api/v1/cops/{}/champions", p.other_cop),
            t,
            &json!({"user_id": b_member.user_id, "title": "Globex star",
                    "period_start": "2026-07-01", "period_end": "2026-09-30"}),
        )
        .await
        .body);
    let other_path = format!("/api/v1/champions/{other}");
    for who in [&p.exec, &p.lead, &p.member] {
        app.get(&other_path, &who.access).await.expect_problem(404);
        app.patch(&other_path, &who.access, &json!({"title": "Hacked"}))
            .await
            .expect_problem(404);
        app.delete(&other_path, &who.access)
            .await
            .expect_problem(404);
    }
    assert_eq!(
        app.get(&path, &p.member.access).await.body["title"],
        "Champion of the quarter"
    );
    assert_eq!(app.get(&other_path, t).await.body["title"], "Globex star");
    assert_eq!(p.count("SELECT count(*) FROM champions").await, 2);
    assert_eq!(
        p.count("SELECT count(*) FROM champions WHERE title = 'Hacked'")
            .await,
        0
    );
}
