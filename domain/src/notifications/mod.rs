//! Notifications: what happened, told to the people it concerns, in their
//! in-app inbox, by e-mail and in a periodic digest.
//!
//! A change calls [`record`] in its own transaction: one
//! `notification_sources` row (what, and to whom — an [`Audience`] and/or
//! explicit people) and one `notify` job. The job ([`fanout`]) writes every
//! recipient's inbox row with one `INSERT … SELECT` (repeats of a group
//! collapse into the open row), queues the e-mails of those who want them
//! through the outbox, and tells listening API processes ([`CHANNEL`]).
//!
//! Who wants what is decided per person, type and [`Channel`]: the
//! person's choice, else their tenant's default, else the platform's
//! ([`NotificationType::defaults`]); [`NotificationType::mandatory`] types
//! cannot be turned off.

pub mod digest;
pub mod fanout;
pub mod inbox;
pub mod prefs;
pub mod reminders;
pub mod unsubscribe;

use sqlx::PgConnection;

use crate::{
    error::Result,
    ids::{CopId, CustomerId, UserId},
    jobs::{EnqueueCtx, JobRecord, JobStatus, NewJob, enqueue_bulk, hooks::OnJobEnd},
    kinds::{Notify, NotifyPayload},
    text_enum,
};

text_enum! {
    /// What a notification is about.
    pub enum NotificationType {
        /// A CoP scheduled an event (to the CoP's members).
        EventCreated = "event_created",
        /// A survey opened (session feedback: to the event's attendees and
        /// registrants; other surveys: to the CoP's members).
        SurveyPublished = "survey_published",
        /// A member was recognised as a champion (to them and the CoP).
        ChampionRecognized = "champion_recognized",
        /// A use case was approved (to the CoP's members).
        UseCaseShared = "use_case_shared",
        /// A CoP moved to another phase (to its exec sponsors and leads and
        /// the tenant's customer_execs).
        CopPhaseChange = "cop_phase_change",
        /// A course or path was assigned to you.
        AssignmentCreated = "assignment_created",
        /// An assignment of yours is due within 3 days.
        AssignmentDueSoon = "assignment_due_soon",
        /// An assignment of yours is past its due date.
        AssignmentOverdue = "assignment_overdue",
        /// You completed a course.
        CourseCompleted = "course_completed",
        /// A published course you are taking or were assigned gained or
        /// changed lessons (repeats collapse per course).
        CourseUpdated = "course_updated",
        /// Your certificate of a course or path was issued (the e-mail
        /// with the PDF is sent on its own, whatever this type's e-mail setting).
        CertificateIssued = "certificate_issued",
        /// A job you requested failed.
        JobFailed = "job_failed",
        /// A webhook endpoint of your tenant was disabled (to its customer_execs).
        WebhookEndpointDisabled = "webhook_endpoint_disabled",
        /// A CoP's newsletter is ready for review (to the CoP's exec
        /// sponsors and leads).
        NewsletterReady = "newsletter_ready",
        /// A CoP's newsletter finished sending (to the CoP's exec sponsors
        /// and leads).
        NewsletterSent = "newsletter_sent",
        /// The CoPs' newsletters themselves: only the `email` channel
        /// applies (off: no newsletter of any CoP; one CoP's newsletter is
        /// left through its unsubscribe link).
        Newsletter = "newsletter",
    }
}

text_enum! {
    /// How a notification reaches a person.
    pub enum Channel {
        /// The inbox (`GET /me/notifications`) and its live stream.
        InApp = "in_app",
        /// An e-mail at once.
        Email = "email",
        /// The periodic digest e-mail (notifications not e-mailed at once).
        Digest = "digest",
    }
}

text_enum! {
    /// A set of people named by one id.
    pub enum Audience {
        /// Every member of the CoP (`audience_id`).
        CopMembers = "cop_members",
        /// The CoP's exec sponsors and leads, and the tenant's customer_execs.
        CopExecs = "cop_execs",
        /// Registrants and attendees of the event (`audience_id`).
        EventAttendees = "event_attendees",
        /// The customer_execs of the customer (`audience_id`).
        CustomerExecs = "customer_execs",
        /// The learners of the course (`audience_id`): anyone with progress
        /// in it or an assignment of it, directly or through a path.
        CourseLearners = "course_learners",
    }
}

