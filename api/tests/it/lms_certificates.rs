//! Certificates without a worker: the jobs completions enqueue, the rows the
//! job's first step writes (`issue::prepare`, as the job calls it), reading
//! them, revoking, issuing by hand, and public verification over HTTP.
//! Rendering, storing and sending are the worker's (worker e2e tests).

use reqwest::Method;
use test_support::{TestApp, app::json};

use crate::lms_common::{ids, lms};

#[tokio::test]
async fn completing_a_course_or_a_path_enqueues_one_certificate_job_each() {
    let w = lms().await;
    let (c1, l1) = w.published(&w.a, "Lakehouse fundamentals", 2).await;
    let (c2, l2) = w.published(&w.a, "Streaming 101", 1).await;
    let path = w.path(&w.a, &[&c1, &c2]).await;
    let me = &w.member_a;
    let jobs = "SELECT count(*) FROM jobs WHERE kind = 'certificate_issue'";

    w.progress(me, &c1, &l1[0], json!({"status": "completed"}))
        .await
        .expect(200);
    assert_eq!(
        w.scalar(jobs).await,
        0,
        "one lesson of two is not a completion"
    );
    w.progress(me, &c1, &l1[1], json!({"status": "completed"}))
        .await
        .expect(200);
    assert_eq!(w.scalar(jobs).await, 1);
    // Completing again (the same lesson, or after a step back) issues nothing more.
    w.progress(me, &c1, &l1[1], json!({"status": "completed"}))
        .await
        .expect(200);
    w.progress(
        me,
        &c1,
        &l1[1],
        json!({"status": "in_progress", "percent": 50}),
    )
    .await
    .expect(200);
    w.progress(me, &c1, &l1[1], json!({"status": "completed"}))
        .await
        .expect(200);
    assert_eq!(w.scalar(jobs).await, 1, "completing twice issues one");

    // The path's last course: the course's job and the path's.
    w.progress(me, &c2, &l2[0], json!({"status": "completed"}))
        .await
        .expect(200);
    assert_eq!(w.scalar(jobs).await, 3);
    let payloads: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM jobs WHERE kind = 'certificate_issue' ORDER BY created_at, id",
    )
    .fetch_all(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(payloads[0]["course_id"], c1.as_str());
    assert_eq!(payloads[0]["user_id"], me.user_id.as_str());
    assert!(
        payloads
            .iter()
            .any(|p| p["path_id"] == path.as_str() && p.get("course_id").is_none()),
        "{payloads:?}"
    );

    // The job's first step is idempotent per person and subject.
    let a = w.certificate(&me.user_id, &c1).await;
    let b = w.certificate(&me.user_id, &c1).await;
    assert_eq!(a.id, b.id);
    assert_eq!(a.verification_code, b.verification_code);
    assert_eq!(a.issuer_name, "Customer a");
    assert_eq!(w.scalar("SELECT count(*) FROM certificates").await, 1);
}

