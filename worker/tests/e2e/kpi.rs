//! KPI rollups end to end: hand-built datasets whose metrics are computed
//! by hand below, rollups run by real worker processes, read back over HTTP.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use serde_json::Value;
use sqlx::PgPool;
use test_support::{app::json, eventually};
use uuid::Uuid;

use crate::harness::Harness;

const TZ: &str = "America/New_York";

/// Inserts rows the way the portal would have stored them, at chosen
/// local times of the customer's time zone.
struct Data {
    pool: PgPool,
    customer: Uuid,
    /// Today in the customer's time zone.
    today: NaiveDate,
}

impl Data {
    async fn new(h: &Harness, slug: &str) -> Self {
        let pool = h.app.db.pool.clone();
        let customer: Uuid = h.app.create_customer(&h.admin, slug).await.parse().unwrap();
        sqlx::query("UPDATE customers SET time_zone = $2 WHERE id = $1")
            .bind(customer)
            .bind(TZ)
            .execute(&pool)
            .await
            .unwrap();
        // Keep the whole test on one local day.
        let to_midnight: f64 = sqlx::query_scalar(
            "SELECT extract(epoch FROM (date_trunc('day', now() AT TIME ZONE $1) + interval '1 day')
                                       - (now() AT TIME ZONE $1))::float8",
        )
        .bind(TZ)
        .fetch_one(&pool)
        .await
        .unwrap();
        if to_midnight < 180.0 {
            tokio::time::sleep(Duration::from_secs_f64(to_midnight + 1.0)).await;
        }
        let today: NaiveDate = sqlx::query_scalar("SELECT (now() AT TIME ZONE $1)::date")
            .bind(TZ)
            .fetch_one(&pool)
            .await
            .unwrap();
        Self {
            pool,
            customer,
            today,
        }
    }

    fn day(&self, days_ago: u64) -> NaiveDate {
        self.today - Days::new(days_ago)
    }

    /// `days_ago` days before today at local time `hh:mm`, as UTC.
    async fn at(&self, days_ago: u64, time: &str) -> DateTime<Utc> {
        sqlx::query_scalar("SELECT ($1::date + $2::time) AT TIME ZONE $3")
            .bind(self.day(days_ago))
            .bind(time)
            .bind(TZ)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn exec(&self, sql: &str, args: &[Arg]) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
        for a in args {
            q = match a {
                Arg::Id(u) => q.bind(*u),
                Arg::At(t) => q.bind(*t),
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q.execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn user(&self) -> Uuid {
        let id = Uuid::now_v7();
        self.exec(
            "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, 'Person', 'x')",
            &[Arg::Id(id), Arg::Text(format!("{id}@kpi.test"))],
        )
        .await;
        self.exec(
            "INSERT INTO user_customers (user_id, customer_id) VALUES ($1, $2)",
            &[Arg::Id(id), Arg::Id(self.customer)],
        )
        .await;
        id
    }

    async fn cop(&self, name: &str, phase: &str, status: &str) -> Uuid {
        let id = Uuid::now_v7();
        self.exec(
            "INSERT INTO cops (id, customer_id, name, phase, status) VALUES ($1, $2, $3, $4, $5)",
            &[
                Arg::Id(id),
                Arg::Id(self.customer),
                Arg::Text(name.into()),
                Arg::Text(phase.into()),
                Arg::Text(status.into()),
            ],
        )
        .await;
        id
    }

    async fn member(&self, cop: Uuid, user: Uuid, joined: DateTime<Utc>) {
        self.exec(
            "INSERT INTO cop_members (cop_id, user_id, joined_at) VALUES ($1, $2, $3)",
            &[Arg::Id(cop), Arg::Id(user), Arg::At(joined)],
        )
        .await;
    }

    async fn event(&self, cop: Uuid, starts: DateTime<Utc>, cancelled: bool) -> Uuid {
        let id = Uuid::now_v7();
        self.exec(
            "INSERT INTO events (id, cop_id, type, title, starts_at, ends_at, time_zone, join_url, status, cancelled_at)
             VALUES ($1, $2, 'training', 'Session', $3, $3 + interval '1 hour', $4, 'https://meet.example/x',
                     CASE WHEN $5 = 1 THEN 'cancelled' ELSE 'scheduled' END, CASE WHEN $5 = 1 THEN $3 END)",
            &[
                Arg::Id(id),
                Arg::Id(cop),
                Arg::At(starts),
                Arg::Text(TZ.into()),
                Arg::Int(cancelled as i32),
            ],
        )
        .await;
        id
    }

    async fn registration(&self, event: Uuid, user: Uuid, at: DateTime<Utc>) {
        self.exec(
            "INSERT INTO event_registrations (event_id, user_id, registered_at) VALUES ($1, $2, $3)",
            &[Arg::Id(event), Arg::Id(user), Arg::At(at)],
        )
        .await;
    }

    async fn attended(&self, event: Uuid, user: Uuid) {
        self.exec(
            "INSERT INTO event_attendance (event_id, user_id, joined_at)
             SELECT $1, $2, starts_at FROM events WHERE id = $1",
            &[Arg::Id(event), Arg::Id(user)],
        )
        .await;
    }

    async fn asset(&self, cop: Uuid) -> Uuid {
        let id = Uuid::now_v7();
        self.exec(
            "INSERT INTO content_assets (id, cop_id, kind, title, url) VALUES ($1, $2, 'doc', 'Guide', 'https://docs.example/g')",
            &[Arg::Id(id), Arg::Id(cop)],
        )
        .await;
        id
    }

    async fn engaged(&self, asset: Uuid, cop: Uuid, user: Uuid, action: &str, at: DateTime<Utc>) {
        self.exec(
            "INSERT INTO asset_engagement (asset_id, cop_id, user_id, action, at) VALUES ($1, $2, $3, $4, $5)",
            &[
                Arg::Id(asset),
                Arg::Id(cop),
                Arg::Id(user),
                Arg::Text(action.into()),
                Arg::At(at),
            ],
        )
        .await;
    }

    /// A survey with an NPS question and a rating question; returns (survey, nps question, rating question).
    async fn survey(&self, cop: Uuid) -> (Uuid, Uuid, Uuid) {
        let (s, q, r) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        self.exec(
            "INSERT INTO surveys (id, cop_id, kind, title, status, opened_at) VALUES ($1, $2, 'cop_health', 'Health', 'open', now())",
            &[Arg::Id(s), Arg::Id(cop)],
        )
        .await;
        self.exec(
            "INSERT INTO survey_questions (id, survey_id, position, kind, prompt) VALUES
                 ($1, $3, 0, 'nps', 'Recommend?'), ($2, $3, 1, 'rating', 'Useful?')",
            &[Arg::Id(q), Arg::Id(r), Arg::Id(s)],
        )
        .await;
        (s, q, r)
    }

    /// A response answering the NPS question with `score` (and the rating question with 5).
    async fn responded(
        &self,
        survey: (Uuid, Uuid, Uuid),
        user: Uuid,
        at: DateTime<Utc>,
        score: i32,
    ) {
        let id = Uuid::now_v7();
        self.exec(
            "INSERT INTO survey_responses (id, survey_id, user_id, responded_at) VALUES ($1, $2, $3, $4)",
            &[Arg::Id(id), Arg::Id(survey.0), Arg::Id(user), Arg::At(at)],
        )
        .await;
        self.exec(
            "INSERT INTO survey_answers (response_id, survey_id, question_id, numeric_value)
             VALUES ($1, $2, $3, $5), ($1, $2, $4, 5)",
            &[
                Arg::Id(id),
                Arg::Id(survey.0),
                Arg::Id(survey.1),
                Arg::Id(survey.2),
                Arg::Int(score),
            ],
        )
        .await;
    }

    async fn use_case(
        &self,
        cop: Uuid,
        by: Uuid,
        submitted: DateTime<Utc>,
        approved: DateTime<Utc>,
    ) {
        self.exec(
            "INSERT INTO use_cases (id, cop_id, title, summary, status, submitted_by, created_at, decided_at, approved_at)
             VALUES ($1, $2, 'Win', 'Saved time', 'approved', $3, $4, $5, $5)",
            &[
                Arg::Id(Uuid::now_v7()),
                Arg::Id(cop),
                Arg::Id(by),
                Arg::At(submitted),
                Arg::At(approved),
            ],
        )
        .await;
    }

    /// `user` completes the one lesson of a new course at `at` (progress and completion).
    async fn completed_course(&self, user: Uuid, at: DateTime<Utc>) {
        let (course, lesson) = (Uuid::now_v7(), Uuid::now_v7());
        self.exec(
            "INSERT INTO courses (id, customer_id, status, title, level, published_at)
             VALUES ($1, $2, 'published', 'SQL', 'beginner', now())",
            &[Arg::Id(course), Arg::Id(self.customer)],
        )
        .await;
        self.exec(
            "INSERT INTO lessons (id, course_id, position, kind, title) VALUES ($1, $2, 1, 'text', 'Intro')",
            &[Arg::Id(lesson), Arg::Id(course)],
        )
        .await;
        self.exec(
            "INSERT INTO lesson_progress (user_id, lesson_id, course_id, customer_id, status, percent, completed_at, updated_at)
             VALUES ($1, $2, $3, $4, 'completed', 100, $5, $5)",
            &[
                Arg::Id(user),
                Arg::Id(lesson),
                Arg::Id(course),
                Arg::Id(self.customer),
                Arg::At(at),
            ],
        )
        .await;
        self.exec(
            "INSERT INTO course_completions (user_id, course_id, customer_id, completed_at) VALUES ($1, $2, $3, $4)",
            &[
                Arg::Id(user),
                Arg::Id(course),
                Arg::Id(self.customer),
                Arg::At(at),
            ],
        )
        .await;
    }

    /// The stored rows of a CoP, without `computed_at`.
    async fn table(&self, cop: Uuid) -> Vec<(String, NaiveDate, Option<f64>, String)> {
        sqlx::query_as(
            "SELECT metric, date, value, source FROM kpi_metrics WHERE cop_id = $1 ORDER BY metric, date",
        )
        .bind(cop)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }
}

enum Arg {
    Id(Uuid),
    At(DateTime<Utc>),
    Text(String),
    Int(i32),
}

/// Requests a rollup over HTTP and waits for the worker to finish it; returns the job.
async fn rollup(h: &Harness, cop: Uuid, from: NaiveDate, to: NaiveDate) -> Value {
    let r = h
        .app
        .post(
            &format!("/api/v1/cops/{cop}/kpis/rollups"),
            &h.admin.access,
            &json!({"from": from, "to": to}),
        )
        .await;
    r.expect(202);
    assert_eq!(r.body["kind"], "kpi_rollup");
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/jobs/{id}").as_str())
    );
    h.wait_status(&id, "succeeded", Duration::from_secs(60))
        .await
}

/// A daily series as date → value.
async fn daily(
    h: &Harness,
    cop: Uuid,
    metric: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<NaiveDate, Option<f64>> {
    let r = h
        .app
        .get(
            &format!("/api/v1/cops/{cop}/kpis?metric={metric}&from={from}&to={to}"),
            &h.admin.access,
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["metric"], metric);
    assert!(r.body["computed_at"].is_string(), "{}", r.text);
    r.body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["date"].as_str().unwrap().parse().unwrap(),
                p["value"].as_f64(),
            )
        })
        .collect()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

