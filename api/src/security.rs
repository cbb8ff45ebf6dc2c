//! Bearer authentication: verifies the access token and applies the
//! per-caller rate limit. Failures become 401/429 problems.

use launchpad_domain::tenancy::Caller;
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::{problem::ApiError, state::SharedState};

/// A valid access token from `POST /api/v1/auth/login`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = req.data::<SharedState>().expect("state is attached");
    let caller = state
        .keys
        .verify(&bearer.token)
        .map_err(|e| poem::Error::from(ApiError::from(e)))?;
    state
        .limits
        .check_caller(caller.user_id)
        .map_err(|e| poem::Error::from(ApiError::from(e)))?;
    Ok(caller)
}

/// When the request's access token expires, as a timer deadline: a live
/// stream (server-sent events) ends then, so it never outlives the login
/// that opened it; the client reconnects with a fresh token (and
/// `Last-Event-ID`). `None` without a valid bearer token.
pub fn token_deadline(req: &Request) -> Option<tokio::time::Instant> {
    let state = req.data::<SharedState>()?;
    let (scheme, token) = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    let left = (state.keys.expires_at(token).ok()? - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    Some(tokio::time::Instant::now() + left)
}

/// `stream`, ended when the request's access token expires (see
/// [`token_deadline`]).
pub fn until_token_expires<T: Send + 'static>(
    req: &Request,
    stream: impl futures::Stream<Item = T> + Send + 'static,
) -> futures::stream::BoxStream<'static, T> {
    use futures::StreamExt;
    match token_deadline(req) {
        Some(at) => stream.take_until(tokio::time::sleep_until(at)).boxed(),
        None => stream.boxed(),
    }
}
