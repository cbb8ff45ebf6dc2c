//! The KPI rollup: what a `kpi_rollup` job computes ([`plan`],
//! [`compute`]) and every way one is enqueued — nightly
//! ([`enqueue_nightly`]), on demand ([`request`]), and after changes to the
//! data ([`after_attendance_import`], [`after_survey_closed`]).
//!
//! Rollups enqueued by the nightly run and by triggers are coalesced per
//! CoP ([`enqueue_coalesced`]): at most one *queued* rollup per CoP exists
//! (unique key `cop:<id>`); enqueueing another one widens the queued job's
//! date range in the caller's transaction instead. The worker reads the
//! payload from the `jobs` row when the job starts, so a widened range is
//! what runs; a job that already started keeps its range and the new
//! request becomes the next queued job.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};

use super::{DateRange, metrics::Metric};
use crate::{
    error::{Error, Result},
    ids::{CopId, CustomerId, JobId, SurveyId, UserId},
    jobs::{EnqueueCtx, JobKind, JobRecord, NewJob, enqueue, enqueue_one, repo},
    kinds::{KpiRollup, KpiRollupPayload},
    portal::access::{self, Action},
    tenancy::Caller,
    webhooks::{WebhookData, WebhookEventType, record_event_batch},
};

/// What a rollup job will compute.
#[derive(Debug, Clone)]
pub struct Plan {
    pub cops: Vec<CopId>,
    pub time_zone: String,
    /// Inclusive local dates; `to` is at most the customer's today.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Stamped on every row the run writes.
    pub computed_at: DateTime<Utc>,
}

impl Plan {
    pub fn dates(&self) -> u32 {
        ((self.to - self.from).num_days() + 1) as u32
    }
}

/// A rollup either runs or has nothing to do (and says why).
#[derive(Debug, Clone)]
pub enum Planned {
    Run(Plan),
    Skip(String),
}

/// Resolves a job's payload: the CoPs (not archived) of the CoP or the
/// customer, their time zone, and the range cut at the customer's today
/// (days that have not begun get no rows, so that series show them as gaps).
pub async fn plan(conn: &mut PgConnection, p: &KpiRollupPayload) -> Result<Planned> {
    if p.cop_id.is_some() == p.customer_id.is_some() {
        return Err(Error::field(
            "/cop_id",
            "give exactly one of cop_id and customer_id",
        ));
    }
    if p.from > p.to {
        return Err(Error::field("/from", "must not be after to"));
    }
    let rows: Vec<(CopId, String, NaiveDate)> = sqlx::query_as(
        "SELECT c.id, cu.time_zone, (now() AT TIME ZONE cu.time_zone)::date
         FROM cops c JOIN customers cu ON cu.id = c.customer_id
         WHERE c.archived_at IS NULL AND (c.id = $1 OR c.customer_id = $2)
         ORDER BY c.id",
    )
    .bind(p.cop_id)
    .bind(p.customer_id)
    .fetch_all(&mut *conn)
    .await?;
    let Some((_, time_zone, today)) = rows.first().cloned() else {
        return Ok(Planned::Skip(match p.cop_id {
            Some(_) => "the CoP is archived or no longer exists".into(),
            None => "the customer has no CoP that is not archived".into(),
        }));
    };
    let to = p.to.min(today);
    if p.from > to {
        return Ok(Planned::Skip(format!(
            "the range starts after today ({today}) in the customer's time zone"
        )));
    }
    Ok(Planned::Run(Plan {
        cops: rows.into_iter().map(|r| r.0).collect(),
        time_zone,
        from: p.from,
        to,
        computed_at: Utc::now(),
    }))
}