/// The hand-built dataset of the main test (T = today, local):
///
/// - members u1, u2, u3 (joined T-60), u4 (joined T-5), u5 (joined T-2 at 23:30 local,
///   the next day in UTC); u6 is a user of the customer who is not a member.
/// - E1 at T-10 23:30 local (T-9 in UTC): registered u1–u4 (at T-20), attended u1, u2, u6.
/// - E2 at T-3 14:00: registered u1, u3, u5 (at T-4), attended u1.
/// - E3 at T-3 16:00, cancelled: attended u2 (counts nowhere).
/// - E4 at T-40 10:00: attended u3, no registrations.
/// - engagement: u2 views T-1 08:00 and 09:00, u4 downloads T-1 10:00, u3 likes T-7.
/// - NPS answers: u1 10, u2 8, u3 3 on T-2; u4 9 on T-1; u5 0 on T-100.
/// - use case submitted by u5 at T-6, approved T-4; u3 completes a course at T-8,
///   u6 (not a member) too.
struct Dataset {
    data: Data,
    cop: Uuid,
}

async fn dataset(h: &Harness) -> Dataset {
    let data = Data::new(h, "kpi").await;
    let d = &data;
    let cop = d.cop("Data Engineering", "growth", "active").await;
    let mut u = vec![];
    for _ in 0..6 {
        u.push(d.user().await);
    }
    for &user in &u[..3] {
        d.member(cop, user, d.at(60, "12:00").await).await;
    }
    d.member(cop, u[3], d.at(5, "10:00").await).await;
    d.member(cop, u[4], d.at(2, "23:30").await).await;

    let e1 = d.event(cop, d.at(10, "23:30").await, false).await;
    for &user in &u[..4] {
        d.registration(e1, user, d.at(20, "09:00").await).await;
    }
    for i in [0, 1, 5] {
        d.attended(e1, u[i]).await;
    }
    let e2 = d.event(cop, d.at(3, "14:00").await, false).await;
    for i in [0, 2, 4] {
        d.registration(e2, u[i], d.at(4, "10:00").await).await;
    }
    d.attended(e2, u[0]).await;
    let e3 = d.event(cop, d.at(3, "16:00").await, true).await;
    d.attended(e3, u[1]).await;
    let e4 = d.event(cop, d.at(40, "10:00").await, false).await;
    d.attended(e4, u[2]).await;

    let asset = d.asset(cop).await;
    d.engaged(asset, cop, u[1], "view", d.at(1, "08:00").await)
        .await;
    d.engaged(asset, cop, u[1], "view", d.at(1, "09:00").await)
        .await;
    d.engaged(asset, cop, u[3], "download", d.at(1, "10:00").await)
        .await;
    d.engaged(asset, cop, u[2], "like", d.at(7, "12:00").await)
        .await;

    let s = d.survey(cop).await;
    d.responded(s, u[0], d.at(2, "10:00").await, 10).await;
    d.responded(s, u[1], d.at(2, "11:00").await, 8).await;
    d.responded(s, u[2], d.at(2, "12:00").await, 3).await;
    d.responded(s, u[3], d.at(1, "10:00").await, 9).await;
    d.responded(s, u[4], d.at(100, "10:00").await, 0).await;

    d.use_case(cop, u[4], d.at(6, "09:00").await, d.at(4, "15:00").await)
        .await;
    d.completed_course(u[2], d.at(8, "09:00").await).await;
    d.completed_course(u[5], d.at(8, "09:00").await).await;
    Dataset { data, cop }
}

