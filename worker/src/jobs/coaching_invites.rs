//! `coaching_invites`: a coaching session's calendar messages to its agent
//! and team leader, written to the e-mail outbox in one transaction (a run
//! again writes nothing twice).

use chrono::Utc;
use launchpad_domain::coaching::invites;
use launchpad_domain::jobs::Failure;
use launchpad_domain::kinds::{CoachingInvites, CoachingInvitesPayload, EventInvitesOutput};

use super::event_invites::queue_plan;
use crate::runtime::{Handler, JobContext};

impl Handler for CoachingInvites {
    async fn run(
        ctx: &JobContext,
        p: CoachingInvitesPayload,
    ) -> Result<EventInvitesOutput, Failure> {
        let mut tx = ctx.db.begin().await?;
        let plan = invites::plan(
            &mut tx,
            ctx.job.id,
            &p,
            ctx.services.mail.sender(),
            Utc::now(),
        )
        .await?;
        queue_plan(
            ctx,
            tx,
            plan,
            "nothing to send: the session is gone or completed",
        )
        .await
    }
}
