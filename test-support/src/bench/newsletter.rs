//! `launchpad-bench newsletter [members] [rate]` (issue 22): a CoP of
//! `members` (50,000) members gets one newsletter, sent through the release
//! API (`POST /api/v1/newsletters/{id}/send`) by one release worker process
//! to a local SMTP server (`SmtpSink`, aiosmtpd, `--no-store`: it only logs
//! each message's arrival, Message-ID and recipient) with the relay rate
//! `LAUNCHPAD_SMTP_RATE_PER_SEC` = `rate` (500), the other mail settings
//! the defaults.
//!
//! Each run, on a fresh database: the tenant (customer, CoP, members, a
//! lead) generated set-based, a draft newsletter last edited by the lead,
//! `ANALYZE`, the API and the worker started, the newsletter approved by
//! the admin over HTTP, then the send. Measured:
//! - **fan-out committed**: send request → the `newsletter_send` job
//!   finished (its one transaction wrote every outbox row and `email_send`
//!   job, slice by slice); also the job's own run time. Goal < 2 s.
//! - **messages/s**: (messages − 1) / (last − first arrival), against the
//!   relay rate (goal: the rate).
//! - **worker peak RSS** (`VmHWM`; goal < 100 MB).
//! - **duplicates at the sink**: recipients and Message-IDs that arrived
//!   more than once (goal 0); afterwards every outbox row must be `sent`
//!   and the newsletter `sent`.

use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use test_support::{SmtpSink, TestDb, smtp::free_port};

use super::{
    RUNS, free_addr, login, median, num_cpus, peak_rss_mb, spawn_api, spawn_worker, wait_ready,
};

const CUSTOMER: &str = "0190b5e2-0000-7000-8000-00000000e3a2";
const COP: &str = "0190b5e2-0000-7000-8000-00000000c0b2";
const LEAD: &str = "0190b5e2-0000-7000-8000-0000000011ad";
const NEWSLETTER: &str = "0190b5e2-0000-7000-8000-0000000000a1";

