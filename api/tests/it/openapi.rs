//! The OpenAPI document that SDKs are generated from.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::Value;
use test_support::{TestApp, app::json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn spec() -> Value {
    let app = TestApp::spawn().await;
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    r.expect(200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        r.headers
    );
    let spec: Value = serde_json::from_str(&r.text).expect("the spec is valid JSON");
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{}",
        spec["openapi"]
    );
    spec
}

fn operations(spec: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                ops.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    assert!(
        ops.len() >= 10,
        "suspiciously few operations: {}",
        ops.len()
    );
    ops
}

#[tokio::test]
async fn every_operation_has_a_unique_operation_id() {
    let spec = spec().await;
    let mut seen = HashSet::new();
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{method} {path}: operationId {id:?} is not snake_case"
        );
        assert!(
            seen.insert(id.to_string()),
            "operationId {id} is used twice"
        );
    }
}

#[tokio::test]
async fn every_operation_declares_problem_json_errors() {
    let spec = spec().await;
    let schemas = spec["components"]["schemas"]
        .as_object()
        .expect("component schemas");
    assert!(schemas.contains_key("Problem"), "no Problem schema");
    let mut missing = Vec::new();
    for (method, path, op) in operations(&spec) {
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: no responses"));
        let mut errors = 0;
        for (status, resp) in responses {
            let code: u16 = status
                .parse()
                .unwrap_or_else(|_| panic!("{method} {path}: response {status:?}"));
            if code < 400 {
                continue;
            }
            errors += 1;
            let content = resp["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} {code}: no content"));
            let types: Vec<&String> = content.keys().collect();
            assert_eq!(
                types,
                ["application/problem+json"],
                "{method} {path} {code}"
            );
            let schema = &content["application/problem+json"]["schema"]["$ref"];
            assert_eq!(
                schema, "#/components/schemas/Problem",
                "{method} {path} {code}"
            );
        }
        if errors == 0 {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(
        missing.is_empty(),
        "operations without problem+json errors: {missing:?}"
    );
}

#[tokio::test]
async fn authenticated_operations_declare_401_and_every_ref_resolves() {
    let spec = spec().await;
    for (method, path, op) in operations(&spec) {
        if op
            .get("security")
            .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()))
        {
            assert!(
                op["responses"].get("401").is_some(),
                "{method} {path} is authenticated but declares no 401"
            );
            assert!(
                op["responses"].get("429").is_some(),
                "{method} {path} is rate limited but declares no 429"
            );
        }
    }
    // Every $ref points at a schema that exists.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    if k == "$ref" {
                        out.extend(v.as_str());
                    } else {
                        refs(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            spec["components"]["schemas"].get(name).is_some(),
            "dangling $ref {r}"
        );
    }
}

#[tokio::test]
async fn every_request_body_has_an_example() {
    let spec = spec().await;
    let schemas = spec["components"]["schemas"]
        .as_object()
        .expect("component schemas");
    let mut bodies = 0;
    let mut missing = Vec::new();
    for (method, path, op) in operations(&spec) {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let Some(body) = op.get("requestBody") else {
            continue;
        };
        let content = body["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: request body without content"));
        assert!(!content.is_empty(), "{method} {path}: empty request body");
        for (media_type, media) in content {
            bodies += 1;
            let schema = &media["schema"];
            // The example may sit on the media type, on an inline schema or
            // on the referenced component schema.
            let resolved = match schema["$ref"].as_str() {
                Some(r) => {
                    let name = r
                        .strip_prefix("#/components/schemas/")
                        .unwrap_or_else(|| panic!("{method} {path}: unexpected $ref {r}"));
                    schemas
                        .get(name)
                        .unwrap_or_else(|| panic!("{method} {path}: dangling $ref {r}"))
                }
                None => schema,
            };
            let has = |v: &Value| {
                v.get("example").is_some_and(|e| !e.is_null())
                    || v.get("examples").is_some_and(|e| {
                        e.as_object().is_some_and(|o| !o.is_empty())
                            || e.as_array().is_some_and(|a| !a.is_empty())
                    })
            };
            if !(has(media) || has(resolved)) {
                missing.push(format!("{method} {path} ({media_type})"));
            }
        }
    }
    assert!(
        bodies >= 30,
        "suspiciously few request bodies under /api/v1: {bodies}"
    );
    assert!(
        missing.is_empty(),
        "request bodies without an example: {missing:#?}"
    );
}

