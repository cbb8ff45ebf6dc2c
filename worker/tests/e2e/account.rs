//! The account e-mails end to end: the real API over HTTP, a real worker
//! process, a real SMTP server (aiosmtpd), and the messages it received
//! parsed by Python's `email` package (parts, headers) with their links
//! read by Python's `html.parser` and `urllib.parse`
//! (`test-support/inspect_mail.py`).

use std::time::Duration;

use reqwest::Method;
use test_support::{
    Json, SmtpSink, TestApp, WorkerProcess,
    app::{Resp, json},
    eventually,
};

use crate::harness::Harness;

const WAIT: Duration = Duration::from_secs(40);
const PORTAL: &str = "https://portal.example.test/app";
const PASSWORD: &str = "user-password-1234";

struct Accounts {
    h: Harness,
    sink: SmtpSink,
    _worker: WorkerProcess,
}

impl Accounts {
    async fn new() -> Self {
        let app = TestApp::spawn_with(|s| s.portal_url = Some(PORTAL.into())).await;
        let admin = app.admin().await;
        let h = Harness { app, admin };
        let sink = SmtpSink::start();
        let url = sink.url();
        let worker = h.worker_with(&[("LAUNCHPAD_SMTP_URL", url.as_str())]);
        Self {
            h,
            sink,
            _worker: worker,
        }
    }

    async fn anon(&self, path: &str, body: Json) -> Resp {
        self.h.app.call(Method::POST, path, None, Some(&body)).await
    }

    /// The messages received for `address`, oldest first.
    async fn mails_to(&self, address: &str, n: usize) -> Vec<Json> {
        eventually(WAIT, &format!("{n} messages to {address}"), || async {
            let got: Vec<Json> = self
                .sink
                .inspect()
                .into_iter()
                .filter(|m| m["to"][0]["address"] == address)
                .collect();
            (got.len() >= n).then_some(got)
        })
        .await
    }

    /// Waits until no e-mail is waiting to be sent.
    async fn drained(&self) {
        eventually(WAIT, "the outbox to drain", || async {
            let waiting = self
                .h
                .app
                .count("SELECT count(*) FROM email_outbox WHERE status IN ('pending', 'sending')")
                .await;
            (waiting == 0).then_some(())
        })
        .await
    }
}

/// Checks the shape every account e-mail has and returns (the text link,
/// its token): `multipart/alternative` of UTF-8 text and HTML, the same one
/// link in both (parsed in Python), to the portal's `page`, whose `token`
/// parameter the text also gives on its own.
#[track_caller]
fn link_of(m: &Json, page: &str) -> (String, String) {
    assert!(
        m["defects"].as_array().unwrap().is_empty(),
        "{}",
        m["defects"]
    );
    assert_eq!(m["headers_ascii"], true);
    assert_eq!(m["subject_count"], 1);
    assert_eq!(m["from"][0]["address"], "no-reply@launchpad.local");
    assert_eq!(m["from"][0]["name"], "Launchpad");
    let mid = m["message_id"].as_str().unwrap();
    assert!(
        mid.starts_with('<') && mid.ends_with("@launchpad.local>"),
        "{mid}"
    );
    for h in [
        "Date",
        "MIME-Version",
        "Message-ID",
        "From",
        "To",
        "Subject",
    ] {
        assert!(
            m["header_names"].as_array().unwrap().iter().any(|n| n == h),
            "no {h}: {}",
            m["header_names"]
        );
    }
    let mime = &m["mime"];
    assert_eq!(mime["content_type"], "multipart/alternative", "{mime}");
    let parts = mime["parts"].as_array().unwrap();
    let types: Vec<&str> = parts
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    for p in parts {
        assert_eq!(
            p["params"]["charset"]
                .as_str()
                .map(str::to_lowercase)
                .as_deref(),
            Some("utf-8")
        );
    }
    let text_links = parts[0]["links"].as_array().unwrap();
    let html_links = parts[1]["links"].as_array().unwrap();
    assert_eq!(text_links.len(), 1, "{text_links:?}");
    assert_eq!(html_links.len(), 1, "{html_links:?}");
    // The same link in both parts (the HTML's entities decoded by html.parser).
    assert_eq!(text_links[0], html_links[0]);
    let link = &text_links[0];
    assert_eq!(link["scheme"], "https");
    assert_eq!(link["netloc"], "portal.example.test");
    assert_eq!(link["path"], format!("/app{page}"));
    let tokens = link["query"]["token"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    let token = tokens[0].as_str().unwrap().to_string();
    assert_eq!(token.len(), 43);
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{token}"
    );
    let text = parts[0]["content"].as_str().unwrap();
    assert!(
        text.lines().any(|l| l.trim() == token),
        "the token on its own line: {text}"
    );
    (link["url"].as_str().unwrap().to_string(), token)
}

#[track_caller]
fn assert_token_problem(r: &Resp, code: &str) {
    let body = r.expect_problem(400);
    assert_eq!(body["code"], code, "{}", r.text);
    assert_eq!(r.pointers(), ["/token"]);
}

