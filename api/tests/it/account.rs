//! Account e-mails over HTTP: password resets, invitations and address
//! verification. The tokens are read from the e-mails the API wrote to the
//! outbox (their delivery and MIME are the worker's e2e tests).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use test_support::{TestApp, Tokens, app::Resp, eventually};

const PASSWORD: &str = "user-password-1234";
const NEW_PASSWORD: &str = "a brand new password 42";

#[track_caller]
fn assert_code(r: &Resp, status: u16, code: &str) {
    let body = r.expect_problem(status);
    assert_eq!(body["code"], code, "{}", r.text);
}

#[track_caller]
fn assert_token_problem(r: &Resp, code: &str) {
    assert_code(r, 400, code);
    assert_eq!(r.pointers(), ["/token"], "{}", r.text);
}

async fn anon(app: &TestApp, path: &str, body: Value) -> Resp {
    app.call(Method::POST, path, None, Some(&body)).await
}

/// The token in the link of the newest `template` e-mail to `address`.
async fn token_in_mail(app: &TestApp, address: &str, template: &str) -> Option<String> {
    let text: Option<String> = sqlx::query_scalar(
        "SELECT c.body_text FROM email_outbox o JOIN email_contents c ON c.id = o.content_id
         WHERE lower(o.to_address) = lower($1) AND o.template = $2 ORDER BY o.seq DESC LIMIT 1",
    )
    .bind(address)
    .bind(template)
    .fetch_optional(&app.db.pool)
    .await
    .unwrap();
    let text = text?;
    let at = text.find("?token=")? + "?token=".len();
    Some(
        text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect(),
    )
}

async fn mails_to(app: &TestApp, address: &str, template: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM email_outbox WHERE lower(to_address) = lower($1) AND template = $2",
    )
    .bind(address)
    .bind(template)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn wait_token(app: &TestApp, address: &str, template: &str, n: i64) -> String {
    eventually(
        Duration::from_secs(10),
        &format!("{template} e-mail #{n} to {address}"),
        || async {
            if mails_to(app, address, template).await < n {
                return None;
            }
            token_in_mail(app, address, template).await
        },
    )
    .await
}

async fn audit(app: &TestApp, action: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT to_jsonb(a) FROM audit_log a WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

async fn reset(app: &TestApp, email: &str) -> Resp {
    anon(app, "/api/v1/auth/password-reset", json!({"email": email})).await
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> Resp {
    anon(
        app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "new_password": password}),
    )
    .await
}

/// The answer without what differs per request (its id, the date).
fn comparable(r: &Resp) -> (u16, Vec<(String, String)>, String) {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "x-request-id" | "date"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    headers.sort();
    (r.status.as_u16(), headers, r.text.clone())
}

#[tokio::test]
async fn password_reset_answers_an_unknown_address_exactly_like_a_known_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.user(&admin, "known@example.org", &["admin"], &[]).await;

    let known = reset(&app, "known@example.org").await;
    let unknown = reset(&app, "nobody@example.org").await;
    known.expect(202);
    assert_eq!(comparable(&known), comparable(&unknown));
    assert!(known.text.is_empty(), "{}", known.text);
    // Same answer for a different spelling of the known address.
    assert_eq!(
        comparable(&reset(&app, "  KNOWN@Example.org ").await),
        comparable(&unknown)
    );

    // Only the known address gets an e-mail; both requests are audited.
    wait_token(&app, "known@example.org", "account_password_reset", 2).await;
    assert_eq!(
        mails_to(&app, "nobody@example.org", "account_password_reset").await,
        0
    );
    let rows = eventually(Duration::from_secs(10), "3 audit rows", || async {
        let rows = audit(&app, "auth.password_reset_requested").await;
        (rows.len() == 3).then_some(rows)
    })
    .await;
    let outcomes: Vec<&str> = rows
        .iter()
        .map(|r| r["after"]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "unknown_email").count(),
        1
    );
    assert_eq!(outcomes.iter().filter(|o| **o == "sent").count(), 2);
    // Each audit row carries its request's id and client address.
    assert!(
        rows.iter()
            .all(|r| r["request_id"].is_string() && r["ip"].is_string())
    );
    // The second request revoked the first link: one live token.
    let live: i64 = app
        .count(
            "SELECT count(*) FROM account_tokens WHERE purpose = 'password_reset'
             AND used_at IS NULL AND revoked_at IS NULL",
        )
        .await;
    assert_eq!(live, 1);

    // A malformed address is a 400 whoever asks (it says nothing of accounts).
    let bad = reset(&app, "not an address").await;
    assert_code(&bad, 400, "validation_failed");
    assert_eq!(bad.pointers(), ["/email"]);
}

