//! `notify`: the fan-out of one recorded notification, in one transaction:
//! the recipients' inbox rows (one statement), the e-mails of those who
//! want them at once (outbox rows and their `email_send` jobs), and the
//! NOTIFY that wakes the live streams. A run again writes nothing twice.

use launchpad_domain::{
    jobs::{EnqueueCtx, Failure},
    kinds::{Notify, NotifyOutput, NotifyPayload},
    notifications::fanout,
};

use crate::runtime::{Handler, JobContext};

impl Handler for Notify {
    async fn run(ctx: &JobContext, p: NotifyPayload) -> Result<NotifyOutput, Failure> {
        let mut tx = ctx.db.begin().await?;
        let enqueue_ctx = EnqueueCtx {
            customer_id: ctx.job.customer_id,
            requested_by: ctx.job.requested_by,
            callback_url: None,
        };
        let out = fanout::run(
            &mut tx,
            p.source_id,
            ctx.services.mail.sender(),
            &ctx.services.links,
            &enqueue_ctx,
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }
}
