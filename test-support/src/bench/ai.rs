//! `launchpad-bench ai [jobs] [answers] [job concurrency]` (issue 7): `jobs`
//! (200) AI survey summaries against an OpenAI-compatible test server
//! (`LlmServer`, in this process) that answers every request after a fixed
//! 300 ms delay, with one release worker process and provider concurrency 16
//! (`LAUNCHPAD_AI_CONCURRENCY`). The request-rate and token-rate limits are
//! switched off (`LAUNCHPAD_AI_RPM=0`, `LAUNCHPAD_AI_TPM=0`), so the only
//! configured limit is the concurrency; other settings are the defaults
//! (chunks of 8,000 tokens; `ai_survey_summary` job concurrency 32, or the
//! optional third argument).
//!
//! Each run, on a fresh database: one tenant with `jobs` closed surveys of
//! `answers` (30) responses each (an NPS score and a free-text answer,
//! different in every survey so that no summary is a cache hit), generated
//! set-based, then `ANALYZE`; the release API and the worker are started and
//! `jobs` `POST /api/v1/surveys/{id}/ai/summary` are sent by 8 concurrent
//! clients. Measured, from the first POST to every job `succeeded`:
//! - **jobs/s**, against the theoretical rate = (16 / 0.3 s) provider
//!   requests/s ÷ the provider requests per job (counted by the server).
//!   With 200 jobs of one request, 16 slots need 13 rounds of 0.3 s, so
//!   even a perfect platform reaches 200 / 3.9 s = 96 % of it;
//! - where the rest goes: first POST → first job started → first provider
//!   request, how busy the 16 provider slots were between the first request
//!   and the last answer, last answer → all succeeded; CPU used (cores);
//! - the worker's **peak RSS** (`VmHWM`) at the end of the run.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;
use test_support::{LlmReply as Reply, LlmServer, TestDb, llm_server::Recorded};

use super::webhooks::Cpu;
use super::{
    RUNS, free_addr, login, median, num_cpus, peak_rss_mb, spawn_api, spawn_worker, wait_ready,
};

const CUSTOMER: &str = "0190b5e2-0000-7000-8000-0000000000a1";
const COP: &str = "0190b5e2-0000-7000-8000-0000000000c1";
const DELAY: Duration = Duration::from_millis(300);
const CONCURRENCY: usize = 16;
const CLIENTS: usize = 8;

/// `launchpad-bench ai ARG…`: the `n`th argument after the suite.
fn arg(n: usize, default: usize) -> usize {
    match std::env::args().nth(n + 1) {
        Some(a) => a
            .parse()
            .unwrap_or_else(|_| panic!("argument {n} ({a:?}) is not a number")),
        None => default,
    }
}

