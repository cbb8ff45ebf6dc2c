//! Fixtures of the KPI tests: a customer (UTC) with a CoP, its managing
//! exec and member users, built over HTTP.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde_json::Value;
use test_support::{TestApp, Tokens, app::json};

pub struct Portal {
    pub app: TestApp,
    pub admin: Tokens,
    pub customer: String,
    pub exec: Tokens,
    pub cop: String,
    /// Members of the CoP (customer_member users).
    pub members: Vec<Tokens>,
    /// Today in the customer's time zone (UTC).
    pub today: NaiveDate,
}

pub async fn portal(members: usize) -> Portal {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let customer = app.create_customer(&admin, "acme").await;
    let exec = app
        .user(&admin, "exec@acme.test", &["customer_exec"], &[&customer])
        .await;
    let cop = create_cop(&app, &exec, &customer, "Data Engineering").await;
    let mut ms = vec![];
    for i in 0..members {
        let m = app
            .user(
                &admin,
                &format!("m{i}@acme.test"),
                &["customer_member"],
                &[&customer],
            )
            .await;
        app.post(
            &format!("/api/v1/cops/{cop}/members"),
            &exec.access,
            &json!({"user_id": m.user_id}),
        )
        .await
        .expect(201);
        ms.push(m);
    }
    let today: NaiveDate = sqlx::query_scalar("SELECT (now() AT TIME ZONE 'UTC')::date")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    Portal {
        app,
        admin,
        customer,
        exec,
        cop,
        members: ms,
        today,
    }
}

pub async fn create_cop(app: &TestApp, token: &Tokens, customer: &str, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/cops",
            &token.access,
            &json!({"customer_id": customer, "name": name, "phase": "launch"}),
        )
        .await;
    r.expect(201);
    r.body["id"].as_str().unwrap().to_string()
}

impl Portal {
    pub fn day(&self, days_ago: u64) -> NaiveDate {
        self.today - Days::new(days_ago)
    }

    /// Noon (UTC) `days_ago` days before today.
    pub fn noon(&self, days_ago: u64) -> DateTime<Utc> {
        self.day(days_ago).and_hms_opt(12, 0, 0).unwrap().and_utc()
    }

    /// An event of the CoP at noon `days_ago` days ago; returns its id.
    pub async fn event(&self, days_ago: u64) -> String {
        let start = self.noon(days_ago);
        let r = self
            .app
            .post(
                &format!("/api/v1/cops/{}/events", self.cop),
                &self.exec.access,
                &json!({"title": "Session", "starts_at": start, "ends_at": start + chrono::Duration::hours(1),
                        "time_zone": "UTC", "join_url": "https://meet.example/s"}),
            )
            .await;
        r.expect(201);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// Imports the attendance of every member to `event`.
    pub async fn import(&self, event: &str, joined: DateTime<Utc>) -> Value {
        let rows: Vec<Value> = self
            .members
            .iter()
            .map(|m| json!({"user_id": m.user_id, "joined_at": joined}))
            .collect();
        let r = self
            .app
            .post(
                &format!("/api/v1/events/{event}/attendance"),
                &self.exec.access,
                &json!({"rows": rows}),
            )
            .await;
        r.expect(200);
        r.body.clone()
    }

    /// The `kpi_rollup` jobs: (id, status, payload), oldest first.
    pub async fn rollups(&self) -> Vec<(String, String, Value)> {
        sqlx::query_as("SELECT id::text, status, payload FROM jobs WHERE kind = 'kpi_rollup' ORDER BY created_at, id")
            .fetch_all(&self.app.db.pool)
            .await
            .unwrap()
    }
}
