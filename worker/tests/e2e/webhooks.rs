//! Webhooks end to end: the real API, real worker processes, a receiver
//! started by the test; signatures checked by the PyPI `standardwebhooks`
//! package (an independent implementation of the spec).

use std::time::Duration;

use chrono::{DateTime, Utc};
use test_support::{
    Receiver, Reply, SmtpSink, TestApp, Tokens, WorkerProcess,
    app::{Json, json},
    eventually,
    receiver::{Received, verify_standard_webhooks},
};

/// Worker settings of most tests: local http targets, retry schedule / 1000.
const FAST: &[(&str, &str)] = &[
    ("LAUNCHPAD_WEBHOOKS_ALLOW_INSECURE", "true"),
    ("LAUNCHPAD_WEBHOOKS_RETRY_SCALE", "0.001"),
];
const WAIT: Duration = Duration::from_secs(60);

struct Wh {
    app: TestApp,
    admin: Tokens,
    customer: String,
    rx: Receiver,
}

impl Wh {
    /// The API (insecure targets allowed or not), a customer and a receiver.
    async fn new(api_allows_insecure: bool) -> Self {
        let app = TestApp::spawn_with(|s| s.webhooks_allow_insecure = api_allows_insecure).await;
        let admin = app.admin().await;
        let customer = app.create_customer(&admin, "hooks").await;
        Self {
            app,
            admin,
            customer,
            rx: Receiver::start().await,
        }
    }

    fn worker(&self, env: &[(&str, &str)]) -> WorkerProcess {
        WorkerProcess::spawn(&self.app.db.url, env)
    }

    /// Registers an endpoint at `url`; returns (id, secret).
    async fn endpoint_at(&self, url: &str, event_types: Json) -> (String, String) {
        let r = self
            .app
            .post(
                "/api/v1/webhooks/endpoints",
                &self.admin.access,
                &json!({"customer_id": self.customer, "url": url, "event_types": event_types}),
            )
            .await;
        r.expect(201);
        (
            r.body["id"].as_str().unwrap().into(),
            r.body["secret"].as_str().unwrap().into(),
        )
    }

    /// Registers an endpoint on the receiver at `path`.
    async fn endpoint(&self, path: &str, event_types: Json) -> (String, String) {
        self.endpoint_at(&self.rx.url(path), event_types).await
    }

    /// Sends a ping to an endpoint; returns the message id.
    async fn ping(&self, endpoint: &str) -> String {
        let r = self
            .app
            .post(
                &format!("/api/v1/webhooks/endpoints/{endpoint}/test"),
                &self.admin.access,
                &json!({}),
            )
            .await;
        r.expect(202);
        r.body["message_id"].as_str().unwrap().into()
    }

    /// Enqueues a diagnostic job of the customer; returns its id.
    async fn job(&self, mut body: Json) -> String {
        body["customer_id"] = json!(self.customer);
        let r = self
            .app
            .post("/api/v1/diagnostics/jobs", &self.admin.access, &body)
            .await;
        r.expect(202);
        r.body["id"].as_str().unwrap().into()
    }

    async fn get(&self, path: &str) -> Json {
        let r = self.app.get(path, &self.admin.access).await;
        r.expect(200);
        r.body.clone()
    }

    async fn deliveries(&self, endpoint: &str) -> Vec<Json> {
        let page = self
            .get(&format!("/api/v1/webhooks/endpoints/{endpoint}/deliveries"))
            .await;
        page["items"].as_array().unwrap().clone()
    }

    /// Waits until the endpoint's deliveries satisfy `ok`.
    async fn wait_deliveries(
        &self,
        endpoint: &str,
        what: &str,
        ok: impl Fn(&[Json]) -> bool,
    ) -> Vec<Json> {
        eventually(WAIT, what, || async {
            let d = self.deliveries(endpoint).await;
            ok(&d).then_some(d)
        })
        .await
    }

    async fn wait_job(&self, id: &str, status: &str) -> Json {
        eventually(WAIT, &format!("job {id} to be {status}"), || async {
            let j = self.get(&format!("/api/v1/jobs/{id}")).await;
            (j["status"] == status).then_some(j)
        })
        .await
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap()
    }
}

