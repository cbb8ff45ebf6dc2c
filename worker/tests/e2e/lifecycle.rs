use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use test_support::app::json;

use crate::harness::{Harness, succeed};

#[tokio::test]
async fn enqueue_then_poll_to_succeeded_with_typed_result() {
    let h = Harness::new().await;
    let _w = h.worker();
    let id = h.enqueue(succeed("hello")).await;
    let j = h
        .wait_status(&id, "succeeded", Duration::from_secs(20))
        .await;
    assert_eq!(j["result"]["label"], "hello");
    assert_eq!(j["result"]["attempt"], 1);
    assert!(j["result"]["worker_pid"].as_u64().is_some_and(|p| p > 0));
    assert_eq!(j["attempts"], 1);
    assert_eq!(j["progress"], 100);
    assert!(j["started_at"].is_string() && j["finished_at"].is_string());
    h.assert_out_of_line(&id).await;
}

#[tokio::test]
async fn transient_failures_back_off_durably_then_succeed() {
    let h = Harness::new().await;
    let _w = h.worker();
    let id = h
        .enqueue(json!({"behaviour": "fail_transient", "fail_times": 2, "label": "flaky"}))
        .await;
    // After the first failure the job waits, queued, with its next attempt time stored.
    let waiting = test_support::eventually(
        Duration::from_secs(20),
        "a retry to be scheduled",
        || async {
            let j = h.job(&id).await;
            (j["status"] == "queued" && j["next_attempt_at"].is_string()).then_some(j)
        },
    )
    .await;
    assert_eq!(waiting["error"]["code"], "diagnostic_transient");
    assert_eq!(waiting["error"]["retryable"], true);
    let next: DateTime<Utc> = waiting["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let run_at: DateTime<Utc> = sqlx::query_scalar("SELECT run_at FROM jobs WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&h.app.db.pool)
        .await
        .unwrap();
    assert!(
        (run_at - next).num_milliseconds().abs() < 1000,
        "back in line at the retry time"
    );
    assert!(next > Utc::now() - chrono::Duration::seconds(1));
    let done = h
        .wait_status(&id, "succeeded", Duration::from_secs(30))
        .await;
    assert_eq!(done["attempts"], 3);
    assert_eq!(done["result"]["attempt"], 3);
    assert!(done["error"].is_null());
}

#[tokio::test]
async fn permanent_failure_fails_at_once() {
    let h = Harness::new().await;
    let _w = h.worker();
    let id = h.enqueue(json!({"behaviour": "fail_permanent"})).await;
    let j = h.wait_status(&id, "failed", Duration::from_secs(20)).await;
    assert_eq!(j["attempts"], 1);
    assert_eq!(j["error"]["code"], "diagnostic_permanent");
    assert_eq!(j["error"]["retryable"], false);
    h.assert_out_of_line(&id).await;
}

#[tokio::test]
async fn a_panic_fails_the_attempt_and_the_worker_lives_on() {
    let h = Harness::new().await;
    let mut w = h.worker();
    let id = h.enqueue(json!({"behaviour": "panic"})).await;
    let j = h.wait_status(&id, "failed", Duration::from_secs(40)).await;
    assert_eq!(j["error"]["code"], "panic");
    assert_eq!(j["attempts"], 3);
    assert!(w.is_running());
    let ok = h.enqueue(succeed("after-panic")).await;
    h.wait_status(&ok, "succeeded", Duration::from_secs(20))
        .await;
}

