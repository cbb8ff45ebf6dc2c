//! `launchpad-bench certificates [n]` (issue 21): certificates issued by one
//! worker process (release binaries of the API and the worker).
//!
//! Each run, on a fresh database: a tenant with a published one-lesson
//! course and `n` learners (1,000 by default; bulk-inserted); one worker
//! process (local storage, a local SMTP sink that stores nothing) is
//! started, then every learner completes the course through the API
//! (`PUT /me/progress/…`, 8 clients; each completion enqueues a
//! `certificate_issue` job in its transaction). Measured:
//! - certificates/s: `n` / (the last certificate's PDF stored − the first
//!   completion), on the database's clock;
//! - p95 from completion (`course_completions.completed_at`) to
//!   `certificate.issued` (the transaction that stores the PDF's file row
//!   and records the event: `files.created_at`);
//! - the worker's peak RSS (VmHWM) at the end.
//!
//! Printed: medians of `RUNS` runs. Goals: ≥ 20 certificates/s on 2 cores,
//! p95 < 2 s, RSS < 250 MB.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use test_support::{SmtpSink, TestDb};

use super::{
    RUNS, free_addr, median,
    notifications::{execute_all, keys, member_token_of, seeded_ids},
    peak_rss_mb, percentile, spawn_api, spawn_worker, wait_ready,
};

const CUSTOMER: &str = "0190b5e2-0000-7000-8000-00000000ce01";
const COURSE: &str = "0190b5e2-0000-7000-8000-00000000ce02";
const LESSON: &str = "0190b5e2-0000-7000-8000-00000000ce03";
const CLIENTS: usize = 8;

/// The tenant, its published course of one lesson, and `n` learners
/// (`md5('bench-learner-' || i)`).
async fn load(db: &TestDb, n: usize) {
    let sql = [
        format!("INSERT INTO customers (id, name, slug) VALUES ('{CUSTOMER}', 'Bench Corp', 'bench')"),
        format!(
            "INSERT INTO courses (id, customer_id, title, level, status, published_at)
             VALUES ('{COURSE}', '{CUSTOMER}', 'Lakehouse fundamentals', 'beginner', 'published', now())"
        ),
        format!(
            "INSERT INTO lessons (id, course_id, position, kind, title, body)
             VALUES ('{LESSON}', '{COURSE}', 1, 'text', 'Only lesson', 'Read this.')"
        ),
        format!("CREATE TEMP TABLE bl AS SELECT i, md5('bench-learner-' || i)::uuid AS id FROM generate_series(1, {n}) i"),
        "INSERT INTO users (id, email, name, password_hash, roles)
         SELECT id, 'learner' || i || '@bench.example.org', 'Learner Ζωή Дмитрий ' || i, 'x', ARRAY['customer_member'] FROM bl"
            .into(),
        format!("INSERT INTO user_customers (user_id, customer_id) SELECT id, '{CUSTOMER}' FROM bl"),
        "DROP TABLE bl".into(),
        "ANALYZE".into(),
    ];
    execute_all(db, &sql).await;
}

/// One run: (certificates/s, p95 ms completion → issued, worker peak RSS MB).
async fn run(n: usize) -> (f64, f64, f64) {
    let db = TestDb::new().await;
    load(&db, n).await;
    let store = std::env::temp_dir().join(format!("lp-bench-certs-{}", uuid::Uuid::now_v7()));
    let sink = SmtpSink::start_on(test_support::smtp::free_port(), false);
    let smtp = sink.url();
    let store_dir = store.display().to_string();
    let worker = spawn_worker(
        &db.url,
        &[
            ("LAUNCHPAD_SMTP_URL", smtp.as_str()),
            ("LAUNCHPAD_STORAGE_DIR", store_dir.as_str()),
            ("LAUNCHPAD_PUBLIC_URL", "https://launchpad.example.com"),
        ],
    );
    let addr = free_addr();
    let _api = spawn_api(&db.url, &addr);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    // Let the worker start (typst's fonts load once) before timing.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let keys = keys();
    let tokens: Vec<String> = seeded_ids(&db, "bench-learner-", n)
        .await
        .into_iter()
        .map(|id| member_token_of(&keys, id, CUSTOMER))
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(tokens));
    let client = reqwest::Client::new();
    let url = Arc::new(format!(
        "{base}/api/v1/me/progress/{COURSE}/lessons/{LESSON}"
    ));
    let mut tasks = vec![];
    for _ in 0..CLIENTS {
        let (queue, client, url) = (queue.clone(), client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(t) = queue.lock().unwrap().pop() else {
                    return;
                };
                let r = client
                    .put(url.as_str())
                    .bearer_auth(&t)
                    .json(&serde_json::json!({"status": "completed"}))
                    .send()
                    .await
                    .expect("progress request");
                assert!(r.status().is_success(), "progress: {}", r.status());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let started = Instant::now();
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM certificates WHERE file_id IS NOT NULL")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        if done as usize >= n {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "{done} of {n} certificates after 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rss = peak_rss_mb(worker.0.id());
    let span: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM (SELECT max(f.created_at) FROM certificates c JOIN files f ON f.id = c.file_id)
                                 - (SELECT min(completed_at) FROM course_completions))::float8",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut latencies: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM f.created_at - cc.completed_at)::float8 * 1000
         FROM certificates c
         JOIN files f ON f.id = c.file_id
         JOIN course_completions cc ON cc.user_id = c.user_id AND cc.course_id = c.course_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    latencies.sort_by(f64::total_cmp);
    drop(worker);
    drop(sink);
    let _ = std::fs::remove_dir_all(&store);
    (n as f64 / span, percentile(&latencies, 0.95), rss)
}

pub async fn suite() {
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    println!(
        "suite: certificates  (median of {RUNS} runs; {n} certificates, one worker process; {} cores)",
        super::num_cpus()
    );
    let mut runs = vec![];
    for r in 0..RUNS {
        eprintln!("run {}/{RUNS}", r + 1);
        runs.push(run(n).await);
    }
    let rows = [
        (
            "certificates issued per second",
            median(runs.iter().map(|r| r.0).collect()),
            "/s",
            "≥ 20/s",
        ),
        (
            "completion → certificate.issued p95",
            median(runs.iter().map(|r| r.1).collect()),
            "ms",
            "< 2000 ms",
        ),
        (
            "worker peak RSS",
            median(runs.iter().map(|r| r.2).collect()),
            "MB",
            "< 250 MB",
        ),
    ];
    super::print_table(&rows);
    println!("runs (certs/s, p95 ms, RSS MB): {runs:.1?}");
}
