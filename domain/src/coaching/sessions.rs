//! One-to-one coaching sessions between a team leader and an agent.
//!
//! Times are stored in UTC with the IANA zone they were planned in. `uid`
//! is the session's stable iCalendar UID and `sequence` grows with every
//! change of time, place or status, so calendar updates and cancellations
//! supersede the earlier invitation.
//!
//! Statuses: `scheduled → in_progress → completed`, or `cancelled` /
//! `no_show`. Completion records the notes (Markdown) and the scores
//! (before/after, 0–100, with named criteria); they are sealed at rest
//! ([`super::crypto`]). A completed session stays editable by its team
//! leader (and coaching admins) for [`EDIT_WINDOW_DAYS`] days; every change
//! is audited without its content.

use chrono::{DateTime, Duration, Utc};
use sea_query::{Expr, ExprTrait, Query};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    CoachingSessionId,
    access::{self, CoachingRole, Reach, Standing},
    crypto::NoteKeys,
    markdown, people,
};
use crate::text_enum;
use crate::{
    error::{Error, Result, Validator},
    files::FileId,
    ids::{CustomerId, UserId},
    pagination::{Keyset, Page, PageRequest},
    portal::{labels, opt_text},
    tenancy::Caller,
    values,
};

text_enum! {
    /// Where a coaching session stands.
    pub enum SessionStatus {
        Scheduled = "scheduled",
        InProgress = "in_progress",
        Completed = "completed",
        Cancelled = "cancelled",
        /// The agent did not come.
        NoShow = "no_show",
    }
}

impl SessionStatus {
    /// Scheduled or under way: its time is held in both calendars.
    pub fn is_open(self) -> bool {
        matches!(self, SessionStatus::Scheduled | SessionStatus::InProgress)
    }
}

/// A completed session's notes and scores stay editable this long.
pub const EDIT_WINDOW_DAYS: i64 = 7;
const NOTES_MAX: usize = 20_000;
const PREPARATION_MAX: usize = 10_000;
const LOCATION_MAX: usize = 500;
const MAX_CRITERIA: usize = 30;

/// One criterion of the scorecard, scored before and after the session.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, poem_openapi::Object)]
pub struct CriterionScore {
    /// The criterion's name, e.g. `empathy`, `call_control`.
    pub name: String,
    /// 0–100.
    #[oai(skip_serializing_if_is_none)]
    pub before: Option<i32>,
    /// 0–100.
    #[oai(skip_serializing_if_is_none)]
    pub after: Option<i32>,
}

/// The session's scores: overall before and after (0–100) and the
/// scorecard's criteria as named sub-scores.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, poem_openapi::Object)]
pub struct Scores {
    /// 0–100.
    #[oai(skip_serializing_if_is_none)]
    pub before: Option<i32>,
    /// 0–100.
    #[oai(skip_serializing_if_is_none)]
    pub after: Option<i32>,
    #[serde(default)]
    #[oai(default)]
    pub criteria: Vec<CriterionScore>,
}

impl Scores {
    /// The overall change (after − before), when both are known.
    pub fn change(&self) -> Option<i32> {
        Some(self.after? - self.before?)
    }

    fn check(&self, v: &mut Validator, pointer: &str) {
        let score = |v: &mut Validator, p: String, s: Option<i32>| {
            if let Some(s) = s
                && !(0..=100).contains(&s)
            {
                v.push(&p, "must be between 0 and 100");
            }
        };
        score(v, format!("{pointer}/before"), self.before);
        score(v, format!("{pointer}/after"), self.after);
        if self.criteria.len() > MAX_CRITERIA {
            v.push(
                &format!("{pointer}/criteria"),
                format!("at most {MAX_CRITERIA} criteria"),
            );
            return;
        }
        let mut seen: Vec<&str> = vec![];
        for (i, c) in self.criteria.iter().enumerate() {
            let p = format!("{pointer}/criteria/{i}");
            match values::text(&c.name, 100, false) {
                Err(m) => v.push(&format!("{p}/name"), m),
                Ok(_) if seen.contains(&c.name.trim()) => {
                    v.push(&format!("{p}/name"), "criteria names must be unique")
                }
                Ok(_) => seen.push(c.name.trim()),
            }
            score(v, format!("{p}/before"), c.before);
            score(v, format!("{p}/after"), c.after);
        }
    }

    fn normalised(mut self) -> Self {
        for c in &mut self.criteria {
            c.name = c.name.trim().to_string();
        }
        self
    }
}

