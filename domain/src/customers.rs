//! Customers: the tenants.

use chrono::{DateTime, Utc};
use sea_query::{Expr, Query};
use sqlx::{FromRow, PgPool};

use crate::{
    audit::{self, AuditEntry},
    error::{Error, Result, Validator},
    ids::CustomerId,
    pagination::{Keyset, Page, PageRequest},
    tenancy::{Caller, Scope},
    values,
};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Customer {
    pub id: CustomerId,
    pub name: String,
    pub slug: String,
    pub time_zone: String,
    /// The tenant's portal: notifications link to `<portal_base_url><API path>`.
    pub portal_base_url: Option<String>,
    /// Whether the last editor of a newsletter may approve it.
    pub newsletter_self_approval: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated new customer.
#[derive(Debug)]
pub struct NewCustomer {
    pub name: String,
    pub slug: String,
    pub time_zone: chrono_tz::Tz,
}

impl NewCustomer {
    pub fn parse(name: &str, slug: &str, time_zone: Option<&str>) -> Result<Self> {
        let mut v = Validator::new();
        let name = v.check("/name", values::name(name));
        let slug = v.check("/slug", values::slug(slug));
        let tz = v.check("/time_zone", values::time_zone(time_zone.unwrap_or("UTC")));
        v.finish()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            slug: slug.unwrap_or_default(),
            time_zone: tz.unwrap_or(chrono_tz::UTC),
        })
    }
}

#[derive(Debug, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub time_zone: Option<chrono_tz::Tz>,
    /// `Some("")` removes it.
    pub portal_base_url: Option<String>,
    pub newsletter_self_approval: Option<bool>,
}

impl CustomerPatch {
    pub fn parse(
        name: Option<&str>,
        time_zone: Option<&str>,
        portal_base_url: Option<&str>,
    ) -> Result<Self> {
        let mut v = Validator::new();
        let name = name.and_then(|n| v.check("/name", values::name(n)));
        let time_zone = time_zone.and_then(|t| v.check("/time_zone", values::time_zone(t)));
        let portal_base_url = portal_base_url.and_then(|u| {
            if u.trim().is_empty() {
                return Some(String::new());
            }
            v.check("/portal_base_url", portal_base(u))
        });
        v.finish()?;
        Ok(Self {
            name,
            time_zone,
            portal_base_url,
            newsletter_self_approval: None,
        })
    }
}

/// A portal base URL: http(s), at most 500 characters, no query or
/// fragment; kept without a trailing slash.
fn portal_base(u: &str) -> std::result::Result<String, String> {
    let u = values::http_url(u)?;
    if u.len() > 500 || u.contains(['?', '#']) {
        return Err("must be an http or https URL of at most 500 characters, without query".into());
    }
    Ok(u.trim_end_matches('/').to_string())
}

const COLUMNS: &str =
    "id, name, slug, time_zone, portal_base_url, newsletter_self_approval, created_at, updated_at";

pub async fn create(db: &PgPool, caller: &Caller, input: NewCustomer) -> Result<Customer> {
    caller.require_admin()?;
    let mut tx = db.begin().await?;
    let c: Customer = sqlx::query_as(sqlf!(
        "INSERT INTO customers (id, name, slug, time_zone) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(CustomerId::new())
    .bind(&input.name)
    .bind(&input.slug)
    .bind(input.time_zone.name())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Conflict { .. } => Error::conflict("slug_taken", "a customer with this slug already exists"),
        e => e,
    })?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "customer.created",
            target_type: "customer",
            target_id: Some(c.id.to_string()),
            customer_id: Some(c.id),
            after: Some(serde_json::to_value(&c).unwrap_or_default()),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

pub async fn get(db: &PgPool, scope: &Scope, id: CustomerId) -> Result<Customer> {
    scope.ensure(id, "customer")?;
    sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM customers WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(Error::not_found("customer"))
}

/// By slug.
const BY_SLUG: Keyset<String> = Keyset::ascending(&["slug"]);

pub async fn list(db: &PgPool, scope: &Scope, page: &PageRequest) -> Result<Page<Customer>> {
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("customers")
        .cond_where(scope.sql_filter("id"));
    BY_SLUG
        .fetch(db, q, page, |c: &Customer| c.slug.clone())
        .await
}

pub async fn update(
    db: &PgPool,
    caller: &Caller,
    id: CustomerId,
    patch: CustomerPatch,
) -> Result<Customer> {
    caller.scope().ensure(id, "customer")?;
    if !caller.can_manage_customer(id) {
        return Err(Error::forbidden(
            "requires the admin role or customer_exec of this customer",
        ));
    }
    let mut tx = db.begin().await?;
    let before: Customer = sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM customers WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::not_found("customer"))?;
    let after: Customer = sqlx::query_as(sqlf!(
        "UPDATE customers SET name = coalesce($2, name), time_zone = coalesce($3, time_zone),
             portal_base_url = CASE WHEN $4::text IS NULL THEN portal_base_url ELSE nullif($4, '') END,
             newsletter_self_approval = coalesce($5, newsletter_self_approval), updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(patch.name)
    .bind(patch.time_zone.map(|t| t.name().to_string()))
    .bind(patch.portal_base_url)
    .bind(patch.newsletter_self_approval)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "customer.updated",
            target_type: "customer",
            target_id: Some(id.to_string()),
            customer_id: Some(id),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn delete(db: &PgPool, caller: &Caller, id: CustomerId) -> Result<()> {
    // Another tenant's customer is "not found", as for reads and updates.
    caller.scope().ensure(id, "customer")?;
    caller.require_admin()?;
    let mut tx = db.begin().await?;
    let before: Customer = sqlx::query_as(sqlf!(
        "DELETE FROM customers WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::not_found("customer"))?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "customer.deleted",
            target_type: "customer",
            target_id: Some(id.to_string()),
            before: serde_json::to_value(&before).ok(),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
