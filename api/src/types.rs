//! Types the route modules share: the spec's tags, pages of a list, and the
//! empty and created responses.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum Tag {
    /// Liveness, readiness and metrics.
    Ops,
    /// Login, token refresh and logout.
    Auth,
    /// Customers (tenants).
    Customers,
    /// Users, roles and customer grants.
    Users,
    /// Asynchronous jobs: poll, stream, cancel, retry.
    Jobs,
    /// Diagnostic jobs that exercise the job machinery (admin only, when enabled).
    Diagnostics,
    /// CoP portal: communities of practice and their members.
    Cops,
    /// CoP portal: events, registrations and attendance.
    Events,
    /// CoP portal: the content library and engagement with it.
    Content,
    /// CoP portal: surveys, responses and results.
    Surveys,
    /// CoP portal: use cases (success stories) and their approval.
    UseCases,
    /// CoP portal: champions recognised for a period.
    Champions,
    /// CoP portal: KPI series, on-demand rollups and values ingested from outside.
    Kpis,
    /// CoP portal: AI survey summaries and CoP advice, token usage and budgets.
    Ai,
    /// CoP portal: KPI summaries of a CoP and the portfolio of CoPs.
    Analytics,
    /// Enablement portal: courses and their lessons.
    Courses,
    /// Enablement portal: learning paths (ordered lists of courses).
    LearningPaths,
    /// Enablement portal: the caller's progress on courses and lessons.
    Progress,
    /// Enablement portal: courses and paths assigned to users.
    Assignments,
    /// Enablement portal: the content library (items with files, approval
    /// and expiry) and the metadata hierarchy that tags content and courses.
    Library,
    /// Public verification of certificates of completion.
    Certificates,
    /// Files: uploads (presigned or through the API), processing, downloads,
    /// storage usage and quotas.
    Files,
    /// Webhooks: endpoints, signed deliveries with retries, delivery logs,
    /// replay and recovery. Deliveries to one endpoint are not ordered and
    /// may run concurrently.
    Webhooks,
    /// The caller's notifications: inbox, counts, live stream, preferences;
    /// tenants' defaults; one-click unsubscribe.
    Notifications,
    /// Coaching: people and reporting lines, one-to-one sessions between
    /// team leaders and agents.
    Coaching,
    /// CoP portal: newsletters — drafted (AI or template), reviewed and
    /// approved, test-sent, sent now or later with one-click unsubscribe.
    Newsletters,
}

/// `204 No Content`.
#[derive(poem_openapi::ApiResponse)]
pub enum NoContent {
    /// Done; nothing to return.
    #[oai(status = 204)]
    Done,
}

/// A page of items and the cursor of the next page (`null` on the last page).
#[derive(poem_openapi::Object)]
pub struct Page<T: poem_openapi::types::ParseFromJSON + poem_openapi::types::ToJSON + Send + Sync> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

impl<T: poem_openapi::types::ParseFromJSON + poem_openapi::types::ToJSON + Send + Sync> Page<T> {
    pub fn from_domain<U>(
        page: launchpad_domain::pagination::Page<U>,
        f: impl FnMut(U) -> T,
    ) -> Self {
        let p = page.map(f);
        Self {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

/// `201 Created` with the new resource.
#[derive(poem_openapi::ApiResponse)]
pub enum Created<T: poem_openapi::types::ToJSON + Send + Sync> {
    /// Created.
    #[oai(status = 201)]
    Created(poem_openapi::payload::Json<T>),
}
