//! People in coaching: a user's coaching role in a customer and their
//! reporting lines (`team_leader_id`, `managed_by`), `employee_id` and
//! `department`. Granted by coaching admins; listed within the caller's reach.

use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::access::{self, CoachingRole, Reach};
use crate::{
    error::{Error, Result, Validator},
    ids::{CustomerId, UserId},
    pagination::{Keyset, Page, PageRequest},
    portal::opt_text,
    tenancy::Caller,
};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Person {
    pub customer_id: CustomerId,
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub role: CoachingRole,
    pub managed_by: Option<UserId>,
    pub team_leader_id: Option<UserId>,
    pub employee_id: Option<String>,
    pub department: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A person's coaching role in a customer and their reporting lines.
#[derive(poem_openapi::Object)]
pub struct CoachingPersonView {
    pub customer_id: CustomerId,
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub role: CoachingRole,
    /// Their manager.
    #[oai(skip_serializing_if_is_none)]
    pub managed_by: Option<UserId>,
    /// The team leader they report to.
    #[oai(skip_serializing_if_is_none)]
    pub team_leader_id: Option<UserId>,
    #[oai(skip_serializing_if_is_none)]
    pub employee_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub department: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Person> for CoachingPersonView {
    fn from(p: Person) -> Self {
        Self {
            customer_id: p.customer_id,
            user_id: p.user_id,
            name: p.name,
            email: p.email,
            role: p.role,
            managed_by: p.managed_by,
            team_leader_id: p.team_leader_id,
            employee_id: p.employee_id,
            department: p.department,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

const COLUMNS: &str = "p.customer_id, p.user_id, u.name, u.email, p.role, p.managed_by, \
    p.team_leader_id, p.employee_id, p.department, p.created_at, p.updated_at";

/// A grant, as received.
#[derive(Debug, Clone)]
pub struct GrantInput {
    /// The customer; the person's only customer when absent.
    pub customer_id: Option<CustomerId>,
    pub role: CoachingRole,
    pub managed_by: Option<UserId>,
    pub team_leader_id: Option<UserId>,
    pub employee_id: Option<String>,
    pub department: Option<String>,
}

/// The customer a request is about: the one given, or the person's only
/// customer (400 naming `/customer_id` when they have several or none).
pub(crate) async fn customer_of(
    conn: &mut PgConnection,
    given: Option<CustomerId>,
    user: UserId,
    pointer: &str,
) -> Result<CustomerId> {
    if let Some(c) = given {
        return Ok(c);
    }
    let ids: Vec<CustomerId> =
        sqlx::query_scalar("SELECT customer_id FROM user_customers WHERE user_id = $1 LIMIT 2")
            .bind(user)
            .fetch_all(conn)
            .await?;
    match ids.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::field(
            pointer,
            "the person belongs to no customer; give customer_id",
        )),
        _ => Err(Error::field(
            pointer,
            "the person belongs to several customers; give customer_id",
        )),
    }
}

/// A person's coaching row, with no reach check.
pub(crate) async fn fetch(
    conn: &mut PgConnection,
    customer: CustomerId,
    user: UserId,
) -> Result<Option<Person>> {
    Ok(sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM coaching_people p JOIN users u ON u.id = p.user_id
         WHERE p.customer_id = $1 AND p.user_id = $2"
    ))
    .bind(customer)
    .bind(user)
    .fetch_optional(conn)
    .await?)
}

/// Checks that `user` holds one of `roles` in `customer`; 400 at `pointer` otherwise.
async fn check_role(
    conn: &mut PgConnection,
    v: &mut Validator,
    customer: CustomerId,
    user: UserId,
    roles: &[CoachingRole],
    pointer: &str,
) -> Result<()> {
    let role: Option<CoachingRole> = sqlx::query_scalar(
        "SELECT role FROM coaching_people WHERE customer_id = $1 AND user_id = $2",
    )
    .bind(customer)
    .bind(user)
    .fetch_optional(conn)
    .await?;
    if !role.is_some_and(|r| roles.contains(&r)) {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        v.push(
            pointer,
            format!(
                "must be a person with the coaching role {} in this customer",
                names.join(" or ")
            ),
        );
    }
    Ok(())
}

/// `PUT /coaching/people/{user_id}`: grants (or changes) a person's
/// coaching role and reporting lines. Coaching admins only. Returns the
/// person and whether the row is new.
pub async fn grant(
    db: &PgPool,
    caller: &Caller,
    user: UserId,
    i: GrantInput,
) -> Result<(Person, bool)> {
    let mut tx = db.begin().await?;
    let customer = customer_of(&mut tx, i.customer_id, user, "/customer_id").await?;
    access::standing(&mut tx, caller, customer, "customer")
        .await?
        .require_admin()?;
    let member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_customers WHERE user_id = $1 AND customer_id = $2)",
    )
    .bind(user)
    .bind(customer)
    .fetch_one(&mut *tx)
    .await?;
    if !member {
        return Err(Error::not_found("user"));
    }
    let mut v = Validator::new();
    let employee_id = opt_text(&mut v, "/employee_id", i.employee_id.as_deref(), 64);
    let department = opt_text(&mut v, "/department", i.department.as_deref(), 200);
    if let Some(tl) = i.team_leader_id {
        if tl == user {
            v.push(
                "/team_leader_id",
                "a person cannot be their own team leader",
            );
        } else {
            check_role(
                &mut tx,
                &mut v,
                customer,
                tl,
                &[CoachingRole::TeamLeader],
                "/team_leader_id",
            )
            .await?;
        }
    }
    if let Some(m) = i.managed_by {
        if m == user {
            v.push("/managed_by", "a person cannot be their own manager");
        } else {
            check_role(
                &mut tx,
                &mut v,
                customer,
                m,
                &[CoachingRole::Manager, CoachingRole::CoachingAdmin],
                "/managed_by",
            )
            .await?;
        }
    }
    v.finish()?;
    let before = fetch(&mut tx, customer, user).await?;
    sqlx::query(
        "INSERT INTO coaching_people (customer_id, user_id, role, managed_by, team_leader_id,
             employee_id, department)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (customer_id, user_id) DO UPDATE SET role = EXCLUDED.role,
             managed_by = EXCLUDED.managed_by, team_leader_id = EXCLUDED.team_leader_id,
             employee_id = EXCLUDED.employee_id, department = EXCLUDED.department,
             updated_at = now()",
    )
    .bind(customer)
    .bind(user)
    .bind(i.role)
    .bind(i.managed_by)
    .bind(i.team_leader_id)
    .bind(&employee_id)
    .bind(&department)
    .execute(&mut *tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Conflict { .. } => Error::field(
            "/employee_id",
            "another person of this customer has this employee_id",
        ),
        e => e,
    })?;
    let after = fetch(&mut tx, customer, user)
        .await?
        .ok_or(Error::not_found("user"))?;
    super::audit(
        &mut tx,
        caller,
        "coaching.person.granted",
        "coaching_person",
        user.to_string(),
        customer,
        before.as_ref().and_then(|b| serde_json::to_value(b).ok()),
        serde_json::to_value(&after).ok(),
    )
    .await?;
    tx.commit().await?;
    Ok((after, before.is_none()))
}

