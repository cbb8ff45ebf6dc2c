//! The mail provider: SMTP through lettre over rustls (no OpenSSL), a pooled
//! async transport per relay, and a rate limiter per relay (governor) so a
//! fan-out of thousands never goes faster than the relay allows — shared by
//! the worker processes that send ([`share_rate`]).
//!
//! Messages are built from outbox rows with lettre's typed headers (RFC 2047
//! encoding of non-ASCII names and subjects, quoting of display names);
//! CR/LF in names and subjects are neutralised before that.

use std::{
    num::NonZeroU32,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use launchpad_domain::email::{
    Sender, header_text, outbox::OutboxEmail, templates::HEADER_SUBJECT_MAX,
};
use lettre::{
    Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType},
    transport::smtp::{Error as SmtpError, PoolConfig},
};

/// How the worker reaches its SMTP relay.
#[derive(Clone)]
pub struct MailSettings {
    /// lettre's URL form: `smtp://host:port` (plain), `smtp://…?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465` (TLS).
    pub smtp_url: String,
    pub from: Sender,
    /// Pooled SMTP connections.
    pub pool_size: u32,
    /// Messages per second to the relay.
    pub rate_per_sec: NonZeroU32,
    /// Per SMTP command.
    pub timeout: Duration,
}

impl MailSettings {
    /// The relay's URL without credentials, for logs.
    pub fn relay_for_logs(&self) -> String {
        let (scheme, rest) = self
            .smtp_url
            .split_once("://")
            .unwrap_or(("smtp", &self.smtp_url));
        let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
        format!(
            "{scheme}://{}",
            host.split(['?', '/']).next().unwrap_or(host)
        )
    }
}

/// Checks an SMTP URL as lettre reads it.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(drop)
        .map_err(|e| {
            format!("not an SMTP URL lettre understands ({e}); e.g. smtp://127.0.0.1:2525")
        })
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// 4xx, connection, TLS or timeout trouble: try again later.
    Transient(String),
    /// 5xx: refused for good. `hard_bounce` when the address itself is bad
    /// (550/551/553 without an enhanced code, or with a 5.1.x / 5.2.1 one).
    Permanent { response: String, hard_bounce: bool },
    /// The message cannot be built, or this server cannot take it.
    Invalid(String),
}

/// A file sent with a message (read from storage by `email_send`).
#[derive(Debug, Clone)]
pub struct MailAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sender: Sender,
    from: Mailbox,
    /// The relay's rate (`LAUNCHPAD_SMTP_RATE_PER_SEC`), shared by every
    /// worker process that sends.
    rate: NonZeroU32,
    /// How many processes share it ([`Mailer::share_with`]).
    processes: AtomicU32,
    /// This process's share of the rate.
    limiter: RwLock<Arc<DefaultDirectRateLimiter>>,
}

