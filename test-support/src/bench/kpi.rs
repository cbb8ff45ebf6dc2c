//! `launchpad-bench kpi`: KPI rollups over a synthetic tenant generated with
//! set-based SQL, run by a release worker process, and the latency of the
//! analytics reads against the release API. Two sizes: the full tenant of
//! issue 5 and one tenth of its rows, to show how the cost grows.

use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use launchpad_domain::kinds::{KpiRollup, KpiRollupPayload};
use launchpad_domain::{
    ids::{CopId, CustomerId, JobId},
    jobs::{EnqueueCtx, NewJob, enqueue_one},
    kpi::rollup::{self, Target},
};
use sqlx::PgConnection;
use test_support::TestDb;

use super::{
    RUNS, free_addr, login, median, num_cpus, percentile, spawn_api, spawn_worker, wait_ready,
};

/// The shape of a synthetic tenant. CoPs (50), events (2,000) and surveys
/// (500, one NPS and one rating question each) are the same at every size;
/// people and the activity rows scale.
struct Size {
    label: &'static str,
    users: i64,
    attendees_per_event: i64,
    registrants_per_event: i64,
    engagement: i64,
    responses_per_survey: i64,
    completions: i64,
}

const FULL: Size = Size {
    label: "full",
    users: 20_000,
    attendees_per_event: 500,
    registrants_per_event: 550,
    engagement: 2_000_000,
    responses_per_survey: 200,
    completions: 5_000,
};

const TENTH: Size = Size {
    label: "1/10",
    users: 2_000,
    attendees_per_event: 50,
    registrants_per_event: 55,
    engagement: 200_000,
    responses_per_survey: 20,
    completions: 500,
};

const COPS: i64 = 50;
const EVENTS: i64 = 2_000;
const SURVEYS: i64 = 500;
const ASSETS: i64 = 1_000;
const TZ: &str = "Europe/Berlin";
const READ_REQUESTS: usize = 300;

struct Tenant {
    customer: CustomerId,
    cops: Vec<CopId>,
    today: NaiveDate,
    load_secs: f64,
    rows: Vec<(String, i64)>,
}

