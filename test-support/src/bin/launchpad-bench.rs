//! `launchpad-bench <suite>`: benchmarks against a real Postgres, real
//! release binaries of the API and the worker, on this machine. Prints a
//! table of medians of several runs.
//!
//! Suites: `jobs` (drain, HTTP enqueue, pickup latency, fairness across
//! tenants, a 1,000,000-job backlog, idle RSS), `kpi`
//! (KPI rollups over a synthetic tenant, analytics read latency).

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use launchpad_domain::{
    jobs::{EnqueueCtx, NewJob, enqueue},
    kinds,
};
use test_support::{TestDb, app::test_settings};

#[path = "../bench/ai.rs"]
mod ai;
#[path = "../bench/certificates.rs"]
mod certificates;
#[path = "../bench/email.rs"]
mod email;
#[path = "../bench/files.rs"]
mod files;
#[path = "../bench/kpi.rs"]
mod kpi;
#[path = "../bench/newsletter.rs"]
mod newsletter;
#[path = "../bench/notifications.rs"]
mod notifications;
#[path = "../bench/webhooks.rs"]
mod webhooks;

const RUNS: usize = 3;

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("exe");
    let p = exe.parent().expect("dir").join(name);
    assert!(p.exists(), "{} missing: build with --release", p.display());
    p
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(db_url: &str, extra: &[(&str, &str)]) -> Proc {
    let mut c = Command::new(bin("launchpad-worker"));
    c.env("DATABASE_URL", db_url)
        .env("LAUNCHPAD_DIAGNOSTIC_JOBS", "true")
        .env("LAUNCHPAD_WORKER_METRICS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        c.env(k, v);
    }
    Proc(c.spawn().expect("spawn worker"))
}

fn spawn_api(db_url: &str, addr: &str) -> Proc {
    spawn_api_with(db_url, addr, &[])
}

fn spawn_api_with(db_url: &str, addr: &str, extra: &[(&str, &str)]) -> Proc {
    let mut c = Command::new(bin("launchpad-api"));
    c.arg("serve")
        .env("DATABASE_URL", db_url)
        .env("LAUNCHPAD_HTTP_ADDR", addr)
        .env("LAUNCHPAD_JWT_SECRET", test_support::app::JWT_SECRET)
        .env(
            "LAUNCHPAD_BOOTSTRAP_ADMIN_EMAIL",
            test_support::app::ADMIN_EMAIL,
        )
        .env(
            "LAUNCHPAD_BOOTSTRAP_ADMIN_PASSWORD",
            test_support::app::ADMIN_PASSWORD,
        )
        .env("LAUNCHPAD_DIAGNOSTIC_JOBS", "true")
        .env("LAUNCHPAD_RATE_LIMIT_PER_MINUTE", "100000000")
        .env("LAUNCHPAD_DB_MAX_CONNECTIONS", "32")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        c.env(k, v);
    }
    Proc(c.spawn().expect("spawn api"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn payload(label: Option<String>) -> kinds::DiagnosticPayload {
    kinds::DiagnosticPayload {
        behaviour: kinds::DiagnosticBehaviour::Succeed,
        fail_times: 0,
        sleep_ms: 0,
        label,
    }
}

async fn load_jobs(db: &TestDb, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let jobs: Vec<NewJob> = chunk
            .iter()
            .map(|_| NewJob::of::<kinds::Diagnostic>(&payload(None), &EnqueueCtx::default()))
            .collect();
        let mut tx = db.pool.begin().await.unwrap();
        enqueue(&mut tx, jobs).await.unwrap();
        tx.commit().await.unwrap();
    }
    sqlx::query("ANALYZE").execute(&db.pool).await.unwrap();
}

async fn count_done(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'succeeded'")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// Jobs/s draining `n` queued jobs with `workers` processes.
async fn drain(n: usize, workers: usize) -> f64 {
    let db = TestDb::new().await;
    load_jobs(&db, n).await;
    // Timed on the database's clock: from just before the workers start to
    // the last job's `finished_at` (the completion poll below is coarse so
    // that it does not load the server it measures).
    let t0: f64 = sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let started = Instant::now();
    let cpu0 = webhooks::Cpu::now(std::process::id());
    let counters0 = webhooks::db_counters(&db).await;
    let indexes0 = webhooks::index_reads(&db).await;
    let (stop_sampling, sampler) = webhooks::sample_activity(&db);
    let concurrency = std::env::var("BENCH_DRAIN_CONCURRENCY").unwrap_or_else(|_| "512".into());
    let batch = std::env::var("BENCH_DRAIN_BATCH").unwrap_or_else(|_| "256".into());
    let procs: Vec<Proc> = (0..workers)
        .map(|_| {
            spawn_worker(
                &db.url,
                &[
                    ("LAUNCHPAD_WORKER_CONCURRENCY", &concurrency),
                    ("LAUNCHPAD_WORKER_BATCH_SIZE", &batch),
                ],
            )
        })
        .collect();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if count_done(&db).await as usize >= n {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            panic!("drain did not finish in 10 minutes");
        }
    }
    let t1: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM max(finished_at))::float8 FROM jobs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let cpu1 = webhooks::Cpu::now(procs[0].0.id());
    stop_sampling.store(true, std::sync::atomic::Ordering::Relaxed);
    let (samples, counts) = sampler.await.unwrap();
    let counters1 = webhooks::db_counters(&db).await;
    let top_index = webhooks::most_read_index(&indexes0, &webhooks::index_reads(&db).await, n);
    let per = |i: usize| -> f64 {
        let (a, b) = (counters0, counters1);
        let d = [b.0 - a.0, b.1 - a.1, b.2 - a.2];
        d[i] / n as f64
    };
    eprintln!(
        "  drain {workers} worker(s): {:.0} jobs/s; worker 1 CPU {:.1} s, postgres {:.1} s over {:.1} s; per job: {:.2} commits, {:.1} rows returned by scans, {:.1} fetched by index; most read index {} ({:.0} per job)",
        n as f64 / (t1 - t0),
        cpu1.process,
        cpu1.postgres - cpu0.postgres,
        t1 - t0,
        per(0),
        per(1),
        per(2),
        top_index.0,
        top_index.1
    );
    for (k, q) in webhooks::top_statements(samples, &counts, 8) {
        eprintln!("    db active {k:.2}  {q}");
    }
    drop(procs);
    n as f64 / (t1 - t0)
}

