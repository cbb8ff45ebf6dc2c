//! RFC 9457 problem details: the one place where errors become HTTP.

use std::{collections::HashMap, sync::LazyLock};

use launchpad_domain::error::{Error as DomainError, FieldError};
use poem::{Response, http::StatusCode};

use poem_openapi::{
    ApiResponse, Object,
    payload::Json,
    registry::{MetaSchema, MetaSchemaRef, Registry},
};

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
    pub code: ProblemCode,
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

/// A stable machine-readable code for the specific condition: one of
/// [`CODES`], each always sent with the same status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ProblemCode(pub String);

/// One documented problem `code`: the status it is always sent with, and
/// what it means.
pub struct CodeDoc {
    pub code: &'static str,
    pub status: u16,
    pub meaning: &'static str,
}

const fn doc(code: &'static str, status: u16, meaning: &'static str) -> CodeDoc {
    CodeDoc {
        code,
        status,
        meaning,
    }
}

/// Every `code` a problem can carry (the spec's `ProblemCode` enum and the
/// README's list are made from it; the test client checks every problem
/// the tests see against it). Add a code here when you add one.
pub const CODES: &[CodeDoc] = &[
    doc(
        "invalid_body",
        400,
        "The body is not the JSON the operation takes: malformed, a wrong type, a missing or unknown field (`errors` points at it).",
    ),
    doc(
        "invalid_parameter",
        400,
        "A path, query or header parameter does not parse (`errors` names it).",
    ),
    doc(
        "invalid_request",
        400,
        "The HTTP request itself was refused (e.g. a malformed header).",
    ),
    doc(
        "token_expired",
        400,
        "The link's token has expired (`errors` names the token field); ask for a new link.",
    ),
    doc(
        "token_invalid",
        400,
        "The token is not one of ours, is for another purpose, or was replaced by a newer link (`errors` names the token field).",
    ),
    doc(
        "token_used",
        400,
        "The link's token was already used; each link works once (`errors` names the token field).",
    ),
    doc(
        "validation_failed",
        400,
        "Fields or parameters break a rule: a length, a range, a format, a reference to a customer or user that does not exist (`errors` lists each with a JSON pointer).",
    ),
    doc(
        "unauthorized",
        401,
        "Missing, invalid or expired credentials (a bearer access token, or the login's e-mail and password).",
    ),
    doc(
        "forbidden",
        403,
        "Authenticated, but the caller's role does not allow this.",
    ),
    doc(
        "content_type_mismatch",
        403,
        "A signed upload URL was used with another `Content-Type` than the one it was signed for.",
    ),
    doc(
        "invalid_signature",
        403,
        "The signed file URL's signature is not valid (altered or for another method).",
    ),
    doc(
        "url_expired",
        403,
        "The signed file URL has expired; ask for a new one.",
    ),
    doc(
        "not_found",
        404,
        "No such resource, or it belongs to another tenant.",
    ),
    doc("route_not_found", 404, "No operation at this path."),
    doc(
        "method_not_allowed",
        405,
        "The path exists, but not with this method.",
    ),
    doc(
        "already_assigned",
        409,
        "The course or path is already assigned to the user.",
    ),
    doc(
        "already_exists",
        409,
        "A resource with the same unique fields already exists.",
    ),
    doc(
        "already_member",
        409,
        "The user is already a member of the CoP.",
    ),
    doc(
        "already_recognised",
        409,
        "The member is already a champion for this period.",
    ),
    doc(
        "already_registered",
        409,
        "The user is already registered for the event.",
    ),
    doc(
        "already_responded",
        409,
        "The member has already answered the survey.",
    ),
    doc(
        "callback_url_conflict",
        409,
        "The job already has another callback URL.",
    ),
    doc(
        "cannot_change_own_grants",
        409,
        "Users cannot change their own roles or customer grants; another admin (or customer_exec) can.",
    ),
    doc("cannot_delete_self", 409, "Users cannot delete themselves."),
    doc(
        "cannot_disable_self",
        409,
        "Users cannot disable their own account.",
    ),
    doc(
        "capacity_below_registrations",
        409,
        "The new capacity is below the event's registrations.",
    ),
    doc(
        "certificate_not_rendered",
        409,
        "The certificate's PDF is not rendered yet (its `certificate_issue` job is queued or running); try again shortly.",
    ),
    doc(
        "certificate_revoked",
        409,
        "The certificate is already revoked.",
    ),
    doc("cop_archived", 409, "The CoP is archived."),
    doc(
        "content_expiry_passed",
        409,
        "The content item's `expires_at` has passed; set a later one (or none) before approving it.",
    ),
    doc(
        "content_status_unchanged",
        409,
        "The content item is already in the requested status.",
    ),
    doc(
        "course_has_no_lessons",
        409,
        "A course without lessons cannot be published.",
    ),
    doc("course_not_published", 409, "The course is not published."),
    doc(
        "course_status_unchanged",
        409,
        "The course already has this status.",
    ),
    doc(
        "duplicate_queued_job",
        409,
        "The same work is already queued.",
    ),
    doc("email_taken", 409, "Another user has this e-mail address."),
    doc(
        "endpoint_disabled",
        409,
        "The webhook endpoint is disabled.",
    ),
    doc("event_cancelled", 409, "The event is cancelled."),
    doc("event_ended", 409, "The event has ended."),
    doc("event_full", 409, "The event is at capacity."),
    doc(
        "file_attached",
        409,
        "The file is attached to a resource; detach it first.",
    ),
    doc(
        "file_not_pending",
        409,
        "The file's content can only be uploaded while it is `pending`.",
    ),
    doc(
        "file_not_ready",
        409,
        "The file is not `ready` (still pending or processing, or rejected).",
    ),
    doc(
        "idempotency_key_in_flight",
        409,
        "The first request with this `Idempotency-Key` is still running; retry later.",
    ),
    doc(
        "invitation_accepted",
        409,
        "The user has chosen a password already; invitations are for users who have not (a password reset works).",
    ),
    doc("job_finished", 409, "The job has already finished."),
    doc(
        "job_not_retryable",
        409,
        "Only failed or cancelled jobs can be retried.",
    ),
    doc(
        "last_admin",
        409,
        "The change would leave the platform without an enabled admin.",
    ),
    doc(
        "last_customer_exec",
        409,
        "The change would leave a customer without an enabled customer_exec.",
    ),
    doc(
        "no_enabled_target",
        409,
        "No enabled webhook endpoint receives this.",
    ),
    doc(
        "own_email_needs_current",
        409,
        "Your own e-mail address changes through `POST /api/v1/me/email`, with your password.",
    ),
    doc(
        "own_password_needs_current",
        409,
        "Your own password changes through `POST /api/v1/me/password`, with the current one.",
    ),
    doc(
        "password_changed_concurrently",
        409,
        "The password was changed meanwhile; try again with the new current password.",
    ),
    doc(
        "path_assigned",
        409,
        "The learning path is assigned to users.",
    ),
    doc("slug_taken", 409, "Another customer has this slug."),
    doc(
        "survey_has_responses",
        409,
        "The survey already has responses.",
    ),
    doc(
        "survey_not_draft",
        409,
        "Only a draft survey can be changed this way.",
    ),
    doc("survey_not_open", 409, "The survey is not open."),
    doc(
        "term_has_children",
        409,
        "The metadata term has terms below it; move or delete them first.",
    ),
    doc(
        "too_many_lessons",
        409,
        "The course has the maximum number of lessons.",
    ),
    doc(
        "too_many_terms",
        409,
        "The customer already has the most metadata terms allowed (2,000).",
    ),
    doc(
        "use_case_approved",
        409,
        "The use case is approved and can no longer change.",
    ),
    doc(
        "use_case_decided",
        409,
        "The use case has already been approved or rejected.",
    ),
    doc("user_disabled", 409, "The user is disabled."),
    doc(
        "newsletter_not_editable",
        409,
        "The newsletter cannot be edited (or test-sent) in its status: it is drafting, sending, paused or sent.",
    ),
    doc(
        "newsletter_not_draft",
        409,
        "Only a draft newsletter can be approved (and only a draft, failed or cancelled one deleted).",
    ),
    doc(
        "newsletter_not_approved",
        409,
        "Only an approved (or scheduled) newsletter can be sent: approve the draft first.",
    ),
    doc(
        "newsletter_not_scheduled",
        409,
        "The newsletter's send is not scheduled (nothing to cancel).",
    ),
    doc(
        "newsletter_not_sending",
        409,
        "The newsletter is not sending (nothing to pause) or not paused (nothing to resume).",
    ),
    doc(
        "session_overlap",
        409,
        "The agent already has a coaching session at that time (`detail` names it).",
    ),
    doc(
        "session_closed",
        409,
        "The coaching session is cancelled, a no-show or completed: this cannot change any more.",
    ),
    doc(
        "session_not_completed",
        409,
        "Notes and scores are recorded when the coaching session is completed.",
    ),
    doc(
        "session_edit_window_closed",
        409,
        "A completed coaching session can be changed for 7 days after completion.",
    ),
    doc(
        "payload_too_large",
        413,
        "The request body is larger than the limit.",
    ),
    doc(
        "file_too_large",
        413,
        "The file is larger than its declared size or its purpose's limit; nothing was stored.",
    ),
    doc(
        "storage_quota_exceeded",
        413,
        "The tenant's stored files would exceed its storage quota.",
    ),
    doc(
        "unsupported_media_type",
        415,
        "The body is not `application/json`.",
    ),
    doc(
        "newsletter_incomplete",
        422,
        "The newsletter has no subject yet: it cannot be approved or test-sent.",
    ),
    doc(
        "constraint_violation",
        422,
        "The request violates a rule of the stored data.",
    ),
    doc(
        "idempotency_key_reused",
        422,
        "The `Idempotency-Key` was used with another request body.",
    ),
    doc(
        "missing_reference",
        422,
        "A resource the request refers to does not exist (any more).",
    ),
    doc(
        "agent_not_in_team",
        422,
        "The agent does not report to the team leader (`errors` names the field); only a coaching admin can pair them.",
    ),
    doc(
        "lesson_not_video",
        422,
        "Only video lessons carry a media file.",
    ),
    doc(
        "size_mismatch",
        422,
        "The uploaded body is shorter than the file's declared size; nothing was stored.",
    ),
    doc(
        "rate_limited",
        429,
        "Too many requests; retry after `Retry-After` seconds.",
    ),
    doc(
        "internal",
        500,
        "An unexpected error; quote the `request_id` to support.",
    ),
    doc(
        "unavailable",
        503,
        "A dependency (the database) is unavailable; retry after `Retry-After` seconds.",
    ),
    doc(
        "not_ready",
        503,
        "The service is not ready (database unreachable or migrations pending).",
    ),
];

