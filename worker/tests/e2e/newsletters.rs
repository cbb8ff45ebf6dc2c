//! Newsletters end to end: drafted by a real worker (the template draft),
//! edited, approved, test-sent and sent to a real SMTP server (aiosmtpd;
//! every message parsed by Python's `email` package), with one-click
//! unsubscribe, statistics and the `newsletter.sent` webhook; and the bad
//! inputs of the resource.

use std::{collections::BTreeSet, time::Duration};

use reqwest::Method;
use test_support::{
    LlmReply, LlmServer, Receiver, TestApp, Tokens, WorkerProcess,
    app::{Json, json},
    eventually,
    smtp::SmtpSink,
};

const WAIT: Duration = Duration::from_secs(60);

struct Nl {
    app: TestApp,
    admin: Tokens,
    customer: String,
    cop: String,
    sink: SmtpSink,
    rx: Receiver,
    /// The CoP's lead (a manager).
    lead: Tokens,
}

impl Nl {
    async fn new() -> Self {
        let app = TestApp::spawn_with(|s| s.webhooks_allow_insecure = true).await;
        let admin = app.admin().await;
        let customer = app.create_customer(&admin, "acme").await;
        let r = app
            .post(
                "/api/v1/cops",
                &admin.access,
                &json!({"customer_id": customer, "name": "Lakehouse CoP"}),
            )
            .await;
        r.expect(201);
        let cop = r.body["id"].as_str().unwrap().to_string();
        let mut me = Self {
            lead: admin.clone(),
            app,
            admin,
            customer,
            cop,
            sink: SmtpSink::start(),
            rx: Receiver::start().await,
        };
        me.lead = me.member("lead@acme.example", "lead").await;
        me
    }

    fn worker(&self) -> WorkerProcess {
        self.worker_with(&[])
    }

    fn worker_with(&self, extra: &[(&str, &str)]) -> WorkerProcess {
        let url = self.sink.url();
        let mut env = vec![
            ("LAUNCHPAD_SMTP_URL", url.as_str()),
            ("LAUNCHPAD_WEBHOOKS_ALLOW_INSECURE", "true"),
            ("LAUNCHPAD_CRON_KPI_ROLLUP", "off"),
        ];
        env.extend_from_slice(extra);
        WorkerProcess::spawn(&self.app.db.url, &env)
    }

    /// A customer_member of the customer with `role` in the CoP.
    async fn member(&self, email: &str, role: &str) -> Tokens {
        let t = self
            .app
            .user(&self.admin, email, &["customer_member"], &[&self.customer])
            .await;
        self.app
            .post(
                &format!("/api/v1/cops/{}/members", self.cop),
                &self.admin.access,
                &json!({"user_id": t.user_id, "role": role}),
            )
            .await
            .expect(201);
        t
    }

    /// Drafts a newsletter as `by` and waits for the draft; returns its id.
    async fn drafted(&self, by: &Tokens) -> String {
        let r = self
            .app
            .post(
                &format!("/api/v1/cops/{}/newsletters", self.cop),
                &by.access,
                &json!({"tone": "warm"}),
            )
            .await;
        r.expect(202);
        assert_eq!(r.body["kind"], "newsletter_draft");
        let id = r.body["subject"].as_str().unwrap().to_string();
        self.wait_status(&id, "draft").await;
        id
    }

    async fn get(&self, id: &str) -> Json {
        let r = self
            .app
            .get(&format!("/api/v1/newsletters/{id}"), &self.admin.access)
            .await;
        r.expect(200);
        r.body.clone()
    }

    async fn wait_status(&self, id: &str, status: &str) -> Json {
        eventually(WAIT, &format!("newsletter {id} to be {status}"), || async {
            let n = self.get(id).await;
            (n["status"] == status).then_some(n)
        })
        .await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        by: &Tokens,
        body: Option<&Json>,
    ) -> test_support::app::Resp {
        self.app.call(method, path, Some(&by.access), body).await
    }
}

fn part<'a>(m: &'a Json, content_type: &str) -> &'a Json {
    m["mime"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == content_type)
        .unwrap_or_else(|| panic!("no {content_type} part in {}", m["mime"]))
}