/// Session settings for a rollup's transaction: the statements aggregate
/// and sort tens of thousands of rows, and their best plan depends on the
/// range, so every execution is planned for its own parameters.
pub async fn prepare(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Runs one metric's statement for the plan; returns the rows written.
pub async fn compute(conn: &mut PgConnection, metric: Metric, plan: &Plan) -> Result<u64> {
    let cops: Vec<uuid::Uuid> = plan.cops.iter().map(|c| c.0).collect();
    Ok(sqlx::query(sqlx::AssertSqlSafe(metric.upsert_sql()))
        .bind(&cops)
        .bind(plan.from)
        .bind(plan.to)
        .bind(&plan.time_zone)
        .bind(plan.computed_at)
        .execute(conn)
        .await?
        .rows_affected())
}

/// What a `kpi.rollup.completed` webhook event carries: one CoP's
/// recomputed dates.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct KpiRollupCompletedView {
    pub cop_id: CopId,
    pub customer_id: CustomerId,
    /// The `kpi_rollup` job (`GET /api/v1/jobs/{id}`).
    pub job_id: JobId,
    /// First local date recomputed (the customer's time zone).
    pub from: NaiveDate,
    /// Last local date recomputed (inclusive).
    pub to: NaiveDate,
    /// Stamped on every value the run wrote.
    pub computed_at: DateTime<Utc>,
    /// The metrics recomputed (`GET /api/v1/cops/{id}/kpis?metric=…`).
    pub metrics: Vec<String>,
}

/// Records one `kpi.rollup.completed` event per CoP of a rollup's plan, in
/// the transaction that writes its values (rolled back with them).
pub async fn record_completed(conn: &mut PgConnection, plan: &Plan, job: JobId) -> Result<()> {
    let cops: Vec<uuid::Uuid> = plan.cops.iter().map(|c| c.0).collect();
    let rows: Vec<(CopId, CustomerId)> =
        sqlx::query_as("SELECT id, customer_id FROM cops WHERE id = ANY($1) ORDER BY id")
            .bind(&cops)
            .fetch_all(&mut *conn)
            .await?;
    let metrics: Vec<String> = Metric::ALL.iter().map(|m| m.as_str().to_string()).collect();
    let events = rows
        .into_iter()
        .map(|(cop_id, customer_id)| {
            let view = KpiRollupCompletedView {
                cop_id,
                customer_id,
                job_id: job,
                from: plan.from,
                to: plan.to,
                computed_at: plan.computed_at,
                metrics: metrics.clone(),
            };
            let data = WebhookData::of_view(
                &view,
                cop_id,
                format!("/api/v1/cops/{cop_id}/analytics/summary"),
            )
            .with_reference_field("job_id", job);
            (customer_id, WebhookEventType::KpiRollupCompleted, data)
        })
        .collect();
    record_event_batch(conn, events).await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Enqueueing

/// One CoP's dates to recompute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub cop_id: CopId,
    pub customer_id: CustomerId,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

fn unique_key(cop: CopId) -> String {
    format!("cop:{cop}")
}

/// Enqueues a rollup per CoP of `targets`, coalesced: where a rollup of the
/// CoP is already queued, its range is widened to cover both (in this
/// transaction); otherwise a new job is queued with the unique key
/// `cop:<id>`. Returns the job holding each CoP's dates, in CoP order.
pub async fn enqueue_coalesced(
    conn: &mut PgConnection,
    targets: &[Target],
    requested_by: Option<UserId>,
) -> Result<Vec<JobRecord>> {
    // One target per CoP, covering all its dates.
    let mut pending: BTreeMap<CopId, Target> = BTreeMap::new();
    for t in targets {
        pending
            .entry(t.cop_id)
            .and_modify(|p| {
                p.from = p.from.min(t.from);
                p.to = p.to.max(t.to);
            })
            .or_insert(*t);
    }
    let mut holders: HashMap<CopId, JobId> = HashMap::new();
    // A queued job inserted by a concurrent transaction between the two
    // steps makes this one's insert coalesce without widening: widen again.
    for _ in 0..3 {
        if pending.is_empty() {
            break;
        }
        for (cop, job) in widen_queued(conn, pending.values()).await? {
            holders.insert(cop, job);
            pending.remove(&cop);
        }
        if pending.is_empty() {
            break;
        }
        let jobs: Vec<NewJob> = pending
            .values()
            .map(|t| {
                let payload = KpiRollupPayload {
                    cop_id: Some(t.cop_id),
                    customer_id: None,
                    from: t.from,
                    to: t.to,
                };
                let ctx = EnqueueCtx {
                    customer_id: Some(t.customer_id),
                    requested_by,
                    callback_url: None,
                };
                NewJob::of::<KpiRollup>(&payload, &ctx).unique(unique_key(t.cop_id))
            })
            .collect();
        let new_ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
        let records = enqueue(conn, jobs).await?;
        let cops: Vec<CopId> = pending.keys().copied().collect();
        for ((cop, new_id), rec) in cops.into_iter().zip(new_ids).zip(records) {
            if rec.id == new_id {
                holders.insert(cop, rec.id);
                pending.remove(&cop);
            }
        }
    }
    if !pending.is_empty() {
        return Err(Error::Internal(anyhow::anyhow!(
            "could not enqueue or widen the KPI rollups of {} CoPs",
            pending.len()
        )));
    }
    let ids: Vec<JobId> = holders.values().copied().collect();
    let mut by_id: HashMap<JobId, JobRecord> = repo::fetch_many(conn, &ids)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let mut order: Vec<(CopId, JobId)> = holders.into_iter().collect();
    order.sort();
    Ok(order
        .into_iter()
        .filter_map(|(_, id)| by_id.remove(&id))
        .collect())
}

/// Widens the queued rollups of these CoPs to cover the targets' dates;
/// returns the CoPs that had one, with its id.
async fn widen_queued<'a>(
    conn: &mut PgConnection,
    targets: impl Iterator<Item = &'a Target>,
) -> Result<Vec<(CopId, JobId)>> {
    let (mut keys, mut froms, mut tos) = (vec![], vec![], vec![]);
    for t in targets {
        keys.push(unique_key(t.cop_id));
        froms.push(t.from);
        tos.push(t.to);
    }
    let widened: Vec<(JobId, String)> = sqlx::query_as(
        "UPDATE jobs j SET
             payload = j.payload || jsonb_build_object(
                 'from', least((j.payload->>'from')::date, u.from_date),
                 'to', greatest((j.payload->>'to')::date, u.to_date)),
             updated_at = now()
         FROM unnest($2::text[], $3::date[], $4::date[]) AS u(key, from_date, to_date)
         WHERE j.kind = $1 AND j.unique_key = u.key AND j.status = 'queued'
         RETURNING j.id, j.unique_key",
    )
    .bind(KpiRollup::NAME)
    .bind(&keys)
    .bind(&froms)
    .bind(&tos)
    .fetch_all(&mut *conn)
    .await?;
    if widened.is_empty() {
        return Ok(vec![]);
    }
    Ok(widened
        .into_iter()
        .filter_map(|(id, key)| {
            key.strip_prefix("cop:")
                .and_then(|c| c.parse().ok())
                .map(|c| (c, id))
        })
        .collect())
}

