//! `event_invites`: the fan-out of an event's calendar messages. One
//! transaction writes an outbox row and an `email_send` job per recipient;
//! a run again (after a crash before the job's result was stored) writes
//! nothing twice (the rows' dedupe keys carry this job's id).

use chrono::Utc;
use launchpad_domain::kinds::{EventInvites, EventInvitesOutput, EventInvitesPayload};
use launchpad_domain::{
    email::outbox,
    jobs::{EnqueueCtx, Failure},
    portal::invites::{self, Plan},
};
use sqlx::{Postgres, Transaction};

use crate::runtime::{Handler, JobContext};

impl Handler for EventInvites {
    async fn run(ctx: &JobContext, p: EventInvitesPayload) -> Result<EventInvitesOutput, Failure> {
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
            "nothing to send: no registrants, or the event or person is gone",
        )
        .await
    }
}

/// Writes a calendar fan-out's outbox rows and `email_send` jobs and
/// commits (also used by `coaching_invites`); `skipped` says why nothing
/// was written when there is no plan.
pub(crate) async fn queue_plan(
    ctx: &JobContext,
    mut tx: Transaction<'static, Postgres>,
    plan: Option<Plan>,
    skipped: &str,
) -> Result<EventInvitesOutput, Failure> {
    let Some(plan) = plan else {
        return Ok(EventInvitesOutput {
            skipped: Some(skipped.into()),
            ..Default::default()
        });
    };
    let enqueue_ctx = EnqueueCtx {
        customer_id: plan.content.customer_id,
        requested_by: ctx.job.requested_by,
        callback_url: None,
    };
    let queued = outbox::queue(&mut tx, &plan.content, plan.emails, &enqueue_ctx).await?;
    tx.commit().await?;
    Ok(EventInvitesOutput {
        method: Some(plan.method.as_str().to_string()),
        queued: queued.pending.len() as u32,
        suppressed: queued.suppressed as u32,
        already_written: queued.duplicates as u32,
        skipped: None,
    })
}
