//! The CoP portal's permission matrix (`launchpad_domain::portal::access`),
//! endpoint by endpoint, for the four CoP roles, the customer's exec (not a
//! member) and a user of the customer outside the CoP.

use reqwest::Method;
use serde_json::Value;
use test_support::{Tokens, app::json};

use crate::portal_common::{at, event_body, id, portal};

const MANAGERS: &[&str] = &["exec", "exec_sponsor", "lead"];
const MEMBERS: &[&str] = &["exec_sponsor", "lead", "champion", "member"];
const LEADERS: &[&str] = &["exec_sponsor", "lead"];
const EVERYONE: &[&str] = &[
    "exec",
    "exec_sponsor",
    "lead",
    "champion",
    "member",
    "outsider",
];
const EXEC: &[&str] = &["exec"];
const CONTRIBUTORS: &[&str] = &["exec", "exec_sponsor", "lead", "champion", "member"];
/// Who edits or deletes a use case the member submitted: its submitter and
/// those who approve use cases.
const MEMBER_USE_CASE_EDITORS: &[&str] = &["exec_sponsor", "lead", "member"];

#[tokio::test]
async fn every_endpoint_applies_the_role_matrix() {
    let p = portal().await;
    let app = &p.app;
    let cop = &p.cop;
    let actors: [(&str, &Tokens); 6] = [
        ("exec", &p.exec),
        ("exec_sponsor", &p.sponsor),
        ("lead", &p.lead),
        ("champion", &p.champion),
        ("member", &p.member),
        ("outsider", &p.outsider),
    ];
    // Shared targets.
    let event = p.event(24, None).await;
    let past = p.event(-2, None).await;
    let asset = id(&app
        .post(
            &format!("/api/v1/cops/{cop}/assets"),
            &p.exec.access,
            &json!({"kind": "doc", "title": "D", "url": "https://d.example"}),
        )
        .await
        .body);
    let s = app
        .post(
            &format!("/api/v1/cops/{cop}/surveys"),
            &p.exec.access,
            &json!({"kind": "cop_health", "title": "H", "questions": [{"kind": "rating", "prompt": "?"}]}),
        )
        .await;
    let survey = id(&s.body);
    let question = id(&s.body["questions"][0]);
    app.post(
        &format!("/api/v1/surveys/{survey}/open"),
        &p.exec.access,
        &json!({}),
    )
    .await
    .expect(200);
    let mut candidates = Vec::new();
    for i in 0..actors.len() {
        candidates.push(
            app.user(
                &p.admin,
                &format!("candidate{i}@acme.test"),
                &["customer_member"],
                &[&p.a],
            )
            .await,
        );
    }

    for (n, (actor, t)) in actors.iter().enumerate() {
        // Per-actor targets, created by the exec.
        let own_event = p.event(48 + n as i64, None).await;
        let use_case = id(&app
            .post(
                &format!("/api/v1/cops/{cop}/use-cases"),
                &p.exec.access,
                &json!({"title": "U", "summary": "S"}),
            )
            .await
            .body);
        let member_use_case = id(&app
            .post(
                &format!("/api/v1/cops/{cop}/use-cases"),
                &p.member.access,
                &json!({"title": "Member idea", "summary": "S"}),
            )
            .await
            .body);
        let own_survey = id(&app
            .post(
                &format!("/api/v1/cops/{cop}/surveys"),
                &p.exec.access,
                &json!({"kind": "cop_health", "title": "Own draft", "questions": [{"kind": "text", "prompt": "?"}]}),
            )
            .await
            .body);
        let own_champion = id(&app
            .post(
                &format!("/api/v1/cops/{cop}/champions"),
                &p.exec.access,
                &json!({"user_id": p.champion.user_id, "title": "Own", "period_start": format!("2025-0{}-01", n + 1), "period_end": "2025-12-31"}),
            )
            .await
            .body);
        let calls: Vec<(&[&str], Method, String, Value, u16)> = vec![
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/cops/{cop}"),
                Value::Null,
                200,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/cops/{cop}/members"),
                Value::Null,
                200,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/cops/{cop}/events"),
                Value::Null,
                200,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/events/{event}/registrations"),
                Value::Null,
                200,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/events/{past}/attendance"),
                Value::Null,
                200,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/cops/{cop}/assets"),
                Value::Null,
                200,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/surveys/{survey}/results"),
                Value::Null,
                200,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/cops/{cop}/use-cases"),
                Value::Null,
                200,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/cops/{cop}/champions"),
                Value::Null,
                200,
            ),
            (
                EXEC,
                Method::PATCH,
                format!("/api/v1/cops/{cop}"),
                json!({"mission": actor}),
                200,
            ),
            (
                MANAGERS,
                Method::POST,
                format!("/api/v1/cops/{cop}/members"),
                json!({"user_id": candidates[n].user_id}),
                201,
            ),
            (
                MANAGERS,
                Method::PATCH,
                format!("/api/v1/cops/{cop}/members/{}", candidates[n].user_id),
                json!({"role": "champion"}),
                200,
            ),
            (
                MANAGERS,
                Method::POST,
                format!("/api/v1/cops/{cop}/events"),
                event_body(24, None),
                201,
            ),
            (
                MANAGERS,
                Method::PATCH,
                format!("/api/v1/events/{own_event}"),
                json!({"title": actor}),
                200,
            ),
            (
                MANAGERS,
                Method::POST,
                format!("/api/v1/events/{own_event}/cancel"),
                json!({}),
                200,
            ),
            (
                MANAGERS,
                Method::POST,
                format!("/api/v1/events/{past}/attendance"),
                json!({"rows": [{"email": "member@acme.test", "joined_at": at(-2)}]}),
                200,
            ),
            (
                MANAGERS,
                Method::POST,
                format!("/api/v1/cops/{cop}/assets"),
                json!({"kind": "video", "title": "V", "url": "https://v.example"}),
                201,
            ),
            (
                MANAGERS,
                Method::PATCH,
                format!("/api/v1/assets/{asset}"),
                json!({"title": actor}),
                200,
            ),
            (
                MANAGERS,
                Method::POST,
                format!("/api/v1/cops/{cop}/surveys"),
                json!({"kind": "exec_pulse", "title": "P", "questions": [{"kind": "text", "prompt": "?"}]}),
                201,
            ),
            (
                MANAGERS,
                Method::POST,
                format!("/api/v1/cops/{cop}/champions"),
                json!({"user_id": p.member.user_id, "title": "C", "period_start": format!("2026-01-0{}", n + 1), "period_end": "2026-03-31"}),
                201,
            ),
            (
                MANAGERS,
                Method::POST,
                format!("/api/v1/cops/{cop}/kpis/ingest"),
                json!({"metric": "dbu", "points": [{"date": "2026-01-01", "value": n}]}),
                200,
            ),
            (
                MEMBERS,
                Method::POST,
                format!("/api/v1/events/{event}/registrations"),
                json!({}),
                201,
            ),
            (
                MEMBERS,
                Method::POST,
                format!("/api/v1/assets/{asset}/engagement"),
                json!({"action": "view"}),
                201,
            ),
            (
                MEMBERS,
                Method::POST,
                format!("/api/v1/surveys/{survey}/responses"),
                json!({"answers": [{"question_id": question, "score": 4}]}),
                201,
            ),
            (
                CONTRIBUTORS,
                Method::POST,
                format!("/api/v1/cops/{cop}/use-cases"),
                json!({"title": "T", "summary": "S"}),
                201,
            ),
            (
                LEADERS,
                Method::POST,
                format!("/api/v1/use-cases/{use_case}/approve"),
                json!({}),
                200,
            ),
            (
                MANAGERS,
                Method::DELETE,
                format!("/api/v1/cops/{cop}/members/{}", candidates[n].user_id),
                Value::Null,
                204,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/use-cases/{member_use_case}"),
                Value::Null,
                200,
            ),
            (
                MEMBER_USE_CASE_EDITORS,
                Method::PATCH,
                format!("/api/v1/use-cases/{member_use_case}"),
                json!({"summary": actor}),
                200,
            ),
            (
                MEMBER_USE_CASE_EDITORS,
                Method::DELETE,
                format!("/api/v1/use-cases/{member_use_case}"),
                Value::Null,
                204,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/surveys/{own_survey}"),
                Value::Null,
                200,
            ),
            (
                MANAGERS,
                Method::DELETE,
                format!("/api/v1/surveys/{own_survey}"),
                Value::Null,
                204,
            ),
            (
                EVERYONE,
                Method::GET,
                format!("/api/v1/champions/{own_champion}"),
                Value::Null,
                200,
            ),
            (
                MANAGERS,
                Method::PATCH,
                format!("/api/v1/champions/{own_champion}"),
                json!({"title": actor}),
                200,
            ),
            (
                MANAGERS,
                Method::DELETE,
                format!("/api/v1/champions/{own_champion}"),
                Value::Null,
                204,
            ),
        ];
        for (allowed, method, path, body, ok) in calls {
            let body = (!body.is_null()).then_some(&body);
            let r = app
                .call(method.clone(), &path, Some(t.access.as_str()), body)
                .await;
            let expected = if allowed.contains(actor) { ok } else { 403 };
            assert_eq!(
                r.status.as_u16(),
                expected,
                "{actor}: {method} {path}: {}",
                r.text
            );
        }
    }
    // What the allowed calls wrote.
    assert_eq!(p.count("SELECT count(*) FROM event_registrations").await, 4);
    assert_eq!(p.count("SELECT count(*) FROM asset_engagement").await, 4);
    assert_eq!(p.count("SELECT count(*) FROM survey_responses").await, 4);
    // 3 recognitions by managers, plus one per actor of which the 3 managers removed theirs.
    assert_eq!(p.count("SELECT count(*) FROM champions").await, 6);
    assert_eq!(
        p.count("SELECT count(*) FROM champions WHERE title = 'Own'")
            .await,
        3,
        "recognitions neither renamed nor removed"
    );
    assert_eq!(
        p.count("SELECT count(*) FROM use_cases WHERE title = 'Member idea' AND summary = 'S'")
            .await,
        3,
        "use cases neither edited nor deleted"
    );
    assert_eq!(
        p.count("SELECT count(*) FROM use_cases WHERE title = 'Member idea'")
            .await,
        3
    );
    assert_eq!(
        p.count("SELECT count(*) FROM surveys WHERE title = 'Own draft'")
            .await,
        3
    );
    assert_eq!(
        p.count("SELECT count(*) FROM use_cases WHERE status = 'approved'")
            .await,
        2
    );
}
