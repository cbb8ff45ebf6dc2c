//! `ai_survey_summary`: what works, what to improve, top actions and
//! sentiment from a survey's free-text answers — through the provider
//! (map-reduce over token-budgeted chunks) or, without one, the extractive
//! method. Identical input reuses the cached result.

use chrono::Utc;
use futures::StreamExt;
use launchpad_domain::{
    ai::{
        EXTRACTIVE_MODEL, EXTRACTIVE_PROVIDER, context, extractive,
        repo::{self, CacheEntry},
        summary::{self, Partial, Prepared, SentimentTally},
        types::{ChunkSummaryAnswer, MergedSummaryAnswer, Sentiment, SurveySummary, TokenUsage},
    },
    ids::CustomerId,
    jobs::{
        Failure, JobKind,
        kinds::{AiSurveySummary, AiSurveySummaryPayload},
    },
};

use crate::{
    llm::{LlmSession, record_usage},
    runtime::{JobContext, JobHandler},
};

pub struct AiSurveySummaryHandler;

/// Cache kind of one map step (a chunk's partial summary).
const CHUNK_CACHE_KIND: &str = "ai_survey_summary.chunk";

impl JobHandler for AiSurveySummaryHandler {
    type Kind = AiSurveySummary;

    async fn run(
        &self,
        ctx: &JobContext,
        p: AiSurveySummaryPayload,
    ) -> Result<SurveySummary, Failure> {
        let survey = {
            let mut conn = ctx.db.acquire().await?;
            context::survey_for_summary(&mut conn, p.survey_id).await?
        };
        let survey = survey
            .filter(|s| ctx.job.customer_id == Some(s.customer_id))
            .ok_or_else(|| {
                Failure::permanent("subject_not_found", "the survey no longer exists")
            })?;
        let ai = &ctx.services.ai;
        let prepared = Prepared::new(
            &survey.title,
            &survey.text_questions,
            survey.answers,
            ai.settings.max_answer_chars,
        );
        let base = SurveySummary {
            survey_id: survey.survey_id,
            working_well: vec![],
            opportunities: vec![],
            top_actions: vec![],
            sentiment: Sentiment::default(),
            response_count: survey.response_count,
            text_answer_count: prepared.answers.len() as i64,
            truncated_answers: prepared.truncated as i64,
            provider: EXTRACTIVE_PROVIDER.into(),
            model: EXTRACTIVE_MODEL.into(),
            prompt_version: extractive::METHOD_VERSION.into(),
            usage: TokenUsage::default(),
            requests: 0,
            chunks: 0,
            dropped_quotes: 0,
            cache_hit: false,
            empty_reason: None,
            generated_at: Utc::now(),
        };
        let summary = if prepared.answers.is_empty() {
            SurveySummary {
                empty_reason: Some(if survey.text_questions.is_empty() {
                    "the survey has no free-text questions".into()
                } else {
                    "no response answered a free-text question".into()
                }),
                ..base
            }
        } else if let Some(llm) = &ai.llm {
            let customer = survey.customer_id;
            let key = repo::cache_key(
                customer,
                AiSurveySummary::NAME,
                &llm.model,
                summary::PROMPT_VERSION,
                &prepared.input_hash(ai.settings.chunk_tokens),
            );
            let cached = if p.refresh {
                None
            } else {
                repo::cache_get::<SurveySummary>(&ctx.db, &key).await?
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
                    SurveySummary {
                        cache_hit: true,
                        usage: TokenUsage::default(),
                        requests: 0,
                        ..hit
                    }
                }
                None => {
                    let session = LlmSession::start(llm, &ctx.db, customer).await?;
                    let outcome = with_model(ctx, &session, &prepared, customer, base).await;
                    // Tokens are spent whether or not the attempt succeeds.
                    session.record(&ctx.job).await?;
                    let s = outcome?;
                    let entry = CacheEntry {
                        key: &key,
                        customer,
                        kind: AiSurveySummary::NAME,
                        model: &llm.model,
                        prompt_version: summary::PROMPT_VERSION,
                    };
                    repo::cache_put(&ctx.db, entry, &s).await?;
                    s
                }
            }
        } else {
            let texts: Vec<&str> = prepared.answers.iter().map(|a| a.text.as_str()).collect();
            let e = extractive::summarise(&texts);
            SurveySummary {
                working_well: e.working_well,
                opportunities: e.opportunities,
                top_actions: e.top_actions,
                sentiment: e.sentiment,
                chunks: 1,
                ..base
            }
        };
        let mut conn = ctx.db.acquire().await?;
        repo::save_summary(&mut conn, ctx.job.id, &summary).await?;
        Ok(summary)
    }
}

