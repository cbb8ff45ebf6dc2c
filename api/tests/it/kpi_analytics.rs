//! The KPI read side and on-demand rollups over HTTP: tenant isolation,
//! permissions, bad input, idempotency, and the SQL twins of the formulas.

use chrono::NaiveDate;
use launchpad_domain::kpi::metrics::{nps, nps_sql, rate, rate_sql};
use reqwest::Method;
use test_support::app::json;

use crate::kpi_common::{create_cop, portal};

/// Stores rollup rows of `metric` for the last `days` days, value = `base + days_ago`.
async fn store(
    pool: &sqlx::PgPool,
    cop: &str,
    metric: &str,
    today: NaiveDate,
    days: i32,
    base: f64,
) {
    sqlx::query(
        "INSERT INTO kpi_metrics (cop_id, metric, date, value, source)
         SELECT $1::uuid, $2, $3::date - i, $4 + i, 'rollup' FROM generate_series(0, $5 - 1) AS i",
    )
    .bind(cop)
    .bind(metric)
    .bind(today)
    .bind(base)
    .bind(days)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn series_summaries_and_portfolios_stay_within_the_tenant() {
    let p = portal(1).await;
    let app = &p.app;
    let other = app.create_customer(&p.admin, "other").await;
    let exec_b = app
        .user(&p.admin, "exec@other.test", &["customer_exec"], &[&other])
        .await;
    let cop_b = create_cop(app, &exec_b, &other, "Other CoP").await;
    for (cop, base) in [(&p.cop, 10.0), (&cop_b, 500.0)] {
        for metric in ["map", "sessions"] {
            store(&app.db.pool, cop, metric, p.today, 40, base).await;
        }
    }
    let (a, b) = (&p.exec.access, &exec_b.access);
    let series = |cop: &str| {
        format!(
            "/api/v1/cops/{cop}/kpis?metric=map&from={}&to={}",
            p.day(2),
            p.today
        )
    };

    // Own CoP: the stored values.
    let r = app.get(&series(&p.cop), a).await;
    r.expect(200);
    let values: Vec<f64> = r.body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [12.0, 11.0, 10.0]);
    assert_eq!(r.body["aggregation"], "last");
    // Another tenant's CoP is a 404, for every read and for rollups.
    for path in [
        series(&cop_b),
        format!("/api/v1/cops/{cop_b}/analytics/summary"),
    ] {
        app.get(&path, a).await.expect_problem(404);
    }
    app.post(
        &format!("/api/v1/cops/{cop_b}/kpis/rollups"),
        a,
        &json!({"from": p.day(3), "to": p.today}),
    )
    .await
    .expect_problem(404);

    // Portfolios: each customer sees its own CoP; staff see both.
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["cops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = app.get("/api/v1/analytics/portfolio", a).await;
    r.expect(200);
    assert_eq!(names(&r.body), ["Data Engineering"]);
    let total = |body: &serde_json::Value, m: &str| {
        body["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["metric"] == m)
            .unwrap()["value"]
            .as_f64()
            .unwrap()
    };
    // Sessions over the 30 days ending today: Σ (10 + i) for i in 0..30.
    assert_eq!(
        total(&r.body, "sessions"),
        (0..30).map(|i| 10.0 + i as f64).sum::<f64>()
    );
    let r = app.get("/api/v1/analytics/portfolio", b).await;
    assert_eq!(names(&r.body), ["Other CoP"]);
    app.get(
        &format!("/api/v1/analytics/portfolio?customer_id={other}"),
        a,
    )
    .await
    .expect_problem(404);
    let r = app
        .get("/api/v1/analytics/portfolio", &p.admin.access)
        .await;
    assert_eq!(names(&r.body), ["Data Engineering", "Other CoP"]);
    assert_eq!(r.body["cop_count"], 2);
    let r = app
        .get(
            &format!("/api/v1/analytics/portfolio?customer_id={other}"),
            &p.admin.access,
        )
        .await;
    assert_eq!(names(&r.body), ["Other CoP"]);

    // Summary: map is the value on the last day; sessions summed over 30 days.
    let r = app
        .get(&format!("/api/v1/cops/{}/analytics/summary", p.cop), a)
        .await;
    r.expect(200);
    let m = |name: &str| {
        r.body["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(m("map")["value"], 10.0);
    assert_eq!(m("map")["previous"], 40.0, "30 days earlier");
    assert_eq!(m("map")["change"], -30.0);
    assert_eq!(m("map")["change_percent"], -75.0);
    assert_eq!(
        m("sessions")["previous"],
        (30..40).map(|i| 10.0 + i as f64).sum::<f64>(),
        "only 10 stored days"
    );
    assert_eq!(m("nps")["value"], serde_json::Value::Null);

    // A member of the customer reads the CoP but may not request rollups.
    let member = &p.members[0].access;
    app.get(&series(&p.cop), member).await.expect(200);
    app.post(
        &format!("/api/v1/cops/{}/kpis/rollups", p.cop),
        member,
        &json!({"from": p.day(3), "to": p.today}),
    )
    .await
    .expect_problem(403);
}

#[tokio::test]
async fn bad_input_is_a_400_problem_naming_the_parameter() {
    let p = portal(0).await;
    let (app, t) = (&p.app, &p.exec.access);
    let cop = &p.cop;
    let kpis = |q: &str| format!("/api/v1/cops/{cop}/kpis?{q}");
    for (query, pointer) in [
        ("metric=map&from=2026-03-02&to=2026-03-01", "/from"),
        ("metric=map&from=2023-01-01&to=2025-01-02", "/to"),
        ("metric=maps", "/metric"),
        ("metric=Not-A-Metric", "/metric"),
        ("from=2026-01-01", "/metric"),
        ("metric=map&granularity=weekly", "/granularity"),
        ("metric=map&from=2026-13-01", "/from"),
        ("metric=map&to=yesterday", "/to"),
    ] {
        let r = app.get(&kpis(query), t).await;
        r.expect_problem(400);
        assert_eq!(r.pointers(), [pointer], "{query}: {}", r.text);
    }
    // Two years is the limit, inclusive of the same calendar day.
    app.get(&kpis("metric=map&from=2023-01-01&to=2025-01-01"), t)
        .await
        .expect(200);
    for g in ["day", "week", "month"] {
        app.get(&kpis(&format!("metric=sessions&granularity={g}")), t)
            .await
            .expect(200);
    }

    let rollups = format!("/api/v1/cops/{cop}/kpis/rollups");
    for (body, pointer) in [
        (json!({"from": "2026-03-02", "to": "2026-03-01"}), "/from"),
        (json!({"from": "2023-01-01", "to": "2025-01-02"}), "/to"),
        (json!({"from": "2026-03-01"}), "/to"),
        (json!({"from": "2026-02-30", "to": "2026-03-01"}), "/from"),
    ] {
        let r = app.post(&rollups, t, &body).await;
        r.expect_problem(400);
        assert_eq!(r.pointers(), [pointer], "{body}: {}", r.text);
    }
    assert_eq!(p.rollups().await.len(), 0, "nothing enqueued");

    // Ingesting a metric the rollup computes is refused.
    let r = app
        .post(
            &format!("/api/v1/cops/{cop}/kpis/ingest"),
            t,
            &json!({"metric": "nps_daily", "points": [{"date": "2026-01-01", "value": 1.0}]}),
        )
        .await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), ["/metric"]);
    // An ingested metric exists only for the CoP it was ingested for.
    let other = create_cop(app, &p.exec, &p.customer, "Second").await;
    app.post(
        &format!("/api/v1/cops/{other}/kpis/ingest"),
        t,
        &json!({"metric": "dbu_consumed", "points": [{"date": p.today, "value": 3.0}]}),
    )
    .await
    .expect(200);
    app.get(&format!("/api/v1/cops/{other}/kpis?metric=dbu_consumed"), t)
        .await
        .expect(200);
    let r = app.get(&kpis("metric=dbu_consumed"), t).await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), ["/metric"]);
    // An archived CoP is read-only: no rollups on demand.
    app.delete(&format!("/api/v1/cops/{other}"), t)
        .await
        .expect(204);
    app.post(
        &format!("/api/v1/cops/{other}/kpis/rollups"),
        t,
        &json!({"from": p.day(3), "to": p.today}),
    )
    .await
    .expect_problem(409);
}

