//! The KPI metrics, each defined once: its name, how its daily values
//! aggregate over longer periods, what counts, and the set-based SQL that
//! computes it for every CoP and date of a rollup at once.
//!
//! Every metric's SQL is a `SELECT cop_id, date, value` over
//! `cops × dates` with these parameters:
//!
//! | param | type | meaning |
//! |---|---|---|
//! | `$1` | `uuid[]` | the CoPs (all of one customer) |
//! | `$2`, `$3` | `date` | the first and last date, inclusive |
//! | `$4` | `text` | the customer's IANA time zone: dates are local dates there |
//!
//! [`Metric::upsert_sql`] wraps it into the statement the rollup runs:
//! `INSERT … SELECT … ON CONFLICT (cop_id, metric, date) DO UPDATE`, which
//! never touches rows ingested from outside (`source = 'ingest'`).
//!
//! The arithmetic (NPS, rates) exists twice, as a pure function and as the
//! SQL expression next to it ([`nps`] / [`nps_sql`], [`rate`] /
//! [`rate_sql`]); a database test checks that both agree.

use crate::text_enum;

/// Trailing window of `map` and `mau`: the date and the 29 days before it.
pub const ACTIVITY_WINDOW_DAYS: u32 = 30;
/// Trailing window of `nps`: the date and the 89 days before it.
pub const NPS_WINDOW_DAYS: u32 = 90;

text_enum! {
    /// A metric computed by the KPI rollup (one value per CoP and day).
    pub enum Metric {
        /// Monthly active participants: distinct people who participated
        /// (attended an event, engaged with content, answered a survey, made
        /// LMS progress) in the 30 days ending that day.
        Map = "map",
        /// Monthly active users: distinct people with any recorded activity
        /// (participation, event registration, use case submission, joining
        /// the CoP) in the 30 days ending that day.
        Mau = "mau",
        /// Net Promoter Score of the NPS answers given in the 90 days ending
        /// that day (−100…100; null without answers).
        Nps = "nps",
        /// Net Promoter Score of the NPS answers given that day.
        NpsDaily = "nps_daily",
        /// Events (not cancelled) that started that day.
        Sessions = "sessions",
        /// Attendees of the events that started that day.
        Attendance = "attendance",
        /// Share (0…1) of the registrants of that day's events who attended.
        AttendanceRate = "attendance_rate",
        /// Content views that day.
        ContentViews = "content_views",
        /// Content downloads that day.
        ContentDownloads = "content_downloads",
        /// Members who joined the CoP that day.
        NewMembers = "new_members",
        /// LMS course completions by members of the CoP that day.
        Certifications = "certifications",
        /// Use cases of the CoP approved that day.
        UseCasesApproved = "use_cases_approved",
    }
}

text_enum! {
    /// How daily values combine over a week, a month or a summary period.
    pub enum Aggregation {
        /// The sum of the daily values (counts).
        Sum = "sum",
        /// The mean of the days that have a value (rates).
        Mean = "mean",
        /// The value of the latest day that has one (trailing-window snapshots).
        Last = "last",
    }
}

impl Metric {
    pub fn aggregation(self) -> Aggregation {
        match self {
            Metric::Map | Metric::Mau | Metric::Nps => Aggregation::Last,
            Metric::NpsDaily | Metric::AttendanceRate => Aggregation::Mean,
            Metric::Sessions
            | Metric::Attendance
            | Metric::ContentViews
            | Metric::ContentDownloads
            | Metric::NewMembers
            | Metric::Certifications
            | Metric::UseCasesApproved => Aggregation::Sum,
        }
    }

    /// Whether the metric counts people or things (so that summing it
    /// across CoPs means something); rates and scores do not.
    pub fn is_count(self) -> bool {
        !matches!(
            self,
            Metric::Nps | Metric::NpsDaily | Metric::AttendanceRate
        )
    }

    /// How many days before `$2` the metric reads activity from.
    pub fn lookback_days(self) -> u32 {
        match self {
            Metric::Map | Metric::Mau => ACTIVITY_WINDOW_DAYS - 1,
            Metric::Nps => NPS_WINDOW_DAYS - 1,
            _ => 0,
        }
    }

