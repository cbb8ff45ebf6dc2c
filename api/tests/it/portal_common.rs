//! Fixtures of the CoP portal tests: customer A with a CoP whose members
//! hold each of the four CoP roles, a user of A outside the CoP, and
//! customer B with its own exec and CoP (for tenant isolation).

use serde_json::Value;
use test_support::{
    TestApp, Tokens,
    app::{Resp, json},
};

pub struct Portal {
    pub app: TestApp,
    pub admin: Tokens,
    /// Customer A.
    pub a: String,
    /// customer_exec of A (not a member of the CoP).
    pub exec: Tokens,
    /// customer_member users of A holding each CoP role in `cop`.
    pub sponsor: Tokens,
    pub lead: Tokens,
    pub champion: Tokens,
    pub member: Tokens,
    /// A customer_member of A who is not a member of `cop`.
    pub outsider: Tokens,
    /// A CoP of A.
    pub cop: String,
    /// Customer B, its exec and its CoP.
    pub b: String,
    pub other_exec: Tokens,
    pub other_cop: String,
}

pub async fn portal() -> Portal {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let a = app.create_customer(&admin, "acme").await;
    let b = app.create_customer(&admin, "globex").await;
    let exec = app
        .user(&admin, "exec@acme.test", &["customer_exec"], &[&a])
        .await;
    let sponsor = app
        .user(&admin, "sponsor@acme.test", &["customer_member"], &[&a])
        .await;
    let lead = app
        .user(&admin, "lead@acme.test", &["customer_member"], &[&a])
        .await;
    let champion = app
        .user(&admin, "champion@acme.test", &["customer_member"], &[&a])
        .await;
    let member = app
        .user(&admin, "member@acme.test", &["customer_member"], &[&a])
        .await;
    let outsider = app
        .user(&admin, "outsider@acme.test", &["customer_member"], &[&a])
        .await;
    let other_exec = app
        .user(&admin, "exec@globex.test", &["customer_exec"], &[&b])
        .await;
    let cop = create_cop(&app, &exec, &a, "Data Engineering").await;
    for (t, role) in [
        (&sponsor, "exec_sponsor"),
        (&lead, "lead"),
        (&champion, "champion"),
        (&member, "member"),
    ] {
        app.post(
            &format!("/api/v1/cops/{cop}/members"),
            &exec.access,
            &json!({"user_id": t.user_id, "role": role}),
        )
        .await
        .expect(201);
    }
    let other_cop = create_cop(&app, &other_exec, &b, "Globex Analytics").await;
    Portal {
        app,
        admin,
        a,
        exec,
        sponsor,
        lead,
        champion,
        member,
        outsider,
        cop,
        b,
        other_exec,
        other_cop,
    }
}

pub async fn create_cop(app: &TestApp, token: &Tokens, customer: &str, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/cops",
            &token.access,
            &json!({"customer_id": customer, "name": name}),
        )
        .await;
    r.expect(201);
    id(&r.body)
}

pub fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

/// The `id`s of a page's items.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(id)
        .collect()
}

/// An RFC 3339 instant `hours` from now (whole seconds).
pub fn at(hours: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::hours(hours);
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The body of an online event starting in `hours` and lasting one hour.
pub fn event_body(hours: i64, capacity: Option<i64>) -> Value {
    let mut b = json!({
        "type": "training",
        "title": "Lakehouse basics",
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

impl Portal {
    /// The four CoP roles and the users holding them.
    pub fn roles(&self) -> [(&'static str, &Tokens); 4] {
        [
            ("exec_sponsor", &self.sponsor),
            ("lead", &self.lead),
            ("champion", &self.champion),
            ("member", &self.member),
        ]
    }

    /// Creates an event in the fixture CoP as its exec; returns its id.
    pub async fn event(&self, hours: i64, capacity: Option<i64>) -> String {
        let r = self
            .app
            .post(
                &format!("/api/v1/cops/{}/events", self.cop),
                &self.exec.access,
                &event_body(hours, capacity),
            )
            .await;
        r.expect(201);
        id(&r.body)
    }

    /// Creates an event in customer B's CoP; returns its id.
    pub async fn other_event(&self) -> String {
        let r = self
            .app
            .post(
                &format!("/api/v1/cops/{}/events", self.other_cop),
                &self.other_exec.access,
                &event_body(24, None),
            )
            .await;
        r.expect(201);
        id(&r.body)
    }

    /// Adds a new customer_member of A to the fixture CoP; returns their tokens.
    pub async fn new_member(&self, email: &str) -> Tokens {
        let t = self
            .app
            .user(&self.admin, email, &["customer_member"], &[&self.a])
            .await;
        self.app
            .post(
                &format!("/api/v1/cops/{}/members", self.cop),
                &self.exec.access,
                &json!({"user_id": t.user_id}),
            )
            .await
            .expect(201);
        t
    }

    /// Runs one `SELECT count(*)` on the test database.
    pub async fn count(&self, sql: &str) -> i64 {
        self.app.count(sql).await
    }
}

/// Asserts a 400 validation problem naming exactly `pointer` among its errors.
#[track_caller]
pub fn expect_field(r: &Resp, pointer: &str) {
    r.expect_problem(400);
    assert!(
        r.pointers().iter().any(|p| p == pointer),
        "expected {pointer} in {}",
        r.text
    );
}
