//! Inputs found from outside: NUL characters (which Postgres cannot store)
//! anywhere in a request, numbers out of range, and messages that name the
//! field the request changed.

use reqwest::Method;
use serde_json::{Value, json};
use test_support::{TestApp, app::Resp};

use crate::portal_common::{create_cop, id};

#[track_caller]
fn assert_names(r: &Resp, pointer: &str) {
    r.expect_problem(400);
    assert_eq!(r.pointers(), vec![pointer.to_string()], "{}", r.text);
    assert!(r.body["code"].is_string(), "{}", r.text);
}

/// The committed spec, as SDKs and fuzzers see it.
fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("openapi/openapi.json"))
        .expect("spec is JSON")
}

/// Whether a parameter schema is a string (directly, by `$ref`, or an array of them).
fn is_string(spec: &Value, schema: &Value) -> bool {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return is_string(spec, &spec["components"]["schemas"][name]);
    }
    match schema["type"].as_str() {
        Some("string") => true,
        Some("array") => is_string(spec, &schema["items"]),
        _ => schema["allOf"]
            .as_array()
            .is_some_and(|all| all.iter().any(|s| is_string(spec, s))),
    }
}

#[tokio::test]
async fn a_nul_in_any_string_query_parameter_of_the_spec_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let customer = app.create_customer(&admin, "acme").await;
    let cop = create_cop(&app, &admin, &customer, "Data").await;
    let spec = spec();
    let mut tried = 0;
    let mut wrong = Vec::new();
    for (template, item) in spec["paths"].as_object().unwrap() {
        // Real ids where the spec names a CoP, any well-formed id elsewhere.
        let path = template
            .replace("{cop_id}", &cop)
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    uuid::Uuid::now_v7().to_string()
                } else {
                    s.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] != "query" || !is_string(&spec, &p["schema"]) {
                    continue;
                }
                let name = p["name"].as_str().unwrap();
                let url = format!("{path}?{name}=a%00b");
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let r = app.call(m, &url, Some(&admin.access), None).await;
                tried += 1;
                let named = r.status == 400
                    && r.header("content-type") == Some("application/problem+json")
                    && r.pointers() == vec![format!("/{name}")];
                if !named {
                    wrong.push(format!("{method} {url} -> {} {}", r.status, r.text));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The issue's examples are among them; the walk is not vacuous.
    assert!(
        tried >= 30,
        "only {tried} string query parameters in the spec"
    );
    // Nothing reached the database as an error.
    let r = app.get("/api/v1/cops?q=a%00b", &admin.access).await;
    assert_names(&r, "/q");
    assert_eq!(r.body["code"], "invalid_parameter", "{}", r.text);
    assert!(r.text.contains("NUL"), "{}", r.text);
}

#[tokio::test]
async fn a_nul_in_a_path_or_body_is_a_400_naming_it_and_headers_cannot_carry_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    // Path parameters, by their documented names.
    let r = app.get("/api/v1/jobs/a%00b", &admin.access).await;
    assert_names(&r, "/id");
    let r = app
        .get("/api/v1/cops/a%00b/assets?tag=x", &admin.access)
        .await;
    assert_names(&r, "/cop_id");
    // A path no operation serves stays a 404.
    app.get("/api/v1/no-such%00thing", &admin.access)
        .await
        .expect_problem(404);

    // The login e-mail (unauthenticated): a 400, no error logged, no audit row.
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": "a\u{0}b@x.example", "password": "whatever-password"})),
        )
        .await;
    assert_names(&r, "/email");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
        0
    );
    // Deep in a body, and in an object key.
    let r = app
        .post(
            "/api/v1/customers",
            &admin.access,
            &json!({"name": "Acme", "slug": "acme", "x": [{"y": "\u{0}"}]}),
        )
        .await;
    assert_names(&r, "/x/0/y");
    let r = app
        .post(
            "/api/v1/customers",
            &admin.access,
            &json!({"name": "Acme", "slug": "acme", "k\u{0}": 1}),
        )
        .await;
    assert_names(&r, "/k\\u0000");
    // `\\u0000` is an escaped backslash, not a NUL: the request goes through.
    let r = app
        .post(
            "/api/v1/customers",
            &admin.access,
            &json!({"name": "Acme \\u0000", "slug": "acme"}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["name"], "Acme \\u0000");

    // Header values: the HTTP parser refuses a NUL before the API sees it.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url("").trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        format!(
            "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nIdempotency-Key: a\0b\r\nConnection: close\r\n\r\n",
            admin.access
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let head = String::from_utf8_lossy(&out);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

#[tokio::test]
async fn a_number_out_of_range_points_at_its_place() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let customer = app.create_customer(&admin, "acme").await;
    let cop = create_cop(&app, &admin, &customer, "Data").await;
    let r = app
        .send_raw(
            Method::POST,
            &format!("/api/v1/cops/{cop}/kpis/ingest"),
            Some(&admin.access),
            &[("content-type", "application/json")],
            r#"{"metric": "dbu_consumed", "points": [{"date": "2026-01-01", "value": 1e999}]}"#,
        )
        .await;
    assert_names(&r, "/points/0/value");
    assert!(r.text.contains("out of range"), "{}", r.text);
}

#[tokio::test]
async fn moving_an_event_start_past_its_end_names_the_changed_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let customer = app.create_customer(&admin, "acme").await;
    let cop = create_cop(&app, &admin, &customer, "Data").await;
    let r = app
        .post(
            &format!("/api/v1/cops/{cop}/events"),
            &admin.access,
            &json!({
                "title": "Office hours", "starts_at": "2030-01-10T10:00:00Z",
                "ends_at": "2030-01-10T11:00:00Z", "time_zone": "Europe/Lisbon",
                "join_url": "https://meet.example.com/x"
            }),
        )
        .await;
    r.expect(201);
    let event = id(&r.body);
    let r = app
        .patch(
            &format!("/api/v1/events/{event}"),
            &admin.access,
            &json!({"starts_at": "2030-01-10T12:00:00Z"}),
        )
        .await;
    assert_names(&r, "/starts_at");
    let detail = r.body["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("ends_at must be after starts_at"),
        "{detail}"
    );
    assert!(detail.contains("2030-01-10T11:00:00Z"), "{detail}");
}
