//! The edge of every request: request id, tracing span, body limit, the NUL
//! check ([`crate::nul`]), uniform problem errors, security headers, access
//! log and metrics.

use std::time::Instant;

use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::OperationId;
use tracing::Instrument;

use crate::{
    metrics,
    problem::{PathParams, Problem, error_to_response},
    request_context::{self, RequestContext},
};

pub struct Edge<E> {
    inner: E,
    max_body_bytes: usize,
    path_params: PathParams,
    paths: crate::nul::Paths,
}

impl<E> Edge<E> {
    pub fn new(
        inner: E,
        max_body_bytes: usize,
        path_params: PathParams,
        paths: crate::nul::Paths,
    ) -> Self {
        Self {
            inner,
            max_body_bytes,
            path_params,
            paths,
        }
    }
}

impl<E: Endpoint> Endpoint for Edge<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(request_context::accept_request_id)
            .unwrap_or_else(|| ulid::Ulid::generate().to_string());
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let ip = req
            .remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_string());
        let ctx = RequestContext {
            request_id: request_id.clone(),
            path: path.clone(),
            ip,
        };
        let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %path);
        let limit = self.max_body_bytes;

        let fut = async move {
            // Reject oversize bodies before reading them; cap bodies of unknown
            // length (HTTP/1.1 chunked, and HTTP/2 where Content-Length is optional)
            // while reading. Without a Content-Length an HTTP/1.1 body is empty
            // unless chunked, so reading it costs nothing.
            let declared = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            // File uploads stream to storage under their own limits.
            let streamed = crate::routes::files::is_streamed_upload(req.method(), &path);
            let mut resp = if !streamed && declared.is_some_and(|n| n > limit) {
                too_large(limit)
            } else {
                // JSON bodies are read here (as the handler would) so that
                // the NUL check sees them; other bodies only when unsized;
                // file uploads never (they stream to storage).
                let json = crate::body::is_json(&req);
                let mut body = None;
                if !streamed && (declared.is_none() || json) {
                    match req.take_body().into_bytes_limit(limit).await {
                        Ok(b) => {
                            body = json.then(|| b.clone());
                            req.set_body(b);
                        }
                        Err(_) => return finish(too_large(limit), &method, started),
                    }
                }
                if let Some(r) = crate::nul::check(
                    &self.paths,
                    req.uri().path(),
                    req.uri().query(),
                    body.as_deref(),
                ) {
                    return finish(r, &method, started);
                }
                match self.inner.call(req).await {
                    Ok(r) => r.into_response(),
                    Err(e) => {
                        let route = e.data::<OperationId>().map(|o| o.0);
                        let mut r = error_to_response(e, &self.path_params);
                        if let Some(route) = route {
                            r.set_data(OperationId(route));
                        }
                        r
                    }
                }
            };
            if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_problem(&resp) {
                resp = too_large(limit);
            }
            finish(resp, &method, started)
        };
        let mut resp = request_context::scope(ctx, fut.instrument(span.clone())).await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        Ok(resp)
    }
}

fn is_problem(r: &Response) -> bool {
    r.content_type()
        .is_some_and(|c| c.starts_with(crate::problem::PROBLEM_JSON))
}

fn too_large(limit: usize) -> Response {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Payload Too Large",
        Some(format!(
            "the request body exceeds the limit of {limit} bytes"
        )),
    )
    .into_response_with(None)
}

fn finish(mut resp: Response, method: &str, started: Instant) -> Response {
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let status = resp.status().as_u16();
    let route = resp
        .data::<OperationId>()
        .map(|o| o.0.to_string())
        .or_else(|| resp.data::<poem::PathPattern>().map(|p| p.0.to_string()))
        .unwrap_or_else(|| "unmatched".into());
    let secs = started.elapsed().as_secs_f64();
    metrics::record_request(&route, method, status, secs);
    if status >= 500 {
        tracing::error!(status, route = %route, elapsed_ms = secs * 1e3, "request failed");
    } else {
        tracing::info!(status, route = %route, elapsed_ms = secs * 1e3, "request");
    }
    resp
}
