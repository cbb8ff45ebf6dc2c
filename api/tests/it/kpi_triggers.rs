//! Rollups enqueued by changes to the data: attendance imports and closed
//! surveys enqueue a `kpi_rollup` of the CoP in their own transaction,
//! coalesced to one queued rollup per CoP whose range widens.

use serde_json::Value;
use test_support::app::json;

use crate::kpi_common::portal;

fn range(payload: &Value) -> (String, String) {
    (
        payload["from"].as_str().unwrap().to_string(),
        payload["to"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_burst_of_attendance_imports_leaves_one_queued_rollup_with_the_widened_range() {
    let p = portal(3).await;
    let d = |n: u64| p.day(n).to_string();
    let old = p.event(60).await;
    let report = p.import(&old, p.noon(60)).await;
    assert_eq!(report["imported"], 3);
    let jobs = p.rollups().await;
    assert_eq!(jobs.len(), 1);
    let (id, status, payload) = &jobs[0];
    assert_eq!(status, "queued");
    assert_eq!(
        payload,
        &json!({"cop_id": p.cop, "from": d(60), "to": d(31)}),
        "the date and the 30-day windows after it"
    );

    // The rollup is the tenant's job, about the CoP.
    let r = p
        .app
        .get(
            &format!("/api/v1/jobs?kind=kpi_rollup&subject={}", p.cop),
            &p.exec.access,
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["items"][0]["id"], id.as_str());
    assert_eq!(r.body["items"][0]["customer_id"], p.customer.as_str());

    // Later imports widen the queued job instead of adding jobs.
    for (days_ago, to) in [(50, 21), (45, 16)] {
        let e = p.event(days_ago).await;
        p.import(&e, p.noon(days_ago)).await;
        let jobs = p.rollups().await;
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(&jobs[0].0, id);
        assert_eq!(range(&jobs[0].2), (d(60), d(to)));
    }
    // Re-importing the same file changes nothing but still coalesces.
    p.import(&old, p.noon(60)).await;
    assert_eq!(p.rollups().await.len(), 1);

    // A concurrent burst of imports for recent events.
    let mut events = vec![];
    for days_ago in 3..=10 {
        events.push((p.event(days_ago).await, days_ago));
    }
    let imports = events
        .iter()
        .map(|(e, days_ago)| p.import(e, p.noon(*days_ago)));
    futures::future::join_all(imports).await;
    let jobs = p.rollups().await;
    assert_eq!(jobs.len(), 1, "one queued rollup for the CoP: {jobs:?}");
    assert_eq!(range(&jobs[0].2), (d(60), d(0)), "cut at today");
}

#[tokio::test]
async fn a_running_rollup_keeps_its_range_and_the_next_import_queues_another() {
    let p = portal(2).await;
    let d = |n: u64| p.day(n).to_string();
    let e = p.event(40).await;
    p.import(&e, p.noon(40)).await;
    let running = p.rollups().await.remove(0);
    // As a worker does when it starts the job (`jobs::run::fetch_and_start`:
    // a started job leaves the line and gives up its coalescing key).
    sqlx::query(
        "UPDATE jobs SET status = 'running', attempts = 1, started_at = now(), unique_key = NULL,
             run_at = NULL
         WHERE id = $1::uuid",
    )
    .bind(&running.0)
    .execute(&p.app.db.pool)
    .await
    .unwrap();
    let e = p.event(70).await;
    p.import(&e, p.noon(70)).await;
    let jobs = p.rollups().await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(
        jobs[0],
        (running.0.clone(), "running".into(), running.2.clone()),
        "unchanged"
    );
    assert_eq!(jobs[1].1, "queued");
    assert_eq!(range(&jobs[1].2), (d(70), d(41)));
    // The next one coalesces with the queued job, not the running one.
    let e = p.event(65).await;
    p.import(&e, p.noon(65)).await;
    let jobs = p.rollups().await;
    assert_eq!(jobs.len(), 2);
    assert_eq!(range(&jobs[1].2), (d(70), d(36)));
}

#[tokio::test]
async fn imports_that_change_nothing_enqueue_nothing() {
    let p = portal(1).await;
    // Only unknown people: nothing imported.
    let e = p.event(5).await;
    let r = p
        .app
        .post(
            &format!("/api/v1/events/{e}/attendance"),
            &p.exec.access,
            &json!({"rows": [{"email": "nobody@elsewhere.test", "joined_at": p.noon(5)}]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["imported"], 0);
    // A cancelled event: the import fails and its transaction enqueues nothing.
    let e = p.event(6).await;
    p.app
        .post(
            &format!("/api/v1/events/{e}/cancel"),
            &p.exec.access,
            &json!({}),
        )
        .await
        .expect(200);
    let r = p
        .app
        .post(
            &format!("/api/v1/events/{e}/attendance"),
            &p.exec.access,
            &json!({"rows": [{"user_id": p.members[0].user_id, "joined_at": p.noon(6)}]}),
        )
        .await;
    r.expect_problem(409);
    assert!(p.rollups().await.is_empty());
    // A future event: its dates are not computed yet.
    let e = p.event(0).await;
    sqlx::query("UPDATE events SET starts_at = now() + interval '3 days', ends_at = now() + interval '3 days 1 hour' WHERE id = $1::uuid")
        .bind(&e)
        .execute(&p.app.db.pool)
        .await
        .unwrap();
    p.import(&e, p.noon(0)).await;
    assert!(p.rollups().await.is_empty());
}

#[tokio::test]
async fn closing_a_survey_enqueues_a_rollup_of_its_response_dates() {
    let p = portal(3).await;
    let d = |n: u64| p.day(n).to_string();
    let create = |title: &str| {
        let body = json!({"kind": "cop_health", "title": title,
                          "questions": [{"kind": "nps", "prompt": "Recommend us?", "required": true}]});
        let path = format!("/api/v1/cops/{}/surveys", p.cop);
        let app = &p.app;
        let token = p.exec.access.clone();
        async move {
            let r = app.post(&path, &token, &body).await;
            r.expect(201);
            (
                r.body["id"].as_str().unwrap().to_string(),
                r.body["questions"][0]["id"].as_str().unwrap().to_string(),
            )
        }
    };
    let (survey, question) = create("Health").await;
    p.app
        .post(
            &format!("/api/v1/surveys/{survey}/open"),
            &p.exec.access,
            &json!({}),
        )
        .await
        .expect(200);
    for (m, score) in p.members.iter().zip([10, 9, 3]) {
        p.app
            .post(
                &format!("/api/v1/surveys/{survey}/responses"),
                &m.access,
                &json!({"answers": [{"question_id": question, "score": score}]}),
            )
            .await
            .expect(201);
    }
    // One answer came in twelve days ago.
    sqlx::query(
        "UPDATE survey_responses SET responded_at = now() - interval '12 days'
         WHERE id = (SELECT id FROM survey_responses WHERE survey_id = $1::uuid LIMIT 1)",
    )
    .bind(&survey)
    .execute(&p.app.db.pool)
    .await
    .unwrap();
    assert!(
        p.rollups().await.is_empty(),
        "responding alone enqueues nothing"
    );
    p.app
        .post(
            &format!("/api/v1/surveys/{survey}/close"),
            &p.exec.access,
            &json!({}),
        )
        .await
        .expect(200);
    let jobs = p.rollups().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].2,
        json!({"cop_id": p.cop, "from": d(12), "to": d(0)})
    );

    // A survey without responses changes no KPI.
    let (empty, _) = create("Empty").await;
    p.app
        .post(
            &format!("/api/v1/surveys/{empty}/open"),
            &p.exec.access,
            &json!({}),
        )
        .await
        .expect(200);
    p.app
        .post(
            &format!("/api/v1/surveys/{empty}/close"),
            &p.exec.access,
            &json!({}),
        )
        .await
        .expect(200);
    assert_eq!(p.rollups().await, jobs);

    // An import coalesces with the survey's rollup.
    let e = p.event(20).await;
    p.import(&e, p.noon(20)).await;
    let after = p.rollups().await;
    assert_eq!(after.len(), 1);
    assert_eq!(range(&after[0].2), (d(20), d(0)));
}