/// `DELETE /coaching/people/{user_id}`: revokes a person's coaching role
/// (their sessions and notes stay). Coaching admins only.
pub async fn revoke(
    db: &PgPool,
    caller: &Caller,
    user: UserId,
    customer: Option<CustomerId>,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let customer = customer_of(&mut tx, customer, user, "/customer_id").await?;
    access::standing(&mut tx, caller, customer, "customer")
        .await?
        .require_admin()?;
    let before = fetch(&mut tx, customer, user)
        .await?
        .ok_or(Error::not_found("coaching person"))?;
    sqlx::query("DELETE FROM coaching_people WHERE customer_id = $1 AND user_id = $2")
        .bind(customer)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    super::audit(
        &mut tx,
        caller,
        "coaching.person.revoked",
        "coaching_person",
        user.to_string(),
        customer,
        serde_json::to_value(&before).ok(),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Filters of `GET /coaching/people`.
#[derive(Debug, Clone, Default)]
pub struct PersonFilter {
    pub customer_id: Option<CustomerId>,
    pub role: Option<CoachingRole>,
    pub team_leader_id: Option<UserId>,
    pub managed_by: Option<UserId>,
}

const BY_PERSON: Keyset<(CustomerId, UserId)> = Keyset::ascending(&["p.customer_id", "p.user_id"]);

/// The people in the caller's reach.
pub async fn list(
    db: &PgPool,
    caller: &Caller,
    f: &PersonFilter,
    page: &PageRequest,
) -> Result<Page<Person>> {
    let reach = Reach::of(caller);
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from_as("coaching_people", "p")
        .join_as(
            sea_query::JoinType::InnerJoin,
            "users",
            "u",
            Expr::cust("u.id = p.user_id"),
        )
        .cond_where(reach.condition("p.customer_id", "p.user_id", None));
    if let Some(c) = f.customer_id {
        q.and_where(Expr::cust("p.customer_id").eq(c.0));
    }
    if let Some(r) = f.role {
        q.and_where(Expr::cust("p.role").eq(r.as_str()));
    }
    if let Some(t) = f.team_leader_id {
        q.and_where(Expr::cust("p.team_leader_id").eq(t.0));
    }
    if let Some(m) = f.managed_by {
        q.and_where(Expr::cust("p.managed_by").eq(m.0));
    }
    let mut conn = db.acquire().await?;
    BY_PERSON
        .fetch(&mut *conn, q, page, |p: &Person| (p.customer_id, p.user_id))
        .await
}
