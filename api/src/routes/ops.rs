//! Liveness, readiness and Prometheus metrics.

use std::time::Duration;

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    payload::{Json, PlainText},
};

use crate::types::Tag;
use crate::{
    problem::{ApiError, Problem},
    state::SharedState,
};

pub struct OpsApi;

#[derive(Object)]
pub struct Health {
    /// `ok` when the process is alive; `ready` when it can serve.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// The database is reachable and every migration is applied.
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// Not ready: the database is unreachable or migrations are pending.
    #[oai(status = 503, content_type = "application/problem+json")]
    NotReady(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

/// The only error of the liveness probe (it touches no dependency).
#[derive(ApiResponse)]
pub enum ProbeError {
    /// An unexpected error; the body carries only a request id.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

#[OpenApi(tag = "Tag::Ops")]
impl OpsApi {
    /// Liveness: the process is up.
    #[oai(path = "/health", method = "get", operation_id = "ops_health")]
    async fn health(&self) -> Result<Json<Health>, ProbeError> {
        Ok(Json(Health {
            status: "ok".into(),
        }))
    }

    /// Readiness: the database answers and migrations are current.
    #[oai(path = "/ready", method = "get", operation_id = "ops_ready")]
    async fn ready(&self, state: Data<&SharedState>) -> ReadyResponse {
        let check = tokio::time::timeout(
            Duration::from_secs(2),
            launchpad_domain::db::migrations_current(&state.db),
        )
        .await;
        let detail = match check {
            Ok(Ok(true)) => {
                return ReadyResponse::Ready(Json(Health {
                    status: "ready".into(),
                }));
            }
            Ok(Ok(false)) => "migrations are pending: run `launchpad-api migrate`",
            Ok(Err(_)) | Err(_) => "the database is unreachable",
        };
        ReadyResponse::NotReady(
            Json(Problem::new(
                poem::http::StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                "Not Ready",
                Some(detail.into()),
            )),
            5,
        )
    }

    /// Prometheus metrics (text exposition format).
    #[oai(path = "/metrics", method = "get", operation_id = "ops_metrics")]
    async fn metrics(&self) -> Result<PlainText<String>, ApiError> {
        Ok(PlainText(crate::metrics::handle().render()))
    }
}