fn generator(jobs: usize, answers: usize) -> Vec<String> {
    vec![
        format!("INSERT INTO customers (id, name, slug) VALUES ('{CUSTOMER}', 'Bench', 'bench')"),
        format!("INSERT INTO cops (id, customer_id, name) VALUES ('{COP}', '{CUSTOMER}', 'Data Engineering CoP')"),
        format!(
            "CREATE TEMP TABLE bs AS
             SELECT i, md5('bench-survey-' || i)::uuid AS id, md5('bench-q-nps-' || i)::uuid AS q_nps,
                    md5('bench-q-text-' || i)::uuid AS q_text
             FROM generate_series(1, {jobs}) i"
        ),
        format!(
            "INSERT INTO surveys (id, cop_id, kind, title, status, opened_at, closed_at)
             SELECT id, '{COP}', 'cop_health', 'Quarterly pulse ' || i, 'closed',
                    now() - interval '15 days', now() - interval '1 day'
             FROM bs"
        ),
        "INSERT INTO survey_questions (id, survey_id, position, kind, prompt)
         SELECT q_nps, id, 0, 'nps', 'How likely are you to recommend the CoP?' FROM bs
         UNION ALL SELECT q_text, id, 1, 'text', 'What should we do differently?' FROM bs"
            .into(),
        format!(
            "CREATE TEMP TABLE bu AS
             SELECT j, md5('bench-respondent-' || j)::uuid AS id FROM generate_series(1, {answers}) j"
        ),
        "INSERT INTO users (id, email, name, password_hash, roles)
         SELECT id, 'respondent' || j || '@bench.example.org', 'Respondent ' || j, 'x', ARRAY['customer_member'] FROM bu"
            .into(),
        format!("INSERT INTO user_customers (user_id, customer_id) SELECT id, '{CUSTOMER}' FROM bu"),
        "CREATE TEMP TABLE br AS
         SELECT s.i, u.j, gen_random_uuid() AS id, s.id AS survey_id, s.q_nps, s.q_text, u.id AS user_id
         FROM bs s CROSS JOIN bu u"
            .into(),
        "INSERT INTO survey_responses (id, survey_id, user_id, responded_at)
         SELECT id, survey_id, user_id, now() - interval '10 days' + j * interval '1 minute' FROM br"
            .into(),
        "INSERT INTO survey_answers (response_id, survey_id, question_id, numeric_value)
         SELECT id, survey_id, q_nps, (i + j) % 11 FROM br"
            .into(),
        "INSERT INTO survey_answers (response_id, survey_id, question_id, text_value)
         SELECT id, survey_id, q_text,
                'Survey ' || i || ', answer ' || j || ': the office hours were '
                || (ARRAY['great', 'fine', 'poor', 'useful'])[1 + (i + j) % 4] || ' this quarter; '
                || (ARRAY['more hands-on labs please.', 'the audio could be better.',
                          'keep the live demos, they help a lot.', 'share the slides a day earlier.'])[1 + (i * j) % 4]
         FROM br"
            .into(),
        "DROP TABLE br, bu, bs".into(),
        "ANALYZE".into(),
    ]
}