#[tokio::test]
async fn cancel_a_queued_job_and_it_never_runs() {
    let h = Harness::new().await;
    let id = h.enqueue(succeed("never")).await;
    let r = h
        .app
        .post(
            &format!("/api/v1/jobs/{id}/cancel"),
            &h.admin.access,
            &json!({}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "cancelled");
    let _w = h.worker();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let j = h.job(&id).await;
    assert_eq!(j["status"], "cancelled");
    assert_eq!(j["attempts"], 0);
    assert!(j["started_at"].is_null());
    h.assert_out_of_line(&id).await;
    // Cancelling a finished job is a conflict.
    let again = h
        .app
        .post(
            &format!("/api/v1/jobs/{id}/cancel"),
            &h.admin.access,
            &json!({}),
        )
        .await;
    again.expect_problem(409);
}

#[tokio::test]
async fn cancel_a_running_job_stops_it_at_a_checkpoint_then_retry_runs_it_again() {
    let h = Harness::new().await;
    let _w = h.worker();
    let id = h
        .enqueue(json!({"behaviour": "sleep", "sleep_ms": 20000}))
        .await;
    h.wait_status(&id, "running", Duration::from_secs(20)).await;
    let r = h
        .app
        .post(
            &format!("/api/v1/jobs/{id}/cancel"),
            &h.admin.access,
            &json!({}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["cancel_requested"], true);
    let j = h
        .wait_status(&id, "cancelled", Duration::from_secs(10))
        .await;
    assert!(j["progress"].as_i64().unwrap() < 100);

    // Retry: a fresh attempt budget; it runs (and this time we let it finish quickly).
    sqlx::query(
        "UPDATE jobs SET payload = jsonb_set(payload, '{sleep_ms}', '100') WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(&h.app.db.pool)
    .await
    .unwrap();
    let r = h
        .app
        .post(
            &format!("/api/v1/jobs/{id}/retry"),
            &h.admin.access,
            &json!({}),
        )
        .await;
    r.expect(202);
    assert_eq!(r.body["status"], "queued");
    assert_eq!(r.body["attempts"], 0);
    let done = h
        .wait_status(&id, "succeeded", Duration::from_secs(20))
        .await;
    assert_eq!(done["attempts"], 1);
    // Retrying a succeeded job is a conflict.
    h.app
        .post(
            &format!("/api/v1/jobs/{id}/retry"),
            &h.admin.access,
            &json!({}),
        )
        .await
        .expect_problem(409);
}

#[tokio::test]
async fn retry_a_failed_job() {
    let h = Harness::new().await;
    let _w = h.worker();
    let id = h.enqueue(json!({"behaviour": "fail_permanent"})).await;
    let first = h.wait_status(&id, "failed", Duration::from_secs(20)).await;
    sqlx::query("UPDATE jobs SET payload = '{\"behaviour\": \"succeed\", \"label\": \"second\"}' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&h.app.db.pool)
        .await
        .unwrap();
    h.app
        .post(
            &format!("/api/v1/jobs/{id}/retry"),
            &h.admin.access,
            &json!({}),
        )
        .await
        .expect(202);
    let j = h
        .wait_status(&id, "succeeded", Duration::from_secs(20))
        .await;
    assert_eq!(j["result"]["label"], "second");
    assert!(j["error"].is_null());
    assert_ne!(j["finished_at"], first["finished_at"]);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_job_and_rejects_another_body() {
    let h = Harness::new().await;
    let headers = [("Idempotency-Key", "key-123")];
    let send = |body: serde_json::Value| {
        let h = &h;
        async move {
            h.app
                .call_with(
                    reqwest::Method::POST,
                    "/api/v1/diagnostics/jobs",
                    Some(&h.admin.access),
                    Some(&body),
                    &headers,
                )
                .await
        }
    };
    let a = send(succeed("once")).await;
    a.expect(202);
    let b = send(succeed("once")).await;
    b.expect(202);
    assert_eq!(a.body["id"], b.body["id"]);
    assert_eq!(a.header("location"), b.header("location"));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&h.app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let c = send(succeed("another body")).await;
    assert_eq!(c.expect_problem(422)["code"], "idempotency_key_reused");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&h.app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    // A key whose first request is still in flight is a conflict.
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, 'busy', '\\x00')",
    )
    .bind(format!("user:{}", h.admin.user_id))
    .execute(&h.app.db.pool)
    .await
    .unwrap();
    let busy = h
        .app
        .call_with(
            reqwest::Method::POST,
            "/api/v1/diagnostics/jobs",
            Some(&h.admin.access),
            Some(&succeed("x")),
            &[("Idempotency-Key", "busy")],
        )
        .await;
    // Same scope and key but another fingerprint: 422 wins over in-flight.
    busy.expect_problem(422);
}

#[tokio::test]
async fn job_rows_commit_or_roll_back_with_the_domain_write() {
    use launchpad_domain::{
        jobs::{EnqueueCtx, NewJob, enqueue_one},
        kinds,
    };
    let h = Harness::new().await;
    let payload = kinds::DiagnosticPayload {
        behaviour: kinds::DiagnosticBehaviour::Succeed,
        fail_times: 0,
        sleep_ms: 0,
        label: None,
    };
    let count = |table: &'static str| {
        let pool = h.app.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {table}"
            )))
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let mut tx = h.app.db.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO customers (id, name, slug) VALUES (gen_random_uuid(), 'Rolled back', 'rolled-back')")
        .execute(&mut *tx)
        .await
        .unwrap();
    enqueue_one(
        &mut tx,
        NewJob::of::<kinds::Diagnostic>(&payload, &EnqueueCtx::default()),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(count("jobs").await, 0);
    assert_eq!(count("customers").await, 0);

    let mut tx = h.app.db.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO customers (id, name, slug) VALUES (gen_random_uuid(), 'Committed', 'committed')")
        .execute(&mut *tx)
        .await
        .unwrap();
    let job = enqueue_one(
        &mut tx,
        NewJob::of::<kinds::Diagnostic>(&payload, &EnqueueCtx::default()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count("jobs").await, 1);
    let _w = h.worker();
    h.wait_status(&job.id.to_string(), "succeeded", Duration::from_secs(20))
        .await;
}

#[tokio::test]
async fn sse_stream_delivers_running_then_succeeded_and_closes() {
    let h = Harness::new().await;
    let _w = h.worker();
    let id = h
        .enqueue(json!({"behaviour": "sleep", "sleep_ms": 1500}))
        .await;
    let resp = h
        .app
        .client
        .get(h.app.url(&format!("/api/v1/jobs/{id}/events")))
        .bearer_auth(&h.admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut statuses = vec![];
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    let collect = async {
        while let Some(chunk) = body.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(i) = buf.find("\n\n") {
                let event: String = buf.drain(..i + 2).collect();
                for line in event.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        let v: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
                        statuses.push(v["status"].as_str().unwrap().to_string());
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .expect("stream closes after the terminal state");
    assert!(statuses.contains(&"running".to_string()), "{statuses:?}");
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("succeeded"),
        "{statuses:?}"
    );

    // Connecting after the end gives the final state at once, then closes.
    let late = h
        .app
        .client
        .get(h.app.url(&format!("/api/v1/jobs/{id}/events")))
        .bearer_auth(&h.admin.access)
        .send()
        .await
        .unwrap();
    let text = tokio::time::timeout(Duration::from_secs(5), late.text())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text.matches("data:").count(), 1);
    assert!(text.contains("\"succeeded\""));
}

#[tokio::test]
async fn reading_jobs_bad_input_and_tenancy() {
    let h = Harness::new().await;
    let id = h.enqueue(succeed("mine")).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    h.app
        .get(&format!("/api/v1/jobs/{unknown}"), &h.admin.access)
        .await
        .expect_problem(404);
    h.app
        .get("/api/v1/jobs/not-a-ulid", &h.admin.access)
        .await
        .expect_problem(400);
    let r = h.app.get("/api/v1/jobs?cursor=%%%", &h.admin.access).await;
    r.expect_problem(400);
    h.app
        .get("/api/v1/jobs?status=exploded", &h.admin.access)
        .await
        .expect_problem(400);
    let r = h.app.get("/api/v1/jobs?kind=nope", &h.admin.access).await;
    assert_eq!(r.pointers(), vec!["/kind"]);
    h.app
        .get("/api/v1/jobs?created_from=yesterday", &h.admin.access)
        .await
        .expect_problem(400);
    // A tenant user does not see another tenant's (or the platform's) jobs.
    let c = h.app.create_customer(&h.admin, "acme").await;
    let member = h
        .app
        .user(&h.admin, "m@acme.example", &["customer_member"], &[&c])
        .await;
    h.app
        .get(&format!("/api/v1/jobs/{id}"), &member.access)
        .await
        .expect_problem(404);
    h.app
        .post(
            &format!("/api/v1/jobs/{id}/cancel"),
            &member.access,
            &json!({}),
        )
        .await
        .expect_problem(404);
    let list = h.app.get("/api/v1/jobs", &member.access).await;
    assert_eq!(list.body["items"], json!([]));
    assert_eq!(h.job(&id).await["status"], "queued");
    // Pagination: newest first, cursor continues.
    for i in 0..3 {
        h.enqueue(succeed(&format!("p{i}"))).await;
    }
    let p1 = h.app.get("/api/v1/jobs?limit=2", &h.admin.access).await;
    assert_eq!(p1.body["items"].as_array().unwrap().len(), 2);
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = h
        .app
        .get(
            &format!("/api/v1/jobs?limit=2&cursor={cursor}"),
            &h.admin.access,
        )
        .await;
    assert_eq!(p2.body["items"].as_array().unwrap().len(), 2);
    assert!(p2.body["next_cursor"].is_null());
    let filtered = h
        .app
        .get(
            "/api/v1/jobs?subject=p1&kind=diagnostic&status=queued",
            &h.admin.access,
        )
        .await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn worker_and_api_expose_prometheus_metrics() {
    let h = Harness::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _w = h.worker_with(&[("LAUNCHPAD_WORKER_METRICS_ADDR", addr.as_str())]);
    let id = h.enqueue(succeed("metered")).await;
    h.wait_status(&id, "succeeded", Duration::from_secs(20))
        .await;
    let text = test_support::eventually(Duration::from_secs(10), "worker metrics", || async {
        let t = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        t.contains("launchpad_jobs_total").then_some(t)
    })
    .await;
    assert!(
        text.contains(r#"launchpad_jobs_total{kind="diagnostic",outcome="succeeded"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("launchpad_job_run_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("launchpad_job_wait_seconds_bucket"), "{text}");
    assert!(text.contains("launchpad_job_attempt"), "{text}");
    let api = h
        .app
        .call(reqwest::Method::GET, "/metrics", None, None)
        .await;
    api.expect(200);
    assert!(
        api.text.contains("launchpad_http_requests_total"),
        "{}",
        api.text
    );
    assert!(
        api.text.contains(r#"route="diagnostics_jobs_create""#),
        "{}",
        api.text
    );
    assert!(
        api.text
            .contains("launchpad_http_request_duration_seconds_bucket"),
        "{}",
        api.text
    );
}

/// Idle workers are woken by the enqueue itself, both when the API sends the
/// wake-up after its commit and when a domain write enqueues in its own
/// transaction: with polling and heartbeats (which also fetch) a minute
/// apart, the jobs could only start in time through the wake-ups.
#[tokio::test]
async fn an_enqueue_wakes_an_idle_worker_without_polling() {
    use launchpad_domain::{
        jobs::{EnqueueCtx, NewJob, enqueue},
        kinds,
    };
    let h = Harness::new().await;
    let _w = h.worker_with(&[
        ("LAUNCHPAD_WORKER_POLL_MS", "120000"),
        ("LAUNCHPAD_WORKER_HEARTBEAT_SECS", "60"),
    ]);
    // Let it start, fetch nothing and go idle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let over_http = h.enqueue(succeed("http")).await;
    h.wait_status(&over_http, "succeeded", Duration::from_secs(15))
        .await;

    let payload = kinds::DiagnosticPayload {
        behaviour: kinds::DiagnosticBehaviour::Succeed,
        fail_times: 0,
        sleep_ms: 0,
        label: Some("in-transaction".into()),
    };
    let mut tx = h.app.db.pool.begin().await.unwrap();
    let jobs = enqueue(
        &mut tx,
        (0..3)
            .map(|_| NewJob::of::<kinds::Diagnostic>(&payload, &EnqueueCtx::default()))
            .collect(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for j in jobs {
        h.wait_status(&j.id.to_string(), "succeeded", Duration::from_secs(15))
            .await;
    }
}

/// An idle feeder sleeps until its kind's next delayed or retried job is
/// due: the earliest `run_at` over every priority, ignoring other kinds and
/// jobs out of the line.
#[tokio::test]
async fn next_due_is_the_earliest_waiting_job_of_the_kind_across_priorities() {
    use launchpad_domain::jobs::run;
    let db = test_support::TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(run::next_due(&mut conn, "diagnostic").await.unwrap(), None);
    // (kind, status, priority, seconds from now; None = out of the line)
    let jobs = [
        ("diagnostic", "queued", 5, Some(300)),
        ("diagnostic", "queued", 0, Some(120)),
        ("diagnostic", "queued", 2, Some(60)),
        // Another kind, or running / ended: ignored.
        ("webhook_deliver", "queued", 0, Some(5)),
        ("diagnostic", "running", 0, None),
        ("diagnostic", "failed", 1, None),
    ];
    for (kind, status, priority, secs) in jobs {
        sqlx::query(
            "INSERT INTO jobs (id, kind, payload, status, max_attempts, priority, run_at)
             VALUES ($1, $2, '{}', $3, 3, $4, now() + make_interval(secs => $5))",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(kind)
        .bind(status)
        .bind(priority)
        .bind(secs.map(f64::from))
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    let next = run::next_due(&mut conn, "diagnostic")
        .await
        .unwrap()
        .expect("a job is waiting");
    assert!(
        (55.0..=60.5).contains(&next.as_secs_f64()),
        "the retry in 60 s (priority 2) comes first: {next:?}"
    );
    let next = run::next_due(&mut conn, "webhook_deliver")
        .await
        .unwrap()
        .unwrap();
    assert!(next.as_secs_f64() <= 5.0, "{next:?}");
}

/// `prune_jobs` deletes what finished before the retention period and keeps
/// the rest: job records, and e-mail outbox rows with their content.
#[tokio::test]
async fn prune_deletes_only_what_finished_before_the_retention() {
    use launchpad_domain::{
        jobs::{EnqueueCtx, NewJob, enqueue_one},
        kinds::{PruneJobs, PruneJobsPayload},
    };
    let h = Harness::new().await;
    let db = &h.app.db.pool;
    let customer: uuid::Uuid = h
        .app
        .create_customer(&h.admin, "acme")
        .await
        .parse()
        .unwrap();
    let exec = |sql: &'static str| async move {
        sqlx::query(sql).execute(db).await.unwrap();
    };
    // Jobs: finished 40 days ago (pruned), finished now and queued 40 days
    // ago (kept).
    exec("INSERT INTO jobs (id, kind, payload, max_attempts, status, created_at, finished_at) VALUES
          ('019aa000-0000-7000-8000-0000000000a1', 'diagnostic', '{}', 1, 'succeeded', now() - interval '40 days', now() - interval '40 days'),
          ('019aa000-0000-7000-8000-0000000000b1', 'diagnostic', '{}', 1, 'succeeded', now(), now()),
          ('019aa000-0000-7000-8000-0000000000c1', 'diagnostic', '{}', 1, 'queued', now() - interval '40 days', NULL)").await;
    // E-mail: ids are UUIDv7, so their age is in them.
    let v7 = |days_ago: i64, n: u16| {
        let t = Utc::now() - chrono::Duration::days(days_ago);
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            t.timestamp() as u64,
            0,
        ));
        let mut b = *id.as_bytes();
        b[14..].copy_from_slice(&n.to_be_bytes());
        uuid::Uuid::from_bytes(b)
    };
    let (old_content, new_content) = (v7(40, 1), v7(0, 2));
    for c in [old_content, new_content] {
        sqlx::query("INSERT INTO email_contents (id, customer_id, subject, body_text, body_html) VALUES ($1, $2, 's', 't', 'h')")
            .bind(c)
            .bind(customer)
            .execute(db)
            .await
            .unwrap();
    }
    let rows = [
        (v7(40, 3), old_content, "sent", None), // pruned
        (v7(40, 4), old_content, "suppressed", Some("no_address")), // pruned
        (v7(40, 5), new_content, "pending", None), // unfinished: kept
        (v7(0, 6), new_content, "sent", None),  // recent: kept
    ];
    for (id, content, status, skip) in rows {
        sqlx::query(
            "INSERT INTO email_outbox (id, content_id, customer_id, template, to_address, message_id, status,
                 skip_reason, sent_at)
             VALUES ($1, $2, $3, 'event_invite', 'a@example.org', '<' || $1 || '@x.example>', $4, $5,
                 CASE WHEN $4 = 'sent' THEN now() END)",
        )
        .bind(id)
        .bind(content)
        .bind(customer)
        .bind(status)
        .bind(skip)
        .execute(db)
        .await
        .unwrap();
    }

    let mut tx = db.begin().await.unwrap();
    let job = enqueue_one(
        &mut tx,
        NewJob::of::<PruneJobs>(
            &PruneJobsPayload { retention_days: 30 },
            &EnqueueCtx::default(),
        ),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let _w = h.worker();
    let j = h
        .wait_status(&job.id.to_string(), "succeeded", Duration::from_secs(30))
        .await;
    assert_eq!(j["result"]["jobs_deleted"], 1, "{j}");
    assert_eq!(j["result"]["email_messages_deleted"], 2, "{j}");

    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM jobs WHERE id::text LIKE '019aa000-%' ORDER BY id",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert_eq!(
        ids,
        [
            "019aa000-0000-7000-8000-0000000000b1",
            "019aa000-0000-7000-8000-0000000000c1"
        ]
    );
    let outbox: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT id, status FROM email_outbox ORDER BY id")
            .fetch_all(db)
            .await
            .unwrap();
    assert_eq!(
        outbox,
        [
            (rows[2].0, "pending".to_string()),
            (rows[3].0, "sent".to_string())
        ]
    );
    let contents: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM email_contents ORDER BY id")
        .fetch_all(db)
        .await
        .unwrap();
    assert_eq!(
        contents,
        [new_content],
        "the old content is used by no message any more"
    );
}
