//! A deliberately small template language for e-mail bodies (the templates
//! live in `domain/templates/email/` and are compiled in):
//!
//! - `{{name}}` inserts a variable; in HTML templates the value is escaped
//!   (`& < > " '`), so no variable can inject markup;
//! - `{{#name}}…{{/name}}` renders its content when `name` is non-empty;
//! - `{{^name}}…{{/name}}` renders its content when `name` is empty.
//!
//! There is no raw insertion, no logic and no loops. An unknown variable or
//! an unbalanced section is an error (tests render every template).

use std::collections::BTreeMap;

/// How inserted values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// HTML text and attribute values.
    Html,
    /// Plain text, as is.
    None,
}

/// Stands for the recipient's name in content rendered once for many
/// recipients ([`Vars::recipient_slot`]); filled in per recipient when the
/// message is sent. A Unicode noncharacter, which no value may carry
/// ([`Vars::set`] removes it), so only the slot itself is ever filled.
pub const RECIPIENT: char = '\u{FDD0}';

/// The recipient's first name (newsletters), filled in like [`RECIPIENT`].
pub const FIRST_NAME: char = '\u{FDD1}';
/// The recipient's address (newsletters).
pub const ADDRESS: char = '\u{FDD2}';
/// The recipient's one-click unsubscribe URL (newsletters).
pub const UNSUBSCRIBE: char = '\u{FDD3}';

/// Every per-recipient slot: no value may carry one ([`strip_slots`]).
pub const SLOTS: [char; 4] = [RECIPIENT, FIRST_NAME, ADDRESS, UNSUBSCRIBE];

/// `s` without any slot character.
pub fn strip_slots(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(SLOTS) {
        std::borrow::Cow::Owned(s.chars().filter(|c| !SLOTS.contains(c)).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// The variables of one rendering.
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<&'static str, String>);

impl Vars {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        let mut value = value.into();
        if value.contains(SLOTS) {
            value.retain(|c| !SLOTS.contains(&c));
        }
        self.0.insert(name, value);
        self
    }

    /// Sets `name` to the value, or to empty when absent.
    pub fn set_opt(&mut self, name: &'static str, value: Option<&str>) -> &mut Self {
        self.set(name, value.unwrap_or_default())
    }

    /// Makes `name` the recipient's name, to be filled in per recipient:
    /// it renders as [`RECIPIENT`] (and counts as non-empty in sections).
    pub fn recipient_slot(&mut self, name: &'static str) -> &mut Self {
        self.0.insert(name, RECIPIENT.to_string());
        self
    }

    fn get(&self, name: &str) -> Result<&str, TemplateError> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| TemplateError(format!("unknown variable `{name}`")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template error: {0}")]
pub struct TemplateError(pub String);

/// Renders `template` with `vars`.
pub fn render(template: &str, vars: &Vars, escape: Escape) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 256);
    let rest = render_into(template, vars, escape, &mut out, None)?;
    debug_assert!(rest.is_empty());
    Ok(out)
}

/// Renders until the end of input or the closing tag of `section`; returns
/// the input after that tag.
fn render_into<'t>(
    mut input: &'t str,
    vars: &Vars,
    escape: Escape,
    out: &mut String,
    section: Option<&str>,
) -> Result<&'t str, TemplateError> {
    loop {
        let Some(open) = input.find("{{") else {
            if let Some(s) = section {
                return Err(TemplateError(format!("section `{s}` is not closed")));
            }
            out.push_str(input);
            return Ok("");
        };
        out.push_str(&input[..open]);
        let after = &input[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| TemplateError("`{{` without `}}`".into()))?;
        let tag = after[..close].trim();
        input = &after[close + 2..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            return match section {
                Some(s) if s == name => Ok(input),
                _ => Err(TemplateError(format!("unexpected `{{{{/{name}}}}}`"))),
            };
        }
        if let Some((inverted, name)) = tag
            .strip_prefix('#')
            .map(|n| (false, n.trim()))
            .or_else(|| tag.strip_prefix('^').map(|n| (true, n.trim())))
        {
            let shown = vars.get(name)?.is_empty() == inverted;
            let mut inner = String::new();
            input = render_into(input, vars, escape, &mut inner, Some(name))?;
            if shown {
                out.push_str(&inner);
            }
            continue;
        }
        let value = vars.get(tag)?;
        match escape {
            Escape::Html => escape_html(value, out),
            Escape::None => out.push_str(value),
        }
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.set("name", "Zoë <b>&</b> \"O'Neil\"")
            .set("place", "")
            .set("url", "https://x.example/?a=1&b=2");
        v
    }

    #[test]
    fn inserts_and_escapes() {
        assert_eq!(
            render("Hi {{ name }}!", &vars(), Escape::Html).unwrap(),
            "Hi Zoë &lt;b&gt;&amp;&lt;/b&gt; &quot;O&#39;Neil&quot;!"
        );
        assert_eq!(
            render("Hi {{name}}!", &vars(), Escape::None).unwrap(),
            "Hi Zoë <b>&</b> \"O'Neil\"!"
        );
        assert_eq!(
            render(r#"<a href="{{url}}">"#, &vars(), Escape::Html).unwrap(),
            r#"<a href="https://x.example/?a=1&amp;b=2">"#
        );
    }

    #[test]
    fn sections() {
        let t = "a{{#place}}[{{place}}]{{/place}}{{^place}}(none){{/place}}{{#url}}<{{#name}}n{{/name}}>{{/url}}b";
        assert_eq!(render(t, &vars(), Escape::None).unwrap(), "a(none)<n>b");
    }

    #[test]
    fn only_the_slot_renders_as_the_slot() {
        let mut v = Vars::new();
        v.recipient_slot("name")
            .set("place", format!("Room{RECIPIENT}4"));
        assert_eq!(
            render(
                "{{#name}}Hi {{name}}{{/name}} in {{place}}",
                &v,
                Escape::Html
            )
            .unwrap(),
            format!("Hi {RECIPIENT} in Room4")
        );
    }

    #[test]
    fn errors() {
        for bad in [
            "{{nope}}",
            "{{#place}}x",
            "x{{/place}}",
            "{{#place}}{{/name}}",
            "{{name",
        ] {
            assert!(
                render(bad, &vars(), Escape::None).is_err(),
                "{bad:?} rendered"
            );
        }
    }
}
