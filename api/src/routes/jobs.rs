//! Jobs: poll, list, stream, cancel and retry; and the shared 202 response
//! of every job-creating endpoint.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{future::BoxFuture, stream::BoxStream};
use launchpad_domain::{
    Error as DomainError,
    idempotency::StoredResponse,
    ids::{CustomerId, JobId},
    jobs::hooks::Both,
    jobs::{JobFilter, JobRecord, JobStatus, NewJob, enqueue_one, repo},
    kinds,
    newsletters::draft::DraftEnded,
    tenancy::{Caller, Scope},
    webhooks::events::JobEvents,
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::Path,
    payload::{EventStream, Json},
    types::Example,
};
use sqlx::PgConnection;

pub use launchpad_domain::jobs::view::{JobErrorView, JobView};

use crate::types::{Page, Tag};
use crate::{
    idempotency::{self, Begin},
    problem::{ApiError, ApiResult},
    security::{BearerAuth, until_token_expires},
    state::{AppState, SharedState},
};

/// What a cancellation made here tells: the `job.cancelled` event, and a
/// cancelled newsletter draft leaves its newsletter `failed`.
static ON_CANCEL: std::sync::LazyLock<Both<JobEvents, DraftEnded>> =
    std::sync::LazyLock::new(|| Both::new(JobEvents, DraftEnded));

crate::list_query! {
    /// The query of `GET /api/v1/jobs`.
    pub struct JobsQuery {
        /// Only jobs of this kind.
        kind: Option<String>,
        /// Only jobs in this status.
        status: Option<JobStatus>,
        /// Only jobs about this subject (e.g. a survey id).
        subject: Option<String>,
        /// Created at or after (RFC 3339).
        created_from: Option<String>,
        /// Created before (RFC 3339).
        created_to: Option<String>,
    }
}

pub struct JobsApi;

