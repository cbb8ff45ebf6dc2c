//! `launchpad-bench email [registrants] [rate] [concurrency]` (issue 6): an event with
//! `registrants` (10,000) registrants is rescheduled through the release
//! API (`PATCH /api/v1/events/{id}` with a new `starts_at`/`ends_at`), and
//! one release worker process sends every registrant the update to a local
//! SMTP server (`SmtpSink`, aiosmtpd, `--no-store`: it only logs each
//! message's arrival time) with the relay rate `LAUNCHPAD_SMTP_RATE_PER_SEC`
//! = `rate` (500). Other mail settings are the defaults (10 pooled SMTP
//! connections, or `LAUNCHPAD_SMTP_POOL_SIZE`; `email_send` concurrency 256
//! — the worker's default — or `concurrency`).
//!
//! Each run, on a fresh database: the tenant (customer, CoP, event, people
//! as members with registrations) generated set-based, `ANALYZE`, the API
//! and the worker started, one warm-up GET of the event, then the PATCH.
//! Measured:
//! - **PATCH latency**: the request's round trip; its transaction updates
//!   the event and enqueues the fan-out (one `event_invites` job).
//! - **fan-out committed**: PATCH sent → the `event_invites` job finished,
//!   i.e. its one transaction wrote the 10,000 outbox rows and their
//!   `email_send` jobs (`finished_at` of the job row); also that job's own
//!   run time (`started_at` → `finished_at`).
//! - **first / last message**: PATCH sent → the first / last message logged
//!   by the SMTP server.
//! - **messages/s**: (messages − 1) / (last − first arrival), against the
//!   configured relay rate; afterwards every outbox row must be `sent`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use test_support::{SmtpSink, TestDb, smtp::free_port};

use super::webhooks::{
    Cpu, db_counters, index_reads, most_read_index, sample_activity, seq_reads, top_statements,
};
use super::{
    RUNS, free_addr, login, median, num_cpus, peak_rss_mb, spawn_api, spawn_worker, wait_ready,
};

const CUSTOMER: &str = "0190b5e2-0000-7000-8000-00000000e3a1";
const COP: &str = "0190b5e2-0000-7000-8000-00000000c0b1";
const EVENT: &str = "0190b5e2-0000-7000-8000-00000000e7e1";

/// `launchpad-bench email ARG…`: the `n`th argument after the suite.
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

/// The tenant: one CoP, its event a week from now, `n` members registered.
fn generator(n: usize) -> Vec<String> {
    vec![
        format!("INSERT INTO customers (id, name, slug, time_zone) VALUES ('{CUSTOMER}', 'Bench', 'bench', 'Europe/Paris')"),
        format!("INSERT INTO cops (id, customer_id, name) VALUES ('{COP}', '{CUSTOMER}', 'Data Engineering CoP')"),
        format!(
            "INSERT INTO events (id, cop_id, type, title, description, starts_at, ends_at, time_zone, location, join_url)
             VALUES ('{EVENT}', '{COP}', 'office_hours', 'Lakehouse Q&A — part 1',
                     'Bring your questions.\nSecond line, with a comma; and a semicolon.',
                     date_trunc('hour', now()) + interval '7 days', date_trunc('hour', now()) + interval '7 days 1 hour',
                     'Europe/Paris', 'Room 4, Building B', 'https://meet.example.com/lakehouse?id=42')"
        ),
        format!(
            "CREATE TEMP TABLE bu AS
             SELECT i, md5('bench-user-' || i)::uuid AS id FROM generate_series(1, {n}) i"
        ),
        "INSERT INTO users (id, email, name, password_hash, roles)
         SELECT id, 'registrant' || i || '@bench.example.org', 'Registrant ' || i, 'x', ARRAY['customer_member'] FROM bu"
            .into(),
        format!("INSERT INTO user_customers (user_id, customer_id) SELECT id, '{CUSTOMER}' FROM bu"),
        format!("INSERT INTO cop_members (cop_id, user_id) SELECT '{COP}', id FROM bu"),
        format!(
            "INSERT INTO event_registrations (event_id, user_id, registered_at)
             SELECT '{EVENT}', id, now() - interval '1 day' + i * interval '1 millisecond' FROM bu"
        ),
        "DROP TABLE bu".into(),
        "ANALYZE".into(),
    ]
}

struct Run {
    patch_ms: f64,
    fanout_secs: f64,
    invites_job_secs: f64,
    first_secs: f64,
    last_secs: f64,
    per_sec: f64,
    messages: usize,
    rss_mb: f64,
    /// Per message, PATCH to all sent: commits, rows returned by scans, rows fetched by index.
    per_message: (f64, f64, f64),
    /// The index read most, and its entries read per message.
    top_index: (String, f64),
    /// The table read most by sequential scans, and its rows read per message.
    top_seq: (String, f64),
    /// The statements most often active from the PATCH to the last message
    /// (mean backends running each, wait event and text).
    statements: Vec<(f64, String)>,
    /// Messages/s in each tenth of the messages.
    tenth_rates: Vec<f64>,
    /// Size of `email_outbox` (with TOAST and indexes) per row.
    outbox_bytes: f64,
    /// Cores used from the PATCH to the last message: worker, postgres, SMTP sink, whole machine.
    cores: (f64, f64, f64, f64),
}

