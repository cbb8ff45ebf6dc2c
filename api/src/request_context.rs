//! Per-request context visible anywhere inside the request's task.

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub path: String,
    pub ip: Option<String>,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

pub fn current() -> Option<RequestContext> {
    CURRENT.try_with(|c| c.clone()).ok()
}

/// Runs `f` with `ctx` as the request context; the audit rows `f` records
/// carry its request id and client IP (the one place they are set).
pub async fn scope<F: std::future::Future>(ctx: RequestContext, f: F) -> F::Output {
    let origin = launchpad_domain::audit::Origin {
        request_id: Some(ctx.request_id.clone()),
        ip: ctx.ip.clone(),
    };
    launchpad_domain::audit::with_origin(origin, CURRENT.scope(ctx, f)).await
}

/// Accepts a client's request id when well-formed (1–128 of `[A-Za-z0-9._:-]`).
pub fn accept_request_id(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    ok.then(|| s.to_string())
}
