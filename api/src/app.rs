//! Assembles the HTTP application.

use std::sync::Arc;

use launchpad_domain::auth::TokenKeys;
use poem::{
    Endpoint, EndpointExt, IntoResponse, Response, Route,
    endpoint::make_sync,
    middleware::{CatchPanic, Cors},
};
use poem_openapi::OpenApiService;
use sqlx::PgPool;

use crate::{
    config::Settings,
    job_events::JobEvents,
    middleware::Edge,
    problem::{PathParams, Problem},
    rate_limit::RateLimits,
    routes,
    state::{AppState, SharedState},
};

pub const TITLE: &str = "Launchpad API";

/// The OpenAPI service (also used to print the spec without a database).
pub fn openapi() -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    OpenApiService::new(routes::all(), TITLE, env!("CARGO_PKG_VERSION"))
        .description(
            "Launchpad runs the heavy work of community-of-practice and enablement portals. \
             Asynchronous work answers `202 Accepted` with a job; poll `GET /api/v1/jobs/{id}` \
             or stream `GET /api/v1/jobs/{id}/events`. Errors are RFC 9457 `application/problem+json`.",
        )
        .server("/")
}

/// The OpenAPI document (JSON) as committed in `openapi/openapi.json` and
/// served at `/openapi.json`: poem-openapi's, refined by [`crate::spec`].
/// `diagnostics`: include the diagnostic operations (the committed spec
/// does, marked; a server without `LAUNCHPAD_DIAGNOSTIC_JOBS` leaves them out).
pub fn spec_json(diagnostics: bool) -> String {
    let doc = crate::spec::refine(&RAW_SPEC, diagnostics);
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}

/// poem-openapi's own document (built once: every app and test shares it).
static RAW_SPEC: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| openapi().spec());

const FAVICON_ICO: &[u8] = include_bytes!("../assets/favicon.ico");
const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");
const FAVICON_LINK: &str = r#"<link rel="icon" type="image/svg+xml" href="/favicon.svg">"#;

/// Swagger UI (poem-openapi's page) showing `spec`, with the favicon.
fn swagger_ui_html(api_spec: &str, html: &str, spec: &str) -> String {
    // poem-openapi embeds its own document; show the refined one.
    html.replacen(api_spec, spec, 1).replacen(
        "<title>Swagger UI</title>",
        &format!("<title>{TITLE} – Swagger UI</title>\n    {FAVICON_LINK}"),
        1,
    )
}

static ROOT_HTML: std::sync::LazyLock<String> = std::sync::LazyLock::new(root_html);

/// The root page: where to go first.
fn root_html() -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{TITLE}</title>
{FAVICON_LINK}
<style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}code{{background:#f1f1f4;padding:0 .25rem}}</style>
</head>
<body>
<h1>{TITLE} {version}</h1>
<ul>
<li><a href="/docs">Swagger UI</a>: try every operation (call <code>auth_login</code>, then <b>Authorize</b> with the <code>access_token</code>)</li>
<li><a href="/openapi.json">/openapi.json</a>: the OpenAPI document, for SDK generators</li>
<li><a href="/health">/health</a> (alive) and <a href="/ready">/ready</a> (database reachable, migrations current)</li>
</ul>
<p>Demo credentials of <code>scripts/run.sh</code>: <code>{admin_email}</code> / <code>{admin_password}</code> has the
<code>admin</code> role (every customer); <code>{exec_email}</code> / <code>{exec_password}</code> has the
<code>customer_exec</code> role for the demo customer only.</p>
</body>
</html>
"#,
        version = env!("CARGO_PKG_VERSION"),
        admin_email = routes::auth::DEMO_ADMIN_EMAIL,
        admin_password = routes::auth::DEMO_ADMIN_PASSWORD,
        exec_email = launchpad_domain::demo::DEMO_EXEC_EMAIL,
        exec_password = launchpad_domain::demo::DEMO_EXEC_PASSWORD,
    )
}

fn asset(
    content_type: &'static str,
    body: impl Into<poem::Body> + Clone + Send + Sync + 'static,
) -> impl Endpoint<Output = Response> {
    make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .header("cache-control", "public, max-age=86400")
            .body(body.clone())
    })
}