/// Whether each channel is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Channels {
    pub in_app: bool,
    pub email: bool,
    pub digest: bool,
}

impl Channels {
    pub fn get(&self, c: Channel) -> bool {
        match c {
            Channel::InApp => self.in_app,
            Channel::Email => self.email,
            Channel::Digest => self.digest,
        }
    }

    pub fn set(&mut self, c: Channel, on: bool) {
        match c {
            Channel::InApp => self.in_app = on,
            Channel::Email => self.email = on,
            Channel::Digest => self.digest = on,
        }
    }
}

const ALL_ON: Channels = Channels {
    in_app: true,
    email: true,
    digest: true,
};
const QUIET: Channels = Channels {
    in_app: true,
    email: false,
    digest: true,
};

impl NotificationType {
    /// The platform's defaults (a tenant may override them, a person too).
    pub const fn defaults(self) -> Channels {
        match self {
            // Broadcasts to whole communities: in the inbox and the digest.
            Self::EventCreated
            | Self::UseCaseShared
            | Self::CourseCompleted
            | Self::CourseUpdated => QUIET,
            // The learner gets the certificate's own e-mail (with the PDF).
            Self::CertificateIssued => QUIET,
            Self::SurveyPublished
            | Self::ChampionRecognized
            | Self::CopPhaseChange
            | Self::AssignmentCreated
            | Self::AssignmentDueSoon
            | Self::AssignmentOverdue
            | Self::JobFailed
            | Self::WebhookEndpointDisabled
            | Self::NewsletterReady
            | Self::NewsletterSent
            | Self::Newsletter => ALL_ON,
        }
    }

    /// Channels nobody can turn off for this type.
    pub fn mandatory(self) -> &'static [Channel] {
        match self {
            // The tenant's integration stopped: its execs must hear of it.
            Self::WebhookEndpointDisabled => &[Channel::InApp, Channel::Email],
            _ => &[],
        }
    }

    pub fn is_mandatory(self, c: Channel) -> bool {
        self.mandatory().contains(&c)
    }
}

/// The LISTEN/NOTIFY channel of inbox changes. Payloads carry ids only:
/// `s:<source id>` (a fan-out wrote rows) or `u:<user id>,…` (people's
/// rows changed state: read, seen, archived).
pub const CHANNEL: &str = "launchpad_notifications";

/// A notification to record.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub customer_id: Option<CustomerId>,
    pub notification_type: NotificationType,
    /// One line (at most 300 characters; longer is cut).
    pub title: String,
    /// Plain text.
    pub body: String,
    /// The API path of what it is about (`/api/v1/events/{id}`).
    pub link_path: Option<String>,
    /// Repeats with the same key collapse into one open inbox row per
    /// person (default: this notification alone).
    pub group_key: Option<String>,
    /// The collapsed row's title, with `{count}`.
    pub group_title: Option<String>,
    pub audience: Option<(Audience, uuid::Uuid)>,
    pub users: Vec<UserId>,
    /// Who caused it: never notified of their own change.
    pub actor: Option<UserId>,
}

impl NewNotification {
    pub fn new(
        customer_id: Option<CustomerId>,
        notification_type: NotificationType,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            customer_id,
            notification_type,
            title: title.into(),
            body: body.into(),
            link_path: None,
            group_key: None,
            group_title: None,
            audience: None,
            users: vec![],
            actor: None,
        }
    }

    pub fn link(mut self, path: impl Into<String>) -> Self {
        self.link_path = Some(path.into());
        self
    }

    pub fn group(mut self, key: impl Into<String>, title_with_count: impl Into<String>) -> Self {
        self.group_key = Some(key.into());
        self.group_title = Some(title_with_count.into());
        self
    }

    pub fn to(mut self, audience: Audience, id: uuid::Uuid) -> Self {
        self.audience = Some((audience, id));
        self
    }

    pub fn to_users(mut self, users: impl IntoIterator<Item = UserId>) -> Self {
        self.users.extend(users);
        self
    }

    pub fn by(mut self, actor: UserId) -> Self {
        self.actor = Some(actor);
        self
    }
}

