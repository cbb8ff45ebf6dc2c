//! Newsletters without a worker: a draft job cancelled before it runs
//! leaves its newsletter `failed` (never `drafting`), and a newsletter being
//! drafted cannot be edited. (The rest runs with a worker: worker/tests/e2e/newsletters.rs.)

use test_support::{TestApp, app::json};

#[tokio::test]
async fn a_cancelled_draft_leaves_the_newsletter_failed() {
    let app = TestApp::spawn().await;
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
    let r = app
        .post(
            &format!("/api/v1/cops/{cop}/newsletters"),
            &admin.access,
            &json!({}),
        )
        .await;
    r.expect(202);
    assert!(r.header("location").unwrap().starts_with("/api/v1/jobs/"));
    let job = r.body["id"].as_str().unwrap().to_string();
    let id = r.body["subject"].as_str().unwrap().to_string();
    let path = format!("/api/v1/newsletters/{id}");
    let n = app.get(&path, &admin.access).await;
    n.expect(200);
    assert_eq!(n.body["status"], "drafting");
    let r = app
        .patch(&path, &admin.access, &json!({"subject": "Too early"}))
        .await;
    assert_eq!(r.expect_problem(409)["code"], "newsletter_not_editable");

    let r = app
        .post(
            &format!("/api/v1/jobs/{job}/cancel"),
            &admin.access,
            &json!({}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "cancelled");
    let n = app.get(&path, &admin.access).await;
    assert_eq!(n.body["status"], "failed");
    assert_eq!(n.body["failure"], "drafting was cancelled");
    // Written by hand instead.
    let r = app
        .patch(&path, &admin.access, &json!({"subject": "By hand"}))
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "draft");
}