/// The documented status of `code`, if it is one of [`CODES`].
pub fn code_status(code: &str) -> Option<u16> {
    CODES.iter().find(|c| c.code == code).map(|c| c.status)
}

impl poem_openapi::types::Type for ProblemCode {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "ProblemCode".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |_| {
            static DESCRIPTION: LazyLock<String> = LazyLock::new(|| {
                let mut d = String::from(
                    "A stable machine-readable code for the specific condition; \
                     each code is always sent with the same status:\n",
                );
                for c in CODES {
                    d.push_str(&format!("- `{}` ({}): {}\n", c.code, c.status, c.meaning));
                }
                d
            });
            MetaSchema {
                description: Some(DESCRIPTION.as_str()),
                enum_items: CODES
                    .iter()
                    .map(|c| serde_json::Value::String(c.code.into()))
                    .collect(),
                ..MetaSchema::new("string")
            }
        });
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl poem_openapi::types::ToJSON for ProblemCode {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

impl poem_openapi::types::ParseFromJSON for ProblemCode {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(s)) => Ok(Self(s)),
            other => Err(poem_openapi::types::ParseError::expected_type(
                other.unwrap_or_default(),
            )),
        }
    }
}

pub const TYPE_BASE: &str = "https://launchpad.dev/problems/";
pub const PROBLEM_JSON: &str = "application/problem+json";

