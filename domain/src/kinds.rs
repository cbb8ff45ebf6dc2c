//! Every job kind, declared in one place: [`for_each_job_kind!`] is the one
//! list of kinds. [`ALL`] (the API validates `kind` filters against it) and
//! the worker's registrations (`launchpad_worker::jobs::register_all`, where
//! a kind without a handler fails the build) both come from it.
//!
//! Adding a kind: declare it below (name, payload, output, policies), add it
//! to the list, and implement the worker's `Handler` for it.
//!
//! This module sits outside the job core (`crate::jobs`), which knows no
//! feature: the kinds name the features' payload and result types.

use crate::text_enum;
use std::time::Duration;

use chrono::NaiveDate;

use crate::{
    ai::types::{CopAdvice, SurveySummary},
    coaching::CoachingSessionId,
    files::FileId,
    ids::{CertificateId, CopId, CourseId, CustomerId, EventId, PathId, SurveyId, UserId},
    jobs::{Concurrency, JobKind, RetryPolicy},
    newsletters::{NewsletterId, NewsletterStatus},
    webhooks::DeliveryId,
};

/// Calls `$callback! { Kind, Kind, ... }` with every declared job kind.
#[macro_export]
macro_rules! for_each_job_kind {
    ($callback:ident) => {
        $callback! {
            PruneJobs,
            Diagnostic,
            WebhookDeliver,
            EventInvites,
            EmailSend,
            AiSurveySummary,
            AiCopAdvice,
            KpiRollup,
            FileProcess,
            FileDelete,
            FilesCleanup,
            ContentExpire,
            Notify,
            NotifyDigest,
            AssignmentReminders,
            CoachingInvites,
            NewsletterDraft,
            NewsletterSend,
            NewsletterProgress,
            CertificateIssue,
        }
    };
}

/// Static facts about a kind, for listing and validation.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub name: &'static str,
    pub max_attempts: u32,
    pub timeout: Duration,
    pub priority: i32,
    /// [`JobKind::JOB_EVENTS`].
    pub job_events: bool,
}

impl KindInfo {
    pub const fn of<K: JobKind>() -> Self {
        Self {
            name: K::NAME,
            max_attempts: K::MAX_ATTEMPTS,
            timeout: K::TIMEOUT,
            priority: K::PRIORITY,
            job_events: K::JOB_EVENTS,
        }
    }
}

macro_rules! kind_infos {
    ($($kind:ident),* $(,)?) => {
        &[$(KindInfo::of::<$kind>()),*]
    };
}

/// All kinds known to the platform.
pub const ALL: &[KindInfo] = for_each_job_kind!(kind_infos);

pub fn find(name: &str) -> Option<&'static KindInfo> {
    ALL.iter().find(|k| k.name == name)
}

/// The kinds whose jobs emit no `job.*` events ([`JobKind::JOB_EVENTS`]).
pub fn without_job_events() -> impl Iterator<Item = &'static str> {
    ALL.iter().filter(|k| !k.job_events).map(|k| k.name)
}

// ---------------------------------------------------------------------------
// Maintenance

