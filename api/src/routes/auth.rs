//! Login, refresh, logout and the caller's identity.

use launchpad_domain::{
    audit,
    auth::{
        self, Session,
        account::{self},
        account_tokens::TokenInput,
    },
    error::Validator,
    ids::{CustomerId, UserId},
    tenancy::{Caller, Role},
    values::{Email, Password},
};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Example};

use crate::problem::ApiError;
use crate::types::{NoContent, Tag};
use crate::{
    body::JsonBody, problem::ApiResult, rate_limit::client_ip, security::BearerAuth,
    state::SharedState,
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

/// Accepted: what follows happens by e-mail.
#[derive(ApiResponse)]
pub enum Accepted {
    /// Accepted; see the operation for what follows.
    #[oai(status = 202)]
    Accepted,
}

/// An example token (the real ones come in the account e-mails).
const EXAMPLE_TOKEN: &str = "q3JzX1dLb0Y2dGhhbmtzRm9yUmVhZGluZ1RoaXNUb2s";

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct PasswordResetRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
}

impl Example for PasswordResetRequest {
    fn example() -> Self {
        Self {
            email: "ana.silva@acme.example".into(),
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct PasswordResetConfirm {
    /// The token of the password-reset e-mail (its link's `token` parameter).
    #[oai(validator(max_length = 256))]
    pub token: String,
    /// 12–256 characters.
    #[oai(validator(min_length = 12, max_length = 256))]
    pub new_password: String,
}

impl Example for PasswordResetConfirm {
    fn example() -> Self {
        Self {
            token: EXAMPLE_TOKEN.into(),
            new_password: "purple monkey dishwasher lamp".into(),
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct AcceptInvitation {
    /// The token of the invitation e-mail (its link's `token` parameter).
    #[oai(validator(max_length = 256))]
    pub token: String,
    /// The user's password, 12–256 characters.
    #[oai(validator(min_length = 12, max_length = 256))]
    pub password: String,
}

impl Example for AcceptInvitation {
    fn example() -> Self {
        Self {
            token: EXAMPLE_TOKEN.into(),
            password: "correct horse battery staple".into(),
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct VerifyEmail {
    /// The token of the verification e-mail sent to the new address.
    #[oai(validator(max_length = 256))]
    pub token: String,
}

impl Example for VerifyEmail {
    fn example() -> Self {
        Self {
            token: EXAMPLE_TOKEN.into(),
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct ChangeEmail {
    /// The new address; it takes effect once the link mailed to it is used.
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 256))]
    pub current_password: String,
}

impl Example for ChangeEmail {
    fn example() -> Self {
        Self {
            email: "ana.costa@acme.example".into(),
            current_password: "correct horse battery staple".into(),
        }
    }
}

/// A token and a password from a body, both checked (every problem at once).
fn token_and_password(
    token: &str,
    password: &str,
    password_field: &str,
) -> Result<(TokenInput, Password), ApiError> {
    let mut v = Validator::new();
    let t = v.check("/token", TokenInput::parse(token));
    let p = v.check(password_field, Password::parse(password));
    v.finish()?;
    Ok((t.expect("checked"), p.expect("checked")))
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

    /// Asks for a password-reset e-mail: a link that works once, for one
    /// hour, to `POST /api/v1/auth/password-reset/confirm`.
    ///
    /// Always 202, the same answer whether or not a user has the address
    /// (nothing tells who has an account): the e-mail is sent only to an
    /// enabled user's address, after the answer. Limited per client IP and
    /// per address (like login).
    #[oai(
        path = "/api/v1/auth/password-reset",
        method = "post",
        operation_id = "auth_password_reset"
    )]
    async fn password_reset(
        &self,
        state: Data<&SharedState>,
        body: JsonBody<PasswordResetRequest>,
    ) -> ApiResult<Accepted> {
        state
            .limits
            .check_password_reset(client_ip(), &body.value.email)?;
        let email =
            Email::parse(&body.value.email).map_err(|m| ApiError::bad_request("/email", m))?;
        // The work (lookup, token, e-mail, audit) runs after the answer, so
        // neither the answer nor its timing depends on the address.
        let permit = state
            .resets
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| launchpad_domain::Error::Internal(e.into()))?;
        let st = state.0.clone();
        let origin = audit::Origin::current();
        tokio::spawn(audit::with_origin(origin, async move {
            let _permit = permit;
            if let Err(e) = account::request_password_reset(&st.db, &st.account_mail, &email).await
            {
                tracing::warn!(error = %e, "a password-reset request failed");
            }
        }));
        Ok(Accepted::Accepted)
    }

    /// Sets a new password with the token of a password-reset e-mail.
    ///
    /// Every refresh token of the user is revoked (all sessions sign in
    /// again). The token works once: an expired, used or replaced one is a
    /// 400 (`token_expired`, `token_used`, `token_invalid`) naming `/token`,
    /// and nothing changes.
    #[oai(
        path = "/api/v1/auth/password-reset/confirm",
        method = "post",
        operation_id = "auth_password_reset_confirm"
    )]
    async fn password_reset_confirm(
        &self,
        state: Data<&SharedState>,
        body: JsonBody<PasswordResetConfirm>,
    ) -> ApiResult<NoContent> {
        state.limits.check_anonymous_client()?;
        let (token, password) =
            token_and_password(&body.value.token, &body.value.new_password, "/new_password")?;
        account::confirm_password_reset(&state.db, &token, &password).await?;
        Ok(NoContent::Done)
    }

    /// Accepts an invitation: its token and the user's password. The user
    /// signs in with `POST /api/v1/auth/login` afterwards.
    ///
    /// The token works once, for 7 days, and only the latest invitation's
    /// (`POST /api/v1/users/{id}/invitation` replaces it): otherwise a 400
    /// (`token_expired`, `token_used`, `token_invalid`) naming `/token`.
    #[oai(
        path = "/api/v1/auth/accept-invitation",
        method = "post",
        operation_id = "auth_accept_invitation"
    )]
    async fn accept_invitation(
        &self,
        state: Data<&SharedState>,
        body: JsonBody<AcceptInvitation>,
    ) -> ApiResult<NoContent> {
        state.limits.check_anonymous_client()?;
        let (token, password) =
            token_and_password(&body.value.token, &body.value.password, "/password")?;
        account::accept_invitation(&state.db, &token, &password).await?;
        Ok(NoContent::Done)
    }

    /// Confirms a new e-mail address with the token mailed to it: the
    /// user's address becomes it (and they sign in with it).
    ///
    /// The token works once, for 24 hours, and only the latest change's:
    /// otherwise a 400 (`token_expired`, `token_used`, `token_invalid`)
    /// naming `/token`. 409 `email_taken` when another user took the
    /// address meanwhile.
    #[oai(
        path = "/api/v1/auth/verify-email",
        method = "post",
        operation_id = "auth_verify_email"
    )]
    async fn verify_email(
        &self,
        state: Data<&SharedState>,
        body: JsonBody<VerifyEmail>,
    ) -> ApiResult<NoContent> {
        state.limits.check_anonymous_client()?;
        let token = TokenInput::parse_at("/token", &body.value.token)?;
        account::verify_email(&state.db, &token).await?;
        Ok(NoContent::Done)
    }

    /// Changes the caller's own e-mail address; needs the current password.
    ///
    /// The address changes only when the link mailed to the new address is
    /// used (`POST /api/v1/auth/verify-email`); until then the user keeps
    /// the old one and shows the new one as `pending_email`. Your current
    /// address cancels a pending change. Limited like password changes.
    #[oai(
        path = "/api/v1/me/email",
        method = "post",
        operation_id = "me_change_email"
    )]
    async fn change_email(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<ChangeEmail>,
    ) -> ApiResult<Accepted> {
        state.limits.check_password_change(auth.0.user_id)?;
        let b = body.value;
        let email = Email::parse(&b.email).map_err(|m| ApiError::bad_request("/email", m))?;
        auth::change_own_email(
            &state.db,
            &state.account_mail,
            &auth.0,
            &b.current_password,
            &email,
        )
        .await?;
        Ok(Accepted::Accepted)
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