async fn wait_ready(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/ready")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("API did not become ready");
}

async fn login(base: &str) -> String {
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": test_support::app::ADMIN_EMAIL, "password": test_support::app::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// (requests/s, p50 ms, p99 ms) of 16 clients enqueueing for `secs`.
async fn http_enqueue(secs: u64) -> (f64, f64, f64) {
    let db = TestDb::new().await;
    let addr = free_addr();
    let _api = spawn_api(&db.url, &addr);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    let token = Arc::new(login(&base).await);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let body = serde_json::json!({"behaviour": "succeed"});
    let cpu0 = webhooks::Cpu::now(_api.0.id());
    let bench0 = webhooks::Cpu::now(std::process::id()).process;
    let (stop_sampling, sampler) = webhooks::sample_activity(&db);
    let mut tasks = vec![];
    for _ in 0..16 {
        let (client, token, base, body) =
            (client.clone(), token.clone(), base.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = client
                    .post(format!("{base}/api/v1/diagnostics/jobs"))
                    .bearer_auth(token.as_str())
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                let _ = r.bytes().await;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            lat
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let cpu1 = webhooks::Cpu::now(_api.0.id());
    let bench1 = webhooks::Cpu::now(std::process::id()).process;
    stop_sampling.store(true, std::sync::atomic::Ordering::Relaxed);
    let (samples, counts) = sampler.await.unwrap();
    eprintln!(
        "  enqueue: {:.0} req/s; CPU over {secs} s: API {:.1} s, postgres {:.1} s, bench client {:.1} s",
        all.len() as f64 / secs as f64,
        cpu1.process - cpu0.process,
        cpu1.postgres - cpu0.postgres,
        bench1 - bench0
    );
    for (k, q) in webhooks::top_statements(samples, &counts, 8) {
        eprintln!("    db active {k:.2}  {q}");
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        all.len() as f64 / secs as f64,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
    )
}

/// Pickup latency (created → started) percentiles in ms with an idle worker.
async fn pickup(n: usize) -> (f64, f64, f64) {
    let db = TestDb::new().await;
    let _w = spawn_worker(&db.url, &[]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..n {
        let mut tx = db.pool.begin().await.unwrap();
        enqueue(
            &mut tx,
            vec![NewJob::of::<kinds::Diagnostic>(
                &payload(None),
                &EnqueueCtx::default(),
            )],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut v: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM (started_at - created_at))::float8 * 1000 FROM jobs WHERE started_at IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(v.len(), n, "every job started");
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        percentile(&v, 0.99),
    )
}

/// `jobs` + its indexes, in MB.
async fn jobs_table_mb(db: &TestDb) -> f64 {
    let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('jobs')")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    bytes as f64 / 1e6
}

/// Backlog: `total` queued `diagnostic` jobs (bulk-inserted, then ANALYZE),
/// one worker drains `measured` of them: (jobs/s over those, pickup p95 in
/// ms of high-priority jobs enqueued meanwhile, table MB before the load,
/// table MB after the whole backlog is drained, pruned and vacuumed).
async fn backlog(total: usize, measured: usize) -> (f64, f64, f64, f64) {
    let db = TestDb::new().await;
    let before = jobs_table_mb(&db).await;
    let payload = serde_json::to_value(payload(None)).unwrap();
    // The rows `jobs::enqueue` writes for jobs due now (run_at spaced by
    // 1 µs, as one tenant's burst), 100,000 per statement.
    for start in (0..total).step_by(100_000) {
        let n = (total - start).min(100_000) as i64;
        sqlx::query(
            "INSERT INTO jobs (id, kind, payload, max_attempts, priority, run_at)
             SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                        placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
                    'diagnostic', $1, 3, 0, clock_timestamp() + g * interval '1 microsecond'
             FROM generate_series(1, $2) g",
        )
        .bind(&payload)
        .bind(n)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    sqlx::query("ANALYZE jobs").execute(&db.pool).await.unwrap();
    let concurrency = std::env::var("BENCH_DRAIN_CONCURRENCY").unwrap_or_else(|_| "512".into());
    let batch = std::env::var("BENCH_DRAIN_BATCH").unwrap_or_else(|_| "256".into());
    let t0: f64 = sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let w = spawn_worker(
        &db.url,
        &[
            ("LAUNCHPAD_WORKER_CONCURRENCY", &concurrency),
            ("LAUNCHPAD_WORKER_BATCH_SIZE", &batch),
        ],
    );
    // High-priority probes every 50 ms while the first `measured` drain.
    let mut probes = vec![];
    let started = Instant::now();
    loop {
        let mut job =
            NewJob::of::<kinds::Diagnostic>(&payload_label("probe"), &EnqueueCtx::default());
        job.priority = 10;
        let mut tx = db.pool.begin().await.unwrap();
        probes.extend(
            enqueue(&mut tx, vec![job])
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id),
        );
        tx.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if probes.len() % 20 == 0 && count_done(&db).await as usize >= measured {
            break;
        }
        if started.elapsed() > Duration::from_secs(900) {
            panic!("backlog did not drain in 15 minutes");
        }
    }
    // The rate over the first `measured` jobs (probes excluded), on the
    // database's clock.
    let t1: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM max(finished_at))::float8 FROM (
             SELECT finished_at FROM jobs WHERE status = 'succeeded' AND priority = 0
             ORDER BY finished_at LIMIT $1) f",
    )
    .bind(measured as i64)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let rate = measured as f64 / (t1 - t0);
    let mut lat: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM (started_at - created_at))::float8 * 1000 FROM jobs
         WHERE id = ANY($1) AND started_at IS NOT NULL",
    )
    .bind(&probes)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    lat.sort_by(f64::total_cmp);
    let p95 = percentile(&lat, 0.95);
    // The rest of the backlog, then pruning (as prune_jobs does) and what
    // autovacuum would do.
    loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status <> 'succeeded'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(w);
    while launchpad_domain::jobs::repo::prune(
        &db.pool,
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
    .await
    .unwrap()
        > 0
    {}
    sqlx::query("VACUUM jobs").execute(&db.pool).await.unwrap();
    let after = jobs_table_mb(&db).await;
    eprintln!(
        "  backlog {total}: drained {measured} at {rate:.0} jobs/s; probe pickup p95 {p95:.1} ms ({} probes); jobs table {before:.2} MB before, {after:.2} MB after",
        lat.len()
    );
    (rate, p95, before, after)
}

fn payload_label(label: &str) -> kinds::DiagnosticPayload {
    payload(Some(label.into()))
}

/// Fairness: tenant A enqueues 50,000 jobs that sleep 5 ms each, then tenant
/// B enqueues 10, one every 200 ms: B's p95 from enqueue to start in ms
/// (and A's drain rate, for scale).
async fn fairness() -> (f64, f64) {
    let db = TestDb::new().await;
    let mut tenants = vec![];
    for name in ["fair-a", "fair-b"] {
        let id = launchpad_domain::ids::CustomerId::new();
        sqlx::query("INSERT INTO customers (id, name, slug) VALUES ($1, $2, $2)")
            .bind(id)
            .bind(name)
            .execute(&db.pool)
            .await
            .unwrap();
        tenants.push(id);
    }
    let job = |tenant, label: &str| {
        NewJob::of::<kinds::Diagnostic>(
            &kinds::DiagnosticPayload {
                behaviour: kinds::DiagnosticBehaviour::Sleep,
                fail_times: 0,
                sleep_ms: 5,
                label: Some(label.into()),
            },
            &EnqueueCtx {
                customer_id: Some(tenant),
                ..Default::default()
            },
        )
    };
    for chunk in 0..10 {
        let jobs = (0..5000)
            .map(|i| job(tenants[0], &format!("a{chunk}-{i}")))
            .collect();
        let mut tx = db.pool.begin().await.unwrap();
        enqueue(&mut tx, jobs).await.unwrap();
        tx.commit().await.unwrap();
    }
    sqlx::query("ANALYZE jobs").execute(&db.pool).await.unwrap();
    let _w = spawn_worker(&db.url, &[]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut b = vec![];
    for i in 0..10 {
        let mut tx = db.pool.begin().await.unwrap();
        b.extend(
            enqueue(&mut tx, vec![job(tenants[1], &format!("b{i}"))])
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id),
        );
        tx.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut lat: Vec<f64>;
    let t = Instant::now();
    loop {
        lat = sqlx::query_scalar(
            "SELECT extract(epoch FROM (started_at - created_at))::float8 * 1000 FROM jobs
             WHERE id = ANY($1) AND started_at IS NOT NULL",
        )
        .bind(&b)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        if lat.len() == b.len() || t.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let a_left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE run_at IS NOT NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    lat.sort_by(f64::total_cmp);
    let p95 = if lat.len() == b.len() {
        percentile(&lat, 0.95)
    } else {
        f64::INFINITY
    };
    eprintln!(
        "  fairness: B's start latency p95 {p95:.1} ms (max {:.1}); A still had {a_left} of 50,000 waiting when B's last started",
        lat.last().copied().unwrap_or(f64::NAN)
    );
    (p95, a_left as f64)
}

fn peak_rss_mb(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn idle_rss() -> (f64, f64) {
    let db = TestDb::new().await;
    let w = spawn_worker(&db.url, &[]);
    let addr = free_addr();
    let api = spawn_api(&db.url, &addr);
    wait_ready(&format!("http://{addr}")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    (peak_rss_mb(w.0.id()), peak_rss_mb(api.0.id()))
}

async fn jobs_suite() {
    let _ = test_settings; // the API under test uses the same secrets as tests
    println!(
        "suite: jobs  (median of {RUNS} runs; Postgres on this machine; {} cores)",
        num_cpus()
    );
    // `jobs [drain|enqueue|pickup|rss]…`: only those parts (all by default).
    let parts: Vec<String> = std::env::args().skip(2).collect();
    let want = |p: &str| parts.is_empty() || parts.iter().any(|x| x == p);
    let nan = || vec![f64::NAN];
    let mut backlog_before = vec![];
    let mut d1 = vec![];
    let mut d2 = vec![];
    let mut enq = vec![];
    let mut pick = vec![];
    let mut back = vec![];
    let mut fair = vec![];
    for run in 0..RUNS {
        eprintln!("run {}/{RUNS}", run + 1);
        if want("drain") {
            d1.push(drain(20_000, 1).await);
            d2.push(drain(20_000, 2).await);
        }
        if want("enqueue") {
            enq.push(http_enqueue(10).await);
        }
        if want("pickup") {
            pick.push(pickup(300).await);
        }
        if want("fairness") {
            fair.push(fairness().await);
        }
        if want("backlog") {
            let b = backlog(1_000_000, 200_000).await;
            back.push((b.0, b.1, b.3));
            backlog_before.push(b.2);
        }
    }
    if d1.is_empty() {
        (d1, d2) = (nan(), nan());
    }
    if enq.is_empty() {
        enq.push((f64::NAN, f64::NAN, f64::NAN));
    }
    if pick.is_empty() {
        pick.push((f64::NAN, f64::NAN, f64::NAN));
    }
    if back.is_empty() {
        back.push((f64::NAN, f64::NAN, f64::NAN));
        backlog_before.push(f64::NAN);
    }
    if fair.is_empty() {
        fair.push((f64::NAN, f64::NAN));
    }
    let (rss_w, rss_a) = if want("rss") {
        idle_rss().await
    } else {
        (f64::NAN, f64::NAN)
    };
    println!();
    println!("| measure                                   | median      | goal        |");
    println!("|-------------------------------------------|-------------|-------------|");
    let col = |v: &[(f64, f64, f64)], i: usize| {
        median(v.iter().map(|e| [e.0, e.1, e.2][i]).collect::<Vec<_>>())
    };
    let rows = [
        (
            "drain 20k jobs, 1 worker process",
            median(d1.clone()),
            "/s",
            "≥ 5000 /s",
        ),
        (
            "drain 20k jobs, 2 worker processes",
            median(d2.clone()),
            "/s",
            "",
        ),
        (
            "HTTP enqueue, 16 clients, 10 s",
            col(&enq, 0),
            "/s",
            "≥ 2500 /s",
        ),
        ("  latency p50", col(&enq, 1), "ms", ""),
        ("  latency p99", col(&enq, 2), "ms", "< 25 ms"),
        ("pickup latency p50 (idle worker)", col(&pick, 0), "ms", ""),
        ("pickup latency p95", col(&pick, 1), "ms", "< 10 ms"),
        ("pickup latency p99", col(&pick, 2), "ms", ""),
        (
            "backlog 1M: drain 200k, 1 worker",
            col(&back, 0),
            "/s",
            "≥ 0.8 × drain",
        ),
        ("  high-priority pickup p95", col(&back, 1), "ms", "< 10 ms"),
        (
            "  jobs table before the load",
            median(backlog_before.clone()),
            "MB",
            "",
        ),
        (
            "  after drain + prune + vacuum",
            col(&back, 2),
            "MB",
            "≤ 2 × before",
        ),
        (
            "fairness: B's start p95 (A: 50k × 5 ms)",
            median(fair.iter().map(|f| f.0).collect()),
            "ms",
            "< 100 ms",
        ),
        ("peak RSS, idle worker", rss_w, "MB", "< 60 MB"),
        ("peak RSS, idle API", rss_a, "MB", "< 60 MB"),
    ];
    for (label, value, unit, goal) in rows {
        // A part not run (`jobs enqueue` runs one part) shows a dash.
        let value = match unit {
            _ if value.is_nan() => "—".to_string(),
            "/s" => format!("{value:.0}"),
            "MB" => format!("{value:.1}"),
            _ => format!("{value:.2}"),
        };
        println!("| {label:<41} | {value:>7} {unit:<3} | {goal:<11} |");
    }
    println!();
    println!("runs: drain1 {d1:.0?} drain2 {d2:.0?} backlog {back:.1?} fairness {fair:.1?}");
}

/// Prints a suite's table: (measure, median, unit, goal); a part not run
/// (NaN) shows a dash.
fn print_table(rows: &[(&str, f64, &str, &str)]) {
    println!();
    println!("| measure                                   | median        | goal        |");
    println!("|-------------------------------------------|---------------|-------------|");
    for (label, value, unit, goal) in rows {
        let value = if value.is_nan() {
            "—".to_string()
        } else {
            format!("{value:.1}")
        };
        println!("| {label:<41} | {value:>8} {unit:<4} | {goal:<11} |");
    }
    println!();
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[tokio::main]
async fn main() {
    let suite = std::env::args().nth(1).unwrap_or_default();
    match suite.as_str() {
        "jobs" => jobs_suite().await,
        "kpi" => kpi::suite().await,
        "webhooks" => webhooks::suite().await,
        "email" => email::suite().await,
        "ai" => ai::suite().await,
        "files" => files::suite().await,
        "notifications" => notifications::suite().await,
        "newsletter" => newsletter::suite().await,
        "certificates" => certificates::suite().await,
        other => {
            eprintln!(
                "usage: launchpad-bench <jobs|kpi|webhooks|email|ai|files|notifications|newsletter|certificates> [ARGS…]  (unknown suite {other:?})"
            );
            std::process::exit(2);
        }
    }
}
