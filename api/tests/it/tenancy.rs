//! Tenant isolation: another customer's rows are indistinguishable from rows
//! that do not exist, and stay untouched.

use serde_json::Value;
use test_support::{TestApp, app::json};

/// The problem without the per-request members.
fn shape(body: &Value) -> Value {
    let mut b = body.clone();
    let o = b.as_object_mut().expect("a problem object");
    o.remove("request_id");
    o.remove("instance");
    b
}

struct World {
    app: TestApp,
    exec_a: test_support::Tokens,
    b: String,
    user_b: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let a = app.create_customer(&admin, "a").await;
    let b = app.create_customer(&admin, "b").await;
    let exec_a = app
        .user(&admin, "exec@a.test", &["customer_exec"], &[&a])
        .await;
    let user_b = app
        .user(&admin, "member@b.test", &["customer_member"], &[&b])
        .await
        .user_id;
    World {
        app,
        exec_a,
        b,
        user_b,
    }
}

#[tokio::test]
async fn other_customer_is_404_like_a_missing_one_and_unchanged() {
    let World { app, exec_a, b, .. } = world().await;
    let t = &exec_a.access;
    let missing = uuid::Uuid::now_v7();
    let row = |app: &TestApp| {
        let b = b.clone();
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, String, chrono::DateTime<chrono::Utc>)>(
                "SELECT name, time_zone, updated_at FROM customers WHERE id = $1::uuid",
            )
            .bind(b)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let before = row(&app).await;

    let get_b = app.get(&format!("/api/v1/customers/{b}"), t).await;
    let get_missing = app.get(&format!("/api/v1/customers/{missing}"), t).await;
    get_b.expect_problem(404);
    get_missing.expect_problem(404);
    assert_eq!(shape(&get_b.body), shape(&get_missing.body));
    assert_eq!(get_b.body["instance"], format!("/api/v1/customers/{b}"));

    let patch = json!({"name": "Hijacked", "time_zone": "Asia/Tokyo"});
    let patch_b = app
        .patch(&format!("/api/v1/customers/{b}"), t, &patch)
        .await;
    let patch_missing = app
        .patch(&format!("/api/v1/customers/{missing}"), t, &patch)
        .await;
    patch_b.expect_problem(404);
    patch_missing.expect_problem(404);
    assert_eq!(shape(&patch_b.body), shape(&patch_missing.body));
    assert_eq!(shape(&patch_b.body), shape(&get_b.body));

    let del_b = app.delete(&format!("/api/v1/customers/{b}"), t).await;
    let del_missing = app.delete(&format!("/api/v1/customers/{missing}"), t).await;
    del_b.expect_problem(404);
    del_missing.expect_problem(404);
    assert_eq!(shape(&del_b.body), shape(&del_missing.body));
    assert_eq!(shape(&del_b.body), shape(&get_b.body));

    assert_eq!(row(&app).await, before);
    // Not even a trace in the audit log.
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM audit_log WHERE target_id = '{b}' AND action <> 'customer.created'"))
            .await,
        0
    );

    // And B is not listed.
    let list = app.get("/api/v1/customers", t).await;
    list.expect(200);
    let slugs: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["a"]);
}

#[tokio::test]
async fn other_customers_user_is_404_like_a_missing_one_and_unchanged() {
    let World {
        app,
        exec_a,
        user_b,
        ..
    } = world().await;
    let t = &exec_a.access;
    let missing = uuid::Uuid::now_v7();
    let row = |app: &TestApp| {
        let id = user_b.clone();
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, Vec<String>, bool, String, chrono::DateTime<chrono::Utc>)>(
                "SELECT name, roles, disabled, password_hash, updated_at FROM users WHERE id = $1::uuid",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let before = row(&app).await;

    let get_b = app.get(&format!("/api/v1/users/{user_b}"), t).await;
    let get_missing = app.get(&format!("/api/v1/users/{missing}"), t).await;
    get_b.expect_problem(404);
    get_missing.expect_problem(404);
    assert_eq!(shape(&get_b.body), shape(&get_missing.body));

    let patch = json!({"name": "Hijacked", "disabled": true, "password": "attacker-password-1"});
    let patch_b = app
        .patch(&format!("/api/v1/users/{user_b}"), t, &patch)
        .await;
    let patch_missing = app
        .patch(&format!("/api/v1/users/{missing}"), t, &patch)
        .await;
    patch_b.expect_problem(404);
    patch_missing.expect_problem(404);
    assert_eq!(shape(&patch_b.body), shape(&patch_missing.body));

    let del_b = app.delete(&format!("/api/v1/users/{user_b}"), t).await;
    let del_missing = app.delete(&format!("/api/v1/users/{missing}"), t).await;
    del_b.expect_problem(404);
    del_missing.expect_problem(404);
    assert_eq!(shape(&del_b.body), shape(&del_missing.body));

    assert_eq!(row(&app).await, before);
    // B's member still logs in and keeps their session.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = '{user_b}' AND revoked_at IS NULL"
        ))
        .await,
        1
    );

    let list = app.get("/api/v1/users", t).await;
    list.expect(200);
    assert!(
        list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["id"] != user_b.as_str()),
        "{}",
        list.text
    );
}