#[derive(Debug, Clone, FromRow)]
struct Row {
    id: CoachingSessionId,
    customer_id: CustomerId,
    agent_id: UserId,
    team_leader_id: Option<UserId>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    duration_minutes: i32,
    time_zone: String,
    location: Option<String>,
    join_url: Option<String>,
    preparation_notes: Option<String>,
    focus_areas: Vec<String>,
    status: SessionStatus,
    uid: String,
    sequence: i32,
    notes_enc: Option<Vec<u8>>,
    scores_enc: Option<Vec<u8>>,
    key_id: Option<String>,
    recording_file_id: Option<FileId>,
    completed_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    created_by: Option<UserId>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, customer_id, agent_id, team_leader_id, starts_at, ends_at, \
    duration_minutes, time_zone, location, join_url, preparation_notes, focus_areas, status, uid, \
    sequence, notes_enc, scores_enc, key_id, recording_file_id, completed_at, cancelled_at, \
    created_by, created_at, updated_at";

/// A session with its notes and scores opened.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Session {
    pub id: CoachingSessionId,
    pub customer_id: CustomerId,
    pub agent_id: UserId,
    pub team_leader_id: Option<UserId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub time_zone: String,
    pub location: Option<String>,
    pub join_url: Option<String>,
    pub preparation_notes: Option<String>,
    pub focus_areas: Vec<String>,
    pub status: SessionStatus,
    pub uid: String,
    pub sequence: i32,
    #[serde(skip)]
    pub notes: Option<String>,
    #[serde(skip)]
    pub scores: Option<Scores>,
    pub recording_file_id: Option<FileId>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Session {
    /// Until when a completed session's notes and scores can change.
    pub fn editable_until(&self) -> Option<DateTime<Utc>> {
        self.completed_at
            .map(|c| c + Duration::days(EDIT_WINDOW_DAYS))
    }
}

/// The associated data that binds a sealed value to its row and field.
fn context(id: CoachingSessionId, field: &str) -> String {
    format!("coaching_session:{id}:{field}")
}

fn open(keys: &NoteKeys, r: Row) -> Result<Session> {
    let notes = match (&r.notes_enc, &r.key_id) {
        (Some(b), Some(k)) => Some(
            String::from_utf8(keys.open(k, &context(r.id, "notes"), b)?)
                .map_err(|_| anyhow::anyhow!("session notes are not UTF-8"))?,
        ),
        _ => None,
    };
    let scores = match (&r.scores_enc, &r.key_id) {
        (Some(b), Some(k)) => Some(keys.open_json(k, &context(r.id, "scores"), b)?),
        _ => None,
    };
    Ok(Session {
        id: r.id,
        customer_id: r.customer_id,
        agent_id: r.agent_id,
        team_leader_id: r.team_leader_id,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        duration_minutes: r.duration_minutes,
        time_zone: r.time_zone,
        location: r.location,
        join_url: r.join_url,
        preparation_notes: r.preparation_notes,
        focus_areas: r.focus_areas,
        status: r.status,
        uid: r.uid,
        sequence: r.sequence,
        notes,
        scores,
        recording_file_id: r.recording_file_id,
        completed_at: r.completed_at,
        cancelled_at: r.cancelled_at,
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// A coaching session. Times are UTC; `time_zone` is the IANA zone it is
/// planned in. `uid` (iCalendar UID) never changes; `sequence` grows with
/// every change of time, place or status.
#[derive(poem_openapi::Object)]
pub struct CoachingSessionView {
    pub id: CoachingSessionId,
    pub customer_id: CustomerId,
    pub agent_id: UserId,
    #[oai(skip_serializing_if_is_none)]
    pub team_leader_id: Option<UserId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: i32,
    /// IANA time zone, e.g. `Europe/London`.
    pub time_zone: String,
    #[oai(skip_serializing_if_is_none)]
    pub location: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub join_url: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub preparation_notes: Option<String>,
    pub focus_areas: Vec<String>,
    pub status: SessionStatus,
    /// iCalendar UID.
    pub uid: String,
    /// iCalendar SEQUENCE.
    pub sequence: i32,
    /// The session notes as written (Markdown).
    #[oai(skip_serializing_if_is_none)]
    pub notes: Option<String>,
    /// The notes rendered to HTML and sanitised: safe to insert into a page.
    #[oai(skip_serializing_if_is_none)]
    pub notes_html: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub scores: Option<Scores>,
    /// The overall score after minus before, when both are recorded.
    #[oai(skip_serializing_if_is_none)]
    pub score_change: Option<i32>,
    /// The session's recording (a file of purpose `coaching_recording`).
    #[oai(skip_serializing_if_is_none)]
    pub recording_file_id: Option<FileId>,
    #[oai(skip_serializing_if_is_none)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Until when the team leader can still change the notes and scores.
    #[oai(skip_serializing_if_is_none)]
    pub editable_until: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Session> for CoachingSessionView {
    fn from(s: Session) -> Self {
        let editable_until = s.editable_until();
        Self {
            id: s.id,
            customer_id: s.customer_id,
            agent_id: s.agent_id,
            team_leader_id: s.team_leader_id,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            duration_minutes: s.duration_minutes,
            time_zone: s.time_zone,
            location: s.location,
            join_url: s.join_url,
            preparation_notes: s.preparation_notes,
            focus_areas: s.focus_areas,
            status: s.status,
            uid: s.uid,
            sequence: s.sequence,
            notes_html: s.notes.as_deref().map(markdown::to_safe_html),
            notes: s.notes,
            score_change: s.scores.as_ref().and_then(Scores::change),
            scores: s.scores,
            recording_file_id: s.recording_file_id,
            completed_at: s.completed_at,
            editable_until,
            cancelled_at: s.cancelled_at,
            created_by: s.created_by,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A new session, as received.
#[derive(Debug, Clone)]
pub struct NewSessionInput {
    pub customer_id: Option<CustomerId>,
    pub agent_id: UserId,
    pub team_leader_id: Option<UserId>,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub time_zone: String,
    pub location: Option<String>,
    pub join_url: Option<String>,
    pub preparation_notes: Option<String>,
    pub focus_areas: Vec<String>,
}

/// The validated schedule of a session (new, or after a patch).
#[derive(Debug, Clone, PartialEq)]
struct Schedule {
    starts_at: DateTime<Utc>,
    duration_minutes: i32,
    time_zone: chrono_tz::Tz,
    location: Option<String>,
    join_url: Option<String>,
    preparation_notes: Option<String>,
    focus_areas: Vec<String>,
}

impl Schedule {
    fn ends_at(&self) -> DateTime<Utc> {
        self.starts_at + Duration::minutes(self.duration_minutes.into())
    }

    /// Whether the calendars must hear about it.
    fn moved(&self, other: &Self) -> bool {
        self.starts_at != other.starts_at
            || self.duration_minutes != other.duration_minutes
            || self.time_zone != other.time_zone
            || self.location != other.location
            || self.join_url != other.join_url
    }

    fn of(s: &Session) -> Result<Self> {
        Ok(Self {
            starts_at: s.starts_at,
            duration_minutes: s.duration_minutes,
            time_zone: values::time_zone(&s.time_zone)
                .map_err(|m| anyhow::anyhow!("stored session: {m}"))?,
            location: s.location.clone(),
            join_url: s.join_url.clone(),
            preparation_notes: s.preparation_notes.clone(),
            focus_areas: s.focus_areas.clone(),
        })
    }
}

fn duration(v: &mut Validator, minutes: i64) -> Option<i32> {
    v.check(
        "/duration_minutes",
        if (5..=480).contains(&minutes) {
            Ok(minutes as i32)
        } else {
            Err("must be between 5 and 480 minutes".into())
        },
    )
}

/// A change to a session, as received. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct SessionPatch {
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i64>,
    pub time_zone: Option<String>,
    pub location: Option<Option<String>>,
    pub join_url: Option<Option<String>>,
    pub preparation_notes: Option<Option<String>>,
    pub focus_areas: Option<Vec<String>>,
    /// `in_progress` or `no_show` (cancel and complete have their own operations).
    pub status: Option<SessionStatus>,
    pub recording_file_id: Option<Option<FileId>>,
    /// Completed sessions only, within the edit window.
    pub notes: Option<Option<String>>,
    pub scores: Option<Option<Scores>>,
}

impl SessionPatch {
    fn touches_schedule(&self) -> bool {
        self.starts_at.is_some()
            || self.duration_minutes.is_some()
            || self.time_zone.is_some()
            || self.location.is_some()
            || self.join_url.is_some()
            || self.preparation_notes.is_some()
            || self.focus_areas.is_some()
    }

    fn apply(&self, cur: &Schedule, v: &mut Validator) -> Schedule {
        let mut next = cur.clone();
        if let Some(s) = self.starts_at {
            next.starts_at = s;
        }
        if let Some(d) = self.duration_minutes.and_then(|d| duration(v, d)) {
            next.duration_minutes = d;
        }
        if let Some(tz) = self
            .time_zone
            .as_deref()
            .and_then(|t| v.check("/time_zone", values::time_zone(t.trim())))
        {
            next.time_zone = tz;
        }
        if let Some(l) = &self.location {
            next.location = opt_text(v, "/location", l.as_deref(), LOCATION_MAX);
        }
        if let Some(u) = &self.join_url {
            next.join_url = u
                .as_deref()
                .and_then(|u| v.check("/join_url", values::http_url(u)));
        }
        if let Some(p) = &self.preparation_notes {
            next.preparation_notes =
                opt_text(v, "/preparation_notes", p.as_deref(), PREPARATION_MAX);
        }
        if let Some(f) = &self.focus_areas {
            next.focus_areas = labels(v, "/focus_areas", f, 20, 100);
        }
        next
    }
}

/// The session by id with no reach check (jobs that hold its id).
pub async fn fetch(
    conn: &mut PgConnection,
    keys: &NoteKeys,
    id: CoachingSessionId,
) -> Result<Option<Session>> {
    let row: Option<Row> = sqlx::query_as(sqlf!(
        "SELECT {COLUMNS} FROM coaching_sessions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| open(keys, r)).transpose()
}

/// The session if it is in the caller's reach (404 otherwise), optionally
/// locked for an update.
async fn load(
    conn: &mut PgConnection,
    keys: &NoteKeys,
    caller: &Caller,
    id: CoachingSessionId,
    lock: bool,
) -> Result<Session> {
    let reach = Reach::of(caller);
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("coaching_sessions")
        .and_where(Expr::col("id").eq(id.0))
        .cond_where(reach.condition("customer_id", "agent_id", Some("team_leader_id")));
    if lock {
        q.lock(sea_query::LockType::Update);
    }
    let (sql, values) = sea_query_sqlx::SqlxBinder::build_sqlx(&q, sea_query::PostgresQueryBuilder);
    let row: Option<Row> = sqlx::query_as_with(sqlx::AssertSqlSafe(sql), values)
        .fetch_optional(conn)
        .await?;
    open(keys, row.ok_or(Error::not_found("coaching session"))?)
}

/// Serialises the scheduling of one agent's sessions (the overlap check).
async fn lock_agent(conn: &mut PgConnection, agent: UserId) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('coaching_agent:' || $1::text, 0))")
        .bind(agent)
        .execute(conn)
        .await?;
    Ok(())
}

/// 409 `session_overlap` naming the agent's open session that overlaps
/// `[starts, ends)`, other than `except`.
async fn check_overlap(
    conn: &mut PgConnection,
    agent: UserId,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    except: Option<CoachingSessionId>,
) -> Result<()> {
    let clash: Option<(CoachingSessionId, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, starts_at, ends_at FROM coaching_sessions
         WHERE agent_id = $1 AND status IN ('scheduled', 'in_progress')
           AND starts_at < $3 AND ends_at > $2 AND id IS DISTINCT FROM $4
         ORDER BY starts_at LIMIT 1",
    )
    .bind(agent)
    .bind(starts)
    .bind(ends)
    .bind(except)
    .fetch_optional(conn)
    .await?;
    match clash {
        Some((id, s, e)) => Err(Error::conflict(
            "session_overlap",
            format!(
                "the agent already has session {id} from {} to {}",
                s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )),
        None => Ok(()),
    }
}

/// Whether `user` is in the caller's reach as an agent of `customer`.
async fn agent_in_reach(
    conn: &mut PgConnection,
    caller: &Caller,
    customer: CustomerId,
    user: UserId,
) -> Result<Option<people::Person>> {
    let reach = Reach::of(caller);
    let mut q = Query::select();
    q.expr(Expr::val(1))
        .from("coaching_people")
        .and_where(Expr::col("customer_id").eq(customer.0))
        .and_where(Expr::col("user_id").eq(user.0))
        .cond_where(reach.condition("customer_id", "user_id", None));
    let (sql, values) = sea_query_sqlx::SqlxBinder::build_sqlx(&q, sea_query::PostgresQueryBuilder);
    let seen: Option<i32> = sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), values)
        .fetch_optional(&mut *conn)
        .await?;
    if seen.is_none() {
        return Ok(None);
    }
    people::fetch(conn, customer, user).await
}

/// `POST /coaching/sessions`.
pub async fn create(
    db: &PgPool,
    keys: &NoteKeys,
    caller: &Caller,
    i: NewSessionInput,
) -> Result<Session> {
    let mut v = Validator::new();
    let duration_minutes = duration(&mut v, i.duration_minutes);
    let time_zone = v.check("/time_zone", values::time_zone(i.time_zone.trim()));
    let location = opt_text(&mut v, "/location", i.location.as_deref(), LOCATION_MAX);
    let join_url = i
        .join_url
        .as_deref()
        .and_then(|u| v.check("/join_url", values::http_url(u)));
    let preparation_notes = opt_text(
        &mut v,
        "/preparation_notes",
        i.preparation_notes.as_deref(),
        PREPARATION_MAX,
    );
    let focus_areas = labels(&mut v, "/focus_areas", &i.focus_areas, 20, 100);
    v.finish()?;
    let schedule = Schedule {
        starts_at: i.starts_at,
        duration_minutes: duration_minutes.expect("checked"),
        time_zone: time_zone.expect("checked"),
        location,
        join_url,
        preparation_notes,
        focus_areas,
    };

    let mut tx = db.begin().await?;
    let customer = people::customer_of(&mut tx, i.customer_id, i.agent_id, "/agent_id").await?;
    let standing = access::standing(&mut tx, caller, customer, "customer").await?;
    let agent = agent_in_reach(&mut tx, caller, customer, i.agent_id)
        .await?
        .ok_or_else(|| {
            Error::field(
                "/agent_id",
                "no person in coaching of this customer within your reach has this id",
            )
        })?;
    let team_leader = match i.team_leader_id {
        Some(t) => t,
        None if standing.role == Some(CoachingRole::TeamLeader) => caller.user_id,
        None => agent.team_leader_id.ok_or_else(|| {
            Error::field(
                "/team_leader_id",
                "the agent has no team leader; give team_leader_id",
            )
        })?,
    };
    check_team_leader(&mut tx, &standing, &agent, team_leader).await?;
    access::require_coach(&standing, caller.user_id, Some(team_leader))?;
    lock_agent(&mut tx, agent.user_id).await?;
    check_overlap(
        &mut tx,
        agent.user_id,
        schedule.starts_at,
        schedule.ends_at(),
        None,
    )
    .await?;
    let id = CoachingSessionId::new();
    sqlx::query(
        "INSERT INTO coaching_sessions (id, customer_id, agent_id, team_leader_id, starts_at,
             ends_at, duration_minutes, time_zone, location, join_url, preparation_notes,
             focus_areas, uid, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(id)
    .bind(customer)
    .bind(agent.user_id)
    .bind(team_leader)
    .bind(schedule.starts_at)
    .bind(schedule.ends_at())
    .bind(schedule.duration_minutes)
    .bind(schedule.time_zone.name())
    .bind(&schedule.location)
    .bind(&schedule.join_url)
    .bind(&schedule.preparation_notes)
    .bind(&schedule.focus_areas)
    .bind(format!("coaching-{id}@launchpad"))
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    finish(
        tx,
        keys,
        caller,
        id,
        Ending {
            action: "coaching.session.scheduled",
            after: as_json,
            change: super::events::SessionChange::Scheduled,
        },
    )
    .await
}

/// The team leader must hold the role, and (unless the caller is a
/// coaching admin) be the one the agent reports to: 422 naming the field.
async fn check_team_leader(
    conn: &mut PgConnection,
    standing: &Standing,
    agent: &people::Person,
    team_leader: UserId,
) -> Result<()> {
    if team_leader == agent.user_id {
        return Err(Error::field(
            "/team_leader_id",
            "the agent cannot coach themselves",
        ));
    }
    let role: Option<CoachingRole> = sqlx::query_scalar(
        "SELECT role FROM coaching_people WHERE customer_id = $1 AND user_id = $2",
    )
    .bind(agent.customer_id)
    .bind(team_leader)
    .fetch_optional(conn)
    .await?;
    if role != Some(CoachingRole::TeamLeader) {
        return Err(Error::field(
            "/team_leader_id",
            "must be a person with the coaching role team_leader in this customer",
        ));
    }
    if agent.team_leader_id != Some(team_leader) && !standing.admin {
        return Err(Error::unprocessable_at(
            "agent_not_in_team",
            "/team_leader_id",
            "the agent does not report to this team leader (only a coaching admin can pair them)",
        ));
    }
    Ok(())
}

pub async fn get(
    db: &PgPool,
    keys: &NoteKeys,
    caller: &Caller,
    id: CoachingSessionId,
) -> Result<Session> {
    let mut conn = db.acquire().await?;
    load(&mut conn, keys, caller, id, false).await
}

/// Filters of `GET /coaching/sessions`.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub customer_id: Option<CustomerId>,
    pub agent_id: Option<UserId>,
    pub team_leader_id: Option<UserId>,
    pub status: Option<SessionStatus>,
    /// Sessions starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Sessions starting before this instant.
    pub to: Option<DateTime<Utc>>,
}

const BY_START: Keyset<(DateTime<Utc>, CoachingSessionId)> =
    Keyset::ascending(&["starts_at", "id"]);

/// The sessions in the caller's reach, by start time.
pub async fn list(
    db: &PgPool,
    keys: &NoteKeys,
    caller: &Caller,
    f: &SessionFilter,
    page: &PageRequest,
) -> Result<Page<Session>> {
    if let (Some(from), Some(to)) = (f.from, f.to)
        && to <= from
    {
        return Err(Error::field("/to", "must be after from"));
    }
    let reach = Reach::of(caller);
    let mut q = Query::select();
    q.expr(Expr::cust(COLUMNS))
        .from("coaching_sessions")
        .cond_where(reach.condition("customer_id", "agent_id", Some("team_leader_id")));
    if let Some(c) = f.customer_id {
        q.and_where(Expr::col("customer_id").eq(c.0));
    }
    if let Some(a) = f.agent_id {
        q.and_where(Expr::col("agent_id").eq(a.0));
    }
    if let Some(t) = f.team_leader_id {
        q.and_where(Expr::col("team_leader_id").eq(t.0));
    }
    if let Some(s) = f.status {
        q.and_where(Expr::col("status").eq(s.as_str()));
    }
    if let Some(from) = f.from {
        q.and_where(Expr::col("starts_at").gte(from));
    }
    if let Some(to) = f.to {
        q.and_where(Expr::col("starts_at").lt(to));
    }
    let mut conn = db.acquire().await?;
    let rows: Page<Row> = BY_START
        .fetch(&mut *conn, q, page, |r: &Row| (r.starts_at, r.id))
        .await?;
    let mut items = Vec::with_capacity(rows.items.len());
    for r in rows.items {
        items.push(open(keys, r)?);
    }
    Ok(Page {
        items,
        next_cursor: rows.next_cursor,
    })
}

/// Seals and writes a session's notes and scores.
async fn write_notes(
    conn: &mut PgConnection,
    keys: &NoteKeys,
    id: CoachingSessionId,
    notes: Option<&str>,
    scores: Option<&Scores>,
) -> Result<()> {
    let notes = notes
        .map(|n| keys.seal(&context(id, "notes"), n.as_bytes()))
        .transpose()?;
    let scores = scores
        .map(|s| keys.seal_json(&context(id, "scores"), s))
        .transpose()?;
    let key_id = (notes.is_some() || scores.is_some()).then(|| keys.current_id().to_string());
    sqlx::query(
        "UPDATE coaching_sessions SET notes_enc = $2, scores_enc = $3, key_id = $4,
             updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(notes.map(|s| s.bytes))
    .bind(scores.map(|s| s.bytes))
    .bind(key_id)
    .execute(conn)
    .await?;
    Ok(())
}

fn check_notes(v: &mut Validator, notes: Option<&str>) -> Option<String> {
    opt_text(v, "/notes", notes, NOTES_MAX)
}

/// `POST /coaching/sessions/{id}/complete`: the session's team leader (or a
/// coaching admin) records notes and scores.
pub async fn complete(
    db: &PgPool,
    keys: &NoteKeys,
    caller: &Caller,
    id: CoachingSessionId,
    notes: Option<String>,
    scores: Option<Scores>,
) -> Result<Session> {
    let mut v = Validator::new();
    let notes = check_notes(&mut v, notes.as_deref());
    if let Some(s) = &scores {
        s.check(&mut v, "/scores");
    }
    v.finish()?;
    let scores = scores.map(Scores::normalised);
    let mut tx = db.begin().await?;
    let cur = load(&mut tx, keys, caller, id, true).await?;
    let standing = access::standing(&mut tx, caller, cur.customer_id, "coaching session").await?;
    access::require_session_lead(&standing, caller.user_id, cur.team_leader_id)?;
    if !cur.status.is_open() {
        return Err(Error::conflict(
            "session_closed",
            format!("the session is {}", cur.status.as_str()),
        ));
    }
    sqlx::query(
        "UPDATE coaching_sessions SET status = 'completed', completed_at = now(),
             updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    write_notes(&mut tx, keys, id, notes.as_deref(), scores.as_ref()).await?;
    finish(
        tx,
        keys,
        caller,
        id,
        Ending {
            action: "coaching.session.completed",
            after: |s| Some(content_facts(s)),
            change: super::events::SessionChange::Completed,
        },
    )
    .await
}

/// What the audit log says about notes and scores: that they exist, never
/// what they say.
fn content_facts(s: &Session) -> serde_json::Value {
    serde_json::json!({
        "status": s.status,
        "has_notes": s.notes.is_some(),
        "has_scores": s.scores.is_some(),
        "completed_at": s.completed_at,
    })
}

/// `PATCH /coaching/sessions/{id}`.
pub async fn update(
    db: &PgPool,
    keys: &NoteKeys,
    caller: &Caller,
    id: CoachingSessionId,
    patch: SessionPatch,
) -> Result<Session> {
    let mut tx = db.begin().await?;
    let cur = load(&mut tx, keys, caller, id, true).await?;
    let standing = access::standing(&mut tx, caller, cur.customer_id, "coaching session").await?;
    let mut v = Validator::new();
    let before = Schedule::of(&cur)?;
    let next = patch.apply(&before, &mut v);
    let notes = patch
        .notes
        .as_ref()
        .map(|n| check_notes(&mut v, n.as_deref()));
    if let Some(Some(s)) = &patch.scores {
        s.check(&mut v, "/scores");
    }
    if let Some(s) = patch.status
        && !matches!(s, SessionStatus::InProgress | SessionStatus::NoShow)
    {
        v.push(
            "/status",
            "only in_progress or no_show; cancel and complete have their own operations",
        );
    }
    v.finish()?;

    let content = patch.notes.is_some() || patch.scores.is_some();
    match cur.status {
        SessionStatus::Completed => {
            access::require_session_lead(&standing, caller.user_id, cur.team_leader_id)?;
            if patch.touches_schedule() || patch.status.is_some() {
                return Err(Error::conflict(
                    "session_closed",
                    "the session is completed: only its notes, scores and recording can change",
                ));
            }
            if cur.editable_until().is_some_and(|u| Utc::now() > u) {
                return Err(Error::conflict(
                    "session_edit_window_closed",
                    format!(
                        "a completed session can be changed for {EDIT_WINDOW_DAYS} days after completion"
                    ),
                ));
            }
        }
        SessionStatus::Scheduled | SessionStatus::InProgress => {
            access::require_coach(&standing, caller.user_id, cur.team_leader_id)?;
            if content {
                return Err(Error::conflict(
                    "session_not_completed",
                    "notes and scores are recorded when the session is completed",
                ));
            }
        }
        SessionStatus::Cancelled | SessionStatus::NoShow => {
            return Err(Error::conflict(
                "session_closed",
                format!("the session is {}", cur.status.as_str()),
            ));
        }
    }
    if let Some(Some(f)) = patch.recording_file_id {
        check_recording(&mut tx, cur.customer_id, f).await?;
    }
    let moved = next.moved(&before);
    if moved {
        lock_agent(&mut tx, cur.agent_id).await?;
        check_overlap(
            &mut tx,
            cur.agent_id,
            next.starts_at,
            next.ends_at(),
            Some(id),
        )
        .await?;
    }
    let status = patch.status.unwrap_or(cur.status);
    let bump = i32::from(moved || status == SessionStatus::NoShow && cur.status.is_open());
    sqlx::query(
        "UPDATE coaching_sessions SET starts_at = $2, ends_at = $3, duration_minutes = $4,
             time_zone = $5, location = $6, join_url = $7, preparation_notes = $8,
             focus_areas = $9, status = $10, recording_file_id = $11,
             sequence = sequence + $12, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(next.starts_at)
    .bind(next.ends_at())
    .bind(next.duration_minutes)
    .bind(next.time_zone.name())
    .bind(&next.location)
    .bind(&next.join_url)
    .bind(&next.preparation_notes)
    .bind(&next.focus_areas)
    .bind(status)
    .bind(match patch.recording_file_id {
        Some(f) => f,
        None => cur.recording_file_id,
    })
    .bind(bump)
    .execute(&mut *tx)
    .await?;
    if content {
        let notes = match notes {
            Some(n) => n,
            None => cur.notes.clone(),
        };
        let scores = match &patch.scores {
            Some(s) => s.clone().map(Scores::normalised),
            None => cur.scores.clone(),
        };
        write_notes(&mut tx, keys, id, notes.as_deref(), scores.as_ref()).await?;
    }
    let action = if cur.status == SessionStatus::Completed {
        "coaching.session.completed_edited"
    } else {
        "coaching.session.updated"
    };
    let change = if bump > 0 {
        super::events::SessionChange::Rescheduled
    } else {
        super::events::SessionChange::Updated
    };
    finish(
        tx,
        keys,
        caller,
        id,
        Ending {
            action,
            after: |s| {
                let mut after = serde_json::to_value(s).unwrap_or_default();
                if let Some(o) = after.as_object_mut()
                    && let Some(facts) = content_facts(s).as_object()
                {
                    o.extend(facts.clone());
                }
                Some(after)
            },
            change,
        },
    )
    .await
}

/// A recording is a file of this customer (400 naming the field otherwise).
async fn check_recording(conn: &mut PgConnection, customer: CustomerId, f: FileId) -> Result<()> {
    let ok: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM files WHERE id = $1 AND customer_id = $2)",
    )
    .bind(f)
    .bind(customer)
    .fetch_one(conn)
    .await?;
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "/recording_file_id",
            "no file of this customer has this id",
        ))
    }
}

/// `POST /coaching/sessions/{id}/cancel`.
pub async fn cancel(
    db: &PgPool,
    keys: &NoteKeys,
    caller: &Caller,
    id: CoachingSessionId,
) -> Result<Session> {
    let mut tx = db.begin().await?;
    let cur = load(&mut tx, keys, caller, id, true).await?;
    let standing = access::standing(&mut tx, caller, cur.customer_id, "coaching session").await?;
    access::require_coach(&standing, caller.user_id, cur.team_leader_id)?;
    if !cur.status.is_open() {
        return Err(Error::conflict(
            "session_closed",
            format!("the session is {}", cur.status.as_str()),
        ));
    }
    sqlx::query(
        "UPDATE coaching_sessions SET status = 'cancelled', cancelled_at = now(),
             sequence = sequence + 1, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    finish(
        tx,
        keys,
        caller,
        id,
        Ending {
            action: "coaching.session.cancelled",
            after: |_| None,
            change: super::events::SessionChange::Cancelled,
        },
    )
    .await
}

/// How a change of a session ends: its audit action, what the audit keeps
/// of the session after it, and the change told to webhooks and invites.
struct Ending {
    action: &'static str,
    after: fn(&Session) -> Option<serde_json::Value>,
    change: super::events::SessionChange,
}

/// The end of every change of a session: read it back, audit, tell the
/// change, commit.
async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    keys: &NoteKeys,
    caller: &Caller,
    id: CoachingSessionId,
    end: Ending,
) -> Result<Session> {
    let s = fetch(&mut tx, keys, id)
        .await?
        .ok_or(Error::not_found("coaching session"))?;
    super::audit(
        &mut tx,
        caller,
        end.action,
        "coaching_session",
        id.to_string(),
        s.customer_id,
        None,
        (end.after)(&s),
    )
    .await?;
    super::events::session_changed(&mut tx, &s, end.change, caller).await?;
    tx.commit().await?;
    Ok(s)
}

/// The session as JSON (never its notes: [`Session`] serialises without them).
fn as_json(s: &Session) -> Option<serde_json::Value> {
    serde_json::to_value(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointers(v: Validator) -> Vec<String> {
        match v.finish() {
            Err(Error::Validation(e)) => e.into_iter().map(|e| e.pointer).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scores_are_0_to_100_with_unique_criteria() {
        let s = Scores {
            before: Some(-1),
            after: Some(101),
            criteria: vec![
                CriterionScore {
                    name: "empathy".into(),
                    before: Some(50),
                    after: Some(200),
                },
                CriterionScore {
                    name: " empathy ".into(),
                    before: None,
                    after: None,
                },
            ],
        };
        let mut v = Validator::new();
        s.check(&mut v, "/scores");
        assert_eq!(
            pointers(v),
            [
                "/scores/before",
                "/scores/after",
                "/scores/criteria/0/after",
                "/scores/criteria/1/name"
            ]
        );
        let ok = Scores {
            before: Some(40),
            after: Some(65),
            criteria: vec![],
        };
        assert_eq!(ok.change(), Some(25));
    }
}