async fn run(n: usize, rate: usize, concurrency: usize) -> Run {
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
    let concurrency_s = concurrency.to_string();
    let rate_s = rate.to_string();
    let worker = spawn_worker(
        &db.url,
        &[
            ("LAUNCHPAD_SMTP_URL", &smtp_url),
            ("LAUNCHPAD_SMTP_RATE_PER_SEC", &rate_s),
            ("LAUNCHPAD_WORKER_CONCURRENCY_EMAIL_SEND", &concurrency_s),
            ("LAUNCHPAD_CRON_KPI_ROLLUP", "off"),
            ("LAUNCHPAD_CRON_PRUNE_JOBS", "off"),
        ],
    );
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/events/{EVENT}");
    let event: serde_json::Value = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(event["registered_count"], n, "{event}");
    let starts: chrono::DateTime<chrono::Utc> =
        event["starts_at"].as_str().unwrap().parse().unwrap();
    let later = starts + chrono::Duration::hours(2);
    // Let the worker finish starting (its queues listening).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let counters0 = db_counters(&db).await;
    let indexes0 = index_reads(&db).await;
    let seq0 = seq_reads(&db).await;
    let (stop_sampling, sampler) = sample_activity(&db);
    let cpu0 = Cpu::now(worker.0.id());
    let sink_cpu0 = Cpu::now(sink.pid()).process;
    let t0_unix = unix_now();
    let t0 = Instant::now();
    let r = client
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({"starts_at": later.to_rfc3339(), "ends_at": (later + chrono::Duration::hours(1)).to_rfc3339()}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap();
    let patch_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sequence"], 1, "{body}");

    let limit = Duration::from_secs(120 + 3 * (n / rate.max(1)) as u64);
    while sink.count() < n {
        assert!(
            t0.elapsed() < limit,
            "{} of {n} messages arrived in {limit:?}",
            sink.count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_sampling.store(true, std::sync::atomic::Ordering::Relaxed);
    let (samples, counts) = sampler.await.unwrap();
    let cpu1 = Cpu::now(worker.0.id());
    let sink_cores =
        (Cpu::now(sink.pid()).process - sink_cpu0) / cpu1.at.duration_since(cpu0.at).as_secs_f64();
    let (worker_cores, pg_cores, machine_cores) = cpu1.cores_since(&cpu0);
    let rss_mb = peak_rss_mb(worker.0.id());
    let mut times: Vec<f64> = sink.log().into_iter().map(|(t, _, _)| t).collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (first, last) = (times[0], times[times.len() - 1]);
    // Messages/s in each tenth of the sending (does the rate hold?).
    let k = times.len() / 10;
    let tenth_rates: Vec<f64> = (0..10)
        .filter(|_| k > 1)
        .map(|i| (k - 1) as f64 / (times[(i + 1) * k - 1] - times[i * k]))
        .collect();

    let (started, finished, queued): (f64, f64, i64) = sqlx::query_as(
        "SELECT extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
                (result->>'queued')::int8
         FROM jobs WHERE kind = 'event_invites' AND status = 'succeeded'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(queued as usize, n, "one message per registrant");
    let waited = Instant::now();
    loop {
        let (sent, other): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status <> 'sent') FROM email_outbox",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if sent as usize == n && other == 0 {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "outbox: {sent} sent, {other} other of {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(worker);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counters1 = db_counters(&db).await;
    let top_index = most_read_index(&indexes0, &index_reads(&db).await, n);
    let top_seq = most_read_index(&seq0, &seq_reads(&db).await, n);
    let outbox_bytes: f64 = sqlx::query_scalar(
        "SELECT pg_total_relation_size('email_outbox')::float8 / greatest(count(*), 1) FROM email_outbox",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let per_message = (
        (counters1.0 - counters0.0) / n as f64,
        (counters1.1 - counters0.1) / n as f64,
        (counters1.2 - counters0.2) / n as f64,
    );
    Run {
        per_message,
        top_index,
        top_seq,
        statements: top_statements(samples, &counts, 6),
        tenth_rates,
        outbox_bytes,
        patch_ms,
        fanout_secs: finished - t0_unix,
        invites_job_secs: finished - started,
        first_secs: first - t0_unix,
        last_secs: last - t0_unix,
        per_sec: (times.len() - 1) as f64 / (last - first),
        messages: times.len(),
        rss_mb,
        cores: (worker_cores, pg_cores, sink_cores, machine_cores),
    }
}

fn row(measure: &str, value: String, goal: &str) {
    println!("| {measure:<56} | {value:>13} | {goal:<18} |");
}

pub async fn suite() {
    let n = arg(1, 10_000);
    let rate = arg(2, 500);
    let concurrency = arg(3, 256);
    let pool = std::env::var("LAUNCHPAD_SMTP_POOL_SIZE").unwrap_or_else(|_| "10".into());
    println!(
        "suite: email  (median of {RUNS} runs; reschedule of an event with {n} registrants; 1 worker process, \
         relay rate {rate}/s, {pool} SMTP connections, email_send concurrency {concurrency}; aiosmtpd sink; \
         Postgres on this machine; {} cores)",
        num_cpus()
    );
    let mut runs = vec![];
    for i in 0..RUNS {
        eprintln!("run {}/{RUNS}", i + 1);
        let r = run(n, rate, concurrency).await;
        eprintln!(
            "  PATCH {:.1} ms; fan-out committed +{:.2} s (job {:.2} s); first message +{:.2} s, last +{:.2} s; {:.0} messages/s ({} messages); worker peak RSS {:.1} MB",
            r.patch_ms,
            r.fanout_secs,
            r.invites_job_secs,
            r.first_secs,
            r.last_secs,
            r.per_sec,
            r.messages,
            r.rss_mb
        );
        eprintln!(
            "  cores from the PATCH to the last message: worker {:.2}, postgres {:.2}, SMTP sink {:.2}, machine {:.2}",
            r.cores.0, r.cores.1, r.cores.2, r.cores.3
        );
        eprintln!(
            "  per message: {:.1} commits, {:.0} rows returned by scans, {:.1} rows fetched by index",
            r.per_message.0, r.per_message.1, r.per_message.2
        );
        for (n, q) in &r.statements {
            eprintln!("    db active {n:.2}  {q}");
        }
        eprintln!(
            "  messages/s per tenth: {:.0?}; email_outbox {:.0} bytes per row",
            r.tenth_rates, r.outbox_bytes
        );
        eprintln!(
            "  most read index: {} ({:.0} entries per message); most seq-scanned table: {} ({:.0} rows per message)",
            r.top_index.0, r.top_index.1, r.top_seq.0, r.top_seq.1
        );
        runs.push(r);
    }
    let m = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    println!();
    row("measure", "median".into(), "goal");
    println!("|{}|{}|{}|", "-".repeat(58), "-".repeat(15), "-".repeat(20));
    row(
        "PATCH /events/{id} (update + enqueue the fan-out job)",
        format!("{:.1} ms", m(|r| r.patch_ms)),
        "",
    );
    row(
        &format!("PATCH → fan-out committed ({n} outbox rows + jobs)"),
        format!("{:.2} s", m(|r| r.fanout_secs)),
        "< 1 s",
    );
    row(
        "  event_invites job run (render + one transaction)",
        format!("{:.2} s", m(|r| r.invites_job_secs)),
        "",
    );
    row(
        "  email_outbox size per row (with TOAST, indexes)",
        format!("{:.1} kB", m(|r| r.outbox_bytes / 1024.0)),
        "",
    );
    row(
        "PATCH → first message at the SMTP server",
        format!("{:.2} s", m(|r| r.first_secs)),
        "",
    );
    row(
        "PATCH → last message at the SMTP server",
        format!("{:.2} s", m(|r| r.last_secs)),
        "",
    );
    row(
        "messages/s (first → last arrival)",
        format!("{:.0} /s", m(|r| r.per_sec)),
        &format!("≥ {rate} /s (relay)"),
    );
    row(
        "  in the first / last tenth of the messages",
        format!(
            "{:.0} / {:.0} /s",
            m(|r| r.tenth_rates.first().copied().unwrap_or(f64::NAN)),
            m(|r| r.tenth_rates.last().copied().unwrap_or(f64::NAN))
        ),
        "",
    );
    row(
        "cores, PATCH → last message: worker process",
        format!("{:.2}", m(|r| r.cores.0)),
        "",
    );
    row(
        "  all postgres processes",
        format!("{:.2}", m(|r| r.cores.1)),
        "",
    );
    row(
        "  SMTP sink (aiosmtpd, Python)",
        format!("{:.2}", m(|r| r.cores.2)),
        "",
    );
    row(
        &format!("  whole machine (of {})", num_cpus()),
        format!("{:.2}", m(|r| r.cores.3)),
        "",
    );
    row(
        "per message: database commits",
        format!("{:.1}", m(|r| r.per_message.0)),
        "",
    );
    row(
        "  rows returned by scans / fetched by index",
        format!(
            "{:.0} / {:.1}",
            m(|r| r.per_message.1),
            m(|r| r.per_message.2)
        ),
        "",
    );
    row(
        &format!("  index entries read: {}", runs[0].top_index.0),
        format!("{:.0}", m(|r| r.top_index.1)),
        "",
    );
    row(
        &format!("  rows seq-scanned: {}", runs[0].top_seq.0),
        format!("{:.0}", m(|r| r.top_seq.1)),
        "",
    );
    row("peak RSS, worker", format!("{:.1} MB", m(|r| r.rss_mb)), "");
    println!();
    println!(
        "runs: PATCH ms {:.1?}  fan-out s {:.2?}  last s {:.2?}  messages/s {:.0?}",
        runs.iter().map(|r| r.patch_ms).collect::<Vec<_>>(),
        runs.iter().map(|r| r.fanout_secs).collect::<Vec<_>>(),
        runs.iter().map(|r| r.last_secs).collect::<Vec<_>>(),
        runs.iter().map(|r| r.per_sec).collect::<Vec<_>>()
    );
}