impl Problem {
    /// A problem of `kind` (its `type` URI); its `code` is the kind in
    /// snake_case unless [`Problem::with_code`] names a more specific one.
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: Option<String>) -> Self {
        let ctx = request_context::current();
        Self {
            type_: format!("{TYPE_BASE}{kind}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            instance: ctx.as_ref().map(|c| c.path.clone()),
            request_id: ctx.map(|c| c.request_id),
            code: ProblemCode(kind.replace('-', "_")),
            errors: None,
        }
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.code = ProblemCode(code.replace('-', "_"));
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
            DomainError::Rejected { code, errors } => ApiError::BadRequest(Json(
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "validation",
                    "Invalid request",
                    Some(summary(&errors)),
                )
                .with_code(code)
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
            DomainError::UnprocessableFields { code, errors } => ApiError::Unprocessable(Json(
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unprocessable",
                    "Unprocessable request",
                    Some(summary(&errors)),
                )
                .with_code(code)
                .with_errors(&errors),
            )),
            DomainError::PayloadTooLarge { code, detail } => ApiError::PayloadTooLarge(Json(
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    "Payload Too Large",
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
        )
        .with_code("route_not_found"),
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
        StatusCode::BAD_REQUEST => {
            // Parameter parse errors name the parameter: `failed to parse parameter `limit`: ...`
            let pointer = msg
                .split('`')
                .nth(1)
                .map(|p| format!("/{p}"))
                .unwrap_or_else(|| "/".into());
            Problem::new(status, "bad-request", "Bad Request", Some(msg.clone()))
                .with_code("invalid_parameter")
                .with_errors(&[FieldError::new(pointer, msg)])
        }
        // Any other refusal of the HTTP layer: one documented status per code.
        s if s.is_client_error() => Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad Request",
            Some(msg),
        )
        .with_code("invalid_request"),
        StatusCode::SERVICE_UNAVAILABLE => Problem::new(
            status,
            "unavailable",
            "Service Unavailable",
            Some("a dependency is temporarily unavailable; retry later".into()),
        ),
        s => {
            tracing::error!(error = %msg, status = s.as_u16(), "unhandled error");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal Server Error",
                Some("an unexpected error occurred; quote the request_id to support".into()),
            )
        }
    };
    let retry_after = (status == StatusCode::SERVICE_UNAVAILABLE).then_some(5);
    p.into_response_with(retry_after)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn check(status: u16, code: &str) {
        assert_eq!(
            code_status(code),
            Some(status),
            "{code} is not documented with status {status}"
        );
    }

    #[test]
    fn every_domain_error_becomes_a_problem_with_a_documented_code() {
        let errors = [
            DomainError::not_found("job"),
            DomainError::field("/name", "must not be empty"),
            DomainError::conflict("slug_taken", "taken"),
            DomainError::unprocessable("missing_reference", "gone"),
            DomainError::Unauthorized("wrong password".into()),
            DomainError::Forbidden("admins only".into()),
            DomainError::RateLimited {
                retry_after: Duration::from_secs(3),
            },
            DomainError::Unavailable("database".into()),
            DomainError::Internal(anyhow::anyhow!("boom")),
        ];
        for e in errors {
            let e = ApiError::from(e);
            let p = e.problem();
            check(p.status, &p.code.0);
        }
    }

    #[tokio::test]
    async fn every_http_layer_error_becomes_a_problem_with_a_documented_code() {
        let errors = [
            poem::Error::from(poem::error::NotFoundError),
            poem::Error::from(poem::error::MethodNotAllowedError),
            poem::Error::from_status(StatusCode::UNAUTHORIZED),
            poem::Error::from_status(StatusCode::FORBIDDEN),
            poem::Error::from_status(StatusCode::BAD_REQUEST),
            poem::Error::from_status(StatusCode::LENGTH_REQUIRED),
            poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE),
            poem::Error::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            poem::Error::from_status(StatusCode::SERVICE_UNAVAILABLE),
            poem::Error::from_status(StatusCode::BAD_GATEWAY),
            poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR),
        ];
        for e in errors {
            let r = error_to_response(e, &PathParams::default());
            let status = r.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_slice(&r.into_body().into_vec().await.unwrap()).unwrap();
            assert_eq!(body["status"], status);
            check(status, body["code"].as_str().expect("a code"));
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in CODES {
            assert!(seen.insert(c.code), "{} twice", c.code);
        }
    }
}
