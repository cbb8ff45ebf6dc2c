//! Group commit (`launchpad_domain::group_commit`): requests that share a
//! commit still succeed or fail alone, and nothing of a failed commit is
//! written. Against a real database; batches are formed by holding the only
//! lane busy while the next requests queue up behind it.

use std::time::Duration;

use launchpad_domain::kinds::{Diagnostic, DiagnosticBehaviour, DiagnosticPayload};
use launchpad_domain::{
    Error,
    group_commit::GroupCommit,
    jobs::{EnqueueCtx, JobRecord, NewJob, wakeup::Notifier},
};
use sqlx::PgPool;
use test_support::{TestApp, TestDb};

async fn setup(db: &PgPool, ddl: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl.to_string()))
        .execute(db)
        .await
        .unwrap();
}

/// Occupies the lane for a moment so that the works submitted meanwhile
/// form one batch.
fn hold_lane(g: &GroupCommit) -> tokio::task::JoinHandle<launchpad_domain::Result<()>> {
    let g = g.clone();
    tokio::spawn(async move {
        g.run(|conn| {
            Box::pin(async move {
                sqlx::query("SELECT pg_sleep(0.3)").execute(conn).await?;
                Ok(())
            })
        })
        .await
    })
}

fn insert(
    g: &GroupCommit,
    v: i32,
    fail_after: bool,
) -> tokio::task::JoinHandle<launchpad_domain::Result<i32>> {
    let g = g.clone();
    tokio::spawn(async move {
        g.run(move |conn| {
            Box::pin(async move {
                sqlx::query("INSERT INTO gc_probe (v) VALUES ($1)")
                    .bind(v)
                    .execute(&mut *conn)
                    .await?;
                if fail_after {
                    return Err(Error::conflict("probe_failed", "this work fails"));
                }
                Ok(v)
            })
        })
        .await
    })
}