/// Records a notification in the caller's transaction (it commits or rolls
/// back with the change) and enqueues its `notify` fan-out.
pub async fn record(conn: &mut PgConnection, n: NewNotification) -> Result<uuid::Uuid> {
    Ok(record_many(conn, vec![n]).await?.pop().unwrap_or_default())
}

/// [`record`] for many notifications: one statement for the sources, one
/// for their jobs.
pub async fn record_many(
    conn: &mut PgConnection,
    ns: Vec<NewNotification>,
) -> Result<Vec<uuid::Uuid>> {
    if ns.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<uuid::Uuid> = ns.iter().map(|_| uuid::Uuid::now_v7()).collect();
    let customers: Vec<Option<uuid::Uuid>> =
        ns.iter().map(|n| n.customer_id.map(|c| c.0)).collect();
    let types: Vec<&str> = ns.iter().map(|n| n.notification_type.as_str()).collect();
    let titles: Vec<String> = ns.iter().map(|n| one_line(&n.title, 300)).collect();
    let bodies: Vec<String> = ns.iter().map(|n| clip(&n.body, 5000)).collect();
    let links: Vec<Option<&str>> = ns.iter().map(|n| n.link_path.as_deref()).collect();
    let group_keys: Vec<String> = ns
        .iter()
        .zip(&ids)
        .map(|(n, id)| {
            n.group_key
                .as_ref()
                .map(|k| clip(&format!("{}:{k}", n.notification_type.as_str()), 300))
                .unwrap_or_else(|| format!("{}:{id}", n.notification_type.as_str()))
        })
        .collect();
    let group_titles: Vec<Option<String>> = ns
        .iter()
        .map(|n| n.group_title.as_deref().map(|t| one_line(t, 280)))
        .collect();
    let audiences: Vec<Option<&str>> = ns
        .iter()
        .map(|n| n.audience.map(|(a, _)| a.as_str()))
        .collect();
    let audience_ids: Vec<Option<uuid::Uuid>> =
        ns.iter().map(|n| n.audience.map(|(_, id)| id)).collect();
    // Arrays of arrays must be rectangular: explicit people go as text.
    let users: Vec<String> = ns
        .iter()
        .map(|n| {
            let list: Vec<String> = n.users.iter().map(|u| u.to_string()).collect();
            format!("{{{}}}", list.join(","))
        })
        .collect();
    let actors: Vec<Option<uuid::Uuid>> = ns.iter().map(|n| n.actor.map(|a| a.0)).collect();
    sqlx::query(
        "INSERT INTO notification_sources (id, customer_id, type, title, body, link_path, group_key,
             group_title, audience, audience_id, user_ids, actor_id)
         SELECT id, customer_id, type, title, body, link_path, group_key, group_title, audience,
             audience_id, users::uuid[], actor_id
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
             $8::text[], $9::text[], $10::uuid[], $11::text[], $12::uuid[])
             AS s(id, customer_id, type, title, body, link_path, group_key, group_title, audience,
                  audience_id, users, actor_id)",
    )
    .bind(&ids)
    .bind(&customers)
    .bind(&types)
    .bind(&titles)
    .bind(&bodies)
    .bind(&links)
    .bind(&group_keys)
    .bind(&group_titles)
    .bind(&audiences)
    .bind(&audience_ids)
    .bind(&users)
    .bind(&actors)
    .execute(&mut *conn)
    .await?;
    let jobs = ns
        .iter()
        .zip(&ids)
        .map(|(n, id)| {
            NewJob::of::<Notify>(
                &NotifyPayload { source_id: *id },
                &EnqueueCtx {
                    customer_id: n.customer_id,
                    requested_by: n.actor,
                    callback_url: None,
                },
            )
        })
        .collect();
    enqueue_bulk(conn, jobs).await?;
    Ok(ids)
}

/// Kinds whose failures nobody is told of in the inbox: the platform's own
/// plumbing (its failures show in the jobs list and metrics).
const SILENT_KINDS: &[&str] = &[
    "notify",
    "notify_digest",
    "assignment_reminders",
    "email_send",
    "webhook_deliver",
    "prune_jobs",
];

/// The failed jobs [`JobFailed`] tells of (the same kinds left out).
const JOB_FAILED_FILTER: &str = "(j.status = 'failed' AND j.requested_by IS NOT NULL AND j.kind NOT IN \
     ('notify', 'notify_digest', 'assignment_reminders', 'email_send', 'webhook_deliver', 'prune_jobs'))";

