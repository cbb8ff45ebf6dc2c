//! The metadata hierarchy of a customer's enablement content: terms in
//! groups (`product_suite` → `concept` → …), each with an optional parent,
//! a sort order and a colour. Terms tag content items and courses, and a
//! filter on a term matches everything tagged with it or any term below it.
//!
//! Contributors create and edit terms; deleting one (which untags what it
//! tagged) needs an approver (see [`super::access`]).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use super::access::{self, LmsRole};
use crate::{
    audit,
    error::{Error, Result, Validator},
    ids::{CustomerId, MetadataTermId},
    tenancy::Caller,
    values,
};

/// Most terms a customer may have (the list is returned whole).
pub const MAX_TERMS: i64 = 2_000;

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Term {
    pub id: MetadataTermId,
    pub customer_id: CustomerId,
    pub group_key: String,
    pub parent_id: Option<MetadataTermId>,
    pub name: String,
    pub sort_order: i32,
    pub color: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, customer_id, group_key, parent_id, name, sort_order, color, created_at, updated_at";

/// A group key: 1–50 characters of `a-z`, `0-9` and `_`, starting with a letter.
fn group_key(s: &str) -> Result<String, String> {
    let ok = (1..=50).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err("must be 1–50 characters of a-z, 0-9 and _, starting with a letter".into())
    }
}

/// A colour as `#rrggbb` (stored lower-case).
fn color(s: &str) -> Result<String, String> {
    let ok = s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit());
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("must be a colour as #rrggbb".into())
    }
}

fn term_name(s: &str) -> Result<String, String> {
    values::text(s, 100, false)
}

fn sort_order(n: i64) -> Result<i32, String> {
    if (-1_000_000..=1_000_000).contains(&n) {
        Ok(n as i32)
    } else {
        Err("must be between -1000000 and 1000000".into())
    }
}

/// What a new term is made from, as received.
#[derive(Debug, Default)]
pub struct TermInput {
    pub group_key: String,
    pub parent_id: Option<MetadataTermId>,
    pub name: String,
    pub sort_order: Option<i64>,
    pub color: Option<String>,
}

/// A validated new term.
#[derive(Debug)]
pub struct NewTerm {
    group_key: String,
    parent_id: Option<MetadataTermId>,
    name: String,
    sort_order: i32,
    color: Option<String>,
}

impl TermInput {
    pub fn parse(self) -> Result<NewTerm> {
        let mut v = Validator::new();
        let group_key = v.check("/group_key", group_key(&self.group_key));
        let name = v.check("/name", term_name(&self.name));
        let sort_order = self
            .sort_order
            .map_or(Some(0), |n| v.check("/sort_order", sort_order(n)));
        let color = self.color.and_then(|c| v.check("/color", color(&c)));
        v.finish()?;
        Ok(NewTerm {
            group_key: group_key.expect("checked"),
            parent_id: self.parent_id,
            name: name.expect("checked"),
            sort_order: sort_order.expect("checked"),
            color,
        })
    }
}

/// A change to a term, as received; absent fields stay. `parent_id:
/// Some(None)` moves the term to the top of its group.
#[derive(Debug, Default)]
pub struct TermPatchInput {
    pub name: Option<String>,
    pub sort_order: Option<i64>,
    pub color: Option<String>,
    pub parent_id: Option<Option<MetadataTermId>>,
}

/// A validated change to a term.
#[derive(Debug, Default)]
pub struct TermPatch {
    name: Option<String>,
    sort_order: Option<i32>,
    color: Option<String>,
    parent_id: Option<Option<MetadataTermId>>,
}

impl TermPatchInput {
    pub fn parse(self) -> Result<TermPatch> {
        let mut v = Validator::new();
        let name = self.name.and_then(|n| v.check("/name", term_name(&n)));
        let sort_order = self
            .sort_order
            .and_then(|n| v.check("/sort_order", sort_order(n)));
        let color = self.color.and_then(|c| v.check("/color", color(&c)));
        v.finish()?;
        Ok(TermPatch {
            name,
            sort_order,
            color,
            parent_id: self.parent_id,
        })
    }
}

fn name_taken(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("metadata_terms_name_idx") => {
            Error::field(
                "/name",
                "a term of this name already exists under the same parent in this group",
            )
        }
        _ => e.into(),
    }
}

