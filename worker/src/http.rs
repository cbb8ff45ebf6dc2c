//! The HTTP client of webhook deliveries, with the SSRF guard at connect
//! time: host names go through [`GuardedResolver`], which refuses the
//! connection when *any* resolved address is not public, so a name that
//! re-binds to a private address after registration still gets nowhere; IP
//! literals are checked before the request. No proxy (it would resolve
//! names itself), no redirects, a total timeout, and at most 1 kB of the
//! answer is read before the connection is dropped.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use launchpad_domain::webhooks::{RESPONSE_BODY_LIMIT, delivery::AttemptResult, ssrf};
use reqwest::{
    StatusCode,
    dns::{Addrs, Name, Resolve, Resolving},
    header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER},
};

/// A connection refused by the SSRF guard.
#[derive(Debug, thiserror::Error)]
#[error("refused: {host} resolves to {ip}, which is {why}")]
pub struct Refused {
    host: String,
    ip: IpAddr,
    why: &'static str,
}

/// Resolves names with the system resolver and refuses non-public answers.
pub struct GuardedResolver {
    allow_insecure: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_insecure = self.allow_insecure;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_insecure
                && let Some((ip, why)) = addrs
                    .iter()
                    .find_map(|a| ssrf::non_public_reason(a.ip()).map(|w| (a.ip(), w)))
            {
                return Err(
                    Box::new(Refused { host, ip, why }) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
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
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { allow_insecure }))
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
        let err = GuardedResolver {
            allow_insecure: false,
        }
        .resolve(name("localhost"))
        .await
        .err()
        .unwrap();
        let refused = err.downcast_ref::<Refused>().expect("an SSRF refusal");
        assert!(refused.ip.is_loopback(), "{refused}");
        let ok = GuardedResolver {
            allow_insecure: true,
        }
        .resolve(name("localhost"))
        .await
        .ok()
        .unwrap();
        assert!(ok.into_iter().all(|a| a.ip().is_loopback()));
    }
}
