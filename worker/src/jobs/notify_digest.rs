//! `notify_digest`: sends the digests that are due (see
//! `launchpad_domain::notifications::digest`), one transaction per person.

use launchpad_domain::{
    jobs::Failure,
    kinds::{NotifyDigest, NotifyDigestOutput, NotifyDigestPayload},
    notifications::digest,
};

use crate::runtime::{Handler, JobContext};

impl Handler for NotifyDigest {
    async fn run(ctx: &JobContext, _p: NotifyDigestPayload) -> Result<NotifyDigestOutput, Failure> {
        Ok(digest::run(&ctx.db, ctx.services.mail.sender(), &ctx.services.links).await?)
    }
}
