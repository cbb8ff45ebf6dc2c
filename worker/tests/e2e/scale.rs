use std::{collections::HashMap, time::Duration};

use launchpad_domain::{
    jobs::{EnqueueCtx, NewJob, enqueue},
    kinds,
};

use crate::harness::Harness;

#[tokio::test]
async fn two_workers_run_500_jobs_each_exactly_once() {
    let h = Harness::new().await;
    let jobs: Vec<NewJob> = (0..500)
        .map(|i| {
            let p = kinds::DiagnosticPayload {
                behaviour: kinds::DiagnosticBehaviour::Succeed,
                fail_times: 0,
                sleep_ms: 0,
                label: Some(format!("bulk-{i}")),
            };
            NewJob::of::<kinds::Diagnostic>(&p, &EnqueueCtx::default())
        })
        .collect();
    let mut tx = h.app.db.pool.begin().await.unwrap();
    let recs = enqueue(&mut tx, jobs).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(recs.len(), 500);
    let _a = h.worker();
    let _b = h.worker();
    test_support::eventually(Duration::from_secs(90), "500 jobs to succeed", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'succeeded'")
            .fetch_one(&h.app.db.pool)
            .await
            .unwrap();
        (n == 500).then_some(())
    })
    .await;
    let rows: Vec<(i32, serde_json::Value)> = sqlx::query_as("SELECT attempts, result FROM jobs")
        .fetch_all(&h.app.db.pool)
        .await
        .unwrap();
    assert!(
        rows.iter().all(|(a, r)| *a == 1 && r["attempt"] == 1),
        "every job ran once"
    );
    // Nothing is left in line.
    test_support::eventually(Duration::from_secs(20), "no job left in line", || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE run_at IS NOT NULL")
            .fetch_one(&h.app.db.pool)
            .await
            .unwrap();
        (left == 0).then_some(())
    })
    .await;
    // Both workers took part.
    let workers: i64 = sqlx::query_scalar("SELECT count(DISTINCT result->>'worker_pid') FROM jobs")
        .fetch_one(&h.app.db.pool)
        .await
        .unwrap();
    assert_eq!(workers, 2);
}

#[tokio::test]
async fn a_cron_kind_fires_once_per_tick_across_three_workers() {
    let h = Harness::new().await;
    let env = [("LAUNCHPAD_CRON_DIAGNOSTIC", "* * * * * *")];
    let workers = [
        h.worker_with(&env),
        h.worker_with(&env),
        h.worker_with(&env),
    ];
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Stop them so no tick fires between the two counts below.
    drop(workers);
    let rows: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT subject FROM jobs WHERE kind = 'diagnostic'")
            .fetch_all(&h.app.db.pool)
            .await
            .unwrap();
    let mut per_tick: HashMap<String, usize> = HashMap::new();
    for (s,) in rows {
        *per_tick.entry(s.unwrap()).or_default() += 1;
    }
    assert!(per_tick.len() >= 2, "ticks fired: {per_tick:?}");
    assert!(
        per_tick.values().all(|&n| n == 1),
        "a tick fired more than once: {per_tick:?}"
    );
    let ticks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cron_ticks WHERE kind = 'diagnostic'")
            .fetch_one(&h.app.db.pool)
            .await
            .unwrap();
    assert_eq!(ticks as usize, per_tick.len());
}