/// Deletes finished job records (and other finished records: webhook
/// messages, e-mails, idempotency keys, cached AI results) past the
/// retention period.
pub struct PruneJobs;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PruneJobsPayload {
    /// Retention in days (records finished longer ago are deleted).
    pub retention_days: u32,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PruneJobsOutput {
    pub jobs_deleted: u64,
    /// Webhook messages (with their deliveries and attempts).
    #[serde(default)]
    pub webhook_messages_deleted: u64,
    /// Finished e-mail outbox rows.
    #[serde(default)]
    pub email_messages_deleted: u64,
}

impl JobKind for PruneJobs {
    const NAME: &'static str = "prune_jobs";
    type Payload = PruneJobsPayload;
    type Output = PruneJobsOutput;
    const MAX_ATTEMPTS: u32 = 3;
    const TIMEOUT: Duration = Duration::from_secs(600);
}

// ---------------------------------------------------------------------------
// Diagnostics: a kind whose behaviour is chosen by its payload, used by the
// end-to-end tests and the benchmarks to exercise the job machinery itself
// (success, transient and permanent failure, slowness, panics, crashes).
// Workers register it only with LAUNCHPAD_DIAGNOSTIC_JOBS=true.

pub struct Diagnostic;

text_enum! {
    /// What a diagnostic job does when it runs.
    pub enum DiagnosticBehaviour {
        /// Succeeds at once.
        Succeed = "succeed",
        /// Fails transiently on the first `fail_times` attempts, then succeeds.
        FailTransient = "fail_transient",
        /// Fails permanently.
        FailPermanent = "fail_permanent",
        /// Sleeps `sleep_ms`, reporting progress and honouring cancellation.
        Sleep = "sleep",
        /// Panics.
        Panic = "panic",
        /// Kills its worker process (a poison job).
        Abort = "abort",
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DiagnosticPayload {
    pub behaviour: DiagnosticBehaviour,
    #[serde(default)]
    pub fail_times: u32,
    #[serde(default)]
    pub sleep_ms: u64,
    /// Echoed in the result.
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DiagnosticOutput {
    pub label: Option<String>,
    pub attempt: i32,
    /// Process id of the worker that ran the attempt.
    pub worker_pid: u32,
}

impl JobKind for Diagnostic {
    const NAME: &'static str = "diagnostic";
    const DIAGNOSTIC: bool = true;
    type Payload = DiagnosticPayload;
    type Output = DiagnosticOutput;
    const MAX_ATTEMPTS: u32 = 3;
    const TIMEOUT: Duration = Duration::from_secs(30);
    const RETRY: RetryPolicy = RetryPolicy::Exponential {
        base: Duration::from_secs(1),
        max: Duration::from_secs(30),
        jitter: 0.1,
    };

    fn subject(p: &Self::Payload) -> Option<String> {
        p.label.clone()
    }
}

// ---------------------------------------------------------------------------
// Webhooks

/// Sends one webhook delivery (a message to an endpoint or a job's callback
/// URL), retrying on the Standard Webhooks-style schedule. Its jobs never
/// emit `job.*` webhooks themselves.
pub struct WebhookDeliver;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WebhookDeliverPayload {
    pub delivery_id: DeliveryId,
}

/// How the delivery ended (failed attempts that will be retried are errors).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookDeliverOutcome {
    /// The target answered 2xx.
    Delivered,
    /// Nothing to send: the delivery is gone (endpoint deleted) or already finished.
    Skipped,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WebhookDeliverOutput {
    pub outcome: WebhookDeliverOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
}

/// Retry delays after attempts 1..7: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
/// (±10 % jitter, see [`RetryPolicy::Schedule`]).
pub const WEBHOOK_RETRY_SCHEDULE: &[Duration] = &[
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

impl JobKind for WebhookDeliver {
    const NAME: &'static str = "webhook_deliver";
    type Payload = WebhookDeliverPayload;
    type Output = WebhookDeliverOutput;
    /// When one ends without delivering, its delivery is closed instead.
    const JOB_EVENTS: bool = false;
    /// The first try and 7 retries.
    const MAX_ATTEMPTS: u32 = 8;
    /// Longer than the HTTP timeout (15 s) plus the bookkeeping around it.
    const TIMEOUT: Duration = Duration::from_secs(60);
    const RETRY: RetryPolicy = RetryPolicy::Schedule(WEBHOOK_RETRY_SCHEDULE);

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.delivery_id.to_string())
    }
}

// ---------------------------------------------------------------------------
// E-mail and calendar invitations

/// Sends one outbox row (`email_outbox`) over SMTP. Transient SMTP failures
/// (4xx, connection) retry on this schedule; permanent ones (5xx) fail the
/// row at once.
pub struct EmailSend;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EmailSendPayload {
    pub outbox_id: uuid::Uuid,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EmailSendOutput {
    pub outbox_id: uuid::Uuid,
    /// The row's status after this run: `sent`, `failed`, `suppressed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The server's reply, or why nothing was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Retry delays of `email_send` (SMTP greylisting and outages): about four
/// hours in all before the row is given up.
const EMAIL_RETRY: &[Duration] = &[
    Duration::from_secs(5),
    Duration::from_secs(15),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(60 * 60),
];

impl JobKind for EmailSend {
    const NAME: &'static str = "email_send";
    type Payload = EmailSendPayload;
    type Output = EmailSendOutput;
    const MAX_ATTEMPTS: u32 = 10;
    /// Also bounds a claim: the row's lease is this plus a margin.
    const TIMEOUT: Duration = Duration::from_secs(60);
    const RETRY: RetryPolicy = RetryPolicy::Schedule(EMAIL_RETRY);
    /// A send mostly waits (the relay's rate limit, a pooled SMTP
    /// connection, the server's replies, its commits): on a slow 2-core
    /// machine one worker process reached 378 messages/s of a 500/s relay
    /// rate with 64 sends in flight, 451/s with 128 and the rate itself
    /// with eight times the default 32.
    const CONCURRENCY: Concurrency = Concurrency::Times(8);

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.outbox_id.to_string())
    }
}

text_enum! {
    /// Why an event's invitations are (re)sent.
    pub enum InviteReason {
        /// A person registered (with `user_id`).
        Registered = "registered",
        /// A person's registration was removed (with `user_id`): they get a CANCEL.
        Unregistered = "unregistered",
        /// The event's time or place changed: an update to every registrant.
        Updated = "updated",
        /// The event was cancelled: a CANCEL to every registrant.
        Cancelled = "cancelled",
        /// Asked for through `POST /events/{id}/invites`.
        Resend = "resend",
    }
}

/// Fan-out of an event's calendar messages: loads the registrants (or the
/// one person of `user_id`) and writes one outbox row and one `email_send`
/// job per recipient, in one transaction. What is sent follows the event's
/// state when the job runs (a cancelled event gets CANCELs, a person no
/// longer registered gets a CANCEL), so coalesced or late jobs stay right.
pub struct EventInvites;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EventInvitesPayload {
    pub event_id: EventId,
    pub reason: InviteReason,
    /// Only this person (registration and unregistration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct EventInvitesOutput {
    /// `REQUEST` or `CANCEL` (absent when nothing was written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Messages written and queued for sending.
    pub queued: u32,
    /// Messages written but not sent (suppressed or unusable address).
    pub suppressed: u32,
    /// Messages an earlier run of this job already wrote.
    pub already_written: u32,
    /// Why nothing was written (the event is gone, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl JobKind for EventInvites {
    const NAME: &'static str = "event_invites";
    type Payload = EventInvitesPayload;
    type Output = EventInvitesOutput;
    const MAX_ATTEMPTS: u32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(300);

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.event_id.to_string())
    }
}

// ---------------------------------------------------------------------------
// AI (see `crate::ai`)

/// Provider outages and rate limits: retried with backoff (a provider's
/// `Retry-After` overrides it), then `failed` with the last error.
const AI_RETRY: RetryPolicy = RetryPolicy::Schedule(&[
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(120),
]);

/// Summarises a survey's free-text answers: what works, what to improve,
/// top actions, sentiment. Result: [`SurveySummary`].
pub struct AiSurveySummary;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AiSurveySummaryPayload {
    pub survey_id: SurveyId,
    /// Skip the cache (a fresh summary even if the answers did not change).
    #[serde(default)]
    pub refresh: bool,
}

impl JobKind for AiSurveySummary {
    const NAME: &'static str = "ai_survey_summary";
    type Payload = AiSurveySummaryPayload;
    type Output = SurveySummary;
    const MAX_ATTEMPTS: u32 = 5;
    /// Map-reduce over thousands of answers takes many requests.
    const TIMEOUT: Duration = Duration::from_secs(30 * 60);
    const RETRY: RetryPolicy = AI_RETRY;

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.survey_id.to_string())
    }
}

