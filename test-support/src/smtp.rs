//! A real SMTP server for tests and benchmarks: `test-support/smtp_sink.py`
//! (aiosmtpd) on a free port, writing what it accepts to a Maildir, and
//! answering 4xx/5xx for chosen recipients on demand. Messages are read
//! back raw and described by independent parsers (`inspect_mail.py`:
//! Python's `email` package and PyPI `icalendar`).

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value as Json;

/// The Python interpreter with aiosmtpd and icalendar (`LAUNCHPAD_TEST_PYTHON`,
/// else `python3`; `scripts/test.sh` installs the modules).
pub fn python() -> String {
    std::env::var("LAUNCHPAD_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// A free TCP port on 127.0.0.1 (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: PathBuf,
    pub raw: Vec<u8>,
}

/// A running SMTP sink; killed and its directory removed when dropped.
pub struct SmtpSink {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    store: bool,
}

impl SmtpSink {
    /// Starts a sink on a free port, storing messages.
    pub fn start() -> Self {
        Self::start_on(free_port(), true)
    }

    /// Starts a sink on `port`; without `store` it only logs (benchmarks).
    pub fn start_on(port: u16, store: bool) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "lp-smtp-{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        ));
        std::fs::create_dir_all(&dir).expect("sink directory");
        let mut sink = Self {
            port,
            dir,
            child: None,
            store,
        };
        sink.restart();
        sink
    }

    /// The server's process id (0 when stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// `smtp://127.0.0.1:PORT`, for `LAUNCHPAD_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server (the port refuses connections until [`restart`](Self::restart)).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// (Re)starts the server on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        let mut cmd = Command::new(python());
        cmd.arg(script("smtp_sink.py"))
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if !self.store {
            cmd.arg("--no-store");
        }
        self.child = Some(
            cmd.spawn()
                .expect("start smtp_sink.py (python3 with aiosmtpd)"),
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "smtp_sink.py exited: {status} (is aiosmtpd installed? scripts/test.sh installs it)"
                );
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP sink did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Refuses `address` at RCPT TO with `code message`, for the first
    /// `times` attempts (always when `None`).
    pub fn refuse(&self, address: &str, code: u16, message: &str, times: Option<u32>) {
        let path = self.dir.join("rules.json");
        let mut rules: serde_json::Map<String, Json> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut rule = serde_json::json!({"code": code, "message": message});
        if let Some(t) = times {
            rule["times"] = t.into();
        }
        rules.insert(address.to_lowercase(), rule);
        let tmp = self.dir.join("rules.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&rules).expect("json")).expect("write rules");
        std::fs::rename(&tmp, &path).expect("install rules");
    }

    /// Lines of `received.log`: (unix time, Message-ID, recipients).
    pub fn log(&self) -> Vec<(f64, String, String)> {
        std::fs::read_to_string(self.dir.join("received.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, '\t');
                Some((
                    f.next()?.parse().ok()?,
                    f.next()?.to_string(),
                    f.next()?.to_string(),
                ))
            })
            .collect()
    }

    /// Messages accepted so far.
    pub fn count(&self) -> usize {
        self.log().len()
    }

    /// Every stored message, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.join("new"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.sort();
        paths
            .into_iter()
            .map(|path| Received {
                raw: std::fs::read(&path).expect("read message"),
                path,
            })
            .collect()
    }

    /// The stored messages described by `inspect_mail.py` (see there).
    pub fn inspect(&self) -> Vec<Json> {
        let paths: Vec<PathBuf> = self.messages().into_iter().map(|m| m.path).collect();
        if paths.is_empty() {
            return vec![];
        }
        match run_inspect(paths.iter().map(|p| p.as_os_str())) {
            Json::Array(v) => v,
            other => panic!("inspect_mail.py printed {other}"),
        }
    }

    /// Polls until at least `n` messages arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Json> {
        let deadline = Instant::now() + timeout;
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {n} messages ({} arrived)",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.inspect()
    }
}

/// Describes an iCalendar object with PyPI `icalendar`.
pub fn inspect_ics(ics: &[u8]) -> Json {
    let path = std::env::temp_dir().join(format!("lp-ics-{}.ics", ulid::Ulid::generate()));
    std::fs::write(&path, ics).expect("write ics");
    let out = run_inspect([std::ffi::OsStr::new("--ics"), path.as_os_str()]);
    let _ = std::fs::remove_file(&path);
    out
}

fn run_inspect<'a>(args: impl IntoIterator<Item = &'a std::ffi::OsStr>) -> Json {
    let out = Command::new(python())
        .arg(script("inspect_mail.py"))
        .args(args)
        .output()
        .expect("run inspect_mail.py");
    assert!(
        out.status.success(),
        "inspect_mail.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect_mail.py prints JSON")
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
