//! Access tokens that must be refused: expired, tampered, foreign, absent.

use std::time::Duration;

use base64::Engine;
use launchpad_domain::{
    auth::TokenKeys,
    ids::UserId,
    tenancy::{Caller, Role},
};
use reqwest::Method;
use test_support::{
    TestApp,
    app::{ADMIN_EMAIL, JWT_SECRET, Resp},
};

/// A 401 problem with a Bearer challenge.
#[track_caller]
fn assert_challenge(r: &Resp) {
    r.expect_problem(401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{}", r.text);
    assert_eq!(r.body["title"], "Unauthorized");
}

fn admin_caller(user_id: &str) -> Caller {
    Caller {
        user_id: UserId(user_id.parse().unwrap()),
        email: ADMIN_EMAIL.into(),
        name: "Administrator".into(),
        roles: vec![Role::Admin],
        customer_ids: vec![],
    }
}

#[tokio::test]
async fn zero_ttl_access_token_is_expired_immediately() {
    let app = TestApp::spawn_with(|s| s.access_token_ttl = Duration::from_secs(0)).await;
    let t = app.admin().await;
    let r = app.get("/api/v1/me", &t.access).await;
    assert_challenge(&r);
    assert_eq!(r.body["detail"], "access token expired");
}

#[tokio::test]
async fn expired_access_token_is_401() {
    let app = TestApp::spawn().await;
    let t = app.admin().await;
    let keys = TokenKeys::new(
        JWT_SECRET.as_bytes(),
        chrono::Duration::seconds(-60),
        chrono::Duration::days(1),
    );
    let expired = keys.sign(&admin_caller(&t.user_id)).unwrap();
    let r = app.get("/api/v1/me", &expired).await;
    assert_challenge(&r);
    assert_eq!(r.body["detail"], "access token expired");
    // A protected write is refused the same way and writes nothing.
    let before = app.count("SELECT count(*) FROM customers").await;
    let w = app
        .post(
            "/api/v1/customers",
            &expired,
            &serde_json::json!({"name": "X", "slug": "x"}),
        )
        .await;
    assert_challenge(&w);
    assert_eq!(app.count("SELECT count(*) FROM customers").await, before);
}

#[tokio::test]
async fn tampered_access_token_is_401() {
    let app = TestApp::spawn().await;
    let t = app.admin().await;
    // Re-encode the payload with different roles, keep the original signature.
    let parts: Vec<&str> = t.access.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["roles"] = serde_json::json!(["admin", "internal"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    let r = app.get("/api/v1/me", &forged).await;
    assert_challenge(&r);
    assert_eq!(r.body["detail"], "invalid access token");

    // A flipped signature byte.
    let mut sig = parts[2].to_string();
    let last = if sig.ends_with('A') { 'B' } else { 'A' };
    sig.pop();
    sig.push(last);
    let r = app
        .get("/api/v1/me", &format!("{}.{}.{}", parts[0], parts[1], sig))
        .await;
    assert_challenge(&r);

    // `alg: none` with no signature.
    let none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert_challenge(&app.get("/api/v1/me", &none).await);

    // Garbage.
    assert_challenge(&app.get("/api/v1/me", "not-a-jwt").await);
}

#[tokio::test]
async fn token_signed_with_another_secret_is_401() {
    let app = TestApp::spawn().await;
    let t = app.admin().await;
    let keys = TokenKeys::new(
        b"another-secret-another-secret-another!",
        chrono::Duration::minutes(5),
        chrono::Duration::days(1),
    );
    let foreign = keys.sign(&admin_caller(&t.user_id)).unwrap();
    let r = app.get("/api/v1/me", &foreign).await;
    assert_challenge(&r);
    assert_eq!(r.body["detail"], "invalid access token");
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_401_problem() {
    let app = TestApp::spawn().await;
    let r = app.call(Method::GET, "/api/v1/me", None, None).await;
    assert_challenge(&r);
    assert_eq!(r.body["instance"], "/api/v1/me");

    let basic = app
        .call_with(
            Method::GET,
            "/api/v1/me",
            None,
            None,
            &[("authorization", "Basic YWRtaW46YWRtaW4=")],
        )
        .await;
    assert_challenge(&basic);

    let before = app.count("SELECT count(*) FROM users").await;
    let w = app
        .call(
            Method::POST,
            "/api/v1/users",
            None,
            Some(&serde_json::json!({"email": "x@y.test", "name": "X", "password": "long-enough-password", "roles": ["admin"]})),
        )
        .await;
    assert_challenge(&w);
    assert_eq!(app.count("SELECT count(*) FROM users").await, before);
}

/// Reads a server-sent event stream to its end; false if it is still open
/// after `limit` (far beyond the token's lifetime).
async fn stream_ends(mut resp: reqwest::Response, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Ok(Err(_)) => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn live_streams_end_when_the_access_token_expires() {
    let app = TestApp::spawn().await;
    let t = app.admin().await;
    let keys = TokenKeys::new(
        JWT_SECRET.as_bytes(),
        chrono::Duration::seconds(3),
        chrono::Duration::days(1),
    );
    // A job no worker runs: its event stream would otherwise stay open.
    let job = app
        .post(
            "/api/v1/diagnostics/jobs",
            &t.access,
            &serde_json::json!({"behaviour": "succeed"}),
        )
        .await;
    job.expect(202);
    let job_id = job.body["id"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    for path in [
        "/api/v1/me/notifications/stream".to_string(),
        format!("/api/v1/jobs/{job_id}/events"),
    ] {
        let short = keys.sign(&admin_caller(&t.user_id)).unwrap();
        let resp = client
            .get(app.url(&path))
            .bearer_auth(&short)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(
            stream_ends(resp, Duration::from_secs(30)).await,
            "{path} stayed open after its access token expired"
        );
    }
    let resp = client
        .get(app.url("/api/v1/me/notifications/stream"))
        .bearer_auth(&t.access)
        .send()
        .await
        .unwrap();
    assert!(!stream_ends(resp, Duration::from_secs(5)).await);
}
