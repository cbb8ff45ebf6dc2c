//! Health and readiness, request ids, and opaque server errors.

use reqwest::Method;
use sqlx::Connection;
use test_support::{
    TestApp,
    app::{ADMIN_EMAIL, ADMIN_PASSWORD, Resp},
};

/// Drops the app's database under it (connections included).
async fn drop_database(app: &TestApp) {
    let mut admin = sqlx::PgConnection::connect(&test_support::db::admin_url())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {} WITH (FORCE)",
        app.db.name
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

#[track_caller]
fn assert_not_ready(r: &Resp) {
    let p = r.expect_problem(503);
    assert_eq!(p["title"], "Not Ready");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 1);
}

#[tokio::test]
async fn ready_and_health_when_the_database_is_up() {
    let app = TestApp::spawn().await;
    let r = app.call(Method::GET, "/ready", None, None).await;
    r.expect(200);
    assert_eq!(r.body["status"], "ready");
    let h = app.call(Method::GET, "/health", None, None).await;
    h.expect(200);
    assert_eq!(h.body["status"], "ok");
}

#[tokio::test]
async fn ready_is_503_when_the_database_is_gone_and_health_stays_200() {
    let app = TestApp::spawn().await;
    app.call(Method::GET, "/ready", None, None)
        .await
        .expect(200);
    drop_database(&app).await;
    let r = app.call(Method::GET, "/ready", None, None).await;
    assert_not_ready(&r);
    assert_eq!(r.body["detail"], "the database is unreachable");
    app.call(Method::GET, "/health", None, None)
        .await
        .expect(200);
}

#[tokio::test]
async fn ready_is_503_when_postgres_is_unreachable() {
    // Nothing listens on port 1.
    let app = TestApp::spawn_with(|s| {
        s.database_url = "postgres://postgres@127.0.0.1:1/launchpad".into();
        s.bootstrap_admin = None;
    })
    .await;
    let r = app.call(Method::GET, "/ready", None, None).await;
    assert_not_ready(&r);
    app.call(Method::GET, "/health", None, None)
        .await
        .expect(200);

    // Requests that need the database answer 503 (retry later), not 500.
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let p = login.expect_problem(503);
    assert!(login.header("retry-after").is_some());
    assert_opaque(&login);
    assert_eq!(p["title"], "Service Unavailable");
}

/// No internals (SQL, driver messages, database names, source paths) in a 5xx body.
#[track_caller]
fn assert_opaque(r: &Resp) {
    assert!(r.status.is_server_error(), "{}", r.text);
    let lower = r.text.to_lowercase();
    for leak in [
        "sqlx",
        "lp_test_",
        "select ",
        "insert ",
        "postgres",
        "connection refused",
        "error returned",
        ".rs:",
        "panicked",
    ] {
        assert!(!lower.contains(leak), "5xx body leaks {leak:?}: {}", r.text);
    }
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    for k in &keys {
        assert!(
            [
                "type",
                "title",
                "status",
                "detail",
                "instance",
                "request_id",
                "code"
            ]
            .contains(&k.as_str()),
            "{keys:?}"
        );
    }
}

#[tokio::test]
async fn server_errors_are_opaque() {
    let app = TestApp::spawn().await;
    let t = app.admin().await.access;
    drop_database(&app).await;
    for r in [
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await,
        app.get("/api/v1/users", &t).await,
        app.post(
            "/api/v1/customers",
            &t,
            &serde_json::json!({"name": "C", "slug": "c"}),
        )
        .await,
    ] {
        r.expect_problem(r.status.as_u16());
        assert_opaque(&r);
        assert_eq!(r.header("x-request-id"), r.body["request_id"].as_str());
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 128).await;
    let t = app.admin().await.access;
    let responses = [
        app.call(Method::GET, "/health", None, None).await,
        app.call(Method::GET, "/ready", None, None).await,
        app.call(Method::GET, "/openapi.json", None, None).await,
        app.call(Method::GET, "/no/such/route", None, None).await,
        app.call(Method::PUT, "/health", None, None).await,
        app.call(Method::GET, "/api/v1/me", None, None).await,
        app.get("/api/v1/me", &t).await,
        app.send_raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            &[("content-type", "application/json")],
            vec![b' '; 300],
        )
        .await,
    ];
    let mut seen = std::collections::HashSet::new();
    for r in &responses {
        let id = r
            .header("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id: {} {}", r.status, r.text));
        assert_eq!(id.len(), 26, "a ULID: {id}");
        assert!(seen.insert(id.to_string()), "request ids repeat: {id}");
        if r.status.is_client_error() || r.status.is_server_error() {
            r.expect_problem(r.status.as_u16());
            assert_eq!(r.body["request_id"].as_str(), Some(id), "{}", r.text);
        }
    }
    // Unmatched routes and methods are problems too.
    assert_eq!(responses[3].status, 404);
    assert_eq!(responses[4].status, 405);
    assert_eq!(responses[5].status, 401);
    assert_eq!(responses[7].status, 413);
}