/// Advice for a CoP's leaders: next sessions, content to highlight,
/// champions to recognise and a quarterly roadmap. Result: [`CopAdvice`].
pub struct AiCopAdvice;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AiCopAdvicePayload {
    pub cop_id: CopId,
    /// Skip the cache.
    #[serde(default)]
    pub refresh: bool,
}

impl JobKind for AiCopAdvice {
    const NAME: &'static str = "ai_cop_advice";
    type Payload = AiCopAdvicePayload;
    type Output = CopAdvice;
    const MAX_ATTEMPTS: u32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(5 * 60);
    const RETRY: RetryPolicy = AI_RETRY;

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.cop_id.to_string())
    }
}

// ---------------------------------------------------------------------------
// KPI rollup: recomputes the daily KPI metrics (`kpi_metrics`, source
// `rollup`) of one CoP or of every CoP of a customer for a date range; see
// `crate::kpi`. Enqueued nightly (cron), on demand, and by closing a survey
// or importing attendance (coalesced per CoP, see `kpi::rollup::enqueue_coalesced`).

pub struct KpiRollup;

/// Exactly one of `cop_id` and `customer_id`; dates are local dates of the
/// customer's time zone, inclusive.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KpiRollupPayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cop_id: Option<CopId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KpiRollupOutput {
    /// Metric rows inserted or updated.
    pub rows_written: u64,
    /// CoPs computed.
    pub cops: u32,
    /// Dates computed per CoP (the range, cut at the customer's today).
    pub dates: u32,
    /// The range computed, absent when nothing was.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Why nothing was computed (an archived or vanished CoP, a range in the future).
    pub skipped: Option<String>,
}

