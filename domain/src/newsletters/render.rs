//! A newsletter as e-mail: its texts go through minijinja (sandboxed: no
//! loader, no includes, fuel-limited, strict about undefined variables)
//! with the variables of [`VARIABLES`], the Markdown through pulldown-cmark
//! and ammonia (no scripts, no event handlers, no `javascript:` links), the
//! whole into the e-mail layout with its CSS inlined (css-inline, nothing
//! loaded from anywhere), and the plain-text part is made from that HTML
//! (html2text).
//!
//! Rendered once per send: the personal variables render as the outbox's
//! per-recipient slots ([`crate::email::template::SLOTS`]), which the sender
//! fills for each recipient ([`crate::email::outbox::OutboxEmail::personalise`]).

use std::collections::BTreeMap;

use super::{Section, SectionLink};
use crate::{
    email::{
        header_text,
        template::{ADDRESS, FIRST_NAME, RECIPIENT, SLOTS, UNSUBSCRIBE, escape_html, strip_slots},
        templates::{HEADER_SUBJECT_MAX, Rendered},
    },
    error::FieldError,
};

/// The variables a newsletter's texts may use (`{{ first_name }}`), with
/// what each stands for. Any other name is refused when the text is saved.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "first_name",
        "The recipient's first name (the first word of their name).",
    ),
    ("name", "The recipient's full name."),
    ("email", "The recipient's e-mail address."),
    ("cop_name", "The CoP's name."),
    (
        "unsubscribe_url",
        "The recipient's one-click unsubscribe link for this CoP's newsletter.",
    ),
];

/// Template evaluation steps allowed per text (a loop cannot run away).
const FUEL: u64 = 50_000;

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// A newsletter's texts, as stored.
#[derive(Debug, Clone, Copy)]
pub struct Texts<'a> {
    pub subject: &'a str,
    pub preheader: &'a str,
    pub intro: &'a str,
    pub sections: &'a [Section],
}

/// What a text is, for messages ("the intro", "section 2's body").
fn describe(pointer: &str, sections: &[Section]) -> String {
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["sections", i, field, rest @ ..] => {
            let n: usize = i.parse().unwrap_or(0);
            let heading = sections
                .get(n)
                .map(|s| header_text(&s.heading, 60))
                .unwrap_or_default();
            let what = match (*field, rest) {
                ("links", [j, _]) => format!("link {}", j.parse::<usize>().unwrap_or(0) + 1),
                (f, _) => f.to_string(),
            };
            format!("the {what} of section {} (\"{heading}\")", n + 1)
        }
        [field] => format!("the {field}"),
        _ => pointer.to_string(),
    }
}

/// Every text of a newsletter with its JSON pointer.
fn each_text<'a>(t: &Texts<'a>) -> Vec<(String, &'a str)> {
    let mut v = vec![
        ("/subject".to_string(), t.subject),
        ("/preheader".to_string(), t.preheader),
        ("/intro".to_string(), t.intro),
    ];
    for (i, s) in t.sections.iter().enumerate() {
        v.push((format!("/sections/{i}/heading"), s.heading.as_str()));
        v.push((format!("/sections/{i}/body"), s.body.as_str()));
        for (j, l) in s.links.iter().enumerate() {
            v.push((format!("/sections/{i}/links/{j}/title"), l.title.as_str()));
        }
    }
    v
}

