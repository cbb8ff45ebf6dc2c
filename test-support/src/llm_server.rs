//! An OpenAI-compatible chat completions and audio transcriptions server
//! for tests and benchmarks.
//! It records every request and answers from a script: queued replies
//! first (status sequences such as 429 then 200), then a responder
//! function, after an optional fixed delay.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use poem::{
    Body, EndpointExt, Request, Response, Route, handler,
    http::{HeaderMap, StatusCode},
    listener::TcpAcceptor,
    post,
    web::Data,
};
use serde_json::{Value as Json, json};
use tokio::sync::oneshot;

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    /// The body as JSON (`Null` for a form).
    pub body: Json,
    pub content_type: Option<String>,
    /// The body as sent.
    pub raw: bytes::Bytes,
}

impl Recorded {
    /// The message of `role` (`system`, `user`).
    pub fn message(&self, role: &str) -> String {
        self.body["messages"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["role"] == role))
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string()
    }

    /// The JSON between `<<<TAG` and `>>>` in the user message.
    pub fn delimited(&self, tag: &str) -> Option<Json> {
        delimited(&self.message("user"), tag)
    }

    /// The text of form field `name` (a multipart transcription request).
    pub fn form_field(&self, name: &str) -> Option<String> {
        self.form_part(name)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// The bytes of form part `name` (`file`: the audio sent).
    pub fn form_part(&self, name: &str) -> Option<Vec<u8>> {
        let ct = self.content_type.as_deref()?;
        let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
        let delim = format!("--{boundary}");
        let raw = &self.raw[..];
        let header = format!("name=\"{name}\"");
        let mut at = 0;
        while let Some(i) = find(&raw[at..], delim.as_bytes()) {
            let part_start = at + i + delim.len();
            let next = find(&raw[part_start..], delim.as_bytes())
                .map(|j| part_start + j)
                .unwrap_or(raw.len());
            let part = &raw[part_start..next];
            if let Some(h) = find(part, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&part[..h]);
                if head.contains(&header) {
                    let body = &part[h + 4..];
                    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
                    return Some(body.to_vec());
                }
            }
            at = next;
            if next >= raw.len() {
                break;
            }
        }
        None
    }

    /// The `response_format.json_schema.name` of the request.
    pub fn schema_name(&self) -> String {
        self.body["response_format"]["json_schema"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The JSON document between the line `<<<TAG` and the line `>>>` in `text`.
pub fn delimited(text: &str, tag: &str) -> Option<Json> {
    let start = text.find(&format!("<<<{tag}\n"))? + tag.len() + 4;
    let end = start + text[start..].find("\n>>>")?;
    serde_json::from_str(&text[start..end]).ok()
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// A `chat.completion` whose message content is `content` (serialised),
    /// with usage 100 prompt / 50 completion / 0 cached tokens.
    pub fn json(content: &Json) -> Self {
        Self::content(&content.to_string())
    }

    /// A `chat.completion` whose message content is `text`, as is.
    pub fn content(text: &str) -> Self {
        Self::completion(
            json!({"role": "assistant", "content": text, "refusal": null}),
            "stop",
            (100, 50, 0),
        )
    }

    /// A refusal.
    pub fn refusal(text: &str) -> Self {
        Self::completion(
            json!({"role": "assistant", "content": null, "refusal": text}),
            "stop",
            (20, 10, 0),
        )
    }

    /// A completion cut off at the token limit.
    pub fn truncated(text: &str) -> Self {
        Self::completion(
            json!({"role": "assistant", "content": text}),
            "length",
            (100, 4096, 0),
        )
    }

    fn completion(message: Json, finish_reason: &str, (p, c, cached): (u32, u32, u32)) -> Self {
        let body = json!({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1_767_225_600u32,
            "model": "test-model",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": null}],
            "usage": {
                "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0}
            }
        });
        Self {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    /// The same completion with other token counts.
    pub fn usage(mut self, prompt: u32, completion: u32, cached: u32) -> Self {
        if let Ok(mut v) = serde_json::from_str::<Json>(&self.body) {
            v["usage"] = json!({
                "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0}
            });
            self.body = v.to_string();
        }
        self
    }

    /// An OpenAI-style error answer.
    pub fn error(status: u16, kind: &str, message: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
                .to_string(),
        }
    }

    /// 429 with `Retry-After: secs`.
    pub fn rate_limited(secs: u64) -> Self {
        Self::error(429, "rate_limit_error", "Rate limit reached, retry later")
            .header("retry-after", &secs.to_string())
    }

    /// A `verbose_json` transcription of `segments` (start, end, text),
    /// with word times spread evenly over each segment.
    pub fn transcription(segments: &[(f64, f64, &str)]) -> Self {
        let mut words = vec![];
        let segs: Vec<Json> = segments
            .iter()
            .enumerate()
            .map(|(i, &(start, end, text))| {
                let ws: Vec<&str> = text.split_whitespace().collect();
                let step = (end - start) / ws.len().max(1) as f64;
                for (k, w) in ws.iter().enumerate() {
                    let s = start + step * k as f64;
                    words.push(json!({"word": w, "start": s, "end": s + step}));
                }
                json!({"id": i, "start": start, "end": end, "text": format!(" {text}"), "avg_logprob": -0.2})
            })
            .collect();
        let text = segments.iter().map(|s| s.2).collect::<Vec<_>>().join(" ");
        Self {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: json!({"task": "transcribe", "language": "english", "text": text, "segments": segs, "words": words})
                .to_string(),
        }
    }

    /// Any status and body.
    pub fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct State {
    script: Mutex<VecDeque<Reply>>,
    responder: Mutex<Option<Responder>>,
    delay: Mutex<Duration>,
    requests: Mutex<Vec<Recorded>>,
}

/// The server; stops when dropped.
pub struct LlmServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
}

#[handler]
async fn chat(
    req: &Request,
    headers: &HeaderMap,
    body: Body,
    state: Data<&Arc<State>>,
) -> Response {
    let bytes = body.into_vec().await.unwrap_or_default();
    let recorded = Recorded {
        path: req.uri().path().to_string(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        body: serde_json::from_slice(&bytes).unwrap_or(Json::Null),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        raw: bytes.into(),
    };
    state.requests.lock().unwrap().push(recorded.clone());
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let scripted = state.script.lock().unwrap().pop_front();
    let reply = match scripted {
        Some(r) => r,
        None => match state.responder.lock().unwrap().clone() {
            Some(f) => f(&recorded),
            None => Reply::error(
                500,
                "server_error",
                "the test server has no scripted answer",
            ),
        },
    };
    let mut resp =
        Response::builder().status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK));
    for (k, v) in &reply.headers {
        resp = resp.header(k.as_str(), v.as_str());
    }
    resp.body(reply.body)
}

impl LlmServer {
    pub async fn start() -> Self {
        let state = Arc::new(State {
            script: Mutex::new(VecDeque::new()),
            responder: Mutex::new(None),
            delay: Mutex::new(Duration::ZERO),
            requests: Mutex::new(vec![]),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Route::new()
            .at("/v1/chat/completions", post(chat))
            .at("/v1/audio/transcriptions", post(chat))
            .data(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let acceptor = TcpAcceptor::from_tokio(listener).expect("acceptor");
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async {
                        let _ = rx.await;
                    },
                    Some(Duration::from_secs(1)),
                )
                .await;
        });
        Self {
            addr,
            state,
            stop: Some(tx),
        }
    }

    /// The base URL for `OPENAI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues a reply (replies are used in order, before the responder).
    pub fn push(&self, r: Reply) {
        self.state.script.lock().unwrap().push_back(r);
    }

    /// Answers every request the script does not.
    pub fn respond_with(&self, f: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        *self.state.responder.lock().unwrap() = Some(Arc::new(f));
    }

    /// Waits this long before every answer.
    pub fn set_delay(&self, d: Duration) {
        *self.state.delay.lock().unwrap() = d;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