impl JobKind for KpiRollup {
    const NAME: &'static str = "kpi_rollup";
    type Payload = KpiRollupPayload;
    type Output = KpiRollupOutput;
    const MAX_ATTEMPTS: u32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(15 * 60);
    /// Each rollup is a few heavy set-based statements: more at once only
    /// makes them contend for the same cores.
    const CONCURRENCY: Concurrency = Concurrency::AtMost(4);

    fn subject(p: &Self::Payload) -> Option<String> {
        p.cop_id
            .map(|c| c.to_string())
            .or_else(|| p.customer_id.map(|c| c.to_string()))
    }
}

// ---------------------------------------------------------------------------
// Files (see `crate::files`)

/// Checks an uploaded file — exists with the declared size (and SHA-256),
/// real type matches the declared one, media facts, thumbnail — and moves
/// it to `ready` or `rejected` (`file.ready` / `file.rejected` events). A
/// missing object rejects the file ("object not found"): no retry loop.
pub struct FileProcess;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FileProcessPayload {
    pub file_id: FileId,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FileProcessOutput {
    /// The file's status after this run (`ready`, `rejected`), or `deleted`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
}

impl JobKind for FileProcess {
    const NAME: &'static str = "file_process";
    type Payload = FileProcessPayload;
    type Output = FileProcessOutput;
    const MAX_ATTEMPTS: u32 = 5;
    /// Hashing a large file reads all of it.
    const TIMEOUT: Duration = Duration::from_secs(30 * 60);
    /// Decoding images and hashing take CPU.
    const CONCURRENCY: Concurrency = Concurrency::AtMost(8);

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.file_id.to_string())
    }
}