/// Password resets processed at once (see `AppState::resets`).
const RESETS_IN_FLIGHT: usize = 16;

pub fn state(db: PgPool, settings: Settings) -> SharedState {
    // Install the metrics recorder before the first request records anything.
    let _ = crate::metrics::handle();
    let keys = TokenKeys::new(
        &settings.jwt_secret,
        chrono::Duration::from_std(settings.access_token_ttl)
            .unwrap_or(chrono::Duration::minutes(15)),
        chrono::Duration::from_std(settings.refresh_token_ttl).unwrap_or(chrono::Duration::days(7)),
    );
    let limits = RateLimits::new(
        settings.login_attempts_per_15_min,
        settings.rate_limit_per_minute,
    );
    let job_events = JobEvents::start(db.clone());
    let notifications = crate::notification_hub::NotificationHub::start(db.clone());
    let wakeups = launchpad_domain::jobs::wakeup::Notifier::start(&db);
    let commits = launchpad_domain::group_commit::GroupCommit::start(
        db.clone(),
        settings.commit_lanes,
        wakeups,
    );
    // URLs the API signs for local storage: a key derived from the JWT
    // secret (rotating it invalidates outstanding URLs, which live minutes).
    let signing_key = launchpad_domain::files::storage::derive_signing_key(&settings.jwt_secret);
    let storage = launchpad_domain::files::storage::build(&settings.files.storage, &signing_key)
        .unwrap_or_else(|e| panic!("file storage {:?}: {e:#}", settings.files.storage));
    let url_signer = launchpad_domain::files::storage::UrlSigner::new(&signing_key);
    Arc::new(AppState {
        storage,
        url_signer,
        account_mail: settings.account_mail(),
        resets: Arc::new(tokio::sync::Semaphore::new(RESETS_IN_FLIGHT)),
        commits,
        db,
        settings,
        keys,
        limits,
        job_events,
        notifications,
    })
}

fn path_params<A: poem_openapi::OpenApi>(_: A) -> (PathParams, crate::nul::Paths) {
    (PathParams::of::<A>(), crate::nul::Paths::of::<A>())
}

/// The whole application: spec, docs, API routes and the edge middleware.
pub fn build(state: SharedState) -> impl Endpoint {
    let api = openapi();
    let spec = spec_json(state.settings.diagnostic_jobs);
    let docs = swagger_ui_html(&RAW_SPEC, &api.swagger_ui_html(), &spec);
    // No configured origins means no cross-origin access at all: poem's `Cors`
    // with an empty list allows *every* origin, so it is only applied when
    // origins are configured.
    let cross_origin = !state.settings.cors_origins.is_empty();
    let cors = Cors::new()
        .allow_origins(state.settings.cors_origins.clone())
        .allow_credentials(false)
        .expose_headers(["x-request-id", "location", "retry-after"]);
    let max_body = state.settings.max_body_bytes;
    let limits_state = state.clone();
    // Keep the rate limiters' memory bounded.
    tokio::spawn(async move {
        let mut t = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            t.tick().await;
            limits_state.limits.retain_recent();
        }
    });
    let route = Route::new()
        .nest("/", api)
        .at("/openapi.json", asset("application/json", spec))
        .at("/docs", asset("text/html; charset=utf-8", docs.clone()))
        .at("/docs/", asset("text/html; charset=utf-8", docs))
        .at("/favicon.ico", asset("image/x-icon", FAVICON_ICO))
        .at("/favicon.svg", asset("image/svg+xml", FAVICON_SVG))
        // The API nested at `/` owns `/` itself in poem's router: the root
        // page is answered before it.
        .around(|ep, req| async move {
            if req.uri().path() == "/" && req.method() == poem::http::Method::GET {
                return Ok(Response::builder()
                    .content_type("text/html; charset=utf-8")
                    .body(ROOT_HTML.as_str()));
            }
            ep.call(req).await.map(IntoResponse::into_response)
        })
        .with_if(cross_origin, cors)
        .with(CatchPanic::new().with_handler(|_| {
            Problem::new(
                poem::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal Server Error",
                Some("an unexpected error occurred; quote the request_id to support".into()),
            )
            .into_response_with(None)
        }))
        .data(state);
    let (path_params, paths) = path_params(routes::all());
    Edge::new(route, max_body, path_params, paths)
}
