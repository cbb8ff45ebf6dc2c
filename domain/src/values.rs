//! Small validated values shared by many inputs (parse, don't validate).

use std::fmt;

/// A syntactically valid e-mail address (normalised: trimmed, domain lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters".into());
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("must be an e-mail address like name@example.com".into());
        };
        let domain_ok = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && !local.contains(['<', '>', '(', ')', '[', ']', ',', ';', ':', '\\', '"']);
        if !domain_ok || !local_ok {
            return Err("must be an e-mail address like name@example.com".into());
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Trims and checks a free-text field: 1..=max characters, no control
/// characters except (when `multiline`) newlines and tabs.
pub fn text(s: &str, max: usize, multiline: bool) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    if t.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if t.chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')))
    {
        return Err("must not contain control characters".into());
    }
    Ok(t.to_string())
}

/// A display name (person, customer, CoP...): 1–200 characters, one line.
pub fn name(s: &str) -> Result<String, String> {
    text(s, 200, false)
}

/// A new password: 12–256 characters.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if n < 12 {
            return Err("must be at least 12 characters".into());
        }
        if n > 256 {
            return Err("must be at most 256 characters".into());
        }
        Ok(Self(s.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// An `http(s)` URL, at most 2048 characters.
pub fn http_url(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let lower = t.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| "must be an http or https URL".to_string())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be an http or https URL".into());
    }
    Ok(t.to_string())
}

/// A slug: lower-case letters, digits and dashes, 1–63 characters.
pub fn slug(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(
            "must be 1–63 lower-case letters, digits or dashes, starting with a letter or digit"
                .into(),
        )
    }
}

/// An IANA time zone name (`Europe/Paris`, `UTC`).
pub fn time_zone(s: &str) -> Result<chrono_tz::Tz, String> {
    s.parse::<chrono_tz::Tz>()
        .map_err(|_| format!("unknown time zone `{s}`; use an IANA name like Europe/Paris"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "Ann@example.com"
        );
        for bad in [
            "",
            "a",
            "a@b",
            "a b@c.de",
            "a@@c.de",
            "a@c..de",
            "a\r\n@c.de",
            "<a>@c.de",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse("zoë@exämple.org").is_ok());
    }

    #[test]
    fn texts() {
        assert!(name("  ").is_err());
        assert!(name(&"x".repeat(201)).is_err());
        assert!(name("a\u{0}b").is_err());
        assert!(text("a\nb", 10, true).is_ok());
        assert!(text("a\nb", 10, false).is_err());
    }

    #[test]
    fn urls_and_zones() {
        assert!(http_url("https://example.com/x").is_ok());
        assert!(http_url("ftp://example.com").is_err());
        assert!(http_url("https://").is_err());
        assert!(time_zone("Europe/Paris").is_ok());
        assert!(time_zone("Mars/Olympus").is_err());
        assert!(slug("acme-1").is_ok());
        assert!(slug("Acme").is_err());
    }
}