fn signatures(r: &Received) -> Vec<String> {
    r.header("webhook-signature")
        .unwrap()
        .split(' ')
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn job_events_reach_matching_endpoints_signed_per_the_spec() {
    let h = Wh::new(true).await;
    let _w = h.worker(FAST);
    let (all, secret) = h.endpoint("/all", json!([])).await;
    let (_failed_only, other_secret) = h.endpoint("/failed", json!(["job.failed"])).await;

    let ok_job = h
        .job(json!({"behaviour": "succeed", "label": "hooked"}))
        .await;
    let got = h.rx.wait_for("/all", 1, WAIT).await;
    let r = &got[0];
    let id = r.header("webhook-id").unwrap();
    assert!(id.starts_with("msg_") && id.len() == 30, "{id}");
    let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 60);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(signatures(r).len(), 1);
    verify_standard_webhooks(&secret, r).expect("a valid signature");
    assert!(
        verify_standard_webhooks(&other_secret, r).is_err(),
        "another secret must not verify"
    );
    let mut tampered = r.clone();
    tampered.body = r
        .body
        .iter()
        .map(|b| if *b == b'1' { b'2' } else { *b })
        .collect();
    assert!(
        verify_standard_webhooks(&secret, &tampered).is_err(),
        "a changed body must not verify"
    );
    // The payload: type, timestamp and the job exactly as the API shows it.
    let body = r.json();
    assert_eq!(body["type"], "job.succeeded");
    assert!(
        body["timestamp"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .is_ok()
    );
    assert_eq!(body["data"], h.get(&format!("/api/v1/jobs/{ok_job}")).await);

    // Filters: a failure reaches both endpoints, a success only the unfiltered one.
    let bad_job = h.job(json!({"behaviour": "fail_permanent"})).await;
    let failed = h.rx.wait_for("/failed", 1, WAIT).await;
    assert_eq!(failed[0].json()["type"], "job.failed");
    assert_eq!(failed[0].json()["data"]["id"], bad_job);
    verify_standard_webhooks(&other_secret, &failed[0]).unwrap();
    let all_got = h.rx.wait_for("/all", 2, WAIT).await;
    assert_eq!(all_got[1].json()["type"], "job.failed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.rx.requests("/failed").len(), 1);

    // The attempt log.
    let d = h
        .wait_deliveries(&all, "two delivered", |d| {
            d.len() == 2 && d.iter().all(|x| x["status"] == "succeeded")
        })
        .await;
    let attempt = &d[0]["attempt_log"][0];
    assert_eq!(attempt["attempt"], 1);
    assert_eq!(attempt["status_code"], 200);
    assert_eq!(attempt["response_body"], "ok");
    assert!(attempt["latency_ms"].as_i64().unwrap() >= 0);
    assert_eq!(d[0]["event_type"], "job.failed");
    // Delivery jobs emit no job events themselves: only the two jobs' events exist.
    assert_eq!(h.count("SELECT count(*) FROM webhook_messages").await, 2);
    assert_eq!(
        h.count(
            "SELECT count(*) FROM jobs WHERE kind = 'webhook_deliver' AND status = 'succeeded'"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn retries_back_off_honour_retry_after_and_keep_the_webhook_id() {
    let h = Wh::new(true).await;
    let _w = h.worker(FAST);
    let (ep, secret) = h.endpoint("/flaky", json!([])).await;
    h.rx.script(
        "/flaky",
        [
            Reply::Status(500),
            Reply::RetryAfter(429, 2),
            Reply::Status(200),
        ],
    );
    let msg = h.ping(&ep).await;
    let got = h.rx.wait_for("/flaky", 3, WAIT).await;
    for r in &got {
        assert_eq!(r.header("webhook-id"), Some(msg.as_str()));
        verify_standard_webhooks(&secret, r).unwrap();
        assert_eq!(r.json()["type"], "ping");
    }
    let gap = got[2].at - got[1].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "Retry-After 2 s honoured: {gap:?}"
    );
    let d = h
        .wait_deliveries(&ep, "delivered", |d| d[0]["status"] == "succeeded")
        .await;
    assert_eq!(d[0]["attempts"], 3);
    let log = d[0]["attempt_log"].as_array().unwrap();
    let codes: Vec<i64> = log
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 429, 200]);
    assert!(log[0]["error"].as_str().unwrap().contains("500"));
    assert_eq!(log[1]["response_body"], "slow down");
    assert!(log[2]["error"].is_null());
    assert_eq!(d[0]["message_id"], msg);
    // The transport job backed off durably between attempts.
    let attempts: i32 =
        sqlx::query_scalar("SELECT attempts FROM jobs WHERE kind = 'webhook_deliver'")
            .fetch_one(&h.app.db.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 3);
}

#[tokio::test]
async fn a_503_with_retry_after_is_honoured() {
    let h = Wh::new(true).await;
    let _w = h.worker(FAST);
    let (ep, secret) = h.endpoint("/busy", json!([])).await;
    h.rx.script("/busy", [Reply::RetryAfter(503, 3), Reply::Status(200)]);
    let msg = h.ping(&ep).await;
    let got = h.rx.wait_for("/busy", 2, WAIT).await;
    for r in &got {
        assert_eq!(r.header("webhook-id"), Some(msg.as_str()));
        verify_standard_webhooks(&secret, r).unwrap();
    }
    // The scaled schedule would retry after ~5 ms; Retry-After says 3 s.
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(2900),
        "Retry-After 3 s of a 503 honoured: {gap:?}"
    );
    let d = h
        .wait_deliveries(&ep, "delivered", |d| d[0]["status"] == "succeeded")
        .await;
    let codes: Vec<i64> = d[0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![503, 200]);
}

#[tokio::test]
async fn gone_disables_the_endpoint() {
    let h = Wh::new(true).await;
    let _w = h.worker(FAST);
    let (ep, _) = h.endpoint("/gone", json!([])).await;
    h.rx.script("/gone", [Reply::Status(410)]);
    h.ping(&ep).await;
    let d = h
        .wait_deliveries(&ep, "a failed delivery", |d| d[0]["status"] == "failed")
        .await;
    assert_eq!(d[0]["attempts"], 1);
    assert_eq!(d[0]["last_status_code"], 410);
    let e = h.get(&format!("/api/v1/webhooks/endpoints/{ep}")).await;
    assert_eq!(e["disabled"], true);
    assert_eq!(e["disabled_reason"], "gone");
    assert_eq!(
        h.count("SELECT count(*) FROM audit_log WHERE action = 'webhook.endpoint_disabled' AND after->>'disabled_reason' = 'gone'")
            .await,
        1
    );
    // Disabled: no test pings, no new deliveries, until enabled again.
    let r = h
        .app
        .post(
            &format!("/api/v1/webhooks/endpoints/{ep}/test"),
            &h.admin.access,
            &json!({}),
        )
        .await;
    assert_eq!(r.expect_problem(409)["code"], "endpoint_disabled");
    let job = h.job(json!({"behaviour": "succeed"})).await;
    h.wait_job(&job, "succeeded").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.deliveries(&ep).await.len(), 1);
    let e = h
        .app
        .post(
            &format!("/api/v1/webhooks/endpoints/{ep}/enable"),
            &h.admin.access,
            &json!({}),
        )
        .await;
    e.expect(200);
    assert_eq!(e.body["disabled"], false);
    h.ping(&ep).await;
    h.rx.wait_for("/gone", 2, WAIT).await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let h = Wh::new(true).await;
    let _w = h.worker(FAST);
    let (ep, _) = h.endpoint("/moved", json!([])).await;
    h.rx.script(
        "/moved",
        [
            Reply::Redirect(302, h.rx.url("/elsewhere")),
            Reply::Redirect(307, h.rx.url("/elsewhere")),
        ],
    );
    h.ping(&ep).await;
    let d = h
        .wait_deliveries(&ep, "delivered on the third try", |d| {
            d[0]["status"] == "succeeded"
        })
        .await;
    let log = d[0]["attempt_log"].as_array().unwrap();
    assert_eq!(log[0]["status_code"], 302);
    assert!(
        log[0]["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed")
    );
    assert_eq!(log[1]["status_code"], 307);
    assert_eq!(log[2]["status_code"], 200);
    assert!(
        h.rx.requests("/elsewhere").is_empty(),
        "a redirect was followed"
    );
}

