//! A webhook receiver for tests and benchmarks: a plain HTTP/1.1 server on
//! an ephemeral port that records every request and answers from a script
//! per path (status sequences, `Retry-After`, redirects, a hang, a huge
//! body), `200 ok` once the script is used up.

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::{Request, Response, body::Frame, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with `Retry-After: <secs>`.
    RetryAfter(u16, u64),
    /// A redirect (301/302/307/308) to `location`.
    Redirect(u16, String),
    /// Waits this long before answering 200 (a hanging receiver).
    Hang(Duration),
    /// 200 with a streamed body of this many bytes.
    Huge(u64),
}

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub received_at: DateTime<Utc>,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Received>>,
    scripts: Mutex<HashMap<String, VecDeque<Reply>>>,
    connections: AtomicUsize,
    huge_bytes_sent: AtomicU64,
    /// Benchmarks keep only the `webhook-id` header and the time.
    lean: bool,
    arrived: Notify,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

type Body = BoxBody<Bytes, Infallible>;

fn full(status: u16, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(k, _)| !shared.lean || k.as_str() == "webhook-id")
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let reply = shared
        .scripts
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(|q| q.pop_front());
    shared.requests.lock().unwrap().push(Received {
        at: Instant::now(),
        received_at: Utc::now(),
        path,
        headers,
        body: if shared.lean { vec![] } else { body },
    });
    shared.arrived.notify_waiters();
    let resp = match reply {
        None | Some(Reply::Status(200)) => full(200, "ok"),
        Some(Reply::Status(s)) => full(s, "scripted answer"),
        Some(Reply::RetryAfter(s, secs)) => {
            let mut r = full(s, "slow down");
            r.headers_mut().insert(
                "retry-after",
                secs.to_string().parse().expect("a header value"),
            );
            r
        }
        Some(Reply::Redirect(s, location)) => {
            let mut r = full(s, "moved");
            r.headers_mut()
                .insert("location", location.parse().expect("a header value"));
            r
        }
        Some(Reply::Hang(d)) => {
            tokio::time::sleep(d).await;
            full(200, "late")
        }
        Some(Reply::Huge(total)) => {
            const CHUNK: u64 = 64 * 1024;
            let counter = shared.clone();
            let chunks = futures::stream::iter((0..total.div_ceil(CHUNK)).map(move |i| {
                let n = CHUNK.min(total - i * CHUNK);
                counter.huge_bytes_sent.fetch_add(n, Ordering::Relaxed);
                Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; n as usize])))
            }));
            let mut r = Response::new(BodyExt::boxed(StreamBody::new(chunks)));
            r.headers_mut().insert(
                "content-length",
                total.to_string().parse().expect("a header value"),
            );
            r
        }
    };
    Ok(resp)
}

impl Receiver {
    /// Records whole requests.
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// `lean`: keep only the `webhook-id` header and arrival time (benchmarks).
    pub async fn start_with(lean: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let shared = Arc::new(Shared {
            lean,
            ..Default::default()
        });
        let accept = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accept.connections.fetch_add(1, Ordering::Relaxed);
                let shared = accept.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(shared.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests to `path` with `replies`, in order.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.shared
            .scripts
            .lock()
            .unwrap()
            .entry(path.to_string())
            .or_default()
            .extend(replies);
    }

    /// Requests to `path` so far.
    pub fn requests(&self, path: &str) -> Vec<Received> {
        self.shared
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// How many requests arrived (all paths).
    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// Every request so far (all paths), and clears the record.
    pub fn take_all(&self) -> Vec<Received> {
        std::mem::take(&mut *self.shared.requests.lock().unwrap())
    }

    /// Waits until `path` received at least `n` requests; panics after `timeout`.
    pub async fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let got = self.requests(path);
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out after {timeout:?}: {path} received {} of {n} requests",
                    self.requests(path).len()
                );
            }
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Body bytes handed to the connection by `Reply::Huge` answers.
    pub fn huge_bytes_sent(&self) -> u64 {
        self.shared.huge_bytes_sent.load(Ordering::Relaxed)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Checks a recorded delivery with an independent implementation of the
/// Standard Webhooks spec: the `standardwebhooks` package from PyPI, run by
/// python3 (scripts/test.sh installs it). The script first checks that
/// package against the spec's published test vector. `Err` carries its
/// verdict.
pub fn verify_standard_webhooks(secret: &str, r: &Received) -> Result<(), String> {
    const SCRIPT: &str = r#"
import json, sys
from datetime import datetime, timezone
from standardwebhooks.webhooks import Webhook
vector = Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign(
    msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
    timestamp=datetime.fromtimestamp(1614265330, tz=timezone.utc),
    data='{"test": 2432232314}')
assert vector == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", vector
d = json.load(sys.stdin)
try:
    Webhook(d["secret"]).verify(d["body"], d["headers"])
except Exception as e:
    print("%s: %s" % (type(e).__name__, e))
    sys.exit(1)
print("ok")
"#;
    use std::io::Write;
    let headers: serde_json::Map<String, serde_json::Value> = r
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("webhook-"))
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let input = serde_json::json!({
        "secret": secret,
        "headers": headers,
        "body": String::from_utf8(r.body.clone()).map_err(|e| format!("body is not UTF-8: {e}"))?,
    });
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.success() && stdout == "ok" {
        return Ok(());
    }
    if stderr.contains("No module named") {
        panic!(
            "python3 cannot import standardwebhooks (pip install standardwebhooks; scripts/test.sh does): {stderr}"
        );
    }
    Err(format!("{stdout} {stderr}").trim().to_string())
}