fn content(m: &Json, content_type: &str) -> String {
    part(m, content_type)["content"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn newsletter_reaches_each_member_once_with_their_own_unsubscribe_link() {
    let n = Nl::new().await;
    let _w = n.worker();
    let ann = n.member("ann@acme.example", "member").await;
    let bob = n.member("bob@acme.example", "champion").await;
    let dan = n.member("dan@acme.example", "member").await;
    let _eve = n.member("eve@acme.example", "member").await;
    let secret = {
        let r = n
            .app
            .post(
                "/api/v1/webhooks/endpoints",
                &n.admin.access,
                &json!({"customer_id": n.customer, "url": n.rx.url("/hooks"),
                        "event_types": ["newsletter.sent"]}),
            )
            .await;
        r.expect(201);
        r.body["secret"].as_str().unwrap().to_string()
    };
    // Dan turned newsletters off; Eve's address bounced before.
    n.app
        .put(
            "/api/v1/me/notification-preferences",
            &dan.access,
            &json!({"preferences": [{"type": "newsletter", "channel": "email", "enabled": false}]}),
        )
        .await
        .expect(200);
    sqlx::query(
        "INSERT INTO email_suppressions (customer_id, address, reason) VALUES ($1::uuid, 'eve@acme.example', '550 no such user')",
    )
    .bind(&n.customer)
    .execute(&n.app.db.pool)
    .await
    .unwrap();

    let id = n.drafted(&n.lead).await;
    let d = n.get(&id).await;
    assert_eq!(d["drafted_by"], "template");
    assert!(
        d["subject"]
            .as_str()
            .unwrap()
            .contains("Lakehouse CoP newsletter")
    );
    assert!(!d["sections"].as_array().unwrap().is_empty());
    // The managers were told it is ready.
    assert_eq!(
        n.app
            .count("SELECT count(*) FROM notification_sources WHERE type = 'newsletter_ready'")
            .await,
        1
    );

    let path = format!("/api/v1/newsletters/{id}");
    let r = n
        .app
        .patch(
            &path,
            &n.lead.access,
            &json!({
                "subject": "Lakehouse news for {{ first_name }}",
                "preheader": "December in {{ cop_name }}",
                "intro": "Hello {{ name }},\n\n<script>alert(1)</script>",
                "sections": [{
                    "heading": "Sessions",
                    "body": "[Click](javascript:alert(1)) <img src=x onerror=alert(2)> \
                             <a href=\"https://ok.example\" onmouseover=\"x()\">ok</a>\n\n\
                             Not for you? [Leave]({{ unsubscribe_url }})",
                    "links": [{"title": "Slides", "url": "https://slides.example/1?a=1&b=2"}],
                }],
            }),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "draft");
    assert_eq!(r.body["last_edited_by"], n.lead.user_id.as_str());

    // A draft cannot be sent; its last editor cannot approve it.
    let r = n
        .call(Method::POST, &format!("{path}/send"), &n.lead, None)
        .await;
    assert_eq!(r.expect_problem(409)["code"], "newsletter_not_approved");
    let r = n
        .call(Method::POST, &format!("{path}/approve"), &n.lead, None)
        .await;
    assert_eq!(r.expect_problem(403)["code"], "forbidden");
    let r = n
        .call(Method::POST, &format!("{path}/approve"), &n.admin, None)
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "approved");
    // An edit after approval returns it to draft; the other manager approves.
    let r = n
        .app
        .patch(
            &path,
            &n.admin.access,
            &json!({"preheader": "Your December in {{ cop_name }}"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "draft");
    assert!(r.body.get("approved_by").is_none());
    n.call(Method::POST, &format!("{path}/approve"), &n.lead, None)
        .await
        .expect(200);
    // send_at in the past: 400 naming it.
    let r = n
        .call(
            Method::POST,
            &format!("{path}/send"),
            &n.lead,
            Some(&json!({"send_at": "2020-01-01T09:00:00+01:00"})),
        )
        .await;
    assert_eq!(r.expect_problem(400)["code"], "validation_failed");
    assert_eq!(r.pointers(), ["/send_at"]);

    // A test send: to a reviewer only, [TEST], not counted.
    let r = n
        .call(
            Method::POST,
            &format!("{path}/test-send"),
            &n.lead,
            Some(&json!({"to": ["reviewer@acme.example"]})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["queued"], 1);
    let test = eventually(WAIT, "the test message", || async {
        n.sink
            .inspect()
            .into_iter()
            .find(|m| m["to"][0]["address"] == "reviewer@acme.example")
    })
    .await;
    assert_eq!(test["subject"], "[TEST] Lakehouse news for reviewer");
    assert_eq!(
        n.sink
            .inspect()
            .iter()
            .filter(|m| m["subject"].as_str().unwrap().starts_with("[TEST]"))
            .count(),
        1
    );

    // The send.
    let r = n
        .call(Method::POST, &format!("{path}/send"), &n.lead, None)
        .await;
    r.expect(202);
    assert_eq!(r.body["kind"], "newsletter_send");
    let sent = n.wait_status(&id, "sent").await;
    assert_eq!(sent["recipients"], 4, "lead, ann, bob, and eve suppressed");

    let all = n.sink.inspect();
    // (The managers also get their notifications by e-mail.)
    let messages: Vec<&Json> = all
        .iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Lakehouse news for")
        })
        .collect();
    let to: Vec<&str> = messages
        .iter()
        .map(|m| m["to"][0]["address"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = to.iter().copied().collect();
    assert_eq!(to.len(), 3, "exactly one message each: {to:?}");
    assert_eq!(
        unique,
        BTreeSet::from(["ann@acme.example", "bob@acme.example", "lead@acme.example"])
    );
    let mut tokens = BTreeSet::new();
    let mut ann_link = String::new();
    for m in &messages {
        let address = m["to"][0]["address"].as_str().unwrap();
        let first = address.split('@').next().unwrap();
        assert!(
            m["defects"].as_array().unwrap().is_empty(),
            "{}",
            m["defects"]
        );
        assert_eq!(m["subject"], format!("Lakehouse news for {first}"));
        assert_eq!(m["mime"]["content_type"], "multipart/alternative");
        assert_eq!(m["list_unsubscribe_post"], "List-Unsubscribe=One-Click");
        let header = m["list_unsubscribe"].as_str().unwrap();
        assert!(header.starts_with('<') && header.ends_with('>'), "{header}");
        let link = &header[1..header.len() - 1];
        let url = reqwest::Url::parse(link).unwrap();
        assert_eq!(url.path(), "/api/v1/newsletters/unsubscribe");
        let token = url
            .query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .to_string();
        assert!(tokens.insert(token), "each recipient has their own link");
        let list_id = m["headers"]["List-Id"].as_str().unwrap();
        assert!(
            list_id.starts_with("CoP newsletter <") && list_id.ends_with('>'),
            "{list_id}"
        );
        let html = content(m, "text/html");
        let text = content(m, "text/plain");
        // The visible link is the header's, in both parts (the footer's and
        // the Markdown one).
        let hrefs: Vec<&str> = part(m, "text/html")["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["url"].as_str().unwrap())
            .collect();
        assert_eq!(hrefs.iter().filter(|h| **h == link).count(), 2, "{hrefs:?}");
        assert!(
            hrefs.contains(&"https://slides.example/1?a=1&b=2"),
            "{hrefs:?}"
        );
        assert!(text.contains(link), "{text}");
        assert!(html.contains(&format!("Hello {first},")), "{html}");
        assert!(text.contains(&format!("Hello {first},")), "{text}");
        for bad in [
            "<script",
            "javascript:",
            "onerror",
            "onmouseover",
            "alert(1)",
        ] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("style=\""), "CSS inlined");
        if address == "ann@acme.example" {
            ann_link = format!("{}?{}", url.path(), url.query().unwrap());
        }
    }

    let stats = n.app.get(&format!("{path}/stats"), &n.lead.access).await;
    stats.expect(200);
    assert_eq!(stats.body["recipients"], 4);
    assert_eq!(stats.body["sent"], 3);
    assert_eq!(stats.body["suppressed"], 1);
    assert_eq!(stats.body["opted_out"], 1);
    assert_eq!(stats.body["queued"], 0);
    assert_eq!(stats.body["unsubscribed_since"], 0);

    // newsletter.sent reached the endpoint, signed.
    let got = n.rx.wait_for("/hooks", 1, WAIT).await;
    let body = got[0].json();
    assert_eq!(body["type"], "newsletter.sent");
    assert_eq!(body["data"]["newsletter"]["id"], id.as_str());
    assert_eq!(body["data"]["stats"]["sent"], 3);
    test_support::receiver::verify_standard_webhooks(&secret, &got[0]).unwrap();
    eventually(WAIT, "the sending-ended notification", || async {
        let c = n
            .app
            .count("SELECT count(*) FROM notification_sources WHERE type = 'newsletter_sent'")
            .await;
        (c == 1).then_some(())
    })
    .await;

    // One-click unsubscribe: no login, as a mail client posts it, twice.
    let r = n.app.call(Method::GET, &ann_link, None, None).await;
    r.expect(200);
    assert_eq!(r.body["subscribed"], true);
    for _ in 0..2 {
        let raw = reqwest::Client::new()
            .post(n.app.url(&ann_link))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 200);
        let body: Json = raw.json().await.unwrap();
        assert_eq!(body["subscribed"], false);
        assert_eq!(body["cop_id"], n.cop.as_str());
    }
    let r = n.app.call(Method::GET, &ann_link, None, None).await;
    assert_eq!(r.body["subscribed"], false);
    let stats = n.app.get(&format!("{path}/stats"), &n.lead.access).await;
    assert_eq!(stats.body["unsubscribed_since"], 1);
    let mut bad = ann_link.clone();
    bad.pop();
    bad.push(if ann_link.ends_with('A') { 'B' } else { 'A' });
    let r = n.app.call(Method::POST, &bad, None, None).await;
    assert_eq!(r.expect_problem(400)["code"], "validation_failed");
    assert_eq!(r.pointers(), ["/token"]);

    // The next newsletter leaves Ann (unsubscribed) and Dan (off) out.
    let second = n.drafted(&n.admin).await;
    n.call(
        Method::POST,
        &format!("/api/v1/newsletters/{second}/approve"),
        &n.lead,
        None,
    )
    .await
    .expect(200);
    n.call(
        Method::POST,
        &format!("/api/v1/newsletters/{second}/send"),
        &n.lead,
        None,
    )
    .await
    .expect(202);
    let s = n.wait_status(&second, "sent").await;
    assert_eq!(s["recipients"], 3, "lead, bob, eve (suppressed)");
    let second_subject = s["subject"].as_str().unwrap().to_string();
    let all = eventually(WAIT, "the second newsletter's messages", || async {
        let all = n.sink.inspect();
        let c = all
            .iter()
            .filter(|m| m["subject"] == second_subject.as_str())
            .count();
        (c >= 2).then_some(all)
    })
    .await;
    let to: BTreeSet<&str> = all
        .iter()
        .filter(|m| m["subject"] == second_subject.as_str())
        .map(|m| m["to"][0]["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        to,
        BTreeSet::from(["bob@acme.example", "lead@acme.example"])
    );
    assert!(
        !all.iter()
            .any(|m| m["to"][0]["address"] == "dan@acme.example")
    );
    assert!(
        !all.iter()
            .any(|m| m["to"][0]["address"] == "eve@acme.example")
    );
    drop(bob);
    drop(ann);
}

#[tokio::test]
async fn newsletter_bad_inputs_and_other_tenants() {
    let n = Nl::new().await;
    let _w = n.worker();
    let id = n.drafted(&n.lead).await;
    let path = format!("/api/v1/newsletters/{id}");

    // Subjects: CR/LF, over 998 characters (never cut).
    for (subject, why) in [
        ("Hello\r\nBcc: victim@example.com".to_string(), "one line"),
        ("x".repeat(999), "998"),
    ] {
        let r = n
            .app
            .patch(&path, &n.lead.access, &json!({"subject": subject}))
            .await;
        assert_eq!(r.expect_problem(400)["code"], "validation_failed", "{why}");
        assert_eq!(r.pointers(), ["/subject"]);
        assert!(
            r.body["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains(why)
        );
    }
    let long = "y".repeat(998);
    let r = n
        .app
        .patch(&path, &n.lead.access, &json!({"subject": long}))
        .await;
    r.expect(200);
    assert_eq!(r.body["subject"].as_str().unwrap().chars().count(), 998);

    // Unknown template variables: 400 naming the variable and the section.
    let r = n
        .app
        .patch(
            &path,
            &n.lead.access,
            &json!({"sections": [
                {"heading": "Fine", "body": "Hi {{ first_name }}"},
                {"heading": "Events", "body": "Dear {{ frist_name }}"},
            ]}),
        )
        .await;
    assert_eq!(r.expect_problem(400)["code"], "validation_failed");
    assert_eq!(r.pointers(), ["/sections/1/body"]);
    let detail = r.body["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("`frist_name`") && detail.contains("section 2"),
        "{detail}"
    );
    // Nothing was saved.
    assert_ne!(n.get(&id).await["sections"][0]["heading"], "Fine");

    // Self-approval where the tenant allows it.
    let r = n
        .call(Method::POST, &format!("{path}/approve"), &n.lead, None)
        .await;
    r.expect_problem(403);
    n.app
        .patch(
            &format!("/api/v1/customers/{}", n.customer),
            &n.admin.access,
            &json!({"newsletter_self_approval": true}),
        )
        .await
        .expect(200);
    let r = n
        .call(Method::POST, &format!("{path}/approve"), &n.lead, None)
        .await;
    r.expect(200);
    // Approving twice: 409.
    let r = n
        .call(Method::POST, &format!("{path}/approve"), &n.lead, None)
        .await;
    assert_eq!(r.expect_problem(409)["code"], "newsletter_not_draft");

    // Scheduled in the future, then cancelled: it never sends.
    let at = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let r = n
        .call(
            Method::POST,
            &format!("{path}/send"),
            &n.lead,
            Some(&json!({"send_at": at})),
        )
        .await;
    r.expect(202);
    assert_eq!(n.get(&id).await["status"], "scheduled");
    let r = n
        .call(Method::POST, &format!("{path}/cancel"), &n.lead, None)
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "cancelled");
    let r = n
        .call(Method::POST, &format!("{path}/cancel"), &n.lead, None)
        .await;
    assert_eq!(r.expect_problem(409)["code"], "newsletter_not_scheduled");
    // Only drafts (and cancelled or failed ones) can be deleted.
    n.app.delete(&path, &n.lead.access).await.expect(204);
    n.app.get(&path, &n.lead.access).await.expect_problem(404);

    // Members who do not manage the CoP cannot see its newsletters.
    let member = n.member("mo@acme.example", "member").await;
    let other = n.drafted(&n.lead).await;
    let r = n
        .app
        .get(&format!("/api/v1/newsletters/{other}"), &member.access)
        .await;
    assert_eq!(r.expect_problem(403)["code"], "forbidden");

    // Another tenant's newsletter: 404, whatever the operation.
    let globex = n.app.create_customer(&n.admin, "globex").await;
    let outsider = n
        .app
        .user(
            &n.admin,
            "exec@globex.example",
            &["customer_exec"],
            &[&globex],
        )
        .await;
    let p = format!("/api/v1/newsletters/{other}");
    for (method, path) in [
        (Method::GET, p.clone()),
        (Method::PATCH, p.clone()),
        (Method::DELETE, p.clone()),
        (Method::GET, format!("{p}/preview")),
        (Method::GET, format!("{p}/stats")),
        (Method::POST, format!("{p}/approve")),
        (Method::POST, format!("{p}/test-send")),
        (Method::POST, format!("{p}/send")),
        (Method::POST, format!("{p}/cancel")),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"preheader": "x"}));
        let r = n
            .call(method.clone(), &path, &outsider, body.as_ref())
            .await;
        assert_eq!(
            r.expect_problem(404)["code"],
            "not_found",
            "{method} {path}"
        );
    }
    let r = n
        .app
        .get(
            &format!("/api/v1/cops/{}/newsletters", n.cop),
            &outsider.access,
        )
        .await;
    r.expect_problem(404);

    // The preview renders for a chosen member; a non-member is a 400.
    let r = n
        .app
        .get(
            &format!("{p}/preview?user_id={}", member.user_id),
            &n.lead.access,
        )
        .await;
    r.expect(200);
    assert!(
        r.body["text"].as_str().unwrap().contains("Hello mo,"),
        "{}",
        r.body["text"]
    );
    let r = n
        .app
        .get(
            &format!("{p}/preview?user_id={}", outsider.user_id),
            &n.lead.access,
        )
        .await;
    assert_eq!(r.pointers(), ["/user_id"]);
}

#[tokio::test]
async fn newsletter_ai_draft_links_only_given_items_and_a_failed_draft_is_failed() {
    let n = Nl::new().await;
    let llm = LlmServer::start().await;
    let base = llm.base_url();
    let _w = n.worker_with(&[
        ("OPENAI_BASE_URL", base.as_str()),
        ("OPENAI_API_KEY", "test"),
        ("LAUNCHPAD_AI_MODEL", "test-model"),
    ]);
    let champion = n.member("zoltan@acme.example", "member").await;
    let starts = chrono::Utc::now() + chrono::Duration::days(7);
    let r = n
        .app
        .post(
            &format!("/api/v1/cops/{}/events", n.cop),
            &n.admin.access,
            &json!({"type": "office_hours", "title": "Lakehouse office hours",
                    "starts_at": starts.to_rfc3339(),
                    "ends_at": (starts + chrono::Duration::hours(1)).to_rfc3339(),
                    "time_zone": "Europe/Paris", "location": "Room 4"}),
        )
        .await;
    r.expect(201);
    let event = r.body["id"].as_str().unwrap().to_string();
    n.app
        .post(
            &format!("/api/v1/cops/{}/assets", n.cop),
            &n.admin.access,
            &json!({"kind": "doc", "title": "Delta tables guide", "url": "https://docs.acme.example/delta"}),
        )
        .await
        .expect(201);
    let today = chrono::Utc::now().date_naive();
    n.app
        .post(
            &format!("/api/v1/cops/{}/champions", n.cop),
            &n.admin.access,
            &json!({"user_id": champion.user_id, "title": "Mentor of the month",
                    "period_start": today.to_string(), "period_end": today.to_string()}),
        )
        .await
        .expect(201);

    // The test provider links what it was given, and invents an event and a link.
    llm.respond_with(|r| {
        let data = r.delimited("NEWSLETTER_DATA_JSON").expect("the data is delimited");
        let keys: Vec<String> = data["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .collect();
        let event = keys.iter().find(|k| k.starts_with('u')).cloned().unwrap_or_default();
        let asset = keys.iter().find(|k| k.starts_with('a')).cloned().unwrap_or_default();
        LlmReply::json(&json!({
            "subject": "December in the Lakehouse CoP",
            "preheader": "Office hours, a new guide and a champion",
            "intro": "A busy month.",
            "sections": [
                {"heading": "Coming up",
                 "body": "Join the office hours. Also the [Quantum summit](https://invented.example/summit)!",
                 "links": [event, "e42"]},
                {"heading": "New content", "body": "A guide to Delta tables.", "links": [asset]},
            ],
        }))
    });
    let id = n.drafted(&n.lead).await;
    let d = n.get(&id).await;
    assert_ne!(d["drafted_by"], "template");
    assert_eq!(d["subject"], "December in the Lakehouse CoP");
    let links: Vec<&str> = d["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["links"].as_array().unwrap().iter())
        .map(|l| l["url"].as_str().unwrap())
        .collect();
    assert_eq!(links.len(), 2, "{links:?}");
    assert!(
        links[0].ends_with(&format!("/api/v1/events/{event}")),
        "{links:?}"
    );
    assert_eq!(links[1], "https://docs.acme.example/delta");
    let body = d["sections"][0]["body"].as_str().unwrap();
    assert!(
        !body.contains("invented.example") && body.contains("Quantum summit"),
        "{body}"
    );
    let jobs = n
        .app
        .get("/api/v1/jobs?kind=newsletter_draft", &n.admin.access)
        .await;
    let job = &jobs.body["items"][0];
    assert_eq!(job["result"]["dropped"], 2, "{job}");
    // No member's name went to the provider.
    let request = &llm.requests()[0];
    let user = request.message("user");
    assert!(
        user.contains("Mentor of the month") && !user.contains("zoltan"),
        "{user}"
    );

    // A draft the provider refuses for good: the newsletter is failed.
    llm.respond_with(|_| LlmReply::error(400, "invalid_request_error", "Invalid schema"));
    let r = n
        .app
        .post(
            &format!("/api/v1/cops/{}/newsletters", n.cop),
            &n.lead.access,
            &json!({"instructions": "something else", "period_from": today.to_string()}),
        )
        .await;
    r.expect(202);
    let failed = r.body["subject"].as_str().unwrap().to_string();
    let f = n.wait_status(&failed, "failed").await;
    assert!(
        f["failure"]
            .as_str()
            .unwrap()
            .starts_with("drafting failed"),
        "{}",
        f["failure"]
    );
    // It can be written by hand: an edit makes it a draft.
    let r = n
        .app
        .patch(
            &format!("/api/v1/newsletters/{failed}"),
            &n.lead.access,
            &json!({"subject": "Written by hand"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "draft");
}

/// The newsletter messages (by subject) that reached the sink, per address.
fn received(n: &Nl, subject: &str) -> Vec<String> {
    let mut v: Vec<String> = n
        .sink
        .inspect()
        .iter()
        .filter(|m| m["subject"] == subject)
        .map(|m| m["to"][0]["address"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn newsletter_scheduled_send_starts_at_send_at_and_pauses_and_resumes() {
    let n = Nl::new().await;
    // One message a second: a send of six lasts long enough to pause it.
    let _w = n.worker_with(&[("LAUNCHPAD_SMTP_RATE_PER_SEC", "1")]);
    for name in ["ann", "bob", "cat", "dan", "eve"] {
        n.member(&format!("{name}@acme.example"), "member").await;
    }
    let id = n.drafted(&n.lead).await;
    let path = format!("/api/v1/newsletters/{id}");
    n.app
        .patch(
            &path,
            &n.admin.access,
            &json!({"subject": "Scheduled for {{ first_name }}"}),
        )
        .await
        .expect(200);
    n.call(Method::POST, &format!("{path}/approve"), &n.lead, None)
        .await
        .expect(200);

    // Scheduled a few seconds ahead, with an offset: nothing goes before.
    let at = (chrono::Utc::now() + chrono::Duration::seconds(4))
        .with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap());
    let r = n
        .call(
            Method::POST,
            &format!("{path}/send"),
            &n.lead,
            Some(&json!({"send_at": at.to_rfc3339()})),
        )
        .await;
    r.expect(202);
    let scheduled = n.get(&id).await;
    assert_eq!(scheduled["status"], "scheduled");
    let send_at =
        chrono::DateTime::parse_from_rfc3339(scheduled["send_at"].as_str().unwrap()).unwrap();
    assert!(
        (send_at.timestamp_micros() - at.timestamp_micros()).abs() <= 1,
        "{send_at} vs {at}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(n.get(&id).await["status"], "scheduled");
    let sending = n.wait_status(&id, "sending").await;
    let started =
        chrono::DateTime::parse_from_rfc3339(sending["sending_started_at"].as_str().unwrap())
            .unwrap();
    assert!(started >= send_at, "started {started} before {send_at}");

    // Pause while it sends: what is left waits.
    let r = n
        .call(Method::POST, &format!("{path}/pause"), &n.lead, None)
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "paused");
    let r = n
        .call(Method::POST, &format!("{path}/pause"), &n.lead, None)
        .await;
    assert_eq!(r.expect_problem(409)["code"], "newsletter_not_sending");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = n
        .sink
        .inspect()
        .iter()
        .filter(|m| m["subject"].as_str().unwrap().starts_with("Scheduled for"))
        .count();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = n
        .sink
        .inspect()
        .iter()
        .filter(|m| m["subject"].as_str().unwrap().starts_with("Scheduled for"))
        .count();
    assert_eq!(during, later, "nothing is sent while paused");
    assert!(later < 6, "paused before the end ({later} sent)");
    assert_eq!(n.get(&id).await["status"], "paused");

    let r = n
        .call(Method::POST, &format!("{path}/resume"), &n.lead, None)
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "sending");
    n.wait_status(&id, "sent").await;
    let mut all: Vec<String> = n
        .sink
        .inspect()
        .iter()
        .filter(|m| m["subject"].as_str().unwrap().starts_with("Scheduled for"))
        .map(|m| m["to"][0]["address"].as_str().unwrap().to_string())
        .collect();
    all.sort();
    assert_eq!(
        all,
        [
            "ann@acme.example",
            "bob@acme.example",
            "cat@acme.example",
            "dan@acme.example",
            "eve@acme.example",
            "lead@acme.example"
        ],
        "each member exactly once"
    );
    assert_eq!(received(&n, "Scheduled for ann"), ["ann@acme.example"]);
    let stats = n.app.get(&format!("{path}/stats"), &n.lead.access).await;
    assert_eq!(stats.body["sent"], 6);
    assert_eq!(stats.body["queued"], 0);

    // A cancelled schedule never sends.
    let second = n.drafted(&n.lead).await;
    let p2 = format!("/api/v1/newsletters/{second}");
    n.app
        .patch(&p2, &n.admin.access, &json!({"subject": "Never sent"}))
        .await
        .expect(200);
    n.call(Method::POST, &format!("{p2}/approve"), &n.lead, None)
        .await
        .expect(200);
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let r = n
        .call(
            Method::POST,
            &format!("{p2}/send"),
            &n.lead,
            Some(&json!({"send_at": at})),
        )
        .await;
    r.expect(202);
    let job = r.body["id"].as_str().unwrap().to_string();
    n.call(Method::POST, &format!("{p2}/cancel"), &n.lead, None)
        .await
        .expect(200);
    let j = eventually(WAIT, "the cancelled send's job to end", || async {
        let r = n
            .app
            .get(&format!("/api/v1/jobs/{job}"), &n.admin.access)
            .await;
        (r.body["status"] == "succeeded").then(|| r.body.clone())
    })
    .await;
    assert!(j["result"]["skipped"].as_str().is_some(), "{j}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(received(&n, "Never sent").is_empty());
    assert_eq!(n.get(&second).await["status"], "cancelled");
}

#[tokio::test]
async fn newsletter_worker_killed_mid_send_sends_nobody_twice() {
    let n = Nl::new().await;
    let people: Vec<String> = (0..8).map(|i| format!("p{i}@acme.example")).collect();
    for p in &people {
        n.member(p, "member").await;
    }
    // A slow relay (2 messages/s): the worker spends its time waiting for the rate limiter.
    let mut a = n.worker_with(&[("LAUNCHPAD_SMTP_RATE_PER_SEC", "2")]);
    let id = n.drafted(&n.lead).await;
    let path = format!("/api/v1/newsletters/{id}");
    n.app
        .patch(
            &path,
            &n.admin.access,
            &json!({"subject": "Killed mid-send"}),
        )
        .await
        .expect(200);
    n.call(Method::POST, &format!("{path}/approve"), &n.lead, None)
        .await
        .expect(200);
    n.call(Method::POST, &format!("{path}/send"), &n.lead, None)
        .await
        .expect(202);
    let pool = n.app.db.pool.clone();
    let state = || async {
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'sending')
             FROM email_outbox WHERE template = 'newsletter'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    // Kill it between two sends (the outbox's at-least-once window is a
    // death between the relay's 250 and the commit of `sent`, tested in
    // the e-mail tests): freeze it, kill it only if no message is in flight.
    let sent_before = loop {
        let (sent, _) = state().await;
        if sent >= 3 {
            let pid = a.pid().to_string();
            let signal = |s: &str| {
                assert!(
                    std::process::Command::new("kill")
                        .args([s, &pid])
                        .status()
                        .unwrap()
                        .success()
                )
            };
            signal("-STOP");
            let (sent, sending) = state().await;
            if sending == 0 {
                a.kill();
                break sent;
            }
            signal("-CONT");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        sent_before < 9,
        "killed before the end ({sent_before} sent)"
    );
    assert_eq!(n.get(&id).await["status"], "sending");

    // Another worker finishes: everyone gets exactly one newsletter.
    let _b = n.worker();
    n.wait_status(&id, "sent").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log: Vec<(f64, String, String)> = n.sink.log();
    let mut everyone = people.clone();
    everyone.push("lead@acme.example".into());
    let newsletter_ids: std::collections::HashSet<String> = n
        .sink
        .inspect()
        .iter()
        .filter(|m| m["subject"] == "Killed mid-send")
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect();
    for p in &everyone {
        let got: Vec<&(f64, String, String)> = log
            .iter()
            .filter(|(_, mid, rcpt)| rcpt == p && newsletter_ids.contains(mid))
            .collect();
        assert_eq!(got.len(), 1, "{p} got one newsletter");
    }
    assert_eq!(newsletter_ids.len(), everyone.len(), "distinct Message-IDs");
    let stats = n.app.get(&format!("{path}/stats"), &n.lead.access).await;
    assert_eq!(stats.body["sent"], 9);
}