#[tokio::test]
async fn docs_serve_swagger_ui_and_the_spec_declares_bearer_auth() {
    let app = TestApp::spawn().await;
    let r = app.call(Method::GET, "/docs", None, None).await;
    r.expect(200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}",
        r.headers
    );
    let html = r.text.to_lowercase();
    assert!(html.contains("<html"), "not an HTML page: {}", r.text);
    assert!(html.contains("swagger-ui"), "not Swagger UI: {}", r.text);
    // The page carries the spec itself (what "Authorize" and "Try it out" use).
    let start = r
        .text
        .find("let spec = ")
        .unwrap_or_else(|| panic!("the page does not embed the spec: {}", r.text))
        + "let spec = ".len();
    let embedded: Value = serde_json::Deserializer::from_str(&r.text[start..])
        .into_iter::<Value>()
        .next()
        .expect("an embedded spec")
        .expect("the embedded spec is JSON");

    let spec = spec().await;
    let schemes = spec["components"]["securitySchemes"]
        .as_object()
        .expect("components.securitySchemes");
    let bearer: Vec<&String> = schemes
        .iter()
        .filter(|(_, s)| {
            s["type"] == "http"
                && s["scheme"].as_str().map(str::to_lowercase).as_deref() == Some("bearer")
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(bearer.len(), 1, "one bearer scheme: {schemes:?}");
    let name = bearer[0];
    assert_eq!(schemes[name]["bearerFormat"], "JWT", "{schemes:?}");
    assert_eq!(
        embedded["components"]["securitySchemes"], spec["components"]["securitySchemes"],
        "Swagger UI would offer other auth than the spec declares"
    );
    assert_eq!(
        embedded["paths"]["/api/v1/me"]["get"]["security"],
        spec["paths"]["/api/v1/me"]["get"]["security"]
    );

    // Authenticated operations require it; login and the probes do not, so
    // "Authorize" in Swagger UI applies to exactly the protected calls.
    let requirement = |method: &str, path: &str| -> Option<Value> {
        spec["paths"][path][method].get("security").cloned()
    };
    let me = requirement("get", "/api/v1/me").expect("GET /api/v1/me declares security");
    assert!(
        me.as_array()
            .is_some_and(|a| a.iter().any(|r| r.get(name.as_str()).is_some())),
        "GET /api/v1/me does not require {name}: {me}"
    );
    for (method, path) in [
        ("post", "/api/v1/auth/login"),
        ("get", "/health"),
        ("get", "/ready"),
    ] {
        assert!(
            requirement(method, path).is_none_or(|s| s.as_array().is_some_and(|a| a.is_empty())),
            "{method} {path} should be public"
        );
    }
    let secured = operations(&spec)
        .iter()
        .filter(|(_, _, op)| {
            op.get("security")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|r| r.get(name.as_str()).is_some()))
        })
        .count();
    assert!(secured >= 10, "only {secured} operations use {name}");
}

/// The committed document (what SDKs are generated from).
fn committed() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("openapi/openapi.json"))
        .expect("the committed spec is JSON")
}

fn documented_codes() -> Vec<(String, u16)> {
    launchpad_api::problem::CODES
        .iter()
        .map(|c| (c.code.to_string(), c.status))
        .collect()
}