/// The parent `id` for a term of `customer` in `group`: 400 at `/parent_id`
/// when it is missing or another customer's.
async fn check_parent(
    conn: &mut PgConnection,
    customer: CustomerId,
    id: MetadataTermId,
) -> Result<()> {
    let found: Option<CustomerId> =
        sqlx::query_scalar("SELECT customer_id FROM metadata_terms WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    if found != Some(customer) {
        return Err(Error::field("/parent_id", "no such term in this customer"));
    }
    Ok(())
}

/// Creates a term in `customer` (contributors and up).
pub async fn create(
    db: &PgPool,
    caller: &Caller,
    customer: CustomerId,
    t: NewTerm,
) -> Result<Term> {
    access::require(caller, customer, LmsRole::Contributor, "customer")?;
    let mut tx = db.begin().await?;
    // One writer at a time per customer: the cap below holds.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('metadata_terms:' || $1::text, 0))")
        .bind(customer)
        .execute(&mut *tx)
        .await?;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM metadata_terms WHERE customer_id = $1")
            .bind(customer)
            .fetch_one(&mut *tx)
            .await?;
    if count >= MAX_TERMS {
        return Err(Error::conflict(
            "too_many_terms",
            format!("a customer has at most {MAX_TERMS} metadata terms"),
        ));
    }
    if let Some(p) = t.parent_id {
        check_parent(&mut tx, customer, p).await?;
    }
    let term: Term = sqlx::query_as(sqlf!(
        "INSERT INTO metadata_terms (id, customer_id, group_key, parent_id, name, sort_order, color)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(MetadataTermId::new())
    .bind(customer)
    .bind(&t.group_key)
    .bind(t.parent_id)
    .bind(&t.name)
    .bind(t.sort_order)
    .bind(&t.color)
    .fetch_one(&mut *tx)
    .await
    .map_err(name_taken)?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            after: serde_json::to_value(&term).ok(),
            ..super::audit_entry(
                caller,
                "metadata_term.created",
                "metadata_term",
                term.id,
                customer,
            )
        },
    )
    .await?;
    tx.commit().await?;
    Ok(term)
}

/// Every term of `customer`, by group, parent order and name (viewers and up).
pub async fn list(db: &PgPool, caller: &Caller, customer: CustomerId) -> Result<Vec<Term>> {
    access::require(caller, customer, LmsRole::Viewer, "customer")?;
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM metadata_terms WHERE customer_id = $1
         ORDER BY group_key, sort_order, lower(name), id"
    ))
    .bind(customer)
    .fetch_all(db)
    .await?)
}

/// The term, locked, with the caller's role in its customer; 404 outside
/// the caller's customers.
async fn load(
    conn: &mut PgConnection,
    caller: &Caller,
    id: MetadataTermId,
) -> Result<(Term, LmsRole)> {
    let term: Option<Term> = sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM metadata_terms WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    term.and_then(|t| access::role_in(caller, t.customer_id).map(|r| (t, r)))
        .ok_or(Error::not_found("metadata_term"))
}

