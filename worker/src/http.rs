//! The HTTP client of webhook deliveries, with the SSRF guard at connect
//! time: host names go through [`GuardedResolver`], which refuses the
//! connection when *any* resolved address is not public, so a name that
//! re-binds to a private address after registration still gets nowhere; IP
//! literals are checked before the request. No proxy (it would resolve
//! names itself), no redirects, a total timeout, and at most 1 kB of the
//! answer is read before the connection is dropped.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use launchpad_domain::webhooks::{
    RESPONSE_BODY_LIMIT,
    delivery::AttemptResult,
    ssrf::{self, Refused, ResolveError},
};
use reqwest::{
    StatusCode,
    dns::{Addrs, Name, Resolve, Resolving},
    header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER},
};

/// Resolves names (the system resolver unless another is given) and
/// refuses the connection when any answer is not public
/// ([`ssrf::resolve_public`]).
pub struct GuardedResolver {
    allow_insecure: bool,
    resolver: Arc<dyn ssrf::Resolver>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_insecure = self.allow_insecure;
        let resolver = self.resolver.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            match ssrf::resolve_public(resolver.as_ref(), &host, 0, allow_insecure).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(ResolveError::Refused(r)) => {
                    Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>)
                }
                Err(ResolveError::Lookup { source, .. }) => Err(Box::new(source) as _),
            }
        })
    }
}

/// One signed request to send.
pub struct Request<'a> {
    pub url: &'a str,
    pub msg_id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: Vec<u8>,
}

/// What an attempt gave, plus the `Retry-After` of a 429/503.
#[derive(Debug)]
pub struct Sent {
    pub result: AttemptResult,
    pub retry_after: Option<Duration>,
}

impl Sent {
    pub fn is_success(&self) -> bool {
        self.result
            .status_code
            .is_some_and(|c| (200..300).contains(&c))
    }
}

pub struct WebhookClient {
    client: reqwest::Client,
    allow_insecure: bool,
}

impl WebhookClient {
    pub fn new(timeout: Duration, allow_insecure: bool) -> anyhow::Result<Self> {
        Self::with_resolver(timeout, allow_insecure, Arc::new(ssrf::SystemResolver))
    }

    /// A client resolving names with `resolver` (tests use a fixed table).
    pub fn with_resolver(
        timeout: Duration,
        allow_insecure: bool,
        resolver: Arc<dyn ssrf::Resolver>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_insecure,
                resolver,
            }))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("Launchpad-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            allow_insecure,
        })
    }

    /// The checks that need no DNS, repeated at send time (the target may
    /// have been stored under other rules): the scheme, and literal
    /// addresses (names are checked by the resolver, as they connect).
    fn precheck(&self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("refused: invalid URL ({e})"))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_insecure => {}
            other => {
                return Err(format!(
                    "refused: {other}: URLs are not allowed (https only)"
                ));
            }
        }
        if !self.allow_insecure
            && let Some(ip) = ssrf::literal_ip(&parsed)
            && let Some(why) = ssrf::non_public_reason(ip)
        {
            return Err(format!("refused: {ip} is {why}"));
        }
        Ok(parsed)
    }

    /// Sends one attempt. Never fails: every outcome is an [`AttemptResult`].
    pub async fn send(&self, req: Request<'_>) -> Sent {
        let started = Instant::now();
        let url = match self.precheck(req.url) {
            Ok(u) => u,
            Err(error) => return failed(started, error),
        };
        let resp = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", req.msg_id)
            .header("webhook-timestamp", req.timestamp.to_string())
            .header("webhook-signature", req.signature)
            .body(req.body)
            .send()
            .await;
        let mut resp = match resp {
            Ok(r) => r,
            Err(e) => return failed(started, describe(&e)),
        };
        let status = resp.status();
        let retry_after = if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            resp.headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after)
        } else {
            None
        };
        // Read at most 1 kB, then drop the response: the rest of the body is
        // never read and the connection is closed instead of reused.
        let mut body = Vec::with_capacity(RESPONSE_BODY_LIMIT);
        let mut error = None;
        while body.len() < RESPONSE_BODY_LIMIT {
            match resp.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("reading the response: {}", describe(&e)));
                    break;
                }
            }
        }
        drop(resp);
        body.truncate(RESPONSE_BODY_LIMIT);
        let text = String::from_utf8_lossy(&body).replace('\0', "\u{FFFD}");
        if error.is_none() && !status.is_success() {
            error = Some(if status.is_redirection() {
                format!("HTTP {status} (redirects are not followed)")
            } else {
                format!("HTTP {status}")
            });
        }
        Sent {
            result: AttemptResult {
                status_code: Some(status.as_u16()),
                latency_ms: elapsed_ms(started),
                response_body: (!text.is_empty()).then_some(text),
                error,
            },
            retry_after,
        }
    }
}

fn elapsed_ms(started: Instant) -> u32 {
    started.elapsed().as_millis().min(u32::MAX as u128) as u32
}

fn failed(started: Instant, error: String) -> Sent {
    Sent {
        result: AttemptResult {
            status_code: None,
            latency_ms: elapsed_ms(started),
            response_body: None,
            error: Some(error),
        },
        retry_after: None,
    }
}

