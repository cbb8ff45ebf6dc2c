//! NUL characters: Postgres cannot store U+0000 in text ("invalid byte
//! sequence for encoding UTF8: 0x00"), so a string carrying one must not
//! reach SQL. Every request is checked here, once, at the edge
//! ([`crate::middleware::Edge`]), before routing to a handler:
//!
//! - the path (`%00` in a segment that an operation takes as a parameter),
//! - the query string (`%00` in a parameter's name or value),
//! - a JSON body (`\u0000` in any string or object key).
//!
//! Header values cannot carry a NUL: the HTTP parser refuses them before any
//! of this runs. Other bodies (uploads) are bytes, not SQL text.
//!
//! The answer is a 400 problem naming the parameter (`/q`, `/id`) or the
//! field (a JSON pointer such as `/email`).

use launchpad_domain::error::FieldError;
use poem::{Response, http::StatusCode};

use crate::problem::Problem;

const MESSAGE: &str = "must not contain a NUL character (U+0000)";

/// Where the request carries a NUL, if it does: `Some` is the answer to send.
pub fn check(
    paths: &Paths,
    path: &str,
    query: Option<&str>,
    json_body: Option<&[u8]>,
) -> Option<Response> {
    if let Some(name) = query.and_then(in_query).or_else(|| paths.nul_in(path)) {
        let msg = format!("parameter `{name}` {MESSAGE}");
        return Some(
            Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad Request",
                Some(msg.clone()),
            )
            .with_code("invalid_parameter")
            .with_errors(&[FieldError::new(format!("/{name}"), msg)])
            .into_response_with(None),
        );
    }
    let pointer = json_body.and_then(in_json)?;
    Some(crate::problem::error_to_response(
        crate::body::invalid(pointer, MESSAGE.into()),
        &crate::problem::PathParams::default(),
    ))
}

/// `%XX` decoding (and `+` as a space, as in form encoding); invalid escapes stay as they are.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A readable name for a parameter whose name itself holds a NUL.
fn shown(name: &str) -> String {
    name.replace('\0', "\\u0000")
}

/// The name of the first query parameter whose name or value holds a NUL.
fn in_query(query: &str) -> Option<String> {
    if !query.contains("%00") {
        return None;
    }
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name);
        (name.contains('\0') || decode(value).contains('\0')).then(|| shown(&name))
    })
}

/// The API's path templates, split into segments (`{id}` marks a parameter).
#[derive(Debug, Default, Clone)]
pub struct Paths(Vec<Vec<String>>);

impl Paths {
    /// Reads the templates from the operations of an API.
    pub fn of<A: poem_openapi::OpenApi>() -> Self {
        Self(
            A::meta()
                .into_iter()
                .flat_map(|api| api.paths)
                .map(|p| p.path.split('/').map(String::from).collect())
                .collect(),
        )
    }

    /// The path parameter whose segment holds a NUL, for a path an operation
    /// serves (any other path is left to routing: a 404).
    fn nul_in(&self, path: &str) -> Option<String> {
        if !path.contains("%00") {
            return None;
        }
        let segments: Vec<&str> = path.split('/').collect();
        self.0.iter().find_map(|t| {
            if t.len() != segments.len() {
                return None;
            }
            let mut hit = None;
            for (tpl, seg) in t.iter().zip(&segments) {
                match tpl.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => {
                        if hit.is_none() && decode(seg).contains('\0') {
                            hit = Some(name.to_string());
                        }
                    }
                    None if tpl == seg => {}
                    None => return None,
                }
            }
            hit
        })
    }
}

/// The JSON pointer of the first string or key holding a NUL in a JSON body.
/// A NUL can only be written as `\u0000` in JSON, so a body without that
/// sequence is not parsed here.
fn in_json(body: &[u8]) -> Option<String> {
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    // Malformed JSON is the body parser's to report.
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    find(&value, &mut String::new())
}

fn escape(key: &str) -> String {
    shown(&key.replace('~', "~0").replace('/', "~1"))
}

fn find(v: &serde_json::Value, at: &mut String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => Some(if at.is_empty() {
            "/".into()
        } else {
            at.clone()
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = at.len();
            at.push_str(&format!("/{i}"));
            let r = find(item, at);
            at.truncate(len);
            r
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let len = at.len();
            at.push('/');
            at.push_str(&escape(k));
            let r = if k.contains('\0') {
                Some(at.clone())
            } else {
                find(item, at)
            };
            at.truncate(len);
            r
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_the_parameter() {
        assert_eq!(in_query("limit=5&q=a%00b"), Some("q".into()));
        assert_eq!(in_query("q=a%2500b"), None);
        assert_eq!(in_query("q=ab&tag=%00"), Some("tag".into()));
        assert_eq!(in_query("x%00y=1"), Some("x\\u0000y".into()));
        assert_eq!(in_query("q=abc"), None);
    }

    #[test]
    fn decode_handles_bad_and_trailing_escapes() {
        assert_eq!(decode("a%00b"), "a\0b");
        assert_eq!(decode("a%zzb%"), "a%zzb%");
        assert_eq!(decode("a%0"), "a%0");
        assert_eq!(decode("a+b%41"), "a bA");
    }

    #[test]
    fn json_names_the_field() {
        assert_eq!(
            in_json(br#"{"email":"a\u0000b@x.example","password":"x"}"#),
            Some("/email".into())
        );
        assert_eq!(
            in_json(br#"{"points":[{"v":1},{"tags":["ok","a\u0000"]}]}"#),
            Some("/points/1/tags/1".into())
        );
        assert_eq!(in_json(br#"{"a/b\u0000":1}"#), Some("/a~1b\\u0000".into()));
        // An escaped backslash followed by `u0000` is text, not a NUL.
        assert_eq!(in_json(br#"{"a":"\\u0000"}"#), None);
        assert_eq!(in_json(br#""\u0000""#), Some("/".into()));
        assert_eq!(in_json(br#"{"a":"\u0000"#), None);
    }
}
