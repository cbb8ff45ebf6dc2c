//! `launchpad-bench webhooks [events] [endpoints] [concurrency]` (issue 8):
//! webhook delivery throughput and latency with one release worker process
//! and a local receiver answering 200 (`Receiver::start_with(lean)`, run in
//! this process; it keeps only the `webhook-id` and the arrival time).
//!
//! Each run, on a fresh database:
//! - **drain**: one tenant with `endpoints` (10) enabled endpoints taking
//!   every event type, plain http to 127.0.0.1 (the worker runs with
//!   `LAUNCHPAD_WEBHOOKS_ALLOW_INSECURE=true`). `events` (10,000)
//!   `event.updated` messages, one delivery per (message, endpoint) and one
//!   `webhook_deliver` job per delivery (100,000) are loaded first, set-based
//!   (the statements of `webhooks::record_event`, 1,000 messages per
//!   transaction; jobs through `webhooks::events::enqueue_deliveries`), then
//!   `ANALYZE`. Then one worker process is started: deliveries/s = deliveries
//!   / (worker spawn → the last delivery arrived at the receiver). Afterwards
//!   every delivery must be `succeeded` in the database.
//! - **latency**: the same worker, now idle; 500 events (fewer when `events`
//!   is smaller), each recorded with `webhooks::record_event` in its own
//!   transaction, at 50 events/s (so 500 deliveries/s with 10 endpoints).
//!   Latency of a delivery = its arrival at the receiver − the return of its
//!   event's commit; p50/p95/p99 over all deliveries.
//!
//! `concurrency` (default 128, as in the `jobs` drain; the product's default
//! is 32) is `LAUNCHPAD_WORKER_CONCURRENCY_WEBHOOK_DELIVER` and the fetch
//! batch. Crons are off. Printed: medians of `RUNS` runs.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use launchpad_domain::{
    ids::CustomerId,
    webhooks::{
        DeliveryId, WebhookData, WebhookEventType, events, new_message_id, record_event, signing,
    },
};
use serde_json::json;
use test_support::{Receiver, TestDb};

use super::{RUNS, median, num_cpus, peak_rss_mb, percentile, spawn_worker};

const CUSTOMER: &str = "0190b5e2-0000-7000-8000-00000000b8e8";
/// Messages per loading transaction.
const CHUNK: usize = 1_000;
const LATENCY_EVENTS: usize = 500;
const LATENCY_PER_SEC: f64 = 50.0;

/// CPU seconds (user + system) used so far: by one process, by every
/// `postgres` process alive, and by the whole machine (busy time of all
/// cores). Differences of two snapshots over a wall time give the cores
/// each used, to tell where the time goes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cpu {
    pub process: f64,
    pub postgres: f64,
    pub machine: f64,
    pub at: Instant,
}

const TICKS_PER_SEC: f64 = 100.0;

/// (comm, utime + stime in seconds) of `/proc/<pid>/stat`.
fn process_cpu(pid: &str) -> Option<(String, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some((comm, ticks / TICKS_PER_SEC))
}

impl Cpu {
    pub(super) fn now(pid: u32) -> Self {
        let postgres = std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| process_cpu(e.file_name().to_str()?))
                    .filter(|(comm, _)| comm == "postgres")
                    .map(|(_, s)| s)
                    .sum()
            })
            .unwrap_or(f64::NAN);
        let machine = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let v: Vec<f64> = s
                    .lines()
                    .next()?
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal: busy = all − idle − iowait.
                let total: f64 = v.iter().take(8).sum();
                Some((total - v.get(3)? - v.get(4)?) / TICKS_PER_SEC)
            })
            .unwrap_or(f64::NAN);
        Self {
            process: process_cpu(&pid.to_string()).map_or(f64::NAN, |(_, s)| s),
            postgres,
            machine,
            at: Instant::now(),
        }
    }

    /// Cores used since `earlier`: (process, postgres, machine).
    pub(super) fn cores_since(&self, earlier: &Cpu) -> (f64, f64, f64) {
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        (
            (self.process - earlier.process) / wall,
            (self.postgres - earlier.postgres) / wall,
            (self.machine - earlier.machine) / wall,
        )
    }
}

