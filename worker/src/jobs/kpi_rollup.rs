//! `kpi_rollup`: recomputes the daily KPI metrics of one CoP (or of every
//! CoP of a customer) for a date range, one set-based statement per metric
//! (`launchpad_domain::kpi::metrics`), all in one transaction: readers see
//! the old values or the new ones, and a cancelled or failed run leaves
//! nothing half-written. Running it again writes the same values. The same
//! transaction records a `kpi.rollup.completed` webhook event per CoP.
//!
//! An archived or vanished CoP, or a range after the customer's today, ends
//! `succeeded` with nothing written and the reason in the result.

use launchpad_domain::kinds::{KpiRollup, KpiRollupOutput, KpiRollupPayload};
use launchpad_domain::{
    jobs::Failure,
    kpi::{
        Metric,
        rollup::{self, Planned},
    },
};

use crate::runtime::{Handler, JobContext};

impl Handler for KpiRollup {
    async fn run(ctx: &JobContext, p: KpiRollupPayload) -> Result<KpiRollupOutput, Failure> {
        let mut conn = ctx.db.acquire().await?;
        let plan = match rollup::plan(&mut conn, &p).await? {
            Planned::Run(plan) => plan,
            Planned::Skip(reason) => {
                tracing::info!(job_id = %ctx.job.id, %reason, "KPI rollup has nothing to compute");
                return Ok(KpiRollupOutput {
                    rows_written: 0,
                    cops: 0,
                    dates: 0,
                    from: None,
                    to: None,
                    skipped: Some(reason),
                });
            }
        };
        drop(conn);
        let mut rows_written = 0;
        let n = Metric::ALL.len();
        for (i, metric) in Metric::ALL.iter().enumerate() {
            // One short transaction per metric (each is an idempotent upsert):
            // no connection is held while the progress write below waits for
            // one — with a transaction held across it, concurrent rollups
            // could take every pooled connection and wait for each other.
            let mut tx = ctx.db.begin().await?;
            rollup::prepare(&mut tx).await?;
            rows_written += rollup::compute(&mut tx, *metric, &plan).await?;
            tx.commit().await?;
            // 99 at most: 100 means the job is done.
            let pct = ((i + 1) * 99 / n) as u8;
            let message = format!("computed {}", metric.as_str());
            ctx.progress(pct, message.as_str()).await?;
        }
        // `kpi.rollup.completed` per CoP, once every metric is committed.
        let mut tx = ctx.db.begin().await?;
        rollup::record_completed(&mut tx, &plan, ctx.job.id).await?;
        tx.commit().await?;
        Ok(KpiRollupOutput {
            rows_written,
            cops: plan.cops.len() as u32,
            dates: plan.dates(),
            from: Some(plan.from),
            to: Some(plan.to),
            skipped: None,
        })
    }
}
