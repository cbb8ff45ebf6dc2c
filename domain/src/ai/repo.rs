//! Storage of the AI features: who may ask for AI work, token usage per job
//! attempt and per tenant and month, monthly budgets, the result cache and
//! the latest result per survey and CoP.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use sea_query::{Expr, JoinType, Query};
use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use super::types::{CopAdvice, SurveySummary, TokenUsage};
use crate::{
    audit::{self, AuditEntry},
    error::{Error, Result},
    ids::{CopId, CustomerId, JobId, SurveyId},
    pagination::{Keyset, Page, PageRequest},
    portal::access::{self, Action},
    tenancy::{Caller, Scope},
};

// ---------------------------------------------------------------------------
// Who may ask

/// Asking for AI work spends the tenant's tokens: it needs the `Manage`
/// right on the survey's CoP (404 outside the caller's tenants). Returns
/// the tenant.
pub async fn authorize_survey(
    db: &PgPool,
    caller: &Caller,
    survey: SurveyId,
) -> Result<CustomerId> {
    let mut conn = db.acquire().await?;
    let cop: CopId = sqlx::query_scalar("SELECT cop_id FROM surveys WHERE id = $1")
        .bind(survey)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::not_found("survey"))?;
    let a = access::load(&mut conn, caller, cop, "survey").await?;
    a.require(Action::Manage)?;
    Ok(a.customer_id)
}

/// Like [`authorize_survey`], for CoP advice.
pub async fn authorize_cop(db: &PgPool, caller: &Caller, cop: CopId) -> Result<CustomerId> {
    let mut conn = db.acquire().await?;
    let a = access::load(&mut conn, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    Ok(a.customer_id)
}

// ---------------------------------------------------------------------------
// Latest results

/// A stored result and the job that produced it.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub job_id: JobId,
    pub created_at: DateTime<Utc>,
    pub result: T,
}

/// Keeps `result` as the survey's latest summary, unless a later job already stored one.
pub async fn save_summary(conn: &mut PgConnection, job_id: JobId, s: &SurveySummary) -> Result<()> {
    sqlx::query(
        "INSERT INTO survey_ai_summaries (survey_id, job_id, result) VALUES ($1, $2, $3)
         ON CONFLICT (survey_id) DO UPDATE SET job_id = EXCLUDED.job_id, result = EXCLUDED.result, created_at = now()
         WHERE survey_ai_summaries.job_id <= EXCLUDED.job_id",
    )
    .bind(s.survey_id)
    .bind(job_id)
    .bind(serde_json::to_value(s).map_err(anyhow::Error::new)?)
    .execute(conn)
    .await?;
    Ok(())
}

/// Keeps `result` as the CoP's latest advice, unless a later job already stored one.
pub async fn save_advice(conn: &mut PgConnection, job_id: JobId, a: &CopAdvice) -> Result<()> {
    sqlx::query(
        "INSERT INTO cop_ai_advice (cop_id, job_id, result) VALUES ($1, $2, $3)
         ON CONFLICT (cop_id) DO UPDATE SET job_id = EXCLUDED.job_id, result = EXCLUDED.result, created_at = now()
         WHERE cop_ai_advice.job_id <= EXCLUDED.job_id",
    )
    .bind(a.cop_id)
    .bind(job_id)
    .bind(serde_json::to_value(a).map_err(anyhow::Error::new)?)
    .execute(conn)
    .await?;
    Ok(())
}

fn decode<T: DeserializeOwned>(
    row: Option<(JobId, DateTime<Utc>, serde_json::Value)>,
) -> Result<Option<Stored<T>>> {
    row.map(|(job_id, created_at, v)| {
        Ok(Stored {
            job_id,
            created_at,
            result: serde_json::from_value(v)
                .map_err(|e| anyhow::anyhow!("stored AI result: {e}"))?,
        })
    })
    .transpose()
}

/// The survey's latest summary, without an access check (the caller did it).
pub async fn summary_of(db: &PgPool, survey: SurveyId) -> Result<Option<Stored<SurveySummary>>> {
    let row = sqlx::query_as(
        "SELECT job_id, created_at, result FROM survey_ai_summaries WHERE survey_id = $1",
    )
    .bind(survey)
    .fetch_optional(db)
    .await?;
    decode(row)
}

