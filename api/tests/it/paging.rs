//! Every list endpoint pages the same way: walked one item at a time from
//! the first page to the last, it yields exactly the items of one big page,
//! in the same order; a malformed cursor is a 400 naming `cursor`.
//!
//! The list endpoints are read from the spec (the operations with a
//! `cursor` parameter), so a new list without a case here fails the test.

use std::collections::BTreeMap;

use launchpad_domain::demo::{DEMO_EXEC_EMAIL, DEMO_EXEC_PASSWORD, seed};
use serde_json::{Value, json};
use test_support::{TestApp, app::Resp};

/// Walks `path` (which may carry its own query) one item per page; checks
/// the pages against one page of 200 and the bad-cursor answer. Returns the
/// number of items.
pub async fn assert_pages(app: &TestApp, token: &str, path: &str) -> usize {
    let sep = if path.contains('?') { '&' } else { '?' };
    let all = app.get(&format!("{path}{sep}limit=200"), token).await;
    all.expect(200);
    let everything = all.body["items"].as_array().unwrap().clone();
    assert!(
        all.body.get("next_cursor").is_none(),
        "{path}: one page of 200 is the last"
    );
    assert!(
        everything.len() >= 2,
        "{path}: needs two items to page, has {}",
        everything.len()
    );

    let mut walked: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("{path}{sep}limit=1"),
            Some(c) => format!("{path}{sep}limit=1&cursor={c}"),
        };
        let page = app.get(&url, token).await;
        page.expect(200);
        let items = page.body["items"].as_array().unwrap();
        walked.extend(items.iter().cloned());
        match page.body.get("next_cursor").and_then(Value::as_str) {
            Some(next) => {
                assert_eq!(items.len(), 1, "{url}: a page with a next page is full");
                cursor = Some(next.to_string());
            }
            None => break,
        }
        assert!(walked.len() <= everything.len(), "{path}: pages run on");
    }
    assert_eq!(walked, everything, "{path}: the pages are the whole list");

    let bad = app
        .get(&format!("{path}{sep}cursor=bm90IGpzb24"), token)
        .await;
    bad.expect_problem(400);
    assert_eq!(bad.pointers(), ["/cursor"], "{path}: {}", bad.text);
    walked.len()
}

