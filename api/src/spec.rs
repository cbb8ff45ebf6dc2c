//! The OpenAPI document as SDKs and Swagger UI see it: poem-openapi's
//! document, refined in one place where poem-openapi cannot say what the
//! server does (see the notes on each step).

use serde_json::{Map, Value, json};

use crate::problem::TYPE_BASE;

/// The tag listed first (the rest are sorted by name): everything starts
/// with a login.
const FIRST_TAG: &str = "Auth";
/// The tag of the diagnostic operations (served only when enabled).
const DIAGNOSTICS_TAG: &str = "Diagnostics";

const ULID_PATTERN: &str = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$";
const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// What `launchpad_domain::idempotency::parse_key` accepts.
const IDEMPOTENCY_KEY_PATTERN: &str = "^[\\x21-\\x7E]{1,255}$";

/// How strings are checked everywhere (documented once, in the API's description).
pub const STRING_RULES: &str = "\n\nStrings: text fields are trimmed and must not contain control \
     characters (Unicode `Cc`: U+0000–U+001F, U+007F–U+009F), except line feed, carriage return \
     and tab in multi-line fields (descriptions, bodies, comments); a NUL byte in any path, query, \
     header or body string answers 400 naming the parameter or field. Ids are ULIDs \
     (`format: ulid`) or UUIDs (`format: uuid`), each with its `pattern`.";

const DIAGNOSTICS_NOTE: &str = "\n\nOnly when the server runs with `LAUNCHPAD_DIAGNOSTIC_JOBS=true`: \
     otherwise this operation answers 404 and is left out of the spec served at `/openapi.json`.";

/// Refines poem-openapi's document (`raw`, the JSON of `OpenApiService::spec`).
/// `diagnostics`: keep the diagnostic operations (the committed spec keeps
/// them, marked; a server without them leaves them out).
pub fn refine(raw: &str, diagnostics: bool) -> Value {
    let mut doc: Value = serde_json::from_str(raw).expect("poem-openapi emits JSON");
    if let Some(d) = doc["info"]["description"].as_str() {
        doc["info"]["description"] = Value::String(format!("{d}{STRING_RULES}"));
    }
    let schemas = doc["components"]["schemas"].clone();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            item.retain(|_, op| diagnostics || !is_diagnostic(op));
            for (method, op) in item.iter_mut() {
                refine_operation(path, method, op, &schemas);
            }
        }
        paths.retain(|_, item| item.as_object().is_some_and(|o| !o.is_empty()));
    }
    sort_tags(&mut doc, diagnostics);
    add_id_patterns(&mut doc);
    remove_unused_schemas(&mut doc);
    doc
}