/// The survey's latest summary for `caller` (404 without one).
pub async fn latest_summary(
    db: &PgPool,
    caller: &Caller,
    survey: SurveyId,
) -> Result<Stored<SurveySummary>> {
    let mut conn = db.acquire().await?;
    let cop: CopId = sqlx::query_scalar("SELECT cop_id FROM surveys WHERE id = $1")
        .bind(survey)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::not_found("survey"))?;
    access::load(&mut conn, caller, cop, "survey")
        .await?
        .require(Action::Read)?;
    drop(conn);
    summary_of(db, survey)
        .await?
        .ok_or(Error::not_found("AI summary"))
}

/// The CoP's latest advice for `caller` (404 without one).
pub async fn latest_advice(db: &PgPool, caller: &Caller, cop: CopId) -> Result<Stored<CopAdvice>> {
    let mut conn = db.acquire().await?;
    access::load(&mut conn, caller, cop, "cop")
        .await?
        .require(Action::Read)?;
    let row =
        sqlx::query_as("SELECT job_id, created_at, result FROM cop_ai_advice WHERE cop_id = $1")
            .bind(cop)
            .fetch_optional(&mut *conn)
            .await?;
    decode(row)?.ok_or(Error::not_found("AI advice"))
}

// ---------------------------------------------------------------------------
// Cache

/// The cache key of an input: per tenant, kind, model and prompt version.
pub fn cache_key(
    customer: CustomerId,
    kind: &str,
    model: &str,
    prompt_version: &str,
    input_hash: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        customer.to_string().as_str(),
        kind,
        model,
        prompt_version,
        input_hash,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// A cached result, counting the hit.
pub async fn cache_get<T: DeserializeOwned>(db: &PgPool, key: &str) -> Result<Option<T>> {
    let v: Option<serde_json::Value> = sqlx::query_scalar(
        "UPDATE ai_cache SET hits = hits + 1, last_hit_at = now() WHERE key = $1 RETURNING result",
    )
    .bind(key)
    .fetch_optional(db)
    .await?;
    // An entry written by an older version that no longer parses is a miss.
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

/// What a cache entry is for.
#[derive(Debug, Clone, Copy)]
pub struct CacheEntry<'a> {
    pub key: &'a str,
    pub customer: CustomerId,
    pub kind: &'a str,
    pub model: &'a str,
    pub prompt_version: &'a str,
}

pub async fn cache_put<T: Serialize>(db: &PgPool, e: CacheEntry<'_>, result: &T) -> Result<()> {
    sqlx::query(
        "INSERT INTO ai_cache (key, customer_id, kind, model, prompt_version, result) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (key) DO UPDATE SET result = EXCLUDED.result, created_at = now()",
    )
    .bind(e.key)
    .bind(e.customer)
    .bind(e.kind)
    .bind(e.model)
    .bind(e.prompt_version)
    .bind(serde_json::to_value(result).map_err(anyhow::Error::new)?)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes cache entries created before `older_than` (a slice at a time).
pub async fn cache_prune(db: &PgPool, older_than: DateTime<Utc>) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM ai_cache WHERE key IN (SELECT key FROM ai_cache WHERE created_at < $1 LIMIT 10000)",
    )
    .bind(older_than)
    .execute(db)
    .await?
    .rows_affected())
}

// ---------------------------------------------------------------------------
// Usage and budgets

/// The tokens one job attempt spent (or a cache hit).
#[derive(Debug, Clone)]
pub struct UsageRecord<'a> {
    pub job_id: &'a str,
    pub attempt: i32,
    pub customer: CustomerId,
    pub kind: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub requests: i64,
    pub usage: TokenUsage,
    pub cache_hit: bool,
}

/// Records an attempt's usage once (a re-delivered attempt does not count
/// twice), adding `unsettled` tokens (those no request settled against a
/// budget reservation: see [`super::budget`]) to the tenant's month.
pub async fn record_usage(db: &PgPool, r: &UsageRecord<'_>, unsettled: i64) -> Result<()> {
    sqlx::query(
        "WITH u AS (
             INSERT INTO ai_usage (job_id, attempt, customer_id, kind, provider, model, requests,
                                   prompt_tokens, completion_tokens, cached_tokens, cache_hit)
             VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (job_id, attempt) DO NOTHING
             RETURNING customer_id, at
         )
         INSERT INTO ai_token_months AS t (customer_id, month, used_tokens)
         SELECT customer_id, date_trunc('month', at AT TIME ZONE 'UTC')::date, $12 FROM u WHERE $12 > 0
         ON CONFLICT (customer_id, month) DO UPDATE SET used_tokens = t.used_tokens + EXCLUDED.used_tokens",
    )
    .bind(r.job_id)
    .bind(r.attempt)
    .bind(r.customer)
    .bind(r.kind)
    .bind(r.provider)
    .bind(r.model)
    .bind(r.requests as i32)
    .bind(r.usage.prompt_tokens)
    .bind(r.usage.completion_tokens)
    .bind(r.usage.cached_tokens)
    .bind(r.cache_hit)
    .bind(unsettled.max(0))
    .execute(db)
    .await?;
    Ok(())
}

