//! Users, roles and customer grants.

use chrono::{DateTime, Utc};
use launchpad_domain::{
    ids::{CustomerId, UserId},
    tenancy::Role,
    users::{self, NewUser, User, UserPatch},
};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};

use crate::list_query::Paging;
use crate::types::{Created, NoContent, Page, Tag};
use crate::{body::JsonBody, problem::ApiResult, security::BearerAuth, state::SharedState};

pub struct UsersApi;

/// A user account (never includes the password).
#[derive(Object)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// Customers the user belongs to (ignored for admin and internal, who see all).
    pub customer_ids: Vec<CustomerId>,
    pub disabled: bool,
    /// Invited (created without a password) and has not accepted yet: they
    /// cannot sign in until they choose a password with the invitation's link.
    pub invitation_pending: bool,
    /// A new address waiting for its verification link to be used; `email`
    /// stays the address until then.
    #[oai(skip_serializing_if_is_none)]
    pub pending_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            roles: u.roles,
            customer_ids: u.customer_ids,
            disabled: u.disabled,
            invitation_pending: u.invitation_pending,
            pending_email: u.pending_email,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example)]
pub struct CreateUser {
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// The initial password, 12–256 characters. Omit it to invite the user
    /// instead: an e-mail with a link (valid 7 days, once) to choose it.
    #[oai(validator(min_length = 12, max_length = 256))]
    #[serde(default)]
    pub password: Option<String>,
    pub roles: Vec<Role>,
    #[serde(default)]
    #[oai(default)]
    pub customer_ids: Vec<CustomerId>,
}

impl Example for CreateUser {
    fn example() -> Self {
        Self {
            email: "ana.silva@acme.example".into(),
            name: "Ana Silva".into(),
            password: Some("correct horse battery staple".into()),
            roles: vec![Role::CustomerMember],
            customer_ids: vec![CustomerId(uuid::Uuid::from_u128(
                0x0193_5c1e_7d2a_7b11_8a3e_4f5a_6b7c_8d9e,
            ))],
        }
    }
}

#[derive(Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UpdateUser {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    /// A new address: it takes effect only when the link mailed to it is
    /// used (`POST /api/v1/auth/verify-email`); the user shows it as
    /// `pending_email` until then. The current address cancels a pending
    /// change. Your own address changes with `POST /api/v1/me/email`.
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub customer_ids: Option<Vec<CustomerId>>,
    pub disabled: Option<bool>,
    /// A new password for another user (revokes that user's refresh tokens).
    /// Your own password changes with `POST /api/v1/me/password`.
    #[oai(validator(min_length = 12, max_length = 256))]
    pub password: Option<String>,
}

impl Example for UpdateUser {
    fn example() -> Self {
        Self {
            name: Some("Ana Silva-Costa".into()),
            email: None,
            roles: Some(vec![Role::CustomerExec]),
            customer_ids: None,
            disabled: None,
            password: None,
        }
    }
}

/// An invitation on its way (the e-mail is sent by a worker).
#[derive(Object)]
pub struct InvitationView {
    pub user_id: UserId,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum InvitationSent {
    /// The invitation e-mail is queued; the previous link no longer works.
    #[oai(status = 202)]
    Accepted(Json<InvitationView>),
}

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// Creates a user. Admins grant any role; a customer_exec grants
    /// customer roles within their own customers.
    ///
    /// Without a `password` the user is invited: an e-mail with a link that
    /// works once, for 7 days, to `POST /api/v1/auth/accept-invitation`,
    /// where they choose their password (`invitation_pending` until then).
    #[oai(path = "/api/v1/users", method = "post", operation_id = "users_create")]
    async fn create(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        body: JsonBody<CreateUser>,
    ) -> ApiResult<Created<UserView>> {
        let b = body.value;
        let input = NewUser::parse(
            &b.email,
            &b.name,
            b.password.as_deref(),
            b.roles,
            b.customer_ids,
        )?;
        Ok(Created::Created(Json(
            users::create(&state.db, &auth.0, input, &state.account_mail)
                .await?
                .into(),
        )))
    }

    /// Lists the users the caller can see.
    #[oai(path = "/api/v1/users", method = "get", operation_id = "users_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: Paging,
    ) -> ApiResult<Json<Page<UserView>>> {
        let page = users::list(&state.db, &auth.0, &query.page).await?;
        Ok(Json(Page::from_domain(page, UserView::from)))
    }

    /// Gets a user.
    #[oai(path = "/api/v1/users/:id", method = "get", operation_id = "users_get")]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<UserId>,
    ) -> ApiResult<Json<UserView>> {
        Ok(Json(users::get(&state.db, &auth.0, id.0).await?.into()))
    }

    /// Updates a user: profile, roles, customer grants, disabled flag, password.
    ///
    /// A new `email` takes effect only when the link mailed to it is used
    /// (`pending_email` until then; 409 `email_taken` if another user has it).
    /// On your own account only the name can change: your roles, grants and
    /// disabled flag are changed by another admin (409
    /// `cannot_change_own_grants`, `cannot_disable_self`), your password with
    /// `POST /api/v1/me/password` (409 `own_password_needs_current`), your
    /// address with `POST /api/v1/me/email` (409 `own_email_needs_current`). No
    /// change may leave the platform without an enabled admin (409
    /// `last_admin`) or a customer that had an enabled customer_exec without
    /// one (409 `last_customer_exec`).
    #[oai(
        path = "/api/v1/users/:id",
        method = "patch",
        operation_id = "users_update"
    )]
    async fn update(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<UserId>,
        body: JsonBody<UpdateUser>,
    ) -> ApiResult<Json<UserView>> {
        let b = body.value;
        let patch = UserPatch::parse(
            b.name.as_deref(),
            b.email.as_deref(),
            b.roles,
            b.customer_ids,
            b.disabled,
            b.password.as_deref(),
        )?;
        Ok(Json(
            users::update(&state.db, &auth.0, id.0, patch, &state.account_mail)
                .await?
                .into(),
        ))
    }

    /// Sends the user a new invitation (the previous link stops working).
    ///
    /// The same rules as creating the user: an admin, or a customer_exec of
    /// the user's customers. 409 `invitation_accepted` once the user has a
    /// password (they can reset it), `user_disabled` for a disabled user.
    #[oai(
        path = "/api/v1/users/:id/invitation",
        method = "post",
        operation_id = "users_resend_invitation"
    )]
    async fn resend_invitation(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<UserId>,
    ) -> ApiResult<InvitationSent> {
        let i = users::resend_invitation(&state.db, &auth.0, id.0, &state.account_mail).await?;
        Ok(InvitationSent::Accepted(Json(InvitationView {
            user_id: i.user_id,
            expires_at: i.expires_at,
        })))
    }

    /// Deletes a user. Not yourself (409 `cannot_delete_self`), nor the last
    /// enabled admin or a customer's last enabled customer_exec (409
    /// `last_admin`, `last_customer_exec`).
    #[oai(
        path = "/api/v1/users/:id",
        method = "delete",
        operation_id = "users_delete"
    )]
    async fn delete(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<UserId>,
    ) -> ApiResult<NoContent> {
        users::delete(&state.db, &auth.0, id.0).await?;
        Ok(NoContent::Done)
    }
}