/// Changes a term (contributors and up). A new parent must be the same
/// customer's and not the term itself or a term below it.
pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: MetadataTermId,
    patch: TermPatch,
) -> Result<Term> {
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id).await?;
    access::ensure(role, LmsRole::Contributor)?;
    if let Some(Some(parent)) = patch.parent_id {
        check_parent(&mut tx, before.customer_id, parent).await?;
        let cycle: bool = sqlx::query_scalar(
            "WITH RECURSIVE below(id) AS (
                 SELECT $1::uuid
                 UNION SELECT t.id FROM metadata_terms t JOIN below b ON t.parent_id = b.id
             )
             SELECT EXISTS (SELECT 1 FROM below WHERE id = $2)",
        )
        .bind(id)
        .bind(parent)
        .fetch_one(&mut *tx)
        .await?;
        if cycle {
            return Err(Error::field(
                "/parent_id",
                "a term cannot move under itself or a term below it",
            ));
        }
    }
    let after: Term = sqlx::query_as(sqlf!(
        "UPDATE metadata_terms SET name = coalesce($2, name), sort_order = coalesce($3, sort_order),
             color = coalesce($4, color),
             parent_id = CASE WHEN $5 THEN $6 ELSE parent_id END,
             updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&patch.name)
    .bind(patch.sort_order)
    .bind(&patch.color)
    .bind(patch.parent_id.is_some())
    .bind(patch.parent_id.flatten())
    .fetch_one(&mut *tx)
    .await
    .map_err(name_taken)?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
            ..super::audit_entry(
                caller,
                "metadata_term.updated",
                "metadata_term",
                id,
                after.customer_id,
            )
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a term without children (approvers and up); the content items
/// and courses it tagged lose the tag.
pub async fn delete(db: &PgPool, caller: &Caller, id: MetadataTermId) -> Result<()> {
    let mut tx = db.begin().await?;
    let (before, role) = load(&mut tx, caller, id).await?;
    access::ensure(role, LmsRole::Approver)?;
    let children: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM metadata_terms WHERE parent_id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if children {
        return Err(Error::conflict(
            "term_has_children",
            "the term has terms below it; move or delete them first",
        ));
    }
    sqlx::query("DELETE FROM metadata_terms WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            before: serde_json::to_value(&before).ok(),
            ..super::audit_entry(
                caller,
                "metadata_term.deleted",
                "metadata_term",
                id,
                before.customer_id,
            )
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks that every term of `ids` (at `pointer/i`) is one of `customer`'s:
/// at most 50, duplicates dropped.
pub(crate) async fn check_terms(
    conn: &mut PgConnection,
    customer: CustomerId,
    ids: &[MetadataTermId],
    pointer: &str,
) -> Result<Vec<MetadataTermId>> {
    if ids.len() > 50 {
        return Err(Error::field(pointer, "must have at most 50 terms"));
    }
    let mut unique: Vec<MetadataTermId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(id) {
            unique.push(*id);
        }
    }
    let found: Vec<MetadataTermId> =
        sqlx::query_scalar("SELECT id FROM metadata_terms WHERE customer_id = $1 AND id = ANY($2)")
            .bind(customer)
            .bind(&unique)
            .fetch_all(&mut *conn)
            .await?;
    let mut v = Validator::new();
    for (i, id) in ids.iter().enumerate() {
        if !found.contains(id) {
            v.push(&format!("{pointer}/{i}"), "no such term in this customer");
        }
    }
    v.finish()?;
    Ok(unique)
}

/// SQL matching rows whose `column` (an item or course id) is tagged with
/// the term `$n` or any term below it.
pub(crate) fn tagged_with_sql(link_table: &str, link_column: &str, column: &str) -> String {
    format!(
        "{column} IN (SELECT l.{link_column} FROM {link_table} l WHERE l.term_id IN (
             WITH RECURSIVE below(id) AS (
                 SELECT $1::uuid
                 UNION SELECT t.id FROM metadata_terms t JOIN below b ON t.parent_id = b.id
             ) SELECT id FROM below))"
    )
}

/// Replaces the terms of a course (the course's edit rights).
pub async fn set_course_terms(
    db: &PgPool,
    caller: &Caller,
    course: crate::ids::CourseId,
    ids: &[MetadataTermId],
) -> Result<Vec<MetadataTermId>> {
    use super::courses::{self, Lock};
    let mut tx = db.begin().await?;
    let (c, role) = courses::load(&mut tx, caller, course, Lock::Update).await?;
    access::ensure(role, access::role_to_edit(c.status))?;
    let ids = check_terms(&mut tx, c.customer_id, ids, "/term_ids").await?;
    sqlx::query("DELETE FROM course_terms WHERE course_id = $1")
        .bind(course)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO course_terms (course_id, term_id) SELECT $1, unnest($2::uuid[])")
        .bind(course)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE courses SET updated_at = now() WHERE id = $1")
        .bind(course)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        audit::AuditEntry {
            after: Some(serde_json::json!({ "term_ids": ids })),
            ..super::audit_entry(caller, "course.terms_set", "course", course, c.customer_id)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked() {
        assert!(group_key("product_suite").is_ok());
        for bad in ["", "Product", "1x", "a-b", &"a".repeat(51)] {
            assert!(group_key(bad).is_err(), "{bad:?}");
        }
        assert_eq!(color("#A1B2C3").unwrap(), "#a1b2c3");
        for bad in ["a1b2c3", "#a1b2c", "#a1b2cg", "#a1b2c3d"] {
            assert!(color(bad).is_err(), "{bad:?}");
        }
        let e = TermInput {
            group_key: "Bad Key".into(),
            name: " ".into(),
            sort_order: Some(2_000_000),
            color: Some("red".into()),
            ..Default::default()
        }
        .parse()
        .unwrap_err();
        let Error::Validation(errors) = e else {
            panic!("{e:?}")
        };
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/group_key", "/name", "/sort_order", "/color"]);
    }
}
