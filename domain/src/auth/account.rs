//! The account e-mails: invitations, password resets and address
//! verification. Each writes its single-use token ([`account_tokens`]) and
//! its e-mail (the outbox and an `email_send` job) in the transaction of
//! the change. They are the platform's own mail (no tenant: staff belong to
//! none) and cannot be turned off; the suppression lists still apply.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    account_tokens::{self, Issued, TokenInput, TokenPurpose},
    password, revoke_refresh_tokens,
};
use crate::{
    audit::{self, AuditEntry},
    email::{
        self, Sender,
        outbox::{self, NewContent, NewEmail, Person},
        template::Vars,
        templates::{self, EmailTemplate},
    },
    error::{Error, Result},
    ids::UserId,
    jobs::EnqueueCtx,
    values::{Email, Password},
};

/// Who sends the account e-mails and where their links point.
#[derive(Debug, Clone)]
pub struct AccountMail {
    pub sender: Sender,
    links: Links,
}

#[derive(Debug, Clone)]
enum Links {
    /// The portal's pages (`LAUNCHPAD_PORTAL_URL`).
    Portal(String),
    /// The API's operations (`LAUNCHPAD_PUBLIC_URL`): no portal is configured.
    Api(String),
}

impl AccountMail {
    /// Links to the portal's pages at `portal_url` when set (which read the
    /// `token` parameter and call the API), else to the API's operations
    /// at `public_url`. Both are [`crate::config::base_url`]s.
    pub fn new(sender: Sender, public_url: &str, portal_url: Option<&str>) -> Self {
        let links = match portal_url {
            Some(p) => Links::Portal(p.trim_end_matches('/').to_string()),
            None => Links::Api(public_url.trim_end_matches('/').to_string()),
        };
        Self { sender, links }
    }

    /// The link of an e-mail of `purpose` carrying `token`.
    pub fn link(&self, purpose: TokenPurpose, token: &str) -> String {
        match &self.links {
            Links::Portal(base) => format!("{base}{}?token={token}", portal_page(purpose)),
            Links::Api(base) => format!("{base}{}?token={token}", api_path(purpose)),
        }
    }
}

/// The portal's page for a link of `purpose`.
pub fn portal_page(purpose: TokenPurpose) -> &'static str {
    match purpose {
        TokenPurpose::Invitation => "/accept-invitation",
        TokenPurpose::PasswordReset => "/reset-password",
        TokenPurpose::EmailVerification => "/verify-email",
    }
}

/// The operation that takes a token of `purpose`.
pub fn api_path(purpose: TokenPurpose) -> &'static str {
    match purpose {
        TokenPurpose::Invitation => "/api/v1/auth/accept-invitation",
        TokenPurpose::PasswordReset => "/api/v1/auth/password-reset/confirm",
        TokenPurpose::EmailVerification => "/api/v1/auth/verify-email",
    }
}

fn template(purpose: TokenPurpose) -> EmailTemplate {
    match purpose {
        TokenPurpose::Invitation => templates::ACCOUNT_INVITATION,
        TokenPurpose::PasswordReset => templates::ACCOUNT_PASSWORD_RESET,
        TokenPurpose::EmailVerification => templates::ACCOUNT_EMAIL_VERIFICATION,
    }
}

/// A user an account e-mail is about.
#[derive(Debug, Clone, FromRow)]
pub struct Account {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub disabled: bool,
}