fn id(r: &Resp) -> String {
    r.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_list_endpoint_pages_through_the_shared_helper() {
    let app = TestApp::spawn_with(|s| s.webhooks_allow_insecure = true).await;
    let customer = seed(&app.db.pool).await.unwrap().to_string();
    let admin = app.admin().await;
    let a = admin.access.as_str();
    let exec = app.tokens(DEMO_EXEC_EMAIL, DEMO_EXEC_PASSWORD).await;

    // What the demo lacks to have two items in every list.
    app.create_customer(&admin, "second").await;
    for label in ["one", "two", "three"] {
        app.post(
            "/api/v1/diagnostics/jobs",
            a,
            &json!({"behaviour": "succeed", "label": label}),
        )
        .await
        .expect(202);
    }
    let cops = app.get("/api/v1/cops", a).await;
    let cop = cops.body["items"][0]["id"].as_str().unwrap().to_string();
    let members = app.get(&format!("/api/v1/cops/{cop}/members"), a).await;
    let member = members.body["items"][5]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/cops/{cop}/champions"),
        a,
        &json!({"user_id": member, "title": "Rising star",
                "period_start": "2026-01-01", "period_end": "2026-03-31"}),
    )
    .await
    .expect(201);
    for _ in 0..2 {
        app.post(&format!("/api/v1/cops/{cop}/newsletters"), a, &json!({}))
            .await
            .expect(202);
    }
    let events = app
        .get(
            &format!("/api/v1/cops/{cop}/events?to=2100-01-01T00:00:00Z"),
            a,
        )
        .await;
    let past_event = events.body["items"][0]["id"].as_str().unwrap().to_string();
    let courses = app.get("/api/v1/courses", a).await;
    let course_ids: Vec<String> = courses.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let course = courses.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"] == "Lakehouse fundamentals")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        "/api/v1/paths",
        a,
        &json!({"customer_id": customer, "title": "Second path", "course_ids": course_ids}),
    )
    .await
    .expect(201);
    let me = app.get("/api/v1/me", &exec.access).await;
    app.post(
        "/api/v1/assignments",
        a,
        &json!({"user_id": me.body["id"], "course_id": course, "due_at": "2100-01-01T00:00:00Z"}),
    )
    .await
    .expect(201);
    let mut endpoints = Vec::new();
    for n in 0..2 {
        let r = app
            .post(
                "/api/v1/webhooks/endpoints",
                a,
                &json!({"customer_id": customer, "url": format!("http://127.0.0.1:9/hook{n}"),
                        "event_types": ["ping"]}),
            )
            .await;
        r.expect(201);
        endpoints.push(id(&r));
    }
    for _ in 0..2 {
        app.post(
            &format!("/api/v1/webhooks/endpoints/{}/test", endpoints[0]),
            a,
            &json!({}),
        )
        .await
        .expect(202);
    }
    for n in 0..2 {
        app.post(
            "/api/v1/files",
            a,
            &json!({"customer_id": customer, "filename": format!("f{n}.pdf"),
                    "content_type": "application/pdf", "size": 10, "purpose": "asset"}),
        )
        .await
        .expect(201);
    }
    for n in 0..2 {
        app.post(
            "/api/v1/content-items",
            a,
            &json!({"customer_id": customer, "title": format!("Item {n}")}),
        )
        .await
        .expect(201);
    }

    // Notifications come from workers (none run here): three for the exec.
    sqlx::query(
        "INSERT INTO notifications (recipient_id, source_id, type, title, body, group_key)
         SELECT $1::uuid, gen_random_uuid(), 'event_created', 'Event ' || g, '', 'k' || g
         FROM generate_series(1, 3) g",
    )
    .bind(me.body["id"].as_str().unwrap())
    .execute(&app.db.pool)
    .await
    .unwrap();

    // Coaching: a team leader, two agents reporting to them, a session each.
    let member_id = |k: usize| {
        members.body["items"][k]["user_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let tl = member_id(6);
    app.put(
        &format!("/api/v1/coaching/people/{tl}"),
        a,
        &json!({"customer_id": customer, "role": "team_leader"}),
    )
    .await
    .expect(201);
    for k in [7, 8] {
        let agent = member_id(k);
        app.put(
            &format!("/api/v1/coaching/people/{agent}"),
            a,
            &json!({"customer_id": customer, "role": "agent", "team_leader_id": tl}),
        )
        .await
        .expect(201);
        let starts = (chrono::Utc::now() + chrono::Duration::days(k as i64)).to_rfc3339();
        app.post(
            "/api/v1/coaching/sessions",
            a,
            &json!({"customer_id": customer, "agent_id": agent, "starts_at": starts,
                    "duration_minutes": 30, "time_zone": "Europe/London"}),
        )
        .await
        .expect(201);
    }
    // Certificates come from workers too: the exec's of two courses, and a
    // member's of the first.
    let other_course = course_ids.iter().find(|c| **c != course).unwrap().clone();
    for (user, c) in [
        (me.body["id"].as_str().unwrap().to_string(), course.clone()),
        (me.body["id"].as_str().unwrap().to_string(), other_course),
        (member.clone(), course.clone()),
    ] {
        sqlx::query(
            "INSERT INTO certificates (id, user_id, course_id, customer_id, verification_code,
                 recipient_name, course_title, issuer_name)
             VALUES (gen_random_uuid(), $1::uuid, $2::uuid, $3::uuid, $4, 'Someone', 'A course', 'Demo')",
        )
        .bind(&user)
        .bind(&c)
        .bind(&customer)
        .bind(launchpad_domain::lms::certificates::new_verification_code())
        .execute(&app.db.pool)
        .await
        .unwrap();
    }

    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let cases: BTreeMap<&str, (String, &str)> = BTreeMap::from([
        ("customers_list", ("/api/v1/customers".into(), a)),
        ("users_list", ("/api/v1/users".into(), a)),
        ("jobs_list", ("/api/v1/jobs".into(), a)),
        ("cops_list", ("/api/v1/cops".into(), a)),
        ("members_list", (format!("/api/v1/cops/{cop}/members"), a)),
        ("events_list", (format!("/api/v1/cops/{cop}/events"), a)),
        (
            "registrations_list",
            (format!("/api/v1/events/{past_event}/registrations"), a),
        ),
        (
            "attendance_list",
            (format!("/api/v1/events/{past_event}/attendance"), a),
        ),
        ("assets_list", (format!("/api/v1/cops/{cop}/assets"), a)),
        ("surveys_list", (format!("/api/v1/cops/{cop}/surveys"), a)),
        (
            "use_cases_list",
            (format!("/api/v1/cops/{cop}/use-cases"), a),
        ),
        (
            "champions_list",
            (format!("/api/v1/cops/{cop}/champions"), a),
        ),
        (
            "newsletters_list",
            (format!("/api/v1/cops/{cop}/newsletters"), a),
        ),
        (
            "usage_ai_get",
            (format!("/api/v1/usage/ai?month={month}"), a),
        ),
        ("courses_list", ("/api/v1/courses".into(), a)),
        ("files_list", ("/api/v1/files".into(), a)),
        (
            "coaching_people_list",
            ("/api/v1/coaching/people".into(), a),
        ),
        (
            "coaching_sessions_list",
            ("/api/v1/coaching/sessions".into(), a),
        ),
        ("content_items_list", ("/api/v1/content-items".into(), a)),
        (
            "lessons_list",
            (format!("/api/v1/courses/{course}/lessons"), a),
        ),
        ("paths_list", ("/api/v1/paths".into(), a)),
        (
            "certificates_list_mine",
            ("/api/v1/me/certificates".into(), exec.access.as_str()),
        ),
        (
            "certificates_list_for_course",
            (format!("/api/v1/courses/{course}/certificates"), a),
        ),
        ("assignments_list", ("/api/v1/assignments".into(), a)),
        (
            "assignments_list_mine",
            ("/api/v1/me/assignments".into(), exec.access.as_str()),
        ),
        (
            "notifications_list",
            ("/api/v1/me/notifications".into(), exec.access.as_str()),
        ),
        (
            "webhooks_endpoints_list",
            ("/api/v1/webhooks/endpoints".into(), a),
        ),
        (
            "webhooks_endpoints_deliveries",
            (
                format!("/api/v1/webhooks/endpoints/{}/deliveries", endpoints[0]),
                a,
            ),
        ),
    ]);

    // Every operation with a cursor has a case, and every case is one.
    let spec = app.get("/openapi.json", "").await;
    let mut lists: Vec<String> = Vec::new();
    for item in spec.body["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["name"] == "cursor") {
                lists.push(op["operationId"].as_str().unwrap().to_string());
            }
        }
    }
    lists.sort();
    let covered: Vec<String> = cases.keys().map(|k| k.to_string()).collect();
    assert_eq!(lists, covered, "list operations of the spec");

    for (op, (path, token)) in &cases {
        let n = assert_pages(&app, token, path).await;
        assert!(n >= 2, "{op}");
    }
}
