//! What a certificate's PDF shows, and the renderer the worker implements
//! (typst there; nothing here knows how a PDF is made).

use chrono::{DateTime, Utc};

use crate::text_enum;

text_enum! {
    /// The page size of a tenant's certificates (landscape).
    pub enum Paper {
        A4 = "a4",
        UsLetter = "us-letter",
    }
}

/// The template's default colours (a tenant may override them).
pub const DEFAULT_PRIMARY: &str = "#1d3557";
pub const DEFAULT_ACCENT: &str = "#c9a227";

/// Every variable of the certificate template, ready to print.
#[derive(Debug, Clone)]
pub struct Document {
    pub recipient_name: String,
    /// The course's or path's title.
    pub title: String,
    /// "course" or "learning path".
    pub subject_label: String,
    pub issued_at: DateTime<Utc>,
    /// The date as printed ("8 December 2026").
    pub issued_on: String,
    pub issuer_name: String,
    /// The tenant's logo (PNG, JPEG or SVG), when set and readable.
    pub logo: Option<Vec<u8>>,
    pub signatory_name: Option<String>,
    pub signatory_title: Option<String>,
    pub primary_color: String,
    pub accent_color: String,
    pub paper: Paper,
    pub verification_code: String,
    /// The public page the QR code points at.
    pub verify_url: String,
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The template (or a variable it was given) is wrong: retrying cannot help.
    #[error("certificate template: {0}")]
    Template(String),
    /// Anything else (resources, a bug): may be retried.
    #[error("rendering the certificate: {0}")]
    Other(String),
}

/// Renders a certificate to PDF bytes. CPU-bound: call it off the async
/// runtime's threads.
pub trait Renderer: Send + Sync + 'static {
    fn render(&self, doc: &Document) -> Result<Vec<u8>, RenderError>;
}

/// Text for the page: control characters dropped (a name with a tab or a
/// NUL prints without them), whitespace runs collapsed, at most `max`
/// characters (an ellipsis marks the cut).
pub fn printable(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control() && !is_format_control(*c))
        .collect();
    let joined = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() <= max {
        joined
    } else {
        let mut cut: String = joined.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Bidi overrides and other invisible formatting characters that could
/// reorder or hide printed text (joiners, needed by some scripts, stay).
fn is_format_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// "8 December 2026".
pub fn long_date(at: DateTime<Utc>) -> String {
    at.format("%-d %B %Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_drops_controls_and_caps_length() {
        assert_eq!(printable("Ada\u{0}\tLove\u{7}lace\n", 50), "Ada Lovelace");
        assert_eq!(printable("a\u{202E}b", 50), "ab");
        let long = "x".repeat(500);
        let p = printable(&long, 120);
        assert_eq!(p.chars().count(), 120);
        assert!(p.ends_with('…'));
        // Combining accents stay attached.
        assert_eq!(printable("Zoe\u{0308}", 50), "Zoe\u{0308}");
    }

    #[test]
    fn dates_print_long() {
        let at = DateTime::parse_from_rfc3339("2026-12-08T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(long_date(at), "8 December 2026");
    }
}