/// The account `id`, locked for the rest of the transaction.
async fn lock_account(conn: &mut PgConnection, id: UserId) -> Result<Option<Account>> {
    Ok(
        sqlx::query_as("SELECT id, email, name, disabled FROM users WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// One account e-mail to write.
struct Message<'a> {
    purpose: TokenPurpose,
    account: &'a Account,
    /// The account's address, or the new one a verification confirms.
    to: &'a str,
    issued: &'a Issued,
    /// Variables of this purpose (`inviter_name`, `new_email`).
    extra: &'a [(&'static str, &'a str)],
    requested_by: Option<UserId>,
}

/// Renders `m`'s e-mail with its token and writes it to the outbox (with
/// its `email_send` job).
async fn send(conn: &mut PgConnection, mail: &AccountMail, m: Message<'_>) -> Result<()> {
    let Message {
        purpose,
        account,
        to,
        issued,
        extra,
        requested_by,
    } = m;
    let template = template(purpose);
    let name = email::header_text(&account.name, 200);
    let mut vars = Vars::new();
    vars.set("recipient_name", name.clone())
        .set("email", account.email.as_str())
        .set("new_email", "")
        .set("inviter_name", "")
        .set("link", mail.link(purpose, &issued.token))
        .set("token", issued.token.as_str())
        .set(
            "expires_at",
            issued.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
        .set("api_path", api_path(purpose))
        .set("organizer_name", mail.sender.display_name());
    for (k, v) in extra {
        vars.set(k, *v);
    }
    let rendered = template
        .render(&vars)
        .map_err(|e| Error::Internal(anyhow::anyhow!("{}: {e}", template.name)))?;
    let content = NewContent {
        customer_id: None,
        template: template.name,
        rendered,
        ics: None,
        list_id: None,
        attachment: None,
    };
    let mut message = NewEmail::to_person(Person {
        user_id: account.id,
        address: to,
        name: &account.name,
        // One message per token, whatever retries happen.
        dedupe_key: format!("account-token:{}", issued.id),
        sender: &mail.sender,
    });
    // A newer link of the same purpose supersedes an unsent older one
    // (which is revoked anyway).
    message.thread_key = Some(format!("account:{}", purpose.as_str()));
    let ctx = EnqueueCtx {
        customer_id: None,
        requested_by,
        callback_url: None,
    };
    outbox::queue(conn, &content, vec![message], &ctx).await?;
    Ok(())
}

/// Issues an invitation for `account` (revoking earlier ones) and writes
/// its e-mail, in the caller's transaction. `by` is who invites.
pub async fn invite(
    conn: &mut PgConnection,
    mail: &AccountMail,
    account: &Account,
    by: (UserId, &str),
) -> Result<Issued> {
    let issued =
        account_tokens::issue(conn, TokenPurpose::Invitation, account.id, None, Some(by.0)).await?;
    let inviter = email::header_text(by.1, 200);
    let m = Message {
        purpose: TokenPurpose::Invitation,
        account,
        to: &account.email,
        issued: &issued,
        extra: &[("inviter_name", inviter.as_str())],
        requested_by: Some(by.0),
    };
    send(conn, mail, m).await?;
    Ok(issued)
}

/// Starts changing `account`'s address to `new_email`: issues a
/// verification token (revoking an earlier pending change) and mails its
/// link to the new address, in the caller's transaction. The address is
/// unchanged until the link is used ([`verify_email`]). 409 `email_taken`
/// when another user has the new address.
pub async fn request_email_change(
    conn: &mut PgConnection,
    mail: &AccountMail,
    account: &Account,
    new_email: &Email,
    by: Option<UserId>,
) -> Result<Issued> {
    ensure_free(conn, account.id, new_email.as_str()).await?;
    let issued = account_tokens::issue(
        conn,
        TokenPurpose::EmailVerification,
        account.id,
        Some(new_email.as_str()),
        by,
    )
    .await?;
    let m = Message {
        purpose: TokenPurpose::EmailVerification,
        account,
        to: new_email.as_str(),
        issued: &issued,
        extra: &[("new_email", new_email.as_str())],
        requested_by: by,
    };
    send(conn, mail, m).await?;
    Ok(issued)
}

async fn ensure_free(conn: &mut PgConnection, user: UserId, address: &str) -> Result<()> {
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1) AND id <> $2)",
    )
    .bind(address)
    .bind(user)
    .fetch_one(conn)
    .await?;
    if taken {
        return Err(email_taken());
    }
    Ok(())
}

fn email_taken() -> Error {
    Error::conflict("email_taken", "a user with this email already exists")
}

