//! RFC 9457 problem details: the one place where errors become HTTP.

use std::collections::HashMap;

use launchpad_domain::error::{Error as DomainError, FieldError};
use poem::{Response, http::StatusCode};

use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::request_context;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Problem {
    /// A URI identifying the kind of problem.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id (also in the `x-request-id` header); quote it to support.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A stable machine-readable code for the specific condition.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Field-level validation errors.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
}

/// One invalid field: a JSON pointer into the request and what is wrong.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ProblemField {
    /// JSON pointer (`/name`), or a parameter (`/limit`, `/Idempotency-Key`).
    pub pointer: String,
    pub detail: String,
}

pub const TYPE_BASE: &str = "https://launchpad.dev/problems/";
pub const PROBLEM_JSON: &str = "application/problem+json";

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: Option<String>) -> Self {
        let ctx = request_context::current();
        Self {
            type_: format!("{TYPE_BASE}{kind}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            instance: ctx.as_ref().map(|c| c.path.clone()),
            request_id: ctx.map(|c| c.request_id),
            code: None,
            errors: None,
        }
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_errors(mut self, errors: &[FieldError]) -> Self {
        self.errors = Some(
            errors
                .iter()
                .map(|e| ProblemField {
                    pointer: e.pointer.clone(),
                    detail: e.message.clone(),
                })
                .collect(),
        );
        self
    }

    /// A bare response (for middleware and non-OpenAPI endpoints).
    pub fn into_response_with(self, retry_after: Option<u64>) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut b = Response::builder()
            .status(status)
            .content_type(PROBLEM_JSON);
        if let Some(s) = retry_after {
            b = b.header("Retry-After", s.to_string());
        }
        if status == StatusCode::UNAUTHORIZED {
            b = b.header("WWW-Authenticate", "Bearer");
        }
        b.body(body)
    }
}

/// Every error an operation can answer, documented on every operation.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// Malformed request: bad JSON, wrong types, invalid fields or parameters.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, invalid or expired credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// Authenticated, but the role does not allow this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such resource (or it belongs to another tenant).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The resource's state does not allow this (or a duplicate).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request body is larger than the limit.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Well-formed but semantically unacceptable (e.g. an Idempotency-Key reused with another body).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Too many requests; retry after the given number of seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// An unexpected error; the body carries only a request id.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A dependency (the database) is unavailable; retry later.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn problem(&self) -> &Problem {
        match self {
            ApiError::BadRequest(p)
            | ApiError::Unauthorized(p, _)
            | ApiError::Forbidden(p)
            | ApiError::NotFound(p)
            | ApiError::Conflict(p)
            | ApiError::PayloadTooLarge(p)
            | ApiError::UnsupportedMediaType(p)
            | ApiError::Unprocessable(p)
            | ApiError::TooManyRequests(p, _)
            | ApiError::Internal(p)
            | ApiError::Unavailable(p, _) => &p.0,
        }
    }

    pub fn bad_request(pointer: &str, message: impl Into<String>) -> Self {
        DomainError::field(pointer, message).into()
    }

    /// Builds the error for a status (used for extractor failures).
    pub fn from_problem(p: Problem, retry_after: Option<u64>) -> Self {
        match p.status {
            400 => ApiError::BadRequest(Json(p)),
            401 => ApiError::Unauthorized(Json(p), "Bearer".into()),
            403 => ApiError::Forbidden(Json(p)),
            404 => ApiError::NotFound(Json(p)),
            409 => ApiError::Conflict(Json(p)),
            413 => ApiError::PayloadTooLarge(Json(p)),
            415 => ApiError::UnsupportedMediaType(Json(p)),
            422 => ApiError::Unprocessable(Json(p)),
            429 => ApiError::TooManyRequests(Json(p), retry_after.unwrap_or(1)),
            503 => ApiError::Unavailable(Json(p), retry_after.unwrap_or(5)),
            _ => ApiError::Internal(Json(p)),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound { resource } => ApiError::NotFound(Json(Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not Found",
                Some(format!("{resource} not found")),
            ))),
            DomainError::Validation(errors) => ApiError::BadRequest(Json(
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "validation",
                    "Invalid request",
                    Some(summary(&errors)),
                )
                .with_code("validation_failed")
                .with_errors(&errors),
            )),
            DomainError::Conflict { code, detail } => ApiError::Conflict(Json(
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", Some(detail))
                    .with_code(code),
            )),
            DomainError::Unprocessable { code, detail } => ApiError::Unprocessable(Json(
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unprocessable",
                    "Unprocessable request",
                    Some(detail),
                )
                .with_code(code),
            )),
            DomainError::Unauthorized(m) => ApiError::Unauthorized(
                Json(Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Unauthorized",
                    Some(m),
                )),
                "Bearer".into(),
            ),
            DomainError::Forbidden(m) => ApiError::Forbidden(Json(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                Some(m),
            ))),
            DomainError::RateLimited { retry_after } => ApiError::TooManyRequests(
                Json(Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too Many Requests",
                    Some("rate limit exceeded; retry later".into()),
                )),
                retry_after.as_secs().max(1),
            ),
            DomainError::Unavailable(m) => {
                tracing::warn!(error = %m, "dependency unavailable");
                ApiError::Unavailable(
                    Json(Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "Service Unavailable",
                        Some("a dependency is temporarily unavailable; retry later".into()),
                    )),
                    5,
                )
            }
            DomainError::Internal(e) => {
                // Log the cause with the request id; the body stays opaque.
                tracing::error!(error = %format!("{e:#}"), "internal error");
                ApiError::Internal(Json(Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal Server Error",
                    Some("an unexpected error occurred; quote the request_id to support".into()),
                )))
            }
        }
    }
}