/// Removes a deleted file's object (and thumbnail) from storage.
pub struct FileDelete;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FileDeletePayload {
    pub file_id: FileId,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FileDeleteOutput {
    /// Whether anything was left to remove.
    pub purged: bool,
}

impl JobKind for FileDelete {
    const NAME: &'static str = "file_delete";
    type Payload = FileDeletePayload;
    type Output = FileDeleteOutput;
    const MAX_ATTEMPTS: u32 = 10;

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.file_id.to_string())
    }
}

/// Nightly: deletes orphans (files nobody attached within `orphan_hours`),
/// purges deleted files whose object is still there, and removes objects
/// no record references (a crash between upload and record).
pub struct FilesCleanup;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FilesCleanupPayload {
    /// Files nobody attached for this long are orphans.
    #[serde(default = "default_orphan_hours")]
    pub orphan_hours: u32,
    /// Objects without a record older than this are removed (younger ones
    /// may belong to a record being written).
    #[serde(default = "default_stray_minutes")]
    pub stray_minutes: u32,
}

fn default_orphan_hours() -> u32 {
    24
}

fn default_stray_minutes() -> u32 {
    24 * 60
}

impl Default for FilesCleanupPayload {
    fn default() -> Self {
        Self {
            orphan_hours: default_orphan_hours(),
            stray_minutes: default_stray_minutes(),
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FilesCleanupOutput {
    /// Orphan records deleted (with their objects).
    pub orphans_deleted: u64,
    /// Deleted records whose objects were removed.
    pub purged: u64,
    /// Objects without a record, removed.
    pub stray_objects_deleted: u64,
}

impl JobKind for FilesCleanup {
    const NAME: &'static str = "files_cleanup";
    type Payload = FilesCleanupPayload;
    type Output = FilesCleanupOutput;
    const MAX_ATTEMPTS: u32 = 3;
    const TIMEOUT: Duration = Duration::from_secs(30 * 60);
}

// ---------------------------------------------------------------------------
// Content library (see `crate::lms::library`)

/// Nightly: marks content items whose `expires_at` has passed as `expired`
/// and tells each owner by e-mail.
pub struct ContentExpire;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ContentExpirePayload {}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ContentExpireOutput {
    /// Items marked `expired` by this run.
    pub expired: u64,
}

impl JobKind for ContentExpire {
    const NAME: &'static str = "content_expire";
    type Payload = ContentExpirePayload;
    type Output = ContentExpireOutput;
}

// ---------------------------------------------------------------------------
// Notifications (see `crate::notifications`)

/// Fans one recorded notification (`notification_sources`) out: the
/// recipients' inbox rows (one statement) and the e-mails of those who
/// want them at once (through the outbox). A run again writes nothing twice.
pub struct Notify;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NotifyPayload {
    pub source_id: uuid::Uuid,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct NotifyOutput {
    /// Inbox rows written or collapsed into.
    pub inbox_rows: u32,
    /// E-mails queued for sending.
    pub emails_queued: u32,
    /// E-mails written but not sent (suppressed or unusable address).
    pub emails_suppressed: u32,
    /// Why nothing was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl JobKind for Notify {
    const NAME: &'static str = "notify";
    type Payload = NotifyPayload;
    type Output = NotifyOutput;
    /// The platform's own follow-up of a change (or of a failed job).
    const JOB_EVENTS: bool = false;
    const MAX_ATTEMPTS: u32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(300);

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.source_id.to_string())
    }
}

/// Sends the digests that are due: one e-mail per person whose period
/// (daily or weekly, from 08:00 in their zone) began, with their unread
/// notifications of digest types not e-mailed at once; once per person
/// and period (`notification_digests`), nothing when there are none.
pub struct NotifyDigest;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NotifyDigestPayload {
    /// The cron tick (informative).
    pub tick: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct NotifyDigestOutput {
    /// Digests written (one e-mail each).
    pub digests: u32,
    /// Notifications they carry.
    pub items: u32,
}

impl JobKind for NotifyDigest {
    const NAME: &'static str = "notify_digest";
    type Payload = NotifyDigestPayload;
    type Output = NotifyDigestOutput;
    const MAX_ATTEMPTS: u32 = 3;
    const TIMEOUT: Duration = Duration::from_secs(15 * 60);
    const CONCURRENCY: Concurrency = Concurrency::AtMost(1);
}

/// The daily assignment notices: `assignment_due_soon` (due within 3
/// days) and `assignment_overdue`, each once per assignment.
pub struct AssignmentReminders;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AssignmentRemindersPayload {
    pub tick: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AssignmentRemindersOutput {
    pub due_soon: u32,
    pub overdue: u32,
}

impl JobKind for AssignmentReminders {
    const NAME: &'static str = "assignment_reminders";
    type Payload = AssignmentRemindersPayload;
    type Output = AssignmentRemindersOutput;
    const MAX_ATTEMPTS: u32 = 3;
    const TIMEOUT: Duration = Duration::from_secs(10 * 60);
    const CONCURRENCY: Concurrency = Concurrency::AtMost(1);
}

// ---------------------------------------------------------------------------
// Coaching (see `crate::coaching`)

text_enum! {
    /// Why a coaching session's calendar messages are sent (the words only:
    /// what is sent follows the session's state when the job runs).
    pub enum SessionInviteReason {
        Scheduled = "scheduled",
        /// Its time or place changed.
        Updated = "updated",
        /// Cancelled, or closed as a no-show.
        Cancelled = "cancelled",
    }
}

/// The calendar messages of a coaching session to its agent and team
/// leader: one outbox row and `email_send` job each, in one transaction.
/// A scheduled session gets a REQUEST (stable UID, the session's SEQUENCE),
/// a cancelled one a CANCEL. Coalesced per session.
pub struct CoachingInvites;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CoachingInvitesPayload {
    pub session_id: CoachingSessionId,
    pub reason: SessionInviteReason,
}

impl JobKind for CoachingInvites {
    const NAME: &'static str = "coaching_invites";
    type Payload = CoachingInvitesPayload;
    type Output = EventInvitesOutput;
    const MAX_ATTEMPTS: u32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(120);

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.session_id.to_string())
    }
}

// ---------------------------------------------------------------------------
// Newsletters (see `crate::newsletters`)

/// Writes a newsletter's draft from its period's data: through the AI
/// pipeline, or from a template without a provider. A newsletter whose job
/// fails for good becomes `failed` (`newsletters::draft::DraftEnded`).
pub struct NewsletterDraft;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewsletterDraftPayload {
    pub newsletter_id: NewsletterId,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct NewsletterDraftOutput {
    pub newsletter_id: Option<NewsletterId>,
    /// The AI provider's name, or `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drafted_by: Option<String>,
    pub sections: u32,
    /// Links (and items) the model named that it was not given: dropped.
    pub dropped: u32,
    /// Why nothing was written (the newsletter is gone or no longer drafting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl JobKind for NewsletterDraft {
    const NAME: &'static str = "newsletter_draft";
    type Payload = NewsletterDraftPayload;
    type Output = NewsletterDraftOutput;
    const MAX_ATTEMPTS: u32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(5 * 60);
    const RETRY: RetryPolicy = AI_RETRY;

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.newsletter_id.to_string())
    }
}

/// The send of an approved newsletter (queued for `send_at`): writes one
/// outbox row and `email_send` job per recipient, slice by slice, in one
/// transaction. Its `job.succeeded` means "written", not "delivered":
/// `newsletter.sent` tells the end.
pub struct NewsletterSend;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewsletterSendPayload {
    pub newsletter_id: NewsletterId,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct NewsletterSendOutput {
    pub newsletter_id: Option<NewsletterId>,
    /// Messages written (queued and suppressed).
    pub recipients: u32,
    /// Messages queued for sending.
    pub queued: u32,
    /// Messages written but not sent (suppressed or unusable address).
    pub suppressed: u32,
    /// Members left out: newsletters turned off, or unsubscribed.
    pub opted_out: u32,
    /// Messages an earlier run already wrote.
    pub already_written: u32,
    /// Why nothing was written (cancelled, rescheduled, edited, gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl JobKind for NewsletterSend {
    const NAME: &'static str = "newsletter_send";
    type Payload = NewsletterSendPayload;
    type Output = NewsletterSendOutput;
    const MAX_ATTEMPTS: u32 = 5;
    /// 50,000 recipients are 25 slices.
    const TIMEOUT: Duration = Duration::from_secs(10 * 60);
    /// At most two fan-outs at a time per process: each holds a
    /// transaction and a slice of recipients.
    const CONCURRENCY: Concurrency = Concurrency::AtMost(2);

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.newsletter_id.to_string())
    }
}