/// This database's counters (`pg_stat_database`): committed transactions,
/// rows returned by scans, rows fetched by index. Differences per item
/// processed show the database work each costs.
pub(super) async fn db_counters(db: &TestDb) -> (f64, f64, f64) {
    sqlx::query_as(
        "SELECT xact_commit::float8, tup_returned::float8, tup_fetched::float8
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// Index entries read so far, per index (`pg_stat_user_indexes`).
pub(super) async fn index_reads(db: &TestDb) -> HashMap<String, f64> {
    let rows: Vec<(String, f64)> = sqlx::query_as(
        "SELECT schemaname || '.' || indexrelname, idx_tup_read::float8 FROM pg_stat_user_indexes",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// The sampling task of [`sample_activity`]: (samples, counts per statement).
pub(super) type Sampler = tokio::task::JoinHandle<(usize, HashMap<String, usize>)>;

/// A sampling profile of the database: every 10 ms, the statements active
/// in this database (other than the sampler's), by wait-event type and
/// statement text. Stop it with the flag; the task returns (samples,
/// counts).
pub(super) fn sample_activity(db: &TestDb) -> (Arc<AtomicBool>, Sampler) {
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, pool) = (stop.clone(), db.pool.clone());
    let task = tokio::spawn(async move {
        let mut conn = pool.acquire().await.unwrap();
        let (mut samples, mut counts) = (0, HashMap::new());
        while !flag.load(Ordering::Relaxed) {
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') || '  '
                        || left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
                 FROM pg_stat_activity
                 WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()",
            )
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
            samples += 1;
            for r in rows {
                *counts.entry(r).or_insert(0) += 1;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (samples, counts)
    });
    (stop, task)
}

/// The `n` statements most often active: (mean backends running it, text).
pub(super) fn top_statements(
    samples: usize,
    counts: &HashMap<String, usize>,
    n: usize,
) -> Vec<(f64, String)> {
    let mut v: Vec<(f64, String)> = counts
        .iter()
        .map(|(k, c)| (*c as f64 / samples.max(1) as f64, k.clone()))
        .collect();
    v.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    v.truncate(n);
    v
}

/// Rows read by sequential scans so far, per table (`pg_stat_user_tables`).
pub(super) async fn seq_reads(db: &TestDb) -> HashMap<String, f64> {
    let rows: Vec<(String, f64)> = sqlx::query_as(
        "SELECT schemaname || '.' || relname, seq_tup_read::float8 FROM pg_stat_user_tables",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// The index (or table) read most between two snapshots, and its entries
/// (rows) read per item.
pub(super) fn most_read_index(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
    items: usize,
) -> (String, f64) {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap())
        .map(|(k, d)| (k, d / items as f64))
        .unwrap_or_default()
}

/// `launchpad-bench webhooks ARG…`: the `n`th argument after the suite.
fn arg(n: usize, default: usize) -> usize {
    match std::env::args().nth(n + 1) {
        Some(a) => a
            .parse()
            .unwrap_or_else(|_| panic!("argument {n} ({a:?}) is not a number")),
        None => default,
    }
}

/// An `event.updated` body the size of a real one.
fn event_data(i: usize) -> WebhookData {
    let id = uuid::Uuid::now_v7();
    let starts = Utc::now() + chrono::Duration::days(7);
    WebhookData::new(
        json!({
            "id": id,
            "cop_id": "0190b5e2-0000-7000-8000-0000000c0901",
            "type": "training",
            "title": format!("Lakehouse deep dive, part {i}"),
            "description": "Bring your questions about table formats, compaction and governance.",
            "starts_at": starts,
            "ends_at": starts + chrono::Duration::hours(1),
            "time_zone": "Europe/Berlin",
            "location": null,
            "join_url": "https://meet.example.com/lakehouse",
            "capacity": 500,
            "speakers": ["Ada Lovelace", "Grace Hopper"],
            "status": "scheduled",
            "sequence": 1,
            "uid": format!("{id}@launchpad"),
            "registered_count": 120,
            "created_at": Utc::now(),
            "updated_at": Utc::now(),
        }),
        id,
        format!("/api/v1/events/{id}"),
    )
}

async fn setup(db: &TestDb, rx: &Receiver, endpoints: usize) -> CustomerId {
    let customer = CustomerId(CUSTOMER.parse().unwrap());
    sqlx::query("INSERT INTO customers (id, name, slug) VALUES ($1, 'Bench', 'bench')")
        .bind(customer)
        .execute(&db.pool)
        .await
        .unwrap();
    for i in 0..endpoints {
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, customer_id, url, secret)
             VALUES (gen_random_uuid(), $1, $2, $3)",
        )
        .bind(customer)
        .bind(rx.url(&format!("/e{i}")))
        .bind(signing::generate_secret())
        .execute(&db.pool)
        .await
        .unwrap();
    }
    customer
}

/// `events` messages to every endpoint of `customer`, with their jobs.
/// Returns the deliveries queued and the seconds it took.
async fn load(db: &TestDb, customer: CustomerId, events: usize) -> (usize, f64) {
    let t0 = Instant::now();
    let mut queued = 0;
    let mut done = 0;
    while done < events {
        let n = CHUNK.min(events - done);
        let ids: Vec<String> = (0..n).map(|_| new_message_id()).collect();
        let payloads: Vec<serde_json::Value> = (done..done + n)
            .map(|i| events::payload(WebhookEventType::EventUpdated, Utc::now(), event_data(i)))
            .collect();
        let mut tx = db.pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO webhook_messages (id, customer_id, event_type, payload)
             SELECT id, $2, 'event.updated', p FROM unnest($1::text[], $3::jsonb[]) AS m(id, p)",
        )
        .bind(&ids)
        .bind(customer)
        .bind(&payloads)
        .execute(&mut *tx)
        .await
        .unwrap();
        let deliveries: Vec<DeliveryId> = sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (id, message_id, endpoint_id, customer_id)
             SELECT gen_random_uuid(), m.id, e.id, e.customer_id
             FROM unnest($1::text[]) WITH ORDINALITY AS m(id, n)
             JOIN webhook_endpoints e ON e.customer_id = $2 AND e.disabled_at IS NULL
             ORDER BY m.n, e.url
             RETURNING id",
        )
        .bind(&ids)
        .bind(customer)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        events::enqueue_deliveries(&mut tx, &deliveries)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        queued += deliveries.len();
        done += n;
    }
    sqlx::query("ANALYZE").execute(&db.pool).await.unwrap();
    (queued, t0.elapsed().as_secs_f64())
}

/// (succeeded, failed or given up) deliveries in the database.
async fn delivery_states(db: &TestDb) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status IN ('failed', 'gave_up'))
         FROM webhook_deliveries",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

