//! What the AI jobs read from the portal: a survey's free-text answers, and
//! a CoP's context for advice (latest KPIs, events and attendance of the
//! last 90 days and the next 60, recent surveys and their summaries, use
//! cases, champions, the most active members and the most used content).
//!
//! Members appear in the context under keys (`m1`, `m2`…) with activity
//! counts only: names and e-mail addresses are never sent to a provider;
//! the job maps keys back to members when it builds the result.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use super::{summary::RawAnswer, text::one_line};
use crate::{
    error::Result,
    ids::{AssetId, CopId, CustomerId, SurveyId, UseCaseId, UserId},
};

/// A survey as the summary job needs it.
#[derive(Debug, Clone)]
pub struct SurveyForSummary {
    pub survey_id: SurveyId,
    pub customer_id: CustomerId,
    pub title: String,
    pub response_count: i64,
    /// Text questions: (position, prompt).
    pub text_questions: Vec<(i16, String)>,
    /// Free-text answers in a stable order (response time, response, question).
    pub answers: Vec<RawAnswer>,
}

/// Loads a survey's free-text answers; `None` if the survey is gone.
pub async fn survey_for_summary(
    conn: &mut PgConnection,
    id: SurveyId,
) -> Result<Option<SurveyForSummary>> {
    let head: Option<(String, CustomerId, i64)> = sqlx::query_as(
        "SELECT s.title, c.customer_id, (SELECT count(*) FROM survey_responses r WHERE r.survey_id = s.id)
         FROM surveys s JOIN cops c ON c.id = s.cop_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((title, customer_id, response_count)) = head else {
        return Ok(None);
    };
    let text_questions: Vec<(i16, String)> = sqlx::query_as(
        "SELECT position, prompt FROM survey_questions WHERE survey_id = $1 AND kind = 'text' ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let rows: Vec<(i16, String)> = sqlx::query_as(
        "SELECT q.position, a.text_value
         FROM survey_answers a
         JOIN survey_questions q ON q.id = a.question_id
         JOIN survey_responses r ON r.id = a.response_id
         WHERE a.survey_id = $1 AND a.text_value IS NOT NULL
         ORDER BY r.responded_at, r.id, q.position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(SurveyForSummary {
        survey_id: id,
        customer_id,
        title,
        response_count,
        text_questions,
        answers: rows
            .into_iter()
            .map(|(question_position, text)| RawAnswer {
                question_position,
                text,
            })
            .collect(),
    }))
}

/// The tenant of a CoP, if it exists.
pub async fn cop_customer(conn: &mut PgConnection, cop: CopId) -> Result<Option<CustomerId>> {
    Ok(
        sqlx::query_scalar("SELECT customer_id FROM cops WHERE id = $1")
            .bind(cop)
            .fetch_optional(conn)
            .await?,
    )
}

/// Everything the advisor looks at, as sent to the model (inside delimiters).
#[derive(Debug, Clone, Serialize)]
pub struct CopContext {
    pub today: NaiveDate,
    pub cop: CopFacts,
    /// Latest value of each KPI and the value about four weeks before it.
    pub kpis: Vec<KpiFact>,
    /// Events of the last 90 days and the next 60, oldest first.
    pub events: Vec<EventFact>,
    /// The five most recent open or closed surveys.
    pub surveys: Vec<SurveyFact>,
    pub use_cases: Vec<UseCaseFact>,
    pub champions: Vec<ChampionFact>,
    /// The 25 most active members of the last 90 days.
    pub members: Vec<MemberFact>,
    /// The 15 most used content assets of the last 90 days.
    pub assets: Vec<AssetFact>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopFacts {
    pub name: String,
    pub phase: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    pub member_count: i64,
    pub members_by_role: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KpiFact {
    pub metric: String,
    pub date: NaiveDate,
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_value: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventFact {
    pub title: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub starts_on: NaiveDate,
    pub upcoming: bool,
    pub status: String,
    pub registrations: i64,
    pub attendees: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SurveyFact {
    pub title: String,
    pub kind: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_on: Option<NaiveDate>,
    pub responses: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_rating: Option<f64>,
    /// Top actions of the survey's latest AI summary.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub summary_actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UseCaseFact {
    pub key: String,
    #[serde(skip)]
    pub id: UseCaseId,
    pub title: String,
    pub status: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChampionFact {
    /// The member's key when they are among `members`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_key: Option<String>,
    pub title: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub current: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberFact {
    pub key: String,
    #[serde(skip)]
    pub user_id: UserId,
    #[serde(skip)]
    pub name: String,
    pub role: String,
    pub joined_on: NaiveDate,
    pub sessions_attended_90d: i64,
    pub surveys_answered_90d: i64,
    pub use_cases_submitted: i64,
    pub use_cases_approved: i64,
    pub current_champion: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssetFact {
    pub key: String,
    #[serde(skip)]
    pub id: AssetId,
    pub title: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    pub views_90d: i64,
    pub downloads_90d: i64,
    pub likes_90d: i64,
    pub added_on: NaiveDate,
}

impl CopContext {
    /// A stable hash of the context, including the members and items behind the keys.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(super::text::prompt_json(self));
        for m in &self.members {
            h.update(m.user_id.0.as_bytes());
            h.update(m.name.as_bytes());
        }
        for a in &self.assets {
            h.update(a.id.0.as_bytes());
        }
        for u in &self.use_cases {
            h.update(u.id.0.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Attendances of past events in the window.
    pub fn attendances(&self) -> i64 {
        self.events
            .iter()
            .filter(|e| !e.upcoming)
            .map(|e| e.attendees)
            .sum()
    }

    pub fn stats(&self) -> super::types::ContextStats {
        super::types::ContextStats {
            kpis: self.kpis.len() as i64,
            events: self.events.len() as i64,
            attendances: self.attendances(),
            surveys: self.surveys.len() as i64,
            use_cases: self.use_cases.len() as i64,
            champions: self.champions.len() as i64,
            members: self.cop.member_count,
            assets: self.assets.len() as i64,
        }
    }
}

// Rows of the context queries.
type KpiRow = (
    String,
    NaiveDate,
    Option<f64>,
    Option<NaiveDate>,
    Option<f64>,
);
type EventRow = (String, String, DateTime<Utc>, String, Option<i32>, i64, i64);
type UseCaseRow = (UseCaseId, String, String, String, Option<DateTime<Utc>>);
type SurveyRow = (
    String,
    String,
    String,
    Option<DateTime<Utc>>,
    i64,
    Option<f64>,
    Option<f64>,
    Option<serde_json::Value>,
);
type MemberRow = (
    UserId,
    String,
    String,
    DateTime<Utc>,
    i64,
    i64,
    i64,
    i64,
    bool,
);
type AssetRow = (
    AssetId,
    String,
    String,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    i64,
    i64,
    i64,
);

/// Gathers a CoP's context; `None` if the CoP is gone.
pub async fn cop_context(
    conn: &mut PgConnection,
    cop: CopId,
    now: DateTime<Utc>,
) -> Result<Option<CopContext>> {
    let head: Option<(String, String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT name, phase, status, mission, (SELECT count(*) FROM cop_members WHERE cop_id = cops.id)
         FROM cops WHERE id = $1",
    )
    .bind(cop)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((name, phase, status, mission, member_count)) = head else {
        return Ok(None);
    };
    let members_by_role: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT role, count(*) FROM cop_members WHERE cop_id = $1 GROUP BY role",
    )
    .bind(cop)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();

    let kpis: Vec<KpiRow> = sqlx::query_as(
        "SELECT l.metric, l.date, l.value, p.date, p.value
         FROM (SELECT DISTINCT ON (metric) metric, date, value FROM kpi_metrics
               WHERE cop_id = $1 AND date <= $2::date ORDER BY metric, date DESC) l
         LEFT JOIN LATERAL (SELECT date, value FROM kpi_metrics k
                            WHERE k.cop_id = $1 AND k.metric = l.metric AND k.date <= l.date - 28
                            ORDER BY k.date DESC LIMIT 1) p ON true
         ORDER BY l.metric LIMIT 50",
    )
    .bind(cop)
    .bind(now.date_naive())
    .fetch_all(&mut *conn)
    .await?;

    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT e.title, e.type, e.starts_at, e.status, e.capacity,
                (SELECT count(*) FROM event_registrations r WHERE r.event_id = e.id),
                (SELECT count(*) FROM event_attendance a WHERE a.event_id = e.id)
         FROM events e
         WHERE e.cop_id = $1 AND e.starts_at >= $2 - interval '90 days' AND e.starts_at < $2 + interval '60 days'
         ORDER BY e.starts_at, e.id LIMIT 100",
    )
    .bind(cop)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let surveys: Vec<SurveyRow> = sqlx::query_as(
        "SELECT s.title, s.kind, s.status, s.closed_at,
                (SELECT count(*) FROM survey_responses r WHERE r.survey_id = s.id),
                (SELECT 100.0 * (count(*) FILTER (WHERE a.numeric_value >= 9) - count(*) FILTER (WHERE a.numeric_value <= 6))
                        / NULLIF(count(*), 0)
                 FROM survey_answers a JOIN survey_questions q ON q.id = a.question_id AND q.kind = 'nps'
                 WHERE a.survey_id = s.id)::float8,
                (SELECT avg(a.numeric_value)
                 FROM survey_answers a JOIN survey_questions q ON q.id = a.question_id AND q.kind = 'rating'
                 WHERE a.survey_id = s.id)::float8,
                sm.result
         FROM surveys s LEFT JOIN survey_ai_summaries sm ON sm.survey_id = s.id
         WHERE s.cop_id = $1 AND s.status <> 'draft'
         ORDER BY coalesce(s.closed_at, s.opened_at) DESC NULLS LAST, s.id DESC LIMIT 5",
    )
    .bind(cop)
    .fetch_all(&mut *conn)
    .await?;

    let use_cases: Vec<UseCaseRow> = sqlx::query_as(
        "SELECT id, title, status, summary, approved_at FROM use_cases WHERE cop_id = $1
         ORDER BY created_at DESC, id DESC LIMIT 20",
    )
    .bind(cop)
    .fetch_all(&mut *conn)
    .await?;
    let members: Vec<MemberRow> = sqlx::query_as(
        "SELECT user_id, name, role, joined_at, attended, answered, submitted, approved, current_champion FROM (
             SELECT m.user_id, u.name, m.role, m.joined_at,
                    (SELECT count(*) FROM event_attendance a JOIN events e ON e.id = a.event_id
                     WHERE e.cop_id = $1 AND a.user_id = m.user_id
                       AND e.starts_at >= $2 - interval '90 days' AND e.starts_at <= $2) AS attended,
                    (SELECT count(*) FROM survey_responses r JOIN surveys s ON s.id = r.survey_id
                     WHERE s.cop_id = $1 AND r.user_id = m.user_id AND r.responded_at >= $2 - interval '90 days') AS answered,
                    (SELECT count(*) FROM use_cases uc WHERE uc.cop_id = $1 AND uc.submitted_by = m.user_id) AS submitted,
                    (SELECT count(*) FROM use_cases uc
                     WHERE uc.cop_id = $1 AND uc.submitted_by = m.user_id AND uc.status = 'approved') AS approved,
                    EXISTS (SELECT 1 FROM champions c WHERE c.cop_id = $1 AND c.user_id = m.user_id
                              AND $2::date BETWEEN c.period_start AND c.period_end) AS current_champion
             FROM cop_members m JOIN users u ON u.id = m.user_id
             WHERE m.cop_id = $1) t
         ORDER BY attended * 2 + answered + submitted * 3 + approved * 2 DESC, joined_at, user_id
         LIMIT 25",
    )
    .bind(cop)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;

    let champions: Vec<(UserId, String, NaiveDate, NaiveDate)> = sqlx::query_as(
        "SELECT user_id, title, period_start, period_end FROM champions WHERE cop_id = $1
         ORDER BY period_start DESC, id DESC LIMIT 20",
    )
    .bind(cop)
    .fetch_all(&mut *conn)
    .await?;
    let assets: Vec<AssetRow> = sqlx::query_as(
        "SELECT a.id, a.title, a.kind, a.topic, a.level, a.created_at,
                count(g.id) FILTER (WHERE g.action = 'view'),
                count(g.id) FILTER (WHERE g.action = 'download'),
                count(g.id) FILTER (WHERE g.action = 'like')
         FROM content_assets a
         LEFT JOIN asset_engagement g ON g.asset_id = a.id AND g.at >= $2 - interval '90 days'
         WHERE a.cop_id = $1 AND a.deleted_at IS NULL
         GROUP BY a.id
         ORDER BY count(g.id) DESC, a.created_at DESC, a.id LIMIT 15",
    )
    .bind(cop)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;

    let today = now.date_naive();
    let members: Vec<MemberFact> = members
        .into_iter()
        .enumerate()
        .map(
            |(
                i,
                (user_id, name, role, joined, attended, answered, submitted, approved, current),
            )| MemberFact {
                key: format!("m{}", i + 1),
                user_id,
                name,
                role,
                joined_on: joined.date_naive(),
                sessions_attended_90d: attended,
                surveys_answered_90d: answered,
                use_cases_submitted: submitted,
                use_cases_approved: approved,
                current_champion: current,
            },
        )
        .collect();
    let champions = champions
        .into_iter()
        .map(|(user_id, title, start, end)| ChampionFact {
            member_key: members
                .iter()
                .find(|m| m.user_id == user_id)
                .map(|m| m.key.clone()),
            title,
            period_start: start,
            period_end: end,
            current: (start..=end).contains(&today),
        })
        .collect();
    Ok(Some(CopContext {
        today,
        cop: CopFacts {
            name,
            phase,
            status,
            mission: mission.map(|m| one_line(&m, 500)),
            member_count,
            members_by_role,
        },
        kpis: kpis
            .into_iter()
            .map(
                |(metric, date, value, previous_date, previous_value)| KpiFact {
                    metric,
                    date,
                    value,
                    previous_date,
                    previous_value,
                },
            )
            .collect(),
        events: events
            .into_iter()
            .map(
                |(title, event_type, starts_at, status, capacity, registrations, attendees)| {
                    EventFact {
                        title,
                        event_type,
                        starts_on: starts_at.date_naive(),
                        upcoming: starts_at > now,
                        status,
                        registrations,
                        attendees,
                        capacity,
                    }
                },
            )
            .collect(),
        surveys: surveys
            .into_iter()
            .map(
                |(title, kind, status, closed_at, responses, nps, average_rating, summary)| {
                    SurveyFact {
                        title,
                        kind,
                        status,
                        closed_on: closed_at.map(|d| d.date_naive()),
                        responses,
                        nps: nps.map(|x| (x * 10.0).round() / 10.0),
                        average_rating: average_rating.map(|x| (x * 100.0).round() / 100.0),
                        summary_actions: summary_actions(summary.as_ref()),
                    }
                },
            )
            .collect(),
        use_cases: use_cases
            .into_iter()
            .enumerate()
            .map(
                |(i, (id, title, status, summary, approved_at))| UseCaseFact {
                    key: format!("u{}", i + 1),
                    id,
                    title,
                    status,
                    summary: one_line(&summary, 300),
                    approved_on: approved_at.map(|d| d.date_naive()),
                },
            )
            .collect(),
        champions,
        members,
        assets: assets
            .into_iter()
            .enumerate()
            .map(
                |(i, (id, title, kind, topic, level, created, views, downloads, likes))| {
                    AssetFact {
                        key: format!("a{}", i + 1),
                        id,
                        title,
                        kind,
                        topic,
                        level,
                        views_90d: views,
                        downloads_90d: downloads,
                        likes_90d: likes,
                        added_on: created.date_naive(),
                    }
                },
            )
            .collect(),
    }))
}

/// The `top_actions` texts of a stored survey summary.
fn summary_actions(result: Option<&serde_json::Value>) -> Vec<String> {
    result
        .and_then(|r| r.get("top_actions"))
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|i| i.get("text")?.as_str().map(|t| one_line(t, 200)))
                .take(3)
                .collect()
        })
        .unwrap_or_default()
}
