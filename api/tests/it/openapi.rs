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
