//! Role checks: what each role may create, answered with 403 problems.

use test_support::{TestApp, app::json};

fn new_user(email: &str, roles: &[&str], customers: &[&str]) -> serde_json::Value {
    json!({"email": email, "name": "New User", "password": "a-long-password-1", "roles": roles, "customer_ids": customers})
}

#[tokio::test]
async fn customer_member_cannot_create_users_or_customers() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let a = app.create_customer(&admin, "a").await;
    let member = app
        .user(&admin, "member@a.test", &["customer_member"], &[&a])
        .await;
    let users = app.count("SELECT count(*) FROM users").await;
    let customers = app.count("SELECT count(*) FROM customers").await;

    let r = app
        .post(
            "/api/v1/users",
            &member.access,
            &new_user("x@a.test", &["customer_member"], &[&a]),
        )
        .await;
    let p = r.expect_problem(403);
    assert_eq!(p["title"], "Forbidden");
    assert!(p["type"].as_str().unwrap().ends_with("/forbidden"));

    let r = app
        .post(
            "/api/v1/customers",
            &member.access,
            &json!({"name": "Evil", "slug": "evil"}),
        )
        .await;
    r.expect_problem(403);

    // Nor manage their own customer.
    let r = app
        .patch(
            &format!("/api/v1/customers/{a}"),
            &member.access,
            &json!({"name": "Renamed"}),
        )
        .await;
    r.expect_problem(403);

    assert_eq!(app.count("SELECT count(*) FROM users").await, users);
    assert_eq!(app.count("SELECT count(*) FROM customers").await, customers);
    assert_eq!(
        app.count("SELECT count(*) FROM customers WHERE name = 'Renamed'")
            .await,
        0
    );
}

#[tokio::test]
async fn customer_exec_creates_members_in_own_customer_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let a = app.create_customer(&admin, "a").await;
    let b = app.create_customer(&admin, "b").await;
    let exec = app
        .user(&admin, "exec@a.test", &["customer_exec"], &[&a])
        .await;

    let r = app
        .post(
            "/api/v1/users",
            &exec.access,
            &new_user("m@a.test", &["customer_member"], &[&a]),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["roles"], json!(["customer_member"]));
    assert_eq!(r.body["customer_ids"], json!([a]));
    assert!(r.body.get("password").is_none() && !r.text.contains("password_hash"));
    let created = r.body["id"].as_str().unwrap().to_string();
    let grants = app
        .count(&format!(
            "SELECT count(*) FROM user_customers WHERE user_id = '{created}' AND customer_id = '{a}'"
        ))
        .await;
    assert_eq!(grants, 1);
    let audited = app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'user.created' AND target_id = '{created}' AND actor_id = '{}'",
            exec.user_id
        ))
        .await;
    assert_eq!(audited, 1);

    let users = app.count("SELECT count(*) FROM users").await;
    // Another customer.
    let r = app
        .post(
            "/api/v1/users",
            &exec.access,
            &new_user("m@b.test", &["customer_member"], &[&b]),
        )
        .await;
    r.expect_problem(403);
    // Own and another customer at once.
    let r = app
        .post(
            "/api/v1/users",
            &exec.access,
            &new_user("m2@b.test", &["customer_member"], &[&a, &b]),
        )
        .await;
    r.expect_problem(403);
    // Platform roles, even in the own customer.
    for role in ["admin", "internal"] {
        let r = app
            .post(
                "/api/v1/users",
                &exec.access,
                &new_user(&format!("{role}@a.test"), &[role], &[&a]),
            )
            .await;
        r.expect_problem(403);
    }
    // Escalating an existing member to admin.
    let r = app
        .patch(
            &format!("/api/v1/users/{created}"),
            &exec.access,
            &json!({"roles": ["admin"]}),
        )
        .await;
    r.expect_problem(403);
    assert_eq!(app.count("SELECT count(*) FROM users").await, users);
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE 'admin' = ANY(roles)")
            .await,
        1
    );

    // Nor may an exec create customers.
    app.post(
        "/api/v1/customers",
        &exec.access,
        &json!({"name": "C", "slug": "c"}),
    )
    .await
    .expect_problem(403);
}