/// Counts a sending newsletter's messages every few seconds until none is
/// left to send, then marks it `sent` (webhook `newsletter.sent`, the CoP's
/// managers notified). The platform's own follow-up: no `job.*` events.
pub struct NewsletterProgress;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewsletterProgressPayload {
    pub newsletter_id: NewsletterId,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct NewsletterProgressOutput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NewsletterStatus>,
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub suppressed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl JobKind for NewsletterProgress {
    const NAME: &'static str = "newsletter_progress";
    type Payload = NewsletterProgressPayload;
    type Output = NewsletterProgressOutput;
    /// One every few seconds while a newsletter sends.
    const JOB_EVENTS: bool = false;
    const MAX_ATTEMPTS: u32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(60);

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.newsletter_id.to_string())
    }
}

// ---------------------------------------------------------------------------
// Certificates (see `crate::lms::certificates`)

/// Issues the certificate of a person for a course or a learning path:
/// writes the row (once per person and subject while it stands), renders
/// the PDF, stores it as a file and records `certificate.issued`, the
/// notification and the e-mail with the PDF. Enqueued by the progress
/// update that completes the course (or the path's last course), and by
/// hand; one queued job per (person, subject).
pub struct CertificateIssue;

/// Exactly one of `course_id` and `path_id`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CertificateIssuePayload {
    pub user_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_id: Option<CourseId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_id: Option<PathId>,
    /// Revoke a standing certificate (`superseded`) and issue a new one.
    #[serde(default)]
    pub reissue: bool,
}

