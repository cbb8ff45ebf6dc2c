//! The OpenAPI document that SDKs are generated from.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::Value;
use test_support::TestApp;

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