/// The nightly run: one coalesced rollup per active (not paused, not
/// archived) CoP for the `trailing_days` local days ending on the customer's
/// date at `tick`.
pub async fn enqueue_nightly(
    conn: &mut PgConnection,
    tick: DateTime<Utc>,
    trailing_days: u32,
) -> Result<Vec<JobRecord>> {
    let rows: Vec<(CopId, CustomerId, NaiveDate)> = sqlx::query_as(
        "SELECT c.id, c.customer_id, ($1::timestamptz AT TIME ZONE cu.time_zone)::date
         FROM cops c JOIN customers cu ON cu.id = c.customer_id
         WHERE c.archived_at IS NULL AND c.status = 'active'",
    )
    .bind(tick)
    .fetch_all(&mut *conn)
    .await?;
    let back = chrono::Days::new(u64::from(trailing_days.max(1) - 1));
    let targets: Vec<Target> = rows
        .into_iter()
        .map(|(cop_id, customer_id, today)| Target {
            cop_id,
            customer_id,
            from: today - back,
            to: today,
        })
        .collect();
    enqueue_coalesced(conn, &targets, None).await
}

/// Who may request a rollup of `cop`: its managers (404 outside the
/// caller's scope, 403 without the right, 409 when archived). Returns the
/// CoP's customer.
pub async fn authorize(db: &PgPool, caller: &Caller, cop: CopId) -> Result<CustomerId> {
    let mut conn = db.acquire().await?;
    let a = access::load(&mut conn, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    Ok(a.customer_id)
}

/// An on-demand rollup of one CoP (managers of the CoP): its own job, not
/// coalesced, for exactly the requested range.
/// `callback_url` (already checked) receives the job's terminal event.
pub async fn request(
    conn: &mut PgConnection,
    caller: &Caller,
    cop: CopId,
    range: DateRange,
    callback_url: Option<String>,
) -> Result<JobRecord> {
    let a = access::load(conn, caller, cop, "cop").await?;
    a.require(Action::Manage)?;
    let payload = KpiRollupPayload {
        cop_id: Some(cop),
        customer_id: None,
        from: range.from,
        to: range.to,
    };
    let ctx = EnqueueCtx {
        customer_id: Some(a.customer_id),
        requested_by: Some(caller.user_id),
        callback_url,
    };
    enqueue_one(conn, NewJob::of::<KpiRollup>(&payload, &ctx)).await
}

/// The dates whose values change when activity on `first..=last` changes:
/// those days and the `lookback` days after (trailing windows), cut at
/// `today`; `None` when all of them are in the future.
pub fn affected_range(
    first: NaiveDate,
    last: NaiveDate,
    lookback: u32,
    today: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    let to = (last + chrono::Days::new(u64::from(lookback))).min(today);
    (first <= to).then_some((first, to))
}

/// Trigger of an attendance import for an event of `cop` starting at
/// `starts_at`: recomputes the event's date and the activity windows after it.
pub async fn after_attendance_import(
    conn: &mut PgConnection,
    caller: &Caller,
    cop: CopId,
    customer: CustomerId,
    starts_at: DateTime<Utc>,
) -> Result<()> {
    let (day, today): (NaiveDate, NaiveDate) = sqlx::query_as(
        "SELECT ($2::timestamptz AT TIME ZONE time_zone)::date, (now() AT TIME ZONE time_zone)::date
         FROM customers WHERE id = $1",
    )
    .bind(customer)
    .bind(starts_at)
    .fetch_one(&mut *conn)
    .await?;
    let lookback = Metric::Map.lookback_days().max(Metric::Mau.lookback_days());
    if let Some((from, to)) = affected_range(day, day, lookback, today) {
        let target = Target {
            cop_id: cop,
            customer_id: customer,
            from,
            to,
        };
        enqueue_coalesced(conn, &[target], Some(caller.user_id)).await?;
    }
    Ok(())
}

/// Trigger of closing a survey of `cop`: recomputes the dates of its
/// responses and the NPS and activity windows after them (nothing when it
/// has no responses).
pub async fn after_survey_closed(
    conn: &mut PgConnection,
    caller: &Caller,
    survey: SurveyId,
    cop: CopId,
    customer: CustomerId,
) -> Result<()> {
    let dates: Option<(NaiveDate, NaiveDate, NaiveDate)> = sqlx::query_as(
        "SELECT (min(r.responded_at) AT TIME ZONE cu.time_zone)::date,
                (max(r.responded_at) AT TIME ZONE cu.time_zone)::date,
                (now() AT TIME ZONE cu.time_zone)::date
         FROM survey_responses r CROSS JOIN customers cu
         WHERE r.survey_id = $1 AND cu.id = $2
         GROUP BY cu.time_zone",
    )
    .bind(survey)
    .bind(customer)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((first, last, today)) = dates else {
        return Ok(());
    };
    let lookback = Metric::Nps.lookback_days().max(Metric::Map.lookback_days());
    if let Some((from, to)) = affected_range(first, last, lookback, today) {
        let target = Target {
            cop_id: cop,
            customer_id: customer,
            from,
            to,
        };
        enqueue_coalesced(conn, &[target], Some(caller.user_id)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn affected_ranges_follow_the_trailing_windows() {
        let today = d("2026-03-31");
        assert_eq!(
            affected_range(d("2026-03-01"), d("2026-03-01"), 29, today),
            Some((d("2026-03-01"), d("2026-03-30")))
        );
        assert_eq!(
            affected_range(d("2026-03-10"), d("2026-03-12"), 29, today),
            Some((d("2026-03-10"), today))
        );
        assert_eq!(
            affected_range(d("2026-01-01"), d("2026-02-01"), 89, today),
            Some((d("2026-01-01"), today))
        );
        assert_eq!(affected_range(today, today, 0, today), Some((today, today)));
        assert_eq!(
            affected_range(d("2026-04-01"), d("2026-04-01"), 29, today),
            None
        );
    }

    #[test]
    fn plans_count_their_dates() {
        let p = Plan {
            cops: vec![],
            time_zone: "UTC".into(),
            from: d("2026-01-01"),
            to: d("2026-02-04"),
            computed_at: Utc::now(),
        };
        assert_eq!(p.dates(), 35);
    }
}
