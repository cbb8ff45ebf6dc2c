//! `newsletter_draft`: gathers the newsletter's period (events, content,
//! champions, use cases) and writes its draft — through the AI pipeline
//! when a provider is configured, else from the template — then tells the
//! CoP's managers it is ready for review. A newsletter gone or no longer
//! drafting is left alone; one whose job fails for good becomes `failed`
//! (`newsletters::draft::DraftEnded`).

use launchpad_domain::{
    ai::{newsletter::NewsletterDraftTask, pipeline},
    jobs::Failure,
    kinds::{NewsletterDraft, NewsletterDraftOutput, NewsletterDraftPayload},
    newsletters::draft,
};

use crate::runtime::{Handler, JobContext};

impl Handler for NewsletterDraft {
    async fn run(
        ctx: &JobContext,
        p: NewsletterDraftPayload,
    ) -> Result<NewsletterDraftOutput, Failure> {
        let id = p.newsletter_id;
        let skipped = || NewsletterDraftOutput {
            newsletter_id: Some(id),
            skipped: Some("the newsletter is gone or no longer drafting".into()),
            ..Default::default()
        };
        let data = {
            let mut conn = ctx.db.acquire().await?;
            draft::gather(&mut conn, id, &ctx.services.links).await?
        };
        let Some(data) = data else {
            return Ok(skipped());
        };
        let customer = ctx
            .job
            .customer_id
            .ok_or_else(|| Failure::permanent("subject_not_found", "the job names no tenant"))?;
        ctx.progress(20, Some("data gathered")).await?;
        // The pipeline's `save` writes the draft into the newsletter.
        let job = crate::llm::job_run(ctx, customer, false);
        let task = NewsletterDraftTask {
            newsletter_id: id,
            data,
        };
        let r = pipeline::run(&ctx.services.ai.pipeline, &job, &task).await?;
        Ok(NewsletterDraftOutput {
            newsletter_id: Some(id),
            drafted_by: Some(r.provider),
            sections: r.sections.len() as u32,
            dropped: r.dropped as u32,
            skipped: None,
        })
    }
}
