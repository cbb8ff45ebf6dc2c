//! The demo seed's CoP portal data: present, readable through the API, and
//! written once.

use launchpad_domain::demo::{DEMO_COPS, DEMO_EXEC_EMAIL, DEMO_EXEC_PASSWORD, seed};
use test_support::TestApp;

const TABLES: [&str; 12] = [
    "cops",
    "cop_members",
    "events",
    "event_registrations",
    "event_attendance",
    "content_assets",
    "asset_engagement",
    "survey_responses",
    "use_cases",
    "champions",
    "kpi_metrics",
    "newsletters",
];

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(app.count(&format!("SELECT count(*) FROM {t}")).await);
    }
    out
}

#[tokio::test]
async fn demo_seed_fills_the_cop_portal_once() {
    let app = TestApp::spawn().await;
    seed(&app.db.pool).await.unwrap();
    let first = counts(&app).await;
    assert!(first.iter().all(|n| *n > 0), "{TABLES:?}: {first:?}");
    seed(&app.db.pool).await.unwrap();
    assert_eq!(counts(&app).await, first, "a second seed adds nothing");

    let exec = app.tokens(DEMO_EXEC_EMAIL, DEMO_EXEC_PASSWORD).await;
    let cops = app.get("/api/v1/cops", &exec.access).await;
    let names: Vec<&str> = cops.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, DEMO_COPS);
    let cop = cops.body["items"][0]["id"].as_str().unwrap();
    let detail = app.get(&format!("/api/v1/cops/{cop}"), &exec.access).await;
    let stats = &detail.body["stats"];
    assert_eq!(stats["member_count"], 43);
    assert_eq!(stats["sessions_last_90_days"], 4);
    // 22 promoters, 12 passives, 6 detractors of 40.
    assert_eq!(stats["latest_nps"], 40.0);
    // One newsletter draft, written from the template (no provider, no job).
    let mut drafts = vec![];
    for c in cops.body["items"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let r = app
            .get(&format!("/api/v1/cops/{id}/newsletters"), &exec.access)
            .await;
        drafts.extend(r.body["items"].as_array().unwrap().clone());
    }
    assert_eq!(drafts.len(), 1, "{drafts:?}");
    assert_eq!(drafts[0]["status"], "draft");
    assert_eq!(drafts[0]["drafted_by"], "template");
    assert!(
        drafts[0]["subject"]
            .as_str()
            .unwrap()
            .contains("newsletter")
    );
    assert!(!drafts[0]["sections"].as_array().unwrap().is_empty());

    let events = app
        .get(&format!("/api/v1/cops/{cop}/events"), &exec.access)
        .await;
    let items = events.body["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|e| e["attended_count"].as_i64().unwrap() > 0),
        "past events have attendance"
    );
    let upcoming = items
        .iter()
        .filter(|e| e["starts_at"].as_str().unwrap() > chrono::Utc::now().to_rfc3339().as_str());
    assert!(
        upcoming.clone().count() >= 2
            && upcoming
                .clone()
                .all(|e| e["registered_count"].as_i64().unwrap() > 0)
    );

    let surveys = app
        .get(
            &format!("/api/v1/cops/{cop}/surveys?status=closed"),
            &exec.access,
        )
        .await;
    let survey = surveys.body["items"][0]["id"].as_str().unwrap();
    let results = app
        .get(&format!("/api/v1/surveys/{survey}/results"), &exec.access)
        .await;
    results.expect(200);
    assert_eq!(results.body["response_count"], 40);
    let questions = results.body["questions"].as_array().unwrap();
    assert_eq!(questions[0]["nps"], 40.0);
    let text = questions.iter().find(|q| q["kind"] == "text").unwrap();
    assert_eq!(text["answer_count"], 30);
    let distinct: i64 = app
        .count("SELECT count(DISTINCT text_value) FROM survey_answers WHERE text_value IS NOT NULL")
        .await;
    assert!(distinct >= 25, "varied free text: {distinct}");

    // Answers read like people: no even split, usefulness in line with the NPS.
    let rating = &questions[1];
    let average = rating["average"].as_f64().unwrap();
    assert!(
        (3.8..=4.6).contains(&average),
        "rating {average} beside NPS +40"
    );
    let options = questions[2]["options"].as_array().unwrap();
    let counts: Vec<i64> = options
        .iter()
        .map(|o| o["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<i64>(), 32);
    assert!(
        counts.iter().max() != counts.iter().min(),
        "formats split unevenly: {}",
        questions[2]
    );
}

/// The first hour: the demo's dashboards have figures and its upcoming
/// events' invitations are queued for the worker, without anyone asking.
#[tokio::test]
async fn demo_seed_rolls_up_kpis_and_queues_invitations() {
    let app = TestApp::spawn().await;
    seed(&app.db.pool).await.unwrap();
    let exec = app.tokens(DEMO_EXEC_EMAIL, DEMO_EXEC_PASSWORD).await;

    let rolled_up = app
        .count("SELECT count(DISTINCT cop_id) FROM kpi_metrics WHERE source = 'rollup'")
        .await;
    assert_eq!(rolled_up, 2, "both CoPs have computed KPI rows");
    let cops = app.get("/api/v1/cops", &exec.access).await;
    for cop in cops.body["items"].as_array().unwrap() {
        let id = cop["id"].as_str().unwrap();
        let summary = app
            .get(
                &format!("/api/v1/cops/{id}/analytics/summary"),
                &exec.access,
            )
            .await;
        summary.expect(200);
        assert!(summary.body["as_of"].is_string(), "{}", summary.text);
    }
    let portfolio = app.get("/api/v1/analytics/portfolio", &exec.access).await;
    portfolio.expect(200);
    assert!(
        portfolio.body["cops"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["as_of"].is_string() && c["members"].as_i64().unwrap() > 0),
        "{}",
        portfolio.text
    );

    // One invitation fan-out per upcoming event, queued for the worker.
    let upcoming = app
        .count("SELECT count(*) FROM events WHERE starts_at > now()")
        .await;
    let queued = app
        .count(
            "SELECT count(*) FROM jobs j JOIN events e ON j.subject = e.id::text
             WHERE j.kind = 'event_invites' AND j.status = 'queued' AND e.starts_at > now()",
        )
        .await;
    assert_eq!((upcoming, queued), (3, 3));
}
