//! `TestApp`: the real API on an ephemeral port, over HTTP, against a fresh database.

use std::{net::SocketAddr, time::Duration};

use launchpad_api::config::Settings;
use launchpad_domain::config::LogFormat;
use reqwest::{Method, StatusCode, header::HeaderMap};
pub use serde_json::{Value as Json, json};
use tokio::sync::oneshot;

use crate::db::TestDb;

pub const ADMIN_EMAIL: &str = "admin@launchpad.test";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!!";
/// The credential keys of the tests' API (`LAUNCHPAD_CREDENTIAL_KEYS`):
/// `test-2` signs, `test-1` (the previous key, rotated out) is still
/// published.
pub const CREDENTIAL_KEYS: &str = "test-2:dGVzdC1jcmVkZW50aWFsLWtleS1udW1iZXItdHdvISE=,\
    test-1:dGVzdC1jcmVkZW50aWFsLWtleS1udW1iZXItb25lISE=";
/// The previous key alone: what it signed must still verify.
pub const PREVIOUS_CREDENTIAL_KEY: &str = "test-1:dGVzdC1jcmVkZW50aWFsLWtleS1udW1iZXItb25lISE=";

/// The coaching notes key of the tests' API (`LAUNCHPAD_COACHING_KEYS`).
pub const COACHING_KEYS: &str = "test-1:dGVzdC1jb2FjaGluZy1rZXktdGVzdC1jb2FjaGluZyE=";

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub db: TestDb,
    pub client: reqwest::Client,
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Tokens from a login.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

