//! `content_expire` (nightly): content items whose `expires_at` has passed
//! become `expired`, and each owner gets an e-mail, batch by batch (each
//! batch one transaction: the status change and its e-mails together).

use chrono::Utc;
use launchpad_domain::{
    jobs::Failure,
    kinds::{ContentExpire, ContentExpireOutput, ContentExpirePayload},
    lms::library::{self, EXPIRE_BATCH},
};

use crate::runtime::{Handler, JobContext};

impl Handler for ContentExpire {
    async fn run(
        ctx: &JobContext,
        _: ContentExpirePayload,
    ) -> Result<ContentExpireOutput, Failure> {
        let now = Utc::now();
        let sender = ctx.services.mail.sender();
        let mut expired = 0;
        loop {
            let n = library::expire_due(&ctx.db, now, sender).await?;
            expired += n;
            if n < EXPIRE_BATCH as u64 {
                break;
            }
            ctx.checkpoint().await?;
        }
        Ok(ContentExpireOutput { expired })
    }
}
