//! The order in which a kind's jobs are fetched: priority first, then the
//! line, which interleaves tenants (fair queueing, see
//! `launchpad_domain::jobs::enqueue`).

use launchpad_domain::{
    ids::{CustomerId, JobId},
    jobs::{EnqueueCtx, JobRecord, NewJob, enqueue, enqueue_one, hooks::Nothing, run, transport},
    kinds::{Diagnostic, DiagnosticBehaviour, DiagnosticPayload},
};
use sqlx::PgPool;
use test_support::TestDb;

struct Line {
    db: TestDb,
    worker: run::WorkerId,
}

impl Line {
    async fn new() -> Self {
        let db = TestDb::new().await;
        let mut conn = db.pool.acquire().await.unwrap();
        let (worker, _) = transport::register(&mut conn, "line:1", &["diagnostic"], true)
            .await
            .unwrap();
        Self { db, worker }
    }

    fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    async fn tenant(&self, name: &str) -> CustomerId {
        let id = CustomerId::new();
        sqlx::query("INSERT INTO customers (id, name, slug) VALUES ($1, $2, $2)")
            .bind(id)
            .bind(name)
            .execute(self.pool())
            .await
            .unwrap();
        id
    }

    fn job(tenant: CustomerId, label: &str) -> NewJob {
        NewJob::of::<Diagnostic>(
            &DiagnosticPayload {
                behaviour: DiagnosticBehaviour::Succeed,
                fail_times: 0,
                sleep_ms: 0,
                label: Some(label.into()),
            },
            &EnqueueCtx {
                customer_id: Some(tenant),
                ..Default::default()
            },
        )
    }

    async fn enqueue_many(&self, tenant: CustomerId, prefix: &str, n: usize) -> Vec<JobId> {
        let jobs = (0..n)
            .map(|i| Self::job(tenant, &format!("{prefix}{i}")))
            .collect();
        let mut tx = self.pool().begin().await.unwrap();
        let recs = enqueue(&mut tx, jobs).await.unwrap();
        tx.commit().await.unwrap();
        recs.into_iter().map(|r| r.id).collect()
    }

    async fn enqueue(&self, job: NewJob) -> JobId {
        let mut tx = self.pool().begin().await.unwrap();
        let rec = enqueue_one(&mut tx, job).await.unwrap();
        tx.commit().await.unwrap();
        rec.id
    }

    async fn fetch(&self, n: usize) -> Vec<JobRecord> {
        let mut tx = self.pool().begin().await.unwrap();
        let jobs = run::fetch_and_start(&mut tx, &Nothing, "diagnostic", self.worker, n)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        jobs
    }
}

fn labels(jobs: &[JobRecord]) -> Vec<String> {
    jobs.iter()
        .map(|j| j.payload["label"].as_str().unwrap().to_string())
        .collect()
}

/// Tenant A has 200 jobs waiting when tenant B enqueues 3, one at a time:
/// B's jobs come within the next few starts, not after A's backlog.
#[tokio::test]
async fn a_tenant_with_a_backlog_does_not_hold_up_another() {
    let l = Line::new().await;
    let (a, b) = (l.tenant("tenant-a").await, l.tenant("tenant-b").await);
    l.enqueue_many(a, "a", 200).await;
    for i in 0..3 {
        l.enqueue(Line::job(b, &format!("b{i}"))).await;
    }
    let first = labels(&l.fetch(8).await);
    let bs: Vec<&String> = first.iter().filter(|l| l.starts_with('b')).collect();
    assert_eq!(bs.len(), 3, "B's jobs interleave with A's: {first:?}");
    assert!(
        first.iter().filter(|l| l.starts_with('a')).count() >= 3,
        "A is not pushed back either: {first:?}"
    );
    // A's own jobs keep their order.
    let a_order: Vec<&String> = first.iter().filter(|l| l.starts_with('a')).collect();
    assert_eq!(a_order[0], "a0", "{first:?}");
}

/// A tenant that enqueues steadily gets no more than its share: the other
/// tenant's backlog advances at every fetch (no starvation either way).
#[tokio::test]
async fn a_steady_stream_interleaves_with_a_backlog() {
    let l = Line::new().await;
    let (a, b) = (l.tenant("tenant-a").await, l.tenant("tenant-b").await);
    l.enqueue_many(a, "a", 50).await;
    let mut a_started = 0;
    for i in 0..20 {
        l.enqueue(Line::job(b, &format!("b{i}"))).await;
        let got = labels(&l.fetch(2).await);
        assert_eq!(got.len(), 2);
        assert!(
            got.iter().any(|l| l == &format!("b{i}")),
            "B's new job starts at once: {got:?}"
        );
        a_started += got.iter().filter(|l| l.starts_with('a')).count();
    }
    assert_eq!(a_started, 20, "one of A's jobs started with each of B's");
}

/// Priority comes before the line; delayed jobs wait for their time.
#[tokio::test]
async fn priority_first_and_delayed_jobs_wait() {
    let l = Line::new().await;
    let a = l.tenant("tenant-a").await;
    l.enqueue_many(a, "a", 10).await;
    let mut urgent = Line::job(a, "urgent");
    urgent.priority = 10;
    l.enqueue(urgent).await;
    let later = Line::job(a, "later").run_at(chrono::Utc::now() + chrono::Duration::hours(1));
    l.enqueue(later).await;
    let first = labels(&l.fetch(1).await);
    assert_eq!(first, ["urgent"]);
    let rest = labels(&l.fetch(100).await);
    assert_eq!(rest.len(), 10, "the delayed job waits: {rest:?}");
    assert!(!rest.contains(&"later".to_string()));
    let mut conn = l.pool().acquire().await.unwrap();
    let due = run::next_due(&mut conn, "diagnostic")
        .await
        .unwrap()
        .unwrap();
    assert!(due.as_secs() > 3500, "{due:?}");
}

/// Jobs without a tenant (system jobs) have a line of their own too.
#[tokio::test]
async fn tenantless_jobs_queue_like_a_tenant() {
    let l = Line::new().await;
    let a = l.tenant("tenant-a").await;
    l.enqueue_many(a, "a", 30).await;
    let mut system = Line::job(a, "system");
    system.customer_id = None;
    l.enqueue(system).await;
    let first = labels(&l.fetch(3).await);
    assert!(first.contains(&"system".to_string()), "{first:?}");
}
