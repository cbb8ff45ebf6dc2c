//! Real `launchpad-worker` processes for end-to-end tests.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
};

/// The worker binary next to the test executable (`target/<profile>/`),
/// or `LAUNCHPAD_WORKER_BIN`.
pub fn worker_binary() -> PathBuf {
    if let Ok(p) = std::env::var("LAUNCHPAD_WORKER_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/<test> -> target/debug/launchpad-worker
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join(format!("launchpad-worker{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build -p launchpad-worker) or set LAUNCHPAD_WORKER_BIN",
        bin.display()
    );
    bin
}

/// A running worker process; killed (SIGKILL) when dropped.
pub struct WorkerProcess {
    pub child: Child,
    pub name: String,
}

/// Environment for test workers: fast heartbeats so orphans are rescued in seconds.
pub fn default_env(database_url: &str) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".into(), database_url.into()),
        ("LAUNCHPAD_DIAGNOSTIC_JOBS".into(), "true".into()),
        ("LAUNCHPAD_WORKER_HEARTBEAT_SECS".into(), "1".into()),
        ("LAUNCHPAD_WORKER_MISSED_HEARTBEATS".into(), "3".into()),
        ("LAUNCHPAD_WORKER_POLL_MS".into(), "250".into()),
        ("LAUNCHPAD_WORKER_SHUTDOWN_GRACE_SECS".into(), "10".into()),
        ("LAUNCHPAD_WORKER_METRICS_ADDR".into(), "127.0.0.1:0".into()),
        // Several tests run at once against one server (max_connections 100),
        // some with two or three workers: a worker takes at most 8 + 5
        // connections (plus its LISTEN connection) instead of 20 + 10.
        ("LAUNCHPAD_WORKER_DB_MAX_CONNECTIONS".into(), "8".into()),
        (
            "LAUNCHPAD_WORKER_DB_TRANSPORT_CONNECTIONS".into(),
            "5".into(),
        ),
        (
            "RUST_LOG".into(),
            std::env::var("TEST_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
        ),
    ]
}

impl WorkerProcess {
    pub fn spawn(database_url: &str, extra_env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(worker_binary());
        cmd.env_clear();
        if let Ok(p) = std::env::var("PATH") {
            cmd.env("PATH", p);
        }
        for (k, v) in default_env(database_url) {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        if std::env::var("TEST_WORKER_LOG").is_err() {
            cmd.stderr(Stdio::null());
        }
        let child = cmd.spawn().expect("spawn launchpad-worker");
        let name = format!("pid {}", child.id());
        Self { child, name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process dies without any cleanup.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        self.child.wait().expect("wait for worker")
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if self.is_running() {
            self.kill();
        }
    }
}
