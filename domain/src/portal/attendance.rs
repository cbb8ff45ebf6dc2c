//! Attendance: bulk import of who joined an event (e.g. a meeting tool's
//! export), at most [`MAX_ROWS`] rows per call, in one set-based statement.
//!
//! `event_attendance (event_id, user_id, joined_at, left_at)` holds one row
//! per attendee; importing the same file again overwrites the same rows, so
//! re-imports are idempotent. Several rows of one person in one import (left
//! and re-joined) merge into the earliest join and the latest leave.

use chrono::{DateTime, Utc};
use sea_query::{Expr, JoinType, Query};
use sqlx::{FromRow, PgPool};

use super::{access::Action, audit, events};
use crate::{
    error::{Error, Result, Validator},
    ids::{EventId, UserId},
    pagination::{Keyset, Page, PageRequest},
    tenancy::Caller,
    values::Email,
};

/// The most rows one import may carry.
pub const MAX_ROWS: usize = 5000;
/// Validation stops reporting after this many invalid fields.
const MAX_REPORTED_ERRORS: usize = 100;

/// One row as received: a user by id or by e-mail, and the times.
#[derive(Debug, Clone)]
pub struct RowInput {
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
enum Who {
    Id(UserId),
    Email(Email),
}

/// A validated import.
#[derive(Debug)]
pub struct AttendanceImport {
    rows: Vec<(Who, DateTime<Utc>, Option<DateTime<Utc>>)>,
}

impl AttendanceImport {
    pub fn parse(rows: Vec<RowInput>) -> Result<Self> {
        if rows.is_empty() {
            return Err(Error::field("/rows", "must contain at least one row"));
        }
        if rows.len() > MAX_ROWS {
            return Err(Error::field(
                "/rows",
                format!(
                    "must contain at most {MAX_ROWS} rows per call (got {}); split the import",
                    rows.len()
                ),
            ));
        }
        let mut v = Validator::new();
        let mut errors = 0;
        let mut out = Vec::with_capacity(rows.len());
        for (i, r) in rows.into_iter().enumerate() {
            if errors >= MAX_REPORTED_ERRORS {
                break;
            }
            let who = match (r.user_id, r.email.as_deref()) {
                (Some(id), None) => Some(Who::Id(id)),
                (None, Some(e)) => v
                    .check(&format!("/rows/{i}/email"), Email::parse(e))
                    .map(Who::Email),
                (Some(_), Some(_)) => {
                    v.push(
                        &format!("/rows/{i}/email"),
                        "give user_id or email, not both",
                    );
                    None
                }
                (None, None) => {
                    v.push(&format!("/rows/{i}/user_id"), "give user_id or email");
                    None
                }
            };
            if let Some(left) = r.left_at
                && left < r.joined_at
            {
                v.push(
                    &format!("/rows/{i}/left_at"),
                    "must not be before joined_at",
                );
                errors += 1;
            }
            match who {
                Some(w) => out.push((w, r.joined_at, r.left_at)),
                None => errors += 1,
            }
        }
        v.finish()?;
        Ok(Self { rows: out })
    }
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SkippedRow {
    /// Index of the row in the request.
    pub row: usize,
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    pub rows: usize,
    /// Attendees written (inserted or updated): distinct people.
    pub imported: i64,
    pub skipped: Vec<SkippedRow>,
}

/// Imports attendance for an event (managers only; not for cancelled events).
pub async fn import(
    db: &PgPool,
    caller: &Caller,
    event: EventId,
    input: AttendanceImport,
) -> Result<ImportReport> {
    let mut tx = db.begin().await?;
    let (e, a) = events::load(&mut tx, caller, event, false).await?;
    a.require(Action::Manage)?;
    if e.status == events::EventStatus::Cancelled {
        return Err(Error::conflict(
            "event_cancelled",
            "the event is cancelled; it has no attendance",
        ));
    }
    let n = input.rows.len();
    let mut ords = Vec::with_capacity(n);
    let mut ids: Vec<Option<uuid::Uuid>> = Vec::with_capacity(n);
    let mut emails: Vec<Option<String>> = Vec::with_capacity(n);
    let mut joined = Vec::with_capacity(n);
    let mut left = Vec::with_capacity(n);
    for (i, (who, j, l)) in input.rows.iter().enumerate() {
        ords.push(i as i32);
        match who {
            Who::Id(id) => {
                ids.push(Some(id.0));
                emails.push(None);
            }
            Who::Email(e) => {
                ids.push(None);
                emails.push(Some(e.as_str().to_string()));
            }
        }
        joined.push(*j);
        left.push(*l);
    }
    // Resolve people (by id, or by e-mail among the customer's users) and
    // upsert the attendees in one statement; report rows that matched nobody.
    let (imported, skipped): (i64, Vec<i32>) = sqlx::query_as(
        "WITH input AS (
             SELECT * FROM unnest($2::int4[], $3::uuid[], $4::text[], $5::timestamptz[], $6::timestamptz[])
                 AS t(ord, user_id, email, joined_at, left_at)
         ), resolved AS (
             SELECT i.ord, uc.user_id, i.joined_at, i.left_at
             FROM input i
             LEFT JOIN users ue ON i.user_id IS NULL AND lower(ue.email) = lower(i.email)
             LEFT JOIN user_customers uc ON uc.customer_id = $7 AND uc.user_id = coalesce(i.user_id, ue.id)
         ), upserted AS (
             INSERT INTO event_attendance (event_id, user_id, joined_at, left_at, imported_by)
             SELECT $1, user_id, min(joined_at), max(left_at), $8
             FROM resolved WHERE user_id IS NOT NULL GROUP BY user_id
             ON CONFLICT (event_id, user_id) DO UPDATE
                 SET joined_at = EXCLUDED.joined_at, left_at = EXCLUDED.left_at,
                     imported_by = EXCLUDED.imported_by, imported_at = now()
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM upserted),
                coalesce((SELECT array_agg(ord ORDER BY ord) FROM resolved WHERE user_id IS NULL), '{}')",
    )
    .bind(event)
    .bind(&ords)
    .bind(&ids)
    .bind(&emails)
    .bind(&joined)
    .bind(&left)
    .bind(a.customer_id)
    .bind(caller.user_id)
    .fetch_one(&mut *tx)
    .await?;
    let skipped: Vec<SkippedRow> = skipped
        .into_iter()
        .map(|i| {
            let i = i as usize;
            let (user_id, email, reason) = match &input.rows[i].0 {
                Who::Id(id) => (Some(*id), None, "no user of this customer has this id"),
                Who::Email(e) => (
                    None,
                    Some(e.as_str().to_string()),
                    "no user of this customer has this email",
                ),
            };
            SkippedRow {
                row: i,
                user_id,
                email,
                reason: reason.into(),
            }
        })
        .collect();
    if imported > 0 {
        crate::kpi::rollup::after_attendance_import(
            &mut tx,
            caller,
            e.cop_id,
            a.customer_id,
            e.starts_at,
        )
        .await?;
    }
    let report = ImportReport {
        rows: n,
        imported,
        skipped,
    };
    audit(
        &mut tx,
        caller,
        "event.attendance_imported",
        "event",
        event.to_string(),
        a.customer_id,
        Some(
            serde_json::json!({ "rows": n, "imported": imported, "skipped": report.skipped.len() }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Attendance {
    pub event_id: EventId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    pub imported_at: DateTime<Utc>,
}

/// In joining order.
const BY_JOINING: Keyset<(DateTime<Utc>, UserId)> =
    Keyset::ascending(&["t.joined_at", "t.user_id"]);

/// Attendees of an event in joining order.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    event: EventId,
    page: &PageRequest,
) -> Result<Page<Attendance>> {
    let mut conn = db.acquire().await?;
    let (_, a) = events::load(&mut conn, caller, event, false).await?;
    a.require(Action::Read)?;
    let mut q = Query::select();
    q.expr(Expr::cust(
        "t.event_id, t.user_id, u.email, u.name, t.joined_at, t.left_at, t.imported_at",
    ))
    .from_as("event_attendance", "t")
    .join_as(
        JoinType::InnerJoin,
        "users",
        "u",
        Expr::cust("u.id = t.user_id"),
    )
    .and_where(Expr::cust_with_values("t.event_id = $1", [event.0]));
    BY_JOINING
        .fetch(&mut *conn, q, page, |t: &Attendance| {
            (t.joined_at, t.user_id)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user: Option<UserId>, email: Option<&str>) -> RowInput {
        RowInput {
            user_id: user,
            email: email.map(String::from),
            joined_at: Utc::now(),
            left_at: None,
        }
    }

    #[test]
    fn validates_rows() {
        assert!(AttendanceImport::parse(vec![row(None, Some("a@b.example"))]).is_ok());
        let too_many: Vec<_> = (0..=MAX_ROWS)
            .map(|_| row(None, Some("a@b.example")))
            .collect();
        match AttendanceImport::parse(too_many).unwrap_err() {
            Error::Validation(e) => assert_eq!(e[0].pointer, "/rows"),
            e => panic!("{e:?}"),
        }
        let mut backwards = row(Some(UserId::new()), None);
        backwards.left_at = Some(backwards.joined_at - chrono::Duration::minutes(1));
        let bad = vec![
            row(None, None),
            row(Some(UserId::new()), Some("a@b.example")),
            row(None, Some("nope")),
            backwards,
        ];
        match AttendanceImport::parse(bad).unwrap_err() {
            Error::Validation(e) => {
                let p: Vec<_> = e.iter().map(|e| e.pointer.as_str()).collect();
                assert_eq!(
                    p,
                    [
                        "/rows/0/user_id",
                        "/rows/1/email",
                        "/rows/2/email",
                        "/rows/3/left_at"
                    ]
                );
            }
            e => panic!("{e:?}"),
        }
    }
}