#[tokio::test]
async fn a_reset_link_works_once_expires_and_revokes_every_refresh_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ana = app
        .user(&admin, "ana@example.org", &["customer_member"], &[])
        .await;
    let other_session = app.tokens("ana@example.org", PASSWORD).await;

    reset(&app, "ana@example.org").await.expect(202);
    let token = wait_token(&app, "ana@example.org", "account_password_reset", 1).await;
    assert_eq!(token.len(), 43);
    // The token is stored only as its SHA-256.
    let stored: i64 = app
        .count(&format!(
            "SELECT count(*) FROM account_tokens WHERE token_hash = sha256('{token}'::bytea)
                OR encode(token_hash, 'escape') LIKE '%{token}%'"
        ))
        .await;
    assert_eq!(stored, 0, "the token is not stored as is");
    let expires: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - created_at)::float8 FROM account_tokens
         WHERE purpose = 'password_reset'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(expires, 3600.0);

    // The password rules apply (both fields are checked at once).
    let weak = confirm(&app, "short", "short").await;
    assert_code(&weak, 400, "validation_failed");
    assert_eq!(weak.pointers(), ["/token", "/new_password"]);

    confirm(&app, &token, NEW_PASSWORD).await.expect(204);
    // Every refresh token of the user is revoked.
    for t in [&ana, &other_session] {
        let r = anon(
            &app,
            "/api/v1/auth/refresh",
            json!({"refresh_token": t.refresh}),
        )
        .await;
        assert_code(&r, 401, "unauthorized");
    }
    app.login("ana@example.org", PASSWORD).await.expect(401);
    app.login("ana@example.org", NEW_PASSWORD).await.expect(200);
    let rows = audit(&app, "user.password_reset").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["target_id"], ana.user_id);
    assert_eq!(rows[0]["after"]["refresh_tokens_revoked"], 2);

    // Used: a second use changes nothing.
    assert_token_problem(
        &confirm(&app, &token, "yet another password 7").await,
        "token_used",
    );
    app.login("ana@example.org", NEW_PASSWORD).await.expect(200);

    // Expired: set the expiry to the past.
    reset(&app, "ana@example.org").await.expect(202);
    let token2 = wait_token(&app, "ana@example.org", "account_password_reset", 2).await;
    assert_ne!(token, token2);
    sqlx::query(
        "UPDATE account_tokens SET expires_at = now() - interval '1 second'
         WHERE used_at IS NULL AND revoked_at IS NULL",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let live_session = app.tokens("ana@example.org", NEW_PASSWORD).await;
    assert_token_problem(
        &confirm(&app, &token2, "yet another password 7").await,
        "token_expired",
    );
    app.login("ana@example.org", NEW_PASSWORD).await.expect(200);
    let still: i64 = app
        .count(&format!(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = '{}' AND revoked_at IS NULL",
            live_session.user_id
        ))
        .await;
    assert!(still >= 1, "an expired token revoked nothing");
    let unused: i64 = app
        .count("SELECT count(*) FROM account_tokens WHERE purpose = 'password_reset' AND used_at IS NULL AND revoked_at IS NULL")
        .await;
    assert_eq!(unused, 1, "the expired token was not marked used");

    // Unknown and malformed tokens.
    assert_token_problem(
        &confirm(&app, &"A".repeat(43), NEW_PASSWORD).await,
        "token_invalid",
    );
    let malformed = confirm(&app, "not-a-token!", NEW_PASSWORD).await;
    assert_code(&malformed, 400, "validation_failed");
    assert_eq!(malformed.pointers(), ["/token"]);
}

