//! `launchpad-bench notifications [fanout] [stream] [count]` (issue 19):
//! notifications with release binaries of the API and the worker.
//!
//! Each run, on a fresh database:
//! - **fanout**: a CoP of 20,000 members (bulk-inserted); an admin creates an
//!   event through the API (`POST /cops/{id}/events`, which records an
//!   `event_created` notification in its transaction): the request's time
//!   (the change commits before the answer), then how long until all 20,000
//!   inbox rows exist (counted every 20 ms), from the answer.
//! - **stream**: 1,000 members each with a live stream
//!   (`GET /me/notifications/stream`) on one API process; 5 events are
//!   created one after the other, each notifying all 1,000. Latency = a
//!   stream's `notification` event arriving at its client − the inbox row's
//!   `updated_at` (the fan-out transaction's start: the row commits a bit
//!   later, so the figure is an upper bound). The API's peak RSS (VmHWM)
//!   with the 1,000 streams open.
//! - **count**: 1,000,000 inbox rows (10,000 people × 100, a third read)
//!   bulk-inserted, then `GET /me/notifications/count` 2,000 times by 4
//!   clients as 200 of those people: p95 of the request.
//!
//! Printed: medians of `RUNS` runs.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures::StreamExt;
use launchpad_domain::{
    auth::TokenKeys,
    ids::{CustomerId, UserId},
    tenancy::{Caller, Role},
};
use serde_json::{Value as Json, json};
use test_support::TestDb;

use super::{
    RUNS, free_addr, login, median, peak_rss_mb, percentile, spawn_api, spawn_worker, wait_ready,
};

const CUSTOMER: &str = "0190b5e2-0000-7000-8000-00000000c0b1";
const COP: &str = "0190b5e2-0000-7000-8000-00000000c0b2";
const FANOUT_MEMBERS: usize = 20_000;
const STREAMS: usize = 1_000;
const STREAM_ROUNDS: usize = 5;
const COUNT_PEOPLE: usize = 10_000;
const COUNT_PER_PERSON: usize = 100;
const COUNT_REQUESTS: usize = 2_000;
const COUNT_CLIENTS: usize = 4;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The tenant with one CoP of `n` members (`md5('bench-member-' || i)`).
async fn load_members(db: &TestDb, n: usize) {
    let sql = [
        format!("INSERT INTO customers (id, name, slug, time_zone) VALUES ('{CUSTOMER}', 'Bench', 'bench', 'Europe/Paris')"),
        format!("INSERT INTO cops (id, customer_id, name) VALUES ('{COP}', '{CUSTOMER}', 'Data Engineering CoP')"),
        format!("CREATE TEMP TABLE bu AS SELECT i, md5('bench-member-' || i)::uuid AS id FROM generate_series(1, {n}) i"),
        "INSERT INTO users (id, email, name, password_hash, roles)
         SELECT id, 'member' || i || '@bench.example.org', 'Member ' || i, 'x', ARRAY['customer_member'] FROM bu"
            .into(),
        format!("INSERT INTO user_customers (user_id, customer_id) SELECT id, '{CUSTOMER}' FROM bu"),
        format!("INSERT INTO cop_members (cop_id, user_id) SELECT '{COP}', id FROM bu"),
        "DROP TABLE bu".into(),
        "ANALYZE".into(),
    ];
    execute_all(db, &sql).await;
}

