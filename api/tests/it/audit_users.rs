//! The audit trail of user management over HTTP: role and grant changes,
//! profile updates and deletions record who did what, with before/after.

use serde_json::{Value, json};
use test_support::{TestApp, Tokens, app::ADMIN_EMAIL};

/// Every audit row with `action` for `target_id`, oldest first, as JSON objects.
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

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[track_caller]
fn assert_actor(row: &Value, admin: &Tokens) {
    assert_eq!(row["actor_id"], admin.user_id.as_str(), "{row}");
    assert_eq!(row["actor_email"], ADMIN_EMAIL, "{row}");
    assert_eq!(row["target_type"], "user", "{row}");
}

#[tokio::test]
async fn admin_role_and_grant_change_is_audited_with_before_and_after() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
    let globex = app.create_customer(&admin, "globex").await;
    let member = app
        .user(
            &admin,
            "member@acme.example",
            &["customer_member"],
            &[&acme],
        )
        .await;
    let path = format!("/api/v1/users/{}", member.user_id);

    let r = app
        .patch(
            &path,
            &admin.access,
            &json!({"roles": ["customer_exec"], "customer_ids": [acme, globex]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["roles"], json!(["customer_exec"]));
    let mut want = vec![acme.clone(), globex.clone()];
    want.sort();
    assert_eq!(sorted(&r.body["customer_ids"]), want);

    let rows = audit_rows(&app, "user.grants_changed", &member.user_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_actor(row, &admin);
    assert_eq!(row["before"]["roles"], json!(["customer_member"]), "{row}");
    assert_eq!(sorted(&row["before"]["customer_ids"]), vec![acme.clone()]);
    assert_eq!(row["after"]["roles"], json!(["customer_exec"]), "{row}");
    assert_eq!(sorted(&row["after"]["customer_ids"]), want);
    assert_eq!(row["before"]["email"], "member@acme.example");
    // A role change is not also recorded as a plain update.
    assert!(
        audit_rows(&app, "user.updated", &member.user_id)
            .await
            .is_empty()
    );

    // The change took effect: the user's next login carries the new role.
    let again = app
        .tokens("member@acme.example", "user-password-1234")
        .await;
    let me = app.get("/api/v1/me", &again.access).await;
    me.expect(200);
    assert_eq!(me.body["roles"], json!(["customer_exec"]), "{}", me.text);

    // A profile-only change is a `user.updated` row with the old and new name.
    let r = app
        .patch(&path, &admin.access, &json!({"name": "Renamed Member"}))
        .await;
    r.expect(200);
    let rows = audit_rows(&app, "user.updated", &member.user_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_actor(&rows[0], &admin);
    assert_eq!(rows[0]["before"]["name"], "member", "{}", rows[0]);
    assert_eq!(rows[0]["after"]["name"], "Renamed Member", "{}", rows[0]);
    // Roles are unchanged by it, and still audited as they are.
    assert_eq!(rows[0]["after"]["roles"], json!(["customer_exec"]));

    // Snapshots never carry secrets.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'user.%'
               AND (coalesce(before::text, '') ~* 'argon2|password'
                 OR coalesce(after::text, '') ~* 'argon2|password')"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_refused_role_change_writes_no_audit_row() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
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
    // A customer_exec cannot make anyone an admin.
    let r = app
        .patch(
            &format!("/api/v1/users/{}", member.user_id),
            &exec.access,
            &json!({"roles": ["admin"]}),
        )
        .await;
    r.expect_problem(403);
    assert!(
        audit_rows(&app, "user.grants_changed", &member.user_id)
            .await
            .is_empty()
    );
    let roles: Vec<String> = sqlx::query_scalar("SELECT unnest(roles) FROM users WHERE email = $1")
        .bind("member@acme.example")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(roles, vec!["customer_member".to_string()]);
}

#[tokio::test]
async fn admin_deletes_a_user_and_the_deletion_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
    let member = app
        .user(&admin, "gone@acme.example", &["customer_member"], &[&acme])
        .await;
    let path = format!("/api/v1/users/{}", member.user_id);
    // A job they requested and a message to them: both outlive the user,
    // who is forgotten in them (their columns have no foreign key; a
    // trigger on users does what ON DELETE SET NULL did).
    let job_id = uuid::Uuid::now_v7();
    let member_uuid: uuid::Uuid = member.user_id.parse().unwrap();
    let acme_uuid: uuid::Uuid = acme.parse().unwrap();
    sqlx::query("INSERT INTO jobs (id, customer_id, kind, payload, max_attempts, requested_by) VALUES ($1, $2, 'diagnostic', '{}', 1, $3)")
        .bind(job_id)
        .bind(acme_uuid)
        .bind(member_uuid)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let content = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO email_contents (id, customer_id, subject, body_text, body_html) VALUES ($1, $2, 's', 't', 'h')")
        .bind(content)
        .bind(acme_uuid)
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO email_outbox (id, content_id, customer_id, template, user_id, to_address, message_id)
         VALUES ($1, $1, $2, 'event_invite', $3, 'gone@acme.example', '<x@launchpad.local>')",
    )
    .bind(content)
    .bind(acme_uuid)
    .bind(member_uuid)
    .execute(&app.db.pool)
    .await
    .unwrap();

    let r = app.delete(&path, &admin.access).await;
    r.expect(204);
    app.get(&path, &admin.access).await.expect_problem(404);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM jobs WHERE id = '{job_id}' AND requested_by IS NULL"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE user_id IS NULL")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE email = 'gone@acme.example'")
            .await,
        0
    );
    // The deleted user can no longer log in.
    app.login("gone@acme.example", "user-password-1234")
        .await
        .expect_problem(401);

    let rows = audit_rows(&app, "user.deleted", &member.user_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_actor(row, &admin);
    assert_eq!(row["before"]["id"], member.user_id.as_str(), "{row}");
    assert_eq!(row["before"]["email"], "gone@acme.example", "{row}");
    assert_eq!(row["before"]["roles"], json!(["customer_member"]), "{row}");
    assert_eq!(sorted(&row["before"]["customer_ids"]), vec![acme]);
    assert!(row["after"].is_null(), "{row}");

    // Deleting again is a 404 and is not audited twice.
    app.delete(&path, &admin.access).await.expect_problem(404);
    assert_eq!(
        audit_rows(&app, "user.deleted", &member.user_id)
            .await
            .len(),
        1
    );

    // An admin cannot delete themself; nothing is recorded for it.
    let r = app
        .delete(&format!("/api/v1/users/{}", admin.user_id), &admin.access)
        .await;
    r.expect_problem(409);
    assert!(
        audit_rows(&app, "user.deleted", &admin.user_id)
            .await
            .is_empty()
    );
}