/// `launchpad-bench newsletter ARG…`: the `n`th argument after the suite.
fn arg(n: usize, default: usize) -> usize {
    match std::env::args().nth(n + 1) {
        Some(a) => a
            .parse()
            .unwrap_or_else(|_| panic!("argument {n} ({a:?}) is not a number")),
        None => default,
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The tenant: one CoP of `n` members and its lead, and a draft the lead
/// edited last (so that the admin may approve it).
fn generator(n: usize) -> Vec<String> {
    vec![
        format!("INSERT INTO customers (id, name, slug, time_zone) VALUES ('{CUSTOMER}', 'Bench', 'bench', 'Europe/Paris')"),
        format!("INSERT INTO cops (id, customer_id, name) VALUES ('{COP}', '{CUSTOMER}', 'Data Engineering CoP')"),
        format!(
            "INSERT INTO users (id, email, name, password_hash, roles)
             VALUES ('{LEAD}', 'lead@bench.example.org', 'Lea Lead', 'x', ARRAY['customer_member'])"
        ),
        format!("INSERT INTO user_customers (user_id, customer_id) VALUES ('{LEAD}', '{CUSTOMER}')"),
        format!("INSERT INTO cop_members (cop_id, user_id, role) VALUES ('{COP}', '{LEAD}', 'lead')"),
        format!(
            "CREATE TEMP TABLE bu AS
             SELECT i, md5('bench-member-' || i)::uuid AS id FROM generate_series(1, {n} - 1) i"
        ),
        "INSERT INTO users (id, email, name, password_hash, roles)
         SELECT id, 'member' || i || '@bench.example.org', 'Member ' || i, 'x', ARRAY['customer_member'] FROM bu"
            .into(),
        format!("INSERT INTO user_customers (user_id, customer_id) SELECT id, '{CUSTOMER}' FROM bu"),
        format!("INSERT INTO cop_members (cop_id, user_id) SELECT '{COP}', id FROM bu"),
        "DROP TABLE bu".into(),
        format!(
            "INSERT INTO newsletters (id, customer_id, cop_id, status, subject, preheader, intro, sections,
                 created_by, last_edited_by)
             VALUES ('{NEWSLETTER}', '{CUSTOMER}', '{COP}', 'draft', 'December in {{{{ cop_name }}}}',
                 'Three sessions and a new guide', 'Hello {{{{ first_name }}}},\n\nHere is **December**.',
                 '[{{\"heading\": \"Events\", \"body\": \"- **Lakehouse 101** — 42 attended\\n- Office hours on 12 December\",
                    \"links\": [{{\"title\": \"Office hours\", \"url\": \"https://portal.example/events/1\"}}]}},
                   {{\"heading\": \"New content\", \"body\": \"A guide to *Delta tables*. [Leave]({{{{ unsubscribe_url }}}})\",
                    \"links\": []}}]',
                 '{LEAD}', '{LEAD}')"
        ),
        "ANALYZE".into(),
    ]
}

struct Run {
    send_ms: f64,
    fanout_secs: f64,
    job_secs: f64,
    first_secs: f64,
    last_secs: f64,
    per_sec: f64,
    messages: usize,
    duplicate_recipients: usize,
    duplicate_ids: usize,
    rss_mb: f64,
}

async fn run(n: usize, rate: usize) -> Run {
    let db = TestDb::new().await;
    let sink = SmtpSink::start_on(free_port(), false);
    // The API creates its bootstrap admin only in an empty users table: start it first.
    let addr = free_addr();
    let _api = spawn_api(&db.url, &addr);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    let token = login(&base).await;
    let mut conn = db.pool.acquire().await.unwrap();
    for sql in generator(n) {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    drop(conn);

    let smtp_url = sink.url();
    let rate_s = rate.to_string();
    let worker = spawn_worker(
        &db.url,
        &[
            ("LAUNCHPAD_SMTP_URL", &smtp_url),
            ("LAUNCHPAD_SMTP_RATE_PER_SEC", &rate_s),
            ("LAUNCHPAD_CRON_KPI_ROLLUP", "off"),
            ("LAUNCHPAD_CRON_PRUNE_JOBS", "off"),
        ],
    );
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/newsletters/{NEWSLETTER}");
    let r = client
        .post(format!("{url}/approve"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    // Let the worker finish starting (its queues listening).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let t0_unix = unix_now();
    let t0 = Instant::now();
    let r = client
        .post(format!("{url}/send"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap();
    let send_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(status, 202, "{body}");

    let limit = Duration::from_secs(120 + 3 * (n / rate.max(1)) as u64);
    while sink.count() < n {
        assert!(
            t0.elapsed() < limit,
            "{} of {n} messages arrived in {limit:?}",
            sink.count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rss_mb = peak_rss_mb(worker.0.id());
    // Late duplicates would arrive now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = sink.log();
    let mut times: Vec<f64> = log.iter().map(|(t, _, _)| *t).collect();
    times.sort_by(f64::total_cmp);
    let (first, last) = (times[0], times[times.len() - 1]);
    let dupes = |key: fn(&(f64, String, String)) -> &str| {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for l in &log {
            *seen.entry(key(l)).or_default() += 1;
        }
        seen.values().filter(|c| **c > 1).count()
    };
    let duplicate_ids = dupes(|l| l.1.as_str());
    let duplicate_recipients = dupes(|l| l.2.as_str());

    let (started, finished, queued): (f64, f64, i64) = sqlx::query_as(
        "SELECT extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
                (result->>'queued')::int8
         FROM jobs WHERE kind = 'newsletter_send' AND status = 'succeeded'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(queued as usize, n, "one message per member");
    let waited = Instant::now();
    loop {
        let (sent, other, status): (i64, i64, String) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE o.status = 'sent'), count(*) FILTER (WHERE o.status <> 'sent'),
                    (SELECT status FROM newsletters WHERE id = $1::uuid)
             FROM email_outbox o",
        )
        .bind(NEWSLETTER)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if sent as usize == n && other == 0 && status == "sent" {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "outbox: {sent} sent, {other} other of {n}; newsletter {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(worker);
    Run {
        send_ms,
        fanout_secs: finished - t0_unix,
        job_secs: finished - started,
        first_secs: first - t0_unix,
        last_secs: last - t0_unix,
        per_sec: (times.len() - 1) as f64 / (last - first),
        messages: times.len(),
        duplicate_recipients,
        duplicate_ids,
        rss_mb,
    }
}

fn row(measure: &str, value: String, goal: &str) {
    println!("| {measure:<56} | {value:>13} | {goal:<18} |");
}

pub async fn suite() {
    let n = arg(1, 50_000);
    let rate = arg(2, 500);
    println!(
        "suite: newsletter  (median of {RUNS} runs; one newsletter to a CoP of {n} members; 1 worker process, \
         relay rate {rate}/s, default SMTP connections and email_send concurrency; aiosmtpd sink; \
         Postgres on this machine; {} cores)",
        num_cpus()
    );
    let mut runs = vec![];
    for i in 0..RUNS {
        eprintln!("run {}/{RUNS}", i + 1);
        let r = run(n, rate).await;
        eprintln!(
            "  send {:.1} ms; fan-out committed +{:.2} s (job {:.2} s); first message +{:.2} s, last +{:.2} s; \
             {:.0} messages/s ({} messages); duplicates: {} recipients, {} Message-IDs; worker peak RSS {:.1} MB",
            r.send_ms,
            r.fanout_secs,
            r.job_secs,
            r.first_secs,
            r.last_secs,
            r.per_sec,
            r.messages,
            r.duplicate_recipients,
            r.duplicate_ids,
            r.rss_mb
        );
        runs.push(r);
    }
    let m = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    println!();
    row("measure", "median".into(), "goal");
    println!("|{}|{}|{}|", "-".repeat(58), "-".repeat(15), "-".repeat(20));
    row(
        "POST /newsletters/{id}/send (enqueue the send job)",
        format!("{:.1} ms", m(|r| r.send_ms)),
        "",
    );
    row(
        &format!("send → fan-out committed ({n} outbox rows + jobs)"),
        format!("{:.2} s", m(|r| r.fanout_secs)),
        "< 2 s",
    );
    row(
        "  newsletter_send job run (render + one transaction)",
        format!("{:.2} s", m(|r| r.job_secs)),
        "",
    );
    row(
        "send → first / last message at the SMTP server",
        format!("{:.1} / {:.1} s", m(|r| r.first_secs), m(|r| r.last_secs)),
        "",
    );
    row(
        "messages/s (first → last arrival)",
        format!("{:.0} /s", m(|r| r.per_sec)),
        &format!("≥ {rate} /s (relay)"),
    );
    row(
        "peak RSS, worker",
        format!("{:.1} MB", m(|r| r.rss_mb)),
        "< 100 MB",
    );
    row(
        "duplicates at the sink (recipients / Message-IDs)",
        format!(
            "{:.0} / {:.0}",
            m(|r| r.duplicate_recipients as f64),
            m(|r| r.duplicate_ids as f64)
        ),
        "0",
    );
    println!();
    println!(
        "runs: fan-out s {:.2?}  messages/s {:.0?}  RSS MB {:.1?}",
        runs.iter().map(|r| r.fanout_secs).collect::<Vec<_>>(),
        runs.iter().map(|r| r.per_sec).collect::<Vec<_>>(),
        runs.iter().map(|r| r.rss_mb).collect::<Vec<_>>()
    );
}
