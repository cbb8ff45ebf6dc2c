//! Assembles the HTTP application.

use std::sync::Arc;

use launchpad_domain::auth::TokenKeys;
use poem::{
    Endpoint, EndpointExt, Route,
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
    let wakeups = launchpad_domain::jobs::wakeup::Notifier::start(&db);
    let commits = launchpad_domain::group_commit::GroupCommit::start(
        db.clone(),
        settings.commit_lanes,
        wakeups,
    );
    Arc::new(AppState {
        commits,
        db,
        settings,
        keys,
        limits,
        job_events,
    })
}

fn path_params<A: poem_openapi::OpenApi>(_: A) -> (PathParams, crate::nul::Paths) {
    (PathParams::of::<A>(), crate::nul::Paths::of::<A>())
}

/// The whole application: spec, docs, API routes and the edge middleware.
pub fn build(state: SharedState) -> impl Endpoint {
    let api = openapi();
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
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
        .at("/openapi.json", spec)
        .nest("/docs", docs)
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