#[tokio::test]
async fn problem_codes_are_one_snake_case_enum_listed_in_the_readme() {
    let spec = spec().await;
    let schemas = &spec["components"]["schemas"];
    let required: Vec<&str> = schemas["Problem"]["required"]
        .as_array()
        .expect("Problem.required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(required.contains(&"code"), "code is optional: {required:?}");
    assert_eq!(
        schemas["Problem"]["properties"]["code"]["$ref"],
        "#/components/schemas/ProblemCode"
    );
    let in_spec: Vec<String> = schemas["ProblemCode"]["enum"]
        .as_array()
        .expect("ProblemCode is an enum")
        .iter()
        .map(|c| c.as_str().expect("string codes").to_string())
        .collect();
    let codes = documented_codes();
    assert_eq!(
        in_spec,
        codes.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>()
    );
    let mut seen = HashSet::new();
    for (code, status) in &codes {
        assert!(seen.insert(code), "{code} is listed twice");
        assert!(
            !code.is_empty()
                && code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{code} is not snake_case"
        );
        assert!((400..600).contains(status), "{code}: {status}");
    }
    // The README's list is the same, with the same statuses.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("### Problem codes")
        .nth(1)
        .expect("README has a Problem codes section");
    let section = section.split("\n#").next().unwrap_or(section);
    let listed: Vec<(String, u16)> = section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let status = cells.get(2)?.parse().ok()?;
            Some((code.to_string(), status))
        })
        .collect();
    assert_eq!(listed, codes, "README's problem codes differ from CODES");
}

#[tokio::test]
async fn each_problem_status_is_declared_once_with_one_example_of_its_own() {
    let spec = spec().await;
    let codes = documented_codes();
    for (method, path, op) in operations(&spec) {
        for (status, resp) in op["responses"].as_object().unwrap() {
            let status: u16 = status.parse().unwrap();
            if status < 400 {
                continue;
            }
            let media = &resp["content"]["application/problem+json"];
            assert!(
                media.get("examples").is_none(),
                "{method} {path} {status}: several examples"
            );
            let example = &media["example"];
            assert_eq!(example["status"], status, "{method} {path}: {example}");
            let code = example["code"].as_str().unwrap_or_default();
            assert!(
                codes.iter().any(|(c, s)| c == code && *s == status),
                "{method} {path} {status}: example code {code:?} is not documented with this status"
            );
            assert_eq!(example["instance"], path.as_str());
        }
        let declared = |s: &str| op["responses"].get(s).is_some();
        if method == "GET" {
            // The reads that conflict: a file's content before it is ready,
            // and a certificate's PDF before it is rendered.
            let conflicts = path == "/api/v1/files/{file_id}/content"
                || path == "/api/v1/certificates/{certificate_id}/pdf";
            for s in ["409", "413", "415", "422"] {
                if s == "409" && conflicts {
                    continue;
                }
                assert!(!declared(s), "{method} {path} declares {s}");
            }
        }
        if op.get("requestBody").is_none() {
            assert!(!declared("413") && !declared("415"), "{method} {path}");
        }
    }
    // Before: eleven error responses on every operation.
    let jobs_get = &spec["paths"]["/api/v1/jobs/{id}"]["get"]["responses"];
    let errors: Vec<&String> = jobs_get
        .as_object()
        .unwrap()
        .keys()
        .filter(|s| s.as_str() >= "400")
        .collect();
    assert_eq!(
        errors,
        ["400", "401", "403", "404", "429", "500", "503"],
        "{jobs_get}"
    );
}

