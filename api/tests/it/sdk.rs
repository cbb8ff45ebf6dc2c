//! The SDK story, checked: the Python client generated from the committed
//! spec by openapi-python-client drives the real API and a real worker.

use test_support::{
    TestApp, WorkerProcess,
    app::{ADMIN_EMAIL, ADMIN_PASSWORD},
    python_sdk,
};

#[tokio::test]
async fn the_generated_python_client_round_trips() {
    let sdk = python_sdk::sdk().await;
    let app = TestApp::spawn().await;
    let _worker = WorkerProcess::spawn(&app.db.url, &[]);
    match python_sdk::round_trip(&sdk, &app.base, ADMIN_EMAIL, ADMIN_PASSWORD).await {
        Ok(out) => {
            eprintln!("{out}");
            assert!(out.contains("sdk round trip: ok"), "{out}")
        }
        Err(e) => panic!("the generated Python client failed: {e}"),
    }
}

/// The check has teeth: a spec whose event stream is declared the way
/// poem-openapi declares it (an array of JobView) breaks the same round trip.
#[tokio::test]
async fn a_spec_that_breaks_generated_clients_fails_the_round_trip() {
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(python_sdk::committed_spec()).unwrap())
            .unwrap();
    let media = &mut spec["paths"]["/api/v1/jobs/{id}/events"]["get"]["responses"]["200"]["content"]
        ["text/event-stream"];
    media["schema"] = serde_json::json!({
        "type": "array",
        "format": "event-stream",
        "items": {"$ref": "#/components/schemas/JobView"},
    });
    let dir = std::env::temp_dir().join(format!(
        "launchpad-broken-sdk-{}-{}",
        std::process::id(),
        ulid::Ulid::generate()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("openapi.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    python_sdk::generate(&path, &dir)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sdk = python_sdk::PythonSdk::at(dir);
    let app = TestApp::spawn().await;
    let _worker = WorkerProcess::spawn(&app.db.url, &[]);
    let err = python_sdk::round_trip(&sdk, &app.base, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect_err("a client that reads the stream as an array must fail");
    eprintln!("{err}");
    assert!(err.contains("jobs_events"), "{err}");
}
