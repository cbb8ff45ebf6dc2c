//! Limits of outside services (the SMTP relay's rate, the AI provider's
//! requests and tokens per minute) divided among the worker processes that
//! use them.

use std::time::Duration;

/// Every `every` until `stop`, counts the worker processes running `kind`
/// (this one, named `own_process`, and the others
/// heard from within `alive_within`) and hands the count to `share`: how
/// a limit of an outside service (the SMTP relay, the AI provider) is
/// divided among the processes that use it.
pub async fn among_processes(
    db: sqlx::PgPool,
    kind: &'static str,
    own_process: String,
    every: Duration,
    alive_within: Duration,
    stop: tokio_util::sync::CancellationToken,
    share: impl Fn(u32) + Send,
) {
    use launchpad_domain::jobs::transport;
    loop {
        let counted = async {
            let mut conn = db.acquire().await?;
            transport::processes_running(&mut conn, kind, &own_process, alive_within).await
        };
        match counted.await {
            Ok(n) => share(n),
            Err(e) => tracing::warn!(error = %e, kind, "could not count the worker processes"),
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
