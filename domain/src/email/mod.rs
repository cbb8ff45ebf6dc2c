//! E-mail as data: the outbox (one row per message per recipient), the
//! per-tenant suppression list, templates and header hygiene. The worker's
//! mail provider (`launchpad_worker::mail`) does the SMTP; nothing here does.

pub mod outbox;
pub mod template;
pub mod templates;

use std::fmt;

use crate::{
    config::{self, ConfigError},
    values::Email,
};

/// `LAUNCHPAD_MAIL_FROM` when unset.
pub const DEFAULT_MAIL_FROM: &str = "Launchpad <no-reply@launchpad.local>";

/// The sender of our mail (`LAUNCHPAD_MAIL_FROM`), also the `ORGANIZER` of
/// calendar invitations: `Name <address>` or a bare address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub name: Option<String>,
    pub address: Email,
}

impl Sender {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (name, addr) = match s.rsplit_once('<') {
            Some((name, rest)) => {
                let addr = rest
                    .strip_suffix('>')
                    .ok_or_else(|| "must be `Name <address>` or an address".to_string())?;
                (Some(name.trim().trim_matches('"').trim()), addr)
            }
            None => (None, s),
        };
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) if n.chars().any(char::is_control) => {
                return Err("the name must not contain control characters".into());
            }
            Some(n) => Some(header_text(n, 200)),
            None => None,
        };
        let address = Email::parse(addr)?;
        if !address.as_str().is_ascii() {
            return Err("the address must be ASCII".into());
        }
        Ok(Self { name, address })
    }

    /// From `LAUNCHPAD_MAIL_FROM`, or [`DEFAULT_MAIL_FROM`].
    pub fn from_env() -> Result<Self, ConfigError> {
        let raw =
            config::optional("LAUNCHPAD_MAIL_FROM")?.unwrap_or_else(|| DEFAULT_MAIL_FROM.into());
        Self::parse(&raw).map_err(|m| config::invalid("LAUNCHPAD_MAIL_FROM", &m))
    }

    /// The name shown to recipients (the address when there is none).
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.address.as_str())
    }

    /// The domain of Message-IDs: the sender's domain.
    pub fn domain(&self) -> &str {
        self.address
            .as_str()
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("launchpad.local")
    }
}

impl Default for Sender {
    fn default() -> Self {
        Self::parse(DEFAULT_MAIL_FROM).expect("the default sender parses")
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n} <{}>", self.address),
            None => write!(f, "{}", self.address),
        }
    }
}

/// The Message-ID of an outbox row: fixed when the row is written, so every
/// attempt — and a duplicate in the at-least-once window — carries the same one.
pub fn message_id(outbox_id: uuid::Uuid, sender: &Sender) -> String {
    format!("<{}@{}>", outbox_id.simple(), sender.domain())
}

/// A header value from untrusted text (a subject, a display name): control
/// characters — CR and LF above all, which could start a new header — become
/// spaces, runs of white space collapse, and the result is at most
/// `max_chars` characters. Encoding (RFC 2047) is the mail library's job.
pub fn header_text(s: &str, max_chars: usize) -> String {
    let spaced: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let collapsed = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(max_chars) {
        Some((i, _)) => collapsed[..i].trim_end().to_string(),
        None => collapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders() {
        let s = Sender::parse("Launchpad Events <events@Launchpad.Example>").unwrap();
        assert_eq!(s.name.as_deref(), Some("Launchpad Events"));
        assert_eq!(s.address.as_str(), "events@launchpad.example");
        assert_eq!(s.domain(), "launchpad.example");
        assert_eq!(s.to_string(), "Launchpad Events <events@launchpad.example>");
        let bare = Sender::parse("ops@example.com").unwrap();
        assert_eq!(bare.name, None);
        assert_eq!(bare.display_name(), "ops@example.com");
        assert_eq!(
            Sender::parse("\"Quoted\" <q@example.com>")
                .unwrap()
                .name
                .as_deref(),
            Some("Quoted")
        );
        for bad in [
            "",
            "Name <>",
            "Name <a@b.c",
            "Evil\r\nBcc: x <a@b.c>",
            "a@b",
            "n <zoë@exämple.org>",
        ] {
            assert!(Sender::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Sender::default().to_string(), DEFAULT_MAIL_FROM);
    }

    #[test]
    fn message_ids_are_stable_per_row() {
        let id = uuid::Uuid::now_v7();
        let s = Sender::default();
        assert_eq!(message_id(id, &s), message_id(id, &s));
        assert_eq!(
            message_id(id, &s),
            format!("<{}@launchpad.local>", id.simple())
        );
    }

    #[test]
    fn header_text_neutralises_line_breaks() {
        assert_eq!(
            header_text("Hello\r\nBcc: victim@example.com", 100),
            "Hello Bcc: victim@example.com"
        );
        assert_eq!(header_text("  a \t\n b  ", 100), "a b");
        assert_eq!(header_text("Zoë Ørsted — 日本", 100), "Zoë Ørsted — 日本");
        assert_eq!(header_text("abcdef", 3), "abc");
        assert_eq!(header_text("ab cdef", 3), "ab");
    }
}
