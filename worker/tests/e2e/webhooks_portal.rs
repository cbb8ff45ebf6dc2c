//! Portal webhook events end to end: each change made over the real API
//! (events, registrations, surveys, course completion, a KPI rollup run by a
//! real worker) reaches a tenant endpoint on a receiver started by the test,
//! signed per Standard Webhooks (checked with the PyPI `standardwebhooks`
//! package), with the resource exactly as the API answered it; changes that
//! fail (and so roll back) send nothing. Also: one-off `callback_url`s on
//! the job-creating requests other than diagnostics.

use std::time::Duration;

use chrono::Utc;
use launchpad_domain::{
    ids::CustomerId,
    webhooks::{WebhookData, WebhookEventType, record_event},
};
use test_support::{
    Receiver, TestApp, Tokens, WorkerProcess,
    app::{Json, Resp, json},
    eventually,
    receiver::{Received, verify_standard_webhooks},
};

const WAIT: Duration = Duration::from_secs(60);

/// The portal event types.
const PORTAL_TYPES: [&str; 8] = [
    "event.created",
    "event.updated",
    "event.cancelled",
    "registration.created",
    "survey.closed",
    "course.completed",
    "certificate.issued",
    "kpi.rollup.completed",
];

struct Portal {
    app: TestApp,
    admin: Tokens,
    customer: String,
    /// customer_exec of the customer (manages the CoP).
    exec: Tokens,
    /// customer_member of the customer, member of the CoP.
    member: Tokens,
    cop: String,
    rx: Receiver,
}

impl Portal {
    /// The API (insecure webhook targets allowed or not), a customer with an
    /// exec, a CoP with one member, and a receiver.
    async fn new(api_allows_insecure: bool) -> Self {
        let app = TestApp::spawn_with(|s| s.webhooks_allow_insecure = api_allows_insecure).await;
        let admin = app.admin().await;
        let customer = app.create_customer(&admin, "portal-hooks").await;
        let exec = app
            .user(&admin, "exec@hooks.test", &["customer_exec"], &[&customer])
            .await;
        let member = app
            .user(
                &admin,
                "member@hooks.test",
                &["customer_member"],
                &[&customer],
            )
            .await;
        let r = app
            .post(
                "/api/v1/cops",
                &exec.access,
                &json!({"customer_id": customer, "name": "Data Engineering"}),
            )
            .await;
        r.expect(201);
        let cop = r.body["id"].as_str().unwrap().to_string();
        app.post(
            &format!("/api/v1/cops/{cop}/members"),
            &exec.access,
            &json!({"user_id": member.user_id}),
        )
        .await
        .expect(201);
        Self {
            app,
            admin,
            customer,
            exec,
            member,
            cop,
            rx: Receiver::start().await,
        }
    }

    fn worker(&self) -> WorkerProcess {
        WorkerProcess::spawn(
            &self.app.db.url,
            &[
                ("LAUNCHPAD_WEBHOOKS_ALLOW_INSECURE", "true"),
                ("LAUNCHPAD_WEBHOOKS_RETRY_SCALE", "0.001"),
                ("LAUNCHPAD_CRON_KPI_ROLLUP", "off"),
            ],
        )
    }

    /// Registers an endpoint on the receiver at `path` for every portal
    /// event type; returns its secret.
    async fn endpoint(&self, path: &str) -> String {
        let r = self
            .app
            .post(
                "/api/v1/webhooks/endpoints",
                &self.exec.access,
                &json!({"customer_id": self.customer, "url": self.rx.url(path),
                        "event_types": PORTAL_TYPES}),
            )
            .await;
        r.expect(201);
        assert_eq!(r.body["event_types"], json!(PORTAL_TYPES));
        r.body["secret"].as_str().unwrap().to_string()
    }