/// Every statement of the generator, in order, on one connection (temp tables).
fn generator(s: &Size) -> Vec<String> {
    let day = 86_400;
    vec![
        format!("INSERT INTO customers (id, name, slug, time_zone) VALUES ('{CUSTOMER}', 'Bench', 'bench', '{TZ}')"),
        format!(
            "CREATE TEMP TABLE bc AS SELECT i AS idx, gen_random_uuid() AS id FROM generate_series(0, {COPS} - 1) i"
        ),
        format!(
            "INSERT INTO cops (id, customer_id, name, phase, status, created_at)
             SELECT id, '{CUSTOMER}', 'CoP ' || lpad(idx::text, 2, '0'),
                    (ARRAY['foundation','launch','growth','optimization'])[1 + idx % 4], 'active',
                    now() - interval '3 years'
             FROM bc"
        ),
        format!("CREATE TEMP TABLE bu AS SELECT i AS idx, gen_random_uuid() AS id FROM generate_series(0, {} - 1) i", s.users),
        "INSERT INTO users (id, email, name, password_hash) SELECT id, 'u' || idx || '@bench.test', 'User ' || idx, 'x' FROM bu"
            .into(),
        format!("INSERT INTO user_customers (user_id, customer_id) SELECT id, '{CUSTOMER}' FROM bu"),
        // Every person is a member of two CoPs (u mod 50 and 7u+3 mod 50 never coincide).
        format!(
            "INSERT INTO cop_members (cop_id, user_id, joined_at)
             SELECT c.id, u.id, now() - ((u.idx * 7919) % (800 * {day})) * interval '1 second'
             FROM bu u JOIN bc c ON c.idx IN (u.idx % {COPS}, (u.idx * 7 + 3) % {COPS})"
        ),
        "CREATE TEMP TABLE bm AS
             SELECT cop_id, user_id, (row_number() OVER (PARTITION BY cop_id ORDER BY user_id) - 1)::int AS rank,
                    (count(*) OVER (PARTITION BY cop_id))::int AS cnt
             FROM cop_members"
            .into(),
        "CREATE INDEX ON bm (cop_id, rank)".into(),
        // Events over the last two years; one in twenty cancelled.
        format!(
            "CREATE TEMP TABLE be AS
             SELECT i AS idx, gen_random_uuid() AS id, c.id AS cop_id,
                    now() - interval '2 hours' - ((i * 8761) % (730 * {day})) * interval '1 second' AS starts_at
             FROM generate_series(0, {EVENTS} - 1) i JOIN bc c ON c.idx = i % {COPS}"
        ),
        format!(
            "INSERT INTO events (id, cop_id, type, title, starts_at, ends_at, time_zone, join_url, status, cancelled_at)
             SELECT id, cop_id, 'training', 'Session ' || idx, starts_at, starts_at + interval '1 hour', '{TZ}',
                    'https://meet.example/b', CASE WHEN idx % 20 = 0 THEN 'cancelled' ELSE 'scheduled' END,
                    CASE WHEN idx % 20 = 0 THEN starts_at END
             FROM be"
        ),
        format!(
            "INSERT INTO event_registrations (event_id, user_id, registered_at)
             SELECT e.id, m.user_id, e.starts_at - interval '3 days'
             FROM be e JOIN bm m ON m.cop_id = e.cop_id
             WHERE (m.rank + e.idx * 37 + 50) % m.cnt < {}",
            s.registrants_per_event
        ),
        format!(
            "INSERT INTO event_attendance (event_id, user_id, joined_at, left_at)
             SELECT e.id, m.user_id, e.starts_at, e.starts_at + interval '50 minutes'
             FROM be e JOIN bm m ON m.cop_id = e.cop_id
             WHERE (m.rank + e.idx * 37) % m.cnt < {}",
            s.attendees_per_event
        ),
        format!(
            "CREATE TEMP TABLE ba AS
             SELECT i AS idx, gen_random_uuid() AS id, c.id AS cop_id, k.cnt
             FROM generate_series(0, {ASSETS} - 1) i JOIN bc c ON c.idx = i % {COPS}
             JOIN (SELECT cop_id, max(cnt) AS cnt FROM bm GROUP BY 1) k ON k.cop_id = c.id"
        ),
        "INSERT INTO content_assets (id, cop_id, kind, title, url)
         SELECT id, cop_id, 'doc', 'Asset ' || idx, 'https://docs.example/' || idx FROM ba"
            .into(),
        format!(
            "INSERT INTO asset_engagement (asset_id, cop_id, user_id, action, at)
             SELECT a.id, a.cop_id, m.user_id,
                    CASE WHEN i % 10 < 7 THEN 'view' WHEN i % 10 < 9 THEN 'download' ELSE 'like' END,
                    now() - ((i * 7919) % (730 * {day})) * interval '1 second'
             FROM generate_series(0::bigint, {} - 1) i
             JOIN ba a ON a.idx = i % {ASSETS}
             JOIN bm m ON m.cop_id = a.cop_id AND m.rank = (i * 13) % a.cnt",
            s.engagement
        ),
        format!(
            "CREATE TEMP TABLE bs AS
             SELECT i AS idx, gen_random_uuid() AS id, c.id AS cop_id, gen_random_uuid() AS q_nps,
                    gen_random_uuid() AS q_rating,
                    now() - interval '15 days' - ((i * 7307) % (700 * {day})) * interval '1 second' AS opened
             FROM generate_series(0, {SURVEYS} - 1) i JOIN bc c ON c.idx = i % {COPS}"
        ),
        "INSERT INTO surveys (id, cop_id, kind, title, status, opened_at, closed_at)
         SELECT id, cop_id, 'cop_health', 'Survey ' || idx, 'closed', opened, opened + interval '14 days' FROM bs"
            .into(),
        "INSERT INTO survey_questions (id, survey_id, position, kind, prompt)
         SELECT q_nps, id, 0, 'nps', 'Recommend?' FROM bs
         UNION ALL SELECT q_rating, id, 1, 'rating', 'Useful?' FROM bs"
            .into(),
        format!(
            "CREATE TEMP TABLE br AS
             SELECT gen_random_uuid() AS id, s.id AS survey_id, s.q_nps, s.q_rating, m.user_id,
                    s.opened + ((m.rank * 3571) % (14 * {day})) * interval '1 second' AS at,
                    (m.rank * 7 + s.idx) % 11 AS score
             FROM bs s JOIN bm m ON m.cop_id = s.cop_id
             WHERE (m.rank + s.idx * 11) % m.cnt < {}",
            s.responses_per_survey
        ),
        "INSERT INTO survey_responses (id, survey_id, user_id, responded_at) SELECT id, survey_id, user_id, at FROM br"
            .into(),
        "INSERT INTO survey_answers (response_id, survey_id, question_id, numeric_value)
         SELECT id, survey_id, q_nps, score FROM br
         UNION ALL SELECT id, survey_id, q_rating, 1 + score % 5 FROM br"
            .into(),
        "INSERT INTO use_cases (id, cop_id, title, summary, status, created_at, decided_at, approved_at)
         SELECT gen_random_uuid(), c.id, 'Use case', 'Summary', CASE WHEN i % 2 = 0 THEN 'approved' ELSE 'rejected' END,
                now() - i * interval '70 days', now() - i * interval '70 days' + interval '5 days',
                CASE WHEN i % 2 = 0 THEN now() - i * interval '70 days' + interval '5 days' END
         FROM bc c CROSS JOIN generate_series(0, 9) i"
            .into(),
        // LMS: 20 one-lesson courses; completions (with their progress) by people.
        format!(
            "CREATE TEMP TABLE bl AS
             SELECT i AS idx, gen_random_uuid() AS course_id, gen_random_uuid() AS lesson_id
             FROM generate_series(0, 19) i"
        ),
        format!(
            "INSERT INTO courses (id, customer_id, status, title, level, published_at)
             SELECT course_id, '{CUSTOMER}', 'published', 'Course ' || idx, 'beginner', now() - interval '3 years' FROM bl"
        ),
        "INSERT INTO lessons (id, course_id, position, kind, title) SELECT lesson_id, course_id, 1, 'text', 'Lesson' FROM bl"
            .into(),
        format!(
            "CREATE TEMP TABLE bp AS
             SELECT u.id AS user_id, l.course_id, l.lesson_id,
                    now() - ((i * 6007) % (730 * {day})) * interval '1 second' AS at
             FROM generate_series(0, {} - 1) i
             JOIN bu u ON u.idx = i % {}
             JOIN bl l ON l.idx = (i / {}) % 20",
            s.completions, s.users, s.users
        ),
        format!(
            "INSERT INTO lesson_progress (user_id, lesson_id, course_id, customer_id, status, percent, completed_at, updated_at)
             SELECT user_id, lesson_id, course_id, '{CUSTOMER}', 'completed', 100, at, at FROM bp"
        ),
        format!(
            "INSERT INTO course_completions (user_id, course_id, customer_id, completed_at)
             SELECT user_id, course_id, '{CUSTOMER}', at FROM bp"
        ),
    ]
}