#[tokio::test]
async fn a_hand_built_dataset_rolls_up_to_hand_computed_metrics() {
    let h = Harness::new().await;
    let Dataset { data: d, cop } = dataset(&h).await;
    let _w = h.worker();
    let (from, to) = (d.day(59), d.today);
    let job = rollup(&h, cop, from, d.today + Days::new(5)).await;
    // Days after today are not computed: 60 dates × 12 metrics.
    assert_eq!(
        job["result"],
        json!({"rows_written": 720, "cops": 1, "dates": 60, "from": from, "to": to, "skipped": null})
    );
    let at = |days_ago: u64| d.day(days_ago);

    // Counts, on the local date (E1 is at 23:30 local on T-10, already T-9 in UTC).
    let sessions = daily(&h, cop, "sessions", from, to).await;
    let attendance = daily(&h, cop, "attendance", from, to).await;
    for (date, v) in &sessions {
        let expected = if [at(10), at(3), at(40)].contains(date) {
            1.0
        } else {
            0.0
        };
        assert!(close(*v, expected), "sessions on {date}: {v:?}");
    }
    assert!(close(attendance[&at(10)], 3.0));
    assert!(
        close(attendance[&at(3)], 1.0),
        "the cancelled E3 does not count"
    );
    assert!(close(attendance[&at(40)], 1.0));
    assert_eq!(attendance.values().flatten().sum::<f64>(), 5.0);

    // Attendance rate: registrants who attended ÷ registrants; null without registrations.
    let rate = daily(&h, cop, "attendance_rate", from, to).await;
    assert!(
        close(rate[&at(10)], 2.0 / 4.0),
        "u1, u2 of u1–u4 (u6 walked in)"
    );
    assert!(close(rate[&at(3)], 1.0 / 3.0));
    assert_eq!(rate[&at(40)], None, "E4 had no registrations");
    assert_eq!(rate.values().flatten().count(), 2);

    let views = daily(&h, cop, "content_views", from, to).await;
    let downloads = daily(&h, cop, "content_downloads", from, to).await;
    assert!(close(views[&at(1)], 2.0) && close(downloads[&at(1)], 1.0));
    assert_eq!(
        views.values().flatten().sum::<f64>(),
        2.0,
        "likes are neither"
    );
    let new_members = daily(&h, cop, "new_members", from, to).await;
    assert!(close(new_members[&at(5)], 1.0) && close(new_members[&at(2)], 1.0));
    assert_eq!(
        new_members.values().flatten().sum::<f64>(),
        2.0,
        "T-60 is outside the range"
    );
    let certs = daily(&h, cop, "certifications", from, to).await;
    assert!(close(certs[&at(8)], 1.0), "u3's; u6 is not a member");
    assert_eq!(certs.values().flatten().sum::<f64>(), 1.0);
    let approved = daily(&h, cop, "use_cases_approved", from, to).await;
    assert!(close(approved[&at(4)], 1.0));

    // MAP: people with participation in the 30 days ending on the date.
    //   u1: T-10, T-3, T-2   u2: T-10, T-2, T-1   u3: T-40, T-8, T-7, T-2
    //   u4: T-1, T-1         u6: T-10             (u5: T-100 only)
    let map = daily(&h, cop, "map", from, to).await;
    for days_ago in 0..60u64 {
        let expected = match days_ago {
            41..=59 => 0.0, // before E4
            11..=40 => 1.0, // u3 (E4 at T-40, until T-11)
            9..=10 => 3.0,  // u1, u2, u6
            2..=8 => 4.0,   // + u3 again (LMS at T-8)
            _ => 5.0,       // + u4
        };
        assert!(
            close(map[&at(days_ago)], expected),
            "map on T-{days_ago}: {:?}",
            map[&at(days_ago)]
        );
    }
    // MAU adds registrations (u1–u4 at T-20, u1, u3, u5 at T-4), the use case
    // submission (u5, T-6) and joining (u1–u3 at T-60, u4 T-5, u5 T-2).
    let mau = daily(&h, cop, "mau", from, to).await;
    for days_ago in 0..60u64 {
        let expected = match days_ago {
            41..=59 => 3.0, // u1–u3 joined at T-60
            31..=40 => 3.0, // u1–u3 (joins until T-31), u3 (E4)
            21..=30 => 1.0, // u3 (E4)
            11..=20 => 4.0, // registrations at T-20: u1–u4
            7..=10 => 5.0,  // + u6
            _ => 6.0,       // + u5 (T-6)
        };
        assert!(
            close(mau[&at(days_ago)], expected),
            "mau on T-{days_ago}: {:?}",
            mau[&at(days_ago)]
        );
    }

    // NPS: promoters 9–10, detractors 0–6. Daily, then trailing 90 days.
    let nps_daily = daily(&h, cop, "nps_daily", from, to).await;
    assert!(
        close(nps_daily[&at(2)], 0.0),
        "one promoter, one passive, one detractor"
    );
    assert!(close(nps_daily[&at(1)], 100.0));
    assert_eq!(nps_daily.values().flatten().count(), 2);
    let nps = daily(&h, cop, "nps", from, to).await;
    for days_ago in 0..60u64 {
        let expected = match days_ago {
            11..=59 => Some(-100.0), // u5's 0 at T-100 is in the window until T-11
            3..=10 => None,
            2 => Some(0.0),
            _ => Some(25.0), // 2 promoters, 1 passive, 1 detractor
        };
        let v = nps[&at(days_ago)];
        assert!(
            expected.map_or(v.is_none(), |e| close(v, e)),
            "nps on T-{days_ago}: {v:?}"
        );
    }

    // Weekly sums of the daily series (ISO weeks, dated on Mondays).
    let r = h
        .app
        .get(
            &format!(
                "/api/v1/cops/{cop}/kpis?metric=sessions&from={from}&to={to}&granularity=week"
            ),
            &h.admin.access,
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["aggregation"], "sum");
    let mut weekly: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    for (date, v) in &sessions {
        let monday = *date - Days::new(u64::from(date.weekday().num_days_from_monday()));
        *weekly.entry(monday).or_default() += v.unwrap();
    }
    let points: Vec<(NaiveDate, f64)> = r.body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["date"].as_str().unwrap().parse().unwrap(),
                p["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(points, weekly.into_iter().collect::<Vec<_>>());

    // Summary: 30 days ending T against the 30 before.
    let r = h
        .app
        .get(
            &format!("/api/v1/cops/{cop}/analytics/summary"),
            &h.admin.access,
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["as_of"], json!(d.today));
    assert_eq!(r.body["period_days"], 30);
    assert!(r.body["computed_at"].is_string());
    let m = |name: &str| -> Value {
        r.body["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(m("sessions")["value"], 2.0);
    assert_eq!(m("sessions")["previous"], 1.0, "E4");
    assert_eq!(m("sessions")["change"], 1.0);
    assert_eq!(m("sessions")["change_percent"], 100.0);
    assert_eq!(m("attendance")["value"], 4.0);
    assert_eq!(m("map")["value"], 5.0, "on T");
    assert_eq!(m("map")["previous"], 1.0, "on T-30");
    assert_eq!(m("nps")["value"], 25.0);
    assert_eq!(m("nps")["previous"], -100.0);
    assert_eq!(m("nps")["change_percent"], 125.0);
    assert!(close(
        m("attendance_rate")["value"].as_f64(),
        (0.5 + 1.0 / 3.0) / 2.0
    ));
    assert_eq!(m("attendance_rate")["previous"], Value::Null);
    assert_eq!(m("attendance_rate")["change"], Value::Null);

    // Portfolio: health = 40·min(1, 5/5) + 25·(25+100)/200 + 20·2/4 + 15·0.41667 = 71.875.
    let r = h
        .app
        .get("/api/v1/analytics/portfolio", &h.admin.access)
        .await;
    r.expect(200);
    let p = &r.body;
    assert_eq!(p["cop_count"], 1);
    assert_eq!(p["members"], 5);
    assert_eq!(
        p["cops_by_phase"],
        json!({"foundation": 0, "launch": 0, "growth": 1, "optimization": 0})
    );
    let c = &p["cops"][0];
    assert_eq!(c["health_score"], 71.9);
    assert_eq!(c["as_of"], json!(d.today));
    let total = |name: &str| {
        p["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["metric"] == name)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(total("sessions"), 2.0);
    assert_eq!(total("mau"), 6.0);
    assert_eq!(total("content_views"), 2.0);
    assert!(
        p["totals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["metric"] != "nps"),
        "rates are not totalled"
    );
    assert_eq!(p["average_health_score"], 71.9);
    assert!(p["computed_at"].is_string());
}

#[tokio::test]
async fn running_a_rollup_again_leaves_the_same_table_and_ingested_rows_alone() {
    let h = Harness::new().await;
    let Dataset { data: d, cop } = dataset(&h).await;
    // An ingested metric, and a legacy ingested row under a rollup metric's name.
    let r = h
        .app
        .post(
            &format!("/api/v1/cops/{cop}/kpis/ingest"),
            &h.admin.access,
            &json!({"metric": "dbu_consumed", "points": [{"date": d.day(3), "value": 12.5}]}),
        )
        .await;
    r.expect(200);
    sqlx::query("INSERT INTO kpi_metrics (cop_id, metric, date, value, source) VALUES ($1, 'map', $2, 999, 'ingest')")
        .bind(cop)
        .bind(d.day(4))
        .execute(&d.pool)
        .await
        .unwrap();
    let _w = h.worker();
    let first = rollup(&h, cop, d.day(14), d.today).await;
    let table = d.table(cop).await;
    let stamped: DateTime<Utc> =
        sqlx::query_scalar("SELECT max(computed_at) FROM kpi_metrics WHERE source = 'rollup'")
            .fetch_one(&d.pool)
            .await
            .unwrap();
    let second = rollup(&h, cop, d.day(14), d.today).await;
    assert_eq!(first["result"], second["result"]);
    // 15 dates × 12 metrics, less the one ingested `map` row.
    assert_eq!(second["result"]["rows_written"], 179);
    assert_eq!(d.table(cop).await, table, "same rows and values");
    let restamped: DateTime<Utc> =
        sqlx::query_scalar("SELECT max(computed_at) FROM kpi_metrics WHERE source = 'rollup'")
            .fetch_one(&d.pool)
            .await
            .unwrap();
    assert!(
        restamped > stamped,
        "computed_at says when the values were last computed"
    );
    let ingested: Vec<(String, Option<f64>)> = sqlx::query_as(
        "SELECT metric, value FROM kpi_metrics WHERE source = 'ingest' ORDER BY metric",
    )
    .fetch_all(&d.pool)
    .await
    .unwrap();
    assert_eq!(
        ingested,
        vec![
            ("dbu_consumed".into(), Some(12.5)),
            ("map".into(), Some(999.0))
        ]
    );
    // Ingested metrics read like the others.
    let dbu = daily(&h, cop, "dbu_consumed", d.day(14), d.today).await;
    assert_eq!(dbu[&d.day(3)], Some(12.5));
    assert_eq!(dbu[&d.day(2)], None);
}

#[tokio::test]
async fn the_nightly_window_picks_up_late_data() {
    let h = Harness::new().await;
    let d = Data::new(&h, "late").await;
    let cop = d.cop("Late", "launch", "active").await;
    let person = d.user().await;
    d.member(cop, person, d.at(90, "09:00").await).await;
    let event = d.event(cop, d.at(20, "10:00").await, false).await;
    d.attended(event, person).await;
    let env = [
        ("LAUNCHPAD_CRON_KPI_ROLLUP", "* * * * * *"),
        ("LAUNCHPAD_KPI_TRAILING_DAYS", "35"),
    ];
    let _w = h.worker_with(&env);
    let done_after = |t: DateTime<Utc>| {
        let pool = d.pool.clone();
        async move {
            eventually(Duration::from_secs(30), "a nightly rollup to succeed", || async {
                let p: Option<Value> = sqlx::query_scalar(
                    "SELECT payload FROM jobs WHERE kind = 'kpi_rollup' AND status = 'succeeded' AND created_at > $1 LIMIT 1",
                )
                .bind(t)
                .fetch_optional(&pool)
                .await
                .unwrap();
                p
            })
            .await
        }
    };
    let payload = done_after(Utc::now() - chrono::Duration::minutes(1)).await;
    assert_eq!(
        payload,
        json!({"cop_id": cop, "from": d.day(34), "to": d.today})
    );
    let attendance = daily(&h, cop, "attendance", d.day(40), d.today).await;
    assert_eq!(attendance[&d.day(20)], Some(1.0));
    assert_eq!(
        attendance[&d.day(35)],
        None,
        "outside the trailing window: never computed"
    );

    // Late data: an import that arrives weeks after the event, engagement
    // loaded late, inside and outside the window.
    let late = d.event(cop, d.at(30, "10:00").await, false).await;
    d.attended(late, person).await;
    let asset = d.asset(cop).await;
    d.engaged(asset, cop, person, "view", d.at(34, "10:00").await)
        .await;
    d.engaged(asset, cop, person, "view", d.at(38, "10:00").await)
        .await;
    done_after(Utc::now()).await;
    let attendance = daily(&h, cop, "attendance", d.day(40), d.today).await;
    assert_eq!(attendance[&d.day(30)], Some(1.0));
    let views = daily(&h, cop, "content_views", d.day(40), d.today).await;
    assert_eq!(views[&d.day(34)], Some(1.0));
    assert_eq!(views[&d.day(38)], None, "older than the window");
    let map = daily(&h, cop, "map", d.day(40), d.today).await;
    assert_eq!(
        map[&d.day(34)],
        Some(1.0),
        "the late view counts as participation"
    );
}

#[tokio::test]
async fn the_nightly_cron_fires_once_per_tick_across_three_workers() {
    let h = Harness::new().await;
    let d = Data::new(&h, "cron").await;
    let active = [
        d.cop("A", "launch", "active").await,
        d.cop("B", "growth", "active").await,
    ];
    let paused = d.cop("Paused", "launch", "paused").await;
    let archived = d.cop("Archived", "launch", "active").await;
    sqlx::query("UPDATE cops SET archived_at = now() WHERE id = $1")
        .bind(archived)
        .execute(&d.pool)
        .await
        .unwrap();
    let env = [("LAUNCHPAD_CRON_KPI_ROLLUP", "* * * * * *")];
    let _a = h.worker_with(&env);
    let _b = h.worker_with(&env);
    let _c = h.worker_with(&env);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ticks: Vec<(DateTime<Utc>, Option<String>)> = sqlx::query_as(
        "SELECT tick, job_id::text FROM cron_ticks WHERE kind = 'kpi_rollup' ORDER BY tick",
    )
    .fetch_all(&d.pool)
    .await
    .unwrap();
    assert!(ticks.len() >= 2, "ticks: {ticks:?}");
    assert!(
        ticks.iter().all(|t| t.1.is_some()),
        "every tick enqueued: {ticks:?}"
    );
    let per_cop: Vec<(String, i64)> = sqlx::query_as(
        "SELECT subject, count(*) FROM jobs WHERE kind = 'kpi_rollup' GROUP BY subject ORDER BY subject",
    )
    .fetch_all(&d.pool)
    .await
    .unwrap();
    let mut expected: Vec<String> = active.iter().map(|c| c.to_string()).collect();
    expected.sort();
    assert_eq!(
        per_cop.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
        expected,
        "active CoPs only, not {paused} or {archived}"
    );
    // One rollup per CoP and tick at most (a queued one is widened, not
    // doubled); three workers firing every tick would make three.
    for (cop, n) in &per_cop {
        assert!(
            *n as usize <= ticks.len(),
            "{cop}: {n} rollups for {} ticks",
            ticks.len()
        );
        assert!(*n >= 1);
    }
}

#[tokio::test]
async fn a_rollup_of_an_archived_or_vanished_cop_succeeds_with_nothing_written() {
    let h = Harness::new().await;
    let d = Data::new(&h, "gone").await;
    let archived = d.cop("Archived", "launch", "active").await;
    let vanished = d.cop("Vanished", "launch", "active").await;
    let mut ids = vec![];
    for cop in [archived, vanished] {
        let r = h
            .app
            .post(
                &format!("/api/v1/cops/{cop}/kpis/rollups"),
                &h.admin.access,
                &json!({"from": d.day(7), "to": d.today}),
            )
            .await;
        r.expect(202);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    h.app
        .delete(&format!("/api/v1/cops/{archived}"), &h.admin.access)
        .await
        .expect(204);
    sqlx::query("DELETE FROM cops WHERE id = $1")
        .bind(vanished)
        .execute(&d.pool)
        .await
        .unwrap();
    let _w = h.worker();
    for (id, reason) in ids.iter().zip(["archived", "archived"]) {
        let j = h
            .wait_status(id, "succeeded", Duration::from_secs(30))
            .await;
        assert_eq!(j["attempts"], 1, "no retries");
        assert_eq!(j["result"]["rows_written"], 0);
        assert!(
            j["result"]["skipped"].as_str().unwrap().contains(reason),
            "{j}"
        );
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_metrics")
        .fetch_one(&d.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}