/// A short description of a transport error, naming an SSRF refusal.
fn describe(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return r.to_string();
        }
        source = s.source();
    }
    if e.is_timeout() {
        return "timeout: no complete answer within the time limit".into();
    }
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, future::Future, net::IpAddr, pin::Pin};

    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("soon"), None);
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        let d = parse_retry_after(&later).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[tokio::test]
    async fn refuses_non_public_targets_before_connecting() {
        let c = WebhookClient::new(Duration::from_secs(2), false).unwrap();
        for url in [
            "http://example.com/",
            "https://127.0.0.1:9/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest",
            "https://[::1]:9/",
            "https://localhost:9/",
        ] {
            let sent = c
                .send(Request {
                    url,
                    msg_id: "msg_x",
                    timestamp: 0,
                    signature: "v1,x",
                    body: b"{}".to_vec(),
                })
                .await;
            let err = sent.result.error.unwrap();
            assert!(err.starts_with("refused"), "{url}: {err}");
            assert_eq!(sent.result.status_code, None);
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_non_public_addresses() {
        let name = |s: &str| s.parse::<Name>().unwrap();
        let guarded = |allow_insecure| GuardedResolver {
            allow_insecure,
            resolver: Arc::new(ssrf::SystemResolver),
        };
        let err = guarded(false)
            .resolve(name("localhost"))
            .await
            .err()
            .unwrap();
        let refused = err.downcast_ref::<Refused>().expect("an SSRF refusal");
        assert!(refused.ip.is_loopback(), "{refused}");
        let ok = guarded(true).resolve(name("localhost")).await.ok().unwrap();
        assert!(ok.into_iter().all(|a| a.ip().is_loopback()));
    }

    /// Answers from a fixed table: no DNS involved.
    struct Table(HashMap<&'static str, Vec<IpAddr>>);

    impl ssrf::Resolver for Table {
        fn lookup<'a>(
            &'a self,
            host: &'a str,
        ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>> {
            let found = self.0.get(host).cloned();
            Box::pin(async move {
                found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "unknown"))
            })
        }
    }

    /// Host names that resolve to private, metadata and loopback addresses
    /// are refused as the client connects, before any byte is sent; the
    /// same names are reached when the development flag lifts the rules.
    #[tokio::test]
    async fn names_resolving_to_non_public_addresses_are_refused_at_connect_time() {
        let rx = test_support::Receiver::start().await;
        let port = rx.addr.port();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let table = Arc::new(Table(HashMap::from([
            ("ten.example", vec![ip("10.0.0.1")]),
            ("metadata.example", vec![ip("169.254.169.254")]),
            ("v6-loopback.example", vec![ip("::1")]),
            ("loopback.example", vec![ip("127.0.0.1")]),
            (
                "rebound.example",
                vec![ip("93.184.216.34"), ip("127.0.0.1")],
            ),
        ])));
        let strict =
            WebhookClient::with_resolver(Duration::from_secs(2), false, table.clone()).unwrap();
        for (host, addr, rule) in [
            ("ten.example", "10.0.0.1", "private"),
            ("metadata.example", "169.254.169.254", "link-local"),
            ("v6-loopback.example", "::1", "loopback"),
            ("loopback.example", "127.0.0.1", "loopback"),
            ("rebound.example", "127.0.0.1", "loopback"),
        ] {
            let url = format!("https://{host}:{port}/hook");
            let sent = strict
                .send(Request {
                    url: &url,
                    msg_id: "msg_x",
                    timestamp: 0,
                    signature: "v1,x",
                    body: b"{}".to_vec(),
                })
                .await;
            let err = sent.result.error.unwrap();
            assert!(
                err.starts_with(&format!("refused: {host} resolves to {addr}, which is"))
                    && err.contains(rule),
                "{host}: {err}"
            );
            assert_eq!(sent.result.status_code, None);
        }
        assert_eq!(rx.connections(), 0, "a refused name was connected to");
        // With the development flag, the same resolution reaches the receiver.
        let insecure = WebhookClient::with_resolver(Duration::from_secs(5), true, table).unwrap();
        let url = format!("http://loopback.example:{port}/hook");
        let sent = insecure
            .send(Request {
                url: &url,
                msg_id: "msg_x",
                timestamp: 0,
                signature: "v1,x",
                body: b"{}".to_vec(),
            })
            .await;
        assert_eq!(sent.result.status_code, Some(200), "{:?}", sent.result);
        assert_eq!(rx.requests("/hook").len(), 1);
    }

    /// `Retry-After` is read from 429 and 503 answers only.
    #[tokio::test]
    async fn retry_after_is_read_from_429_and_503() {
        let rx = test_support::Receiver::start().await;
        let c = WebhookClient::new(Duration::from_secs(5), true).unwrap();
        rx.script(
            "/r",
            [
                test_support::Reply::RetryAfter(503, 7),
                test_support::Reply::RetryAfter(429, 3),
                test_support::Reply::RetryAfter(500, 9),
                test_support::Reply::Status(503),
            ],
        );
        let url = rx.url("/r");
        let mut got = vec![];
        for _ in 0..4 {
            let sent = c
                .send(Request {
                    url: &url,
                    msg_id: "msg_x",
                    timestamp: 0,
                    signature: "v1,x",
                    body: b"{}".to_vec(),
                })
                .await;
            assert!(!sent.is_success());
            got.push((sent.result.status_code, sent.retry_after));
        }
        assert_eq!(
            got,
            vec![
                (Some(503), Some(Duration::from_secs(7))),
                (Some(429), Some(Duration::from_secs(3))),
                (Some(500), None),
                (Some(503), None),
            ]
        );
    }
}