/// The answer of every endpoint that starts asynchronous work.
#[derive(ApiResponse)]
pub enum JobAccepted {
    /// Accepted: poll `Location` (or stream `Location/events`) until the job finishes.
    #[oai(status = 202)]
    Accepted(
        Json<JobView>,
        /// `/api/v1/jobs/{id}`.
        #[oai(header = "Location")]
        String,
        /// Seconds to wait before polling.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

/// The body of a job-creating request that has no other fields; it may be
/// omitted.
#[derive(poem_openapi::Object, serde::Deserialize, Default)]
#[oai(example)]
pub struct JobOptions {
    /// Receives this job's terminal event (`job.succeeded`, `job.failed` or
    /// `job.cancelled`) once, signed with the callback secret of the job's
    /// customer. Same rules as webhook endpoints (https, public addresses).
    #[oai(validator(max_length = 2048))]
    pub callback_url: Option<String>,
}

impl Example for JobOptions {
    fn example() -> Self {
        Self {
            callback_url: Some("https://hooks.acme.example/launchpad/jobs".into()),
        }
    }
}

/// Checks a request's `callback_url` under the webhook target rules (a 400
/// naming `/callback_url` otherwise); returns it normalised.
pub async fn check_callback(state: &AppState, url: Option<&str>) -> ApiResult<Option<String>> {
    match url {
        Some(u) => Ok(Some(
            super::webhooks::check_target(state, "/callback_url", u).await?,
        )),
        None => Ok(None),
    }
}

pub fn job_location(id: JobId) -> String {
    format!("/api/v1/jobs/{id}")
}

/// A job-creating request, as [`accept_job`] and [`accept_new_job`] need it.
pub struct JobRequest<'a> {
    pub caller: &'a Caller,
    /// The tenant it acts on (scopes its `Idempotency-Key`).
    pub tenant: Option<CustomerId>,
    pub idempotency_key: Option<&'a str>,
    /// The path and body that fingerprint it for the idempotency key.
    pub path: &'a str,
    pub body: &'a serde_json::Value,
}

/// Runs `work` (which enqueues a job in the given transaction, together with
/// any domain write) under the request's `Idempotency-Key`, and answers 202.
pub async fn accept_job<F>(
    state: &AppState,
    req: &JobRequest<'_>,
    work: F,
) -> ApiResult<JobAccepted>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<JobRecord, DomainError>>
        + Send
        + 'static,
{
    let guard = match idempotency::begin(
        &state.db,
        req.caller,
        req.tenant.map(|t| t.to_string()),
        req.idempotency_key,
        "POST",
        req.path,
        req.body,
    )
    .await?
    {
        Begin::Replay(r) => return replay(r),
        Begin::Fresh(g) => g,
    };
    // The transaction shares its commit with concurrent requests' (see
    // `launchpad_domain::group_commit`); workers are woken after it.
    let (view, location, guard) = state
        .commits
        .run(move |conn| {
            Box::pin(async move {
                let mut guard = guard;
                let job = work(&mut *conn).await?;
                let view = JobView::from(job);
                let location = job_location(view.id);
                guard
                    .complete(conn, || StoredResponse {
                        status: 202,
                        body: poem_openapi::types::ToJSON::to_json(&view).unwrap_or_default(),
                        location: Some(location.clone()),
                    })
                    .await?;
                Ok((view, location, guard))
            })
        })
        .await?;
    guard.committed();
    Ok(JobAccepted::Accepted(Json(view), location, 1))
}

/// [`accept_job`] for a request whose whole transaction is enqueueing
/// `job`: without an `Idempotency-Key` (nothing else to write with it), the
/// job joins the other enqueues of its commit batch in one statement
/// ([`GroupCommit::enqueue`](launchpad_domain::group_commit::GroupCommit::enqueue)).
pub async fn accept_new_job(
    state: &AppState,
    req: &JobRequest<'_>,
    job: NewJob,
) -> ApiResult<JobAccepted> {
    if req.idempotency_key.is_some() {
        return accept_job(state, req, move |conn| {
            Box::pin(async move { enqueue_one(conn, job).await })
        })
        .await;
    }
    let job = state
        .commits
        .enqueue(vec![job])
        .await?
        .pop()
        .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("enqueue returned no job")))?;
    let view = JobView::from(job);
    let location = job_location(view.id);
    Ok(JobAccepted::Accepted(Json(view), location, 1))
}

fn replay(r: StoredResponse) -> ApiResult<JobAccepted> {
    let view: JobView =
        poem_openapi::types::ParseFromJSON::parse_from_json(Some(r.body)).map_err(|e| {
            DomainError::Internal(anyhow::anyhow!(
                "stored idempotent response: {}",
                e.into_message()
            ))
        })?;
    let location = r.location.unwrap_or_else(|| job_location(view.id));
    Ok(JobAccepted::Accepted(Json(view), location, 1))
}

fn parse_time(name: &str, v: Option<String>) -> ApiResult<Option<DateTime<Utc>>> {
    v.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::bad_request(
                    &format!("/{name}"),
                    "must be an RFC 3339 date-time, e.g. 2026-01-31T00:00:00Z",
                )
            })
    })
    .transpose()
}

#[OpenApi(tag = "Tag::Jobs")]
impl JobsApi {
    /// Gets a job: its status, progress, attempts, result or error.
    #[oai(path = "/api/v1/jobs/:id", method = "get", operation_id = "jobs_get")]
    async fn get(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<JobId>,
    ) -> ApiResult<Json<JobView>> {
        Ok(Json(
            repo::get(&state.db, &auth.0.scope(), id.0).await?.into(),
        ))
    }

