//! The demo tenant: what `launchpad-api seed-demo` (and so `scripts/run.sh`)
//! writes so that a first start has something to show. Idempotent.
//!
//! [`seed`] creates the customer and its `customer_exec`, then the CoP
//! portal's data ([`portal`]) and the enablement portal's ([`lms`]).

mod lms;
mod portal;

pub use lms::{DEMO_COURSE_TITLE, seed_lms};
pub use portal::{DEMO_COPS, seed_portal};

use sqlx::PgPool;

use crate::{
    Result,
    ids::{CustomerId, UserId},
    kinds::KpiRollupPayload,
    kpi::{
        metrics::Metric,
        rollup::{self, Planned},
    },
    values::Password,
};

pub const DEMO_CUSTOMER_SLUG: &str = "acme";
pub const DEMO_EXEC_EMAIL: &str = "exec@acme.example";
pub const DEMO_EXEC_PASSWORD: &str = "launchpad-demo-pass";

/// Creates the demo customer and a customer_exec user if missing, then the
/// portals' data; when the CoP portal's data is new, computes its KPI rows.
pub async fn seed(db: &PgPool) -> Result<CustomerId> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(7270002)")
        .execute(&mut *tx)
        .await?;
    let existing: Option<CustomerId> =
        sqlx::query_scalar("SELECT id FROM customers WHERE slug = $1")
            .bind(DEMO_CUSTOMER_SLUG)
            .fetch_optional(&mut *tx)
            .await?;
    let customer = match existing {
        Some(c) => c,
        None => {
            let id = CustomerId::new();
            sqlx::query("INSERT INTO customers (id, name, slug, time_zone) VALUES ($1, 'Acme Corp', $2, 'Europe/Paris')")
                .bind(id)
                .bind(DEMO_CUSTOMER_SLUG)
                .execute(&mut *tx)
                .await?;
            id
        }
    };
    let has_exec: Option<UserId> =
        sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = $1")
            .bind(DEMO_EXEC_EMAIL)
            .fetch_optional(&mut *tx)
            .await?;
    if has_exec.is_none() {
        let pw =
            Password::parse(DEMO_EXEC_PASSWORD).map_err(|m| crate::Error::field("/password", m))?;
        let hash = crate::auth::password::hash(&pw).await?;
        let id = UserId::new();
        sqlx::query("INSERT INTO users (id, email, name, password_hash, roles) VALUES ($1, $2, 'Erin Exec', $3, ARRAY['customer_exec'])")
            .bind(id)
            .bind(DEMO_EXEC_EMAIL)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO user_customers (user_id, customer_id) VALUES ($1, $2)")
            .bind(id)
            .bind(customer)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let new_portal = seed_portal(db, customer).await?;
    seed_lms(db, customer).await?;
    if new_portal {
        roll_up(db, customer).await?;
        newsletter(db, customer).await?;
    }
    Ok(customer)
}

/// One newsletter draft for the first demo CoP, written by its customer's exec.
async fn newsletter(db: &PgPool, customer: CustomerId) -> Result<()> {
    let mut tx = db.begin().await?;
    let cop: Option<crate::ids::CopId> = sqlx::query_scalar(
        "SELECT id FROM cops WHERE customer_id = $1 ORDER BY created_at, id LIMIT 1",
    )
    .bind(customer)
    .fetch_optional(&mut *tx)
    .await?;
    let exec: Option<UserId> = sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = $1")
        .bind(DEMO_EXEC_EMAIL)
        .fetch_optional(&mut *tx)
        .await?;
    let (Some(cop), Some(exec)) = (cop, exec) else {
        return Ok(());
    };
    let links = crate::notifications::fanout::Links {
        public_url: crate::notifications::public_url_from_env()
            .unwrap_or_else(|_| crate::notifications::DEFAULT_PUBLIC_URL.into()),
    };
    crate::newsletters::draft::seed_demo(&mut tx, customer, cop, exec, &links).await?;
    tx.commit().await?;
    Ok(())
}

/// How far back the demo's KPI rows go (the CoPs are 200 days old).
const HISTORY_DAYS: i64 = 200;

/// Computes the KPI rows of the customer's CoPs over the demo's history, as
/// the worker's `kpi_rollup` does, so that dashboards have figures on first
/// start.
async fn roll_up(db: &PgPool, customer: CustomerId) -> Result<()> {
    let today = chrono::Utc::now().date_naive();
    let payload = KpiRollupPayload {
        cop_id: None,
        customer_id: Some(customer),
        from: today - chrono::Duration::days(HISTORY_DAYS),
        to: today,
    };
    let mut tx = db.begin().await?;
    let Planned::Run(plan) = rollup::plan(&mut tx, &payload).await? else {
        return Ok(());
    };
    rollup::prepare(&mut tx).await?;
    for metric in Metric::ALL {
        rollup::compute(&mut tx, *metric, &plan).await?;
    }
    tx.commit().await?;
    Ok(())
}
