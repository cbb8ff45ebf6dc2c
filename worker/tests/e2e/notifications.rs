//! Notifications end to end: changes made over HTTP record notifications,
//! real worker processes fan them out to inboxes and to a real SMTP server
//! (aiosmtpd; messages parsed by Python's `email` package), the inbox API,
//! preferences, one-click unsubscribe, the live stream across API
//! processes, and the digest.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use chrono::{SubsecRound, Utc};
use reqwest::Method;
use test_support::{
    Json, Tokens,
    app::{JWT_SECRET, json},
    eventually,
    smtp::free_port,
};

use crate::harness::CopMail;

const WAIT: Duration = Duration::from_secs(40);

struct N(CopMail);

impl std::ops::Deref for N {
    type Target = CopMail;

    fn deref(&self) -> &CopMail {
        &self.0
    }
}

/// A person: their tokens and id.
struct P {
    t: Tokens,
    email: String,
}

impl P {
    fn id(&self) -> &str {
        &self.t.user_id
    }
}

impl N {
    async fn new() -> Self {
        Self(CopMail::new("Lakehouse CoP").await)
    }

    /// A user of `customer` with `roles`, a member of the CoP with
    /// `cop_role` when given.
    async fn person(
        &self,
        email: &str,
        roles: &[&str],
        customer: &str,
        cop_role: Option<&str>,
    ) -> P {
        let t = self
            .h
            .app
            .user(&self.h.admin, email, roles, &[customer])
            .await;
        if let Some(role) = cop_role {
            self.h
                .app
                .post(
                    &format!("/api/v1/cops/{}/members", self.cop),
                    &self.h.admin.access,
                    &json!({"user_id": t.user_id, "role": role}),
                )
                .await
                .expect(201);
        }
        P {
            t,
            email: email.into(),
        }
    }

    async fn inbox(&self, t: &Tokens) -> Vec<Json> {
        let r = self
            .h
            .app
            .get("/api/v1/me/notifications?limit=200", &t.access)
            .await;
        r.expect(200);
        r.body["items"].as_array().unwrap().clone()
    }

    /// The types in `t`'s inbox, sorted.
    async fn types(&self, t: &Tokens) -> Vec<String> {
        let mut v: Vec<String> = self
            .inbox(t)
            .await
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    }

    /// Waits until every `notify` job has finished (succeeded).
    async fn settle(&self) {
        eventually(WAIT, "the notify jobs to finish", || async {
            let open = self
                .h
                .app
                .count("SELECT count(*) FROM jobs WHERE kind = 'notify' AND status <> 'succeeded'")
                .await;
            (open == 0).then_some(())
        })
        .await;
    }

