//! What verifiers see without an account: the verification page in a real
//! browser (headless Debian chromium), and the Open Badges 3.0 credential
//! verified by PyJWT against the published JWKS, with its Bitstring Status
//! List bit flipping on revocation.

use launchpad_domain::lms::certificates::{
    Certificate,
    credential::{self, CredentialKeys},
};
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};
use test_support::{TestApp, Tokens, app::json};
use tokio::process::Command;

use crate::lms_common::{Lms, lms};

/// A learner who completed a published course, and their certificate.
async fn certified(w: &Lms, name: &str) -> (Tokens, String, Certificate) {
    let (course, lessons) = w.published(&w.a, "Lakehouse <fundamentals>", 1).await;
    let email = format!("{}@a.test", uuid::Uuid::new_v4().simple());
    let password = "user-password-1234";
    w.app
        .post(
            "/api/v1/users",
            &w.admin.access,
            &json!({"email": email, "name": name, "password": password,
                    "roles": ["customer_member"], "customer_ids": [w.a]}),
        )
        .await
        .expect(201);
    let me = w.app.tokens(&email, password).await;
    w.progress(&me, &course, &lessons[0], json!({"status": "completed"}))
        .await
        .expect(200);
    let cert = w.certificate(&me.user_id, &course).await;
    (me, email, cert)
}

/// The page's DOM after a real browser loaded it (asynchronously: the API
/// under test runs on this test's runtime).
async fn chromium_dom(url: &str) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--dump-dom",
            url,
        ])
        .kill_on_drop(true)
        .output()
        .await
        .expect("chromium (Debian package chromium; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_verify_page_shows_the_status_in_a_browser() {
    let w = lms().await;
    let app = &w.app;
    let (_, _, cert) = certified(&w, "Zoë <b>Bold</b> Ørsted").await;
    let path = format!("/verify/{}", cert.verification_code);

    let r = reqwest::get(app.url(&path)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers();
    assert!(
        h["content-type"].to_str().unwrap().starts_with("text/html"),
        "{h:?}"
    );
    assert!(h["x-robots-tag"].to_str().unwrap().contains("noindex"));
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<meta name="robots" content="noindex, nofollow">"#));
    assert!(!html.contains("<b>Bold</b>"), "names are escaped");
    assert!(!html.contains("@a.test"), "nothing else about the person");

    let dom = chromium_dom(&app.url(&path)).await;
    assert!(dom.contains(r#"data-status="valid""#), "{dom}");
    assert!(dom.contains("Zoë &lt;b&gt;Bold&lt;/b&gt; Ørsted"), "{dom}");
    assert!(dom.contains("Lakehouse &lt;fundamentals&gt;"), "{dom}");
    assert!(dom.contains("Customer a"), "{dom}");

    let revoke = format!("/api/v1/certificates/{}/revoke", cert.id);
    app.post(&revoke, &w.exec_a.access, &json!({"reason": "misconduct"}))
        .await
        .expect(200);
    let dom = chromium_dom(&app.url(&path)).await;
    assert!(dom.contains(r#"data-status="revoked""#), "{dom}");
    assert!(dom.contains("Revoked on "), "{dom}");
    assert!(dom.contains("(misconduct)"), "{dom}");

    for unknown in ["0".repeat(32), "not-a-code".into()] {
        let r = reqwest::get(app.url(&format!("/verify/{unknown}")))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
        assert!(
            r.headers()["x-robots-tag"]
                .to_str()
                .unwrap()
                .contains("noindex")
        );
        assert!(r.text().await.unwrap().contains(r#"data-status="unknown""#));
    }
}

#[tokio::test]
async fn the_verify_page_is_rate_limited_per_client() {
    let app = TestApp::spawn_with(|s| s.rate_limit_per_minute = 2).await;
    let path = format!("/verify/{}", "0".repeat(32));
    for _ in 0..2 {
        let r = reqwest::get(app.url(&path)).await.unwrap();
        assert_eq!(r.status().as_u16(), 404);
    }
    let r = reqwest::get(app.url(&path)).await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());
}

/// `verify_credential.py` (PyJWT) on `jwt` against the app at `base`.
async fn pyjwt_verify(base: &str, jwt: &str) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../test-support/verify_credential.py");
    let out = Command::new(test_support::smtp::python())
        .arg(script)
        .arg(base)
        .arg(jwt)
        .kill_on_drop(true)
        .output()
        .await
        .expect("python3");
    assert!(
        out.status.success(),
        "verify_credential.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn credentials_verify_with_pyjwt_and_their_status_bit_flips_on_revocation() {
    // The test apps sign with `test-2` and publish `test-1` too (rotated).
    let w = lms().await;
    let app = &w.app;
    let base = app.url("");
    let (me, email, cert) = certified(&w, "Ada Lovelace").await;
    let path = format!("/api/v1/certificates/{}/credential", cert.id);

    let r = reqwest::Client::new()
        .get(app.url(&path))
        .bearer_auth(&me.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/vc+jwt");
    let jwt = r.text().await.unwrap();

    let v = pyjwt_verify(&base, &jwt).await;
    assert_eq!(v["header"]["alg"], "EdDSA");
    assert_eq!(v["header"]["kid"], "test-2");
    assert_eq!(v["header"]["typ"], "vc+jwt");
    let c = &v["claims"];
    assert_eq!(
        c["type"],
        json!(["VerifiableCredential", "OpenBadgeCredential"])
    );
    assert_eq!(c["@context"][0], "https://www.w3.org/ns/credentials/v2");
    assert_eq!(c["issuer"]["name"], "Customer a");
    assert_eq!(
        c["credentialSubject"]["achievement"]["name"],
        "Lakehouse <fundamentals>"
    );
    assert!(c["credentialSubject"]["achievement"]["criteria"]["narrative"].is_string());
    assert!(c["validFrom"].is_string());
    let id = &c["credentialSubject"]["identifier"][0];
    assert_eq!(id["identityType"], "emailAddress");
    let salt = id["salt"].as_str().unwrap();
    assert_eq!(
        id["identityHash"],
        format!(
            "sha256${}",
            Sha256::digest(format!("{email}{salt}").as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    );
    assert!(
        !jwt.contains(&email) && !v.to_string().contains(&email),
        "the e-mail is hashed"
    );
    assert_eq!(v["list_bits"], 131_072);
    assert_eq!(v["bit"], 0, "valid");
    assert_eq!(v["status_list_content_type"], "application/vc+jwt");

    // Revoked: the same credential's bit is now set.
    app.post(
        &format!("/api/v1/certificates/{}/revoke", cert.id),
        &w.admin.access,
        &json!({"reason": "withdrawn"}),
    )
    .await
    .expect(200);
    assert_eq!(pyjwt_verify(&base, &jwt).await["bit"], 1, "revoked");

    // Rotation: what the previous key signed still verifies (its public
    // half stays published), and the JWKS lists both.
    let old = CredentialKeys::parse(test_support::app::PREVIOUS_CREDENTIAL_KEY).unwrap();
    let signed_before = old.sign(&credential::claims(&cert, &base)).unwrap();
    let v = pyjwt_verify(&base, &signed_before).await;
    assert_eq!(v["header"]["kid"], "test-1");
    let jwks = app
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    jwks.expect(200);
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["test-2", "test-1"]);

    // Someone else's certificate: 404, like any other read.
    let other = w
        .app
        .user(&w.admin, "exec@b2.test", &["customer_exec"], &[&w.b])
        .await;
    app.get(&path, &other.access).await.expect_problem(404);
}