#[tokio::test]
async fn replay_and_recover_resend_with_the_same_webhook_id() {
    let h = Wh::new(true).await;
    let since = Utc::now() - chrono::Duration::seconds(5);
    let (ep, secret) = h.endpoint("/r", json!([])).await;
    // Three pings wait while no worker runs; the endpoint is disabled before
    // they go out, so they fail.
    let mut missed = vec![];
    for _ in 0..3 {
        missed.push(h.ping(&ep).await);
    }
    h.app
        .post(
            &format!("/api/v1/webhooks/endpoints/{ep}/disable"),
            &h.admin.access,
            &json!({}),
        )
        .await
        .expect(200);
    let _w = h.worker(FAST);
    let d = h
        .wait_deliveries(&ep, "three failed", |d| {
            d.len() == 3 && d.iter().all(|x| x["status"] == "failed")
        })
        .await;
    assert!(
        d.iter()
            .all(|x| x["attempts"] == 0 && x["last_error"] == "the endpoint is disabled")
    );
    let failed = h
        .get(&format!(
            "/api/v1/webhooks/endpoints/{ep}/deliveries?status=failed"
        ))
        .await;
    assert_eq!(failed["items"].as_array().unwrap().len(), 3);
    assert!(h.rx.requests("/r").is_empty());
    // Recovering a disabled endpoint is refused; enable it first.
    let path = format!(
        "/api/v1/webhooks/endpoints/{ep}/recover?since={}",
        since.to_rfc3339().replace('+', "%2B")
    );
    h.app
        .post(&path, &h.admin.access, &json!({}))
        .await
        .expect_problem(409);
    h.app
        .post(
            &format!("/api/v1/webhooks/endpoints/{ep}/enable"),
            &h.admin.access,
            &json!({}),
        )
        .await
        .expect(200);
    let delivered = h.ping(&ep).await;
    h.rx.wait_for("/r", 1, WAIT).await;

    // Recover: the three failed messages again, not the delivered one.
    let r = h.app.post(&path, &h.admin.access, &json!({})).await;
    r.expect(202);
    assert_eq!(r.body["delivery_ids"].as_array().unwrap().len(), 3);
    let got = h.rx.wait_for("/r", 4, WAIT).await;
    let mut ids: Vec<String> = got[1..]
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    ids.sort();
    missed.sort();
    assert_eq!(ids, missed);
    for r in &got {
        verify_standard_webhooks(&secret, r).unwrap();
    }
    // Recovering again finds nothing left to recover.
    h.wait_deliveries(&ep, "recovered", |d| {
        d.iter().filter(|x| x["status"] == "succeeded").count() == 4
    })
    .await;
    let again = h.app.post(&path, &h.admin.access, &json!({})).await;
    assert_eq!(again.body["delivery_ids"], json!([]));

    // Replay: the delivered message once more, same webhook-id and body.
    let r = h
        .app
        .post(
            &format!("/api/v1/webhooks/messages/{delivered}/replay"),
            &h.admin.access,
            &json!({}),
        )
        .await;
    r.expect(202);
    assert_eq!(r.body["message_id"], delivered);
    let got = h.rx.wait_for("/r", 5, WAIT).await;
    let replays: Vec<&Received> = got
        .iter()
        .filter(|r| r.header("webhook-id") == Some(delivered.as_str()))
        .collect();
    assert_eq!(replays.len(), 2);
    assert_eq!(replays[0].body, replays[1].body);
    let m = h
        .get(&format!("/api/v1/webhooks/messages/{delivered}"))
        .await;
    assert_eq!(m["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(m["payload"]["type"], "ping");
    // Unknown or malformed message ids.
    let unknown = format!("msg_{}", ulid::Ulid::generate());
    h.app
        .post(
            &format!("/api/v1/webhooks/messages/{unknown}/replay"),
            &h.admin.access,
            &json!({}),
        )
        .await
        .expect_problem(404);
    h.app
        .get("/api/v1/webhooks/messages/nope", &h.admin.access)
        .await
        .expect_problem(404);
    h.app
        .post(
            &format!("/api/v1/webhooks/endpoints/{ep}/recover?since=yesterday"),
            &h.admin.access,
            &json!({}),
        )
        .await
        .expect_problem(400);
}

#[tokio::test]
async fn non_public_targets_are_refused_at_registration() {
    let h = Wh::new(false).await;
    let create = |url: String, types: Json| {
        let h = &h;
        async move {
            h.app
                .post(
                    "/api/v1/webhooks/endpoints",
                    &h.admin.access,
                    &json!({"customer_id": h.customer, "url": url, "event_types": types}),
                )
                .await
        }
    };
    for (url, rule) in [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://[fd00::1]/hook", "unique local"),
        ("https://100.64.0.1/hook", "CGNAT"),
        ("https://2130706433/hook", "loopback"),
        ("https://localhost/hook", "loopback name"),
        ("https://hooks.localhost/hook", "loopback name"),
        ("http://hooks.example.com/hook", "must use https"),
        ("ftp://hooks.example.com/", "https"),
        ("not a url", "absolute https URL"),
    ] {
        let r = create(url.into(), json!([])).await;
        r.expect_problem(400);
        assert_eq!(r.pointers(), vec!["/url"], "{url}: {}", r.text);
        let detail = r.body["errors"][0]["detail"].as_str().unwrap();
        assert!(detail.contains(rule), "{url}: {detail}");
    }
    let r = create(
        "https://hooks.example.com/x".into(),
        json!(["job.succeeded", "job.exploded"]),
    )
    .await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), vec!["/event_types/1"]);
    assert!(
        r.body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("job.exploded")
    );
    // A public address, and a name that does not resolve here (deliveries check it as they connect).
    for url in [
        "https://93.184.216.34/hook",
        "https://hooks.example.invalid/hook",
    ] {
        create(url.into(), json!(["job.succeeded"]))
            .await
            .expect(201);
    }
    // One-off callback URLs follow the same rules.
    for (url, rule) in [
        ("http://127.0.0.1:9/cb", "must use https"),
        ("https://169.254.169.254/cb", "link-local"),
    ] {
        let r = h
            .app
            .post(
                "/api/v1/diagnostics/jobs",
                &h.admin.access,
                &json!({"behaviour": "succeed", "callback_url": url}),
            )
            .await;
        r.expect_problem(400);
        assert_eq!(r.pointers(), vec!["/callback_url"]);
        assert!(
            r.body["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains(rule),
            "{}",
            r.text
        );
    }
    assert_eq!(h.count("SELECT count(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn non_public_targets_are_refused_at_connect_time() {
    // Registered where the API allows insecure targets; the worker does not.
    let h = Wh::new(true).await;
    let _w = h.worker(&[("LAUNCHPAD_WEBHOOKS_RETRY_SCALE", "0.001")]);
    let port = h.rx.addr.port();
    let targets = [
        (format!("https://127.0.0.1:{port}/a"), "loopback"),
        (
            format!("https://localhost:{port}/b"),
            "localhost resolves to",
        ),
        (format!("https://[::1]:{port}/c"), "loopback"),
        ("https://10.1.2.3/d".to_string(), "private"),
        (
            "https://169.254.169.254/latest/meta-data".to_string(),
            "link-local",
        ),
        (h.rx.url("/plain"), "https only"),
    ];
    let mut endpoints = vec![];
    for (url, _) in &targets {
        let (ep, _) = h.endpoint_at(url, json!([])).await;
        h.ping(&ep).await;
        endpoints.push(ep);
    }
    for ((url, rule), ep) in targets.iter().zip(&endpoints) {
        let d = h
            .wait_deliveries(ep, "an attempt", |d| {
                d[0]["attempt_log"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            })
            .await;
        let a = &d[0]["attempt_log"][0];
        assert!(a["status_code"].is_null(), "{url}: {a}");
        let err = a["error"].as_str().unwrap();
        assert!(
            err.starts_with("refused") && err.contains(rule),
            "{url}: {err}"
        );
        assert_eq!(
            d[0]["status"], "pending",
            "refusals are retried like other failures"
        );
    }
    assert_eq!(
        h.rx.connections(),
        0,
        "the worker connected to a refused target"
    );
}

#[tokio::test]
async fn a_rotated_secret_signs_alongside_the_new_one_for_a_while() {
    let h = Wh::new(true).await;
    let _w = h.worker(FAST);
    let (ep, old) = h.endpoint("/rot", json!([])).await;
    let r = h
        .app
        .post(
            &format!("/api/v1/webhooks/endpoints/{ep}/rotate-secret"),
            &h.admin.access,
            &json!({}),
        )
        .await;
    r.expect(200);
    let new = r.body["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let until: DateTime<Utc> = r.body["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (until - Utc::now() - chrono::Duration::hours(24))
            .num_seconds()
            .abs()
            < 60
    );
    let shown = h.get(&format!("/api/v1/webhooks/endpoints/{ep}")).await;
    assert!(shown.get("secret").is_none(), "a secret is shown only once");
    assert!(shown["previous_secret_expires_at"].is_string());

    h.ping(&ep).await;
    let got = h.rx.wait_for("/rot", 1, WAIT).await;
    let sigs = signatures(&got[0]);
    assert_eq!(sigs.len(), 2, "{sigs:?}");
    verify_standard_webhooks(&old, &got[0]).expect("the previous secret still verifies");
    verify_standard_webhooks(&new, &got[0]).expect("the new secret verifies");

    // After the overlap only the new secret signs.
    sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second'",
    )
    .execute(&h.app.db.pool)
    .await
    .unwrap();
    h.ping(&ep).await;
    let got = h.rx.wait_for("/rot", 2, WAIT).await;
    assert_eq!(signatures(&got[1]).len(), 1);
    verify_standard_webhooks(&new, &got[1]).unwrap();
    assert!(verify_standard_webhooks(&old, &got[1]).is_err());
}

#[tokio::test]
async fn a_job_with_a_callback_url_gets_exactly_one_terminal_callback() {
    let h = Wh::new(true).await;
    let secret = h
        .get(&format!(
            "/api/v1/webhooks/callback-secret?customer_id={}",
            h.customer
        ))
        .await;
    let secret = secret["secret"].as_str().unwrap().to_string();
    // Cancelled while queued (no worker yet).
    let queued = h
        .job(json!({"behaviour": "succeed", "callback_url": h.rx.url("/cb-cancelled")}))
        .await;
    h.app
        .post(
            &format!("/api/v1/jobs/{queued}/cancel"),
            &h.admin.access,
            &json!({}),
        )
        .await
        .expect(200);
    let _w = h.worker(FAST);
    // Succeeds after two transient failures (three attempts).
    let flaky = h
        .job(json!({"behaviour": "fail_transient", "fail_times": 2, "callback_url": h.rx.url("/cb")}))
        .await;
    // Cancelled while running.
    let long = h
        .job(json!({"behaviour": "sleep", "sleep_ms": 20000, "callback_url": h.rx.url("/cb-running")}))
        .await;
    h.wait_job(&long, "running").await;
    h.app
        .post(
            &format!("/api/v1/jobs/{long}/cancel"),
            &h.admin.access,
            &json!({}),
        )
        .await
        .expect(200);
    // A job without a customer: signed with the platform's callback secret.
    let r = h
        .app
        .post(
            "/api/v1/diagnostics/jobs",
            &h.admin.access,
            &json!({"behaviour": "fail_permanent", "callback_url": h.rx.url("/cb-platform")}),
        )
        .await;
    r.expect(202);
    let platform_job = r.body["id"].as_str().unwrap().to_string();

    let done = h.wait_job(&flaky, "succeeded").await;
    assert_eq!(done["attempts"], 3);
    h.wait_job(&long, "cancelled").await;
    h.wait_job(&platform_job, "failed").await;
    let cb = h.rx.wait_for("/cb", 1, WAIT).await;
    let cancelled = h.rx.wait_for("/cb-cancelled", 1, WAIT).await;
    let running = h.rx.wait_for("/cb-running", 1, WAIT).await;
    let platform = h.rx.wait_for("/cb-platform", 1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for path in ["/cb", "/cb-cancelled", "/cb-running", "/cb-platform"] {
        assert_eq!(
            h.rx.requests(path).len(),
            1,
            "{path} got more than one callback"
        );
    }
    assert_eq!(cb[0].json()["type"], "job.succeeded");
    assert_eq!(
        cb[0].json()["data"],
        h.get(&format!("/api/v1/jobs/{flaky}")).await
    );
    assert_eq!(cancelled[0].json()["type"], "job.cancelled");
    assert_eq!(cancelled[0].json()["data"]["id"], queued);
    assert_eq!(running[0].json()["type"], "job.cancelled");
    assert_eq!(platform[0].json()["type"], "job.failed");
    for r in [&cb[0], &cancelled[0], &running[0]] {
        verify_standard_webhooks(&secret, r).unwrap();
    }
    let platform_secret = h.get("/api/v1/webhooks/callback-secret").await;
    verify_standard_webhooks(platform_secret["secret"].as_str().unwrap(), &platform[0]).unwrap();
    assert!(verify_standard_webhooks(&secret, &platform[0]).is_err());
    // The callback's deliveries are on record.
    let msg = cb[0].header("webhook-id").unwrap();
    let m = h.get(&format!("/api/v1/webhooks/messages/{msg}")).await;
    assert_eq!(m["deliveries"][0]["callback_url"], h.rx.url("/cb"));
    assert_eq!(m["deliveries"][0]["status"], "succeeded");
}

#[tokio::test]
async fn a_hanging_receiver_times_out_and_is_retried() {
    let h = Wh::new(true).await;
    let mut env = FAST.to_vec();
    env.push(("LAUNCHPAD_WEBHOOKS_TIMEOUT_MS", "500"));
    let mut w = h.worker(&env);
    let (ep, _) = h.endpoint("/slow", json!([])).await;
    h.rx.script("/slow", [Reply::Hang(Duration::from_secs(60))]);
    h.ping(&ep).await;
    let d = h
        .wait_deliveries(&ep, "delivered on retry", |d| d[0]["status"] == "succeeded")
        .await;
    let log = d[0]["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert!(
        log[0]["error"].as_str().unwrap().contains("timeout"),
        "{}",
        log[0]
    );
    assert!(log[0]["status_code"].is_null());
    let latency = log[0]["latency_ms"].as_i64().unwrap();
    assert!((400..5000).contains(&latency), "{latency}");
    assert!(w.is_running());
    // The worker is free for other work meanwhile.
    h.ping(&ep).await;
    h.rx.wait_for("/slow", 3, WAIT).await;
}

#[tokio::test]
async fn a_huge_answer_is_read_only_up_to_1_kb() {
    let h = Wh::new(true).await;
    let _w = h.worker(FAST);
    let (ep, _) = h.endpoint("/huge", json!([])).await;
    h.rx.script("/huge", [Reply::Huge(100 * 1024 * 1024)]);
    let started = std::time::Instant::now();
    h.ping(&ep).await;
    let d = h
        .wait_deliveries(&ep, "delivered", |d| d[0]["status"] == "succeeded")
        .await;
    let body = d[0]["attempt_log"][0]["response_body"].as_str().unwrap();
    assert_eq!(body.len(), 1024);
    assert!(body.bytes().all(|b| b == b'x'));
    assert!(started.elapsed() < Duration::from_secs(20));
    // The connection was dropped: far less than 100 MB left the receiver.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = h.rx.huge_bytes_sent();
    assert!(sent < 32 * 1024 * 1024, "{sent} bytes were sent");
}

#[tokio::test]
async fn an_endpoint_failing_for_days_is_disabled_audited_and_the_tenant_told() {
    let h = Wh::new(true).await;
    // The tenant's admins (customer_exec) are told by e-mail; nobody else is.
    let sink = SmtpSink::start();
    let smtp = sink.url();
    let mut env = FAST.to_vec();
    env.push(("LAUNCHPAD_SMTP_URL", smtp.as_str()));
    let _w = h.worker(&env);
    h.app
        .user(
            &h.admin,
            "ops-lead@hooks.example",
            &["customer_exec"],
            &[&h.customer],
        )
        .await;
    h.app
        .user(
            &h.admin,
            "member@hooks.example",
            &["customer_member"],
            &[&h.customer],
        )
        .await;
    let other = h.app.create_customer(&h.admin, "other-tenant").await;
    h.app
        .user(
            &h.admin,
            "exec@other.example",
            &["customer_exec"],
            &[&other],
        )
        .await;
    let (ep, _) = h
        .endpoint_at(&h.rx.url("/down?token=s3cret"), json!([]))
        .await;
    // (Filtered: the e-mail job's own `job.succeeded` does not go there.)
    let (healthy, _) = h.endpoint("/up", json!(["survey.closed"])).await;
    h.rx.script("/down", [Reply::Status(500), Reply::Status(500)]);
    h.rx.script("/up", [Reply::Status(500)]);
    // Both have been failing: one for six days, one for an hour.
    sqlx::query("UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' WHERE id = $1::uuid")
        .bind(&ep)
        .execute(&h.app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_endpoints SET failing_since = now() - interval '1 hour' WHERE id = $1::uuid")
        .bind(&healthy)
        .execute(&h.app.db.pool)
        .await
        .unwrap();
    h.ping(&ep).await;
    h.ping(&healthy).await;
    let e = eventually(WAIT, "the endpoint disabled", || async {
        let e = h.get(&format!("/api/v1/webhooks/endpoints/{ep}")).await;
        (e["disabled"] == true).then_some(e)
    })
    .await;
    assert_eq!(e["disabled_reason"], "failing");
    let audit: (Option<uuid::Uuid>, Json) = sqlx::query_as(
        "SELECT actor_id, after FROM audit_log WHERE action = 'webhook.endpoint_disabled' AND target_id = $1",
    )
    .bind(&ep)
    .fetch_one(&h.app.db.pool)
    .await
    .unwrap();
    assert_eq!(audit.0, None);
    assert_eq!(audit.1["disabled_reason"], "failing");
    // The other one recovers: a success ends its failure streak.
    h.wait_deliveries(&healthy, "delivered", |d| d[0]["status"] == "succeeded")
        .await;
    let e = h
        .get(&format!("/api/v1/webhooks/endpoints/{healthy}"))
        .await;
    assert_eq!(e["disabled"], false);
    assert!(e.get("failing_since").is_none());
    // The pending retry of the disabled endpoint is closed without sending.
    let d = h
        .wait_deliveries(&ep, "closed", |d| d[0]["status"] == "failed")
        .await;
    assert_eq!(d[0]["attempts"], 1);
    assert_eq!(h.rx.requests("/down").len(), 1);
    // One notice, to the tenant's admin, queued with the disable.
    let mail = sink.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count(), 1, "only the tenant's admin is told");
    let m = &mail[0];
    assert_eq!(m["to"][0]["address"], "ops-lead@hooks.example");
    assert_eq!(m["subject"], "Webhook endpoint disabled: Customer hooks");
    let parts = m["mime"]["parts"].as_array().unwrap();
    let text = parts
        .iter()
        .find(|p| p["content_type"] == "text/plain")
        .unwrap()["content"]
        .as_str()
        .unwrap();
    assert!(text.contains(&ep), "{text}");
    assert!(text.contains(&h.rx.url("/down?")), "{text}");
    assert!(!text.contains("s3cret"), "the URL's query is not shown");
    assert!(
        text.contains("every delivery attempt to it has failed since"),
        "{text}"
    );
    let (template, status, user): (String, String, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT template, status, user_id FROM email_outbox")
            .fetch_one(&h.app.db.pool)
            .await
            .unwrap();
    assert_eq!(template, "notification");
    assert_eq!(status, "sent");
    assert!(user.is_some());
    // The same notice is in the admin's inbox (webhook_endpoint_disabled).
    let inbox: (String, String) = sqlx::query_as(
        "SELECT u.email, n.type FROM notifications n JOIN users u ON u.id = n.recipient_id",
    )
    .fetch_one(&h.app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        inbox,
        (
            "ops-lead@hooks.example".to_string(),
            "webhook_endpoint_disabled".to_string()
        )
    );
}

#[tokio::test]
async fn endpoints_crud_permissions_and_idempotency() {
    let h = Wh::new(false).await;
    let other = h.app.create_customer(&h.admin, "other").await;
    let exec = h
        .app
        .user(
            &h.admin,
            "exec@hooks.example",
            &["customer_exec"],
            &[&h.customer],
        )
        .await;
    let member = h
        .app
        .user(
            &h.admin,
            "m@hooks.example",
            &["customer_member"],
            &[&h.customer],
        )
        .await;
    let outsider = h
        .app
        .user(
            &h.admin,
            "exec@other.example",
            &["customer_exec"],
            &[&other],
        )
        .await;
    let internal = h
        .app
        .user(&h.admin, "staff@launchpad.example", &["internal"], &[])
        .await;

    let body = json!({"customer_id": h.customer, "url": "https://93.184.216.34/hook", "description": "CRM",
                      "event_types": ["job.failed", "job.failed", "survey.closed"]});
    let key = [("Idempotency-Key", "create-1")];
    let a = h
        .app
        .call_with(
            reqwest::Method::POST,
            "/api/v1/webhooks/endpoints",
            Some(&exec.access),
            Some(&body),
            &key,
        )
        .await;
    a.expect(201);
    let b = h
        .app
        .call_with(
            reqwest::Method::POST,
            "/api/v1/webhooks/endpoints",
            Some(&exec.access),
            Some(&body),
            &key,
        )
        .await;
    b.expect(201);
    assert_eq!(a.body, b.body, "the same key returns the first answer");
    assert_eq!(h.count("SELECT count(*) FROM webhook_endpoints").await, 1);
    let id = a.body["id"].as_str().unwrap().to_string();
    let secret = a.body["secret"].as_str().unwrap();
    // whsec_ + base64 of 32 bytes (44 characters, one `=` of padding).
    assert!(
        secret.starts_with("whsec_")
            && secret.len() == 50
            && secret.ends_with('=')
            && !secret.ends_with("==")
    );
    assert_eq!(
        a.body["event_types"],
        json!(["job.failed", "survey.closed"])
    );
    assert_eq!(a.body["disabled"], false);

    let path = format!("/api/v1/webhooks/endpoints/{id}");
    let got = h.app.get(&path, &member.access).await;
    got.expect_problem(403);
    h.app.get(&path, &outsider.access).await.expect_problem(404);
    let seen = h.app.get(&path, &internal.access).await;
    seen.expect(200);
    assert!(seen.body.get("secret").is_none());
    h.app
        .patch(&path, &internal.access, &json!({"description": "x"}))
        .await
        .expect_problem(403);
    let list = h
        .app
        .get("/api/v1/webhooks/endpoints", &outsider.access)
        .await;
    assert_eq!(list.body["items"], json!([]));
    let list = h
        .app
        .get("/api/v1/webhooks/endpoints", &member.access)
        .await;
    assert_eq!(list.body["items"], json!([]));
    let list = h
        .app
        .get(
            &format!("/api/v1/webhooks/endpoints?customer_id={}", h.customer),
            &exec.access,
        )
        .await;
    assert_eq!(list.body["items"][0]["id"], id.as_str());
    let outsider_create = h
        .app
        .post(
            "/api/v1/webhooks/endpoints",
            &outsider.access,
            &json!({"customer_id": h.customer, "url": "https://93.184.216.34/x"}),
        )
        .await;
    outsider_create.expect_problem(404);

    let r = h
        .app
        .patch(
            &path,
            &exec.access,
            &json!({"description": "", "event_types": [], "url": "https://93.184.216.35/new"}),
        )
        .await;
    r.expect(200);
    assert!(r.body.get("description").is_none());
    assert_eq!(r.body["event_types"], json!([]));
    assert_eq!(r.body["url"], "https://93.184.216.35/new");
    let r = h
        .app
        .patch(&path, &exec.access, &json!({"event_types": ["nope"]}))
        .await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), vec!["/event_types/0"]);
    let r = h
        .app
        .patch(
            &path,
            &exec.access,
            &json!({"url": "https://192.168.0.10/"}),
        )
        .await;
    assert_eq!(r.pointers(), vec!["/url"]);

    let r = h
        .app
        .post(&format!("{path}/disable"), &exec.access, &json!({}))
        .await;
    r.expect(200);
    assert_eq!(r.body["disabled_reason"], "manual");
    h.app
        .get(&format!("{path}/deliveries?status=exploded"), &exec.access)
        .await
        .expect_problem(400);
    h.app
        .get(&format!("{path}/deliveries?cursor=%%%"), &exec.access)
        .await
        .expect_problem(400);
    h.app
        .delete(&path, &member.access)
        .await
        .expect_problem(403);
    h.app.delete(&path, &exec.access).await.expect(204);
    h.app.get(&path, &exec.access).await.expect_problem(404);
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE target_type = 'webhook_endpoint' ORDER BY id",
    )
    .fetch_all(&h.app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        vec![
            "webhook.endpoint_created",
            "webhook.endpoint_updated",
            "webhook.endpoint_disabled",
            "webhook.endpoint_deleted"
        ]
    );
    let snapshots: Vec<String> = sqlx::query_scalar(
        "SELECT coalesce(before::text, '') || coalesce(after::text, '') FROM audit_log WHERE target_type = 'webhook_endpoint'",
    )
    .fetch_all(&h.app.db.pool)
    .await
    .unwrap();
    assert!(
        snapshots.iter().all(|s| !s.contains("whsec_")),
        "secrets leaked into the audit log"
    );
    // The callback secret: the customer's exec yes, its member no; the platform's: admins only.
    h.app
        .get(
            &format!(
                "/api/v1/webhooks/callback-secret?customer_id={}",
                h.customer
            ),
            &exec.access,
        )
        .await
        .expect(200);
    h.app
        .get(
            &format!(
                "/api/v1/webhooks/callback-secret?customer_id={}",
                h.customer
            ),
            &member.access,
        )
        .await
        .expect_problem(403);
    h.app
        .get("/api/v1/webhooks/callback-secret", &exec.access)
        .await
        .expect_problem(403);
    let first = h.get("/api/v1/webhooks/callback-secret").await;
    let rotated = h
        .app
        .post(
            "/api/v1/webhooks/callback-secret/rotate",
            &h.admin.access,
            &json!({}),
        )
        .await;
    rotated.expect(200);
    assert_ne!(rotated.body["secret"], first["secret"]);
    assert!(rotated.body["previous_secret_expires_at"].is_string());
}
