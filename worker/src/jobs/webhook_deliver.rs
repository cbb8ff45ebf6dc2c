//! `webhook_deliver`: one attempt of one delivery. Loads the message and its
//! target, signs (Standard Webhooks; both secrets during a rotation), POSTs
//! through the guarded client, logs the attempt and decides: 2xx delivered;
//! `410 Gone` stops and disables the endpoint; anything else (3xx included,
//! timeouts, refusals) retries on the kind's schedule, or after the
//! `Retry-After` of a 429/503, until the attempts run out.

use std::time::Duration;

use chrono::Utc;
use launchpad_domain::kinds::{
    WEBHOOK_RETRY_SCHEDULE, WebhookDeliver, WebhookDeliverOutcome, WebhookDeliverOutput,
    WebhookDeliverPayload,
};
use launchpad_domain::{
    jobs::{Failure, JobKind},
    webhooks::{
        delivery::{self, After},
        signing,
    },
};

use crate::{
    http::Request,
    runtime::{Handler, JobContext},
};

/// The wait before the next attempt: the schedule (scaled by configuration),
/// or the target's `Retry-After`, at most the longest step of the schedule.
fn retry_delay(attempt: u32, retry_after: Option<Duration>, scale: f64) -> Duration {
    let longest = WEBHOOK_RETRY_SCHEDULE
        .iter()
        .max()
        .copied()
        .unwrap_or(Duration::from_secs(3600));
    match retry_after {
        Some(d) => d.clamp(Duration::from_secs(1), longest),
        None => WebhookDeliver::RETRY
            .delay(attempt, rand::random::<f64>())
            .mul_f64(scale),
    }
}

impl Handler for WebhookDeliver {
    async fn run(
        ctx: &JobContext,
        p: WebhookDeliverPayload,
    ) -> Result<WebhookDeliverOutput, Failure> {
        let skipped = WebhookDeliverOutput {
            outcome: WebhookDeliverOutcome::Skipped,
            status_code: None,
        };
        let out = {
            let mut conn = ctx.db.acquire().await?;
            let Some(out) = delivery::load(&mut conn, p.delivery_id).await? else {
                return Ok(skipped);
            };
            if !out.is_pending() {
                return Ok(skipped);
            }
            if out.endpoint_disabled {
                delivery::fail_unsent(&mut conn, out.delivery_id, "the endpoint is disabled")
                    .await?;
                return Err(Failure::permanent(
                    "endpoint_disabled",
                    "the endpoint is disabled",
                ));
            }
            out
        };
        let body = serde_json::to_vec(&out.payload)
            .map_err(|e| Failure::permanent("invalid_payload", e.to_string()))?;
        let timestamp = Utc::now().timestamp();
        let signature =
            signing::signature_header(&out.secrets(), &out.message_id, timestamp, &body)
                .map_err(|e| Failure::permanent("invalid_secret", e))?;
        let sent = ctx
            .services
            .webhook_client
            .send(Request {
                url: &out.url,
                msg_id: &out.message_id,
                timestamp,
                signature: &signature,
                body,
            })
            .await;
        let settings = &ctx.services.webhook_settings;
        let attempt = ctx.job.attempts.max(1) as u32;
        let error = sent.result.error.clone().unwrap_or_default();
        let (after, failure) = if sent.is_success() {
            (After::Succeeded, None)
        } else if sent.result.status_code == Some(410) {
            (
                After::Gone,
                Some(Failure::permanent("gone", "the target answered 410 Gone")),
            )
        } else if ctx.job.attempts >= ctx.job.max_attempts {
            (
                After::GaveUp,
                Some(Failure::permanent(
                    "gave_up",
                    format!("last attempt failed: {error}"),
                )),
            )
        } else {
            let delay = retry_delay(attempt, sent.retry_after, settings.retry_scale);
            let at = Utc::now()
                + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
            let failure = Failure::Transient {
                code: "delivery_failed".into(),
                message: error,
                retry_after: Some(delay),
            };
            (After::Retry(at), Some(failure))
        };
        let disable_after =
            chrono::Duration::from_std(settings.disable_after).unwrap_or(chrono::Duration::days(5));
        let mut tx = ctx.db.begin().await?;
        delivery::record_attempt(&mut tx, &out, &sent.result, after, disable_after).await?;
        tx.commit().await?;
        match failure {
            None => Ok(WebhookDeliverOutput {
                outcome: WebhookDeliverOutcome::Delivered,
                status_code: sent.result.status_code,
            }),
            Some(f) => Err(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_follow_the_schedule_or_retry_after() {
        let d1 = retry_delay(1, None, 1.0).as_secs_f64();
        assert!((4.5..=5.5).contains(&d1), "{d1}");
        let d7 = retry_delay(7, None, 1.0).as_secs_f64();
        assert!((32_400.0..=39_600.0).contains(&d7), "{d7}");
        let scaled = retry_delay(2, None, 0.001).as_secs_f64();
        assert!((0.27..=0.33).contains(&scaled), "{scaled}");
        assert_eq!(
            retry_delay(1, Some(Duration::from_secs(30)), 0.001),
            Duration::from_secs(30)
        );
        assert_eq!(
            retry_delay(1, Some(Duration::ZERO), 1.0),
            Duration::from_secs(1)
        );
        assert_eq!(
            retry_delay(1, Some(Duration::from_secs(86_400 * 3)), 1.0),
            Duration::from_secs(36_000)
        );
    }
}