/// The first instant of the UTC month containing `at`, and of the next month.
pub fn month_bounds(month: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = NaiveDate::from_ymd_opt(month.year(), month.month(), 1).expect("valid month");
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .expect("valid month");
    let at = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"));
    (at(first), at(next))
}

/// Parses `YYYY-MM` into the month's first day.
pub fn parse_month(s: &str) -> Result<NaiveDate, String> {
    let err = || "must be a month as YYYY-MM, e.g. 2026-11".to_string();
    let (y, m) = s.split_once('-').ok_or_else(err)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(err());
    }
    let (y, m): (i32, u32) = (y.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
    NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(err)
}

/// Prompt + completion tokens the tenant spent in the UTC month of `now`
/// (as budgets count them: see [`super::budget`]).
pub async fn tokens_this_month(
    conn: &mut PgConnection,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<i64> {
    let used: Option<i64> = sqlx::query_scalar(
        "SELECT used_tokens FROM ai_token_months WHERE customer_id = $1 AND month = $2",
    )
    .bind(customer)
    .bind(super::budget::month_of(now))
    .fetch_optional(conn)
    .await?;
    Ok(used.unwrap_or(0))
}

/// The tenant's monthly token limit, if it has one.
pub async fn budget_limit(conn: &mut PgConnection, customer: CustomerId) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT monthly_token_limit FROM ai_budgets WHERE customer_id = $1")
            .bind(customer)
            .fetch_optional(conn)
            .await?,
    )
}

/// A tenant's budget and what it used this month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub customer_id: CustomerId,
    pub monthly_token_limit: Option<i64>,
    pub used_this_month: i64,
}

impl Budget {
    pub fn remaining(&self) -> Option<i64> {
        self.monthly_token_limit
            .map(|l| (l - self.used_this_month).max(0))
    }
}

async fn ensure_customer(
    conn: &mut PgConnection,
    scope: &Scope,
    customer: CustomerId,
) -> Result<()> {
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_optional(&mut *conn)
        .await?;
    exists.ok_or(Error::not_found("customer"))?;
    scope.ensure(customer, "customer")
}

/// The tenant's budget (any caller of the tenant may read it).
pub async fn get_budget(db: &PgPool, caller: &Caller, customer: CustomerId) -> Result<Budget> {
    let mut conn = db.acquire().await?;
    ensure_customer(&mut conn, &caller.scope(), customer).await?;
    Ok(Budget {
        customer_id: customer,
        monthly_token_limit: budget_limit(&mut conn, customer).await?,
        used_this_month: tokens_this_month(&mut conn, customer, Utc::now()).await?,
    })
}

/// Sets (or with `None` removes) the tenant's monthly token limit; admin only.
pub async fn set_budget(
    db: &PgPool,
    caller: &Caller,
    customer: CustomerId,
    limit: Option<i64>,
) -> Result<Budget> {
    caller.require_admin()?;
    if limit.is_some_and(|l| l < 0) {
        return Err(Error::field(
            "/monthly_token_limit",
            "must be zero or more (or null for no limit)",
        ));
    }
    let mut tx = db.begin().await?;
    ensure_customer(&mut tx, &Scope::All, customer).await?;
    let before = budget_limit(&mut tx, customer).await?;
    match limit {
        Some(l) => {
            sqlx::query(
                "INSERT INTO ai_budgets (customer_id, monthly_token_limit, updated_by) VALUES ($1, $2, $3)
                 ON CONFLICT (customer_id) DO UPDATE
                     SET monthly_token_limit = EXCLUDED.monthly_token_limit, updated_by = EXCLUDED.updated_by,
                         updated_at = now()",
            )
            .bind(customer)
            .bind(l)
            .bind(caller.user_id)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM ai_budgets WHERE customer_id = $1")
                .bind(customer)
                .execute(&mut *tx)
                .await?;
        }
    }
    audit::record(
        &mut *tx,
        AuditEntry {
            actor_id: Some(caller.user_id),
            actor_email: Some(&caller.email),
            action: "customer.ai_budget_set",
            target_type: "customer",
            target_id: Some(customer.to_string()),
            customer_id: Some(customer),
            before: Some(serde_json::json!({ "monthly_token_limit": before })),
            after: Some(serde_json::json!({ "monthly_token_limit": limit })),
        },
    )
    .await?;
    let used = tokens_this_month(&mut tx, customer, Utc::now()).await?;
    tx.commit().await?;
    Ok(Budget {
        customer_id: customer,
        monthly_token_limit: limit,
        used_this_month: used,
    })
}