/// The answers (id, text) of a map request.
fn answers_of(r: &Recorded) -> Vec<(u64, String)> {
    r.delimited("SURVEY_ANSWERS_JSON")
        .and_then(|d| d["answers"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| Some((a["id"].as_u64()?, a["text"].as_str()?.to_string())))
        .collect()
}

/// A valid answer to either request of a summary: a chunk summary quoting
/// the chunk's first answer (sentiment by keyword), or a merge of partials.
fn reply(r: &Recorded) -> Reply {
    if r.schema_name() == "survey_chunk_summary" {
        let answers = answers_of(r);
        let first = answers.first().map(|a| a.1.clone()).unwrap_or_default();
        let ids = |w: &str| {
            answers
                .iter()
                .filter(|(_, t)| t.contains(w))
                .map(|(i, _)| *i)
                .collect::<Vec<_>>()
        };
        return Reply::json(&json!({
            "working_well": [{"text": "Participants like the sessions.", "quotes": [first]}],
            "opportunities": [{"text": "Audio could be better.", "quotes": []}],
            "top_actions": [{"text": "Fix the audio setup.", "quotes": []}],
            "positive_ids": ids("great"),
            "negative_ids": ids("poor"),
        }));
    }
    let quote = r
        .delimited("PARTIAL_SUMMARIES_JSON")
        .map(|p| p["partial_summaries"][0]["working_well"][0]["quotes"][0].clone())
        .filter(|q| q.is_string());
    Reply::json(&json!({
        "working_well": [{"text": "Participants like the sessions.", "quotes": quote.into_iter().collect::<Vec<_>>()}],
        "opportunities": [{"text": "Audio could be better.", "quotes": []}],
        "top_actions": [{"text": "Fix the audio setup.", "quotes": []}],
    }))
}

struct Run {
    secs: f64,
    enqueue_secs: f64,
    per_sec: f64,
    requests_per_job: f64,
    theoretical: f64,
    rss_mb: f64,
    /// First POST → first provider request (s); mean provider requests in
    /// flight ÷ the concurrency between the first request and the last
    /// answer; last answer → every job seen succeeded (s).
    provider: (f64, f64, f64),
    /// First POST → the first job started (s).
    first_started: f64,
    /// Cores used from the first POST to the end: worker, postgres, whole machine.
    cores: (f64, f64, f64),
}

async fn run(jobs: usize, answers: usize, job_concurrency: usize) -> Run {
    let db = TestDb::new().await;
    // The API creates its bootstrap admin only in an empty users table: start it first.
    let addr = free_addr();
    let _api = spawn_api(&db.url, &addr);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    let token = Arc::new(login(&base).await);
    let mut conn = db.pool.acquire().await.unwrap();
    for sql in generator(jobs, answers) {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    drop(conn);
    let surveys: Vec<String> = sqlx::query_scalar("SELECT id::text FROM surveys ORDER BY title")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(surveys.len(), jobs);

    let llm = LlmServer::start().await;
    llm.set_delay(DELAY);
    // When each answer left (its request started DELAY earlier).
    let answered: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let log = answered.clone();
    llm.respond_with(move |r| {
        log.lock().unwrap().push(Instant::now());
        reply(r)
    });
    let base_url = llm.base_url();
    let concurrency = CONCURRENCY.to_string();
    let job_concurrency = job_concurrency.to_string();
    let worker = spawn_worker(
        &db.url,
        &[
            ("OPENAI_BASE_URL", &base_url),
            ("OPENAI_API_KEY", "test"),
            ("LAUNCHPAD_AI_MODEL", "test-model"),
            ("LAUNCHPAD_AI_CONCURRENCY", &concurrency),
            ("LAUNCHPAD_AI_RPM", "0"),
            ("LAUNCHPAD_AI_TPM", "0"),
            (
                "LAUNCHPAD_WORKER_CONCURRENCY_AI_SURVEY_SUMMARY",
                &job_concurrency,
            ),
            ("LAUNCHPAD_CRON_KPI_ROLLUP", "off"),
            ("LAUNCHPAD_CRON_PRUNE_JOBS", "off"),
        ],
    );
    // Let the worker finish starting (its queues listening).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let client = reqwest::Client::new();
    let queue = Arc::new(std::sync::Mutex::new(surveys));
    let t0_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let t0 = Instant::now();
    let cpu0 = Cpu::now(worker.0.id());
    let mut tasks = vec![];
    for _ in 0..CLIENTS {
        let (client, token, base, queue) =
            (client.clone(), token.clone(), base.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(survey) = queue.lock().unwrap().pop() else {
                    return;
                };
                let r = client
                    .post(format!("{base}/api/v1/surveys/{survey}/ai/summary"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                assert_eq!(status, 202, "{body}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let enqueue_secs = t0.elapsed().as_secs_f64();
    let limit = Duration::from_secs(300 + jobs as u64);
    loop {
        let (done, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'),
                    count(*) FILTER (WHERE status IN ('failed', 'cancelled'))
             FROM jobs WHERE kind = 'ai_survey_summary'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(failed, 0, "a summary job failed");
        if done as usize == jobs {
            break;
        }
        assert!(
            t0.elapsed() < limit,
            "{done} of {jobs} summaries in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let (worker_cores, pg_cores, machine_cores) = Cpu::now(worker.0.id()).cores_since(&cpu0);
    let rss_mb = peak_rss_mb(worker.0.id());
    let done = t0 + Duration::from_secs_f64(secs);
    let mut answers = answered.lock().unwrap().clone();
    answers.sort();
    let first_request = answers[0] - DELAY;
    let last_answer = answers[answers.len() - 1];
    let busy = answers.len() as f64 * DELAY.as_secs_f64();
    let provider = (
        first_request.saturating_duration_since(t0).as_secs_f64(),
        busy / (CONCURRENCY as f64 * last_answer.duration_since(first_request).as_secs_f64()),
        done.saturating_duration_since(last_answer).as_secs_f64(),
    );
    drop(worker);
    let first_started: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM min(started_at))::float8 FROM jobs WHERE kind = 'ai_survey_summary'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let hits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'ai_survey_summary' AND (result->>'cache_hit')::bool",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(hits, 0, "no summary may come from the cache");
    let requests_per_job = llm.request_count() as f64 / jobs as f64;
    let theoretical = CONCURRENCY as f64 / DELAY.as_secs_f64() / requests_per_job;
    Run {
        secs,
        enqueue_secs,
        per_sec: jobs as f64 / secs,
        requests_per_job,
        theoretical,
        rss_mb,
        provider,
        first_started: first_started - t0_unix,
        cores: (worker_cores, pg_cores, machine_cores),
    }
}

fn row(measure: &str, value: String, goal: &str) {
    println!("| {measure:<56} | {value:>13} | {goal:<14} |");
}

pub async fn suite() {
    let jobs = arg(1, 200);
    let answers = arg(2, 30);
    let job_concurrency = arg(3, 32);
    println!(
        "suite: ai  (median of {RUNS} runs; {jobs} survey summaries of {answers} answers; provider delay {} ms, \
         provider concurrency {CONCURRENCY}, no RPM/TPM limit; 1 worker process, ai_survey_summary job concurrency {job_concurrency}; test server in the bench process; \
         Postgres on this machine; {} cores)",
        DELAY.as_millis(),
        num_cpus()
    );
    let mut runs = vec![];
    for i in 0..RUNS {
        eprintln!("run {}/{RUNS}", i + 1);
        let r = run(jobs, answers, job_concurrency).await;
        eprintln!(
            "  {:.2} s (POSTs done at {:.2} s) = {:.1} jobs/s of {:.1} theoretical ({:.0} %), {:.2} requests/job; worker peak RSS {:.1} MB",
            r.secs,
            r.enqueue_secs,
            r.per_sec,
            r.theoretical,
            100.0 * r.per_sec / r.theoretical,
            r.requests_per_job,
            r.rss_mb
        );
        eprintln!(
            "  first job started +{:.3} s, first request +{:.3} s; provider slots busy {:.1} % until the last answer; last answer → done {:.3} s; cores: worker {:.2}, postgres {:.2}, machine {:.2}",
            r.first_started,
            r.provider.0,
            100.0 * r.provider.1,
            r.provider.2,
            r.cores.0,
            r.cores.1,
            r.cores.2
        );
        runs.push(r);
    }
    let m = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    println!();
    row("measure", "median".into(), "goal");
    println!("|{}|{}|{}|", "-".repeat(58), "-".repeat(15), "-".repeat(16));
    row(
        &format!("{jobs} summaries: first POST → all succeeded"),
        format!("{:.2} s", m(|r| r.secs)),
        "",
    );
    row(
        &format!("  the {jobs} POSTs ({CLIENTS} clients)"),
        format!("{:.2} s", m(|r| r.enqueue_secs)),
        "",
    );
    row(
        "provider requests per job",
        format!("{:.2}", m(|r| r.requests_per_job)),
        "",
    );
    row(
        &format!(
            "theoretical rate ({CONCURRENCY} / {:.1} s / requests per job)",
            DELAY.as_secs_f64()
        ),
        format!("{:.1} /s", m(|r| r.theoretical)),
        "",
    );
    row("jobs/s", format!("{:.1} /s", m(|r| r.per_sec)), "");
    row(
        "  % of the theoretical rate",
        format!("{:.1} %", m(|r| 100.0 * r.per_sec / r.theoretical)),
        "≥ 90 %",
    );
    row(
        "  first POST → first job started",
        format!("{:.3} s", m(|r| r.first_started)),
        "",
    );
    row(
        "  first POST → first provider request",
        format!("{:.3} s", m(|r| r.provider.0)),
        "",
    );
    row(
        "  provider slots busy, first request → last answer",
        format!("{:.1} %", m(|r| 100.0 * r.provider.1)),
        "",
    );
    row(
        "  last answer → all jobs succeeded",
        format!("{:.3} s", m(|r| r.provider.2)),
        "",
    );
    row(
        "cores, first POST → done: worker process",
        format!("{:.2}", m(|r| r.cores.0)),
        "",
    );
    row(
        "  all postgres processes",
        format!("{:.2}", m(|r| r.cores.1)),
        "",
    );
    row(
        &format!("  whole machine (of {})", num_cpus()),
        format!("{:.2}", m(|r| r.cores.2)),
        "",
    );
    row(
        "peak RSS, worker",
        format!("{:.1} MB", m(|r| r.rss_mb)),
        "< 150 MB",
    );
    println!();
    println!(
        "runs: jobs/s {:.1?}  % {:.1?}  RSS MB {:.1?}",
        runs.iter().map(|r| r.per_sec).collect::<Vec<_>>(),
        runs.iter()
            .map(|r| 100.0 * r.per_sec / r.theoretical)
            .collect::<Vec<_>>(),
        runs.iter().map(|r| r.rss_mb).collect::<Vec<_>>()
    );
}
