//! `newsletter_progress`: counts a sending newsletter's messages; when none
//! is left to send it marks the newsletter `sent` (webhook
//! `newsletter.sent`, the CoP's managers notified), else it enqueues the
//! next count.

use launchpad_domain::{
    jobs::{EnqueueCtx, Failure},
    kinds::{NewsletterProgress, NewsletterProgressOutput, NewsletterProgressPayload},
    newsletters::send,
};

use crate::runtime::{Handler, JobContext};

impl Handler for NewsletterProgress {
    async fn run(
        ctx: &JobContext,
        p: NewsletterProgressPayload,
    ) -> Result<NewsletterProgressOutput, Failure> {
        let enqueue_ctx = EnqueueCtx {
            customer_id: ctx.job.customer_id,
            requested_by: ctx.job.requested_by,
            callback_url: None,
        };
        let mut tx = ctx.db.begin().await?;
        let out = send::progress(&mut tx, p.newsletter_id, &enqueue_ctx).await?;
        tx.commit().await?;
        Ok(out)
    }
}