    async fn event(&self, title: &str) -> String {
        let starts = (Utc::now() + chrono::Duration::days(7)).trunc_subsecs(0);
        let r = self
            .h
            .app
            .post(
                &format!("/api/v1/cops/{}/events", self.cop),
                &self.h.admin.access,
                &json!({
                    "type": "office_hours", "title": title,
                    "starts_at": starts.to_rfc3339(),
                    "ends_at": (starts + chrono::Duration::hours(1)).to_rfc3339(),
                    "time_zone": "Europe/Paris", "location": "Room 4",
                }),
            )
            .await;
        r.expect(201);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// A session-feedback survey of `event`, opened; returns its id.
    async fn open_survey(&self, event: Option<&str>, title: &str) -> String {
        let mut body = json!({
            "kind": "cop_health", "title": title,
            "questions": [{"kind": "rating", "prompt": "How was it?"}],
        });
        if let Some(e) = event {
            body["kind"] = json!("session_feedback");
            body["event_id"] = json!(e);
        }
        let r = self
            .h
            .app
            .post(
                &format!("/api/v1/cops/{}/surveys", self.cop),
                &self.h.admin.access,
                &body,
            )
            .await;
        r.expect(201);
        let id = r.body["id"].as_str().unwrap().to_string();
        self.h
            .app
            .call(
                Method::POST,
                &format!("/api/v1/surveys/{id}/open"),
                Some(&self.h.admin.access),
                None,
            )
            .await
            .expect(200);
        id
    }

    /// The messages received for `address`.
    fn mail_to(&self, address: &str) -> Vec<Json> {
        self.sink
            .inspect()
            .into_iter()
            .filter(|m| m["to"][0]["address"] == address)
            .collect()
    }
}

fn text_part(m: &Json) -> String {
    let mime = &m["mime"];
    let parts = mime["parts"].as_array().cloned().unwrap_or_default();
    parts
        .iter()
        .find(|p| p["content_type"] == "text/plain")
        .and_then(|p| p["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn notif_each_type_reaches_the_right_people_and_no_one_else() {
    let n = N::new().await;
    let _w = n.worker(&[("LAUNCHPAD_CRON_ASSIGNMENT_REMINDERS", "* * * * * *")]);
    let admin = &n.h.admin;
    let exec = n
        .person("exec@acme.example", &["customer_exec"], &n.customer, None)
        .await;
    let lead = n
        .person(
            "lead@acme.example",
            &["customer_member"],
            &n.customer,
            Some("lead"),
        )
        .await;
    let ann = n
        .person(
            "ann@acme.example",
            &["customer_member"],
            &n.customer,
            Some("member"),
        )
        .await;
    let bob = n
        .person(
            "bob@acme.example",
            &["customer_member"],
            &n.customer,
            Some("member"),
        )
        .await;
    let outsider = n
        .person(
            "outsider@acme.example",
            &["customer_member"],
            &n.customer,
            None,
        )
        .await;
    let other = n.h.app.create_customer(admin, "other").await;
    let stranger = n
        .person("exec@other.example", &["customer_exec"], &other, None)
        .await;

    // event_created: the CoP's members (not the admin who made it).
    let e1 = n.event("Lakehouse office hours").await;
    n.settle().await;
    for p in [&lead, &ann, &bob] {
        assert_eq!(n.types(&p.t).await, ["event_created"], "{}", p.email);
    }
    for p in [&exec, &outsider, &stranger] {
        assert!(n.types(&p.t).await.is_empty(), "{}", p.email);
    }
    assert!(n.types(admin).await.is_empty(), "the actor is not told");
    let first = &n.inbox(&ann.t).await[0];
    assert_eq!(first["link_path"], format!("/api/v1/events/{e1}"));
    assert_eq!(first["count"], 1);
    assert!(
        first["title"]
            .as_str()
            .unwrap()
            .contains("Lakehouse office hours")
    );

    // A second event collapses into the same unread row.
    n.event("Lakehouse deep dive").await;
    n.settle().await;
    let rows = n.inbox(&ann.t).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["count"], 2);
    assert_eq!(rows[0]["title"], "2 new events in Lakehouse CoP");
    assert!(rows[0]["seq"].as_i64().unwrap() > first["seq"].as_i64().unwrap());

    // survey_published (session feedback): the event's registrants only.
    n.h.app
        .post(
            &format!("/api/v1/events/{e1}/registrations"),
            &admin.access,
            &json!({"user_id": ann.id()}),
        )
        .await
        .expect(201);
    n.open_survey(Some(&e1), "How was office hours?").await;
    n.settle().await;
    assert!(n.types(&ann.t).await.contains(&"survey_published".into()));
    for p in [&lead, &bob, &exec, &outsider, &stranger] {
        assert!(
            !n.types(&p.t).await.contains(&"survey_published".into()),
            "{}",
            p.email
        );
    }

    // champion_recognized: the champion and the CoP.
    n.h.app
        .post(
            &format!("/api/v1/cops/{}/champions", n.cop),
            &admin.access,
            &json!({"user_id": bob.id(), "title": "Data champion",
                    "period_start": "2026-10-01", "period_end": "2026-12-31"}),
        )
        .await
        .expect(201);
    n.settle().await;
    for p in [&lead, &ann, &bob] {
        assert!(
            n.types(&p.t).await.contains(&"champion_recognized".into()),
            "{}",
            p.email
        );
    }
    for p in [&exec, &outsider, &stranger] {
        assert!(
            !n.types(&p.t).await.contains(&"champion_recognized".into()),
            "{}",
            p.email
        );
    }

    // use_case_shared: approved → the members (not the approver).
    let r =
        n.h.app
            .post(
                &format!("/api/v1/cops/{}/use-cases", n.cop),
                &ann.t.access,
                &json!({"title": "Churn model", "summary": "We cut churn by 4%."}),
            )
            .await;
    r.expect(201);
    let uc = r.body["id"].as_str().unwrap().to_string();
    n.settle().await;
    assert!(!n.types(&bob.t).await.contains(&"use_case_shared".into()));
    n.h.app
        .call(
            Method::POST,
            &format!("/api/v1/use-cases/{uc}/approve"),
            Some(&lead.t.access),
            None,
        )
        .await
        .expect(200);
    n.settle().await;
    for p in [&ann, &bob] {
        assert!(
            n.types(&p.t).await.contains(&"use_case_shared".into()),
            "{}",
            p.email
        );
    }
    for p in [&lead, &exec, &outsider, &stranger] {
        assert!(
            !n.types(&p.t).await.contains(&"use_case_shared".into()),
            "{}",
            p.email
        );
    }

    // cop_phase_change: the CoP's leads and the tenant's customer_execs.
    n.h.app
        .patch(
            &format!("/api/v1/cops/{}", n.cop),
            &admin.access,
            &json!({"phase": "launch"}),
        )
        .await
        .expect(200);
    n.settle().await;
    for p in [&lead, &exec] {
        assert!(
            n.types(&p.t).await.contains(&"cop_phase_change".into()),
            "{}",
            p.email
        );
    }
    for p in [&ann, &bob, &outsider, &stranger] {
        assert!(
            !n.types(&p.t).await.contains(&"cop_phase_change".into()),
            "{}",
            p.email
        );
    }

    // assignment_created (the assignee), then course_completed (the learner
    // and who assigned it).
    let r =
        n.h.app
            .post(
                "/api/v1/courses",
                &admin.access,
                &json!({"customer_id": n.customer, "title": "Spark basics", "level": "beginner"}),
            )
            .await;
    r.expect(201);
    let course = r.body["id"].as_str().unwrap().to_string();
    let r =
        n.h.app
            .post(
                &format!("/api/v1/courses/{course}/lessons"),
                &admin.access,
                &json!({"kind": "text", "title": "One", "body": "Read this."}),
            )
            .await;
    r.expect(201);
    let lesson = r.body["id"].as_str().unwrap().to_string();
    n.h.app
        .call(
            Method::POST,
            &format!("/api/v1/courses/{course}/publish"),
            Some(&admin.access),
            None,
        )
        .await
        .expect(200);
    let due = (Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let r =
        n.h.app
            .post(
                "/api/v1/assignments",
                &exec.t.access,
                &json!({"user_id": ann.id(), "course_id": course, "due_at": due}),
            )
            .await;
    r.expect(201);
    n.settle().await;
    assert!(n.types(&ann.t).await.contains(&"assignment_created".into()));
    for p in [&bob, &exec, &outsider] {
        assert!(!n.types(&p.t).await.contains(&"assignment_created".into()));
    }
    // Due within 3 days: one due-soon notice, however many ticks run.
    eventually(WAIT, "the due-soon notice", || async {
        n.types(&ann.t)
            .await
            .contains(&"assignment_due_soon".into())
            .then_some(())
    })
    .await;
    // Overdue: an assignment of Bob's (due in 10 days), moved into the past.
    let later = (Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let r =
        n.h.app
            .post(
                "/api/v1/assignments",
                &exec.t.access,
                &json!({"user_id": bob.id(), "course_id": course, "due_at": later}),
            )
            .await;
    r.expect(201);
    sqlx::query("UPDATE assignments SET due_at = now() - interval '1 day' WHERE id = $1::uuid")
        .bind(r.body["id"].as_str().unwrap())
        .execute(&n.h.app.db.pool)
        .await
        .unwrap();
    eventually(WAIT, "the overdue notice", || async {
        n.types(&bob.t)
            .await
            .contains(&"assignment_overdue".into())
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    n.settle().await;
    let count = |p: &P, t: &'static str| {
        let app = &n.h.app;
        let user = p.id().to_string();
        async move {
            let c: i64 = sqlx::query_scalar(
                "SELECT coalesce(sum(count), 0)::bigint FROM notifications WHERE recipient_id = $1::uuid AND type = $2",
            )
            .bind(user)
            .bind(t)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
            c
        }
    };
    assert_eq!(
        count(&ann, "assignment_due_soon").await,
        1,
        "once per assignment"
    );
    assert_eq!(
        count(&bob, "assignment_overdue").await,
        1,
        "once per assignment"
    );
    assert_eq!(count(&ann, "assignment_overdue").await, 0);
    assert_eq!(count(&bob, "assignment_due_soon").await, 0);

    n.h.app
        .put(
            &format!("/api/v1/me/progress/{course}/lessons/{lesson}"),
            &ann.t.access,
            &json!({"status": "completed"}),
        )
        .await
        .expect(200);
    n.settle().await;
    for p in [&ann, &exec] {
        assert!(
            n.types(&p.t).await.contains(&"course_completed".into()),
            "{}",
            p.email
        );
    }
    for p in [&bob, &lead, &outsider] {
        assert!(!n.types(&p.t).await.contains(&"course_completed".into()));
    }

    // course_updated: a new lesson and a changed one in the published
    // course reach its learners (Ann took it, Bob is assigned it) as one
    // collapsed row each; a move alone tells no one.
    let r =
        n.h.app
            .post(
                &format!("/api/v1/courses/{course}/lessons"),
                &admin.access,
                &json!({"kind": "text", "title": "Two", "body": "More."}),
            )
            .await;
    r.expect(201);
    let two = r.body["id"].as_str().unwrap().to_string();
    n.settle().await;
    n.h.app
        .patch(
            &format!("/api/v1/courses/{course}/lessons/{lesson}"),
            &admin.access,
            &json!({"body": "Read this, revised."}),
        )
        .await
        .expect(200);
    n.settle().await;
    n.h.app
        .patch(
            &format!("/api/v1/courses/{course}/lessons/{two}"),
            &admin.access,
            &json!({"position": 1}),
        )
        .await
        .expect(200);
    n.settle().await;
    for p in [&ann, &bob] {
        assert_eq!(count(p, "course_updated").await, 2, "{}", p.email);
        let rows: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE recipient_id = $1::uuid AND type = 'course_updated'",
        )
        .bind(p.id().to_string())
        .fetch_one(&n.h.app.db.pool)
        .await
        .unwrap();
        assert_eq!(rows, 1, "repeats collapse: {}", p.email);
    }
    for p in [&exec, &lead, &outsider] {
        assert!(!n.types(&p.t).await.contains(&"course_updated".into()));
    }

    // job_failed: whoever requested the job.
    let r =
        n.h.app
            .post(
                "/api/v1/diagnostics/jobs",
                &admin.access,
                &json!({"behaviour": "fail_permanent", "label": "doomed"}),
            )
            .await;
    r.expect(202);
    let job = r.body["id"].as_str().unwrap().to_string();
    n.h.wait_status(&job, "failed", WAIT).await;
    n.settle().await;
    let rows = n.inbox(admin).await;
    let failed: Vec<&Json> = rows.iter().filter(|r| r["type"] == "job_failed").collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    assert_eq!(failed[0]["link_path"], format!("/api/v1/jobs/{job}"));
    for p in [&ann, &exec, &stranger] {
        assert!(!n.types(&p.t).await.contains(&"job_failed".into()));
    }

    // Nothing ever reached the other tenant's exec.
    assert!(n.types(&stranger.t).await.is_empty());
    // E-mails went to those whose type e-mails by default: the exec got the
    // phase change, Ann her assignment; nobody got e-mail for new events.
    eventually(WAIT, "the e-mails", || async {
        (!n.mail_to(&exec.email).is_empty() && !n.mail_to(&ann.email).is_empty()).then_some(())
    })
    .await;
    let exec_mail = n.mail_to(&exec.email);
    assert!(
        exec_mail
            .iter()
            .any(|m| m["subject"] == "Lakehouse CoP moved to the launch phase"),
        "{exec_mail:?}"
    );
    for m in n.sink.inspect() {
        assert!(
            !m["subject"].as_str().unwrap().contains("New event"),
            "event_created does not e-mail by default: {}",
            m["subject"]
        );
        assert_ne!(m["to"][0]["address"], "exec@other.example");
    }
}

#[tokio::test]
async fn notif_inbox_states_counts_and_bad_input() {
    let n = N::new().await;
    let _w = n.worker(&[]);
    let ann = n
        .person(
            "ann@acme.example",
            &["customer_member"],
            &n.customer,
            Some("member"),
        )
        .await;
    let bob = n
        .person(
            "bob@acme.example",
            &["customer_member"],
            &n.customer,
            Some("member"),
        )
        .await;
    n.event("One").await;
    n.open_survey(None, "Pulse").await;
    n.settle().await;
    let app = &n.h.app;
    let rows = n.inbox(&ann.t).await;
    assert_eq!(rows.len(), 2);
    // Newest first.
    assert_eq!(rows[0]["type"], "survey_published");
    assert_eq!(rows[1]["type"], "event_created");
    let count = |t: &Tokens| {
        let t = t.access.clone();
        async move {
            let r = app.get("/api/v1/me/notifications/count", &t).await;
            r.expect(200);
            (
                r.body["unread"].as_i64().unwrap(),
                r.body["unseen"].as_i64().unwrap(),
            )
        }
    };
    assert_eq!(count(&ann.t).await, (2, 2));
    let seen = app
        .call(
            Method::POST,
            "/api/v1/me/notifications/seen",
            Some(&ann.t.access),
            None,
        )
        .await;
    seen.expect(200);
    assert_eq!(seen.body["changed"], 2);
    assert_eq!(count(&ann.t).await, (2, 0));

    let id = rows[0]["id"].as_str().unwrap();
    let post = |path: String, t: &Tokens| {
        let t = t.access.clone();
        async move { app.call(Method::POST, &path, Some(&t), None).await }
    };
    let r = post(format!("/api/v1/me/notifications/{id}/read"), &ann.t).await;
    r.expect(200);
    assert!(r.body["read_at"].is_string());
    assert_eq!(count(&ann.t).await, (1, 0));
    // Filters.
    let r = app
        .get("/api/v1/me/notifications?unread=true", &ann.t.access)
        .await;
    r.expect(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["type"], "event_created");
    let r = app
        .get(
            "/api/v1/me/notifications?type=survey_published",
            &ann.t.access,
        )
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = app
        .get("/api/v1/me/notifications?type=nope", &ann.t.access)
        .await;
    r.expect_problem(400);
    // Cursor pages.
    let r = app
        .get("/api/v1/me/notifications?limit=1", &ann.t.access)
        .await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    let r = app
        .get(
            &format!("/api/v1/me/notifications?limit=1&cursor={cursor}"),
            &ann.t.access,
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["items"][0]["type"], "event_created");
    assert!(r.body.get("next_cursor").is_none());

    // Unread again, archive.
    post(format!("/api/v1/me/notifications/{id}/unread"), &ann.t)
        .await
        .expect(200);
    assert_eq!(count(&ann.t).await.0, 2);
    let r = post(format!("/api/v1/me/notifications/{id}/archive"), &ann.t).await;
    r.expect(200);
    assert!(r.body["archived_at"].is_string());
    assert_eq!(count(&ann.t).await.0, 1);
    let r = app
        .get("/api/v1/me/notifications?archived=true", &ann.t.access)
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(n.inbox(&ann.t).await.len(), 1);

    // Someone else's notification: 404 for every action, nothing changed.
    let bobs = n.inbox(&bob.t).await;
    let theirs = bobs[0]["id"].as_str().unwrap();
    for action in ["read", "unread", "archive"] {
        let r = post(
            format!("/api/v1/me/notifications/{theirs}/{action}"),
            &ann.t,
        )
        .await;
        assert_eq!(r.expect_problem(404)["code"], "not_found", "{action}");
    }
    let r = post(
        format!("/api/v1/me/notifications/{}/read", uuid::Uuid::new_v4()),
        &ann.t,
    )
    .await;
    r.expect_problem(404);
    assert_eq!(count(&bob.t).await, (2, 2));
    // read-all up to someone else's: 400 naming it; then all.
    let r = app
        .post(
            "/api/v1/me/notifications/read-all",
            &ann.t.access,
            &json!({"up_to": theirs}),
        )
        .await;
    assert_eq!(r.pointers(), ["/up_to"]);
    let oldest = bobs[1]["id"].as_str().unwrap();
    let r = app
        .post(
            "/api/v1/me/notifications/read-all",
            &bob.t.access,
            &json!({"up_to": oldest}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["changed"], 1, "only the older one");
    assert_eq!(r.body["counts"]["unread"], 1);
    let r = post("/api/v1/me/notifications/read-all".into(), &bob.t).await;
    assert_eq!(r.body["changed"], 1);
    assert_eq!(count(&bob.t).await, (0, 0));

    // Preferences: defaults, a change, bad input naming each field.
    let r = app
        .get("/api/v1/me/notification-preferences", &ann.t.access)
        .await;
    r.expect(200);
    assert_eq!(r.body["digest_frequency"], "daily");
    assert_eq!(r.body["time_zone"], "UTC");
    let ev = r.body["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "event_created")
        .unwrap()
        .clone();
    assert_eq!(ev["in_app"], true);
    assert_eq!(ev["email"], false);
    let r = app
        .put(
            "/api/v1/me/notification-preferences",
            &ann.t.access,
            &json!({"preferences": [
                {"type": "event_created", "channel": "email", "enabled": true},
                {"type": "job_failed", "channel": "in_app", "enabled": false}],
                "digest_frequency": "weekly", "time_zone": "Europe/Paris"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["digest_frequency"], "weekly");
    assert_eq!(r.body["time_zone"], "Europe/Paris");
    let find = |b: &Json, t: &str| {
        b["types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["type"] == t)
            .unwrap()
            .clone()
    };
    assert_eq!(find(&r.body, "event_created")["email"], true);
    assert_eq!(find(&r.body, "job_failed")["in_app"], false);
    let before = r.body.clone();
    let r = app
        .put(
            "/api/v1/me/notification-preferences",
            &ann.t.access,
            &json!({"preferences": [
                {"type": "event_created", "channel": "email", "enabled": false},
                {"type": "party_invite", "channel": "email", "enabled": false},
                {"type": "job_failed", "channel": "sms", "enabled": true},
                {"type": "webhook_endpoint_disabled", "channel": "email", "enabled": false}],
                "digest_frequency": "hourly", "time_zone": "Mars/Olympus"}),
        )
        .await;
    assert_eq!(r.expect_problem(400)["code"], "validation_failed");
    assert_eq!(
        r.pointers(),
        [
            "/preferences/1/type",
            "/preferences/2/channel",
            "/preferences/3/enabled",
            "/digest_frequency",
            "/time_zone"
        ]
    );
    let after = app
        .get("/api/v1/me/notification-preferences", &ann.t.access)
        .await;
    assert_eq!(after.body, before, "nothing changed");
    let r = app
        .put(
            "/api/v1/me/notification-preferences",
            &ann.t.access,
            &json!({"preferences": [{"type": "event_created", "channel": "email"}]}),
        )
        .await;
    r.expect_problem(400);

    // A tenant's defaults apply to its people (and only its execs set them).
    let r = app
        .put(
            &format!("/api/v1/customers/{}/notification-defaults", n.customer),
            &ann.t.access,
            &json!({"defaults": [{"type": "use_case_shared", "channel": "in_app", "enabled": false}]}),
        )
        .await;
    r.expect_problem(403);
    let r = app
        .put(
            &format!("/api/v1/customers/{}/notification-defaults", n.customer),
            &n.h.admin.access,
            &json!({"defaults": [{"type": "use_case_shared", "channel": "digest", "enabled": false}]}),
        )
        .await;
    r.expect(200);
    let r = app
        .get("/api/v1/me/notification-preferences", &bob.t.access)
        .await;
    assert_eq!(find(&r.body, "use_case_shared")["digest"], false);
    assert_eq!(find(&r.body, "use_case_shared")["in_app"], true);

    // The tenant's portal: links there too.
    let r = app
        .patch(
            &format!("/api/v1/customers/{}", n.customer),
            &n.h.admin.access,
            &json!({"portal_base_url": "ftp://portal"}),
        )
        .await;
    assert_eq!(r.pointers(), ["/portal_base_url"]);
    let r = app
        .patch(
            &format!("/api/v1/customers/{}", n.customer),
            &n.h.admin.access,
            &json!({"portal_base_url": "https://portal.acme.example/"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["portal_base_url"], "https://portal.acme.example");
    let e = n.event("Two").await;
    n.settle().await;
    let rows = n.inbox(&ann.t).await;
    let ev = rows.iter().find(|r| r["type"] == "event_created").unwrap();
    assert_eq!(ev["link_path"], format!("/api/v1/events/{e}"));
    assert_eq!(
        ev["link_url"],
        format!("https://portal.acme.example/api/v1/events/{e}")
    );
    assert_eq!(ev["count"], 2);
}

/// `launchpad-api serve` as a process of its own on the test's database.
struct ApiProcess {
    child: Child,
    base: String,
}

impl ApiProcess {
    async fn start(database_url: &str) -> Self {
        let worker = test_support::worker::worker_binary();
        let bin = worker.with_file_name(format!("launchpad-api{}", std::env::consts::EXE_SUFFIX));
        let addr = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(bin);
        cmd.env_clear();
        if let Ok(p) = std::env::var("PATH") {
            cmd.env("PATH", p);
        }
        cmd.args(["serve"])
            .env("DATABASE_URL", database_url)
            .env("LAUNCHPAD_JWT_SECRET", JWT_SECRET)
            .env("LAUNCHPAD_HTTP_ADDR", &addr)
            .env("LAUNCHPAD_DB_MAX_CONNECTIONS", "4")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("spawn launchpad-api");
        let base = format!("http://{addr}");
        let client = reqwest::Client::new();
        eventually(WAIT, "the second API process", || {
            let url = format!("{base}/health");
            let client = client.clone();
            async move {
                client
                    .get(url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        })
        .await;
        Self { child, base }
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<String>,
    event: Option<String>,
    data: Json,
}

/// An open stream, read event by event.
struct SseStream {
    resp: reqwest::Response,
    buf: String,
    /// Keep-alive comments seen.
    comments: usize,
}

impl SseStream {
    async fn open(url: &str, token: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let mut rb = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            rb = rb.header("Last-Event-ID", id);
        }
        rb.send().await.expect("stream request")
    }

    fn new(resp: reqwest::Response) -> Self {
        Self {
            resp,
            buf: String::new(),
            comments: 0,
        }
    }

    async fn next(&mut self, timeout: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Sse {
                    id: None,
                    event: None,
                    data: Json::Null,
                };
                let mut data = String::new();
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        ev.event = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                        any = true;
                    } else if line.starts_with(':') {
                        self.comments += 1;
                    }
                }
                if !any {
                    continue;
                }
                ev.data = serde_json::from_str(&data).unwrap_or(Json::Null);
                return Some(ev);
            }
            let left = deadline.checked_duration_since(tokio::time::Instant::now())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(c))) => self
                    .buf
                    .push_str(&String::from_utf8_lossy(&c).replace("\r\n", "\n")),
                _ => return None,
            }
        }
    }

    /// The next `notification` event (counts events skipped).
    async fn next_notification(&mut self, timeout: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(tokio::time::Instant::now())?;
            let e = self.next(left).await?;
            if e.event.as_deref() == Some("notification") {
                return Some(e);
            }
        }
    }
}

#[tokio::test]
async fn notif_stream_delivers_across_api_processes_and_replays_from_last_event_id() {
    let n = N::new().await;
    let _w = n.worker(&[]);
    let ann = n
        .person(
            "ann@acme.example",
            &["customer_member"],
            &n.customer,
            Some("member"),
        )
        .await;
    let bob = n
        .person(
            "bob@acme.example",
            &["customer_member"],
            &n.customer,
            Some("member"),
        )
        .await;
    let other = ApiProcess::start(&n.h.app.db.url).await;
    let url = format!("{}/api/v1/me/notifications/stream", other.base);

    // Ann watches through the second process; the change goes through the first.
    let resp = SseStream::open(&url, &ann.t.access, None).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut s = SseStream::new(resp);
    let hello = s.next(WAIT).await.expect("the first counts event");
    assert_eq!(hello.event.as_deref(), Some("counts"));
    assert_eq!(hello.data["counts"]["unread"], 0);
    assert_eq!(hello.id.as_deref(), Some("0"));
    let e1 = n.event("Streamed session").await;
    let got = s.next_notification(WAIT).await.expect("the notification");
    let nt = &got.data["notification"];
    assert_eq!(nt["type"], "event_created");
    assert_eq!(nt["link_path"], format!("/api/v1/events/{e1}"));
    assert_eq!(got.data["counts"]["unread"], 1);
    assert_eq!(got.id.as_deref(), Some(nt["seq"].to_string().as_str()));
    let first_id = got.id.clone().unwrap();
    // Reading it (through the first process) changes the counts on the stream.
    n.h.app
        .call(
            Method::POST,
            &format!(
                "/api/v1/me/notifications/{}/read",
                nt["id"].as_str().unwrap()
            ),
            Some(&ann.t.access),
            None,
        )
        .await
        .expect(200);
    let counts = s.next(WAIT).await.expect("a counts event");
    assert_eq!(counts.event.as_deref(), Some("counts"));
    assert_eq!(counts.data["counts"]["unread"], 0);
    assert_eq!(counts.id.as_deref(), Some(first_id.as_str()));
    // Bob's notifications never reach Ann's stream.
    drop(s);

    // Missed while disconnected: a survey and a second event.
    n.open_survey(None, "Missed survey").await;
    n.settle().await;
    n.event("Missed session").await;
    n.settle().await;
    let resp = SseStream::open(&url, &ann.t.access, Some(&first_id)).await;
    assert_eq!(resp.status(), 200);
    let mut s = SseStream::new(resp);
    let mut replayed = vec![];
    while replayed.len() < 2 {
        let e = s.next_notification(WAIT).await.expect("replayed");
        replayed.push(e);
    }
    let types: Vec<&str> = replayed
        .iter()
        .map(|e| e.data["notification"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["survey_published", "event_created"]);
    let seqs: Vec<i64> = replayed
        .iter()
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(seqs[0] > first_id.parse::<i64>().unwrap() && seqs[1] > seqs[0]);
    // Bob's stream on the first process has its own.
    let resp = SseStream::open(
        &n.h.app.url("/api/v1/me/notifications/stream"),
        &bob.t.access,
        None,
    )
    .await;
    let mut b = SseStream::new(resp);
    let c = b.next(WAIT).await.unwrap();
    assert_eq!(c.data["counts"]["unread"], 2, "{:?}", c.data);
    // Nothing else arrives on Ann's stream; keep-alive comments do.
    assert!(
        s.next_notification(Duration::from_millis(1500))
            .await
            .is_none()
    );

    // No token, a bad token, an expired token: 401 problems.
    for token in ["", "not-a-jwt", &expired_token(ann.id(), &ann.email)] {
        let r = SseStream::open(&url, token, None).await;
        assert_eq!(r.status(), 401, "{token}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
    }
}

/// An access token for `user` that expired a minute ago, signed with the
/// test's key.
fn expired_token(user: &str, email: &str) -> String {
    let keys = launchpad_domain::auth::TokenKeys::new(
        JWT_SECRET.as_bytes(),
        chrono::Duration::seconds(-60),
        chrono::Duration::days(1),
    );
    let caller = launchpad_domain::tenancy::Caller {
        user_id: user.parse().unwrap(),
        email: email.into(),
        name: "x".into(),
        roles: vec![launchpad_domain::tenancy::Role::CustomerMember],
        customer_ids: vec![],
    };
    keys.sign(&caller).expect("token")
}

#[tokio::test]
async fn notif_preferences_switch_email_off_and_the_digest_picks_it_up_once_with_two_workers() {
    let n = N::new().await;
    let ann = n
        .person(
            "ann@acme.example",
            &["customer_member"],
            &n.customer,
            Some("member"),
        )
        .await;
    let bob = n
        .person(
            "bob@acme.example",
            &["customer_member"],
            &n.customer,
            Some("member"),
        )
        .await;
    // Ann turns the e-mail of new surveys off; Bob keeps the default.
    n.h.app
        .put(
            "/api/v1/me/notification-preferences",
            &ann.t.access,
            &json!({"preferences": [{"type": "survey_published", "channel": "email", "enabled": false}]}),
        )
        .await
        .expect(200);
    let fast = [("LAUNCHPAD_CRON_NOTIFY_DIGEST", "off")];
    let w = n.worker(&fast);
    n.open_survey(None, "Quarterly pulse").await;
    n.event("Digest session").await;
    n.settle().await;
    eventually(WAIT, "Bob's survey e-mail", || async {
        (!n.mail_to(&bob.email).is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        n.mail_to(&ann.email).is_empty(),
        "Ann gets no e-mail at once"
    );
    assert_eq!(n.inbox(&ann.t).await.len(), 2, "but both are in her inbox");
    drop(w);

    // The day passes; two workers run the digest every second.
    sqlx::query("UPDATE notifications SET created_at = created_at - interval '1 day'")
        .execute(&n.h.app.db.pool)
        .await
        .unwrap();
    let every_second = [("LAUNCHPAD_CRON_NOTIFY_DIGEST", "* * * * * *")];
    let _w1 = n.worker(&every_second);
    let _w2 = n.worker(&every_second);
    eventually(WAIT, "both digests", || async {
        (n.mail_to(&ann.email).len() == 1 && n.mail_to(&bob.email).len() == 2).then_some(())
    })
    .await;
    // Several more ticks of both workers: still one digest each.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let anns = n.mail_to(&ann.email);
    assert_eq!(anns.len(), 1, "one digest per person and period");
    let digest = &anns[0];
    assert_eq!(
        digest["subject"], "Your daily Launchpad digest: 2 unread",
        "{digest}"
    );
    let text = text_part(digest);
    assert!(
        text.contains("New survey in Lakehouse CoP: Quarterly pulse"),
        "{text}"
    );
    assert!(text.contains("Digest session"), "{text}");
    assert!(text.contains("Hello ann,"), "{text}");
    assert!(digest["defects"].as_array().unwrap().is_empty());
    let bobs = n.mail_to(&bob.email);
    assert_eq!(bobs.len(), 2);
    let bob_digest = bobs
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("digest"))
        .expect("Bob's digest");
    let text = text_part(bob_digest);
    assert!(text.contains("Digest session"), "{text}");
    assert!(
        !text.contains("Quarterly pulse"),
        "what was e-mailed at once stays out of the digest: {text}"
    );
    let rows =
        n.h.app
            .count("SELECT count(*) FROM notification_digests")
            .await;
    assert_eq!(rows, 2);

    // Nothing unread: no digest, even when a new period is due.
    n.h.app
        .call(
            Method::POST,
            "/api/v1/me/notifications/read-all",
            Some(&ann.t.access),
            None,
        )
        .await
        .expect(200);
    sqlx::query("DELETE FROM notification_digests")
        .execute(&n.h.app.db.pool)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(n.mail_to(&ann.email).len(), 1, "nothing unread: no digest");

    // The digest's own one-click unsubscribe turns the digest off, nothing
    // else; without a login, as often as it is used.
    assert_eq!(
        bob_digest["list_unsubscribe_post"],
        "List-Unsubscribe=One-Click"
    );
    let header = bob_digest["list_unsubscribe"].as_str().unwrap();
    let url = reqwest::Url::parse(&header[1..header.len() - 1]).unwrap();
    assert_eq!(url.path(), "/api/v1/notifications/digest/unsubscribe");
    let path = format!("{}?{}", url.path(), url.query().unwrap());
    let r = n.h.app.call(Method::GET, &path, None, None).await;
    r.expect(200);
    assert_eq!(r.body["digest_frequency"], "daily", "a GET changes nothing");
    for _ in 0..2 {
        assert_eq!(one_click(&n, &path).await["digest_frequency"], "off");
    }
    let r =
        n.h.app
            .get("/api/v1/me/notification-preferences", &bob.t.access)
            .await;
    assert_eq!(r.body["digest_frequency"], "off");
    let survey = r.body["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "survey_published")
        .unwrap()
        .clone();
    assert_eq!(survey["email"], true, "the type e-mails stay on");
    // A type's unsubscribe token is not a digest token, and the other way round.
    let survey_mail = bobs
        .iter()
        .find(|m| !m["subject"].as_str().unwrap().contains("digest"))
        .unwrap();
    let header = survey_mail["list_unsubscribe"].as_str().unwrap();
    let type_url = reqwest::Url::parse(&header[1..header.len() - 1]).unwrap();
    let r =
        n.h.app
            .call(
                Method::POST,
                &format!(
                    "/api/v1/notifications/digest/unsubscribe?{}",
                    type_url.query().unwrap()
                ),
                None,
                None,
            )
            .await;
    assert_eq!(r.expect_problem(400)["code"], "validation_failed");
    assert_eq!(r.pointers(), ["/token"]);
    let r =
        n.h.app
            .call(
                Method::POST,
                &format!("/api/v1/notifications/unsubscribe?{}", url.query().unwrap()),
                None,
                None,
            )
            .await;
    assert_eq!(r.expect_problem(400)["code"], "validation_failed");
}

#[tokio::test]
async fn notif_one_click_unsubscribe_works_without_login_and_is_idempotent() {
    let n = N::new().await;
    let _w = n.worker(&[]);
    let ann = n
        .person(
            "ann@acme.example",
            &["customer_member"],
            &n.customer,
            Some("member"),
        )
        .await;
    n.open_survey(None, "Pulse one").await;
    let got = n.sink.wait_for(1, WAIT).await;
    let m = &got[0];
    assert_eq!(m["to"][0]["address"], ann.email);
    assert_eq!(m["subject"], "New survey in Lakehouse CoP: Pulse one");
    assert_eq!(m["list_unsubscribe_post"], "List-Unsubscribe=One-Click");
    let header = m["list_unsubscribe"].as_str().unwrap();
    assert!(header.starts_with('<') && header.ends_with('>'), "{header}");
    let link = &header[1..header.len() - 1];
    let url = reqwest::Url::parse(link).unwrap();
    assert_eq!(url.path(), "/api/v1/notifications/unsubscribe");
    let token = url
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .to_string();
    assert!(m["defects"].as_array().unwrap().is_empty());
    let text = text_part(m);
    assert!(text.contains("Hello ann,"), "{text}");
    let mime = &m["mime"];
    assert_eq!(mime["content_type"], "multipart/alternative");
    let path = format!("{}?{}", url.path(), url.query().unwrap());

    // A GET (a mail scanner following the link) changes nothing.
    let r = n.h.app.call(Method::GET, &path, None, None).await;
    r.expect(200);
    assert_eq!(r.body["enabled"], true);
    // The GET tells what applies, the tenant's default included.
    let defaults = format!("/api/v1/customers/{}/notification-defaults", n.customer);
    for on in [false, true] {
        n.h.app
            .put(
                &defaults,
                &n.h.admin.access,
                &json!({"defaults": [{"type": "survey_published", "channel": "email", "enabled": on}]}),
            )
            .await
            .expect(200);
        let r = n.h.app.call(Method::GET, &path, None, None).await;
        assert_eq!(r.body["enabled"], on, "tenant default email {on}");
    }
    // The one-click POST, as a mail client sends it (a form body, no login).
    for _ in 0..2 {
        let body = one_click(&n, &path).await;
        assert_eq!(body["type"], "survey_published");
        assert_eq!(body["enabled"], false);
    }
    let r =
        n.h.app
            .get("/api/v1/me/notification-preferences", &ann.t.access)
            .await;
    let t = r.body["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "survey_published")
        .unwrap()
        .clone();
    assert_eq!(t["email"], false);
    assert_eq!(t["in_app"], true);
    // The next survey reaches the inbox, not the mailbox.
    n.open_survey(None, "Pulse two").await;
    n.settle().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(n.sink.count(), 1);
    assert_eq!(n.inbox(&ann.t).await.len(), 2);

    // A tampered token: 400 naming it.
    let mut bad = token.clone();
    bad.pop();
    bad.push(if token.ends_with('A') { 'B' } else { 'A' });
    let r =
        n.h.app
            .call(
                Method::POST,
                &format!("/api/v1/notifications/unsubscribe?token={bad}"),
                None,
                None,
            )
            .await;
    assert_eq!(r.expect_problem(400)["code"], "validation_failed");
    assert_eq!(r.pointers(), ["/token"]);
}

/// The one-click POST (RFC 8058) to an unsubscribe link, as a mail client
/// sends it: a form body, no login. Answers 200 with the body.
async fn one_click(n: &N, path: &str) -> Json {
    let raw = reqwest::Client::new()
        .post(n.h.app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    raw.json().await.unwrap()
}
