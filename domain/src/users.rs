//! Users, their roles and their customer grants.

use chrono::{DateTime, Utc};
use sea_query::{Condition, Expr, ExprTrait, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use crate::{
    audit::{self, AuditEntry},
    auth::{
        account::{self, Account, AccountMail, Invitation},
        account_tokens::{self, TokenPurpose},
        password,
    },
    error::{Error, Result, Validator},
    ids::{CustomerId, UserId},
    pagination::{Keyset, Page, PageRequest},
    tenancy::{Caller, Role},
    values::{self, Email, Password},
};

#[derive(Debug, Clone, serde::Serialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub customer_ids: Vec<CustomerId>,
    pub disabled: bool,
    /// Invited and has not chosen a password yet.
    pub invitation_pending: bool,
    /// An address change waiting for its verification link to be used.
    pub pending_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct UserRow {
    id: UserId,
    email: String,
    name: String,
    roles: Vec<String>,
    customer_ids: Vec<uuid::Uuid>,
    disabled: bool,
    invitation_pending: bool,
    pending_email: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            email: r.email,
            name: r.name,
            roles: r.roles.iter().filter_map(|s| Role::parse(s)).collect(),
            customer_ids: r.customer_ids.into_iter().map(CustomerId).collect(),
            disabled: r.disabled,
            invitation_pending: r.invitation_pending,
            pending_email: r.pending_email,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "u.id, u.email, u.name, u.roles, u.disabled, u.created_at, u.updated_at,
    u.password_hash IS NULL AS invitation_pending,
    (SELECT t.new_email FROM account_tokens t
     WHERE t.user_id = u.id AND t.purpose = 'email_verification' AND t.used_at IS NULL
       AND t.revoked_at IS NULL AND t.expires_at > now()
     ORDER BY t.created_at DESC LIMIT 1) AS pending_email,
    coalesce((SELECT array_agg(uc.customer_id ORDER BY uc.customer_id) FROM user_customers uc WHERE uc.user_id = u.id), '{}') AS customer_ids";

/// A validated new user.
#[derive(Debug)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    /// `None`: the user is invited to choose one (an e-mail with a link).
    pub password: Option<Password>,
    pub roles: Vec<Role>,
    pub customer_ids: Vec<CustomerId>,
}

impl NewUser {
    pub fn parse(
        email: &str,
        name: &str,
        password: Option<&str>,
        roles: Vec<Role>,
        customer_ids: Vec<CustomerId>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let email = v.check("/email", Email::parse(email));
        let name = v.check("/name", values::name(name));
        let password = password.and_then(|p| v.check("/password", Password::parse(p)));
        if roles.is_empty() {
            v.push("/roles", "must name at least one role");
        }
        if customer_ids.len() > 100 {
            v.push("/customer_ids", "must have at most 100 entries");
        }
        v.finish()?;
        Ok(Self {
            email: email.expect("checked"),
            name: name.expect("checked"),
            password,
            roles: dedup(roles),
            customer_ids: dedup(customer_ids),
        })
    }
}

#[derive(Debug, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    /// A new address: takes effect when the link mailed to it is used.
    pub email: Option<Email>,
    pub roles: Option<Vec<Role>>,
    pub customer_ids: Option<Vec<CustomerId>>,
    pub disabled: Option<bool>,
    pub password: Option<Password>,
}

impl UserPatch {
    pub fn parse(
        name: Option<&str>,
        email: Option<&str>,
        roles: Option<Vec<Role>>,
        customer_ids: Option<Vec<CustomerId>>,
        disabled: Option<bool>,
        password: Option<&str>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let name = name.and_then(|n| v.check("/name", values::name(n)));
        let email = email.and_then(|e| v.check("/email", Email::parse(e)));
        let password = password.and_then(|p| v.check("/password", Password::parse(p)));
        if roles.as_ref().is_some_and(|r| r.is_empty()) {
            v.push("/roles", "must name at least one role");
        }
        v.finish()?;
        Ok(Self {
            name,
            email,
            roles: roles.map(dedup),
            customer_ids: customer_ids.map(dedup),
            disabled,
            password,
        })
    }
}

fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Which users a caller may see: staff all; others the users sharing a customer, and themselves.
fn visible(caller: &Caller, user: &User) -> bool {
    caller.is_staff()
        || user.id == caller.user_id
        || user
            .customer_ids
            .iter()
            .any(|c| caller.customer_ids.contains(c))
}

/// Checks that `caller` may hand out `roles` and `customers`.
fn check_grants(caller: &Caller, roles: &[Role], customers: &[CustomerId]) -> Result<()> {
    if caller.is_admin() {
        return Ok(());
    }
    if !caller.has_role(Role::CustomerExec) {
        return Err(Error::forbidden("requires the admin or customer_exec role"));
    }
    if roles
        .iter()
        .any(|r| matches!(r, Role::Admin | Role::Internal))
    {
        return Err(Error::forbidden(
            "only admins may grant the admin or internal role",
        ));
    }
    if customers.is_empty() {
        return Err(Error::field(
            "/customer_ids",
            "must name at least one of your customers",
        ));
    }
    if let Some(c) = customers.iter().find(|c| !caller.customer_ids.contains(c)) {
        return Err(Error::forbidden(format!(
            "customer {c} is not one of yours"
        )));
    }
    Ok(())
}

async fn fetch(conn: &mut PgConnection, id: UserId) -> Result<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM users u WHERE u.id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(User::from))
}

pub async fn get(db: &PgPool, caller: &Caller, id: UserId) -> Result<User> {
    let mut conn = db.acquire().await?;
    match fetch(&mut conn, id).await? {
        Some(u) if visible(caller, &u) => Ok(u),
        _ => Err(Error::not_found("user")),
    }
}

/// By id.
const BY_ID: Keyset<UserId> = Keyset::ascending(&["u.id"]);

/// The users the caller may see: themselves and the users of their customers
/// (everyone for staff), by id.
pub async fn list(db: &PgPool, caller: &Caller, page: &PageRequest) -> Result<Page<User>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS)).from_as("users", "u");
    if let Some(customers) = caller.scope().customer_ids() {
        let mut granted = Query::select();
        granted
            .expr(Expr::cust("1"))
            .from_as("user_customers", "g")
            .and_where(Expr::cust("g.user_id = u.id"))
            .and_where(Expr::col(("g", "customer_id")).is_in(customers));
        q.cond_where(
            Condition::any()
                .add(Expr::cust_with_values("u.id = $1", [caller.user_id.0]))
                .add(Expr::exists(granted)),
        );
    }
    Ok(BY_ID
        .fetch(db, q, page, |u: &UserRow| u.id)
        .await?
        .map(User::from))
}

