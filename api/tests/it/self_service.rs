//! Account safety: nobody demotes or disables themselves, no change leaves the
//! platform without an enabled admin (or a customer without its enabled
//! customer_exec), one's own password changes only with the current one, and
//! audit rows carry the request id and client IP.

use reqwest::Method;
use serde_json::{Value, json};
use test_support::{
    TestApp, Tokens,
    app::{ADMIN_EMAIL, ADMIN_PASSWORD},
};

const USER_PASSWORD: &str = "user-password-1234";

fn user_path(t: &Tokens) -> String {
    format!("/api/v1/users/{}", t.user_id)
}

#[track_caller]
fn assert_code(r: &test_support::app::Resp, status: u16, code: &str) {
    let body = r.expect_problem(status);
    assert_eq!(body["code"], code, "{}", r.text);
}

async fn roles_of(app: &TestApp, email: &str) -> (Vec<String>, bool) {
    sqlx::query_as("SELECT roles, disabled FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn audit_rows(app: &TestApp, action: &str, target_id: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT to_jsonb(a) FROM audit_log a WHERE action = $1 AND target_id = $2 ORDER BY id",
    )
    .bind(action)
    .bind(target_id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn nobody_changes_their_own_roles_grants_disabled_flag_or_password_by_patch() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
    let globex = app.create_customer(&admin, "globex").await;
    // A second admin and exec, so that the last-admin rule is not what refuses.
    app.user(&admin, "admin2@launchpad.test", &["admin"], &[])
        .await;
    let exec = app
        .user(&admin, "exec@acme.example", &["customer_exec"], &[&acme])
        .await;
    app.user(&admin, "exec2@acme.example", &["customer_exec"], &[&acme])
        .await;

    let me = user_path(&admin);
    for (body, code) in [
        (json!({"roles": ["internal"]}), "cannot_change_own_grants"),
        (
            json!({"roles": ["admin", "internal"]}),
            "cannot_change_own_grants",
        ),
        (json!({"customer_ids": [acme]}), "cannot_change_own_grants"),
        (json!({"disabled": true}), "cannot_disable_self"),
        (
            json!({"password": "a-brand-new-password"}),
            "own_password_needs_current",
        ),
    ] {
        let r = app.patch(&me, &admin.access, &body).await;
        assert_code(&r, 409, code);
    }
    assert_eq!(
        roles_of(&app, ADMIN_EMAIL).await,
        (vec!["admin".to_string()], false)
    );
    // The old password still works; the refused one does not.
    app.login(ADMIN_EMAIL, "a-brand-new-password")
        .await
        .expect_problem(401);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect(200);
    // A profile edit is fine, also with the unchanged roles and flag echoed.
    let r = app
        .patch(
            &me,
            &admin.access,
            &json!({"name": "Root", "roles": ["admin"], "disabled": false}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["name"], "Root");

    // A customer_exec: the same for their own account.
    let mine = user_path(&exec);
    for (body, code) in [
        (
            json!({"roles": ["customer_member"]}),
            "cannot_change_own_grants",
        ),
        (
            json!({"customer_ids": [acme, globex]}),
            "cannot_change_own_grants",
        ),
        (json!({"disabled": true}), "cannot_disable_self"),
        (
            json!({"password": "a-brand-new-password"}),
            "own_password_needs_current",
        ),
    ] {
        let r = app.patch(&mine, &exec.access, &body).await;
        assert_code(&r, 409, code);
    }
    assert_eq!(
        roles_of(&app, "exec@acme.example").await,
        (vec!["customer_exec".to_string()], false)
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_log WHERE target_id IN ('{}', '{}')
               AND action LIKE 'user.%'
               AND action NOT IN ('user.bootstrapped', 'user.created', 'user.updated')",
            admin.user_id, exec.user_id
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn no_change_by_anyone_leaves_the_platform_without_an_enabled_admin() {
    let app = TestApp::spawn().await;
    let a = app.admin().await;
    let b = app.user(&a, "b@launchpad.test", &["admin"], &[]).await;

    // Two admins: one may disable the other.
    app.patch(&user_path(&a), &b.access, &json!({"disabled": true}))
        .await
        .expect(200);
    // `a` is disabled but its access token is still valid for a while, and
    // still says admin: B is now the last enabled admin, whoever asks.
    for body in [
        json!({"roles": ["internal"]}),
        json!({"disabled": true}),
        json!({"roles": ["customer_exec"], "customer_ids": []}),
    ] {
        let r = app.patch(&user_path(&b), &a.access, &body).await;
        assert_code(&r, 409, "last_admin");
    }
    let r = app.delete(&user_path(&b), &a.access).await;
    assert_code(&r, 409, "last_admin");
    assert_eq!(
        roles_of(&app, "b@launchpad.test").await,
        (vec!["admin".to_string()], false)
    );

    // Demoting or deleting a disabled admin leaves the enabled one: fine.
    app.patch(&user_path(&a), &b.access, &json!({"roles": ["internal"]}))
        .await
        .expect(200);
    // Re-enabled as admin, `a` may demote `b`, who then can no longer
    // demote `a`, the last admin.
    app.patch(
        &user_path(&a),
        &b.access,
        &json!({"roles": ["admin"], "disabled": false}),
    )
    .await
    .expect(200);
    let a = app.admin().await;
    app.patch(&user_path(&b), &a.access, &json!({"roles": ["internal"]}))
        .await
        .expect(200);
    let r = app
        .patch(&user_path(&a), &b.access, &json!({"disabled": true}))
        .await;
    // `b`'s token still says admin; the rule holds for stale tokens too.
    assert_code(&r, 409, "last_admin");
    assert_eq!(
        roles_of(&app, ADMIN_EMAIL).await,
        (vec!["admin".to_string()], false)
    );
}

#[tokio::test]
async fn a_customer_keeps_an_enabled_customer_exec_where_it_had_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
    let globex = app.create_customer(&admin, "globex").await;
    let exec = app
        .user(&admin, "exec@acme.example", &["customer_exec"], &[&acme])
        .await;
    let member = app
        .user(
            &admin,
            "member@acme.example",
            &["customer_member"],
            &[&acme],
        )
        .await;
    // globex never had a customer_exec: its member can change freely.
    let g = app
        .user(
            &admin,
            "member@globex.example",
            &["customer_member"],
            &[&globex],
        )
        .await;
    app.patch(&user_path(&g), &admin.access, &json!({"disabled": true}))
        .await
        .expect(200);

    // The only exec of acme: no demotion, disabling, removal from acme or deletion.
    for body in [
        json!({"roles": ["customer_member"]}),
        json!({"disabled": true}),
        json!({"customer_ids": [globex]}),
    ] {
        let r = app.patch(&user_path(&exec), &admin.access, &body).await;
        assert_code(&r, 409, "last_customer_exec");
        assert!(r.text.contains(&acme), "{}", r.text);
    }
    let r = app.delete(&user_path(&exec), &admin.access).await;
    assert_code(&r, 409, "last_customer_exec");
    assert_eq!(
        roles_of(&app, "exec@acme.example").await,
        (vec!["customer_exec".to_string()], false)
    );

    // Once the exec promoted the member, either may step back: the other stays.
    app.patch(
        &user_path(&member),
        &exec.access,
        &json!({"roles": ["customer_exec"]}),
    )
    .await
    .expect(200);
    let member = app.tokens("member@acme.example", USER_PASSWORD).await;
    app.patch(
        &user_path(&exec),
        &member.access,
        &json!({"roles": ["customer_member"]}),
    )
    .await
    .expect(200);
    // Now `member` is acme's last exec (the other's token still says exec).
    let r = app
        .patch(
            &user_path(&member),
            &exec.access,
            &json!({"disabled": true}),
        )
        .await;
    assert_code(&r, 409, "last_customer_exec");
    let r = app.delete(&user_path(&member), &admin.access).await;
    assert_code(&r, 409, "last_customer_exec");
    assert_eq!(
        roles_of(&app, "member@acme.example").await,
        (vec!["customer_exec".to_string()], false)
    );
}

#[tokio::test]
async fn own_password_change_needs_the_current_one_and_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
    let user = app
        .user(&admin, "m@acme.example", &["customer_member"], &[&acme])
        .await;
    let other_session = app.tokens("m@acme.example", USER_PASSWORD).await;

    // Without the right current password nothing changes.
    let r = app
        .post(
            "/api/v1/me/password",
            &user.access,
            &json!({"current_password": "not-my-password-1", "new_password": "my-new-password-99"}),
        )
        .await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), vec!["/current_password"], "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/password",
            &user.access,
            &json!({"new_password": "my-new-password-99"}),
        )
        .await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), vec!["/current_password"], "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/password",
            &user.access,
            &json!({"current_password": USER_PASSWORD, "new_password": "short"}),
        )
        .await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), vec!["/new_password"], "{}", r.text);
    app.tokens("m@acme.example", USER_PASSWORD).await;
    let failed = audit_rows(&app, "auth.password_change_failed", &user.user_id).await;
    assert_eq!(failed.len(), 1, "{failed:?}");

    // With it: changed, every refresh token of the user revoked, audited.
    let r = app
        .call_with(
            Method::POST,
            "/api/v1/me/password",
            Some(&user.access),
            Some(&json!({"current_password": USER_PASSWORD, "new_password": "my-new-password-99"})),
            &[("x-request-id", "pw-change-1")],
        )
        .await;
    r.expect(204);
    app.login("m@acme.example", USER_PASSWORD)
        .await
        .expect_problem(401);
    app.tokens("m@acme.example", "my-new-password-99").await;
    for t in [&user, &other_session] {
        let r = app
            .call(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(&json!({"refresh_token": t.refresh})),
            )
            .await;
        r.expect_problem(401);
    }
    let rows = audit_rows(&app, "user.password_changed", &user.user_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["actor_id"], user.user_id.as_str());
    assert_eq!(rows[0]["after"]["by"], "self");
    // Three logins: `user`, `other_session` and the check above.
    assert_eq!(rows[0]["after"]["refresh_tokens_revoked"], 3);
    assert_eq!(rows[0]["request_id"], "pw-change-1");
    assert_eq!(rows[0]["ip"], "127.0.0.1");
}