#[tokio::test]
async fn on_demand_rollups_answer_202_and_honour_idempotency_keys() {
    let p = portal(0).await;
    let path = format!("/api/v1/cops/{}/kpis/rollups", p.cop);
    let body = json!({"from": p.day(400), "to": p.today});
    let p = &p;
    let send = |body: serde_json::Value| {
        let path = path.clone();
        async move {
            p.app
                .call_with(
                    Method::POST,
                    &path,
                    Some(&p.exec.access),
                    Some(&body),
                    &[("Idempotency-Key", "rollup-1")],
                )
                .await
        }
    };
    let first = send(body.clone()).await;
    first.expect(202);
    assert_eq!(first.body["kind"], "kpi_rollup");
    assert_eq!(first.body["status"], "queued");
    assert_eq!(first.body["subject"], p.cop.as_str());
    assert!(first.header("retry-after").is_some());
    let again = send(body.clone()).await;
    again.expect(202);
    assert_eq!(again.body["id"], first.body["id"]);
    send(json!({"from": p.day(10), "to": p.today}))
        .await
        .expect_problem(422);
    let jobs = p.rollups().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].2,
        json!({"cop_id": p.cop, "from": p.day(400), "to": p.today})
    );
    // Not coalesced: an explicit request gets its own job.
    p.app.post(&path, &p.exec.access, &body).await.expect(202);
    assert_eq!(p.rollups().await.len(), 2);
}

#[tokio::test]
async fn the_sql_formulas_match_the_pure_functions() {
    let p = portal(0).await;
    let pool = &p.app.db.pool;
    for (pr, pa, de) in [
        (0i64, 0i64, 0i64),
        (5, 3, 2),
        (0, 0, 4),
        (4, 0, 0),
        (1, 1, 1),
        (2, 1, 0),
        (7, 11, 13),
    ] {
        let sql = format!(
            "SELECT {} FROM (SELECT $1::bigint AS p, $2::bigint AS pa, $3::bigint AS d) x",
            nps_sql("x.p", "x.pa", "x.d")
        );
        let v: Option<f64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(pr)
            .bind(pa)
            .bind(de)
            .fetch_one(pool)
            .await
            .unwrap();
        let want = nps(pr, pa, de);
        assert!(
            v == want || v.zip(want).is_some_and(|(a, b)| (a - b).abs() < 1e-9),
            "nps({pr},{pa},{de}): {v:?} vs {want:?}"
        );
    }
    for (part, whole) in [(0i64, 0i64), (3, 4), (0, 5), (2, 3)] {
        let sql = format!(
            "SELECT {} FROM (SELECT $1::bigint AS a, $2::bigint AS b) x",
            rate_sql("x.a", "x.b")
        );
        let v: Option<f64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(part)
            .bind(whole)
            .fetch_one(pool)
            .await
            .unwrap();
        let want = rate(part, whole);
        assert!(
            v == want || v.zip(want).is_some_and(|(a, b)| (a - b).abs() < 1e-12),
            "rate({part},{whole}): {v:?} vs {want:?}"
        );
    }
}