struct Run {
    load_secs: f64,
    drain_secs: f64,
    per_sec: f64,
    /// Seconds from the last arrival until the database shows every delivery succeeded.
    record_lag: f64,
    /// Arrivals beyond one per delivery (at-least-once re-sends).
    duplicates: usize,
    lat: (f64, f64, f64, f64),
    lat_count: usize,
    /// Deliveries/s in each tenth of the drain (the first includes the worker's start).
    tenth_rates: Vec<f64>,
    /// Per delivery during the drain: commits, rows returned by scans, rows fetched by index.
    per_delivery: (f64, f64, f64),
    /// The index read most during the drain, and its entries read per delivery.
    top_index: (String, f64),
    /// Cores used during the drain: worker, postgres, this process (receiver), whole machine.
    cores: (f64, f64, f64, f64),
    /// p50, p95 of the latency phase's jobs, created → started (ms).
    pickup: (f64, f64),
    rss_mb: f64,
}

async fn run(events: usize, endpoints: usize, concurrency: usize) -> Run {
    let db = TestDb::new().await;
    let rx = Receiver::start_with(true).await;
    let customer = setup(&db, &rx, endpoints).await;
    let (total, load_secs) = load(&db, customer, events).await;
    assert_eq!(
        total,
        events * endpoints,
        "one delivery per message and endpoint"
    );
    eprintln!("  loaded {total} deliveries in {load_secs:.1} s");

    let c = concurrency.to_string();
    let t0 = Instant::now();
    let bench_cpu0 = Cpu::now(std::process::id());
    let counters0 = db_counters(&db).await;
    let indexes0 = index_reads(&db).await;
    let worker = spawn_worker(
        &db.url,
        &[
            ("LAUNCHPAD_WEBHOOKS_ALLOW_INSECURE", "true"),
            ("LAUNCHPAD_WORKER_CONCURRENCY_WEBHOOK_DELIVER", &c),
            ("LAUNCHPAD_WORKER_BATCH_SIZE", &c),
            ("LAUNCHPAD_CRON_KPI_ROLLUP", "off"),
            ("LAUNCHPAD_CRON_PRUNE_JOBS", "off"),
        ],
    );
    let limit = Duration::from_secs(600.max(total as u64 / 50));
    // When each tenth of the deliveries had arrived (does the rate hold?).
    let mut tenths: Vec<f64> = Vec::with_capacity(10);
    loop {
        let got = rx.count();
        while tenths.len() < 10 && got >= total * (tenths.len() + 1) / 10 {
            tenths.push(t0.elapsed().as_secs_f64());
        }
        if got >= total {
            break;
        }
        assert!(
            t0.elapsed() < limit,
            "drain: {got} of {total} deliveries arrived in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain_secs = t0.elapsed().as_secs_f64();
    // The worker started at 0 CPU seconds.
    let worker_cores = Cpu::now(worker.0.id()).process / drain_secs;
    let (bench_cores, pg_cores, machine_cores) =
        Cpu::now(std::process::id()).cores_since(&bench_cpu0);
    let tenth_rates: Vec<f64> = tenths
        .iter()
        .enumerate()
        .map(|(i, t)| (total / 10) as f64 / (t - if i == 0 { 0.0 } else { tenths[i - 1] }))
        .collect();
    let arrived = Instant::now();
    loop {
        let (ok, failed) = delivery_states(&db).await;
        assert_eq!(failed, 0, "deliveries failed");
        if ok as usize == total {
            break;
        }
        assert!(
            arrived.elapsed() < Duration::from_secs(60),
            "only {ok} of {total} deliveries recorded succeeded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let record_lag = arrived.elapsed().as_secs_f64();
    // The statistics are flushed within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counters1 = db_counters(&db).await;
    let top_index = most_read_index(&indexes0, &index_reads(&db).await, total);
    let per_delivery = (
        (counters1.0 - counters0.0) / total as f64,
        (counters1.1 - counters0.1) / total as f64,
        (counters1.2 - counters0.2) / total as f64,
    );
    let duplicates = rx.take_all().len() - total;

    // Latency: an idle worker, events committed one at a time.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let n = LATENCY_EVENTS.min(events);
    let phase_start: chrono::DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let mut committed: HashMap<String, Instant> = HashMap::with_capacity(n);
    let start = tokio::time::Instant::now();
    for i in 0..n {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / LATENCY_PER_SEC)).await;
        let mut tx = db.pool.begin().await.unwrap();
        let id = record_event(
            &mut tx,
            customer,
            WebhookEventType::EventUpdated,
            event_data(i),
        )
        .await
        .unwrap()
        .expect("the endpoints take every event type");
        tx.commit().await.unwrap();
        committed.insert(id, Instant::now());
    }
    let expected = n * endpoints;
    let waited = Instant::now();
    while rx.count() < expected {
        assert!(
            waited.elapsed() < Duration::from_secs(120),
            "latency: {} of {expected} deliveries arrived",
            rx.count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rss_mb = peak_rss_mb(worker.0.id());
    drop(worker);
    // Where the latency goes: the job's pickup (created → started).
    let mut pickup: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM started_at - created_at)::float8 * 1000 FROM jobs
         WHERE kind = 'webhook_deliver' AND created_at >= $1 AND started_at IS NOT NULL",
    )
    .bind(phase_start)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    pickup.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut lat: Vec<f64> = rx
        .take_all()
        .iter()
        .filter_map(|r| {
            let c = committed.get(r.header("webhook-id")?)?;
            Some(r.at.saturating_duration_since(*c).as_secs_f64() * 1e3)
        })
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Run {
        load_secs,
        drain_secs,
        per_sec: total as f64 / drain_secs,
        record_lag,
        duplicates,
        lat: (
            percentile(&lat, 0.5),
            percentile(&lat, 0.95),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(f64::NAN),
        ),
        lat_count: lat.len(),
        tenth_rates,
        per_delivery,
        top_index,
        cores: (worker_cores, pg_cores, bench_cores, machine_cores),
        pickup: (percentile(&pickup, 0.5), percentile(&pickup, 0.95)),
        rss_mb,
    }
}

fn row(measure: &str, value: String, goal: &str) {
    println!("| {measure:<56} | {value:>13} | {goal:<14} |");
}

pub async fn suite() {
    let events = arg(1, 10_000);
    let endpoints = arg(2, 10);
    let concurrency = arg(3, 128);
    let total = events * endpoints;
    let lat_events = LATENCY_EVENTS.min(events);
    println!(
        "suite: webhooks  (median of {RUNS} runs; {events} events × {endpoints} endpoints = {total} deliveries; \
         1 worker process, webhook_deliver concurrency {concurrency}; receiver in the bench process; \
         Postgres on this machine; {} cores)",
        num_cpus()
    );
    let mut runs = vec![];
    for i in 0..RUNS {
        eprintln!("run {}/{RUNS}", i + 1);
        let r = run(events, endpoints, concurrency).await;
        eprintln!(
            "  drain {:.1} s = {:.0} deliveries/s (recorded +{:.2} s, {} duplicates); latency p50 {:.1} ms p95 {:.1} ms p99 {:.1} ms max {:.1} ms ({} deliveries; pickup p50 {:.1} ms p95 {:.1} ms); worker peak RSS {:.1} MB",
            r.drain_secs,
            r.per_sec,
            r.record_lag,
            r.duplicates,
            r.lat.0,
            r.lat.1,
            r.lat.2,
            r.lat.3,
            r.lat_count,
            r.pickup.0,
            r.pickup.1,
            r.rss_mb
        );
        eprintln!(
            "  deliveries/s per tenth of the drain: {:.0?}; cores during the drain: worker {:.2}, postgres {:.2}, receiver {:.2}, machine {:.2}",
            r.tenth_rates, r.cores.0, r.cores.1, r.cores.2, r.cores.3
        );
        eprintln!(
            "  per delivery: {:.1} commits, {:.0} rows returned by scans, {:.1} rows fetched by index",
            r.per_delivery.0, r.per_delivery.1, r.per_delivery.2
        );
        eprintln!(
            "  most read index: {} ({:.0} entries per delivery)",
            r.top_index.0, r.top_index.1
        );
        runs.push(r);
    }
    let m = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    println!();
    row("measure", "median".into(), "goal");
    println!("|{}|{}|{}|", "-".repeat(58), "-".repeat(15), "-".repeat(16));
    row(
        &format!("load {total} deliveries + jobs (set-based)"),
        format!("{:.1} s", m(|r| r.load_secs)),
        "",
    );
    row(
        &format!("drain {total} deliveries, 1 worker process"),
        format!("{:.0} /s", m(|r| r.per_sec)),
        "≥ 1000 /s",
    );
    row(
        "  drain time (worker spawn → last arrival)",
        format!("{:.1} s", m(|r| r.drain_secs)),
        "",
    );
    row(
        &format!("event → delivery latency p50 ({lat_events} events at 50/s)"),
        format!("{:.1} ms", m(|r| r.lat.0)),
        "",
    );
    row("  p95", format!("{:.1} ms", m(|r| r.lat.1)), "< 200 ms");
    row("  p99", format!("{:.1} ms", m(|r| r.lat.2)), "");
    row("  max", format!("{:.1} ms", m(|r| r.lat.3)), "");
    row(
        "  of which job pickup (created → started) p50",
        format!("{:.1} ms", m(|r| r.pickup.0)),
        "",
    );
    row(
        "  of which job pickup (created → started) p95",
        format!("{:.1} ms", m(|r| r.pickup.1)),
        "",
    );
    row(
        "cores during the drain: worker process",
        format!("{:.2}", m(|r| r.cores.0)),
        "",
    );
    row(
        "  all postgres processes",
        format!("{:.2}", m(|r| r.cores.1)),
        "",
    );
    row(
        "  receiver (the bench process)",
        format!("{:.2}", m(|r| r.cores.2)),
        "",
    );
    row(
        &format!("  whole machine (of {})", num_cpus()),
        format!("{:.2}", m(|r| r.cores.3)),
        "",
    );
    row(
        "per delivery: database commits",
        format!("{:.1}", m(|r| r.per_delivery.0)),
        "",
    );
    row(
        "  rows returned by scans / fetched by index",
        format!(
            "{:.0} / {:.1}",
            m(|r| r.per_delivery.1),
            m(|r| r.per_delivery.2)
        ),
        "",
    );
    row(
        &format!("  index entries read: {}", runs[0].top_index.0),
        format!("{:.0}", m(|r| r.top_index.1)),
        "",
    );
    row("peak RSS, worker", format!("{:.1} MB", m(|r| r.rss_mb)), "");
    println!();
    println!(
        "runs: deliveries/s {:.0?}  latency p95 ms {:.1?}  duplicates {:?}",
        runs.iter().map(|r| r.per_sec).collect::<Vec<_>>(),
        runs.iter().map(|r| r.lat.1).collect::<Vec<_>>(),
        runs.iter().map(|r| r.duplicates).collect::<Vec<_>>()
    );
}