#[tokio::test]
async fn password_resets_are_limited_per_address_and_per_client() {
    let app = TestApp::spawn_with(|s| s.login_attempts_per_15_min = 2).await;
    for _ in 0..2 {
        reset(&app, "limited@example.org").await.expect(202);
    }
    let r = reset(&app, "LIMITED@example.org").await;
    assert_code(&r, 429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Per client: four times the address quota (8 here), across addresses.
    let mut statuses = vec![];
    for i in 0..8 {
        statuses.push(
            reset(&app, &format!("other{i}@example.org"))
                .await
                .status
                .as_u16(),
        );
    }
    // 3 of the client's 8 were used above.
    assert_eq!(statuses, [202, 202, 202, 202, 202, 429, 429, 429]);
}

#[tokio::test]
async fn an_invited_user_chooses_a_password_with_the_latest_link_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
    let globex = app.create_customer(&admin, "globex").await;
    let exec = app
        .user(&admin, "exec@acme.example", &["customer_exec"], &[&acme])
        .await;
    let other_exec = app
        .user(
            &admin,
            "exec@globex.example",
            &["customer_exec"],
            &[&globex],
        )
        .await;

    // A customer_exec invites a member of their customer: no password.
    let r = app
        .post(
            "/api/v1/users",
            &exec.access,
            &json!({"email": "zoe@acme.example", "name": "Zoë", "roles": ["customer_member"],
                    "customer_ids": [acme]}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["invitation_pending"], true);
    assert!(r.body.get("pending_email").is_none());
    let zoe = r.body["id"].as_str().unwrap().to_string();
    let first = wait_token(&app, "zoe@acme.example", "account_invitation", 1).await;
    let expires: f64 = app
        .count("SELECT extract(epoch FROM expires_at - created_at)::bigint FROM account_tokens WHERE purpose = 'invitation'")
        .await as f64;
    assert_eq!(expires, 7.0 * 86400.0);
    // Nobody can sign in before the invitation is accepted.
    app.login("zoe@acme.example", "").await.expect(401);
    let failed = audit(&app, "auth.login_failed").await;
    assert_eq!(
        failed.last().unwrap()["after"]["reason"],
        "invitation_pending"
    );

    // Re-sending: by the exec of another customer, not found; by the exec, a new link.
    let path = format!("/api/v1/users/{zoe}/invitation");
    let r = app
        .call(Method::POST, &path, Some(&other_exec.access), None)
        .await;
    assert_code(&r, 404, "not_found");
    let r = app
        .call(Method::POST, &path, Some(&exec.access), None)
        .await;
    r.expect(202);
    assert_eq!(r.body["user_id"], zoe);
    assert!(r.body["expires_at"].is_string());
    let second = wait_token(&app, "zoe@acme.example", "account_invitation", 2).await;
    assert_ne!(first, second);

    let accept = |token: String, password: &'static str| {
        let app = &app;
        async move {
            anon(
                app,
                "/api/v1/auth/accept-invitation",
                json!({"token": token, "password": password}),
            )
            .await
        }
    };
    // The first link was revoked by the re-send; nothing changes.
    assert_token_problem(&accept(first.clone(), PASSWORD).await, "token_invalid");
    app.login("zoe@acme.example", PASSWORD).await.expect(401);
    // The password rules apply.
    let short = accept(second.clone(), "short").await;
    assert_code(&short, 400, "validation_failed");
    assert_eq!(short.pointers(), ["/password"]);

    accept(second.clone(), PASSWORD).await.expect(204);
    let zoe_tokens: Tokens = app.tokens("zoe@acme.example", PASSWORD).await;
    assert_eq!(zoe_tokens.user_id, zoe);
    let r = app.get(&format!("/api/v1/users/{zoe}"), &exec.access).await;
    assert_eq!(r.body["invitation_pending"], false);
    assert_eq!(audit(&app, "user.invitation_accepted").await.len(), 1);

    // Used once; no new invitation for a user with a password.
    assert_token_problem(&accept(second, "another password 99").await, "token_used");
    app.login("zoe@acme.example", PASSWORD).await.expect(200);
    let r = app
        .call(Method::POST, &path, Some(&exec.access), None)
        .await;
    assert_code(&r, 409, "invitation_accepted");

    // An expired invitation changes nothing.
    let r = app
        .post(
            "/api/v1/users",
            &admin.access,
            &json!({"email": "late@acme.example", "name": "Late", "roles": ["customer_member"],
                    "customer_ids": [acme]}),
        )
        .await;
    r.expect(201);
    let late = wait_token(&app, "late@acme.example", "account_invitation", 1).await;
    sqlx::query("UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL AND revoked_at IS NULL")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_token_problem(&accept(late, PASSWORD).await, "token_expired");
    app.login("late@acme.example", PASSWORD).await.expect(401);

    // A disabled user gets no new invitation.
    let late_id = r.body["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/users/{late_id}"),
        &admin.access,
        &json!({"disabled": true}),
    )
    .await
    .expect(200);
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/users/{late_id}/invitation"),
            Some(&admin.access),
            None,
        )
        .await;
    assert_code(&r, 409, "user_disabled");
}