text_enum! {
    /// What a `certificate_issue` run did.
    pub enum CertificateIssueOutcome {
        /// The PDF was rendered and stored; everyone was told.
        Issued = "issued",
        /// A standing certificate with its PDF existed: nothing was done.
        AlreadyIssued = "already_issued",
        /// The person or the course/path no longer exists.
        Skipped = "skipped",
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CertificateIssueOutput {
    pub outcome: CertificateIssueOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_id: Option<CertificateId>,
    /// Why nothing was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl JobKind for CertificateIssue {
    const NAME: &'static str = "certificate_issue";
    type Payload = CertificateIssuePayload;
    type Output = CertificateIssueOutput;
    /// Issuing by hand answers with this job: its end is the caller's to
    /// hear (`job.*` events and `callback_url`), like any requested work.
    const JOB_EVENTS: bool = true;
    const MAX_ATTEMPTS: u32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(120);
    /// Rendering is CPU-bound: a few at a time per process.
    const CONCURRENCY: Concurrency = Concurrency::AtMost(4);

    fn subject(p: &Self::Payload) -> Option<String> {
        Some(p.user_id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        let mut names: Vec<&str> = ALL.iter().map(|k| k.name).collect();
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "two kinds share a name");
    }

    #[test]
    fn declared_concurrency_scales_the_workers_default() {
        assert_eq!(EmailSend::CONCURRENCY.of(32), 256);
        assert_eq!(KpiRollup::CONCURRENCY.of(32), 4);
        assert_eq!(WebhookDeliver::CONCURRENCY.of(32), 32);
    }
}
