//! Monthly token budgets that hold across worker processes.
//!
//! A request of a tenant with a budget reserves its estimated tokens (its
//! prompt plus the output limit: an upper bound of what it can cost) in
//! `ai_token_months` before it is sent, in one atomic upsert that admits it
//! only while `used + reserved` is under the limit; after the answer it
//! settles: the reservation is released and the real usage added. However
//! many requests run in parallel, in however many processes, the last one
//! admitted started under the limit, so the budget is overshot by at most
//! one request's estimate.
//!
//! Tenants without a budget reserve nothing (no round trip per request);
//! their usage reaches `used_tokens` when an attempt's usage is recorded
//! ([`super::repo::record_usage`]).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

use super::repo::month_bounds;
use crate::{error::Result, ids::CustomerId};

/// The first day of the UTC month of `at` (the key of `ai_token_months`).
pub fn month_of(at: DateTime<Utc>) -> NaiveDate {
    month_bounds(at.date_naive()).0.date_naive()
}

/// Tokens held for one request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub id: i64,
    pub customer: CustomerId,
    pub month: NaiveDate,
}

/// The outcome of asking for a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// Admitted: send the request, then [`settle`].
    Reserved(Reservation),
    /// The tenant has no budget (any more): send without a reservation.
    Unlimited,
    /// Refused: the month's settled usage alone reaches the limit.
    Spent { used: i64, limit: i64 },
    /// Refused for now: requests in flight hold the rest of the budget
    /// (their settlement may free some).
    Held {
        used: i64,
        reserved: i64,
        limit: i64,
    },
}

/// Reserves `tokens` for one request of `customer`, if the tenant's
/// budget admits it: one statement when it does (the usual case).
pub async fn reserve(
    db: &PgPool,
    customer: CustomerId,
    tokens: i64,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Reserve> {
    let month = month_of(now);
    let mut released = false;
    loop {
        let id: Option<i64> = sqlx::query_scalar(
            "WITH lim AS (SELECT monthly_token_limit AS l FROM ai_budgets WHERE customer_id = $1),
             m AS (
                 INSERT INTO ai_token_months AS t (customer_id, month, reserved_tokens)
                 SELECT $1, $2, $3 FROM lim WHERE lim.l > 0
                 ON CONFLICT (customer_id, month) DO UPDATE
                     SET reserved_tokens = t.reserved_tokens + EXCLUDED.reserved_tokens
                     WHERE t.used_tokens + t.reserved_tokens < (SELECT l FROM lim)
                 RETURNING 1
             )
             INSERT INTO ai_token_reservations (customer_id, month, tokens, expires_at)
             SELECT $1, $2, $3, now() + make_interval(secs => $4) FROM m
             RETURNING id",
        )
        .bind(customer)
        .bind(month)
        .bind(tokens.max(0))
        .bind(ttl.as_secs_f64())
        .fetch_optional(db)
        .await?;
        if let Some(id) = id {
            return Ok(Reserve::Reserved(Reservation {
                id,
                customer,
                month,
            }));
        }
        // Refused, or no budget: find out which (the rare path).
        let (limit, used, reserved): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT monthly_token_limit FROM ai_budgets WHERE customer_id = $1),
                    (SELECT used_tokens FROM ai_token_months WHERE customer_id = $1 AND month = $2),
                    (SELECT reserved_tokens FROM ai_token_months WHERE customer_id = $1 AND month = $2)",
        )
        .bind(customer)
        .bind(month)
        .fetch_one(db)
        .await?;
        let Some(limit) = limit else {
            return Ok(Reserve::Unlimited);
        };
        let (used, reserved) = (used.unwrap_or(0), reserved.unwrap_or(0));
        if used >= limit {
            return Ok(Reserve::Spent { used, limit });
        }
        // Reservations of requests that never settled (their worker died)
        // expire; release them and try once more.
        if !released && release_expired(db, customer).await? > 0 {
            released = true;
            continue;
        }
        return Ok(Reserve::Held {
            used,
            reserved,
            limit,
        });
    }
}

/// Releases a reservation and adds the request's real usage (0 when it
/// failed before the provider answered).
pub async fn settle(db: &PgPool, r: Reservation, used_tokens: i64) -> Result<()> {
    sqlx::query(
        "WITH r AS (DELETE FROM ai_token_reservations WHERE id = $1 RETURNING tokens)
         UPDATE ai_token_months
            SET reserved_tokens = greatest(reserved_tokens - coalesce((SELECT sum(tokens) FROM r), 0), 0)::bigint,
                used_tokens = used_tokens + $4
          WHERE customer_id = $2 AND month = $3",
    )
    .bind(r.id)
    .bind(r.customer)
    .bind(r.month)
    .bind(used_tokens.max(0))
    .execute(db)
    .await?;
    Ok(())
}

/// Releases the tenant's reservations past their expiry; returns how many.
pub async fn release_expired(db: &PgPool, customer: CustomerId) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "WITH r AS (
             DELETE FROM ai_token_reservations WHERE customer_id = $1 AND expires_at < now()
             RETURNING month, tokens
         ), s AS (SELECT month, sum(tokens) AS tokens, count(*) AS n FROM r GROUP BY month),
         u AS (
             UPDATE ai_token_months t SET reserved_tokens = greatest(t.reserved_tokens - s.tokens, 0)::bigint
             FROM s WHERE t.customer_id = $1 AND t.month = s.month
         )
         SELECT coalesce(sum(n), 0)::bigint FROM s",
    )
    .bind(customer)
    .fetch_one(db)
    .await?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_keyed_by_their_first_day() {
        let at = "2026-12-31T23:59:59Z".parse().unwrap();
        assert_eq!(month_of(at), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        let at = "2027-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(month_of(at), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
    }
}
