use std::time::Duration;

use test_support::{SmtpSink, TestApp, Tokens, WorkerProcess, app::json, eventually};

/// A customer with one CoP and a local SMTP server: where the e-mail tests
/// (invitations, notifications) start.
pub struct CopMail {
    pub h: Harness,
    pub sink: SmtpSink,
    pub customer: String,
    pub cop: String,
}

impl CopMail {
    pub async fn new(cop_name: &str) -> Self {
        let h = Harness::new().await;
        let sink = SmtpSink::start();
        let customer = h.app.create_customer(&h.admin, "acme").await;
        let r = h
            .app
            .post(
                "/api/v1/cops",
                &h.admin.access,
                &json!({"customer_id": customer, "name": cop_name}),
            )
            .await;
        r.expect(201);
        let cop = r.body["id"].as_str().unwrap().to_string();
        Self {
            h,
            sink,
            customer,
            cop,
        }
    }

    /// A worker sending to this test's SMTP server; `extra` adds settings.
    pub fn worker(&self, extra: &[(&str, &str)]) -> WorkerProcess {
        let url = self.sink.url();
        let mut env = vec![("LAUNCHPAD_SMTP_URL", url.as_str())];
        env.extend_from_slice(extra);
        self.h.worker_with(&env)
    }
}

pub struct Harness {
    pub app: TestApp,
    pub admin: Tokens,
}

impl Harness {
    pub async fn new() -> Self {
        let app = TestApp::spawn().await;
        let admin = app.admin().await;
        Self { app, admin }
    }

    pub fn worker(&self) -> WorkerProcess {
        WorkerProcess::spawn(&self.app.db.url, &[])
    }

    pub fn worker_with(&self, env: &[(&str, &str)]) -> WorkerProcess {
        WorkerProcess::spawn(&self.app.db.url, env)
    }

    /// Enqueues a diagnostic job over HTTP; returns its id.
    pub async fn enqueue(&self, body: serde_json::Value) -> String {
        let r = self
            .app
            .post("/api/v1/diagnostics/jobs", &self.admin.access, &body)
            .await;
        r.expect(202);
        assert!(r.header("location").unwrap().starts_with("/api/v1/jobs/"));
        r.body["id"].as_str().unwrap().to_string()
    }

    pub async fn job(&self, id: &str) -> serde_json::Value {
        let r = self
            .app
            .get(&format!("/api/v1/jobs/{id}"), &self.admin.access)
            .await;
        r.expect(200);
        r.body.clone()
    }

    /// Polls the job until `status` (panics after `timeout`).
    pub async fn wait_status(
        &self,
        id: &str,
        status: &str,
        timeout: Duration,
    ) -> serde_json::Value {
        eventually(timeout, &format!("job {id} to be {status}"), || async {
            let j = self.job(id).await;
            (j["status"] == status).then_some(j)
        })
        .await
    }

    /// Asserts that the job is out of its kind's line (started or ended:
    /// no fetch can take it again).
    pub async fn assert_out_of_line(&self, id: &str) {
        let waiting: bool =
            sqlx::query_scalar("SELECT run_at IS NOT NULL FROM jobs WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&self.app.db.pool)
                .await
                .unwrap();
        assert!(!waiting, "job {id} is still in line");
    }
}

pub fn succeed(label: &str) -> serde_json::Value {
    json!({"behaviour": "succeed", "label": label})
}
