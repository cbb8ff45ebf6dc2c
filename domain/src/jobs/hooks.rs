//! What happens when jobs end: the one interface through which features
//! (today the `job.*` webhook events and one-off callbacks) learn of it.
//! The core calls it in the transaction that writes the terminal state, so
//! what a feature records commits (or not) with the job's end.

use futures::future::BoxFuture;
use sqlx::PgConnection;

use super::JobRecord;
use crate::error::Result;

pub trait OnJobEnd: Send + Sync + 'static {
    /// A SQL condition over a `jobs` row named `j` that selects the ended
    /// jobs [`Self::ended`] needs: finishes read back only those.
    fn filter(&self) -> &'static str;

    /// Jobs that just ended (succeeded, failed or cancelled), in the
    /// transaction that ended them.
    fn ended<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        jobs: &'a [JobRecord],
    ) -> BoxFuture<'a, Result<()>>;
}

/// No feature listens (tools and tests of the core alone).
pub struct Nothing;

impl OnJobEnd for Nothing {
    fn filter(&self) -> &'static str {
        "false"
    }

    fn ended<'a>(
        &'a self,
        _conn: &'a mut PgConnection,
        _jobs: &'a [JobRecord],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Two listeners as one: the ended jobs either selects reach both (each
/// picks what it needs from them).
pub struct Both<A, B> {
    first: A,
    second: B,
    filter: &'static str,
}

impl<A: OnJobEnd, B: OnJobEnd> Both<A, B> {
    /// Built once per process (the combined filter lives as long as it).
    pub fn new(first: A, second: B) -> Self {
        let filter: &'static str =
            Box::leak(format!("(({}) OR ({}))", first.filter(), second.filter()).into_boxed_str());
        Self {
            first,
            second,
            filter,
        }
    }
}

impl<A: OnJobEnd, B: OnJobEnd> OnJobEnd for Both<A, B> {
    fn filter(&self) -> &'static str {
        self.filter
    }

    fn ended<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        jobs: &'a [JobRecord],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.first.ended(&mut *conn, jobs).await?;
            self.second.ended(conn, jobs).await
        })
    }
}
