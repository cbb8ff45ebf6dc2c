//! The real `launchpad-api` binary as a process: configuration errors stop it
//! with exit code 78 and one line naming the variable, `migrate` brings an
//! empty database up to date (and is a no-op the second time), every log
//! line of a request carries that request's id, SIGTERM stops a ready server
//! with exit code 0, and bad input is logged without panics or backtraces.

use std::{
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::Method;
use serde_json::Value;
use test_support::{
    TestApp, TestDb,
    app::{ADMIN_EMAIL, ADMIN_PASSWORD},
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

const BIN: &str = env!("CARGO_BIN_EXE_launchpad-api");
const SECRET: &str = "binary-test-secret-binary-test-secret";
/// sysexits.h EX_CONFIG.
const EX_CONFIG: i32 = 78;

/// A fresh working directory holding the given `.env`: the binary loads
/// `.env` from its working directory (or a parent), so an empty one keeps a
/// developer's `.env` out of the test.
struct Sandbox(PathBuf);

impl Sandbox {
    fn new(dotenv: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "launchpad-api-test-{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".env"), dotenv).unwrap();
        Self(dir)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `launchpad-api ARGS` in `sandbox` with exactly `env` (and PATH).
fn command(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(&sandbox.0)
        .env_clear()
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Ok(p) = std::env::var("PATH") {
        cmd.env("PATH", p);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary to completion (at most 60 s).
async fn run(dotenv: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let sandbox = Sandbox::new(dotenv);
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        command(&sandbox, args, env).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("launchpad-api {args:?} did not exit within 60 s"))
    .expect("run launchpad-api");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_configuration_error_exits_78_with_one_line_naming_the_variable() {
    let db_url = "postgres://launchpad:db-password-xyz@127.0.0.1:1/launchpad";
    type Env = Vec<(&'static str, &'static str)>;
    let ok: Env = vec![("DATABASE_URL", db_url), ("LAUNCHPAD_JWT_SECRET", SECRET)];
    let with = |extra: &[(&'static str, &'static str)]| -> Env {
        let mut env: Env = ok
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .copied()
            .collect();
        env.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
        env
    };
    // (command, environment, variable the line must name); "" removes a variable.
    let cases: Vec<(&str, Env, &str)> = vec![
        ("serve", vec![], "DATABASE_URL"),
        ("serve", with(&[("DATABASE_URL", "")]), "DATABASE_URL"),
        (
            "serve",
            with(&[("DATABASE_URL", "mysql://root@127.0.0.1/launchpad")]),
            "DATABASE_URL",
        ),
        (
            "migrate",
            with(&[("LAUNCHPAD_JWT_SECRET", "")]),
            "LAUNCHPAD_JWT_SECRET",
        ),
        (
            "serve",
            with(&[("LAUNCHPAD_JWT_SECRET", "short-secret-value")]),
            "LAUNCHPAD_JWT_SECRET",
        ),
        (
            "serve",
            with(&[("LAUNCHPAD_HTTP_ADDR", "localhost-8080")]),
            "LAUNCHPAD_HTTP_ADDR",
        ),
        ("serve", with(&[("LOG_FORMAT", "yaml")]), "LOG_FORMAT"),
        (
            "seed-demo",
            with(&[("LAUNCHPAD_MAX_BODY_BYTES", "lots")]),
            "LAUNCHPAD_MAX_BODY_BYTES",
        ),
        (
            "serve",
            with(&[("LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL", "admin@example.com")]),
            "LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD",
        ),
    ];
    for (cmd, env, var) in cases {
        let r = run("", &[cmd], &env).await;
        let what = format!("launchpad-api {cmd} with {env:?}");
        assert_eq!(r.code, Some(EX_CONFIG), "{what}: stderr {}", r.stderr);
        assert_eq!(r.stdout, "", "{what}");
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: not one line: {:?}", r.stderr);
        assert!(
            lines[0].starts_with(&format!("configuration error: {var}: ")),
            "{what}: {:?}",
            lines[0]
        );
        // Secrets are never echoed.
        for secret in ["short-secret-value", "db-password-xyz", SECRET] {
            assert!(
                !r.stderr.contains(secret),
                "{what} leaks {secret}: {}",
                r.stderr
            );
        }
    }
}

#[tokio::test]
async fn a_bad_variable_from_dotenv_is_named_too() {
    let r = run(
        "# written by the test\nLAUNCHPAD_JWT_SECRET=too-short-from-dotenv\n",
        &["serve"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/launchpad")],
    )
    .await;
    assert_eq!(r.code, Some(EX_CONFIG), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("configuration error: LAUNCHPAD_JWT_SECRET: "),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("too-short-from-dotenv"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------
// migrate
// ---------------------------------------------------------------------------

/// `(version, installed_on, checksum)` of every applied migration.
type Applied = Vec<(i64, chrono::DateTime<chrono::Utc>, Vec<u8>)>;

async fn applied(db: &TestDb) -> Applied {
    sqlx::query_as(
        "SELECT version, installed_on, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

async fn exists(db: &TestDb, relation: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(relation)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_brings_an_empty_database_up_to_date_and_a_second_run_is_a_no_op() {
    let db = TestDb::empty().await;
    for rel in ["_sqlx_migrations", "public.users", "audit_log", "jobs"] {
        assert!(!exists(&db, rel).await, "{rel} exists in an empty database");
    }
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("LAUNCHPAD_JWT_SECRET", SECRET),
    ];

    let first = run("", &["migrate"], &env).await;
    assert_eq!(
        first.code,
        Some(0),
        "first migrate failed: {}",
        first.stderr
    );
    assert!(
        first.stderr.contains("migrations applied"),
        "{}",
        first.stderr
    );
    assert!(
        launchpad_domain::db::migrations_current(&db.pool)
            .await
            .unwrap(),
        "migrations not current after `launchpad-api migrate`"
    );
    for rel in ["_sqlx_migrations", "public.users", "audit_log", "jobs"] {
        assert!(exists(&db, rel).await, "{rel} missing after migrate");
    }
    assert!(
        !exists(&db, "apalis.jobs").await,
        "apalis' table is gone: jobs are one row"
    );
    let after_first = applied(&db).await;
    let ours: Vec<i64> = launchpad_domain::db::MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    for v in &ours {
        assert!(
            after_first.iter().any(|(a, _, _)| a == v),
            "migration {v} not recorded"
        );
    }
    // Migrating created no users: that is serve's / seed-demo's job.
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM users")
            .fetch_one(&db.pool)
            .await
            .unwrap(),
        0
    );

    let second = run("", &["migrate"], &env).await;
    assert_eq!(
        second.code,
        Some(0),
        "second migrate failed: {}",
        second.stderr
    );
    assert_eq!(
        applied(&db).await,
        after_first,
        "the second run changed _sqlx_migrations"
    );

    // The migrated database serves: ready, and the API works on it.
    let app = TestApp::spawn_on(db, |_| {}).await;
    app.call(Method::GET, "/ready", None, None)
        .await
        .expect(200);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect(200);
}

// ---------------------------------------------------------------------------
// Request ids in the logs
// ---------------------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request: method, path, the x-request-id to send, a JSON body.
type Req<'a> = (Method, &'a str, Option<&'a str>, Option<&'a str>);

/// `launchpad-api serve` running with `LOG_FORMAT=log_format` against a
/// fresh test database (or `database_url`), its stdout and stderr collected
/// line by line.
struct Served {
    child: tokio::process::Child,
    addr: String,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    // Dropped after the process has stopped.
    _sandbox: Sandbox,
    _db: Option<TestDb>,
}

impl Served {
    /// Starts the binary and returns once its listener accepts connections.
    /// `extra` adds to (or overrides) the environment.
    async fn start(log_format: &str, database_url: Option<&str>, extra: &[(&str, &str)]) -> Self {
        let db = match database_url {
            Some(_) => None,
            None => Some(TestDb::new().await),
        };
        let database_url = database_url
            .or(db.as_ref().map(|d| d.url.as_str()))
            .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let sandbox = Sandbox::new("");
        let mut env = vec![
            ("DATABASE_URL", database_url),
            ("LAUNCHPAD_JWT_SECRET", SECRET),
            ("LAUNCHPAD_HTTP_ADDR", addr.as_str()),
            ("LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL),
            ("LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
            // Configured as in production: no development-key warnings.
            (
                "LAUNCHPAD_CREDENTIAL_KEYS",
                test_support::app::CREDENTIAL_KEYS,
            ),
            ("LAUNCHPAD_COACHING_KEYS", test_support::app::COACHING_KEYS),
            ("LOG_FORMAT", log_format),
            ("RUST_LOG", "info"),
            ("NO_COLOR", "1"),
        ];
        env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        env.extend_from_slice(extra);
        let mut child = command(&sandbox, &["serve"], &env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn launchpad-api serve");

        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut readers = Vec::new();
        let out: Box<dyn tokio::io::AsyncRead + Unpin + Send> =
            Box::new(child.stdout.take().unwrap());
        let err: Box<dyn tokio::io::AsyncRead + Unpin + Send> =
            Box::new(child.stderr.take().unwrap());
        for pipe in [out, err] {
            let lines = lines.clone();
            readers.push(tokio::spawn(async move {
                let mut r = BufReader::new(pipe).lines();
                while let Ok(Some(l)) = r.next_line().await {
                    lines.lock().unwrap().push(l);
                }
            }));
        }
        let mut served = Self {
            child,
            addr,
            lines,
            readers,
            _sandbox: sandbox,
            _db: db,
        };

        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        // Wait for the listener with bare TCP connects: an HTTP probe would add
        // log lines of requests the caller did not ask for.
        loop {
            if tokio::net::TcpStream::connect(&served.addr).await.is_ok() {
                break;
            }
            if let Some(status) = served.child.try_wait().unwrap() {
                panic!(
                    "launchpad-api exited during startup ({status}): {:?}",
                    served.lines()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "launchpad-api did not answer on {}: {:?}",
                served.addr,
                served.lines()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        served
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The lines printed so far.
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// `kill -TERM <pid>`.
    fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().expect("running").to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits (at most `within`) for the process to exit; its exit status and
    /// every line it printed.
    async fn wait(mut self, within: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let exit = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(exit) => exit.unwrap(),
            Err(_) => panic!(
                "launchpad-api still running {within:?} after SIGTERM: {:#?}",
                self.lines()
            ),
        };
        for r in std::mem::take(&mut self.readers) {
            r.await.unwrap();
        }
        (exit, self.lines())
    }
}

/// Runs `launchpad-api serve` with `LOG_FORMAT=log_format` against a fresh
/// test database (or `database_url`), sends `requests`, stops it with SIGTERM
/// and returns the response request ids and every line the process printed.
async fn serve_and_log(
    log_format: &str,
    database_url: Option<&str>,
    requests: &[Req<'_>],
) -> (Vec<String>, Vec<String>) {
    let served = Served::start(log_format, database_url, &[]).await;
    let client = reqwest::Client::new();
    let base = served.base();
    let mut ids = Vec::new();
    for (method, path, id, body) in requests {
        let mut rb = client.request(method.clone(), format!("{base}{path}"));
        if let Some(body) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(id) = id {
            rb = rb.header("x-request-id", *id);
        }
        let r = rb.send().await.expect("request");
        let got = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("x-request-id")
            .to_string();
        if let Some(id) = id {
            assert_eq!(&got, id);
        }
        ids.push(got);
    }

    served.sigterm();
    let (exit, lines) = served.wait(Duration::from_secs(30)).await;
    assert!(exit.success(), "launchpad-api exited with {exit}");
    (ids, lines)
}

#[tokio::test]
async fn json_log_lines_of_a_request_carry_its_request_id() {
    let sent = format!("logs-{}", ulid::Ulid::generate());
    let requests = [
        (Method::GET, "/api/v1/me", Some(sent.as_str()), None),
        (Method::GET, "/no/such/route", None, None),
        (Method::GET, "/health", None, None),
    ];
    let (ids, lines) = serve_and_log("json", None, &requests).await;
    assert_eq!(ids[0], sent);
    assert_ne!(ids[1], ids[2], "generated ids repeat");

    let events: Vec<Value> = lines
        .iter()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    for ((method, path, _, _), id) in requests.iter().zip(&ids) {
        let mine: Vec<&Value> = events
            .iter()
            .filter(|e| request_span(e).is_some_and(|s| s["request_id"] == id.as_str()))
            .collect();
        assert!(
            !mine.is_empty(),
            "no log line carries request id {id} ({method} {path}): {lines:#?}"
        );
        for e in &mine {
            let span = request_span(e).unwrap();
            assert_eq!(span["path"], *path, "{e}");
            assert_eq!(span["method"], method.as_str(), "{e}");
        }
        // The access log line is among them.
        assert!(
            mine.iter().any(|e| e["message"] == "request"),
            "no access log line for {id}: {mine:#?}"
        );
    }
    // Every line logged inside a request span names its request, and
    // every line about one of our paths belongs to the right request.
    let mut in_requests = 0;
    for e in &events {
        if let Some(span) = request_span(e) {
            in_requests += 1;
            let id = span["request_id"].as_str().unwrap_or_default();
            assert!(ids.iter().any(|i| i == id), "unknown request id: {e}");
        }
    }
    assert!(in_requests >= requests.len(), "{lines:#?}");
}

/// The `request` span (opened by the edge middleware) of a JSON log event:
/// in `spans` (outermost first), or the current `span`.
fn request_span(e: &Value) -> Option<&Value> {
    e["spans"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "request"))
        .or_else(|| (e["span"]["name"] == "request").then_some(&e["span"]))
}

/// `line` without ANSI escape sequences (colours, in case they are on).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn text_log_lines_of_a_request_carry_its_request_id() {
    let sent = format!("logs-text-{}", ulid::Ulid::generate());
    let requests = [(Method::GET, "/api/v1/me", Some(sent.as_str()), None)];
    let (_, lines) = serve_and_log("text", None, &requests).await;
    let lines: Vec<String> = lines.iter().map(|l| strip_ansi(l)).collect();
    let mine: Vec<&String> = lines.iter().filter(|l| l.contains(&sent)).collect();
    assert!(!mine.is_empty(), "request id {sent} not logged: {lines:#?}");
    assert!(
        mine.iter()
            .any(|l| l.contains("/api/v1/me") && l.contains("status=401")),
        "no access log line for {sent}: {mine:#?}"
    );
}

#[tokio::test]
async fn lines_logged_inside_a_handler_carry_the_request_id() {
    // Nothing listens on port 1: the login handler's database call fails and
    // the error is logged from inside the request.
    let sent = format!("logs-handler-{}", ulid::Ulid::generate());
    let body = serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string();
    let requests = [(
        Method::POST,
        "/api/v1/auth/login",
        Some(sent.as_str()),
        Some(body.as_str()),
    )];
    let (_, lines) = serve_and_log(
        "json",
        Some("postgres://postgres@127.0.0.1:1/launchpad"),
        &requests,
    )
    .await;
    let events: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let handler: Vec<&Value> = events
        .iter()
        .filter(|e| e["message"] == "dependency unavailable")
        .collect();
    assert!(
        !handler.is_empty(),
        "the handler logged nothing: {lines:#?}"
    );
    for e in handler {
        assert_eq!(
            request_span(e).map(|s| &s["request_id"]),
            Some(&Value::from(sent.as_str())),
            "{e}"
        );
    }
    // Its access line (a 503, logged as an error) too.
    assert!(
        events.iter().any(|e| e["message"] == "request failed"
            && e["status"] == 503
            && request_span(e).is_some_and(|s| s["request_id"] == sent.as_str())),
        "{lines:#?}"
    );
}

// ---------------------------------------------------------------------------
// Shutdown and bad input
// ---------------------------------------------------------------------------

/// Every line as a JSON log event (`LOG_FORMAT=json` prints nothing else).
fn json_events(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect()
}

/// Panics: no panic message, no backtrace (header, hint or frame).
fn assert_no_panic_or_backtrace(lines: &[String]) {
    for l in lines {
        let frame = l
            .trim_start()
            .split_once(':')
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            && l.starts_with(' ');
        assert!(
            !(l.contains("panicked")
                || l.contains("stack backtrace")
                || l.contains("RUST_BACKTRACE")
                || l.starts_with("   0:")
                || frame),
            "panic or backtrace in the output: {l}\n{lines:#?}"
        );
    }
}

#[tokio::test]
async fn sigterm_stops_a_ready_server_with_exit_code_0_and_logs_the_shutdown() {
    let served = Served::start("json", None, &[]).await;
    let client = reqwest::Client::new();
    let ready = format!("{}/ready", served.base());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(&ready).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET /ready never answered 200: {:#?}",
            served.lines()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let addr = served.addr.clone();

    served.sigterm();
    let (exit, lines) = served.wait(Duration::from_secs(10)).await;
    assert_eq!(exit.code(), Some(0), "exit {exit}: {lines:#?}");
    // The listener is gone.
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "{addr} still accepts connections after exit"
    );

    let events = json_events(&lines);
    let at = |message: &str| {
        events
            .iter()
            .position(|e| e["message"] == message)
            .unwrap_or_else(|| panic!("{message:?} not logged: {lines:#?}"))
    };
    let (shutting_down, stopped) = (at("shutting down"), at("launchpad-api stopped"));
    assert!(shutting_down < stopped, "{lines:#?}");
    assert_eq!(events[shutting_down]["level"], "INFO", "{lines:#?}");
    assert_eq!(events[stopped]["level"], "INFO", "{lines:#?}");
    assert_eq!(
        stopped,
        events.len() - 1,
        "lines after the last: {lines:#?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["level"] == "ERROR" || e["level"] == "WARN"),
        "{lines:#?}"
    );
    assert_no_panic_or_backtrace(&lines);
}

#[tokio::test]
async fn malformed_json_is_a_400_problem_logged_without_a_panic_or_backtrace() {
    // RUST_BACKTRACE=1 would print a backtrace with any panic, and with any
    // error logged with its captured backtrace.
    let served = Served::start("json", None, &[("RUST_BACKTRACE", "1")]).await;
    let client = reqwest::Client::new();
    let base = served.base();
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    let token = login["access_token"].as_str().expect("access_token");

    let sent = format!("bad-json-{}", ulid::Ulid::generate());
    let r = client
        .post(format!("{base}/api/v1/customers"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("x-request-id", &sent)
        .body(r#"{"name":"#)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(sent.as_str())
    );
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 400, "{problem}");

    served.sigterm();
    let (exit, lines) = served.wait(Duration::from_secs(30)).await;
    assert!(
        exit.success(),
        "launchpad-api exited with {exit}: {lines:#?}"
    );
    assert_no_panic_or_backtrace(&lines);

    let events = json_events(&lines);
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| request_span(e).is_some_and(|s| s["request_id"] == sent.as_str()))
        .collect();
    // The access line, at INFO, with the status and the request's path.
    assert!(
        mine.iter().any(|e| e["message"] == "request"
            && e["status"] == 400
            && e["level"] == "INFO"
            && request_span(e).is_some_and(|s| s["path"] == "/api/v1/customers")),
        "no INFO access line for {sent}: {lines:#?}"
    );
    // Nothing about the request at ERROR.
    assert!(
        !mine.iter().any(|e| e["level"] == "ERROR"),
        "{sent} logged at ERROR: {mine:#?}"
    );
}