    /// `SELECT cop_id, date, value` for every CoP of `$1` and every date of
    /// `$2..=$3` (see the module documentation for the parameters).
    pub fn select_sql(self) -> String {
        match self {
            Metric::Map => active_people(&participation()),
            Metric::Mau => active_people(&format!("{} UNION {}", participation(), other_activity())),
            Metric::Nps => nps_select(NPS_WINDOW_DAYS),
            Metric::NpsDaily => nps_select(1),
            Metric::Sessions => daily_count(&format!(
                "SELECT e.cop_id, {date} AS date, count(*) AS n FROM events e
                 WHERE {events} GROUP BY 1, 2",
                date = local("e.starts_at"),
                events = events_in_range(0),
            )),
            Metric::Attendance => daily_count(&format!(
                "SELECT e.cop_id, {date} AS date, count(*) AS n
                 FROM events e JOIN event_attendance a ON a.event_id = e.id
                 WHERE {events} GROUP BY 1, 2",
                date = local("e.starts_at"),
                events = events_in_range(0),
            )),
            Metric::AttendanceRate => format!(
                "WITH v AS (
                     SELECT e.cop_id, {date} AS date, count(*) AS registered, count(a.user_id) AS attended
                     FROM events e
                     JOIN event_registrations r ON r.event_id = e.id
                     LEFT JOIN event_attendance a ON a.event_id = r.event_id AND a.user_id = r.user_id
                     WHERE {events} GROUP BY 1, 2)
                 SELECT d.cop_id, d.date, {rate} AS value
                 FROM ({days}) d LEFT JOIN v ON v.cop_id = d.cop_id AND v.date = d.date",
                date = local("e.starts_at"),
                events = events_in_range(0),
                rate = rate_sql("v.attended", "v.registered"),
                days = days(0),
            ),
            Metric::ContentViews => engagement_count("view"),
            Metric::ContentDownloads => engagement_count("download"),
            Metric::NewMembers => daily_count(&format!(
                "SELECT m.cop_id, {date} AS date, count(*) AS n FROM cop_members m
                 WHERE m.cop_id = ANY($1) AND {range} GROUP BY 1, 2",
                date = local("m.joined_at"),
                range = in_range("m.joined_at", 0),
            )),
            Metric::Certifications => daily_count(&format!(
                "SELECT m.cop_id, {date} AS date, count(*) AS n
                 FROM cop_members m
                 JOIN cops c ON c.id = m.cop_id
                 JOIN course_completions cc ON cc.user_id = m.user_id AND cc.customer_id = c.customer_id
                 WHERE m.cop_id = ANY($1) AND {range} GROUP BY 1, 2",
                date = local("cc.completed_at"),
                range = in_range("cc.completed_at", 0),
            )),
            Metric::UseCasesApproved => daily_count(&format!(
                "SELECT u.cop_id, {date} AS date, count(*) AS n FROM use_cases u
                 WHERE u.cop_id = ANY($1) AND u.approved_at IS NOT NULL AND {range} GROUP BY 1, 2",
                date = local("u.approved_at"),
                range = in_range("u.approved_at", 0),
            )),
        }
    }

    /// The rollup's statement for this metric: upserts one row per CoP and
    /// date, stamped `computed_at = $5`; rows with `source = 'ingest'` are
    /// left as they are.
    pub fn upsert_sql(self) -> String {
        format!(
            "INSERT INTO kpi_metrics (cop_id, metric, date, value, source, computed_at)
             SELECT m.cop_id, '{name}', m.date, m.value, 'rollup', $5 FROM ({select}) AS m
             ON CONFLICT (cop_id, metric, date) DO UPDATE
                 SET value = EXCLUDED.value, computed_at = EXCLUDED.computed_at
                 WHERE kpi_metrics.source = 'rollup'",
            name = self.as_str(),
            select = self.select_sql(),
        )
    }
}

/// Net Promoter Score: % promoters (9–10) − % detractors (0–6), −100…100;
/// `None` without answers.
pub fn nps(promoters: i64, passives: i64, detractors: i64) -> Option<f64> {
    let total = promoters + passives + detractors;
    (total > 0).then(|| 100.0 * (promoters - detractors) as f64 / total as f64)
}

/// [`nps`] as a SQL expression over three count expressions.
pub fn nps_sql(promoters: &str, passives: &str, detractors: &str) -> String {
    format!(
        "(100.0 * (({promoters}) - ({detractors})) / nullif(({promoters}) + ({passives}) + ({detractors}), 0))::float8"
    )
}

/// `part / whole`; `None` when `whole` is 0.
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// [`rate`] as a SQL expression (null when `whole` is 0 or null).
pub fn rate_sql(part: &str, whole: &str) -> String {
    format!("(({part})::float8 / nullif(({whole}), 0))")
}

// ---------------------------------------------------------------------------
// SQL building blocks (constants only: no input is ever formatted in).

/// The local date (in `$4`) of a `timestamptz` expression.
fn local(ts: &str) -> String {
    format!("(({ts}) AT TIME ZONE $4)::date")
}