/// The customer's id in every generated tenant.
const CUSTOMER: &str = "0190b5e2-0000-7000-8000-00000000be0c";

const COUNTED: &[&str] = &[
    "cops",
    "users",
    "cop_members",
    "events",
    "event_registrations",
    "event_attendance",
    "asset_engagement",
    "survey_responses",
    "survey_answers",
    "course_completions",
];

async fn generate(db: &TestDb, size: &Size) -> Tenant {
    let t0 = Instant::now();
    let mut conn = db.pool.acquire().await.unwrap();
    for sql in generator(size) {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    drop(conn);
    // A settled database: statistics current, visibility map set (autovacuum would get there).
    sqlx::query("VACUUM ANALYZE")
        .execute(&db.pool)
        .await
        .unwrap();
    let load_secs = t0.elapsed().as_secs_f64();
    let mut rows = vec![];
    for t in COUNTED {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
            .fetch_one(&db.pool)
            .await
            .unwrap();
        rows.push((t.to_string(), n));
    }
    let customer = CustomerId(CUSTOMER.parse().unwrap());
    let cops: Vec<CopId> = sqlx::query_scalar("SELECT id FROM cops ORDER BY name")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let today: NaiveDate = sqlx::query_scalar("SELECT (now() AT TIME ZONE $1)::date")
        .bind(TZ)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    Tenant {
        customer,
        cops,
        today,
        load_secs,
        rows,
    }
}

/// Seconds from committing `jobs` to all of them succeeded.
async fn run_jobs(db: &TestDb, enqueue: impl AsyncFnOnce(&mut PgConnection) -> Vec<JobId>) -> f64 {
    let mut tx = db.pool.begin().await.unwrap();
    let ids: Vec<String> = enqueue(&mut *tx)
        .await
        .iter()
        .map(|i| i.to_string())
        .collect();
    tx.commit().await.unwrap();
    let t0 = Instant::now();
    loop {
        let (done, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed')
             FROM jobs WHERE id = ANY($1::uuid[])",
        )
        .bind(&ids)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(failed, 0, "a rollup failed");
        if done as usize == ids.len() {
            return t0.elapsed().as_secs_f64();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(900),
            "rollups did not finish in 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The nightly run's shape: one rollup per CoP of the trailing 35 days.
async fn nightly(db: &TestDb, t: &Tenant) -> f64 {
    let targets: Vec<Target> = t
        .cops
        .iter()
        .map(|c| Target {
            cop_id: *c,
            customer_id: t.customer,
            from: t.today - Days::new(34),
            to: t.today,
        })
        .collect();
    run_jobs(db, async |conn| {
        rollup::enqueue_coalesced(conn, &targets, None)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect()
    })
    .await
}

async fn one_job(db: &TestDb, t: &Tenant, payload: KpiRollupPayload) -> f64 {
    let ctx = EnqueueCtx {
        customer_id: Some(t.customer),
        ..Default::default()
    };
    run_jobs(db, async |conn| {
        vec![
            enqueue_one(conn, NewJob::of::<KpiRollup>(&payload, &ctx))
                .await
                .unwrap()
                .id,
        ]
    })
    .await
}

/// Two years of every metric for every CoP, as a mature table would hold
/// (the rollups computed above are kept).
async fn fill_history(db: &TestDb, t: &Tenant) {
    sqlx::query(
        "INSERT INTO kpi_metrics (cop_id, metric, date, value, source)
         SELECT c.id, m, $1::date - i, (i % 97)::float8, 'rollup'
         FROM cops c
         CROSS JOIN unnest($2::text[]) AS m
         CROSS JOIN generate_series(0, 729) AS i
         ON CONFLICT DO NOTHING",
    )
    .bind(t.today)
    .bind(
        launchpad_domain::kpi::Metric::ALL
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("VACUUM ANALYZE kpi_metrics")
        .execute(&db.pool)
        .await
        .unwrap();
}

/// (p50, p95) in ms of `n` sequential GETs.
async fn latency(client: &reqwest::Client, url: &str, token: &str, n: usize) -> (f64, f64) {
    for _ in 0..20 {
        client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = client.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        r.bytes().await.unwrap();
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (percentile(&v, 0.5), percentile(&v, 0.95))
}

struct Measured {
    load_secs: f64,
    rows: Vec<(String, i64)>,
    kpi_rows: i64,
    nightly: Vec<f64>,
    customer_wide: Vec<f64>,
    two_years: Vec<f64>,
    portfolio: Vec<(f64, f64)>,
    series: Vec<(f64, f64)>,
}

async fn measure(size: &Size) -> Measured {
    eprintln!("[{}] generating the tenant", size.label);
    let db = TestDb::new().await;
    // The API creates its bootstrap admin only in an empty users table, and
    // the synthetic tenant fills it: create the admin the reads log in as now.
    launchpad_domain::users::bootstrap_admin(
        &db.pool,
        test_support::app::ADMIN_EMAIL,
        test_support::app::ADMIN_PASSWORD,
    )
    .await
    .expect("bootstrap admin");
    let t = generate(&db, size).await;
    eprintln!(
        "[{}] loaded in {:.1} s: {:?}",
        size.label, t.load_secs, t.rows
    );
    let _worker = spawn_worker(
        &db.url,
        &[
            ("LAUNCHPAD_CRON_KPI_ROLLUP", "off"),
            ("LAUNCHPAD_CRON_PRUNE_JOBS", "off"),
        ],
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut m = Measured {
        load_secs: t.load_secs,
        rows: t.rows.clone(),
        kpi_rows: 0,
        nightly: vec![],
        customer_wide: vec![],
        two_years: vec![],
        portfolio: vec![],
        series: vec![],
    };
    let two_years = KpiRollupPayload {
        cop_id: Some(t.cops[0]),
        customer_id: None,
        from: t.today - Days::new(729),
        to: t.today,
    };
    let customer_wide = KpiRollupPayload {
        cop_id: None,
        customer_id: Some(t.customer),
        from: t.today - Days::new(34),
        to: t.today,
    };
    for run in 0..RUNS {
        m.nightly.push(nightly(&db, &t).await);
        m.customer_wide
            .push(one_job(&db, &t, customer_wide.clone()).await);
        m.two_years.push(one_job(&db, &t, two_years.clone()).await);
        eprintln!(
            "[{}] run {}: nightly {:.2} s, customer-wide {:.2} s, two years {:.2} s",
            size.label,
            run + 1,
            m.nightly[run],
            m.customer_wide[run],
            m.two_years[run]
        );
    }
    fill_history(&db, &t).await;
    m.kpi_rows = sqlx::query_scalar("SELECT count(*) FROM kpi_metrics")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let addr = free_addr();
    let _api = spawn_api(&db.url, &addr);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    let token = login(&base).await;
    let client = reqwest::Client::new();
    let portfolio = format!("{base}/api/v1/analytics/portfolio");
    let series = format!(
        "{base}/api/v1/cops/{}/kpis?metric=map&from={}&to={}",
        t.cops[0],
        t.today - Days::new(364),
        t.today
    );
    for _ in 0..RUNS {
        m.portfolio
            .push(latency(&client, &portfolio, &token, READ_REQUESTS).await);
        m.series
            .push(latency(&client, &series, &token, READ_REQUESTS).await);
    }
    m
}

pub async fn suite() {
    println!(
        "suite: kpi  (median of {RUNS} runs; Postgres on this machine; {} cores)",
        num_cpus()
    );
    let full = measure(&FULL).await;
    let tenth = measure(&TENTH).await;
    let p = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| median(v.iter().map(f).collect());
    println!();
    println!("| rows                         | full       | 1/10       |");
    println!("|------------------------------|------------|------------|");
    for ((name, a), (_, b)) in full.rows.iter().zip(&tenth.rows) {
        println!("| {name:<28} | {a:>10} | {b:>10} |");
    }
    println!(
        "| kpi_metrics (reads)          | {:>10} | {:>10} |",
        full.kpi_rows, tenth.kpi_rows
    );
    println!();
    println!(
        "| measure                                         | full       | 1/10       | goal       |"
    );
    println!(
        "|-------------------------------------------------|------------|------------|------------|"
    );
    println!(
        "| generate + VACUUM ANALYZE                       | {:>8.1} s | {:>8.1} s |            |",
        full.load_secs, tenth.load_secs
    );
    println!(
        "| nightly: 35 days × 50 CoPs (50 per-CoP jobs)    | {:>8.2} s | {:>8.2} s | < 20 s     |",
        median(full.nightly.clone()),
        median(tenth.nightly.clone())
    );
    println!(
        "| same range as one customer-wide job             | {:>8.2} s | {:>8.2} s |            |",
        median(full.customer_wide.clone()),
        median(tenth.customer_wide.clone())
    );
    println!(
        "| 2 years × 1 CoP (one job)                       | {:>8.2} s | {:>8.2} s | < 10 s     |",
        median(full.two_years.clone()),
        median(tenth.two_years.clone())
    );
    println!(
        "| GET /analytics/portfolio p50                    | {:>7.2} ms | {:>7.2} ms |            |",
        p(&full.portfolio, |x| x.0),
        p(&tenth.portfolio, |x| x.0)
    );
    println!(
        "| GET /analytics/portfolio p95                    | {:>7.2} ms | {:>7.2} ms | < 50 ms    |",
        p(&full.portfolio, |x| x.1),
        p(&tenth.portfolio, |x| x.1)
    );
    println!(
        "| GET /cops/{{id}}/kpis, 365 days, p50             | {:>7.2} ms | {:>7.2} ms |            |",
        p(&full.series, |x| x.0),
        p(&tenth.series, |x| x.0)
    );
    println!(
        "| GET /cops/{{id}}/kpis, 365 days, p95             | {:>7.2} ms | {:>7.2} ms | < 50 ms    |",
        p(&full.series, |x| x.1),
        p(&tenth.series, |x| x.1)
    );
    println!();
    println!(
        "runs (s): full nightly {:.2?} customer-wide {:.2?} two-years {:.2?}",
        full.nightly, full.customer_wide, full.two_years
    );
    println!(
        "runs (s): 1/10 nightly {:.2?} customer-wide {:.2?} two-years {:.2?}",
        tenth.nightly, tenth.customer_wide, tenth.two_years
    );
}
