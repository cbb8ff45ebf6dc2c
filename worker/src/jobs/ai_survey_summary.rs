//! `ai_survey_summary`: what works, what to improve, top actions and
//! sentiment from a survey's free-text answers, through the AI pipeline
//! ([`SurveySummaryTask`]).

use launchpad_domain::{
    ai::{context, pipeline, summary::SurveySummaryTask, types::SurveySummary},
    jobs::Failure,
    kinds::{AiSurveySummary, AiSurveySummaryPayload},
};

use crate::runtime::{Handler, JobContext};

impl Handler for AiSurveySummary {
    async fn run(ctx: &JobContext, p: AiSurveySummaryPayload) -> Result<SurveySummary, Failure> {
        let survey = {
            let mut conn = ctx.db.acquire().await?;
            context::survey_for_summary(&mut conn, p.survey_id).await?
        }
        .filter(|s| ctx.job.customer_id == Some(s.customer_id))
        .ok_or_else(|| Failure::permanent("subject_not_found", "the survey no longer exists"))?;
        let ai = &ctx.services.ai.pipeline;
        let job = crate::llm::job_run(ctx, survey.customer_id, p.refresh);
        pipeline::run(ai, &job, &SurveySummaryTask::new(survey, &ai.settings)).await
    }
}
