//! Request bodies that must be refused with field pointers, writing nothing.

use reqwest::Method;
use serde_json::Value;
use test_support::{
    TestApp,
    app::{Resp, json},
};

const JSON: (&str, &str) = ("content-type", "application/json");

fn valid_user() -> Value {
    json!({"email": "new@a.test", "name": "New User", "password": "a-long-password-1", "roles": ["internal"]})
}

/// Admin tokens and the number of users before the test's requests.
async fn setup() -> (TestApp, String, i64) {
    let app = TestApp::spawn().await;
    let admin = app.admin().await.access;
    let users = app.count("SELECT count(*) FROM users").await;
    (app, admin, users)
}

async fn post_user(app: &TestApp, token: &str, body: &Value) -> Resp {
    app.post("/api/v1/users", token, body).await
}

#[track_caller]
fn assert_pointers(r: &Resp, status: u16, expected: &[&str]) {
    r.expect_problem(status);
    let got = r.pointers();
    for p in expected {
        assert!(
            got.iter().any(|g| g == p),
            "pointer {p} missing from {got:?}: {}",
            r.text
        );
    }
    for e in r.body["errors"].as_array().unwrap() {
        assert!(
            e["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            r.text
        );
    }
}

async fn assert_no_new_users(app: &TestApp, before: i64) {
    assert_eq!(
        app.count("SELECT count(*) FROM users").await,
        before,
        "a user was written"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'user.created'")
            .await,
        0
    );
}

#[tokio::test]
async fn invalid_fields_are_all_reported_at_once() {
    let (app, t, before) = setup().await;
    let r = post_user(
        &app,
        &t,
        &json!({"email": "not-an-email", "name": "X", "password": "short", "roles": []}),
    )
    .await;
    assert_pointers(&r, 400, &["/email", "/password", "/roles"]);
    assert_eq!(r.pointers().len(), 3, "{}", r.text);
    assert_eq!(r.body["code"], "validation_failed");
    // The password is never echoed.
    assert!(!r.text.contains("short\""), "{}", r.text);
    assert_no_new_users(&app, before).await;
}

#[tokio::test]
async fn wrong_json_type_names_the_field() {
    let (app, t, before) = setup().await;
    let mut b = valid_user();
    b["email"] = json!(42);
    assert_pointers(&post_user(&app, &t, &b).await, 400, &["/email"]);

    let mut b = valid_user();
    b["roles"] = json!("admin");
    assert_pointers(&post_user(&app, &t, &b).await, 400, &["/roles"]);

    let mut b = valid_user();
    b["customer_ids"] = json!(["not-a-uuid"]);
    assert_pointers(&post_user(&app, &t, &b).await, 400, &["/customer_ids/0"]);

    // A JSON array (or any non-object) where an object is expected, even
    // one listing valid fields in order.
    for body in [
        json!([1, 2]),
        json!(["a@b.test", "Name", "a-long-password-1", ["internal"]]),
        json!("x"),
        json!(null),
    ] {
        let r = post_user(&app, &t, &body).await;
        assert_pointers(&r, 400, &["/"]);
        assert_eq!(
            r.body["errors"][0]["detail"], "must be a JSON object",
            "{}",
            r.text
        );
    }
    assert_no_new_users(&app, before).await;
}

#[tokio::test]
async fn missing_field_names_the_field() {
    let (app, t, before) = setup().await;
    let mut b = valid_user();
    // (Without `password` the user is invited; `name` is required.)
    b.as_object_mut().unwrap().remove("name");
    let r = post_user(&app, &t, &b).await;
    assert_pointers(&r, 400, &["/name"]);
    assert_no_new_users(&app, before).await;
}

#[tokio::test]
async fn unknown_role_names_its_index() {
    let (app, t, before) = setup().await;
    let mut b = valid_user();
    b["roles"] = json!(["superuser"]);
    let r = post_user(&app, &t, &b).await;
    assert_pointers(&r, 400, &["/roles/0"]);
    let mut b = valid_user();
    b["roles"] = json!(["customer_member", "root"]);
    assert_pointers(&post_user(&app, &t, &b).await, 400, &["/roles/1"]);
    assert_no_new_users(&app, before).await;
}

#[tokio::test]
async fn overlong_and_blank_names_are_refused() {
    let (app, t, before) = setup().await;
    let mut b = valid_user();
    b["name"] = json!("x".repeat(201));
    let r = post_user(&app, &t, &b).await;
    assert_pointers(&r, 400, &["/name"]);
    let mut b = valid_user();
    b["name"] = json!("   ");
    assert_pointers(&post_user(&app, &t, &b).await, 400, &["/name"]);
    // 200 characters (multi-byte) is fine.
    let mut b = valid_user();
    b["name"] = json!("é".repeat(200));
    post_user(&app, &t, &b).await.expect(201);
    assert_eq!(app.count("SELECT count(*) FROM users").await, before + 1);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (app, t, before) = setup().await;
    for body in [
        r#"{"email": "a@b.test", "#,
        "{'email': 1}",
        "not json",
        r#"{"email": "a@b.test"} trailing"#,
    ] {
        let r = app
            .send_raw(Method::POST, "/api/v1/users", Some(&t), &[JSON], body)
            .await;
        assert_pointers(&r, 400, &["/"]);
        assert!(
            r.body["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("malformed JSON"),
            "{}",
            r.text
        );
    }
    // An empty body.
    let r = app
        .send_raw(Method::POST, "/api/v1/users", Some(&t), &[JSON], "")
        .await;
    assert_pointers(&r, 400, &["/"]);
    assert_no_new_users(&app, before).await;
}

#[tokio::test]
async fn non_utf8_body_is_400() {
    let (app, t, before) = setup().await;
    let mut bytes = br#"{"email": "a@b.test", "name": ""#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bytes.extend_from_slice(br#"", "password": "a-long-password-1", "roles": ["internal"]}"#);
    let r = app
        .send_raw(Method::POST, "/api/v1/users", Some(&t), &[JSON], bytes)
        .await;
    assert_pointers(&r, 400, &["/"]);
    assert!(
        r.body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("UTF-8"),
        "{}",
        r.text
    );
    assert_no_new_users(&app, before).await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let (app, t, before) = setup().await;
    let body = serde_json::to_vec(&valid_user()).unwrap();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let r = app
            .send_raw(
                Method::POST,
                "/api/v1/users",
                Some(&t),
                &[("content-type", ct)],
                body.clone(),
            )
            .await;
        assert_pointers(&r, 415, &["/Content-Type"]);
        assert_eq!(r.body["title"], "Unsupported Media Type");
    }
    // No Content-Type at all.
    let r = app
        .send_raw(Method::POST, "/api/v1/users", Some(&t), &[], body.clone())
        .await;
    r.expect_problem(415);
    // `application/json; charset=utf-8` is JSON.
    let r = app
        .send_raw(
            Method::POST,
            "/api/v1/users",
            Some(&t),
            &[("content-type", "application/json; charset=utf-8")],
            body,
        )
        .await;
    r.expect(201);
    assert_eq!(app.count("SELECT count(*) FROM users").await, before + 1);
}

#[tokio::test]
async fn customer_fields_are_validated() {
    let (app, t, _) = setup().await;
    let r = app
        .post(
            "/api/v1/customers",
            &t,
            &json!({"name": "", "slug": "Not A Slug", "time_zone": "Mars/Olympus"}),
        )
        .await;
    assert_pointers(&r, 400, &["/name", "/slug", "/time_zone"]);
    assert_eq!(app.count("SELECT count(*) FROM customers").await, 0);
}

#[tokio::test]
async fn duplicate_email_is_409_whatever_the_case() {
    let (app, t, before) = setup().await;
    post_user(&app, &t, &valid_user()).await.expect(201);
    let mut b = valid_user();
    b["email"] = json!("NEW@A.TEST");
    let r = post_user(&app, &t, &b).await;
    let p = r.expect_problem(409);
    assert_eq!(p["code"], "email_taken");
    assert_eq!(app.count("SELECT count(*) FROM users").await, before + 1);
}

#[tokio::test]
async fn bad_path_and_query_parameters_name_the_parameter() {
    let (app, t, _) = setup().await;
    for path in [
        "/api/v1/users/not-a-uuid",
        "/api/v1/customers/1",
        "/api/v1/jobs/not-a-ulid/events",
    ] {
        let r = app.get(path, &t).await;
        assert_pointers(&r, 400, &["/id"]);
        assert!(
            r.body["detail"].as_str().unwrap().contains("`id`"),
            "{}",
            r.text
        );
    }
    // The second of two path parameters is named too.
    let r = app
        .get(
            &format!("/api/v1/cops/{}/members/not-a-uuid", uuid::Uuid::now_v7()),
            &t,
        )
        .await;
    assert_pointers(&r, 400, &["/user_id"]);
    let r = app.get("/api/v1/customers?limit=abc", &t).await;
    assert_pointers(&r, 400, &["/limit"]);
    let r = app.get("/api/v1/users?limit=0", &t).await;
    assert_pointers(&r, 400, &["/limit"]);
    let r = app.get("/api/v1/users?limit=201", &t).await;
    assert_pointers(&r, 400, &["/limit"]);
    let r = app.get("/api/v1/users?cursor=%%%", &t).await;
    assert_pointers(&r, 400, &["/cursor"]);
}