fn is_diagnostic(op: &Value) -> bool {
    op["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == DIAGNOSTICS_TAG))
}

/// Problems an operation answers beyond what its shape implies (by
/// `operationId`): signed URLs are unauthenticated but refuse a bad
/// signature (403); a download of a file (or a certificate's PDF) that is
/// not ready conflicts (409).
const ALSO_ANSWERS: &[(&str, &[&str])] = &[
    ("files_download", &["409"]),
    ("certificates_pdf", &["409"]),
    ("files_upload_signed", &["403"]),
    ("files_download_signed", &["403"]),
    ("files_thumbnail_signed", &["403"]),
];

fn refine_operation(path: &str, method: &str, op: &mut Value, schemas: &Value) {
    if is_diagnostic(op) {
        let d = op["description"].as_str().unwrap_or_default().to_string();
        op["description"] = Value::String(format!("{d}{DIAGNOSTICS_NOTE}").trim().to_string());
    }
    // `get_mut`, not `op[…]`: indexing a missing key inserts a null.
    let params = op.get_mut("parameters").and_then(Value::as_array_mut);
    for param in params.into_iter().flatten() {
        if param["in"] == "header" && param["name"] == "Idempotency-Key" {
            let s = &mut param["schema"];
            s["pattern"] = IDEMPOTENCY_KEY_PATTERN.into();
            s["minLength"] = 1.into();
            s["maxLength"] = 255.into();
        }
    }
    let has_params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
    let has_body = op.get("requestBody").is_some();
    let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
    let tag = |name: &str| {
        op["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == name))
    };
    let (auth, ops) = (tag(FIRST_TAG), tag("Ops"));
    let read_only = method == "get";
    let path_params = path.contains('{');
    let pointer = example_pointer(op, schemas);
    let also: &[&str] = ALSO_ANSWERS
        .iter()
        .find(|(id, _)| op["operationId"] == *id)
        .map_or(&[], |(_, statuses)| statuses);
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    // Declare only the problems the operation can answer (Swagger UI showed
    // all eleven on every operation), each with one example of its own.
    responses.retain(|status, _| {
        also.contains(&status.as_str())
            || match status.as_str() {
                "400" => has_params || has_body,
                "401" => secured || auth,
                "403" => secured,
                "404" => secured || path_params,
                "409" | "422" => !read_only,
                "413" | "415" => has_body,
                "429" => !ops,
                _ => true,
            }
    });
    for (status, resp) in responses.iter_mut() {
        let Some(content) = resp.get_mut("content") else {
            continue;
        };
        if let Some(media) = content.get_mut("application/problem+json")
            && let Ok(status) = status.parse::<u16>()
        {
            media["example"] = problem_example(status, path, &pointer);
        }
        if let Some(media) = content.get_mut("text/event-stream") {
            event_stream(media);
        }
    }
}

/// poem-openapi declares an `EventStream<T>` as an array of `T`, which
/// generated SDKs read as a JSON array (the Python client iterated over the
/// characters of the stream). Each server-sent event carries one `T`: the
/// body is declared as the text of the stream, and `x-event-data` names the
/// schema of each event's `data`.
fn event_stream(media: &mut Value) {
    let schema = &media["schema"];
    if schema["type"] != "array" || schema["format"] != "event-stream" {
        return;
    }
    let item = schema["items"].clone();
    let name = item["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or("JSON value")
        .to_string();
    media["schema"] = json!({
        "type": "string",
        "format": "event-stream",
        "description": format!(
            "Server-sent events (`text/event-stream`): each event's `data` is one `{name}` as JSON; \
             lines starting with `:` keep the connection alive."
        ),
    });
    media["x-event-data"] = item;
}

/// The JSON pointer an example 400 names: the operation's first required
/// (else first) body field, or its first parameter.
fn example_pointer(op: &Value, schemas: &Value) -> String {
    let body = op["requestBody"]["content"]
        .as_object()
        .and_then(|c| c.values().next())
        .map(|m| &m["schema"]);
    let field = body
        .and_then(|b| {
            let resolved = match b["$ref"].as_str() {
                Some(r) => &schemas[r.rsplit('/').next()?],
                None => b,
            };
            resolved["required"]
                .as_array()
                .and_then(|r| r.first())
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| {
                    resolved["properties"]
                        .as_object()
                        .and_then(|p| p.keys().next().cloned())
                })
        })
        .or_else(|| {
            op["parameters"]
                .as_array()
                .and_then(|p| p.first())
                .and_then(|p| p["name"].as_str())
                .map(str::to_string)
        });
    format!("/{}", field.unwrap_or_default())
}

/// One example problem per status, with the code the server sends most often for it.
fn problem_example(status: u16, path: &str, pointer: &str) -> Value {
    let (kind, title, code, detail) = match status {
        400 => (
            "validation",
            "Invalid request",
            "validation_failed",
            format!("{pointer}: is not valid"),
        ),
        401 => (
            "unauthorized",
            "Unauthorized",
            "unauthorized",
            "a valid bearer access token is required".into(),
        ),
        403 => (
            "forbidden",
            "Forbidden",
            "forbidden",
            "your role does not allow this".into(),
        ),
        404 => (
            "not-found",
            "Not Found",
            "not_found",
            "resource not found".into(),
        ),
        409 => (
            "conflict",
            "Conflict",
            "already_exists",
            "a resource with the same unique fields already exists".into(),
        ),
        413 => (
            "payload-too-large",
            "Payload Too Large",
            "payload_too_large",
            "the request body exceeds the limit of 4194304 bytes".into(),
        ),
        415 => (
            "unsupported-media-type",
            "Unsupported Media Type",
            "unsupported_media_type",
            "the body must be application/json".into(),
        ),
        422 => (
            "unprocessable",
            "Unprocessable request",
            "idempotency_key_reused",
            "this Idempotency-Key was used with another request body".into(),
        ),
        429 => (
            "rate-limited",
            "Too Many Requests",
            "rate_limited",
            "rate limit exceeded; retry later".into(),
        ),
        503 => (
            "unavailable",
            "Service Unavailable",
            "unavailable",
            "a dependency is temporarily unavailable; retry later".into(),
        ),
        _ => (
            "internal",
            "Internal Server Error",
            "internal",
            "an unexpected error occurred; quote the request_id to support".into(),
        ),
    };
    let mut p = json!({
        "type": format!("{TYPE_BASE}{kind}"),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": path,
        "request_id": "01JD3ZJ8V4Q6Y4N5C7X2T0M9KA",
        "code": code,
    });
    if status == 400 {
        p["errors"] = json!([{ "pointer": pointer, "detail": "is not valid" }]);
    }
    p
}

/// `Auth` first, the rest by name; the diagnostics tag only with its operations.
fn sort_tags(doc: &mut Value, diagnostics: bool) {
    let Some(tags) = doc["tags"].as_array_mut() else {
        return;
    };
    tags.retain(|t| diagnostics || t["name"] != DIAGNOSTICS_TAG);
    tags.sort_by_key(|t| {
        let name = t["name"].as_str().unwrap_or_default().to_string();
        (name != FIRST_TAG, name.to_lowercase())
    });
    if !diagnostics {
        return;
    }
    for t in tags.iter_mut() {
        if t["name"] == DIAGNOSTICS_TAG {
            let d = t["description"].as_str().unwrap_or_default().to_string();
            t["description"] = Value::String(format!("{d}{DIAGNOSTICS_NOTE}"));
        }
    }
}

/// Every id schema (`format: ulid` or `uuid`) gets the pattern the server parses.
fn add_id_patterns(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("type").is_some_and(|t| t == "string") && !o.contains_key("pattern") {
                let pattern = match o.get("format").and_then(Value::as_str) {
                    Some("ulid") => Some(ULID_PATTERN),
                    Some("uuid") => Some(UUID_PATTERN),
                    _ => None,
                };
                if let Some(p) = pattern {
                    o.insert("pattern".into(), p.into());
                }
            }
            o.values_mut().for_each(add_id_patterns);
        }
        Value::Array(a) => a.iter_mut().for_each(add_id_patterns),
        _ => {}
    }
}

/// Drops component schemas nothing refers to any more (after operations left).
fn remove_unused_schemas(doc: &mut Value) {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => {
                            out.extend(r.rsplit('/').next().map(str::to_string));
                        }
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut used = Vec::new();
    refs(&doc["paths"], &mut used);
    let schemas: Map<String, Value> = doc["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut keep = std::collections::BTreeSet::new();
    while let Some(name) = used.pop() {
        if keep.insert(name.clone())
            && let Some(s) = schemas.get(&name)
        {
            refs(s, &mut used);
        }
    }
    if let Some(s) = doc["components"]["schemas"].as_object_mut() {
        s.retain(|name, _| keep.contains(name));
    }
}
