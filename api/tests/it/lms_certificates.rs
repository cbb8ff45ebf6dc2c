//! Certificates: records issued through the domain function (as the
//! certificates job will), verified publicly over HTTP.

use launchpad_domain::{
    ids::{CourseId, UserId},
    lms::{certificates::issue_certificate_record, progress},
};
use reqwest::Method;
use test_support::{TestApp, app::json};

use crate::lms_common::lms;

#[tokio::test]
async fn verification_codes_verify_valid_then_revoked_and_unknown_is_404() {
    let w = lms().await;
    let app = &w.app;
    let (course, lessons) = w.published(&w.a, "Lakehouse fundamentals", 1).await;
    let me = &w.member_a;
    w.progress(me, &course, &lessons[0], json!({"status": "completed"}))
        .await
        .expect(200);

    let db = &app.db.pool;
    let user: UserId = me.user_id.parse().unwrap();
    let course_id: CourseId = course.parse().unwrap();
    let completion = {
        let mut conn = db.acquire().await.unwrap();
        progress::completion(&mut conn, user, course_id)
            .await
            .unwrap()
            .expect("a completion")
    };
    let mut tx = db.begin().await.unwrap();
    let cert = issue_certificate_record(&mut tx, &completion)
        .await
        .unwrap();
    let again = issue_certificate_record(&mut tx, &completion)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        again.id, cert.id,
        "issuing is idempotent per (user, course)"
    );
    assert_eq!(again.verification_code, cert.verification_code);
    assert_eq!(w.scalar("SELECT count(*) FROM certificates").await, 1);
    assert_eq!(cert.recipient_name, "member");
    assert_eq!(cert.course_title, "Lakehouse fundamentals");
    let code = cert.verification_code.clone();
    assert_eq!(code.len(), 32);

    // Public: no token. Snapshots survive renames.
    sqlx::query("UPDATE courses SET title = 'Renamed' WHERE id = $1::uuid")
        .bind(&course)
        .execute(db)
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
    let issued =
        chrono::DateTime::parse_from_rfc3339(r.body["issued_at"].as_str().unwrap()).unwrap();
    assert_eq!(issued, cert.issued_at);
    assert_eq!(
        verify(code.to_lowercase()).await.body,
        r.body,
        "codes are case-insensitive"
    );

    sqlx::query("UPDATE certificates SET revoked_at = now() WHERE verification_code = $1")
        .bind(&code)
        .execute(db)
        .await
        .unwrap();
    let revoked = verify(code.clone()).await;
    revoked.expect(200);
    assert_eq!(revoked.body["valid"], false);
    assert_eq!(revoked.body["status"], "revoked");

    let unknown = verify("0".repeat(32)).await;
    assert_eq!(
        unknown.expect_problem(404)["detail"],
        "certificate not found"
    );
    verify("not-a-code".into()).await.expect_problem(404);
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