/// One process's share of the relay's `rate` when `processes` send: never
/// more than `rate / processes` (and at least one message per second).
pub fn share_of(rate: NonZeroU32, processes: u32) -> NonZeroU32 {
    NonZeroU32::new(rate.get() / processes.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// A limiter of `rate` messages per second with bursts of a tenth of a
/// second: any one-second window carries at most 1.1 × the rate.
fn limiter(rate: NonZeroU32) -> DefaultDirectRateLimiter {
    let burst = NonZeroU32::new((rate.get() / 10).max(1)).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
}

impl Mailer {
    pub fn new(s: &MailSettings) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&s.smtp_url)
            .map_err(|e| format!("LAUNCHPAD_SMTP_URL: {e}"))?
            .pool_config(PoolConfig::new().max_size(s.pool_size.max(1)))
            .timeout(Some(s.timeout))
            .build();
        let address: Address = s
            .from
            .address
            .as_str()
            .parse()
            .map_err(|e| format!("LAUNCHPAD_MAIL_FROM: {e}"))?;
        Ok(Self {
            transport,
            sender: s.from.clone(),
            from: Mailbox::new(s.from.name.clone(), address),
            rate: s.rate_per_sec,
            processes: AtomicU32::new(1),
            limiter: RwLock::new(Arc::new(limiter(s.rate_per_sec))),
        })
    }

    /// Our sender (also the ORGANIZER of invitations).
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// Waits for this process's share of the relay's rate limit to allow
    /// one more message.
    pub async fn until_ready(&self) {
        let limiter = self
            .limiter
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        limiter.until_ready().await;
    }

    /// `processes` worker processes (this one included) send to the relay:
    /// from now on this one sends at most its share of the rate.
    pub fn share_with(&self, processes: u32) {
        let processes = processes.max(1);
        if self.processes.swap(processes, Ordering::Relaxed) == processes {
            return;
        }
        let share = share_of(self.rate, processes);
        tracing::info!(
            processes,
            messages_per_sec = share.get(),
            "sharing the SMTP relay's rate limit"
        );
        *self.limiter.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(limiter(share));
    }

    /// The MIME message of an outbox row (with `attachment`, wrapped in
    /// `multipart/mixed` with the file as an attachment): `multipart/alternative` (text,
    /// HTML); with a calendar object, `multipart/mixed` → `multipart/
    /// alternative` (text, HTML, `text/calendar; method=…`) + `invite.ics`.
    pub fn build(
        &self,
        m: &OutboxEmail,
        attachment: Option<&MailAttachment>,
    ) -> Result<Message, SendError> {
        let address: Address = m
            .to_address
            .trim()
            .parse()
            .map_err(|e| SendError::Invalid(format!("invalid recipient address: {e}")))?;
        let name = m
            .to_name
            .as_deref()
            .map(|n| header_text(n, 200))
            .filter(|n| !n.is_empty());
        let alternative = MultiPart::alternative()
            .singlepart(SinglePart::plain(m.body_text.clone()))
            .singlepart(SinglePart::html(m.body_html.clone()));
        let body = match (&m.ics, &m.ics_method) {
            (Some(ics), Some(method)) => {
                let calendar =
                    ContentType::parse(&format!("text/calendar; method={method}; charset=UTF-8"))
                        .map_err(|e| SendError::Invalid(format!("calendar content type: {e}")))?;
                let ics_type = ContentType::parse("application/ics")
                    .map_err(|e| SendError::Invalid(format!("attachment content type: {e}")))?;
                MultiPart::mixed()
                    .multipart(
                        alternative
                            .singlepart(SinglePart::builder().header(calendar).body(ics.clone())),
                    )
                    .singlepart(Attachment::new("invite.ics".into()).body(ics.clone(), ics_type))
            }
            _ => alternative,
        };
        let body = match attachment {
            Some(a) => {
                let ct = ContentType::parse(&a.content_type)
                    .map_err(|e| SendError::Invalid(format!("attachment content type: {e}")))?;
                MultiPart::mixed()
                    .multipart(body)
                    .singlepart(Attachment::new(a.filename.clone()).body(a.bytes.clone(), ct))
            }
            None => body,
        };
        let mut builder = Message::builder()
            .message_id(Some(m.message_id.clone()))
            .from(self.from.clone())
            .to(Mailbox::new(name, address))
            .subject(header_text(&m.subject, HEADER_SUBJECT_MAX))
            .date_now();
        // One-click unsubscribe (RFC 8058): a POST to the URL unsubscribes.
        if let Some(url) = m.list_unsubscribe.as_deref().map(str::trim)
            && !url.is_empty()
            && url.is_ascii()
            && !url.contains(['<', '>', '\r', '\n', ' '])
        {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        // RFC 2919: `Name <id.domain>` (checked where it is written).
        if let Some(id) = m.list_id.as_deref()
            && id.is_ascii()
            && !id.contains(['\r', '\n'])
        {
            builder = builder.header(ListId(id.to_string()));
        }
        builder
            .multipart(body)
            .map_err(|e| SendError::Invalid(format!("the message cannot be built: {e}")))
    }

    /// One SMTP transaction on a pooled connection. `Ok` is the server's
    /// reply to the message (`250 …`).
    pub async fn send(&self, msg: &Message) -> Result<String, SendError> {
        match self.transport.send(msg.clone()).await {
            Ok(r) => Ok(
                format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" "))
                    .trim()
                    .to_string(),
            ),
            Err(e) => Err(classify(&e)),
        }
    }
}

