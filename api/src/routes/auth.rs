//! Login, refresh, logout and the caller's identity.

use launchpad_domain::{
    auth::{self, Session},
    ids::{CustomerId, UserId},
    tenancy::{Caller, Role},
    values::Password,
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json, types::Example};

use crate::problem::ApiError;
use crate::types::{NoContent, Tag};
use crate::{
    body::JsonBody, problem::ApiResult, request_context, security::BearerAuth, state::SharedState,
};

pub struct AuthApi;

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct LoginRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 256))]
    pub password: String,
}

/// The demo admin that `scripts/run.sh` creates (its defaults of
/// `LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL` and `…_PASSWORD`): the login example,
/// so that "Try it out" works on a fresh install.
pub const DEMO_ADMIN_EMAIL: &str = "admin@launchpad.local";
pub const DEMO_ADMIN_PASSWORD: &str = "launchpad-admin-demo";

impl Example for LoginRequest {
    fn example() -> Self {
        Self {
            email: DEMO_ADMIN_EMAIL.into(),
            password: DEMO_ADMIN_PASSWORD.into(),
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

impl Example for RefreshRequest {
    fn example() -> Self {
        Self {
            refresh_token: "rt_2f1c9e0b7a6d4c3b8e5f1a2d3c4b5a69".into(),
        }
    }
}

/// Tokens for API calls (`Authorization: Bearer <access_token>`) and for
/// getting new ones (`refresh_token`, single use).
#[derive(Object)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    pub user: Me,
}

/// The authenticated caller, as carried in the access token.
#[derive(Object)]
pub struct Me {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub customer_ids: Vec<CustomerId>,
}

impl From<&Caller> for Me {
    fn from(c: &Caller) -> Self {
        Self {
            id: c.user_id,
            email: c.email.clone(),
            name: c.name.clone(),
            roles: c.roles.clone(),
            customer_ids: c.customer_ids.clone(),
        }
    }
}

fn pair(s: Session) -> TokenPair {
    TokenPair {
        user: Me::from(&s.caller),
        access_token: s.access_token,
        token_type: "Bearer".into(),
        expires_in: s.access_expires_in,
        refresh_token: s.refresh_token,
        refresh_expires_in: s.refresh_expires_in,
    }
}

/// The client's IP address (for rate limits).
fn client_ip() -> Option<std::net::IpAddr> {
    request_context::current()
        .and_then(|c| c.ip)
        .and_then(|i| i.parse().ok())
}

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct ChangePassword {
    #[oai(validator(max_length = 256))]
    pub current_password: String,
    /// 12–256 characters.
    #[oai(validator(min_length = 12, max_length = 256))]
    pub new_password: String,
}

impl Example for ChangePassword {
    fn example() -> Self {
        Self {
            current_password: "correct horse battery staple".into(),
            new_password: "purple monkey dishwasher lamp".into(),
        }
    }
}

#[OpenApi(tag = "Tag::Auth")]
impl AuthApi {
    /// Exchanges email and password for an access token and a refresh token.
    ///
    /// Limited to 5 attempts per 15 minutes per (client IP, email).
    #[oai(
        path = "/api/v1/auth/login",
        method = "post",
        operation_id = "auth_login"
    )]
    async fn login(
        &self,
        state: Data<&SharedState>,
        body: JsonBody<LoginRequest>,
    ) -> ApiResult<Json<TokenPair>> {
        state.limits.check_login(client_ip(), &body.value.email)?;
        let s = auth::login(
            &state.db,
            &state.keys,
            &body.value.email,
            &body.value.password,
        )
        .await?;
        Ok(Json(pair(s)))
    }

    /// Rotates a refresh token: returns new tokens and invalidates the old one.
    /// Presenting an already used refresh token revokes its whole family.
    #[oai(
        path = "/api/v1/auth/refresh",
        method = "post",
        operation_id = "auth_refresh"
    )]
    async fn refresh(
        &self,
        state: Data<&SharedState>,
        body: JsonBody<RefreshRequest>,
    ) -> ApiResult<Json<TokenPair>> {
        let s = auth::refresh(&state.db, &state.keys, &body.value.refresh_token).await?;
        Ok(Json(pair(s)))
    }

    /// Revokes the refresh token (and every token rotated from the same login).
    #[oai(
        path = "/api/v1/auth/logout",
        method = "post",
        operation_id = "auth_logout"
    )]
    async fn logout(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<RefreshRequest>,
    ) -> ApiResult<NoContent> {
        auth::logout(&state.db, &auth.0, &body.value.refresh_token).await?;
        Ok(NoContent::Done)
    }

    /// The caller's identity, roles and customers.
    #[oai(path = "/api/v1/me", method = "get", operation_id = "me_get")]
    async fn me(&self, auth: BearerAuth) -> ApiResult<Json<Me>> {
        // The errors (401, 429) come from `BearerAuth`; the result type documents them.
        Ok(Json(Me::from(&auth.0)))
    }

    /// Changes the caller's own password; needs the current one.
    ///
    /// Every refresh token of the caller is revoked (all sessions sign in
    /// again once their access token expires). Limited like login: 5 attempts
    /// per 15 minutes per user. Other users' passwords are set by an admin (or
    /// their customer_exec) with `PATCH /api/v1/users/{id}`.
    #[oai(
        path = "/api/v1/me/password",
        method = "post",
        operation_id = "me_change_password"
    )]
    async fn change_password(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<ChangePassword>,
    ) -> ApiResult<NoContent> {
        state.limits.check_password_change(auth.0.user_id)?;
        let b = body.value;
        let new = Password::parse(&b.new_password)
            .map_err(|m| ApiError::bad_request("/new_password", m))?;
        auth::change_own_password(&state.db, &auth.0, &b.current_password, &new).await?;
        Ok(NoContent::Done)
    }
}
