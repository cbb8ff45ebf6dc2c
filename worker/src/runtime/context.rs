//! What a handler gets: its job, the database, shared services, and
//! progress/cancellation checkpoints.

use std::sync::Arc;

use launchpad_domain::jobs::{Failure, JobRecord, run};
use sqlx::PgPool;

use super::Services;

pub struct JobContext {
    pub job: JobRecord,
    pub db: PgPool,
    pub services: Arc<Services>,
}

impl JobContext {
    /// Records progress (0–100) and a message; fails with
    /// [`Failure::Cancelled`] when the job was asked to stop.
    pub async fn progress(&self, pct: u8, message: impl Into<Option<&str>>) -> Result<(), Failure> {
        let mut conn = self.db.acquire().await?;
        if run::progress(&mut conn, self.job.id, pct, message.into()).await? {
            return Err(Failure::Cancelled);
        }
        Ok(())
    }

    /// A cancellation checkpoint without a progress update.
    pub async fn checkpoint(&self) -> Result<(), Failure> {
        let mut conn = self.db.acquire().await?;
        if run::cancel_requested(&mut conn, self.job.id).await? {
            return Err(Failure::Cancelled);
        }
        Ok(())
    }
}
