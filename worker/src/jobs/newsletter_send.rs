//! `newsletter_send`: the fan-out of an approved newsletter — one outbox
//! row and `email_send` job per recipient, written slice by slice in one
//! transaction (see `newsletters::send`). A send that was cancelled,
//! rescheduled or edited meanwhile ends without writing anything; a run
//! again after a crash finds the newsletter `sending` and writes nothing twice.

use launchpad_domain::{
    jobs::{EnqueueCtx, Failure},
    kinds::{NewsletterSend, NewsletterSendOutput, NewsletterSendPayload},
    newsletters::{Mail, send},
};

use crate::runtime::{Handler, JobContext};

impl Handler for NewsletterSend {
    async fn run(
        ctx: &JobContext,
        p: NewsletterSendPayload,
    ) -> Result<NewsletterSendOutput, Failure> {
        let mail = Mail {
            sender: ctx.services.mail.sender(),
            public_url: &ctx.services.links.public_url,
        };
        let enqueue_ctx = EnqueueCtx {
            customer_id: ctx.job.customer_id,
            requested_by: ctx.job.requested_by,
            callback_url: None,
        };
        let mut tx = ctx.db.begin().await?;
        let out = send::run(&mut tx, ctx.job.id, p.newsletter_id, mail, &enqueue_ctx).await?;
        tx.commit().await?;
        Ok(out)
    }
}