/// How the job core tells of failed jobs: a `job_failed` notification to
/// whoever requested each (plugged in next to the webhooks' `JobEvents`
/// through [`crate::jobs::hooks::Both`]).
pub struct JobFailed;

impl OnJobEnd for JobFailed {
    fn filter(&self) -> &'static str {
        JOB_FAILED_FILTER
    }

    fn ended<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        jobs: &'a [JobRecord],
    ) -> futures::future::BoxFuture<'a, Result<()>> {
        Box::pin(record_job_failures(conn, jobs))
    }
}

/// The `job_failed` notifications of jobs that just ended, in the
/// transaction that ended them.
pub async fn record_job_failures(conn: &mut PgConnection, jobs: &[JobRecord]) -> Result<()> {
    let ns: Vec<NewNotification> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Failed && !SILENT_KINDS.contains(&j.kind.as_str()))
        .filter_map(|j| {
            let requester = j.requested_by?;
            let why = j
                .error
                .as_ref()
                .map(|e| format!("{} ({})", e.message, e.code))
                .unwrap_or_else(|| "no error was recorded".into());
            let subject = j
                .subject
                .as_deref()
                .map(|s| format!(" about {s}"))
                .unwrap_or_default();
            Some(
                NewNotification::new(
                    j.customer_id,
                    NotificationType::JobFailed,
                    format!("Job failed: {}{subject}", j.kind),
                    format!(
                        "The {} job {} you requested failed after {} attempt(s): {why}",
                        j.kind, j.id, j.attempts
                    ),
                )
                .link(format!("/api/v1/jobs/{}", j.id))
                .group(
                    format!("{}:{}", j.kind, requester),
                    format!("{{count}} {} jobs failed", j.kind),
                )
                .to_users([requester]),
            )
        })
        .collect();
    record_many(conn, ns).await?;
    Ok(())
}

/// `LAUNCHPAD_PUBLIC_URL` when unset.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// Where the API is reachable from outside (`LAUNCHPAD_PUBLIC_URL`, an
/// http(s) URL without query): links in e-mails are made from it.
pub fn public_url_from_env() -> std::result::Result<String, crate::config::ConfigError> {
    Ok(crate::config::base_url("LAUNCHPAD_PUBLIC_URL")?
        .unwrap_or_else(|| DEFAULT_PUBLIC_URL.into()))
}

/// A CoP's name (for titles), empty when it is gone.
pub async fn cop_name(conn: &mut PgConnection, cop: CopId) -> Result<String> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT name FROM cops WHERE id = $1")
            .bind(cop)
            .fetch_optional(conn)
            .await?
            .unwrap_or_default(),
    )
}

/// Tells listening API processes that these people's inboxes changed.
pub async fn notify_users(conn: &mut PgConnection, users: &[UserId]) -> Result<()> {
    let mut chunk = String::from("u:");
    for u in users {
        if chunk.len() + 37 > 7900 {
            send(conn, &chunk).await?;
            chunk.truncate(2);
        }
        if chunk.len() > 2 {
            chunk.push(',');
        }
        chunk.push_str(&u.to_string());
    }
    if chunk.len() > 2 {
        send(conn, &chunk).await?;
    }
    Ok(())
}

async fn send(conn: &mut PgConnection, payload: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

/// One line of at most `max` characters (control characters become spaces).
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let t = crate::email::header_text(s, max);
    if t.is_empty() { "(untitled)".into() } else { t }
}

pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mandatory_channels_are_on_by_default() {
        for t in NotificationType::ALL {
            for c in t.mandatory() {
                assert!(t.defaults().get(*c), "{} {}", t.as_str(), c.as_str());
            }
        }
    }

    #[test]
    fn the_failure_filter_names_the_silent_kinds() {
        for k in SILENT_KINDS {
            assert!(JOB_FAILED_FILTER.contains(&format!("'{k}'")), "{k}");
        }
    }

    #[test]
    fn titles_are_one_line() {
        assert_eq!(one_line("a\r\nb", 300), "a b");
        assert_eq!(one_line("  ", 300), "(untitled)");
        assert_eq!(clip("abcdef", 3), "abc");
    }
}
