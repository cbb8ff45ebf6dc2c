//! `ai_cop_advice`: next sessions, content to highlight, champions to
//! recognise and a quarterly roadmap for a CoP, from the context the job
//! gathers — through the provider, or rule-based without one. Identical
//! context reuses the cached result.

use chrono::Utc;
use launchpad_domain::{
    ai::{
        EXTRACTIVE_PROVIDER, advice, context,
        repo::{self, CacheEntry},
        types::{CopAdvice, CopAdviceAnswer, TokenUsage},
    },
    jobs::{
        Failure, JobKind,
        kinds::{AiCopAdvice, AiCopAdvicePayload},
    },
};

use crate::{
    llm::{LlmSession, record_usage},
    runtime::{JobContext, JobHandler},
};

pub struct AiCopAdviceHandler;

impl JobHandler for AiCopAdviceHandler {
    type Kind = AiCopAdvice;

    async fn run(&self, ctx: &JobContext, p: AiCopAdvicePayload) -> Result<CopAdvice, Failure> {
        let gone = || Failure::permanent("subject_not_found", "the CoP no longer exists");
        let cop_context = {
            let mut conn = ctx.db.acquire().await?;
            let customer = context::cop_customer(&mut conn, p.cop_id).await?;
            if customer.is_none() || customer != ctx.job.customer_id {
                return Err(gone());
            }
            context::cop_context(&mut conn, p.cop_id, Utc::now())
                .await?
                .ok_or_else(gone)?
        };
        let customer = ctx.job.customer_id.ok_or_else(gone)?;
        ctx.progress(20, Some("context gathered")).await?;
        let ai = &ctx.services.ai;
        let result = match &ai.llm {
            None => {
                let a = advice::rules(&cop_context);
                CopAdvice {
                    cop_id: p.cop_id,
                    next_sessions: a.next_sessions,
                    content_to_highlight: a.content_to_highlight,
                    champions_to_recognize: a.champions_to_recognize,
                    roadmap: a.roadmap,
                    context: cop_context.stats(),
                    provider: EXTRACTIVE_PROVIDER.into(),
                    model: "rules".into(),
                    prompt_version: advice::RULES_VERSION.into(),
                    usage: TokenUsage::default(),
                    requests: 0,
                    dropped_items: 0,
                    cache_hit: false,
                    generated_at: Utc::now(),
                }
            }
            Some(llm) => {
                let key = repo::cache_key(
                    customer,
                    AiCopAdvice::NAME,
                    &llm.model,
                    advice::PROMPT_VERSION,
                    &cop_context.hash(),
                );
                let cached = if p.refresh {
                    None
                } else {
                    repo::cache_get::<CopAdvice>(&ctx.db, &key).await?
                };
                match cached {
                    Some(hit) => {
                        record_usage(
                            &ctx.db,
                            &ctx.job,
                            customer,
                            llm.name,
                            &llm.model,
                            0,
                            TokenUsage::default(),
                            true,
                        )
                        .await?;
                        CopAdvice {
                            cache_hit: true,
                            usage: TokenUsage::default(),
                            requests: 0,
                            ..hit
                        }
                    }
                    None => {
                        let session = LlmSession::start(llm, &ctx.db, customer).await?;
                        let answer = session
                            .ask::<CopAdviceAnswer>("cop_advice", &advice::prompt(&cop_context))
                            .await;
                        session.record(&ctx.job).await?;
                        let (a, dropped) = advice::ground(answer?, &cop_context);
                        let result = CopAdvice {
                            cop_id: p.cop_id,
                            next_sessions: a.next_sessions,
                            content_to_highlight: a.content_to_highlight,
                            champions_to_recognize: a.champions_to_recognize,
                            roadmap: a.roadmap,
                            context: cop_context.stats(),
                            provider: llm.name.into(),
                            model: llm.model.clone(),
                            prompt_version: advice::PROMPT_VERSION.into(),
                            usage: session.usage(),
                            requests: session.requests(),
                            dropped_items: dropped as i64,
                            cache_hit: false,
                            generated_at: Utc::now(),
                        };
                        let entry = CacheEntry {
                            key: &key,
                            customer,
                            kind: AiCopAdvice::NAME,
                            model: &llm.model,
                            prompt_version: advice::PROMPT_VERSION,
                        };
                        repo::cache_put(&ctx.db, entry, &result).await?;
                        result
                    }
                }
            }
        };
        let mut conn = ctx.db.acquire().await?;
        repo::save_advice(&mut conn, ctx.job.id, &result).await?;
        Ok(result)
    }
}