/// The template errors of a newsletter's texts: syntax errors and
/// variables that do not exist, each naming the text (a JSON pointer, and
/// in the message the section) and the variable.
pub fn check(t: &Texts<'_>) -> Vec<FieldError> {
    let env = environment();
    let mut errors = vec![];
    for (pointer, src) in each_text(t) {
        if !src.contains("{{") && !src.contains("{%") && !src.contains("{#") {
            continue;
        }
        let where_ = describe(&pointer, t.sections);
        match env.template_from_str(src) {
            Err(e) => errors.push(FieldError::new(
                &pointer,
                format!("{where_}: not a valid template: {e}"),
            )),
            Ok(tmpl) => {
                let mut unknown: Vec<String> = tmpl
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|v| !VARIABLES.iter().any(|(n, _)| n == v))
                    .collect();
                unknown.sort();
                for v in unknown {
                    errors.push(FieldError::new(
                        &pointer,
                        format!(
                            "{where_}: unknown template variable `{v}` (known: {})",
                            VARIABLES
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
    }
    errors
}

/// The values the texts are rendered with: the CoP's name, and the
/// per-recipient slots.
fn context(cop_name: &str) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert("first_name", FIRST_NAME.to_string());
    m.insert("name", RECIPIENT.to_string());
    m.insert("email", ADDRESS.to_string());
    m.insert("unsubscribe_url", UNSUBSCRIBE.to_string());
    m.insert("cop_name", strip_slots(cop_name).into_owned());
    m
}

/// Why a newsletter could not be rendered (a template that fails at render
/// time, e.g. out of fuel).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct RenderError {
    pub pointer: String,
    pub message: String,
}

struct Renderer {
    env: minijinja::Environment<'static>,
    ctx: BTreeMap<&'static str, String>,
}

impl Renderer {
    fn text(&self, pointer: &str, src: &str) -> Result<String, RenderError> {
        // Input never carries a slot of its own.
        let src = strip_slots(src);
        if !src.contains("{{") && !src.contains("{%") && !src.contains("{#") {
            return Ok(src.into_owned());
        }
        self.env
            .render_str(&src, &self.ctx)
            .map_err(|e| RenderError {
                pointer: pointer.into(),
                message: e.to_string(),
            })
    }
}

/// The e-mail's style sheet (inlined into the elements it matches).
const CSS: &str = "
body { margin: 0; padding: 0; background: #f4f5f7; font-family: Helvetica, Arial, sans-serif; color: #1f2933; }
.wrapper { width: 100%; background: #f4f5f7; padding: 24px 0; }
.container { max-width: 600px; margin: 0 auto; background: #ffffff; padding: 32px; border-radius: 6px; }
.cop { font-size: 13px; color: #616e7c; text-transform: uppercase; letter-spacing: 1px; margin: 0 0 8px 0; }
h1 { font-size: 24px; line-height: 1.3; margin: 0 0 16px 0; color: #102a43; }
h2 { font-size: 18px; line-height: 1.3; margin: 24px 0 8px 0; color: #102a43; }
p, li { font-size: 15px; line-height: 1.6; }
a { color: #2563eb; }
.links { padding-left: 18px; }
.footer { margin-top: 32px; padding-top: 16px; border-top: 1px solid #e4e7eb; font-size: 12px; color: #616e7c; }
.footer p { font-size: 12px; }
";

/// Renders a newsletter for `cop_name` with every personal variable as its
/// slot: the subject (header text), the HTML (CSS inlined) and the text part.
pub fn render(t: &Texts<'_>, cop_name: &str) -> Result<Rendered, RenderError> {
    let r = Renderer {
        env: environment(),
        ctx: context(cop_name),
    };
    let subject = header_text(&r.text("/subject", t.subject)?, HEADER_SUBJECT_MAX);
    let preheader = header_text(&r.text("/preheader", t.preheader)?, 300);
    let intro = r.text("/intro", t.intro)?;
    let cop = escaped(&strip_slots(cop_name));

    let mut body = String::with_capacity(4096);
    body.push_str(&format!(
        "<p class=\"cop\">{cop}</p>\n<h1>{}</h1>\n",
        escaped(&subject)
    ));
    if !intro.trim().is_empty() {
        body.push_str(&format!(
            "<div class=\"intro\">{}</div>\n",
            markdown(&intro)
        ));
    }
    for (i, s) in t.sections.iter().enumerate() {
        let heading = r.text(&format!("/sections/{i}/heading"), &s.heading)?;
        let text = r.text(&format!("/sections/{i}/body"), &s.body)?;
        body.push_str(&format!(
            "<div class=\"section\">\n<h2>{}</h2>\n{}",
            escaped(&header_text(&heading, 200)),
            markdown(&text)
        ));
        if !s.links.is_empty() {
            body.push_str("<ul class=\"links\">\n");
            for (j, l) in s.links.iter().enumerate() {
                let title = r.text(&format!("/sections/{i}/links/{j}/title"), &l.title)?;
                body.push_str(&format!(
                    "<li><a href=\"{}\" rel=\"noopener noreferrer\">{}</a></li>\n",
                    escaped(&strip_slots(&l.url)),
                    escaped(&header_text(&title, 200))
                ));
            }
            body.push_str("</ul>\n");
        }
        body.push_str("</div>\n");
    }
    body.push_str(&format!(
        "<div class=\"footer\">\n<p>You receive this newsletter as a member of {cop}. \
         <a href=\"{UNSUBSCRIBE}\">Unsubscribe from the {cop} newsletter</a>.</p>\n</div>\n"
    ));

    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <span class=\"preheader\" style=\"display:none;max-height:0;overflow:hidden;opacity:0\">{}</span>\n\
         <div class=\"wrapper\"><div class=\"container\">\n{body}</div></div>\n</body>\n</html>\n",
        escaped(&subject),
        escaped(&preheader)
    );
    let inliner = css_inline::CSSInliner::options()
        .load_remote_stylesheets(false)
        .keep_style_tags(false)
        .keep_link_tags(false)
        .build();
    let html = inliner.inline(&html).map_err(|e| RenderError {
        pointer: "/".into(),
        message: format!("the layout's CSS could not be inlined: {e}"),
    })?;
    let text = html2text::from_read(body.as_bytes(), 78).map_err(|e| RenderError {
        pointer: "/".into(),
        message: format!("the text part could not be made: {e}"),
    })?;
    Ok(Rendered {
        subject,
        text,
        html,
    })
}

fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html(s, &mut out);
    out
}

/// Markdown as sanitised HTML (the same rules as coaching notes).
fn markdown(s: &str) -> String {
    crate::coaching::markdown::to_safe_html_with_urls(s, link_target)
}

/// A link target of a newsletter's Markdown, after sanitising. Personal
/// values never stand in one (filled in later, a name such as
/// `javascript:alert(1)` would become the link): a target holding the name,
/// first name or address slot is dropped. Only the unsubscribe link may be
/// a target, as the whole of it; the Markdown renderer percent-encodes its
/// slot, which goes back to the plain slot the outbox fills.
fn link_target(url: &str) -> Option<String> {
    let encoded = |c: char| -> String {
        c.encode_utf8(&mut [0; 4])
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect()
    };
    if url == UNSUBSCRIBE.to_string() || url == encoded(UNSUBSCRIBE) {
        return Some(UNSUBSCRIBE.to_string());
    }
    let personal = SLOTS
        .iter()
        .any(|&c| url.contains(c) || url.to_ascii_uppercase().contains(&encoded(c)));
    (!personal).then(|| url.to_string())
}

/// A link of a section, checked.
pub fn check_link(l: &SectionLink) -> Result<(), String> {
    crate::values::http_url(&l.url).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::templates::Recipient;

    fn section(heading: &str, body: &str) -> Section {
        Section {
            heading: heading.into(),
            body: body.into(),
            links: vec![SectionLink {
                title: "Slides".into(),
                url: "https://example.com/s?a=1&b=2".into(),
            }],
        }
    }

    fn texts<'a>(subject: &'a str, sections: &'a [Section]) -> Texts<'a> {
        Texts {
            subject,
            preheader: "This month",
            intro: "Hello {{ first_name }}, welcome to **{{ cop_name }}**.",
            sections,
        }
    }

    #[test]
    fn renders_personalises_and_sanitises() {
        let sections = vec![section(
            "News for {{ name }}",
            "<script>alert(1)</script>\n\n[click](javascript:alert(1)) \
             <img src=x onerror=alert(2)> <a href=\"https://ok.example\" onclick=\"x()\">ok</a>\n\n\
             [Leave]({{ unsubscribe_url }})",
        )];
        let r = render(
            &texts("Data & AI — {{ first_name }}", &sections),
            "Data & AI CoP",
        )
        .unwrap();
        for bad in ["<script", "javascript:", "onerror", "onclick"] {
            assert!(!r.html.contains(bad), "{bad} in {}", r.html);
            assert!(!r.text.contains(bad), "{bad} in {}", r.text);
        }
        assert!(r.html.contains("style="), "CSS is inlined");
        assert!(!r.html.contains("<style"), "no style block left");
        let p = r.personalise_for(&Recipient {
            name: "Zoë <b>Ørsted</b>",
            address: "zoe@example.com",
            unsubscribe_url: "https://api.example/u?token=a.b&x=1",
        });
        assert_eq!(p.subject, "Data & AI — Zoë");
        assert!(p.html.contains("Hello Zoë, welcome to"), "{}", p.html);
        assert!(p.html.contains("News for Zoë &lt;b&gt;Ørsted&lt;/b&gt;"));
        assert!(
            p.html
                .contains("href=\"https://api.example/u?token=a.b&amp;x=1\""),
            "{}",
            p.html
        );
        assert_eq!(
            p.html
                .matches("https://api.example/u?token=a.b&amp;x=1")
                .count(),
            2,
            "the footer's link and the Markdown link"
        );
        assert!(
            p.text.contains("https://api.example/u?token=a.b&x=1"),
            "{}",
            p.text
        );
        assert!(p.text.contains("Hello Zoë"), "{}", p.text);
        for t in [&p.subject, &p.text, &p.html] {
            assert!(!t.contains(crate::email::template::SLOTS), "a slot is left");
            assert!(!t.contains("%EF%B7"), "an encoded slot is left");
        }
        assert!(p.html.contains("https://example.com/s?a=1&amp;b=2"));
    }

    #[test]
    fn personal_values_never_become_link_targets() {
        let sections = vec![section(
            "Links",
            "[a]({{ name }}) [b](https://x.example/?q={{ email }}) \
             <a href=\"{{ first_name }}\">c</a> ![d]({{ name }}) [e]({{ unsubscribe_url }})",
        )];
        let r = render(&texts("Hi", &sections), "CoP").unwrap();
        let p = r.personalise_for(&Recipient {
            name: "javascript:alert(1)",
            address: "javascript:alert(2)@x.example",
            unsubscribe_url: "https://api.example/u?token=t",
        });
        assert!(!p.html.contains("href=\"javascript:"), "{}", p.html);
        assert!(!p.html.contains("src=\"javascript:"), "{}", p.html);
        assert!(!p.html.contains("q=javascript"), "{}", p.html);
        assert_eq!(
            p.html
                .matches("href=\"https://api.example/u?token=t\"")
                .count(),
            2,
            "the footer's link and the Markdown one: {}",
            p.html
        );
        assert!(!p.html.contains("%EF%B7"), "{}", p.html);
    }

    #[test]
    fn unknown_variables_and_bad_syntax_name_the_text() {
        let sections = vec![
            section("Fine", "Hi {{ first_name }}"),
            section(
                "Events",
                "Hi {{ frist_name }} {% for x in items %}{{ x }}{% endfor %}",
            ),
            section("Broken", "{{ name "),
        ];
        let errors = check(&texts("Hello {{ nickname }}", &sections));
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.pointer.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0].0, "/subject");
        assert!(got[0].1.contains("`nickname`"));
        assert_eq!(got[1].0, "/sections/1/body");
        assert!(got[1].1.contains("`frist_name`") && got[1].1.contains("section 2 (\"Events\")"));
        assert_eq!(got[2].0, "/sections/1/body");
        assert!(got[2].1.contains("`items`"));
        assert_eq!(got[3].0, "/sections/2/body");
        assert!(got[3].1.contains("not a valid template"));
        assert!(check(&texts("Hi {{ cop_name }}", &sections[..1])).is_empty());
    }

    #[test]
    fn templates_cannot_run_away_or_read_files() {
        let sections = vec![section(
            "Loop",
            "{% for i in range(100) %}{% for j in range(100) %}{% for k in range(100) %}x\
             {% endfor %}{% endfor %}{% endfor %}",
        )];
        assert!(render(&texts("s", &sections), "CoP").is_err());
        let sections = vec![section("Include", "{% include 'https://example.com/x' %}")];
        assert!(render(&texts("s", &sections), "CoP").is_err());
    }

    #[test]
    fn a_slot_in_input_is_dropped() {
        let s = format!("Hi {RECIPIENT}{UNSUBSCRIBE}");
        let sections = vec![section(&s, &s)];
        let r = render(&texts(&s, &sections), "CoP").unwrap();
        assert_eq!(r.subject, "Hi");
        assert_eq!(r.html.matches(UNSUBSCRIBE).count(), 1, "the footer's only");
    }
}