#[tokio::test]
async fn password_reset_mails_a_single_use_link_and_nothing_for_unknown_addresses() {
    let a = &Accounts::new().await;
    let app = &a.h.app;
    let name = "Zoë Ørsted";
    let r = app
        .post(
            "/api/v1/users",
            &a.h.admin.access,
            &json!({"email": "zoe@example.org", "name": name, "password": PASSWORD,
                    "roles": ["customer_member"]}),
        )
        .await;
    r.expect(201);
    let session = app.tokens("zoe@example.org", PASSWORD).await;

    let known = a
        .anon(
            "/api/v1/auth/password-reset",
            json!({"email": "zoe@example.org"}),
        )
        .await;
    let unknown = a
        .anon(
            "/api/v1/auth/password-reset",
            json!({"email": "nobody@example.org"}),
        )
        .await;
    known.expect(202);
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.text, unknown.text);

    let got = a.mails_to("zoe@example.org", 1).await;
    let m = &got[0];
    assert_eq!(m["subject"], "Reset your Launchpad password");
    assert_eq!(m["to"][0]["name"], name);
    let (_, token) = link_of(m, "/reset-password");
    let text = m["mime"]["parts"][0]["content"].as_str().unwrap();
    assert!(text.starts_with(&format!("Hello {name},")), "{text}");
    assert!(text.contains("POST /api/v1/auth/password-reset/confirm"));
    // Both requests are done (audited) and only one message was sent.
    eventually(WAIT, "both requests audited", || async {
        (app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.password_reset_requested'")
            .await
            == 2)
            .then_some(())
    })
    .await;
    a.drained().await;
    assert_eq!(a.sink.count(), 1, "{:?}", a.sink.log());

    // The link sets a new password once and ends every session.
    let confirm = |token: String, password: &'static str| async move {
        a.anon(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": token, "new_password": password}),
        )
        .await
    };
    confirm(token.clone(), "a brand new password 42")
        .await
        .expect(204);
    let r = a
        .anon(
            "/api/v1/auth/refresh",
            json!({"refresh_token": session.refresh}),
        )
        .await;
    r.expect_problem(401);
    app.login("zoe@example.org", "a brand new password 42")
        .await
        .expect(200);
    assert_token_problem(
        &confirm(token, "yet another password 7").await,
        "token_used",
    );
    app.login("zoe@example.org", "a brand new password 42")
        .await
        .expect(200);
}

#[tokio::test]
async fn invitations_arrive_and_a_resent_one_replaces_the_first_link() {
    let a = &Accounts::new().await;
    let app = &a.h.app;
    let r = app
        .post(
            "/api/v1/users",
            &a.h.admin.access,
            &json!({"email": "new.hire@example.org", "name": "New Hire", "roles": ["internal"]}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["invitation_pending"], true);
    let id = r.body["id"].as_str().unwrap().to_string();
    let first = a.mails_to("new.hire@example.org", 1).await;
    let m = &first[0];
    assert_eq!(m["subject"], "Your invitation to Launchpad");
    let (_, first_token) = link_of(m, "/accept-invitation");
    let text = m["mime"]["parts"][0]["content"].as_str().unwrap();
    assert!(text.contains("Administrator has invited you"), "{text}");
    let html = m["mime"]["parts"][1]["content"].as_str().unwrap();
    assert!(html.contains("Choose your password"), "{html}");

    app.call(
        Method::POST,
        &format!("/api/v1/users/{id}/invitation"),
        Some(&a.h.admin.access),
        None,
    )
    .await
    .expect(202);
    let both = a.mails_to("new.hire@example.org", 2).await;
    let (_, second_token) = link_of(&both[1], "/accept-invitation");
    assert_ne!(first_token, second_token);
    assert_ne!(both[0]["message_id"], both[1]["message_id"]);

    let accept = |token: String| async move {
        a.anon(
            "/api/v1/auth/accept-invitation",
            json!({"token": token, "password": PASSWORD}),
        )
        .await
    };
    assert_token_problem(&accept(first_token).await, "token_invalid");
    app.login("new.hire@example.org", PASSWORD)
        .await
        .expect(401);
    accept(second_token.clone()).await.expect(204);
    app.login("new.hire@example.org", PASSWORD)
        .await
        .expect(200);
    assert_token_problem(&accept(second_token).await, "token_used");
}

#[tokio::test]
async fn a_changed_address_is_verified_by_a_link_sent_to_it() {
    let a = &Accounts::new().await;
    let app = &a.h.app;
    let user = app
        .user(&a.h.admin, "old@example.org", &["customer_member"], &[])
        .await;
    let path = format!("/api/v1/users/{}", user.user_id);
    let r = app
        .patch(
            &path,
            &a.h.admin.access,
            &json!({"email": "new@example.org"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["email"], "old@example.org");
    assert_eq!(r.body["pending_email"], "new@example.org");

    let got = a.mails_to("new@example.org", 1).await;
    let m = &got[0];
    assert_eq!(
        m["subject"],
        "Confirm your new e-mail address for Launchpad"
    );
    let (_, token) = link_of(m, "/verify-email");
    let text = m["mime"]["parts"][0]["content"].as_str().unwrap();
    assert!(text.contains("old@example.org") && text.contains("new@example.org"));
    a.drained().await;
    assert!(
        a.sink
            .inspect()
            .iter()
            .all(|m| m["to"][0]["address"] != "old@example.org"),
        "nothing is sent to the old address"
    );
    app.login("new@example.org", PASSWORD).await.expect(401);

    a.anon("/api/v1/auth/verify-email", json!({"token": token}))
        .await
        .expect(204);
    app.login("new@example.org", PASSWORD).await.expect(200);
    app.login("old@example.org", PASSWORD).await.expect(401);
    assert_token_problem(
        &a.anon("/api/v1/auth/verify-email", json!({"token": token}))
            .await,
        "token_used",
    );
}