/// Map (one request per chunk, in parallel up to the provider's
/// concurrency, finished chunks cached), then reduce as a tree until one
/// summary is left; quotes verified at every step.
async fn with_model(
    ctx: &JobContext,
    session: &LlmSession<'_>,
    prepared: &Prepared,
    customer: CustomerId,
    base: SurveySummary,
) -> Result<SurveySummary, Failure> {
    let ai = &ctx.services.ai;
    let llm = session.llm;
    let checker = prepared.quote_checker();
    let chunks = prepared.chunks(ai.settings.chunk_tokens);
    let parts = chunks.len();
    ctx.progress(
        5,
        Some(
            format!(
                "summarising {} answers in {parts} chunks",
                prepared.answers.len()
            )
            .as_str(),
        ),
    )
    .await?;

    // Progress is written by the chunk futures themselves: awaiting a pool
    // connection in the loop below while the stream is not being polled would
    // starve the in-flight futures holding connections (a pool deadlock).
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let finished = &finished;
    let map_one = |index: usize| {
        let range = chunks[index].clone();
        async move {
            let prompt = summary::map_prompt(prepared, range.clone(), index, parts);
            let key = repo::cache_key(
                customer,
                CHUNK_CACHE_KIND,
                &llm.model,
                summary::PROMPT_VERSION,
                &prompt.hash(),
            );
            let answer = match repo::cache_get::<ChunkSummaryAnswer>(&ctx.db, &key).await? {
                Some(a) => a,
                None => {
                    let a: ChunkSummaryAnswer =
                        session.ask("survey_chunk_summary", &prompt).await?;
                    // Only multi-chunk runs benefit (a retry resumes after the last finished chunk).
                    if parts > 1 {
                        let entry = CacheEntry {
                            key: &key,
                            customer,
                            kind: CHUNK_CACHE_KIND,
                            model: &llm.model,
                            prompt_version: summary::PROMPT_VERSION,
                        };
                        repo::cache_put(&ctx.db, entry, &a).await?;
                    }
                    a
                }
            };
            let done = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let pct = 5 + (80 * done / parts) as u8;
            ctx.progress(
                pct,
                Some(format!("summarised chunk {done} of {parts}").as_str()),
            )
            .await?;
            Ok::<_, Failure>((range, answer))
        }
    };
    let mut results = futures::stream::iter(0..parts)
        .map(map_one)
        .buffer_unordered(ai.settings.concurrency);
    let mut tally = SentimentTally::default();
    let mut partials: Vec<(usize, Partial)> = Vec::with_capacity(parts);
    let mut dropped = 0;
    while let Some(r) = results.next().await {
        let (range, a) = r?;
        tally.add(
            &prepared.answers[range.clone()],
            &a.positive_ids,
            &a.negative_ids,
        );
        let (mut partial, d) = summary::clean_summary(
            MergedSummaryAnswer {
                working_well: a.working_well,
                opportunities: a.opportunities,
                top_actions: a.top_actions,
            },
            &checker,
        );
        partial.answers = range.len();
        dropped += d;
        partials.push((range.start, partial));
    }
    drop(results);
    partials.sort_by_key(|(start, _)| *start);
    let mut level: Vec<Partial> = partials.into_iter().map(|(_, p)| p).collect();

    while level.len() > 1 {
        ctx.progress(
            90,
            Some(format!("merging {} partial summaries", level.len()).as_str()),
        )
        .await?;
        let mut next = Vec::new();
        for group in summary::reduce_groups(&level, ai.settings.chunk_tokens) {
            let members = &level[group];
            if members.len() == 1 {
                next.push(members[0].clone());
                continue;
            }
            let merged: MergedSummaryAnswer = session
                .ask(
                    "survey_merged_summary",
                    &summary::reduce_prompt(prepared, members),
                )
                .await?;
            let (mut p, d) = summary::clean_summary(merged, &checker);
            p.answers = members.iter().map(|m| m.answers).sum();
            dropped += d;
            next.push(p);
        }
        level = next;
    }
    let final_summary = level
        .pop()
        .map(Partial::into_merged)
        .unwrap_or(MergedSummaryAnswer {
            working_well: vec![],
            opportunities: vec![],
            top_actions: vec![],
        });
    Ok(SurveySummary {
        working_well: final_summary.working_well,
        opportunities: final_summary.opportunities,
        top_actions: final_summary.top_actions,
        sentiment: tally.finish(prepared.answers.len()),
        provider: llm.name.into(),
        model: llm.model.clone(),
        prompt_version: summary::PROMPT_VERSION.into(),
        usage: session.usage(),
        requests: session.requests(),
        chunks: parts as i64,
        dropped_quotes: dropped as i64,
        generated_at: Utc::now(),
        ..base
    })
}
