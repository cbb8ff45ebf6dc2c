//! Problem answers: every kind of error carries its documented `code` with
//! its one status (the shared test client checks every problem of the suite
//! against `launchpad_api::problem::CODES`; these tests reach each kind).

use reqwest::Method;
use test_support::{TestApp, app::json};

#[tokio::test]
async fn every_kind_of_error_answers_a_problem_with_its_code() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let customer = app.create_customer(&admin, "codes").await;
    let member = app
        .user(
            &admin,
            "member@codes.test",
            &["customer_member"],
            &[&customer],
        )
        .await;
    let cases: Vec<(u16, &str, test_support::app::Resp)> = vec![
        (
            401,
            "unauthorized",
            app.call(Method::GET, "/api/v1/me", None, None).await,
        ),
        (
            401,
            "unauthorized",
            app.login("admin@launchpad.test", "wrong-password-123")
                .await,
        ),
        (
            403,
            "forbidden",
            app.post(
                "/api/v1/customers",
                &member.access,
                &json!({"name": "Other", "slug": "other"}),
            )
            .await,
        ),
        (
            404,
            "not_found",
            app.get(
                "/api/v1/jobs/019aa000-0000-7000-8000-00000000dead",
                &admin.access,
            )
            .await,
        ),
        (
            404,
            "route_not_found",
            app.get("/api/v1/no-such-thing", &admin.access).await,
        ),
        (
            405,
            "method_not_allowed",
            app.call(Method::DELETE, "/health", None, None).await,
        ),
        (
            400,
            "invalid_parameter",
            app.get("/api/v1/jobs/not-a-ulid", &admin.access).await,
        ),
        (
            400,
            "invalid_body",
            app.send_raw(
                Method::POST,
                "/api/v1/customers",
                Some(&admin.access),
                &[("content-type", "application/json")],
                "{not json",
            )
            .await,
        ),
        (
            415,
            "unsupported_media_type",
            app.send_raw(
                Method::POST,
                "/api/v1/customers",
                Some(&admin.access),
                &[("content-type", "text/plain")],
                "name=x",
            )
            .await,
        ),
        (
            400,
            "validation_failed",
            app.post(
                "/api/v1/customers",
                &admin.access,
                &json!({"name": " ", "slug": "x"}),
            )
            .await,
        ),
    ];
    for (status, code, r) in cases {
        let p = r.expect_problem(status);
        assert_eq!(p["code"], code, "{}", r.text);
    }
}

/// A body field naming a customer that does not exist: one status (400
/// `validation_failed` pointing at the field) on every operation.
#[tokio::test]
async fn a_missing_customer_id_is_the_same_400_everywhere() {
    let app = TestApp::spawn_with(|s| s.webhooks_allow_insecure = true).await;
    let admin = app.admin().await;
    let missing = "0190f0e8-7c1a-7cc0-8000-000000000000";
    let bodies = [
        (
            "/api/v1/cops",
            json!({"customer_id": missing, "name": "CoP"}),
        ),
        (
            "/api/v1/courses",
            json!({"customer_id": missing, "title": "Course", "level": "beginner"}),
        ),
        (
            "/api/v1/paths",
            json!({"customer_id": missing, "title": "Path", "course_ids": []}),
        ),
        (
            "/api/v1/diagnostics/jobs",
            json!({"customer_id": missing, "behaviour": "succeed"}),
        ),
        (
            "/api/v1/webhooks/endpoints",
            json!({"customer_id": missing, "url": "http://127.0.0.1:9/hook",
                   "event_types": ["job.succeeded"]}),
        ),
    ];
    for (path, body) in bodies {
        let r = app.post(path, &admin.access, &body).await;
        let p = r.expect_problem(400);
        assert_eq!(p["code"], "validation_failed", "{path}: {}", r.text);
        assert_eq!(r.pointers(), ["/customer_id"], "{path}: {}", r.text);
    }
}