    /// The requests at `path` carrying an event of type `ty` whose data satisfies `ok`.
    fn found(&self, path: &str, ty: &str, ok: &dyn Fn(&Json) -> bool) -> Vec<Received> {
        self.rx
            .requests(path)
            .into_iter()
            .filter(|r| {
                let b = r.json();
                b["type"] == ty && ok(&b["data"])
            })
            .collect()
    }

    /// Waits for the (first) delivery at `path` of an event of type `ty`
    /// whose data satisfies `ok`.
    async fn delivered(&self, path: &str, ty: &str, ok: impl Fn(&Json) -> bool) -> Received {
        eventually(WAIT, &format!("a {ty} delivery at {path}"), || {
            std::future::ready(self.found(path, ty, &ok).into_iter().next())
        })
        .await
    }

    /// Waits until the job is finished; returns it.
    async fn finished(&self, id: &str) -> Json {
        eventually(WAIT, &format!("job {id} to finish"), || async {
            let r = self
                .app
                .get(&format!("/api/v1/jobs/{id}"), &self.admin.access)
                .await;
            r.expect(200);
            matches!(
                r.body["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
            .then(|| r.body.clone())
        })
        .await
    }

    async fn create_event(&self, body: Json) -> Resp {
        self.app
            .post(
                &format!("/api/v1/cops/{}/events", self.cop),
                &self.exec.access,
                &body,
            )
            .await
    }

    /// A survey of the CoP (NPS + text), opened, answered by the member.
    async fn answered_survey(&self) -> String {
        let r = self
            .app
            .post(
                &format!("/api/v1/cops/{}/surveys", self.cop),
                &self.exec.access,
                &json!({"kind": "cop_health", "title": "Quarterly health", "questions": [
                    {"kind": "nps", "prompt": "Would you recommend this CoP?", "required": true},
                    {"kind": "text", "prompt": "What should we do differently?"}]}),
            )
            .await;
        r.expect(201);
        let survey = r.body["id"].as_str().unwrap().to_string();
        let questions = r.body["questions"].as_array().unwrap().clone();
        self.app
            .post(
                &format!("/api/v1/surveys/{survey}/open"),
                &self.exec.access,
                &json!({}),
            )
            .await
            .expect(200);
        self.app
            .post(
                &format!("/api/v1/surveys/{survey}/responses"),
                &self.member.access,
                &json!({"answers": [
                    {"question_id": questions[0]["id"], "score": 9},
                    {"question_id": questions[1]["id"],
                     "text": "More hands-on sessions on streaming pipelines, please."}]}),
            )
            .await
            .expect(201);
        survey
    }

    async fn count(&self, sql: &str) -> i64 {
        self.app.count(sql).await
    }
}

fn event_body(title: &str, hours: i64, capacity: Option<i64>) -> Json {
    let at = |h: i64| {
        (Utc::now() + chrono::Duration::hours(h))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let mut b = json!({
        "type": "training",
        "title": title,
        "starts_at": at(hours),
        "ends_at": at(hours + 1),
        "time_zone": "Europe/Paris",
        "join_url": "https://meet.example.com/abc",
        "speakers": ["Ana Silva"],
    });
    if let Some(c) = capacity {
        b["capacity"] = json!(c);
    }
    b
}

/// Checks the envelope and signature of a delivery; returns its body.
fn signed(secret: &str, r: &Received, ty: &str) -> Json {
    verify_standard_webhooks(secret, r).unwrap_or_else(|e| panic!("{ty}: {e}"));
    let id = r.header("webhook-id").unwrap();
    assert!(id.starts_with("msg_") && id.len() == 30, "{id}");
    let body = r.json();
    assert_eq!(body["type"], ty);
    assert!(
        body["timestamp"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .is_ok(),
        "{body}"
    );
    assert!(r.body.len() < 20_000);
    body
}

#[tokio::test]
async fn portal_changes_reach_endpoints_with_the_resource_as_the_api_shows_it() {
    let p = Portal::new(true).await;
    let _w = p.worker();
    let secret = p.endpoint("/portal").await;
    let callback_secret = {
        let r = p
            .app
            .get(
                &format!(
                    "/api/v1/webhooks/callback-secret?customer_id={}",
                    p.customer
                ),
                &p.exec.access,
            )
            .await;
        r.expect(200);
        r.body["secret"].as_str().unwrap().to_string()
    };

    // event.created: the event exactly as the POST answered it.
    let created = p
        .create_event(event_body("Lakehouse basics", 48, None))
        .await;
    created.expect(201);
    let event = created.body["id"].as_str().unwrap().to_string();
    let got = p
        .delivered("/portal", "event.created", |d| d["id"] == event.as_str())
        .await;
    assert_eq!(signed(&secret, &got, "event.created")["data"], created.body);

    // event.updated
    let updated = p
        .app
        .patch(
            &format!("/api/v1/events/{event}"),
            &p.exec.access,
            &json!({"title": "Lakehouse basics, part 1", "capacity": 30}),
        )
        .await;
    updated.expect(200);
    let got = p
        .delivered("/portal", "event.updated", |d| d["id"] == event.as_str())
        .await;
    let body = signed(&secret, &got, "event.updated");
    assert_eq!(body["data"], updated.body);
    assert_eq!(body["data"]["title"], "Lakehouse basics, part 1");

    // registration.created: the member registers themselves.
    let reg = p
        .app
        .post(
            &format!("/api/v1/events/{event}/registrations"),
            &p.member.access,
            &json!({}),
        )
        .await;
    reg.expect(201);
    let got = p
        .delivered("/portal", "registration.created", |d| {
            d["event_id"] == event.as_str()
        })
        .await;
    let body = signed(&secret, &got, "registration.created");
    assert_eq!(body["data"], reg.body);
    assert_eq!(body["data"]["user_id"], p.member.user_id.as_str());

    // The invitations re-sent with a one-off callback URL: one terminal callback.
    let resend = p
        .app
        .post(
            &format!("/api/v1/events/{event}/invites"),
            &p.exec.access,
            &json!({"callback_url": p.rx.url("/cb-invites")}),
        )
        .await;
    resend.expect(202);
    let resend_job = resend.body["id"].as_str().unwrap().to_string();

    // event.cancelled
    let cancelled = p
        .app
        .post(
            &format!("/api/v1/events/{event}/cancel"),
            &p.exec.access,
            &json!({}),
        )
        .await;
    cancelled.expect(200);
    let got = p
        .delivered("/portal", "event.cancelled", |d| d["id"] == event.as_str())
        .await;
    let body = signed(&secret, &got, "event.cancelled");
    assert_eq!(body["data"], cancelled.body);
    assert_eq!(body["data"]["status"], "cancelled");

    // survey.closed
    let survey = p.answered_survey().await;
    let closed = p
        .app
        .post(
            &format!("/api/v1/surveys/{survey}/close"),
            &p.exec.access,
            &json!({}),
        )
        .await;
    closed.expect(200);
    let got = p
        .delivered("/portal", "survey.closed", |d| d["id"] == survey.as_str())
        .await;
    let body = signed(&secret, &got, "survey.closed");
    assert_eq!(body["data"], closed.body);
    assert_eq!(body["data"]["response_count"], 1);
    assert_eq!(body["data"]["questions"].as_array().unwrap().len(), 2);

    // An AI summary (extractive: no provider) with a callback URL.
    let ai = p
        .app
        .post(
            &format!("/api/v1/surveys/{survey}/ai/summary"),
            &p.exec.access,
            &json!({"callback_url": p.rx.url("/cb-ai")}),
        )
        .await;
    ai.expect(202);
    let ai_job = ai.body["id"].as_str().unwrap().to_string();

    // course.completed: the member completes both lessons of a course.
    let r = p
        .app
        .post(
            "/api/v1/courses",
            &p.admin.access,
            &json!({"customer_id": p.customer, "title": "Streaming 101", "level": "beginner"}),
        )
        .await;
    r.expect(201);
    let course = r.body["id"].as_str().unwrap().to_string();
    let mut lessons = vec![];
    for title in ["Sources", "Sinks"] {
        let r = p
            .app
            .post(
                &format!("/api/v1/courses/{course}/lessons"),
                &p.admin.access,
                &json!({"kind": "text", "title": title, "body": "Read this."}),
            )
            .await;
        r.expect(201);
        lessons.push(r.body["id"].as_str().unwrap().to_string());
    }
    p.app
        .post(
            &format!("/api/v1/courses/{course}/publish"),
            &p.admin.access,
            &json!({}),
        )
        .await
        .expect(200);
    let mut last = None;
    for lesson in &lessons {
        let r = p
            .app
            .put(
                &format!("/api/v1/me/progress/{course}/lessons/{lesson}"),
                &p.member.access,
                &json!({"status": "completed"}),
            )
            .await;
        r.expect(200);
        last = Some(r);
    }
    let last = last.unwrap();
    assert_eq!(last.body["status"], "completed");
    let got = p
        .delivered("/portal", "course.completed", |d| {
            d["course_id"] == course.as_str()
        })
        .await;
    let body = signed(&secret, &got, "course.completed");
    assert_eq!(body["data"], last.body);
    assert_eq!(body["data"]["user_id"], p.member.user_id.as_str());

    // certificate.issued: the completion enqueued the certificate's job,
    // which fires once the PDF is stored.
    let got = p
        .delivered("/portal", "certificate.issued", |d| {
            d["course_id"] == course.as_str()
        })
        .await;
    let data = signed(&secret, &got, "certificate.issued")["data"].clone();
    assert_eq!(data["user_id"], p.member.user_id.as_str());
    assert_eq!(data["customer_id"], p.customer.as_str());
    assert_eq!(data["title"], "Streaming 101");
    assert_eq!(data["subject_type"], "course");
    assert_eq!(data["status"], "valid");
    assert_eq!(
        data["pdf_url"],
        format!("/api/v1/certificates/{}/pdf", data["id"].as_str().unwrap())
    );
    let verify = data["verify_url"].as_str().unwrap().to_string();
    let v = p.app.call(reqwest::Method::GET, &verify, None, None).await;
    v.expect(200);
    assert_eq!(v.body["valid"], true);

    // kpi.rollup.completed: a rollup requested over the API, with a callback URL.
    // Yesterday (UTC) is a past date in any customer time zone.
    let to = Utc::now().date_naive() - chrono::Days::new(1);
    let from = to - chrono::Days::new(6);
    let r = p
        .app
        .post(
            &format!("/api/v1/cops/{}/kpis/rollups", p.cop),
            &p.exec.access,
            &json!({"from": from, "to": to, "callback_url": p.rx.url("/cb-kpi")}),
        )
        .await;
    r.expect(202);
    let rollup = r.body["id"].as_str().unwrap().to_string();
    let got = p
        .delivered("/portal", "kpi.rollup.completed", |d| {
            d["job_id"] == rollup.as_str()
        })
        .await;
    let data = signed(&secret, &got, "kpi.rollup.completed")["data"].clone();
    assert_eq!(data["cop_id"], p.cop.as_str());
    assert_eq!(data["customer_id"], p.customer.as_str());
    assert_eq!(data["from"], from.to_string());
    assert_eq!(data["to"], to.to_string());
    assert!(
        data["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "mau")
    );
    let job = p.finished(&rollup).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["from"], from.to_string());

    // Each callback URL got exactly one terminal event of its job, signed
    // with the customer's callback secret.
    let ai_done = p.finished(&ai_job).await;
    let resend_done = p.finished(&resend_job).await;
    let mut callbacks = vec![];
    for (path, job) in [
        ("/cb-kpi", &job),
        ("/cb-ai", &ai_done),
        ("/cb-invites", &resend_done),
    ] {
        let got = p.rx.wait_for(path, 1, WAIT).await;
        verify_standard_webhooks(&callback_secret, &got[0]).unwrap();
        let body = got[0].json();
        assert_eq!(
            body["type"],
            format!("job.{}", job["status"].as_str().unwrap()),
            "{path}"
        );
        assert_eq!(body["data"], *job, "{path}");
        callbacks.push(path);
    }
    assert_eq!(ai_done["status"], "succeeded", "{ai_done}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    for path in callbacks {
        assert_eq!(p.rx.requests(path).len(), 1, "{path}: not exactly one");
    }

    // Every delivery carried a distinct message; the filter kept the job
    // events (invites, AI, KPI jobs) away from the endpoint.
    let all = p.rx.requests("/portal");
    let mut ids: Vec<&str> = all
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len());
    assert!(
        all.iter()
            .all(|r| PORTAL_TYPES.contains(&r.json()["type"].as_str().unwrap()))
    );
    assert_eq!(
        p.found("/portal", "certificate.issued", &|_| true).len(),
        1,
        "issuing again emits nothing"
    );
}

#[tokio::test]
async fn changes_that_fail_or_roll_back_emit_nothing() {
    let p = Portal::new(true).await;
    let _w = p.worker();
    let secret = p.endpoint("/portal").await;
    let other = p
        .app
        .user(
            &p.admin,
            "other@hooks.test",
            &["customer_member"],
            &[&p.customer],
        )
        .await;
    p.app
        .post(
            &format!("/api/v1/cops/{}/members", p.cop),
            &p.exec.access,
            &json!({"user_id": other.user_id}),
        )
        .await
        .expect(201);
    // One event with one place, taken by the member.
    let r = p.create_event(event_body("One seat", 24, Some(1))).await;
    r.expect(201);
    let event = r.body["id"].as_str().unwrap().to_string();
    p.app
        .post(
            &format!("/api/v1/events/{event}/registrations"),
            &p.member.access,
            &json!({}),
        )
        .await
        .expect(201);

    // Invalid input: 400 before anything is written.
    let mut bad = event_body("Backwards", 24, None);
    bad["ends_at"] = bad["starts_at"].clone();
    p.create_event(bad).await.expect_problem(400);
    // Refused inside the transaction, after the rows were locked or written.
    let full = p
        .app
        .post(
            &format!("/api/v1/events/{event}/registrations"),
            &other.access,
            &json!({}),
        )
        .await;
    assert_eq!(full.expect_problem(409)["code"], "event_full");
    let again = p
        .app
        .post(
            &format!("/api/v1/events/{event}/registrations"),
            &p.member.access,
            &json!({}),
        )
        .await;
    assert_eq!(again.expect_problem(409)["code"], "already_registered");
    // Validated after the event row is locked: a title and an impossible time.
    let invalid = p
        .app
        .patch(
            &format!("/api/v1/events/{event}"),
            &p.exec.access,
            &json!({"title": "Renamed", "starts_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    invalid.expect_problem(400);
    let r = p
        .app
        .post(
            &format!("/api/v1/cops/{}/surveys", p.cop),
            &p.exec.access,
            &json!({"kind": "cop_health", "title": "Draft", "questions": [
                {"kind": "rating", "prompt": "How was it?"}]}),
        )
        .await;
    r.expect(201);
    let draft = r.body["id"].as_str().unwrap();
    p.app
        .post(
            &format!("/api/v1/surveys/{draft}/close"),
            &p.exec.access,
            &json!({}),
        )
        .await
        .expect_problem(409);
    // Recorded, then rolled back with the caller's transaction.
    let customer: CustomerId = p.customer.parse().unwrap();
    let mut tx = p.app.db.pool.begin().await.unwrap();
    let msg = record_event(
        &mut tx,
        customer,
        WebhookEventType::EventUpdated,
        WebhookData::new(json!({"id": "rolled-back"}), "rolled-back", "/x"),
    )
    .await
    .unwrap()
    .expect("the endpoint wants it");
    tx.rollback().await.unwrap();

    // A last change, delivered: everything before it has had its chance.
    p.app
        .post(
            &format!("/api/v1/events/{event}/cancel"),
            &p.exec.access,
            &json!({}),
        )
        .await
        .expect(200);
    p.delivered("/portal", "event.cancelled", |d| d["id"] == event.as_str())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut types: Vec<String> =
        p.rx.requests("/portal")
            .iter()
            .map(|r| {
                verify_standard_webhooks(&secret, r).unwrap();
                r.json()["type"].as_str().unwrap().to_string()
            })
            .collect();
    types.sort();
    assert_eq!(
        types,
        ["event.cancelled", "event.created", "registration.created"],
        "failed changes emitted events"
    );
    assert_eq!(p.count("SELECT count(*) FROM webhook_messages").await, 3);
    assert_eq!(
        p.count(&format!(
            "SELECT count(*) FROM webhook_messages WHERE id = '{msg}'"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn callback_urls_of_job_creating_requests_follow_the_endpoint_rules() {
    let p = Portal::new(false).await;
    let r = p.create_event(event_body("Office hours", 24, None)).await;
    r.expect(201);
    let event = r.body["id"].as_str().unwrap().to_string();
    let survey = p.answered_survey().await;
    let today = Utc::now().date_naive();
    let requests = [
        (format!("/api/v1/surveys/{survey}/ai/summary"), json!({})),
        (format!("/api/v1/cops/{}/ai/advice", p.cop), json!({})),
        (
            format!("/api/v1/cops/{}/kpis/rollups", p.cop),
            json!({"from": today, "to": today}),
        ),
        (format!("/api/v1/events/{event}/invites"), json!({})),
    ];
    let jobs_before = p.count("SELECT count(*) FROM jobs").await;
    for (path, base) in &requests {
        for (url, rule) in [
            ("https://169.254.169.254/latest/meta-data", "link-local"),
            ("https://10.1.2.3/cb", "private"),
            ("https://[::1]/cb", "loopback"),
            ("http://hooks.example.com/cb", "must use https"),
            ("not a url", "absolute https URL"),
        ] {
            let mut body = base.clone();
            body["callback_url"] = json!(url);
            let r = p.app.post(path, &p.exec.access, &body).await;
            r.expect_problem(400);
            assert_eq!(
                r.pointers(),
                vec!["/callback_url"],
                "{path} {url}: {}",
                r.text
            );
            let detail = r.body["errors"][0]["detail"].as_str().unwrap();
            assert!(detail.contains(rule), "{path} {url}: {detail}");
        }
    }
    assert_eq!(
        p.count("SELECT count(*) FROM jobs").await,
        jobs_before,
        "a refused callback_url created a job"
    );
    // Without a body (or with `null`) the body-less endpoints still work.
    let r = p
        .app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/cops/{}/ai/advice", p.cop),
            Some(&p.exec.access),
            None,
        )
        .await;
    r.expect(202);
    let r = p
        .app
        .post(
            &format!("/api/v1/events/{event}/invites"),
            &p.exec.access,
            &json!(null),
        )
        .await;
    r.expect(202);
    // A public callback URL is stored on the job.
    let r = p
        .app
        .post(
            &format!("/api/v1/cops/{}/kpis/rollups", p.cop),
            &p.exec.access,
            &json!({"from": today, "to": today, "callback_url": "https://93.184.216.34/cb"}),
        )
        .await;
    r.expect(202);
    let stored: Option<String> =
        sqlx::query_scalar("SELECT callback_url FROM jobs WHERE id = $1::uuid")
            .bind(r.body["id"].as_str().unwrap())
            .fetch_one(&p.app.db.pool)
            .await
            .unwrap();
    assert_eq!(stored.as_deref(), Some("https://93.184.216.34/cb"));
}