/// `ts` falls on a local date in `$2 - lookback ..= $3`; written as a range
/// on the raw column so that indexes on it apply.
fn in_range(ts: &str, lookback: u32) -> String {
    format!(
        "{ts} >= (($2::date - {lookback})::timestamp AT TIME ZONE $4) \
         AND {ts} < (($3::date + 1)::timestamp AT TIME ZONE $4)"
    )
}

/// Events of the CoPs, not cancelled, starting on a local date in range.
fn events_in_range(lookback: u32) -> String {
    format!(
        "e.cop_id = ANY($1) AND e.status = 'scheduled' AND {}",
        in_range("e.starts_at", lookback)
    )
}

/// Every CoP × every date of `$2 - lookback ..= $3` (`cop_id`, `date`).
fn days(lookback: u32) -> String {
    format!(
        "SELECT c.cop_id, $2::date - {lookback} + i AS date
         FROM unnest($1::uuid[]) AS c(cop_id)
         CROSS JOIN generate_series(0, $3::date - $2::date + {lookback}) AS i"
    )
}

/// A count per CoP and day from `inner` (`cop_id`, `date`, `n`); 0 on days without any.
fn daily_count(inner: &str) -> String {
    format!(
        "WITH v AS ({inner})
         SELECT d.cop_id, d.date, coalesce(v.n, 0)::float8 AS value
         FROM ({days}) d LEFT JOIN v ON v.cop_id = d.cop_id AND v.date = d.date",
        days = days(0),
    )
}

fn engagement_count(action: &str) -> String {
    daily_count(&format!(
        "SELECT g.cop_id, {date} AS date, count(*) AS n FROM asset_engagement g
         WHERE g.cop_id = ANY($1) AND g.action = '{action}' AND {range} GROUP BY 1, 2",
        date = local("g.at"),
        range = in_range("g.at", 0),
    ))
}

/// Participation (`cop_id`, `user_id`, `day`) on local days from 29 days
/// before `$2` to `$3`: attending an event (on the event's date), engaging
/// with content, answering a survey, and LMS progress of the CoP's members
/// (the latest update of each lesson they touched after joining).
fn participation() -> String {
    let lb = ACTIVITY_WINDOW_DAYS - 1;
    format!(
        "SELECT e.cop_id, a.user_id, {event_day} AS day
         FROM events e JOIN event_attendance a ON a.event_id = e.id
         WHERE {events}
         UNION
         SELECT g.cop_id, g.user_id, {engaged_day} FROM asset_engagement g
         WHERE g.cop_id = ANY($1) AND {engaged}
         UNION
         SELECT s.cop_id, r.user_id, {responded_day}
         FROM surveys s JOIN survey_responses r ON r.survey_id = s.id
         WHERE s.cop_id = ANY($1) AND {responded}
         UNION
         SELECT m.cop_id, lp.user_id, {progress_day}
         FROM cop_members m
         JOIN cops c ON c.id = m.cop_id
         JOIN lesson_progress lp ON lp.user_id = m.user_id AND lp.customer_id = c.customer_id
         WHERE m.cop_id = ANY($1) AND lp.status <> 'not_started' AND lp.updated_at >= m.joined_at AND {progress}",
        event_day = local("e.starts_at"),
        events = events_in_range(lb),
        engaged_day = local("g.at"),
        engaged = in_range("g.at", lb),
        responded_day = local("r.responded_at"),
        responded = in_range("r.responded_at", lb),
        progress_day = local("lp.updated_at"),
        progress = in_range("lp.updated_at", lb),
    )
}

/// Activity that is not participation: registering for an event, submitting
/// a use case, joining the CoP.
fn other_activity() -> String {
    let lb = ACTIVITY_WINDOW_DAYS - 1;
    format!(
        "SELECT e.cop_id, r.user_id, {registered_day}
         FROM event_registrations r JOIN events e ON e.id = r.event_id
         WHERE e.cop_id = ANY($1) AND {registered}
         UNION
         SELECT u.cop_id, u.submitted_by, {submitted_day} FROM use_cases u
         WHERE u.cop_id = ANY($1) AND u.submitted_by IS NOT NULL AND {submitted}
         UNION
         SELECT m.cop_id, m.user_id, {joined_day} FROM cop_members m
         WHERE m.cop_id = ANY($1) AND {joined}",
        registered_day = local("r.registered_at"),
        registered = in_range("r.registered_at", lb),
        submitted_day = local("u.created_at"),
        submitted = in_range("u.created_at", lb),
        joined_day = local("m.joined_at"),
        joined = in_range("m.joined_at", lb),
    )
}

