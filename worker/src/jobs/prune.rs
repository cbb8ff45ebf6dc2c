//! `prune_jobs`: deletes finished job records, settled
//! webhook messages, finished e-mail outbox rows and expired idempotency
//! keys past the retention period.

use chrono::Utc;
use launchpad_domain::jobs::{Failure, repo};
use launchpad_domain::kinds::{PruneJobs, PruneJobsOutput, PruneJobsPayload};

use crate::runtime::{Handler, JobContext};

impl Handler for PruneJobs {
    async fn run(ctx: &JobContext, p: PruneJobsPayload) -> Result<PruneJobsOutput, Failure> {
        let cutoff = Utc::now() - chrono::Duration::days(p.retention_days as i64);
        let mut out = PruneJobsOutput {
            jobs_deleted: 0,
            webhook_messages_deleted: 0,
            email_messages_deleted: 0,
        };
        // In slices, so one run never holds long locks.
        loop {
            let jobs = repo::prune(&ctx.db, cutoff).await?;
            out.jobs_deleted += jobs;
            if jobs == 0 {
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