async fn values(db: &PgPool) -> Vec<i32> {
    sqlx::query_scalar("SELECT v FROM gc_probe ORDER BY v")
        .fetch_all(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failing_request_rolls_back_alone_and_the_others_commit_together() {
    let db = TestDb::new().await;
    setup(&db.pool, "CREATE TABLE gc_probe (v int PRIMARY KEY)").await;
    let g = GroupCommit::start(db.pool.clone(), 1, Notifier::start(&db.pool));
    let held = hold_lane(&g);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let works: Vec<_> = (1..=6).map(|v| insert(&g, v, v == 3)).collect();
    // A statement error (duplicate key) inside the batch is rolled back to
    // its savepoint too, without aborting the shared transaction.
    let dup = insert(&g, 1, false);
    held.await.unwrap().unwrap();
    let mut ok = vec![];
    for (i, w) in works.into_iter().enumerate() {
        match w.await.unwrap() {
            Ok(v) => ok.push(v),
            Err(e) => {
                assert_eq!(i + 1, 3, "only the failing work fails: {e}");
                assert!(matches!(e, Error::Conflict { .. }), "its own error: {e:?}");
            }
        }
    }
    assert_eq!(ok, vec![1, 2, 4, 5, 6]);
    let dup = dup.await.unwrap();
    assert!(
        matches!(dup, Err(Error::Conflict { .. })),
        "duplicate: {dup:?}"
    );
    assert_eq!(values(&db.pool).await, vec![1, 2, 4, 5, 6]);
}

#[tokio::test]
async fn a_failed_shared_commit_fails_every_request_and_writes_nothing() {
    let db = TestDb::new().await;
    // Checked at commit only: both works succeed, the commit fails.
    setup(
        &db.pool,
        "CREATE TABLE gc_probe (v int, CONSTRAINT gc_probe_v UNIQUE (v) DEFERRABLE INITIALLY DEFERRED)",
    )
    .await;
    let g = GroupCommit::start(db.pool.clone(), 1, Notifier::start(&db.pool));
    let held = hold_lane(&g);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let a = insert(&g, 7, false);
    let b = insert(&g, 7, false);
    let c = insert(&g, 8, false);
    held.await.unwrap().unwrap();
    for w in [a, b, c] {
        let r = w.await.unwrap();
        assert!(
            r.is_err(),
            "the batch's commit failed, so does every request: {r:?}"
        );
    }
    assert!(values(&db.pool).await.is_empty(), "nothing was written");
    // The lane goes on serving.
    assert_eq!(insert(&g, 9, false).await.unwrap().unwrap(), 9);
    assert_eq!(values(&db.pool).await, vec![9]);
}

fn diagnostic(label: &str) -> NewJob {
    NewJob::of::<Diagnostic>(
        &DiagnosticPayload {
            behaviour: DiagnosticBehaviour::Succeed,
            fail_times: 0,
            sleep_ms: 0,
            label: Some(label.into()),
        },
        &EnqueueCtx::default(),
    )
}

fn enqueue(
    g: &GroupCommit,
    jobs: Vec<NewJob>,
) -> tokio::task::JoinHandle<launchpad_domain::Result<Vec<JobRecord>>> {
    let g = g.clone();
    tokio::spawn(async move { g.enqueue(jobs).await })
}

/// (labels of the `jobs` rows, sorted; how many wait in line).
async fn written(db: &PgPool) -> (Vec<String>, i64) {
    let labels: Vec<String> = sqlx::query_scalar("SELECT payload->>'label' FROM jobs ORDER BY 1")
        .fetch_all(db)
        .await
        .unwrap();
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE run_at IS NOT NULL")
        .fetch_one(db)
        .await
        .unwrap();
    (labels, waiting)
}

#[tokio::test]
async fn enqueues_of_a_batch_are_written_together_and_each_gets_its_own_jobs() {
    let db = TestDb::new().await;
    setup(&db.pool, "CREATE TABLE gc_probe (v int PRIMARY KEY)").await;
    let g = GroupCommit::start(db.pool.clone(), 1, Notifier::start(&db.pool));
    let held = hold_lane(&g);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let a = enqueue(&g, vec![diagnostic("a1"), diagnostic("a2")]);
    let work = insert(&g, 1, false);
    let b = enqueue(&g, vec![diagnostic("b1")]);
    // The same unique key twice in one batch: one job, returned to both.
    let u1 = enqueue(&g, vec![diagnostic("u").unique("k")]);
    let u2 = enqueue(&g, vec![diagnostic("u-again").unique("k")]);
    held.await.unwrap().unwrap();
    let labels = |r: Vec<JobRecord>| -> Vec<String> {
        r.into_iter()
            .map(|j| j.payload["label"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(labels(a.await.unwrap().unwrap()), ["a1", "a2"]);
    assert_eq!(labels(b.await.unwrap().unwrap()), ["b1"]);
    let (u1, u2) = (u1.await.unwrap().unwrap(), u2.await.unwrap().unwrap());
    assert_eq!(u1[0].id, u2[0].id, "coalesced by the unique key");
    assert_eq!(work.await.unwrap().unwrap(), 1);
    assert_eq!(values(&db.pool).await, vec![1]);
    assert_eq!(
        written(&db.pool).await,
        (vec!["a1".into(), "a2".into(), "b1".into(), "u".into()], 4)
    );
    // Nothing to enqueue is no job, not an error, and the lane goes on.
    assert!(g.enqueue(vec![]).await.unwrap().is_empty());
    assert_eq!(g.enqueue(vec![diagnostic("after")]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_bad_job_in_a_shared_enqueue_fails_alone() {
    let db = TestDb::new().await;
    setup(&db.pool, "CREATE TABLE gc_probe (v int PRIMARY KEY)").await;
    let g = GroupCommit::start(db.pool.clone(), 1, Notifier::start(&db.pool));
    let held = hold_lane(&g);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let good = enqueue(&g, vec![diagnostic("good")]);
    // Violates jobs_max_attempts_check: the shared INSERT fails, and the
    // batch runs again with each enqueue apart.
    let mut bad_job = diagnostic("bad");
    bad_job.max_attempts = 0;
    let bad = enqueue(&g, vec![diagnostic("bad-sibling"), bad_job]);
    let work = insert(&g, 2, false);
    let also_good = enqueue(&g, vec![diagnostic("also-good")]);
    held.await.unwrap().unwrap();
    assert_eq!(good.await.unwrap().unwrap().len(), 1);
    assert_eq!(also_good.await.unwrap().unwrap().len(), 1);
    assert_eq!(work.await.unwrap().unwrap(), 2);
    let bad = bad.await.unwrap();
    assert!(bad.is_err(), "{bad:?}");
    assert_eq!(
        written(&db.pool).await,
        (vec!["also-good".into(), "good".into()], 2),
        "the bad request's jobs (both) are not written"
    );
    assert_eq!(values(&db.pool).await, vec![2]);

    // Alone, it fails the same way.
    let mut bad_job = diagnostic("bad");
    bad_job.max_attempts = 0;
    assert!(g.enqueue(vec![bad_job]).await.is_err());
    assert_eq!(written(&db.pool).await.1, 2);
}

#[tokio::test]
async fn concurrent_job_requests_each_get_their_own_job() {
    let app = TestApp::spawn().await;
    let token = app.admin().await.access;
    let mut reqs = vec![];
    for i in 0..40 {
        let client = app.client.clone();
        let url = app.url("/api/v1/diagnostics/jobs");
        let token = token.clone();
        reqs.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({"behaviour": "succeed", "label": format!("gc-{i}")}))
                .send()
                .await
                .unwrap()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for r in reqs {
        let r = r.await.unwrap();
        assert_eq!(r.status(), 202);
        let body: serde_json::Value = r.json().await.unwrap();
        ids.insert(body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 40);
    let (jobs, tasks): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM jobs WHERE kind = 'diagnostic'),
                (SELECT count(*) FROM jobs WHERE kind = 'diagnostic' AND run_at IS NOT NULL)",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((jobs, tasks), (40, 40));
}
