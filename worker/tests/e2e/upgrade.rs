//! Upgrading to one record per job: a database of the previous version —
//! apalis-postgres' own schema, every job also a task in `apalis.jobs` —
//! with queued, delayed, retrying and running jobs is migrated, then drained
//! by a worker to the outcomes the old version would have reached.

use std::time::Duration;

use launchpad_domain::db::{MIGRATOR, ONE_ROW_JOBS_MIGRATION};
use test_support::{TestDb, WorkerProcess, eventually};

/// The last migration of the previous version.
const PREVIOUS: i64 = 20261204000020;

/// A job as the previous version wrote it: the `jobs` row and its task.
struct OldJob {
    ulid: ulid::Ulid,
    job_status: &'static str,
    attempts: i32,
    payload: serde_json::Value,
    /// (status, seconds from now of its run_at, locked by) of its task;
    /// None: it has none (the job ended).
    task: Option<(&'static str, i64, Option<&'static str>)>,
}

fn diag(behaviour: &str, label: &str) -> serde_json::Value {
    serde_json::json!({"behaviour": behaviour, "label": label, "fail_times": 1})
}

#[tokio::test]
async fn jobs_in_flight_survive_the_upgrade_and_drain_to_the_same_outcomes() {
    const { assert!(PREVIOUS < ONE_ROW_JOBS_MIGRATION) };
    let db = TestDb::empty().await;
    let pool = &db.pool;
    // The previous version's `launchpad-api migrate`: apalis' schema, then ours.
    apalis_postgres::PostgresStorage::setup(pool).await.unwrap();
    MIGRATOR.run_to(PREVIOUS, pool).await.unwrap();
    sqlx::query(
        "INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen)
         VALUES ('diagnostic@old-host:7', 'diagnostic', 'LaunchpadQueue', '', now())",
    )
    .execute(pool)
    .await
    .unwrap();
    let jobs = [
        // Queued, due now.
        OldJob {
            ulid: ulid::Ulid::generate(),
            job_status: "queued",
            attempts: 0,
            payload: diag("succeed", "queued"),
            task: Some(("Pending", -1, None)),
        },
        // Delayed: due in 30 s (far enough that a slow migration on a
        // loaded machine cannot make it due before the checks below).
        OldJob {
            ulid: ulid::Ulid::generate(),
            job_status: "queued",
            attempts: 0,
            payload: diag("succeed", "delayed"),
            task: Some(("Pending", 30, None)),
        },
        // Retrying after a transient failure of its first attempt.
        OldJob {
            ulid: ulid::Ulid::generate(),
            job_status: "queued",
            attempts: 1,
            payload: diag("fail_transient", "retrying"),
            task: Some(("Pending", 30, None)),
        },
        // Running on a worker of the old version.
        OldJob {
            ulid: ulid::Ulid::generate(),
            job_status: "running",
            attempts: 1,
            payload: diag("succeed", "running"),
            task: Some(("Running", -5, Some("diagnostic@old-host:7"))),
        },
        // Already finished: stays as it is.
        OldJob {
            ulid: ulid::Ulid::generate(),
            job_status: "succeeded",
            attempts: 1,
            payload: diag("succeed", "done"),
            task: None,
        },
    ];
    for j in &jobs {
        sqlx::query(
            "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, next_attempt_at,
                               started_at, finished_at)
             VALUES ($1, 'diagnostic', $2, $3, $4, 3,
                     CASE WHEN $3 = 'queued' AND $4 > 0 THEN now() + interval '30 seconds' END,
                     CASE WHEN $4 > 0 THEN now() END,
                     CASE WHEN $3 = 'succeeded' THEN now() END)",
        )
        .bind(j.ulid.to_string())
        .bind(&j.payload)
        .bind(j.job_status)
        .bind(j.attempts)
        .execute(pool)
        .await
        .unwrap();
        if let Some((status, secs, lock_by)) = j.task {
            sqlx::query(
                "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, lock_by, lock_at)
                 VALUES ($1, 'diagnostic', convert_to($2::text, 'UTF8'), $3, $4, 3,
                         now() + make_interval(secs => $5), $6, CASE WHEN $6 IS NOT NULL THEN now() END)",
            )
            .bind(j.ulid.to_string())
            .bind(j.payload.to_string())
            .bind(status)
            .bind(j.attempts)
            .bind(secs as f64)
            .bind(lock_by)
            .execute(pool)
            .await
            .unwrap();
        }
    }

    // This version's `launchpad-api migrate`.
    launchpad_domain::db::migrate(pool).await.unwrap();
    let apalis: bool = sqlx::query_scalar("SELECT to_regnamespace('apalis') IS NOT NULL")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(!apalis, "apalis' schema is dropped");
    // The ids keep their 128 bits.
    let id = |u: &ulid::Ulid| uuid::Uuid::from_u128(u.0);
    let row = |u: uuid::Uuid| {
        sqlx::query_as::<_, (String, i32, bool, bool)>(
            "SELECT status, attempts, run_at IS NOT NULL, coalesce(run_at > now(), false) FROM jobs WHERE id = $1",
        )
        .bind(u)
        .fetch_one(pool)
    };
    assert_eq!(
        row(id(&jobs[0].ulid)).await.unwrap(),
        ("queued".into(), 0, true, false)
    );
    assert_eq!(
        row(id(&jobs[1].ulid)).await.unwrap(),
        ("queued".into(), 0, true, true),
        "a delayed job keeps its time"
    );
    assert_eq!(
        row(id(&jobs[2].ulid)).await.unwrap(),
        ("queued".into(), 1, true, true),
        "a retry keeps its time and attempt"
    );
    assert_eq!(
        row(id(&jobs[3].ulid)).await.unwrap(),
        ("queued".into(), 1, true, false),
        "a running job is back in line, its attempt counted"
    );
    assert_eq!(
        row(id(&jobs[4].ulid)).await.unwrap(),
        ("succeeded".into(), 1, false, false)
    );

    // Their times kept, the delayed job and the retry are made due now
    // (the test need not wait 30 s), then a worker of this version drains
    // them.
    sqlx::query(
        "UPDATE jobs SET run_at = now(), next_attempt_at = least(next_attempt_at, now())
         WHERE run_at > now()",
    )
    .execute(pool)
    .await
    .unwrap();
    let _w = WorkerProcess::spawn(&db.url, &[("LAUNCHPAD_DIAGNOSTIC_JOBS", "true")]);
    let outcomes = eventually(Duration::from_secs(40), "the jobs to drain", || async {
        let rows: Vec<(uuid::Uuid, String, i32, Option<serde_json::Value>)> =
            sqlx::query_as("SELECT id, status, attempts, result FROM jobs ORDER BY id")
                .fetch_all(pool)
                .await
                .unwrap();
        rows.iter()
            .all(|(_, s, _, _)| s == "succeeded")
            .then_some(rows)
    })
    .await;
    let of = |u: &ulid::Ulid| {
        outcomes
            .iter()
            .find(|(i, ..)| *i == id(u))
            .map(|(_, s, a, r)| (s.as_str(), *a, r.as_ref().map(|r| r["label"].clone())))
            .unwrap()
    };
    let label = |s: &str| Some(serde_json::Value::String(s.into()));
    assert_eq!(of(&jobs[0].ulid), ("succeeded", 1, label("queued")));
    assert_eq!(of(&jobs[1].ulid), ("succeeded", 1, label("delayed")));
    assert_eq!(of(&jobs[2].ulid), ("succeeded", 2, label("retrying")));
    assert_eq!(of(&jobs[3].ulid), ("succeeded", 2, label("running")));
    assert_eq!(of(&jobs[4].ulid), ("succeeded", 1, None), "untouched");
}
