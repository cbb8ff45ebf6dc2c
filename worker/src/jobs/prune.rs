//! `prune_jobs`: deletes finished job records, transport rows, settled
//! webhook messages, finished e-mail outbox rows and expired idempotency
//! keys past the retention period.

use chrono::Utc;
use launchpad_domain::jobs::{
    Failure,
    kinds::{PruneJobs, PruneJobsOutput, PruneJobsPayload},
    repo,
};

use crate::runtime::{JobContext, JobHandler};

pub struct Prune;

impl JobHandler for Prune {
    type Kind = PruneJobs;

    async fn run(&self, ctx: &JobContext, p: PruneJobsPayload) -> Result<PruneJobsOutput, Failure> {
        let cutoff = Utc::now() - chrono::Duration::days(p.retention_days as i64);
        let mut out = PruneJobsOutput {
            jobs_deleted: 0,
            tasks_deleted: 0,
            webhook_messages_deleted: 0,
            email_messages_deleted: 0,
        };
        // In slices, so one run never holds long locks.
        loop {
            let (jobs, tasks) = repo::prune(&ctx.db, cutoff).await?;
            out.jobs_deleted += jobs;
            out.tasks_deleted += tasks;
            if jobs == 0 && tasks == 0 {
                break;
            }
            ctx.checkpoint().await?;
        }
        loop {
            let n = launchpad_domain::webhooks::events::prune(&ctx.db, cutoff).await?;
            out.webhook_messages_deleted += n;
            if n == 0 {
                break;
            }
            ctx.checkpoint().await?;
        }
        loop {
            let (messages, contents) =
                launchpad_domain::email::outbox::prune(&ctx.db, cutoff).await?;
            out.email_messages_deleted += messages;
            if messages == 0 && contents == 0 {
                break;
            }
            ctx.checkpoint().await?;
        }
        launchpad_domain::idempotency::prune(&ctx.db).await?;
        // AI results cached longer than the retention are recomputed when asked again.
        while launchpad_domain::ai::repo::cache_prune(&ctx.db, cutoff).await? > 0 {
            ctx.checkpoint().await?;
        }
        Ok(out)
    }
}
