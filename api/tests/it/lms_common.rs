//! Fixtures of the enablement portal tests: two customers and one user per
//! portal role (see `launchpad_domain::lms::access`).

use launchpad_domain::{
    ids::{CourseId, UserId},
    lms::certificates::{
        Certificate, Subject,
        issue::{Prepared, prepare},
    },
};
use reqwest::Method;
use serde_json::Value;
use test_support::{
    TestApp, Tokens,
    app::{Resp, json},
};

pub struct Lms {
    pub app: TestApp,
    pub admin: Tokens,
    /// Customer A and customer B.
    pub a: String,
    pub b: String,
    /// Approver in A (customer_exec).
    pub exec_a: Tokens,
    /// Approver in B.
    pub exec_b: Tokens,
    /// Contributor everywhere (internal).
    pub internal: Tokens,
    /// Viewer in A (customer_member).
    pub member_a: Tokens,
}

pub async fn lms() -> Lms {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let a = app.create_customer(&admin, "a").await;
    let b = app.create_customer(&admin, "b").await;
    let exec_a = app
        .user(&admin, "exec@a.test", &["customer_exec"], &[&a])
        .await;
    let exec_b = app
        .user(&admin, "exec@b.test", &["customer_exec"], &[&b])
        .await;
    let internal = app
        .user(&admin, "staff@launchpad.test", &["internal"], &[])
        .await;
    let member_a = app
        .user(&admin, "member@a.test", &["customer_member"], &[&a])
        .await;
    Lms {
        app,
        admin,
        a,
        b,
        exec_a,
        exec_b,
        internal,
        member_a,
    }
}

impl Lms {
    /// Creates a draft course in `customer` as `token`; returns its id.
    pub async fn course(&self, token: &Tokens, customer: &str, title: &str) -> String {
        let r = self
            .app
            .post(
                "/api/v1/courses",
                &token.access,
                &json!({"customer_id": customer, "title": title, "level": "beginner"}),
            )
            .await;
        r.expect(201);
        id(&r.body)
    }

    /// Adds a text lesson at the end of `course`; returns its id.
    pub async fn lesson(&self, token: &Tokens, course: &str, title: &str) -> String {
        let r = self
            .app
            .post(
                &format!("/api/v1/courses/{course}/lessons"),
                &token.access,
                &json!({"kind": "text", "title": title, "body": "Read this."}),
            )
            .await;
        r.expect(201);
        id(&r.body)
    }

    /// A published course of `customer` with `lessons` lessons (made by the admin).
    pub async fn published(
        &self,
        customer: &str,
        title: &str,
        lessons: usize,
    ) -> (String, Vec<String>) {
        let course = self.course(&self.admin, customer, title).await;
        let mut ids = Vec::new();
        for i in 0..lessons {
            ids.push(
                self.lesson(&self.admin, &course, &format!("Lesson {}", i + 1))
                    .await,
            );
        }
        self.action(&self.admin, &format!("/api/v1/courses/{course}/publish"))
            .await
            .expect(200);
        (course, ids)
    }

    /// A body-less `POST` (publish, archive) as `token`.
    pub async fn action(&self, token: &Tokens, path: &str) -> Resp {
        self.app
            .call(Method::POST, path, Some(&token.access), None)
            .await
    }

    /// A learning path of `customer` over `courses` (made by the admin).
    pub async fn path(&self, customer: &str, courses: &[&str]) -> String {
        let r = self
            .app
            .post(
                "/api/v1/paths",
                &self.admin.access,
                &json!({"customer_id": customer, "title": "Onboarding", "course_ids": courses}),
            )
            .await;
        r.expect(201);
        id(&r.body)
    }

    /// `PUT /me/progress/...` as `token`.
    pub async fn progress(&self, token: &Tokens, course: &str, lesson: &str, body: Value) -> Resp {
        self.app
            .put(
                &format!("/api/v1/me/progress/{course}/lessons/{lesson}"),
                &token.access,
                &body,
            )
            .await
    }

    /// The certificate of `user` for `course`, written as the
    /// `certificate_issue` job's first step writes it (no worker runs here).
    pub async fn certificate(&self, user: &str, course: &str) -> Certificate {
        let user: UserId = user.parse().unwrap();
        let course: CourseId = course.parse().unwrap();
        match prepare(
            &self.app.db.pool,
            user,
            Subject::Course(course),
            false,
            None,
        )
        .await
        .unwrap()
        {
            Prepared::Render(c, _) => *c,
            other => panic!("expected a certificate to render, got {other:?}"),
        }
    }

    /// One bigint from the test database (e.g. `SELECT count(*) ...`).
    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A row rendered as JSON text (to compare before and after).
    pub async fn row(&self, table: &str, id: &str) -> String {
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "SELECT to_jsonb(t)::text FROM {table} t WHERE id = '{id}'"
        )))
        .fetch_one(&self.app.db.pool)
        .await
        .unwrap_or_else(|e| panic!("{table} {id}: {e}"))
    }
}

pub fn id(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_string()
}

/// The ids of a page's items, in order.
pub fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .iter()
        .map(id)
        .collect()
}

/// A problem without its per-request members.
pub fn shape(body: &Value) -> Value {
    let mut b = body.clone();
    if let Some(o) = b.as_object_mut() {
        o.remove("request_id");
        o.remove("instance");
    }
    b
}