/// Runs `sql`, one statement after the other, on one connection.
pub(super) async fn execute_all(db: &TestDb, sql: &[String]) {
    let mut conn = db.pool.acquire().await.unwrap();
    for s in sql {
        sqlx::query(sqlx::AssertSqlSafe(s.clone()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

async fn member_ids(db: &TestDb, n: usize) -> Vec<uuid::Uuid> {
    seeded_ids(db, "bench-member-", n).await
}

/// The ids `md5(prefix || i)` of `i` in 1..=`n`, in order.
pub(super) async fn seeded_ids(db: &TestDb, prefix: &str, n: usize) -> Vec<uuid::Uuid> {
    sqlx::query_scalar("SELECT md5($2 || i)::uuid FROM generate_series(1, $1::int) i ORDER BY i")
        .bind(n as i32)
        .bind(prefix)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

fn member_token(keys: &TokenKeys, id: uuid::Uuid) -> String {
    member_token_of(keys, id, CUSTOMER)
}

/// Access tokens of a member of `customer`, signed with the bench API's
/// secret (logging in 1,000 people would measure password hashing).
pub(super) fn member_token_of(keys: &TokenKeys, id: uuid::Uuid, customer: &str) -> String {
    keys.sign(&Caller {
        user_id: UserId(id),
        email: format!("{id}@bench.example.org"),
        name: "Member".into(),
        roles: vec![Role::CustomerMember],
        customer_ids: vec![CustomerId(customer.parse().unwrap())],
    })
    .expect("sign")
}

pub(super) fn keys() -> TokenKeys {
    TokenKeys::new(
        test_support::app::JWT_SECRET.as_bytes(),
        chrono::Duration::hours(2),
        chrono::Duration::days(1),
    )
}

/// Creates an event in the bench CoP as `token`; returns the request's
/// milliseconds.
async fn create_event(client: &reqwest::Client, base: &str, token: &str, n: usize) -> f64 {
    let starts = chrono::Utc::now() + chrono::Duration::days(7 + n as i64);
    let t = Instant::now();
    let r = client
        .post(format!("{base}/api/v1/cops/{COP}/events"))
        .bearer_auth(token)
        .json(&json!({
            "type": "training",
            "title": format!("Lakehouse basics, part {n}"),
            "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + chrono::Duration::hours(1)).to_rfc3339(),
            "time_zone": "Europe/Paris",
            "join_url": "https://meet.example.com/abc",
        }))
        .send()
        .await
        .unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(r.status(), 201, "create event: {}", r.text().await.unwrap());
    ms
}

async fn count_rows(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notifications WHERE type = 'event_created'")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// (request ms, answer → all inbox rows s).
async fn fanout() -> (f64, f64) {
    let db = TestDb::new().await;
    let addr = free_addr();
    let _api = spawn_api(&db.url, &addr);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    let token = login(&base).await;
    load_members(&db, FANOUT_MEMBERS).await;
    let _worker = spawn_worker(&db.url, &[]);
    let client = reqwest::Client::new();
    let req_ms = create_event(&client, &base, &token, 0).await;
    let t = Instant::now();
    let deadline = t + Duration::from_secs(120);
    loop {
        if count_rows(&db).await >= FANOUT_MEMBERS as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "fan-out not done in 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (req_ms, t.elapsed().as_secs_f64())
}

/// Reads one stream; sends (client index, arrival unix time) per
/// `notification` event.
async fn read_stream(
    i: usize,
    resp: reqwest::Response,
    tx: tokio::sync::mpsc::UnboundedSender<(usize, f64)>,
) {
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    while let Some(Ok(chunk)) = body.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block
                .lines()
                .any(|l| l.strip_prefix("event:").map(str::trim) == Some("notification"))
            {
                let _ = tx.send((i, unix_now()));
            }
        }
    }
}

/// (latency samples ms, API peak RSS MB).
async fn stream() -> (Vec<f64>, f64) {
    let db = TestDb::new().await;
    let addr = free_addr();
    let api = spawn_api(&db.url, &addr);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    let admin = login(&base).await;
    load_members(&db, STREAMS).await;
    let _worker = spawn_worker(&db.url, &[]);
    let ids = member_ids(&db, STREAMS).await;
    let keys = keys();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut readers = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let resp = client
            .get(format!("{base}/api/v1/me/notifications/stream"))
            .bearer_auth(member_token(&keys, *id))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "stream {i}");
        readers.push(tokio::spawn(read_stream(i, resp, tx.clone())));
    }
    // Let every stream send its first `counts` event and settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let index: HashMap<uuid::Uuid, usize> = ids.iter().enumerate().map(|(i, u)| (*u, i)).collect();
    let mut lat = Vec::new();
    for round in 0..STREAM_ROUNDS {
        while rx.try_recv().is_ok() {}
        create_event(&client, &base, &admin, round).await;
        let mut arrived: Vec<Option<f64>> = vec![None; STREAMS];
        let mut got = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while got < STREAMS {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((i, at))) => {
                    if arrived[i].is_none() {
                        arrived[i] = Some(at);
                        got += 1;
                    }
                }
                _ => panic!("round {round}: {got} of {STREAMS} streams got the notification"),
            }
        }
        let rows: Vec<(uuid::Uuid, f64)> = sqlx::query_as(
            "SELECT recipient_id, extract(epoch FROM updated_at)::float8
             FROM notifications WHERE type = 'event_created'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        for (who, at) in rows {
            if let Some(Some(arr)) = index.get(&who).map(|i| arrived[*i]) {
                lat.push((arr - at) * 1000.0);
            }
        }
    }
    let rss = peak_rss_mb(api.0.id());
    for r in readers {
        r.abort();
    }
    drop(api);
    lat.sort_by(f64::total_cmp);
    (lat, rss)
}

/// Request latencies (ms) of `GET /me/notifications/count` over 1,000,000 rows.
async fn count() -> Vec<f64> {
    let db = TestDb::new().await;
    let addr = free_addr();
    let api = spawn_api(&db.url, &addr);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    load_members(&db, COUNT_PEOPLE).await;
    let sql = format!(
        "INSERT INTO notifications (recipient_id, customer_id, source_id, type, title, body, group_key,
                                    created_at, updated_at, seen_at, read_at)
         SELECT md5('bench-member-' || p)::uuid, '{CUSTOMER}', gen_random_uuid(), 'event_created',
                'New event', 'Lakehouse basics', 'bench-' || k,
                now() - k * interval '1 hour', now() - k * interval '1 hour',
                CASE WHEN k % 2 = 0 THEN now() END, CASE WHEN k % 3 = 0 THEN now() END
         FROM generate_series(1, {COUNT_PEOPLE}) p, generate_series(1, {COUNT_PER_PERSON}) k"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("VACUUM ANALYZE notifications")
        .execute(&db.pool)
        .await
        .unwrap();
    let ids = member_ids(&db, 200).await;
    let keys = keys();
    let tokens: Arc<Vec<String>> = Arc::new(ids.iter().map(|u| member_token(&keys, *u)).collect());
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for c in 0..COUNT_CLIENTS {
        let client = client.clone();
        let base = base.clone();
        let tokens = tokens.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for n in (c..COUNT_REQUESTS).step_by(COUNT_CLIENTS) {
                let t = Instant::now();
                let r = client
                    .get(format!("{base}/api/v1/me/notifications/count"))
                    .bearer_auth(&tokens[n % tokens.len()])
                    .send()
                    .await
                    .unwrap();
                let ok = r.status() == 200;
                let body: Json = r.json().await.unwrap();
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                assert!(ok, "count: {body}");
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    drop(api);
    lat.sort_by(f64::total_cmp);
    lat
}

pub async fn suite() {
    let parts: Vec<String> = std::env::args().skip(2).collect();
    let want = |p: &str| parts.is_empty() || parts.iter().any(|x| x == p);
    println!(
        "suite: notifications  (median of {RUNS} runs; {} cores)",
        super::num_cpus()
    );
    let (mut fan, mut st, mut cnt) = (vec![], vec![], vec![]);
    for run in 0..RUNS {
        eprintln!("run {}/{RUNS}", run + 1);
        if want("fanout") {
            fan.push(fanout().await);
        }
        if want("stream") {
            let (lat, rss) = stream().await;
            st.push((percentile(&lat, 0.5), percentile(&lat, 0.95), rss));
        }
        if want("count") {
            let lat = count().await;
            cnt.push((percentile(&lat, 0.5), percentile(&lat, 0.95)));
        }
    }
    let med = |v: Vec<f64>| if v.is_empty() { f64::NAN } else { median(v) };
    let rows = [
        (
            "event to 20,000 members: request (commit)",
            med(fan.iter().map(|f| f.0).collect()),
            "ms",
            "< 500 ms",
        ),
        (
            "  answer → every inbox row",
            med(fan.iter().map(|f| f.1).collect()),
            "s",
            "< 2 s",
        ),
        (
            "1,000 streams: row → client p50",
            med(st.iter().map(|s| s.0).collect()),
            "ms",
            "",
        ),
        (
            "  p95",
            med(st.iter().map(|s| s.1).collect()),
            "ms",
            "< 250 ms",
        ),
        (
            "  API peak RSS, 1,000 streams",
            med(st.iter().map(|s| s.2).collect()),
            "MB",
            "< 150 MB",
        ),
        (
            "count over 1,000,000 rows p50",
            med(cnt.iter().map(|c| c.0).collect()),
            "ms",
            "",
        ),
        (
            "  p95",
            med(cnt.iter().map(|c| c.1).collect()),
            "ms",
            "< 10 ms",
        ),
    ];
    super::print_table(&rows);
    println!("runs: fanout {fan:.2?}");
    println!("runs: stream (p50, p95, rss) {st:.1?}");
    println!("runs: count (p50, p95) {cnt:.2?}");
}