/// Distinct people active in the trailing window, for every CoP and date,
/// without joining every date to every activity: each active day of a
/// person covers the dates `day ..< min(day + 30, their next active day)`,
/// intervals that never overlap, so the count on a date is a running sum of
/// +1 at each interval's start and −1 at its end. Linear in activity rows.
fn active_people(activity: &str) -> String {
    let w = ACTIVITY_WINDOW_DAYS;
    format!(
        "WITH act AS ({activity}),
         iv AS (
             SELECT cop_id, day, least(day + {w}, lead(day) OVER (PARTITION BY cop_id, user_id ORDER BY day)) AS until
             FROM act),
         delta AS (
             SELECT cop_id, date, sum(n) AS n FROM (
                 SELECT cop_id, day AS date, 1 AS n FROM iv
                 UNION ALL
                 SELECT cop_id, until, -1 FROM iv WHERE until <= $3::date) x
             GROUP BY 1, 2),
         run AS (
             SELECT d.cop_id, d.date,
                    sum(coalesce(delta.n, 0)) OVER (PARTITION BY d.cop_id ORDER BY d.date) AS active
             FROM ({days}) d LEFT JOIN delta ON delta.cop_id = d.cop_id AND delta.date = d.date)
         SELECT cop_id, date, active::float8 AS value FROM run WHERE date >= $2::date",
        days = days(w - 1),
    )
}

/// NPS of the answers to NPS questions of the CoP's surveys given in the
/// `window` days ending on each date (by the response's local date).
fn nps_select(window: u32) -> String {
    let lb = window - 1;
    format!(
        "WITH v AS (
             SELECT s.cop_id, {responded_day} AS date,
                    count(*) FILTER (WHERE a.numeric_value >= 9) AS p,
                    count(*) FILTER (WHERE a.numeric_value BETWEEN 7 AND 8) AS pa,
                    count(*) FILTER (WHERE a.numeric_value <= 6) AS d
             FROM surveys s
             JOIN survey_questions q ON q.survey_id = s.id AND q.kind = 'nps'
             JOIN survey_answers a ON a.survey_id = s.id AND a.question_id = q.id
             JOIN survey_responses r ON r.id = a.response_id
             WHERE s.cop_id = ANY($1) AND a.numeric_value IS NOT NULL AND {responded}
             GROUP BY 1, 2),
         w AS (
             SELECT d.cop_id, d.date,
                    sum(coalesce(v.p, 0)) OVER win AS p,
                    sum(coalesce(v.pa, 0)) OVER win AS pa,
                    sum(coalesce(v.d, 0)) OVER win AS d
             FROM ({days}) d LEFT JOIN v ON v.cop_id = d.cop_id AND v.date = d.date
             WINDOW win AS (PARTITION BY d.cop_id ORDER BY d.date ROWS BETWEEN {lb} PRECEDING AND CURRENT ROW))
         SELECT cop_id, date, {nps} AS value FROM w WHERE date >= $2::date",
        responded_day = local("r.responded_at"),
        responded = in_range("r.responded_at", lb),
        days = days(lb),
        nps = nps_sql("w.p", "w.pa", "w.d"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nps_from_counts() {
        assert_eq!(nps(0, 0, 0), None);
        assert_eq!(nps(5, 3, 2), Some(30.0));
        assert_eq!(nps(0, 0, 4), Some(-100.0));
        assert_eq!(nps(4, 0, 0), Some(100.0));
        assert_eq!(nps(1, 1, 1), Some(0.0));
        let v = nps(2, 1, 0).unwrap();
        assert!((v - 200.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn rates() {
        assert_eq!(rate(0, 0), None);
        assert_eq!(rate(3, 4), Some(0.75));
        assert_eq!(rate(0, 5), Some(0.0));
    }

    #[test]
    fn every_metric_is_defined() {
        assert_eq!(Metric::ALL.len(), 12);
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.as_str()), Some(*m));
            let sql = m.upsert_sql();
            assert!(
                sql.contains("ON CONFLICT (cop_id, metric, date) DO UPDATE"),
                "{m:?}"
            );
            assert!(sql.contains("kpi_metrics.source = 'rollup'"), "{m:?}");
            // Only the five documented parameters.
            assert!(!sql.contains("$6"), "{m:?}");
        }
        assert_eq!(Metric::Map.aggregation(), Aggregation::Last);
        assert_eq!(Metric::AttendanceRate.aggregation(), Aggregation::Mean);
        assert_eq!(Metric::Sessions.aggregation(), Aggregation::Sum);
        assert!(!Metric::Nps.is_count() && Metric::Mau.is_count());
        assert_eq!(Metric::Nps.lookback_days(), 89);
        assert_eq!(Metric::Map.lookback_days(), 29);
    }
}