#[tokio::test]
async fn a_new_address_takes_effect_only_through_its_link() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
    let exec = app
        .user(&admin, "exec@acme.example", &["customer_exec"], &[&acme])
        .await;
    let bob = app
        .user(&admin, "bob@acme.example", &["customer_member"], &[&acme])
        .await;
    let bob_path = format!("/api/v1/users/{}", bob.user_id);

    // The exec changes Bob's address: pending until the link is used.
    let r = app
        .patch(
            &bob_path,
            &exec.access,
            &json!({"email": "robert@acme.example"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["email"], "bob@acme.example");
    assert_eq!(r.body["pending_email"], "robert@acme.example");
    let token = wait_token(&app, "robert@acme.example", "account_email_verification", 1).await;
    assert_eq!(
        mails_to(&app, "bob@acme.example", "account_email_verification").await,
        0
    );
    app.login("robert@acme.example", PASSWORD).await.expect(401);
    app.login("bob@acme.example", PASSWORD).await.expect(200);

    // A malformed, then the right token.
    let r = anon(&app, "/api/v1/auth/verify-email", json!({"token": "x"})).await;
    assert_code(&r, 400, "validation_failed");
    assert_eq!(r.pointers(), ["/token"]);
    anon(&app, "/api/v1/auth/verify-email", json!({"token": token}))
        .await
        .expect(204);
    let r = app.get(&bob_path, &exec.access).await;
    assert_eq!(r.body["email"], "robert@acme.example");
    assert!(r.body.get("pending_email").is_none(), "{}", r.text);
    app.login("robert@acme.example", PASSWORD).await.expect(200);
    app.login("bob@acme.example", PASSWORD).await.expect(401);
    let changed = audit(&app, "user.email_changed").await;
    assert_eq!(changed[0]["before"]["email"], "bob@acme.example");
    assert_eq!(changed[0]["after"]["email"], "robert@acme.example");
    assert_token_problem(
        &anon(&app, "/api/v1/auth/verify-email", json!({"token": token})).await,
        "token_used",
    );

    // Another user's address is refused at once.
    let r = app
        .patch(
            &bob_path,
            &exec.access,
            &json!({"email": "EXEC@acme.example"}),
        )
        .await;
    assert_code(&r, 409, "email_taken");

    // An expired link changes nothing; the current address cancels a pending change.
    app.patch(
        &bob_path,
        &exec.access,
        &json!({"email": "rob@acme.example"}),
    )
    .await
    .expect(200);
    let t2 = wait_token(&app, "rob@acme.example", "account_email_verification", 1).await;
    sqlx::query("UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL AND revoked_at IS NULL")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_token_problem(
        &anon(&app, "/api/v1/auth/verify-email", json!({"token": t2})).await,
        "token_expired",
    );
    let r = app.get(&bob_path, &exec.access).await;
    assert_eq!(r.body["email"], "robert@acme.example");
    assert!(r.body.get("pending_email").is_none(), "expired: {}", r.text);
    app.patch(
        &bob_path,
        &exec.access,
        &json!({"email": "rob@acme.example"}),
    )
    .await
    .expect(200);
    let r = app
        .patch(
            &bob_path,
            &exec.access,
            &json!({"email": "robert@acme.example"}),
        )
        .await;
    r.expect(200);
    assert!(
        r.body.get("pending_email").is_none(),
        "cancelled: {}",
        r.text
    );

    // One's own address: not by PATCH, by POST /me/email with the password.
    let bob = app.tokens("robert@acme.example", PASSWORD).await;
    let r = app
        .patch(
            &bob_path,
            &bob.access,
            &json!({"email": "bobby@acme.example"}),
        )
        .await;
    assert_code(&r, 409, "own_email_needs_current");
    let r = app
        .post(
            "/api/v1/me/email",
            &bob.access,
            &json!({"email": "bobby@acme.example", "current_password": "wrong password 123"}),
        )
        .await;
    assert_code(&r, 400, "validation_failed");
    assert_eq!(r.pointers(), ["/current_password"]);
    let r = app
        .post(
            "/api/v1/me/email",
            &bob.access,
            &json!({"email": "bobby@acme.example", "current_password": PASSWORD}),
        )
        .await;
    r.expect(202);
    let r = app.get(&bob_path, &bob.access).await;
    assert_eq!(r.body["email"], "robert@acme.example");
    assert_eq!(r.body["pending_email"], "bobby@acme.example");
    let t3 = wait_token(&app, "bobby@acme.example", "account_email_verification", 1).await;
    // Someone else takes the address meanwhile: 409, nothing changes, the link stays.
    app.user(&admin, "bobby@acme.example", &["customer_member"], &[&acme])
        .await;
    let r = anon(&app, "/api/v1/auth/verify-email", json!({"token": t3})).await;
    assert_code(&r, 409, "email_taken");
    let r = app.get(&bob_path, &bob.access).await;
    assert_eq!(r.body["email"], "robert@acme.example");

    // A password-reset link is not a verification link.
    reset(&app, "robert@acme.example").await.expect(202);
    let reset_token = wait_token(&app, "robert@acme.example", "account_password_reset", 1).await;
    assert_token_problem(
        &anon(
            &app,
            "/api/v1/auth/verify-email",
            json!({"token": reset_token}),
        )
        .await,
        "token_invalid",
    );
}

#[tokio::test]
async fn account_emails_are_the_platforms_and_respect_the_suppression_lists() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let acme = app.create_customer(&admin, "acme").await;
    for (customer, address) in [
        (Some(acme.as_str()), "bounced@acme.example"),
        (Some(acme.as_str()), "outsider@example.org"),
        (None, "platform@example.org"),
    ] {
        sqlx::query(
            "INSERT INTO email_suppressions (customer_id, address, reason) VALUES ($1::uuid, $2, '550 no such user')",
        )
        .bind(customer)
        .bind(address)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }
    let invite = |email: &'static str, roles: Value, customers: Value| {
        let app = &app;
        let admin = &admin;
        async move {
            app.post(
                "/api/v1/users",
                &admin.access,
                &json!({"email": email, "name": "Someone", "roles": roles, "customer_ids": customers}),
            )
            .await
            .expect(201);
        }
    };
    // On the list of a tenant the user belongs to, or on the platform's: not sent.
    invite(
        "bounced@acme.example",
        json!(["customer_member"]),
        json!([acme]),
    )
    .await;
    invite("platform@example.org", json!(["internal"]), json!([])).await;
    // On the list of a tenant the user does not belong to: sent.
    invite("outsider@example.org", json!(["internal"]), json!([])).await;
    invite("fine@example.org", json!(["admin"]), json!([])).await;
    /// (address, status, skip reason, the content's customer, email_send jobs)
    type Row = (String, String, Option<String>, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT o.to_address, o.status, o.skip_reason, c.customer_id::text,
                (SELECT count(*) FROM jobs j WHERE j.kind = 'email_send' AND j.subject = o.id::text)
         FROM email_outbox o JOIN email_contents c ON c.id = o.content_id ORDER BY o.seq",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let row = |a: &str, status: &str, skip: Option<&str>, jobs: i64| -> Row {
        (
            a.to_string(),
            status.to_string(),
            skip.map(String::from),
            None,
            jobs,
        )
    };
    assert_eq!(
        rows,
        [
            row(
                "bounced@acme.example",
                "suppressed",
                Some("address_suppressed"),
                0
            ),
            row(
                "platform@example.org",
                "suppressed",
                Some("address_suppressed"),
                0
            ),
            row("outsider@example.org", "pending", None, 1),
            row("fine@example.org", "pending", None, 1),
        ]
    );
}

#[tokio::test]
async fn of_two_concurrent_uses_of_a_link_one_wins() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.user(&admin, "race@example.org", &["customer_member"], &[])
        .await;
    reset(&app, "race@example.org").await.expect(202);
    let token = wait_token(&app, "race@example.org", "account_password_reset", 1).await;
    let (a, b) = tokio::join!(
        confirm(&app, &token, "first racing password"),
        confirm(&app, &token, "second racing password"),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [204, 400], "{} / {}", a.text, b.text);
    let loser = if a.status.as_u16() == 400 { &a } else { &b };
    assert_token_problem(loser, "token_used");
    let winner = if a.status.as_u16() == 204 {
        "first racing password"
    } else {
        "second racing password"
    };
    app.login("race@example.org", winner).await.expect(200);
    assert_eq!(audit(&app, "user.password_reset").await.len(), 1);
}
