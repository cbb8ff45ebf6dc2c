//! Notes are written in Markdown and stored as written; what is shown as
//! HTML is rendered here and sanitised (ammonia's allow-list: no scripts,
//! no event handlers, no `javascript:` links, links get `rel="noopener
//! noreferrer"`), so a note cannot carry markup into a reader's page.

use pulldown_cmark::{Options, Parser, html};

/// The sanitised HTML of a Markdown note.
pub fn to_safe_html(markdown: &str) -> String {
    sanitise(markdown, None)
}

/// [`to_safe_html`] where `url` decides every link and image target the
/// allow-list kept: `Some` keeps it (possibly rewritten), `None` drops the
/// attribute.
pub fn to_safe_html_with_urls(markdown: &str, url: fn(&str) -> Option<String>) -> String {
    sanitise(markdown, Some(url))
}

fn sanitise(markdown: &str, url: Option<fn(&str) -> Option<String>>) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_TASKLISTS);
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    let mut b = ammonia::Builder::default();
    b.link_rel(Some("noopener noreferrer"));
    if let Some(url) = url {
        b.attribute_filter(move |_, attribute, value| match attribute {
            "href" | "src" | "cite" => url(value).map(std::borrow::Cow::Owned),
            _ => Some(std::borrow::Cow::Borrowed(value)),
        });
    }
    b.clean(&raw).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_sanitises() {
        let h = to_safe_html("**Good** call\n\n- [x] greet\n\n<script>alert(1)</script>");
        assert!(h.contains("<strong>Good</strong>"), "{h}");
        assert!(!h.contains("<script"), "{h}");
        let h = to_safe_html("[x](javascript:alert(1)) <img src=x onerror=alert(1)>");
        assert!(!h.contains("javascript:"), "{h}");
        assert!(!h.contains("onerror"), "{h}");
        let h = to_safe_html("[ok](https://example.com)");
        assert!(h.contains(r#"rel="noopener noreferrer""#), "{h}");
    }
}
