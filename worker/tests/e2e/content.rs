//! The content library's nightly expiry end to end: a real worker process
//! runs `content_expire`, the item becomes `expired`, and its owner's
//! e-mail reaches a real SMTP server, read back by Python's `email` package.

use std::time::Duration;

use launchpad_domain::{
    jobs::{EnqueueCtx, NewJob, enqueue_one},
    kinds::{ContentExpire, ContentExpirePayload},
};
use test_support::{Json, SmtpSink, app::json};

use crate::harness::Harness;

const WAIT: Duration = Duration::from_secs(40);

async fn expire_now(h: &Harness) -> Json {
    let job = {
        let mut conn = h.app.db.pool.acquire().await.unwrap();
        enqueue_one(
            &mut conn,
            NewJob::of::<ContentExpire>(&ContentExpirePayload::default(), &EnqueueCtx::default()),
        )
        .await
        .unwrap()
    };
    h.wait_status(&job.id.to_string(), "succeeded", WAIT).await
}

#[tokio::test]
async fn expired_items_are_marked_and_their_owner_is_mailed_once() {
    let h = Harness::new().await;
    let sink = SmtpSink::start();
    let customer = h.app.create_customer(&h.admin, "acme").await;
    let owner = h
        .app
        .user(
            &h.admin,
            "owner@acme.test",
            &["customer_exec"],
            &[&customer],
        )
        .await;
    let item = |title: &'static str, owner_id: Option<&str>| {
        let body = json!({"customer_id": customer, "title": title, "owner_id": owner_id,
                          "expires_at": "2099-01-01T00:00:00Z"});
        let app = &h.app;
        let admin = &h.admin.access;
        async move {
            let r = app.post("/api/v1/content-items", admin, &body).await;
            r.expect(201);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let due = item("Pricing sheet «2026»", Some(&owner.user_id)).await;
    let later = item("Roadmap", Some(&owner.user_id)).await;
    h.app
        .post(
            &format!("/api/v1/content-items/{due}/approve"),
            &h.admin.access,
            &json!({}),
        )
        .await
        .expect(200);
    sqlx::query(
        "UPDATE content_items SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid",
    )
    .bind(&due)
    .execute(&h.app.db.pool)
    .await
    .unwrap();

    let url = sink.url();
    let _worker = h.worker_with(&[("LAUNCHPAD_SMTP_URL", url.as_str())]);
    let job = expire_now(&h).await;
    assert_eq!(job["result"]["expired"], 1, "{job}");

    let got = h
        .app
        .get(&format!("/api/v1/content-items/{due}"), &h.admin.access)
        .await;
    assert_eq!(got.body["status"], "expired", "{}", got.text);
    assert!(got.body["expired_at"].is_string());
    let kept = h
        .app
        .get(&format!("/api/v1/content-items/{later}"), &h.admin.access)
        .await;
    assert_eq!(kept.body["status"], "draft");

    let messages = sink.wait_for(1, WAIT).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["to"][0]["address"], "owner@acme.test");
    assert_eq!(m["subject"], "Content expired: Pricing sheet «2026»");
    assert!(m["defects"].as_array().unwrap().is_empty(), "{m}");
    let parts = m["mime"]["parts"].as_array().unwrap();
    let text = parts
        .iter()
        .find(|p| p["content_type"] == "text/plain")
        .expect("a text part");
    let body = text["content"].as_str().unwrap();
    assert!(
        body.contains(&format!("POST /api/v1/content-items/{due}/approve")),
        "{body}"
    );
    assert!(body.contains("Pricing sheet «2026»"), "{body}");
    let html = parts
        .iter()
        .find(|p| p["content_type"] == "text/html")
        .expect("an html part");
    assert!(
        html["content"].as_str().unwrap().contains("&laquo;")
            || html["content"].as_str().unwrap().contains("«")
    );

    // Again: nothing left to expire, no second e-mail.
    let job = expire_now(&h).await;
    assert_eq!(job["result"]["expired"], 0, "{job}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.count(), 1);
    let audited = h
        .app
        .count("SELECT count(*) FROM audit_log WHERE action = 'content_item.expired'")
        .await;
    assert_eq!(audited, 1);
}
