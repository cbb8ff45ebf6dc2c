//! Group commit (`launchpad_domain::group_commit`): requests that share a
//! commit still succeed or fail alone, and nothing of a failed commit is
//! written. Against a real database; batches are formed by holding the only
//! lane busy while the next requests queue up behind it.

use std::time::Duration;

use launchpad_domain::{Error, group_commit::GroupCommit, jobs::wakeup::Notifier};
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
                (SELECT count(*) FROM apalis.jobs WHERE job_type = 'diagnostic')",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((jobs, tasks), (40, 40));
}