fn classify(e: &SmtpError) -> SendError {
    let text = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    match e.status() {
        Some(code) if e.is_permanent() => {
            let code = code.to_string();
            let hard_bounce = is_hard_bounce(&code, &text);
            SendError::Permanent {
                response: format!("{code} {text}").trim().to_string(),
                hard_bounce,
            }
        }
        Some(code) => SendError::Transient(format!("{code} {text}").trim().to_string()),
        // lettre refuses locally what this server cannot take (e.g. a
        // non-ASCII address without SMTPUTF8): retrying will not help.
        None if e.is_client() => SendError::Invalid(e.to_string()),
        None => SendError::Transient(e.to_string()),
    }
}

/// 550 (mailbox unavailable), 551 (user not local) and 553 (mailbox name
/// not allowed) bounce the address — unless an enhanced status code says
/// the refusal is about something else (policy 5.7.x, content 5.6.x...).
fn is_hard_bounce(code: &str, text: &str) -> bool {
    if !matches!(code, "550" | "551" | "553") {
        return false;
    }
    let enhanced = text.split_whitespace().next().filter(|w| {
        w.split('.').count() == 3
            && w.split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    });
    match enhanced {
        None => true,
        Some(x) => x.starts_with("5.1.") || x == "5.2.1",
    }
}

/// Keeps this process's share of the relay's rate: every `every`, counts
/// the worker processes running `email_send` (heard from within
/// `alive_within`) and shares the rate with them, until `stop`.
pub async fn share_rate(
    db: sqlx::PgPool,
    mailer: Arc<Mailer>,
    own_process: String,
    every: Duration,
    alive_within: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    use launchpad_domain::{jobs::JobKind, kinds::EmailSend};
    crate::share::among_processes(
        db,
        EmailSend::NAME,
        own_process,
        every,
        alive_within,
        stop,
        move |n| mailer.share_with(n),
    )
    .await;
}

/// `List-Unsubscribe: <https://…>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl lettre::message::header::Header for ListUnsubscribe {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Id: Name <id.domain>` (RFC 2919).
#[derive(Debug, Clone)]
struct ListId(String);

impl lettre::message::header::Header for ListId {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Id")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl lettre::message::header::Header for ListUnsubscribePost {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(
            Self::name(),
            "List-Unsubscribe=One-Click".to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_share_the_relay_rate() {
        let rate = NonZeroU32::new(500).unwrap();
        assert_eq!(share_of(rate, 1).get(), 500);
        assert_eq!(share_of(rate, 2).get(), 250);
        assert_eq!(
            share_of(rate, 3).get(),
            166,
            "rounded down: never over the rate"
        );
        assert_eq!(share_of(rate, 0).get(), 500);
        assert_eq!(share_of(NonZeroU32::new(2).unwrap(), 5).get(), 1);
    }

    #[test]
    fn hard_bounces() {
        assert!(is_hard_bounce(
            "550",
            "5.1.1 <x@example.com>: Recipient address rejected"
        ));
        assert!(is_hard_bounce("550", "No such user"));
        assert!(is_hard_bounce("553", "5.1.3 Bad recipient address syntax"));
        assert!(is_hard_bounce("550", "5.2.1 Mailbox disabled"));
        assert!(!is_hard_bounce("550", "5.7.1 Message rejected as spam"));
        assert!(!is_hard_bounce("554", "5.1.1 whatever"));
        assert!(!is_hard_bounce("552", "5.2.2 Mailbox full"));
    }

    #[test]
    fn relay_without_credentials() {
        let s = MailSettings {
            smtp_url: "smtps://user:secret@smtp.example.com:465?tls=required".into(),
            from: Sender::default(),
            pool_size: 1,
            rate_per_sec: NonZeroU32::MIN,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(s.relay_for_logs(), "smtps://smtp.example.com:465");
        assert!(check_smtp_url("smtp://127.0.0.1:2525").is_ok());
        assert!(check_smtp_url("smtp://127.0.0.1:2525?tls=required").is_ok());
        assert!(check_smtp_url("smtps://u:p@smtp.example.com:465").is_ok());
        assert!(check_smtp_url("http://example.com").is_err());
    }
}