#[tokio::test]
async fn client_request_id_is_echoed_when_well_formed() {
    let app = TestApp::spawn().await;
    let id = "client-req_42.a:b";
    let r = app
        .call_with(
            Method::GET,
            "/api/v1/me",
            None,
            None,
            &[("x-request-id", id)],
        )
        .await;
    r.expect_problem(401);
    assert_eq!(r.header("x-request-id"), Some(id));
    assert_eq!(r.body["request_id"], id);

    // Also on success, and it reaches the audit log.
    let login = app
        .call_with(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            &[("x-request-id", "login-1")],
        )
        .await;
    login.expect(200);
    assert_eq!(login.header("x-request-id"), Some("login-1"));
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'auth.login' AND request_id = 'login-1'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn malformed_client_request_id_is_replaced() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(200);
    for bad in [
        "has spaces in it",
        long.as_str(),
        "semi;colon",
        "quote\"d",
        "<script>",
    ] {
        let r = app
            .call_with(
                Method::GET,
                "/api/v1/me",
                None,
                None,
                &[("x-request-id", bad)],
            )
            .await;
        r.expect_problem(401);
        let got = r.header("x-request-id").unwrap();
        assert_ne!(got, bad);
        assert_eq!(got.len(), 26, "replaced by a ULID: {got}");
        assert_eq!(r.body["request_id"].as_str(), Some(got));
        assert!(!r.text.contains(bad), "{}", r.text);
    }
    // 128 characters is the longest accepted.
    let max = "b".repeat(128);
    let r = app
        .call_with(
            Method::GET,
            "/health",
            None,
            None,
            &[("x-request-id", &max)],
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some(max.as_str()));
}

#[tokio::test]
async fn no_cross_origin_access_unless_configured() {
    let app = TestApp::spawn().await;
    let origin = [("origin", "https://evil.example")];
    let r = app
        .call_with(Method::GET, "/health", None, None, &origin)
        .await;
    r.expect(200);
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "{:?}",
        r.headers
    );
    let pre = app
        .call_with(
            Method::OPTIONS,
            "/api/v1/me",
            None,
            None,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
            ],
        )
        .await;
    assert!(
        pre.header("access-control-allow-origin").is_none(),
        "{:?}",
        pre.headers
    );
}

#[tokio::test]
async fn configured_origins_get_cors_headers_and_others_a_problem() {
    let app = TestApp::spawn_with(|s| s.cors_origins = vec!["https://portal.example".into()]).await;
    let pre = app
        .call_with(
            Method::OPTIONS,
            "/api/v1/me",
            None,
            None,
            &[
                ("origin", "https://portal.example"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization"),
            ],
        )
        .await;
    assert!(pre.status.is_success(), "{} {}", pre.status, pre.text);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://portal.example")
    );

    let r = app
        .call_with(
            Method::GET,
            "/health",
            None,
            None,
            &[("origin", "https://portal.example")],
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://portal.example")
    );
    assert!(
        r.header("access-control-expose-headers")
            .is_some_and(|h| h.contains("x-request-id"))
    );
    assert!(r.header("access-control-allow-credentials").is_none());

    let evil = app
        .call_with(
            Method::GET,
            "/health",
            None,
            None,
            &[("origin", "https://evil.example")],
        )
        .await;
    let p = evil.expect_problem(403);
    assert_eq!(p["title"], "Forbidden");
    assert!(evil.header("access-control-allow-origin").is_none());
}