/// A password reset for whoever has `address`: when an enabled user has it,
/// a 1-hour link (revoking earlier ones) mailed to them; otherwise nothing
/// but the audit row. Callers answer the same whatever happened here (see
/// the API), so the outcome is only in the audit log.
pub async fn request_password_reset(
    db: &PgPool,
    mail: &AccountMail,
    address: &Email,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let account: Option<Account> = sqlx::query_as(
        "SELECT id, email, name, disabled FROM users WHERE lower(email) = lower($1) FOR UPDATE",
    )
    .bind(address.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let (reason, target) = match &account {
        Some(a) if !a.disabled => {
            let issued =
                account_tokens::issue(&mut tx, TokenPurpose::PasswordReset, a.id, None, None)
                    .await?;
            let m = Message {
                purpose: TokenPurpose::PasswordReset,
                account: a,
                to: &a.email,
                issued: &issued,
                extra: &[],
                requested_by: None,
            };
            send(&mut tx, mail, m).await?;
            ("sent", Some(a.id))
        }
        Some(a) => ("disabled", Some(a.id)),
        None => ("unknown_email", None),
    };
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: target,
            actor_email: Some(address.as_str()),
            action: "auth.password_reset_requested",
            target_type: "user",
            target_id: target.map(|t| t.to_string()),
            after: Some(serde_json::json!({ "outcome": reason })),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Uses a token of `purpose` and locks its (enabled) account: a disabled
/// or deleted account's token is a 400 `token_invalid` like an unknown one.
async fn take(
    conn: &mut PgConnection,
    purpose: TokenPurpose,
    token: &TokenInput,
) -> Result<(account_tokens::Consumed, Account)> {
    let used = account_tokens::consume(conn, purpose, "/token", token).await?;
    match lock_account(conn, used.user_id).await? {
        Some(a) if !a.disabled => Ok((used, a)),
        _ => Err(Error::rejected(
            "token_invalid",
            "/token",
            "belongs to an account that is disabled",
        )),
    }
}

/// Sets the password of the token's account; the tokens that could set
/// it again (resets, invitations) are revoked, and so is every refresh
/// token. Returns how many refresh tokens were revoked.
async fn set_password(conn: &mut PgConnection, account: &Account, new: &Password) -> Result<u64> {
    let hash = password::hash(new).await?;
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(account.id)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    account_tokens::revoke(
        conn,
        account.id,
        &[TokenPurpose::PasswordReset, TokenPurpose::Invitation],
    )
    .await?;
    revoke_refresh_tokens(conn, account.id).await
}

/// `POST /auth/password-reset/confirm`: the reset link's token and a new
/// password. Every refresh token of the user is revoked; audited.
pub async fn confirm_password_reset(db: &PgPool, token: &TokenInput, new: &Password) -> Result<()> {
    let mut tx = db.begin().await?;
    let (used, account) = take(&mut tx, TokenPurpose::PasswordReset, token).await?;
    let revoked = set_password(&mut tx, &account, new).await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(account.id),
            actor_email: Some(&account.email),
            action: "user.password_reset",
            target_type: "user",
            target_id: Some(account.id.to_string()),
            after: Some(serde_json::json!({
                "token_id": used.id, "refresh_tokens_revoked": revoked
            })),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `POST /auth/accept-invitation`: the invitation's token and the user's
/// first password; they can sign in afterwards.
pub async fn accept_invitation(db: &PgPool, token: &TokenInput, new: &Password) -> Result<()> {
    let mut tx = db.begin().await?;
    let (used, account) = take(&mut tx, TokenPurpose::Invitation, token).await?;
    set_password(&mut tx, &account, new).await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(account.id),
            actor_email: Some(&account.email),
            action: "user.invitation_accepted",
            target_type: "user",
            target_id: Some(account.id.to_string()),
            after: Some(serde_json::json!({ "token_id": used.id })),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `POST /auth/verify-email`: the link mailed to a new address; the
/// account's address becomes it. Password-reset links mailed to the old
/// address are revoked. 409 `email_taken` (nothing changed, the link still
/// works) when another user took the address meanwhile.
pub async fn verify_email(db: &PgPool, token: &TokenInput) -> Result<(UserId, String)> {
    let mut tx = db.begin().await?;
    let (used, account) = take(&mut tx, TokenPurpose::EmailVerification, token).await?;
    let new_email = used.new_email.ok_or_else(|| {
        Error::Internal(anyhow::anyhow!("a verification token without an address"))
    })?;
    ensure_free(&mut tx, account.id, &new_email).await?;
    sqlx::query("UPDATE users SET email = $2, updated_at = now() WHERE id = $1")
        .bind(account.id)
        .bind(&new_email)
        .execute(&mut *tx)
        .await
        .map_err(|e| match Error::from(e) {
            Error::Conflict { .. } => email_taken(),
            e => e,
        })?;
    account_tokens::revoke(&mut tx, account.id, &[TokenPurpose::PasswordReset]).await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(account.id),
            actor_email: Some(&account.email),
            action: "user.email_changed",
            target_type: "user",
            target_id: Some(account.id.to_string()),
            before: Some(serde_json::json!({ "email": account.email })),
            after: Some(serde_json::json!({ "email": new_email, "token_id": used.id })),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok((account.id, new_email))
}

/// An invitation as its sender sees it.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
}
