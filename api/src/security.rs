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