/// The newest of our migrations (the one a deploy that skipped `migrate` lacks).
fn latest_migration() -> i64 {
    launchpad_domain::db::MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .max()
        .expect("at least one migration")
}

#[tokio::test]
async fn ready_is_503_while_a_migration_is_pending_and_200_once_applied() {
    let app = TestApp::spawn().await;
    app.call(Method::GET, "/ready", None, None)
        .await
        .expect(200);
    let version = latest_migration();
    let pool = &app.db.pool;

    // As if the newest migration had not been applied: its row is missing.
    sqlx::query(
        "CREATE TABLE lp_test_migration_backup AS SELECT * FROM _sqlx_migrations WHERE version = $1",
    )
    .bind(version)
    .execute(pool)
    .await
    .unwrap();
    let deleted = sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(version)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(
        deleted, 1,
        "migration {version} was applied in the template"
    );
    let r = app.call(Method::GET, "/ready", None, None).await;
    assert_not_ready(&r);
    assert_eq!(
        r.body["detail"],
        "migrations are pending: run `launchpad-api migrate`"
    );
    // Liveness does not depend on it.
    app.call(Method::GET, "/health", None, None)
        .await
        .expect(200);

    // Back in place: ready again.
    sqlx::query("INSERT INTO _sqlx_migrations SELECT * FROM lp_test_migration_backup")
        .execute(pool)
        .await
        .unwrap();
    app.call(Method::GET, "/ready", None, None)
        .await
        .expect(200);

    // A migration that failed half-way (success = false) is not applied either.
    sqlx::query("UPDATE _sqlx_migrations SET success = false WHERE version = $1")
        .bind(version)
        .execute(pool)
        .await
        .unwrap();
    let r = app.call(Method::GET, "/ready", None, None).await;
    assert_not_ready(&r);
    assert_eq!(
        r.body["detail"],
        "migrations are pending: run `launchpad-api migrate`"
    );

    // Rows of migrations this build does not know (a newer replica migrated
    // first) do not make it unready.
    sqlx::query("UPDATE _sqlx_migrations SET success = true WHERE version = $1")
        .bind(version)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99991231000000, 'from a newer release', true, '\\x00', 0)",
    )
    .execute(pool)
    .await
    .unwrap();
    app.call(Method::GET, "/ready", None, None)
        .await
        .expect(200);
}

/// The headers every response carries, whatever produced it.
#[track_caller]
fn assert_security_headers(what: &str, r: &Resp) {
    for (name, want) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        assert_eq!(
            r.header(name),
            Some(want),
            "{what} ({}): {name} missing or wrong; headers {:?}",
            r.status,
            r.headers
        );
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 128).await;
    let t = app.admin().await.access;
    let cases = [
        ("health", app.call(Method::GET, "/health", None, None).await),
        ("ready", app.call(Method::GET, "/ready", None, None).await),
        ("me", app.get("/api/v1/me", &t).await),
        (
            "unauthenticated",
            app.call(Method::GET, "/api/v1/me", None, None).await,
        ),
        (
            "unmatched route",
            app.call(Method::GET, "/no/such/route", None, None).await,
        ),
        (
            "validation error",
            app.post("/api/v1/customers", &t, &serde_json::json!({"name": ""}))
                .await,
        ),
        (
            "oversize body",
            app.send_raw(
                Method::POST,
                "/api/v1/auth/login",
                None,
                &[("content-type", "application/json")],
                vec![b' '; 300],
            )
            .await,
        ),
        (
            "spec",
            app.call(Method::GET, "/openapi.json", None, None).await,
        ),
        ("docs", app.call(Method::GET, "/docs", None, None).await),
    ];
    let statuses: Vec<u16> = cases.iter().map(|(_, r)| r.status.as_u16()).collect();
    assert_eq!(statuses, [200, 200, 200, 401, 404, 400, 413, 200, 200]);
    for (what, r) in &cases {
        assert_security_headers(what, r);
    }
    // API answers (data and problems) are never cached.
    for (what, r) in &cases[..7] {
        assert_eq!(
            r.header("cache-control"),
            Some("no-store"),
            "{what}: {:?}",
            r.headers
        );
    }
}