/// A response read fully: status, headers and JSON body (Null when not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Json,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, printing the body on mismatch.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an RFC 9457 problem with this status; returns the body.
    #[track_caller]
    pub fn expect_problem(&self, status: u16) -> &Json {
        self.expect(status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "not a problem: {}",
            self.text
        );
        assert_eq!(self.body["status"], status, "{}", self.text);
        assert!(
            self.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("https://")),
            "{}",
            self.text
        );
        assert!(
            self.body["request_id"].is_string(),
            "problem without request_id: {}",
            self.text
        );
        &self.body
    }

    /// The JSON pointers of a validation problem's `errors`.
    pub fn pointers(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["pointer"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Settings for tests; `tweak` adjusts them before the app starts.
pub fn test_settings(database_url: &str) -> Settings {
    Settings {
        database_url: database_url.into(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: JWT_SECRET.as_bytes().to_vec(),
        bootstrap_admin: Some((ADMIN_EMAIL.into(), ADMIN_PASSWORD.into())),
        log_format: LogFormat::Text,
        access_token_ttl: Duration::from_secs(900),
        refresh_token_ttl: Duration::from_secs(7 * 86400),
        cors_origins: vec![],
        max_body_bytes: 4 * 1024 * 1024,
        rate_limit_per_minute: 100_000,
        login_attempts_per_15_min: 1_000,
        db_max_connections: 5,
        commit_lanes: 2,
        diagnostic_jobs: true,
        webhooks_allow_insecure: false,
        mail_from: launchpad_domain::email::Sender::default(),
        files: launchpad_domain::files::FilesConfig::with_storage(
            launchpad_domain::files::storage::StorageConfig::Local {
                dir: std::env::temp_dir().join(format!(
                    "lp-files-{}",
                    ulid::Ulid::generate().to_string().to_lowercase()
                )),
            },
        ),
        public_url: None,
        portal_url: None,
        credential_keys: std::sync::Arc::new(
            launchpad_domain::lms::certificates::credential::CredentialKeys::parse(CREDENTIAL_KEYS)
                .expect("test credential keys"),
        ),
        coaching_keys: launchpad_domain::coaching::crypto::NoteKeys::parse(COACHING_KEYS)
            .expect("test coaching keys"),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDb::new().await;
        Self::spawn_on(db, tweak).await
    }

    /// Starts the API on an existing database.
    pub async fn spawn_on(db: TestDb, tweak: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = test_settings(&db.url);
        tweak(&mut settings);
        if let Some((e, p)) = &settings.bootstrap_admin {
            launchpad_domain::users::bootstrap_admin(&db.pool, e, p)
                .await
                .expect("bootstrap admin");
        }
        let pool = launchpad_domain::db::connect_lazy(
            &settings.database_url,
            &launchpad_domain::db::PoolSettings {
                max_connections: settings.db_max_connections,
                acquire_timeout: Duration::from_secs(2),
                ..Default::default()
            },
        )
        .expect("pool");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let state = launchpad_api::app::state(pool, settings.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = launchpad_api::serve(state, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            addr,
            base: format!("http://{addr}"),
            db,
            client,
            settings,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request; `body` is sent as JSON when present.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Json>,
    ) -> Resp {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Json>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self.client.request(method.clone(), self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let resp = read(rb.send().await.expect("request sent")).await;
        // A browser's cross-origin request refused by CORS (403) is the
        // browser's matter, declared on no operation.
        let cross_origin = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("origin"));
        check_problem(&method, path, &resp, !cross_origin);
        resp
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Json) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Json) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Json) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await
    }

    pub async fn tokens(&self, email: &str, password: &str) -> Tokens {
        let r = self.login(email, password).await;
        r.expect(200);
        Tokens {
            access: r.body["access_token"].as_str().unwrap().into(),
            refresh: r.body["refresh_token"].as_str().unwrap().into(),
            user_id: r.body["user"]["id"].as_str().unwrap().into(),
        }
    }

    pub async fn admin(&self) -> Tokens {
        self.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Creates a customer as admin; returns its id.
    pub async fn create_customer(&self, admin: &Tokens, slug: &str) -> String {
        let r = self
            .post(
                "/api/v1/customers",
                &admin.access,
                &json!({"name": format!("Customer {slug}"), "slug": slug}),
            )
            .await;
        r.expect(201);
        r.body["id"].as_str().unwrap().into()
    }

    /// Creates a user with `roles` in `customers` and logs in as them.
    pub async fn user(
        &self,
        admin: &Tokens,
        email: &str,
        roles: &[&str],
        customers: &[&str],
    ) -> Tokens {
        let password = "user-password-1234";
        let r = self
            .post(
                "/api/v1/users",
                &admin.access,
                &json!({"email": email, "name": email.split('@').next().unwrap(), "password": password,
                        "roles": roles, "customer_ids": customers}),
            )
            .await;
        r.expect(201);
        self.tokens(email, password).await
    }

    /// Runs a `SELECT count(*) …` (or any query returning one bigint) on the test database.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.db.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Sends `body` as raw bytes with the given headers (no JSON encoding).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let mut rb = self
            .client
            .request(method.clone(), self.url(path))
            .body(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let resp = read(rb.send().await.expect("request sent")).await;
        check_problem(&method, path, &resp, true);
        resp
    }

    /// Stops the server (as on SIGTERM).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }
}

pub async fn read(resp: reqwest::Response) -> Resp {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Json::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}

/// Every problem the tests see carries a documented `code`
/// (`launchpad_api::problem::CODES`, the spec's `ProblemCode` enum) with the
/// status documented for it, and (`declared`) a status its operation
/// declares in the spec.
#[track_caller]
pub fn check_problem(method: &Method, path: &str, resp: &Resp, declared: bool) {
    if !resp
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/problem+json"))
    {
        return;
    }
    let status = resp.status.as_u16();
    let code = resp.body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {path}: a problem without a `code`: {}", resp.text));
    match launchpad_api::problem::code_status(code) {
        Some(s) => assert_eq!(
            s, status,
            "{method} {path}: code {code:?} is documented with status {s}, sent with {status}: {}",
            resp.text
        ),
        None => panic!(
            "{method} {path}: code {code:?} is not in launchpad_api::problem::CODES: {}",
            resp.text
        ),
    }
    if let Some(declared) = declared_statuses(method, path).filter(|_| declared) {
        assert!(
            declared.contains(&status),
            "{method} {path}: status {status} is not declared for the operation in the spec \
             (declared: {declared:?}): {}",
            resp.text
        );
    }
}

/// The statuses the spec declares for the operation at `method` and
/// `path` (the most literal template that matches), if any matches.
fn declared_statuses(method: &Method, path: &str) -> Option<&'static Vec<u16>> {
    type Operation = (String, Vec<String>, Vec<u16>);
    static OPERATIONS: std::sync::LazyLock<Vec<Operation>> = std::sync::LazyLock::new(|| {
        let spec: Json = serde_json::from_str(&launchpad_api::app::spec_json(true)).expect("spec");
        let mut ops = Vec::new();
        for (template, item) in spec["paths"].as_object().into_iter().flatten() {
            for (m, op) in item.as_object().into_iter().flatten() {
                let statuses = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(s, _)| s.parse().ok())
                    .collect();
                let segments = template.split('/').map(String::from).collect();
                ops.push((m.to_uppercase(), segments, statuses));
            }
        }
        ops
    });
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    OPERATIONS
        .iter()
        .filter(|(m, t, _)| {
            m == method.as_str()
                && t.len() == segments.len()
                && t.iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s)
        })
        .max_by_key(|(_, t, _)| t.iter().filter(|t| !t.starts_with('{')).count())
        .map(|(_, _, statuses)| statuses)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}
