//! `diagnostic`: behaviour chosen by the payload, to exercise the runtime.

use std::time::Duration;

use launchpad_domain::jobs::Failure;
use launchpad_domain::kinds::{
    Diagnostic, DiagnosticBehaviour, DiagnosticOutput, DiagnosticPayload,
};

use crate::runtime::{Handler, JobContext};

impl Handler for Diagnostic {
    async fn run(ctx: &JobContext, p: DiagnosticPayload) -> Result<DiagnosticOutput, Failure> {
        let attempt = ctx.job.attempts;
        match p.behaviour {
            DiagnosticBehaviour::Succeed => {}
            DiagnosticBehaviour::FailTransient => {
                if attempt as u32 <= p.fail_times {
                    return Err(Failure::transient(
                        "diagnostic_transient",
                        format!("transient failure {attempt} of {}", p.fail_times),
                    ));
                }
            }
            DiagnosticBehaviour::FailPermanent => {
                return Err(Failure::permanent(
                    "diagnostic_permanent",
                    "permanent failure as requested",
                ));
            }
            DiagnosticBehaviour::Sleep => {
                // A progress checkpoint every 50 ms at most (20 in all): a
                // short sleep is one step.
                let steps = (p.sleep_ms / 50).clamp(1, 20);
                for i in 0..steps {
                    tokio::time::sleep(Duration::from_millis(p.sleep_ms / steps)).await;
                    ctx.progress(((i + 1) * 100 / steps) as u8, Some("sleeping"))
                        .await?;
                }
            }
            DiagnosticBehaviour::Panic => panic!("diagnostic panic as requested"),
            DiagnosticBehaviour::Abort => {
                tracing::error!(job_id = %ctx.job.id, "diagnostic abort: killing this worker process");
                std::process::abort();
            }
        }
        Ok(DiagnosticOutput {
            label: p.label,
            attempt,
            worker_pid: std::process::id(),
        })
    }
}