#[tokio::test]
async fn the_job_event_stream_is_declared_as_one_job_view_per_event() {
    let spec = spec().await;
    let media = &spec["paths"]["/api/v1/jobs/{id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"];
    assert_eq!(media["schema"]["type"], "string", "{media}");
    assert_eq!(media["schema"]["format"], "event-stream", "{media}");
    assert!(
        media["schema"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("one `JobView`")),
        "{media}"
    );
    assert_eq!(
        media["x-event-data"]["$ref"], "#/components/schemas/JobView",
        "{media}"
    );
    // No event stream anywhere is declared as an array (SDKs read arrays as JSON).
    for (method, path, op) in operations(&spec) {
        for resp in op["responses"].as_object().unwrap().values() {
            if let Some(m) = resp["content"].get("text/event-stream") {
                assert_ne!(m["schema"]["type"], "array", "{method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn tags_start_with_auth_then_follow_by_name() {
    let spec = spec().await;
    let names: Vec<&str> = spec["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names.first(), Some(&"Auth"), "{names:?}");
    let mut rest = names[1..].to_vec();
    rest.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names[1..], rest[..]);
}

#[tokio::test]
async fn server_rules_are_in_the_spec_ids_keys_and_control_characters() {
    let spec = spec().await;
    let mut keys = 0;
    let mut ids = 0;
    for (method, path, op) in operations(&spec) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["name"] == "Idempotency-Key" {
                keys += 1;
                let s = &p["schema"];
                assert_eq!(s["maxLength"], 255, "{method} {path}");
                assert_eq!(s["minLength"], 1, "{method} {path}");
                assert!(s["pattern"].is_string(), "{method} {path}");
            }
        }
    }
    fn walk(v: &Value, ids: &mut usize) {
        match v {
            Value::Object(o) => {
                if matches!(
                    o.get("format").and_then(Value::as_str),
                    Some("uuid" | "ulid")
                ) {
                    *ids += 1;
                    assert!(o.get("pattern").is_some_and(Value::is_string), "{v}");
                }
                o.values().for_each(|v| walk(v, ids));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, ids)),
            _ => {}
        }
    }
    walk(&spec, &mut ids);
    assert!(keys >= 5, "only {keys} Idempotency-Key parameters");
    assert!(ids >= 50, "only {ids} id schemas");
    let description = spec["info"]["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("control characters") && description.contains("NUL"),
        "{description}"
    );
}

#[tokio::test]
async fn examples_work_on_a_fresh_demo_install() {
    let spec = spec().await;
    let schemas = &spec["components"]["schemas"];
    // scripts/run.sh's demo admin.
    let run_sh = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/run.sh"))
        .expect("scripts/run.sh");
    let default = |var: &str| -> String {
        let marker = format!("${{{var}:=");
        let start = run_sh
            .find(&marker)
            .unwrap_or_else(|| panic!("{var} default"))
            + marker.len();
        run_sh[start..].split('}').next().unwrap().to_string()
    };
    let login = &schemas["LoginRequest"]["example"];
    assert_eq!(login["email"], default("LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL"));
    assert_eq!(
        login["password"],
        default("LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD")
    );
    // The diagnostic example succeeds.
    assert_eq!(
        schemas["CreateDiagnosticJob"]["example"]["behaviour"],
        "succeed"
    );

    let app = TestApp::spawn_with(|s| {
        s.bootstrap_admin = Some((
            default("LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL"),
            default("LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD"),
        ))
    })
    .await;
    let r = app
        .call(Method::POST, "/api/v1/auth/login", None, Some(login))
        .await;
    r.expect(200);
    let token = r.body["access_token"].as_str().unwrap();
    let example = &schemas["CreateDiagnosticJob"]["example"];
    let r = app.post("/api/v1/diagnostics/jobs", token, example).await;
    r.expect(202);
}

#[tokio::test]
async fn the_served_spec_leaves_diagnostics_out_when_they_are_off() {
    let committed = committed();
    let marked = &committed["paths"]["/api/v1/diagnostics/jobs"]["post"];
    assert!(
        marked["description"]
            .as_str()
            .is_some_and(|d| d.contains("LAUNCHPAD_DIAGNOSTIC_JOBS")),
        "{marked}"
    );
    let on = spec().await;
    assert_eq!(
        on, committed,
        "the served spec (diagnostics on) is the committed one"
    );

    let app = TestApp::spawn_with(|s| s.diagnostic_jobs = false).await;
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    r.expect(200);
    let off: Value = serde_json::from_str(&r.text).unwrap();
    let paths: Vec<&String> = off["paths"].as_object().unwrap().keys().collect();
    assert!(
        !paths.iter().any(|p| p.contains("diagnostics")),
        "{paths:?}"
    );
    assert!(paths.len() + 1 == on["paths"].as_object().unwrap().len());
    assert!(
        !off["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Diagnostics")
    );
    let schemas = off["components"]["schemas"].as_object().unwrap();
    assert!(!schemas.contains_key("CreateDiagnosticJob"));
    assert!(schemas.contains_key("JobView") && schemas.contains_key("Problem"));
    // Swagger UI shows the same document.
    let docs = app.call(Method::GET, "/docs", None, None).await;
    docs.expect(200);
    let start = docs.text.find("let spec = ").expect("embedded spec") + "let spec = ".len();
    let embedded: Value = serde_json::Deserializer::from_str(&docs.text[start..])
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(embedded, off);
    // And the operation is not there.
    let admin = app.admin().await;
    let r = app
        .post(
            "/api/v1/diagnostics/jobs",
            &admin.access,
            &json!({"behaviour": "succeed"}),
        )
        .await;
    assert_eq!(r.expect_problem(404)["code"], "not_found");
}

#[tokio::test]
async fn the_root_page_points_at_docs_spec_and_health_and_there_is_a_favicon() {
    let app = TestApp::spawn().await;
    let r = app.call(Method::GET, "/", None, None).await;
    r.expect(200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}",
        r.headers
    );
    for link in [
        "href=\"/docs\"",
        "href=\"/openapi.json\"",
        "href=\"/health\"",
        "href=\"/favicon.svg\"",
    ] {
        assert!(r.text.contains(link), "no {link}: {}", r.text);
    }
    assert!(
        r.text.contains("admin@launchpad.local") && r.text.contains("<code>admin</code> role"),
        "{}",
        r.text
    );
    // Each link answers.
    for path in ["/docs", "/openapi.json", "/health", "/favicon.svg"] {
        app.call(Method::GET, path, None, None).await.expect(200);
    }
    let docs = app.call(Method::GET, "/docs", None, None).await;
    assert!(docs.text.contains("href=\"/favicon.svg\""));

    let ico = app
        .client
        .get(app.url("/favicon.ico"))
        .send()
        .await
        .unwrap();
    assert_eq!(ico.status(), 200);
    assert_eq!(ico.headers()["content-type"], "image/x-icon");
    let bytes = ico.bytes().await.unwrap();
    // An ICO header (reserved 0, type 1 = icon, at least one image), then a PNG.
    assert_eq!(&bytes[..4], &[0, 0, 1, 0]);
    assert!(
        bytes.len() > 22 && &bytes[22..26] == b"\x89PNG",
        "{bytes:?}"
    );
    let svg = app.call(Method::GET, "/favicon.svg", None, None).await;
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(svg.text.starts_with("<svg"));
}

/// An independent validator (openapi-spec-validator; scripts/test.sh
/// installs it) accepts both documents the server serves.
#[tokio::test]
async fn an_independent_validator_accepts_the_served_specs() {
    for diagnostics in [true, false] {
        let app = TestApp::spawn_with(|s| s.diagnostic_jobs = diagnostics).await;
        let r = app.call(Method::GET, "/openapi.json", None, None).await;
        r.expect(200);
        let path = std::env::temp_dir().join(format!(
            "launchpad-spec-{}-{diagnostics}-{}.json",
            std::process::id(),
            ulid::Ulid::generate()
        ));
        std::fs::write(&path, &r.text).unwrap();
        let out = tokio::process::Command::new(test_support::smtp::python())
            .args(["-m", "openapi_spec_validator"])
            .arg(&path)
            .output()
            .await
            .expect("python3");
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "diagnostics {diagnostics}: openapi-spec-validator (pip install openapi-spec-validator; \
             scripts/test.sh does) refused the spec: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