/// One tenant's AI usage in one month.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MonthlyUsage {
    pub customer_id: CustomerId,
    /// Jobs (attempts) that called the provider or hit the cache.
    pub jobs: i64,
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub cache_hits: i64,
    pub monthly_token_limit: Option<i64>,
}

/// By tenant id.
const BY_CUSTOMER: Keyset<CustomerId> = Keyset::ascending(&["c.id"]);

/// Usage per tenant in `month` (UTC), for the tenants in the caller's scope
/// (or the one asked for), ordered by tenant id.
pub async fn monthly_usage(
    db: &PgPool,
    caller: &Caller,
    month: NaiveDate,
    customer: Option<CustomerId>,
    page: &PageRequest,
) -> Result<Page<MonthlyUsage>> {
    use sea_query::ExprTrait;
    let scope = caller.scope();
    if let Some(c) = customer {
        let mut conn = db.acquire().await?;
        ensure_customer(&mut conn, &scope, c).await?;
    }
    let (from, to) = month_bounds(month);
    let mut usage = Query::select();
    usage
        .expr(Expr::cust(
            "count(*) AS jobs, sum(requests) AS requests, sum(prompt_tokens) AS prompt_tokens,
             sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens,
             count(*) FILTER (WHERE cache_hit) AS cache_hits",
        ))
        .from("ai_usage")
        .and_where(Expr::cust("customer_id = c.id"))
        .and_where(Expr::col("at").gte(from))
        .and_where(Expr::col("at").lt(to));
    let mut q = Query::select();
    q.expr(Expr::cust(
        "c.id AS customer_id,
         coalesce(u.jobs, 0)::bigint AS jobs,
         coalesce(u.requests, 0)::bigint AS requests,
         coalesce(u.prompt_tokens, 0)::bigint AS prompt_tokens,
         coalesce(u.completion_tokens, 0)::bigint AS completion_tokens,
         coalesce(u.cached_tokens, 0)::bigint AS cached_tokens,
         coalesce(u.cache_hits, 0)::bigint AS cache_hits,
         b.monthly_token_limit",
    ))
    .from_as("customers", "c")
    .join_lateral(JoinType::LeftJoin, usage, "u", Expr::cust("true"))
    .join_as(
        JoinType::LeftJoin,
        "ai_budgets",
        "b",
        Expr::cust("b.customer_id = c.id"),
    )
    .cond_where(scope.sql_filter(("c", "id")));
    if let Some(c) = customer {
        q.and_where(Expr::col(("c", "id")).eq(c.0));
    }
    BY_CUSTOMER
        .fetch(db, q, page, |r: &MonthlyUsage| r.customer_id)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        assert_eq!(
            parse_month("2026-11").unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        );
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "", "2026-11-01"] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
        let (a, b) = month_bounds(NaiveDate::from_ymd_opt(2026, 12, 15).unwrap());
        assert_eq!(a.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }

    #[test]
    fn cache_keys_separate_tenants_and_versions() {
        let c = CustomerId::new();
        let k = cache_key(c, "k", "m", "v1", "h");
        assert_eq!(k, cache_key(c, "k", "m", "v1", "h"));
        assert_ne!(k, cache_key(CustomerId::new(), "k", "m", "v1", "h"));
        assert_ne!(k, cache_key(c, "k", "m", "v2", "h"));
        assert_ne!(k, cache_key(c, "k", "m2", "v1", "h"));
    }

    #[test]
    fn remaining_budget() {
        let b = Budget {
            customer_id: CustomerId::new(),
            monthly_token_limit: Some(100),
            used_this_month: 150,
        };
        assert_eq!(b.remaining(), Some(0));
    }
}