#[tokio::test]
async fn own_password_change_is_rate_limited_like_login() {
    let app = TestApp::spawn_with(|s| s.login_attempts_per_15_min = 3).await;
    let admin = app.admin().await;
    let wrong =
        json!({"current_password": "wrong-password-000", "new_password": "my-new-password-99"});
    for _ in 0..3 {
        app.post("/api/v1/me/password", &admin.access, &wrong)
            .await
            .expect_problem(400);
    }
    let r = app.post("/api/v1/me/password", &admin.access, &wrong).await;
    r.expect_problem(429);
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    // Even the right password waits now.
    let r = app
        .post(
            "/api/v1/me/password",
            &admin.access,
            &json!({"current_password": ADMIN_PASSWORD, "new_password": "my-new-password-99"}),
        )
        .await;
    r.expect_problem(429);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect(200);
}

#[tokio::test]
async fn an_admin_setting_another_users_password_revokes_their_refresh_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
    let user = app
        .user(&admin, "m@acme.example", &["customer_member"], &[&acme])
        .await;
    let r = app
        .patch(
            &user_path(&user),
            &admin.access,
            &json!({"password": "set-by-the-admin-1"}),
        )
        .await;
    r.expect(200);
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": user.refresh})),
        )
        .await;
    r.expect_problem(401);
    app.tokens("m@acme.example", "set-by-the-admin-1").await;
    let rows = audit_rows(&app, "user.password_changed", &user.user_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["actor_id"], admin.user_id.as_str());
    assert_eq!(rows[0]["after"]["by"], "other");
    assert_eq!(rows[0]["after"]["refresh_tokens_revoked"], 1);
    // The password is all that changed: no `user.updated` row.
    assert!(
        audit_rows(&app, "user.updated", &user.user_id)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn audit_rows_of_a_grant_change_carry_the_request_id_and_client_ip() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
    let member = app
        .user(
            &admin,
            "member@acme.example",
            &["customer_member"],
            &[&acme],
        )
        .await;
    let r = app
        .call_with(
            Method::PATCH,
            &user_path(&member),
            Some(&admin.access),
            Some(&json!({"roles": ["customer_exec"]})),
            &[("x-request-id", "grant-change-42")],
        )
        .await;
    r.expect(200);
    let rows = audit_rows(&app, "user.grants_changed", &member.user_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["request_id"], "grant-change-42", "{}", rows[0]);
    assert_eq!(rows[0]["ip"], "127.0.0.1", "{}", rows[0]);

    // Every audit row of this test's requests has both (a generated id
    // where the client sent none): two logins, a customer, a user, the change.
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action <> 'user.bootstrapped'")
            .await,
        5
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action <> 'user.bootstrapped'
               AND (request_id IS NULL OR ip IS DISTINCT FROM '127.0.0.1')"
        )
        .await,
        0
    );
}
