//! Reading certificates, and issuing or revoking them on request.
//!
//! Who sees a certificate: its learner, and those who read a customer's
//! learning records (portal role contributor and up: admins, internal
//! staff, the customer's approvers). Issuing and revoking by hand takes an
//! approver. Outside the caller's tenants every certificate is a 404.

use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{PgConnection, PgPool};

use super::{COLUMNS, Certificate, RevocationReason, Subject, issue::revoke_row, issue_job};
use crate::{
    audit::{self, AuditEntry},
    error::{Error, Result},
    files::{FileRecord, repo as files_repo},
    ids::{CertificateId, CourseId, UserId},
    jobs::{JobRecord, enqueue_one},
    lms::{
        access::{LmsRole, role_in},
        courses::{self, Lock},
    },
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
};

const NEWEST: Keyset<(DateTime<Utc>, uuid::Uuid)> = Keyset::descending(&["issued_at", "id"]);

/// Whether the caller reads the learning records of the certificate's customer.
fn manages(caller: &Caller, c: &Certificate) -> bool {
    role_in(caller, c.customer_id).is_some_and(|r| r >= LmsRole::Contributor)
}

async fn fetch(
    conn: &mut PgConnection,
    id: CertificateId,
    lock: bool,
) -> Result<Option<Certificate>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM certificates WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// A certificate the caller may see (404 otherwise, also for other tenants).
pub async fn get(db: &PgPool, caller: &Caller, id: CertificateId) -> Result<Certificate> {
    let mut conn = db.acquire().await?;
    let c = fetch(&mut conn, id, false)
        .await?
        .ok_or(Error::not_found("certificate"))?;
    caller.scope().ensure(c.customer_id, "certificate")?;
    if c.user_id != Some(caller.user_id) && !manages(caller, &c) {
        return Err(Error::not_found("certificate"));
    }
    Ok(c)
}

/// The certificate and its PDF's file record (409 while not rendered).
pub async fn pdf(
    db: &PgPool,
    caller: &Caller,
    id: CertificateId,
) -> Result<(Certificate, FileRecord)> {
    let c = get(db, caller, id).await?;
    let file = match c.file_id {
        Some(f) => files_repo::fetch_any(db, f).await?,
        None => None,
    };
    match file {
        Some(f) if f.deleted_at.is_none() => Ok((c, f)),
        _ => Err(Error::conflict(
            "certificate_not_rendered",
            "the certificate's PDF is not rendered yet; try again shortly",
        )),
    }
}

/// The caller's own certificates, newest first.
pub async fn list_mine(
    db: &PgPool,
    caller: &Caller,
    page: &PageRequest,
) -> Result<Page<Certificate>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("certificates")
        .and_where(Expr::col("user_id").eq(caller.user_id.0))
        .cond_where(caller.scope().sql_filter("customer_id"));
    NEWEST
        .fetch(db, q, page, |c: &Certificate| (c.issued_at, c.id.0))
        .await
}

/// A course's certificates (revoked ones too), newest first: for those who
/// read the customer's learning records.
pub async fn list_for_course(
    db: &PgPool,
    caller: &Caller,
    course: CourseId,
    page: &PageRequest,
) -> Result<Page<Certificate>> {
    let mut conn = db.acquire().await?;
    let (_, role) = courses::load(&mut conn, caller, course, Lock::None).await?;
    if role < LmsRole::Contributor {
        return Err(Error::forbidden(
            "a course's certificates are for admins, internal staff and the customer's approvers",
        ));
    }
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("certificates")
        .and_where(Expr::col("course_id").eq(course.0));
    NEWEST
        .fetch(&mut *conn, q, page, |c: &Certificate| (c.issued_at, c.id.0))
        .await
}

/// Enqueues the certificate of `user` for `course` by hand (approvers):
/// issues one when none stands; with `reissue`, a standing one is revoked
/// as `superseded` and replaced. The user must belong to the course's
/// customer.
pub async fn request_issue(
    conn: &mut PgConnection,
    caller: &Caller,
    course: CourseId,
    user: UserId,
    reissue: bool,
) -> Result<JobRecord> {
    let (c, role) = courses::load(conn, caller, course, Lock::None).await?;
    if role < LmsRole::Approver {
        return Err(Error::forbidden(
            "issuing certificates takes an admin or the customer's approver",
        ));
    }
    let member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_customers WHERE user_id = $1 AND customer_id = $2)",
    )
    .bind(user)
    .bind(c.customer_id)
    .fetch_one(&mut *conn)
    .await?;
    if !member {
        return Err(Error::field(
            "/user_id",
            "no such user in the course's customer",
        ));
    }
    audit::record(
        &mut *conn,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: if reissue {
                "certificate.reissue_requested"
            } else {
                "certificate.issue_requested"
            },
            target_type: "course",
            target_id: Some(course.to_string()),
            customer_id: Some(c.customer_id),
            before: None,
            after: Some(serde_json::json!({"user_id": user, "reissue": reissue})),
        },
    )
    .await?;
    enqueue_one(
        conn,
        issue_job(
            user,
            c.customer_id,
            Subject::Course(course),
            reissue,
            Some(caller.user_id),
        ),
    )
    .await
}

/// Revokes a certificate (admins and the customer's approvers), audited;
/// records `certificate.revoked`. 409 when it is already revoked.
pub async fn revoke(
    db: &PgPool,
    caller: &Caller,
    id: CertificateId,
    reason: RevocationReason,
    note: Option<&str>,
) -> Result<Certificate> {
    let mut tx = db.begin().await?;
    let c = fetch(&mut tx, id, true)
        .await?
        .ok_or(Error::not_found("certificate"))?;
    caller.scope().ensure(c.customer_id, "certificate")?;
    let role = role_in(caller, c.customer_id);
    let (reads, approves) = (
        role.is_some_and(|r| r >= LmsRole::Contributor),
        role.is_some_and(|r| r >= LmsRole::Approver),
    );
    if c.user_id != Some(caller.user_id) && !reads {
        return Err(Error::not_found("certificate"));
    }
    if !approves {
        return Err(Error::forbidden(
            "revoking certificates takes an admin or the customer's approver",
        ));
    }
    let Some(revoked) = revoke_row(&mut tx, id, reason, note, Some(caller.user_id)).await? else {
        return Err(Error::conflict(
            "certificate_revoked",
            "the certificate is already revoked",
        ));
    };
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "certificate.revoke",
            target_type: "certificate",
            target_id: Some(id.to_string()),
            customer_id: Some(c.customer_id),
            before: Some(serde_json::json!({"status": "valid"})),
            after: Some(serde_json::json!({
                "status": "revoked",
                "reason": reason.as_str(),
                "note": note,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(revoked)
}