    /// Lists jobs, newest first.
    #[oai(path = "/api/v1/jobs", method = "get", operation_id = "jobs_list")]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        query: JobsQuery,
    ) -> ApiResult<Json<Page<JobView>>> {
        if let Some(k) = &query.kind
            && kinds::find(k).is_none()
        {
            let known: Vec<_> = kinds::ALL.iter().map(|k| k.name).collect();
            return Err(ApiError::bad_request(
                "/kind",
                format!("unknown job kind; one of: {}", known.join(", ")),
            ));
        }
        let filter = JobFilter {
            kind: query.kind,
            status: query.status,
            subject: query.subject,
            created_from: parse_time("created_from", query.created_from)?,
            created_to: parse_time("created_to", query.created_to)?,
        };
        let page = repo::list(&state.db, &auth.0.scope(), &filter, &query.page).await?;
        Ok(Json(Page::from_domain(page, JobView::from)))
    }

    /// Streams the job's state (server-sent events): one event with the
    /// current state at once, then one per change; the stream ends after a
    /// terminal state (succeeded, failed, cancelled).
    #[oai(
        path = "/api/v1/jobs/:id/events",
        method = "get",
        operation_id = "jobs_events"
    )]
    async fn events(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        req: &poem::Request,
        id: Path<JobId>,
    ) -> ApiResult<EventStream<BoxStream<'static, JobView>>> {
        let scope = auth.0.scope();
        // Subscribe before reading the first state so no change is missed.
        let rx = state.job_events.subscribe();
        let first: JobView = repo::get(&state.db, &scope, id.0).await?.into();
        let db = state.db.clone();
        let id = id.0;
        struct St {
            rx: tokio::sync::broadcast::Receiver<JobId>,
            first: Option<JobView>,
            last: Option<JobView>,
        }
        let st = St {
            rx,
            first: Some(first),
            last: None,
        };
        let stream = futures::stream::unfold(st, move |mut st| {
            let db = db.clone();
            let scope = scope.clone();
            async move {
                if let Some(first) = st.first.take() {
                    st.last = Some(first.clone());
                    return Some((first, st));
                }
                let last = st.last.take()?;
                let next = next_change(&db, &scope, id, &mut st.rx, last).await?;
                st.last = Some(next.clone());
                Some((next, st))
            }
        });
        let stream = until_token_expires(req, stream);
        Ok(EventStream::new(stream).keep_alive(Duration::from_secs(15)))
    }

    /// Cancels a job. A queued (or waiting) job is cancelled at once and
    /// never runs; a running job is asked to stop at its next checkpoint.
    /// A finished job answers 409.
    #[oai(
        path = "/api/v1/jobs/:id/cancel",
        method = "post",
        operation_id = "jobs_cancel"
    )]
    async fn cancel(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<JobId>,
    ) -> ApiResult<Json<JobView>> {
        Ok(Json(
            repo::cancel(&state.db, &*ON_CANCEL, &auth.0.scope(), id.0)
                .await?
                .into(),
        ))
    }

    /// Runs a failed or cancelled job again with a fresh attempt budget;
    /// other states answer 409.
    #[oai(
        path = "/api/v1/jobs/:id/retry",
        method = "post",
        operation_id = "jobs_retry"
    )]
    async fn retry(
        &self,
        state: Data<&SharedState>,
        auth: BearerAuth,
        id: Path<JobId>,
    ) -> ApiResult<JobAccepted> {
        let job: JobView = repo::retry(&state.db, &auth.0.scope(), id.0).await?.into();
        let location = job_location(job.id);
        Ok(JobAccepted::Accepted(Json(job), location, 1))
    }
}

/// Waits for the next observable change of the job after `last`.
/// `None` ends the stream (terminal state already sent, or the job vanished).
async fn next_change(
    db: &sqlx::PgPool,
    scope: &Scope,
    id: JobId,
    rx: &mut tokio::sync::broadcast::Receiver<JobId>,
    last: JobView,
) -> Option<JobView> {
    if last.status.is_terminal() {
        return None;
    }
    loop {
        // Wake on a notification for this job, or poll every second as a fallback.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                match rx.recv().await {
                    Ok(j) if j == id => break,
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        })
        .await;
        match repo::get(db, scope, id).await {
            Ok(j) => {
                let v = JobView::from(j);
                if v != last {
                    return Some(v);
                }
            }
            Err(DomainError::NotFound { .. }) => return None,
            Err(_) => continue,
        }
    }
}