#[tokio::test]
async fn certificates_are_read_by_their_learner_and_managers_only() {
    let w = lms().await;
    let app = &w.app;
    let (course, lessons) = w.published(&w.a, "Lakehouse fundamentals", 1).await;
    let me = &w.member_a;
    w.progress(me, &course, &lessons[0], json!({"status": "completed"}))
        .await
        .expect(200);
    let cert = w.certificate(&me.user_id, &course).await;
    let path = format!("/api/v1/certificates/{}", cert.id);

    let mine = app.get(&path, &me.access).await;
    mine.expect(200);
    assert_eq!(mine.body["title"], "Lakehouse fundamentals");
    assert_eq!(mine.body["recipient_name"], "member");
    assert_eq!(mine.body["subject_type"], "course");
    assert_eq!(mine.body["status"], "valid");
    assert_eq!(
        mine.body["verify_page_url"],
        format!("/verify/{}", cert.verification_code)
    );
    assert!(mine.body.get("pdf_url").is_none(), "not rendered yet");
    app.get(&path, &w.exec_a.access).await.expect(200);
    app.get(&path, &w.internal.access).await.expect(200);
    // Another tenant's approver, and another learner of the same tenant: 404.
    app.get(&path, &w.exec_b.access).await.expect_problem(404);
    let other = app
        .user(&w.admin, "other@a.test", &["customer_member"], &[&w.a])
        .await;
    app.get(&path, &other.access).await.expect_problem(404);

    // Before the job renders it, the PDF is a 409.
    let pdf = app.get(&format!("{path}/pdf"), &me.access).await;
    assert_eq!(pdf.expect_problem(409)["code"], "certificate_not_rendered");

    let list = app.get("/api/v1/me/certificates", &me.access).await;
    list.expect(200);
    assert_eq!(ids(&list.body), [cert.id.to_string()]);
    let list = app.get("/api/v1/me/certificates", &other.access).await;
    assert!(ids(&list.body).is_empty());

    let course_list = format!("/api/v1/courses/{course}/certificates");
    let r = app.get(&course_list, &w.exec_a.access).await;
    r.expect(200);
    assert_eq!(ids(&r.body), [cert.id.to_string()]);
    app.get(&course_list, &me.access).await.expect_problem(403);
    app.get(&course_list, &w.exec_b.access)
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn admins_issue_by_hand_with_a_job() {
    let w = lms().await;
    let app = &w.app;
    let (course, _) = w.published(&w.a, "Lakehouse fundamentals", 1).await;
    let path = format!("/api/v1/courses/{course}/certificates");
    let body = json!({"user_id": w.member_a.user_id});
    let r = app.post(&path, &w.exec_a.access, &body).await;
    r.expect(202);
    assert_eq!(r.body["kind"], "certificate_issue");
    assert!(r.header("location").unwrap().starts_with("/api/v1/jobs/"));
    // The same request again joins the queued job.
    let again = app.post(&path, &w.admin.access, &body).await;
    again.expect(202);
    assert_eq!(again.body["id"], r.body["id"]);
    let reissue = app
        .post(
            &path,
            &w.admin.access,
            &json!({"user_id": w.member_a.user_id, "reissue": true}),
        )
        .await;
    reissue.expect(202);
    assert_ne!(reissue.body["id"], r.body["id"]);
    assert_eq!(
        w.scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'certificate.%'")
            .await,
        3
    );

    // Learners cannot; other tenants' courses are 404; the user must belong to the customer.
    app.post(&path, &w.member_a.access, &body)
        .await
        .expect_problem(403);
    app.post(&path, &w.exec_b.access, &body)
        .await
        .expect_problem(404);
    let stranger = app
        .user(&w.admin, "stranger@b.test", &["customer_member"], &[&w.b])
        .await;
    let bad = app
        .post(
            &path,
            &w.admin.access,
            &json!({"user_id": stranger.user_id}),
        )
        .await;
    assert_eq!(bad.pointers(), ["/user_id"]);
}

#[tokio::test]
async fn verification_codes_verify_valid_then_revoked_and_unknown_is_404() {
    let w = lms().await;
    let app = &w.app;
    let (course, lessons) = w.published(&w.a, "Lakehouse fundamentals", 1).await;
    let me = &w.member_a;
    w.progress(me, &course, &lessons[0], json!({"status": "completed"}))
        .await
        .expect(200);
    let cert = w.certificate(&me.user_id, &course).await;
    let code = cert.verification_code.clone();
    assert_eq!(code.len(), 32);

    // Public: no token. Snapshots survive renames.
    sqlx::query("UPDATE courses SET title = 'Renamed' WHERE id = $1::uuid")
        .bind(&course)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let verify = |code: String| async move {
        app.call(
            Method::GET,
            &format!("/api/v1/certificates/verify/{code}"),
            None,
            None,
        )
        .await
    };
    let r = verify(code.clone()).await;
    r.expect(200);
    let body = r.body.as_object().unwrap();
    let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "course_title",
            "issued_at",
            "issuer_name",
            "recipient_name",
            "status",
            "valid"
        ],
        "nothing else: {}",
        r.text
    );
    assert_eq!(r.body["valid"], true);
    assert_eq!(r.body["status"], "valid");
    assert_eq!(r.body["course_title"], "Lakehouse fundamentals");
    assert_eq!(r.body["recipient_name"], "member");
    assert_eq!(r.body["issuer_name"], "Customer a");
    let issued =
        chrono::DateTime::parse_from_rfc3339(r.body["issued_at"].as_str().unwrap()).unwrap();
    assert_eq!(issued, cert.issued_at);
    assert_eq!(
        verify(code.to_lowercase()).await.body,
        r.body,
        "codes are case-insensitive"
    );

    // Revocation: approvers only, audited, once.
    let revoke = format!("/api/v1/certificates/{}/revoke", cert.id);
    let reason = json!({"reason": "issued_in_error", "note": "test account"});
    app.post(&revoke, &me.access, &reason)
        .await
        .expect_problem(403);
    app.post(&revoke, &w.exec_b.access, &reason)
        .await
        .expect_problem(404);
    let r = app.post(&revoke, &w.exec_a.access, &reason).await;
    r.expect(200);
    assert_eq!(r.body["status"], "revoked");
    assert_eq!(r.body["revocation_reason"], "issued_in_error");
    let twice = app.post(&revoke, &w.admin.access, &reason).await;
    assert_eq!(twice.expect_problem(409)["code"], "certificate_revoked");
    assert_eq!(
        w.scalar("SELECT count(*) FROM audit_log WHERE action = 'certificate.revoke'")
            .await,
        1
    );

    let revoked = verify(code.clone()).await;
    revoked.expect(200);
    assert_eq!(revoked.body["valid"], false);
    assert_eq!(revoked.body["status"], "revoked");
    assert_eq!(revoked.body["revocation_reason"], "issued_in_error");
    assert!(revoked.body["revoked_at"].is_string());
    assert!(
        !revoked.text.contains("test account"),
        "the note stays internal"
    );

    // After revocation, issuing again makes a new certificate.
    let again = w.certificate(&me.user_id, &course).await;
    assert_ne!(again.id, cert.id);
    assert_ne!(again.verification_code, code);

    let unknown = verify("0".repeat(32)).await;
    assert_eq!(
        unknown.expect_problem(404)["detail"],
        "certificate not found"
    );
    let malformed = verify("not-a-code".into()).await;
    assert_eq!(
        malformed.expect_problem(404)["detail"],
        "certificate not found"
    );
}

#[tokio::test]
async fn verification_is_rate_limited_per_client() {
    let app = TestApp::spawn_with(|s| s.rate_limit_per_minute = 2).await;
    let path = format!("/api/v1/certificates/verify/{}", "0".repeat(32));
    for _ in 0..2 {
        app.call(Method::GET, &path, None, None)
            .await
            .expect_problem(404);
    }
    let limited = app.call(Method::GET, &path, None, None).await;
    limited.expect_problem(429);
    assert!(
        limited
            .header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1))
    );
}