fn summary(errors: &[FieldError]) -> String {
    match errors {
        [one] => format!("{}: {}", one.pointer, one.message),
        many => format!("{} fields are invalid", many.len()),
    }
}

/// Each operation's path parameter names, in path order: poem-openapi names
/// a path parameter that fails to parse `param0`, `param1`… by position.
#[derive(Debug, Default, Clone)]
pub struct PathParams(HashMap<&'static str, Vec<String>>);

impl PathParams {
    /// Reads the names from the operations of an API.
    pub fn of<A: poem_openapi::OpenApi>() -> Self {
        let mut names = HashMap::new();
        for path in A::meta().into_iter().flat_map(|api| api.paths) {
            let params: Vec<String> = path
                .path
                .split('{')
                .skip(1)
                .filter_map(|s| s.split('}').next())
                .map(String::from)
                .collect();
            for op in path.operations {
                if let Some(id) = op.operation_id {
                    names.insert(id, params.clone());
                }
            }
        }
        Self(names)
    }

    /// The documented name of a path parameter that failed to parse.
    fn name(&self, err: &poem::Error, internal: &str) -> String {
        let index = internal
            .strip_prefix("param")
            .and_then(|i| i.parse::<usize>().ok());
        let operation = err.data::<poem_openapi::OperationId>().map(|o| o.0);
        index
            .zip(operation)
            .and_then(|(i, op)| self.0.get(op).and_then(|names| names.get(i)).cloned())
            .unwrap_or_else(|| internal.to_string())
    }
}

/// Converts any error escaping an endpoint (extractors, routing, auth) into a problem.
pub fn error_to_response(err: poem::Error, path_params: &PathParams) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    if let Some(e) = err.downcast_ref::<poem_openapi::error::ParsePathError>() {
        let name = path_params.name(&err, e.name);
        let msg = format!("failed to parse path `{name}`: {}", e.reason);
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad Request",
            Some(msg.clone()),
        )
        .with_code("invalid_parameter")
        .with_errors(&[FieldError::new(format!("/{name}"), msg)])
        .into_response_with(None);
    }
    if let Some(body) = err.downcast_ref::<crate::body::BodyError>() {
        let p = Problem::new(
            body.status,
            body.kind,
            body.title,
            Some(summary(&body.errors)),
        )
        .with_code(body.kind)
        .with_errors(&body.errors);
        return p.into_response_with(None);
    }
    let status = err.status();
    let msg = err.to_string();
    let p = match status {
        StatusCode::NOT_FOUND => Problem::new(
            status,
            "not-found",
            "Not Found",
            Some("no such route".into()),
        ),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method-not-allowed",
            "Method Not Allowed",
            Some("method not allowed on this route".into()),
        ),
        StatusCode::UNAUTHORIZED => Problem::new(
            status,
            "unauthorized",
            "Unauthorized",
            Some("a valid bearer access token is required".into()),
        ),
        // E.g. a CORS request from an origin that is not allowed.
        StatusCode::FORBIDDEN => Problem::new(status, "forbidden", "Forbidden", Some(msg.clone())),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::new(
            status,
            "unsupported-media-type",
            "Unsupported Media Type",
            Some(format!("{msg}; send application/json")),
        )
        .with_errors(&[FieldError::new("/Content-Type", "must be application/json")]),
        StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(status, "payload-too-large", "Payload Too Large", Some(msg))
        }
        s if s.is_client_error() => {
            // Parameter parse errors name the parameter: `failed to parse parameter `limit`: ...`
            let pointer = msg
                .split('`')
                .nth(1)
                .map(|p| format!("/{p}"))
                .unwrap_or_else(|| "/".into());
            Problem::new(s, "bad-request", "Bad Request", Some(msg.clone()))
                .with_code("invalid_parameter")
                .with_errors(&[FieldError::new(pointer, msg)])
        }
        s => {
            tracing::error!(error = %msg, status = s.as_u16(), "unhandled error");
            Problem::new(
                s,
                "internal",
                "Internal Server Error",
                Some("an unexpected error occurred; quote the request_id to support".into()),
            )
        }
    };
    let retry_after = (status == StatusCode::SERVICE_UNAVAILABLE).then_some(5);
    p.into_response_with(retry_after)
}
