use std::time::Duration;

use test_support::{
    TestApp,
    app::json,
    proxy::{TcpProxy, host_port},
};

use crate::harness::{Harness, succeed};

#[tokio::test]
async fn a_killed_workers_job_is_finished_by_another_worker() {
    let h = Harness::new().await;
    let mut a = h.worker();
    let id = h
        .enqueue(json!({"behaviour": "sleep", "sleep_ms": 3000, "label": "survivor"}))
        .await;
    h.wait_status(&id, "running", Duration::from_secs(20)).await;
    a.kill();
    let _b = h.worker();
    let j = h
        .wait_status(&id, "succeeded", Duration::from_secs(40))
        .await;
    assert_eq!(j["attempts"], 2, "the killed attempt counts");
    assert_eq!(j["result"]["label"], "survivor");
}

#[tokio::test]
async fn a_poison_job_that_kills_its_worker_ends_failed_after_max_attempts() {
    let h = Harness::new().await;
    let id = h.enqueue(json!({"behaviour": "abort"})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut spawned = 0;
    let final_job = loop {
        let j = h.job(&id).await;
        if j["status"] == "failed" {
            break j;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "poison job still {j}"
        );
        // Keep one worker alive: the poison job kills each one that runs it.
        let mut w = h.worker();
        spawned += 1;
        let t0 = tokio::time::Instant::now();
        while w.is_running() && t0.elapsed() < Duration::from_secs(8) {
            if h.job(&id).await["status"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert_eq!(final_job["error"]["code"], "attempts_exhausted");
    assert_eq!(final_job["attempts"], 3);
    assert!(
        spawned >= 3,
        "each attempt killed a worker ({spawned} spawned)"
    );
    // It stays failed and the surviving workers keep working.
    let _w = h.worker();
    let ok = h.enqueue(succeed("after-poison")).await;
    h.wait_status(&ok, "succeeded", Duration::from_secs(20))
        .await;
    assert_eq!(h.job(&id).await["status"], "failed");
}

#[tokio::test]
async fn sigterm_lets_in_flight_jobs_finish() {
    let h = Harness::new().await;
    let mut w = h.worker();
    let id = h
        .enqueue(json!({"behaviour": "sleep", "sleep_ms": 1500}))
        .await;
    h.wait_status(&id, "running", Duration::from_secs(20)).await;
    let status = w.terminate();
    assert!(status.success(), "worker exited cleanly: {status:?}");
    let j = h.job(&id).await;
    assert_eq!(j["status"], "succeeded");
    assert_eq!(j["attempts"], 1);
}

#[tokio::test]
async fn enqueue_while_postgres_is_down_is_a_503_and_writes_nothing() {
    let db = test_support::TestDb::new().await;
    let proxy = TcpProxy::start(host_port(&db.url)).await;
    let proxied = proxy.rewrite(&db.url);
    let pool = db.pool.clone();
    let app = TestApp::spawn_on(db, |s| s.database_url = proxied.clone()).await;
    let admin = app.admin().await;
    proxy.cut().await;
    let r = app
        .post("/api/v1/diagnostics/jobs", &admin.access, &succeed("lost"))
        .await;
    r.expect_problem(503);
    assert!(
        r.header("retry-after")
            .is_some_and(|v| v.parse::<u64>().is_ok())
    );
    let ready = app.call(reqwest::Method::GET, "/ready", None, None).await;
    ready.expect_problem(503);
    proxy.restore().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    // Back up: the same request now works.
    test_support::eventually(Duration::from_secs(15), "the API to recover", || async {
        let r = app
            .post("/api/v1/diagnostics/jobs", &admin.access, &succeed("after"))
            .await;
        (r.status == 202).then_some(())
    })
    .await;
}

/// A restarted container often keeps its host name and pid, so a new worker
/// process can have its dead predecessor's name: its first registration
/// frees the jobs still running under it (a later heartbeat must not: those
/// are its own).
#[tokio::test]
async fn a_worker_restarted_under_the_same_name_frees_its_predecessors_jobs() {
    use launchpad_domain::jobs::transport;
    let db = test_support::TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let (me, _) = transport::register(&mut conn, "host:1", &["diagnostic"], true)
        .await
        .unwrap();
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, lock_by, started_at)
         VALUES ($1, 'diagnostic', '{}', 'running', 1, 3, $2, now())",
    )
    .bind(id)
    .bind(me)
    .execute(&mut *conn)
    .await
    .unwrap();
    let state = || {
        sqlx::query_as::<_, (String, bool)>(
            "SELECT status, run_at IS NOT NULL FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&db.pool)
    };
    assert_eq!(
        transport::register(&mut conn, "host:1", &["diagnostic"], false)
            .await
            .unwrap(),
        (me, 0)
    );
    assert_eq!(
        state().await.unwrap(),
        ("running".to_string(), false),
        "a heartbeat keeps its own jobs"
    );
    assert_eq!(
        transport::register(&mut conn, "host:1", &["diagnostic"], true)
            .await
            .unwrap(),
        (me, 1)
    );
    assert_eq!(state().await.unwrap(), ("queued".to_string(), true));
}
