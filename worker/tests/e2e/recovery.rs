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
    let m: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(m, 0);
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
/// process can have its dead predecessor's worker names: its first
/// registration frees the tasks still held under them (a later heartbeat
/// must not: those are its own).
#[tokio::test]
async fn a_worker_restarted_under_the_same_name_frees_its_predecessors_tasks() {
    use launchpad_domain::jobs::transport;
    let db = test_support::TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let me = vec![("diagnostic@host:1".to_string(), "diagnostic".to_string())];
    transport::register(&mut conn, &me, true).await.unwrap();
    let id = ulid::Ulid::generate().to_string();
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, lock_by, lock_at)
         VALUES ($1, 'diagnostic', convert_to('{}', 'UTF8'), 'Running', 1, 3, now(), 'diagnostic@host:1', now())",
    )
    .bind(&id)
    .execute(&mut *conn)
    .await
    .unwrap();
    let state = || {
        sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT status, lock_by FROM apalis.jobs WHERE id = $1",
        )
        .bind(id.clone())
        .fetch_one(&db.pool)
    };
    assert_eq!(transport::register(&mut conn, &me, false).await.unwrap(), 0);
    assert_eq!(
        state().await.unwrap().0,
        "Running",
        "a heartbeat keeps its own tasks"
    );
    assert_eq!(transport::register(&mut conn, &me, true).await.unwrap(), 1);
    assert_eq!(state().await.unwrap(), ("Pending".to_string(), None));
}