async fn set_customers(
    conn: &mut PgConnection,
    id: UserId,
    customers: &[CustomerId],
) -> Result<()> {
    sqlx::query("DELETE FROM user_customers WHERE user_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let ids: Vec<uuid::Uuid> = customers.iter().map(|c| c.0).collect();
    sqlx::query("INSERT INTO user_customers (user_id, customer_id) SELECT $1, unnest($2::uuid[])")
        .bind(id)
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .map_err(|e| match Error::from(e) {
            Error::Unprocessable { .. } => {
                Error::field("/customer_ids", "names a customer that does not exist")
            }
            e => e,
        })?;
    Ok(())
}

fn role_names(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

/// Creates a user; without a password, invites them: a 7-day link to
/// choose one is mailed to the user in the same transaction.
pub async fn create(
    db: &PgPool,
    caller: &Caller,
    input: NewUser,
    mail: &AccountMail,
) -> Result<User> {
    check_grants(caller, &input.roles, &input.customer_ids)?;
    let hash = match &input.password {
        Some(p) => Some(password::hash(p).await?),
        None => None,
    };
    let mut tx = db.begin().await?;
    let id = UserId::new();
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, roles) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(input.email.as_str())
    .bind(&input.name)
    .bind(hash)
    .bind(role_names(&input.roles))
    .execute(&mut *tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Conflict { .. } => {
            Error::conflict("email_taken", "a user with this email already exists")
        }
        e => e,
    })?;
    set_customers(&mut tx, id, &input.customer_ids).await?;
    if input.password.is_none() {
        let account = Account {
            id,
            email: input.email.as_str().to_string(),
            name: input.name.clone(),
            disabled: false,
        };
        account::invite(&mut tx, mail, &account, (caller.user_id, &caller.name)).await?;
    }
    let user = fetch(&mut tx, id).await?.ok_or(Error::not_found("user"))?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "user.created",
            target_type: "user",
            target_id: Some(id.to_string()),
            after: serde_json::to_value(&user).ok(),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Changes to roles, grants, disabled flags and deletions take this lock
/// (transaction-scoped), so that two concurrent changes cannot both pass
/// [`keep_stewards`] and together leave no admin.
const STEWARDS_LOCK: i64 = 7270002;

async fn lock_stewards(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(STEWARDS_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// What nobody may do to their own account through `PATCH /users/{id}`:
/// change their roles or customer grants, disable themselves (like deleting
/// themselves), or set their password without the current one.
fn check_self_patch(before: &User, patch: &UserPatch) -> Result<()> {
    if patch
        .email
        .as_ref()
        .is_some_and(|e| !e.as_str().eq_ignore_ascii_case(&before.email))
    {
        return Err(Error::conflict(
            "own_email_needs_current",
            "change your own e-mail address with POST /api/v1/me/email, which needs your password",
        ));
    }
    if patch.password.is_some() {
        return Err(Error::conflict(
            "own_password_needs_current",
            "change your own password with POST /api/v1/me/password, which needs the current one",
        ));
    }
    if patch.disabled == Some(true) && !before.disabled {
        return Err(Error::conflict(
            "cannot_disable_self",
            "you cannot disable your own account",
        ));
    }
    let roles_changed = patch
        .roles
        .as_ref()
        .is_some_and(|r| !same_set(r, &before.roles));
    let customers_changed = patch
        .customer_ids
        .as_ref()
        .is_some_and(|c| !same_set(c, &before.customer_ids));
    if roles_changed || customers_changed {
        return Err(Error::conflict(
            "cannot_change_own_grants",
            "you cannot change your own roles or customer grants; another admin (or customer_exec) can",
        ));
    }
    Ok(())
}

/// No change may leave the platform without an enabled admin, nor a customer
/// that had an enabled `customer_exec` without one. `before` is the changed
/// (or deleted) user as it was: only what it held can have been lost. Runs
/// after the change, in its transaction, under [`lock_stewards`].
async fn keep_stewards(conn: &mut PgConnection, before: &User) -> Result<()> {
    if before.disabled {
        return Ok(());
    }
    if before.roles.contains(&Role::Admin) {
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users WHERE $1 = ANY(roles) AND NOT disabled)",
        )
        .bind(Role::Admin.as_str())
        .fetch_one(&mut *conn)
        .await?;
        if !any {
            return Err(Error::conflict(
                "last_admin",
                "this change would leave the platform without an enabled admin; make another user admin first",
            ));
        }
    }
    if before.roles.contains(&Role::CustomerExec) && !before.customer_ids.is_empty() {
        let ids: Vec<uuid::Uuid> = before.customer_ids.iter().map(|c| c.0).collect();
        let orphaned: Option<uuid::Uuid> = sqlx::query_scalar(
            "SELECT c FROM unnest($1::uuid[]) AS c
             WHERE EXISTS (SELECT 1 FROM customers WHERE id = c)
               AND NOT EXISTS (SELECT 1 FROM user_customers uc JOIN users u ON u.id = uc.user_id
                               WHERE uc.customer_id = c AND $2 = ANY(u.roles) AND NOT u.disabled)
             LIMIT 1",
        )
        .bind(&ids)
        .bind(Role::CustomerExec.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(c) = orphaned {
            return Err(Error::conflict(
                "last_customer_exec",
                format!(
                    "this change would leave customer {c} without an enabled customer_exec; give the role to another of its users first"
                ),
            ));
        }
    }
    Ok(())
}

/// Updates a user. A new e-mail address is not set: a link is mailed to it
/// ([`change_email`]), and the address changes when it is used.
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: UserId,
    patch: UserPatch,
    mail: &AccountMail,
) -> Result<User> {
    let hash = match &patch.password {
        Some(p) if id != caller.user_id => Some(password::hash(p).await?),
        _ => None,
    };
    let mut tx = db.begin().await?;
    lock_stewards(&mut tx).await?;
    let before = match fetch(&mut tx, id).await? {
        Some(u) if visible(caller, &u) => u,
        _ => return Err(Error::not_found("user")),
    };
    if id == caller.user_id {
        // What is left is a profile edit (the name).
        check_self_patch(&before, &patch)?;
    } else {
        // Managing another user needs the grant rights over both the old and
        // the new roles and customers.
        check_grants(caller, &before.roles, &before.customer_ids)?;
        check_grants(
            caller,
            patch.roles.as_deref().unwrap_or(&before.roles),
            patch
                .customer_ids
                .as_deref()
                .unwrap_or(&before.customer_ids),
        )?;
    }
    sqlx::query(
        "UPDATE users SET name = coalesce($2, name), roles = coalesce($3, roles),
             disabled = coalesce($4, disabled), password_hash = coalesce($5, password_hash), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&patch.name)
    .bind(patch.roles.as_deref().map(role_names))
    .bind(patch.disabled)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    if let Some(c) = &patch.customer_ids {
        set_customers(&mut tx, id, c).await?;
    }
    keep_stewards(&mut tx, &before).await?;
    let revoked = if patch.disabled == Some(true) || hash.is_some() {
        crate::auth::revoke_refresh_tokens(&mut tx, id).await?
    } else {
        0
    };
    if hash.is_some() {
        // The password is set: invitation links have nothing left to do.
        account_tokens::revoke(&mut tx, id, &[TokenPurpose::Invitation]).await?;
    }
    if let Some(email) = &patch.email {
        change_email(&mut tx, mail, caller, id, email).await?;
    }
    let after = fetch(&mut tx, id).await?.ok_or(Error::not_found("user"))?;
    let entry = |action, before, after| AuditEntry {
        actor_id: Some(caller.user_id),
        actor_email: Some(&caller.email),
        action,
        target_type: "user",
        target_id: Some(id.to_string()),
        before,
        after,
        ..Default::default()
    };
    if hash.is_some() {
        audit::record(
            &mut *tx,
            entry(
                "user.password_changed",
                None,
                Some(serde_json::json!({"by": "other", "refresh_tokens_revoked": revoked})),
            ),
        )
        .await?;
    }
    let profile_or_grants = patch.name.is_some()
        || patch.email.is_some()
        || patch.roles.is_some()
        || patch.customer_ids.is_some()
        || patch.disabled.is_some();
    if profile_or_grants || hash.is_none() {
        let action = if !same_set(&before.roles, &after.roles)
            || !same_set(&before.customer_ids, &after.customer_ids)
        {
            "user.grants_changed"
        } else {
            "user.updated"
        };
        audit::record(
            &mut *tx,
            entry(
                action,
                serde_json::to_value(&before).ok(),
                serde_json::to_value(&after).ok(),
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}

/// Starts changing user `id`'s address to `new` (the caller was checked
/// to manage them, or is them): the link that confirms it is mailed to
/// the new address ([`account::request_email_change`]), in the caller's
/// transaction. Their current address cancels a pending change.
pub(crate) async fn change_email(
    conn: &mut PgConnection,
    mail: &AccountMail,
    caller: &Caller,
    id: UserId,
    new: &Email,
) -> Result<()> {
    let account: Account =
        sqlx::query_as("SELECT id, email, name, disabled FROM users WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(Error::not_found("user"))?;
    let (action, after) = if new.as_str().eq_ignore_ascii_case(&account.email) {
        let cancelled =
            account_tokens::revoke(conn, id, &[TokenPurpose::EmailVerification]).await?;
        if cancelled == 0 {
            return Ok(());
        }
        ("user.email_change_cancelled", serde_json::json!({}))
    } else {
        let issued =
            account::request_email_change(conn, mail, &account, new, Some(caller.user_id)).await?;
        (
            "user.email_change_requested",
            serde_json::json!({"pending_email": new.as_str(), "expires_at": issued.expires_at}),
        )
    };
    audit::record(
        &mut *conn,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action,
            target_type: "user",
            target_id: Some(id.to_string()),
            before: Some(serde_json::json!({"email": account.email})),
            after: Some(after),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// Sends user `id` a new invitation, revoking the previous link. The same
/// rules as creating the user: an admin, or a customer_exec of all the
/// user's customers. 409 `invitation_accepted` once they chose a password,
/// `user_disabled` for a disabled user.
pub async fn resend_invitation(
    db: &PgPool,
    caller: &Caller,
    id: UserId,
    mail: &AccountMail,
) -> Result<Invitation> {
    let mut tx = db.begin().await?;
    let user = match fetch(&mut tx, id).await? {
        Some(u) if visible(caller, &u) => u,
        _ => return Err(Error::not_found("user")),
    };
    check_grants(caller, &user.roles, &user.customer_ids)?;
    let account: Account =
        sqlx::query_as("SELECT id, email, name, disabled FROM users WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let has_password: bool =
        sqlx::query_scalar("SELECT password_hash IS NOT NULL FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if has_password {
        return Err(Error::conflict(
            "invitation_accepted",
            "the user has chosen a password already; they can reset it with POST /api/v1/auth/password-reset",
        ));
    }
    if account.disabled {
        return Err(Error::conflict(
            "user_disabled",
            "the user is disabled; enable them first",
        ));
    }
    let issued = account::invite(&mut tx, mail, &account, (caller.user_id, &caller.name)).await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "user.invitation_sent",
            target_type: "user",
            target_id: Some(id.to_string()),
            after: Some(serde_json::json!({"expires_at": issued.expires_at, "resent": true})),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Invitation {
        user_id: id,
        expires_at: issued.expires_at,
    })
}

pub async fn delete(db: &PgPool, caller: &Caller, id: UserId) -> Result<()> {
    let mut tx = db.begin().await?;
    lock_stewards(&mut tx).await?;
    let before = match fetch(&mut tx, id).await? {
        Some(u) if visible(caller, &u) => u,
        _ => return Err(Error::not_found("user")),
    };
    check_grants(caller, &before.roles, &before.customer_ids)?;
    if id == caller.user_id {
        return Err(Error::conflict(
            "cannot_delete_self",
            "you cannot delete your own account",
        ));
    }
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    keep_stewards(&mut tx, &before).await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "user.deleted",
            target_type: "user",
            target_id: Some(id.to_string()),
            before: serde_json::to_value(&before).ok(),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates the first admin from configuration when no user exists yet.
/// Returns whether a user was created.
pub async fn bootstrap_admin(db: &PgPool, email: &str, pass: &str) -> Result<bool> {
    let email =
        Email::parse(email).map_err(|m| Error::field("/LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL", m))?;
    let pass = Password::parse(pass)
        .map_err(|m| Error::field("/LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD", m))?;
    let hash = password::hash(&pass).await?;
    let mut tx = db.begin().await?;
    // Serialise concurrent bootstraps (several API replicas starting at once).
    sqlx::query("SELECT pg_advisory_xact_lock(7270001)")
        .execute(&mut *tx)
        .await?;
    let any: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?;
    if any.is_some() {
        return Ok(false);
    }
    let id = UserId::new();
    sqlx::query("INSERT INTO users (id, email, name, password_hash, roles) VALUES ($1, $2, 'Administrator', $3, ARRAY['admin'])")
        .bind(id)
        .bind(email.as_str())
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            action: "user.bootstrapped",
            target_type: "user",
            target_id: Some(id.to_string()),
            after: Some(serde_json::json!({"email": email.as_str(), "roles": ["admin"]})),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
