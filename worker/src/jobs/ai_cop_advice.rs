//! `ai_cop_advice`: next sessions, content to highlight, champions to
//! recognise and a quarterly roadmap for a CoP, from the context the job
//! gathers, through the AI pipeline ([`CopAdviceTask`]).

use chrono::Utc;
use launchpad_domain::kinds::{AiCopAdvice, AiCopAdvicePayload};
use launchpad_domain::{
    ai::{advice::CopAdviceTask, context, pipeline, types::CopAdvice},
    jobs::Failure,
};

use crate::runtime::{Handler, JobContext};

impl Handler for AiCopAdvice {
    async fn run(ctx: &JobContext, p: AiCopAdvicePayload) -> Result<CopAdvice, Failure> {
        let gone = || Failure::permanent("subject_not_found", "the CoP no longer exists");
        let customer = ctx.job.customer_id.ok_or_else(gone)?;
        let context = {
            let mut conn = ctx.db.acquire().await?;
            if context::cop_customer(&mut conn, p.cop_id).await? != Some(customer) {
                return Err(gone());
            }
            context::cop_context(&mut conn, p.cop_id, Utc::now()).await?
        }
        .ok_or_else(gone)?;
        ctx.progress(20, Some("context gathered")).await?;
        let job = crate::llm::job_run(ctx, customer, p.refresh);
        let task = CopAdviceTask {
            cop_id: p.cop_id,
            context,
        };
        pipeline::run(&ctx.services.ai.pipeline, &job, &task).await
    }
}
