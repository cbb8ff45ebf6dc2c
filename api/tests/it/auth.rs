//! Login, refresh rotation and reuse detection, logout, and their audit trail.

use test_support::{
    TestApp,
    app::{ADMIN_EMAIL, ADMIN_PASSWORD, json},
};

#[tokio::test]
async fn login_me_and_wrong_password() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let me = app.get("/api/v1/me", &admin.access).await;
    me.expect(200);
    assert_eq!(me.body["roles"], json!(["admin"]));

    let bad = app
        .login(test_support::app::ADMIN_EMAIL, "wrong-password-123")
        .await;
    let p = bad.expect_problem(401);
    assert_eq!(p["title"], "Unauthorized");
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(failed, 1);
}

#[tokio::test]
async fn login_returns_tokens_and_me_identifies_the_caller() {
    let app = TestApp::spawn().await;
    let r = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    r.expect(200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert_eq!(r.body["refresh_expires_in"], 7 * 86400);
    assert_eq!(r.body["user"]["email"], ADMIN_EMAIL);
    let access = r.body["access_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 3, "a JWT");

    let me = app.get("/api/v1/me", access).await;
    me.expect(200);
    assert_eq!(me.body["id"], r.body["user"]["id"]);
    assert_eq!(me.body["email"], ADMIN_EMAIL);
    assert_eq!(me.body["roles"], json!(["admin"]));
    assert_eq!(me.body["customer_ids"], json!([]));

    // One live refresh token, stored hashed (never the token itself).
    let rows = app
        .count("SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL")
        .await;
    assert_eq!(rows, 1);
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_ne!(stored, r.body["refresh_token"].as_str().unwrap().as_bytes());
}

/// `action, actor_email, request_id, ip, after` of an audit row.
type AuditRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<serde_json::Value>,
);

#[tokio::test]
async fn login_success_and_failure_are_audited_with_the_request_id() {
    let app = TestApp::spawn().await;
    let ok = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    ok.expect(200);
    let ok_rid = ok.header("x-request-id").unwrap().to_string();
    let wrong = app.login(ADMIN_EMAIL, "wrong-password-123").await;
    wrong.expect_problem(401);
    let unknown = app
        .login("nobody@launchpad.test", "whatever-password")
        .await;
    unknown.expect_problem(401);
    // Unknown email and wrong password are indistinguishable to the client.
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);

    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT action, actor_email, request_id, ip, after
         FROM audit_log WHERE action LIKE 'auth.login%' ORDER BY id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0].0, "auth.login");
    assert_eq!(rows[0].1.as_deref(), Some(ADMIN_EMAIL));
    assert_eq!(rows[0].2.as_deref(), Some(ok_rid.as_str()));
    assert_eq!(rows[0].3.as_deref(), Some("127.0.0.1"));
    assert_eq!(rows[1].0, "auth.login_failed");
    assert_eq!(rows[1].2.as_deref(), wrong.header("x-request-id"));
    assert_eq!(rows[1].4, Some(json!({"reason": "wrong_password"})));
    assert_eq!(rows[2].0, "auth.login_failed");
    assert_eq!(rows[2].1.as_deref(), Some("nobody@launchpad.test"));
    assert_eq!(rows[2].4, Some(json!({"reason": "unknown_email"})));
    // No secret ever reaches the audit log.
    let leaked = app
        .count("SELECT count(*) FROM audit_log WHERE coalesce(after::text, '') LIKE '%password-%'")
        .await;
    assert_eq!(leaked, 0);
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_stops_working() {
    let app = TestApp::spawn().await;
    let t = app.admin().await;
    let r = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": t.refresh})),
        )
        .await;
    r.expect(200);
    let new_refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    let new_access = r.body["access_token"].as_str().unwrap().to_string();
    assert_ne!(new_refresh, t.refresh);
    app.get("/api/v1/me", &new_access).await.expect(200);

    // Same family, the first one used, the second live.
    let families = app
        .count("SELECT count(DISTINCT family_id) FROM refresh_tokens")
        .await;
    assert_eq!(families, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL"
        )
        .await,
        1
    );

    let again = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": t.refresh})),
        )
        .await;
    again.expect_problem(401);
    assert!(again.header("www-authenticate").is_some());
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let t = app.admin().await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.call(
                reqwest::Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(&json!({"refresh_token": token})),
            )
            .await
        }
    };
    let r1 = refresh(t.refresh.clone()).await;
    r1.expect(200);
    let second = r1.body["refresh_token"].as_str().unwrap().to_string();
    let r2 = refresh(second.clone()).await;
    r2.expect(200);
    let newest = r2.body["refresh_token"].as_str().unwrap().to_string();

    // A thief replays the first token: refused, and the family is revoked...
    refresh(t.refresh.clone()).await.expect_problem(401);
    // ...so the legitimate newest token stops working too.
    refresh(newest).await.expect_problem(401);
    assert_eq!(
        app.count("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.refresh_reuse_detected'")
            .await,
        1
    );

    // Another login starts a new, unaffected family.
    let fresh = app.admin().await;
    refresh(fresh.refresh).await.expect(200);
}

#[tokio::test]
async fn unknown_refresh_token_is_401() {
    let app = TestApp::spawn().await;
    let r = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": "not-a-token"})),
        )
        .await;
    let p = r.expect_problem(401);
    assert_eq!(p["detail"], "invalid or expired refresh token");
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = TestApp::spawn().await;
    let t = app.admin().await;
    let r = app
        .post(
            "/api/v1/auth/logout",
            &t.access,
            &json!({"refresh_token": t.refresh}),
        )
        .await;
    r.expect(204);
    assert!(r.text.is_empty());
    assert_eq!(
        app.count("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.logout'")
            .await,
        1
    );

    let after = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": t.refresh})),
        )
        .await;
    after.expect_problem(401);

    // Logout needs an access token.
    let anon = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(&json!({"refresh_token": t.refresh})),
        )
        .await;
    anon.expect_problem(401);
}

#[tokio::test]
async fn logout_cannot_revoke_someone_elses_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let c = app.create_customer(&admin, "acme").await;
    let member = app
        .user(&admin, "m@acme.test", &["customer_member"], &[&c])
        .await;
    app.post(
        "/api/v1/auth/logout",
        &member.access,
        &json!({"refresh_token": admin.refresh}),
    )
    .await
    .expect(204);
    let r = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": admin.refresh})),
        )
        .await;
    r.expect(200);
}

#[tokio::test]
async fn expired_refresh_token_is_401() {
    let app =
        TestApp::spawn_with(|s| s.refresh_token_ttl = std::time::Duration::from_secs(0)).await;
    let t = app.admin().await;
    let r = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": t.refresh})),
        )
        .await;
    r.expect_problem(401);
    assert_eq!(
        app.count("SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn disabled_user_cannot_log_in_or_refresh() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let c = app.create_customer(&admin, "acme").await;
    let m = app
        .user(&admin, "m@acme.test", &["customer_member"], &[&c])
        .await;
    app.patch(
        &format!("/api/v1/users/{}", m.user_id),
        &admin.access,
        &json!({"disabled": true}),
    )
    .await
    .expect(200);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = '{}' AND revoked_at IS NULL",
            m.user_id
        ))
        .await,
        0
    );
    let r = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": m.refresh})),
        )
        .await;
    r.expect_problem(401);
    let login = app.login("m@acme.test", "user-password-1234").await;
    login.expect_problem(401);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed' AND after->>'reason' = 'disabled'")
            .await,
        1
    );
}
