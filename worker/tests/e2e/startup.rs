//! Start-up errors a person sees: they name the variable to change.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use test_support::{
    TestDb,
    worker::{default_env, worker_binary},
};

/// A second worker on a machine whose metrics address is taken (by the
/// first worker, with the default `LAUNCHPAD_WORKER_METRICS_ADDR`) exits
/// with an error that names the variable, in plain text (no colour codes).
#[tokio::test]
async fn a_taken_metrics_address_fails_naming_the_variable() {
    let db = TestDb::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut cmd = Command::new(worker_binary());
    cmd.env_clear();
    if let Ok(p) = std::env::var("PATH") {
        cmd.env("PATH", p);
    }
    for (k, v) in default_env(&db.url) {
        cmd.env(k, v);
    }
    cmd.env("LAUNCHPAD_WORKER_METRICS_ADDR", &addr)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn launchpad-worker");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the worker did not exit although {addr} is taken");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("LAUNCHPAD_WORKER_METRICS_ADDR={addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("127.0.0.1:0"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a log: {stderr:?}"
    );
    drop(taken);
}
