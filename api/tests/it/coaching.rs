//! Coaching over HTTP: roles and reporting lines, who sees which session
//! (404 outside reach), scheduling rules, completion with notes and scores
//! sealed at rest, the 7-day edit window.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use test_support::{
    TestApp, Tokens,
    app::{Json, json},
};

/// A customer with a coaching tree:
/// manager `mgr` → team leader `tl1` → agents `a1`, `a2`;
/// manager `mgr2` → team leader `tl2` → agent `a3`;
/// a coaching admin `cadmin`, the customer's exec, and `outsider`, the
/// exec of another customer.
struct Tree {
    app: TestApp,
    admin: Tokens,
    exec: Tokens,
    cadmin: Tokens,
    mgr: Tokens,
    mgr2: Tokens,
    tl1: Tokens,
    tl2: Tokens,
    a1: Tokens,
    a2: Tokens,
    a3: Tokens,
    outsider: Tokens,
}

fn id(v: &Json) -> String {
    v["id"].as_str().unwrap().to_string()
}

impl Tree {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let admin = app.admin().await;
        let customer = app.create_customer(&admin, "acme").await;
        let other = app.create_customer(&admin, "globex").await;
        let c = [customer.as_str()];
        let member = ["customer_member"];
        let exec = app
            .user(&admin, "exec@acme.test", &["customer_exec"], &c)
            .await;
        let cadmin = app.user(&admin, "cadmin@acme.test", &member, &c).await;
        let mgr = app.user(&admin, "mgr@acme.test", &member, &c).await;
        let mgr2 = app.user(&admin, "mgr2@acme.test", &member, &c).await;
        let tl1 = app.user(&admin, "tl1@acme.test", &member, &c).await;
        let tl2 = app.user(&admin, "tl2@acme.test", &member, &c).await;
        let a1 = app.user(&admin, "a1@acme.test", &member, &c).await;
        let a2 = app.user(&admin, "a2@acme.test", &member, &c).await;
        let a3 = app.user(&admin, "a3@acme.test", &member, &c).await;
        let outsider = app
            .user(
                &admin,
                "exec@globex.test",
                &["customer_exec"],
                &[other.as_str()],
            )
            .await;
        let t = Self {
            app,
            admin,
            exec,
            cadmin,
            mgr,
            mgr2,
            tl1,
            tl2,
            a1,
            a2,
            a3,
            outsider,
        };
        // Granted by the customer's exec (a coaching admin by platform role).
        t.grant(&t.exec, &t.cadmin, json!({"role": "coaching_admin"}))
            .await
            .expect(201);
        for m in [&t.mgr, &t.mgr2] {
            t.grant(&t.cadmin, m, json!({"role": "manager"}))
                .await
                .expect(201);
        }
        t.grant(
            &t.cadmin,
            &t.tl1,
            json!({"role": "team_leader", "managed_by": t.mgr.user_id}),
        )
        .await
        .expect(201);
        t.grant(
            &t.cadmin,
            &t.tl2,
            json!({"role": "team_leader", "managed_by": t.mgr2.user_id}),
        )
        .await
        .expect(201);
        for (a, tl, emp) in [
            (&t.a1, &t.tl1, "E-1"),
            (&t.a2, &t.tl1, "E-2"),
            (&t.a3, &t.tl2, "E-3"),
        ] {
            t.grant(
                &t.cadmin,
                a,
                json!({"role": "agent", "team_leader_id": tl.user_id, "employee_id": emp,
                       "department": "Care"}),
            )
            .await
            .expect(201);
        }
        t
    }

    async fn grant(&self, by: &Tokens, who: &Tokens, body: Json) -> test_support::app::Resp {
        self.app
            .put(
                &format!("/api/v1/coaching/people/{}", who.user_id),
                &by.access,
                &body,
            )
            .await
    }

    /// A session body for `agent` starting `hours` from now.
    fn body(&self, agent: &Tokens, hours: i64) -> Json {
        let starts = (Utc::now() + Duration::hours(hours)).trunc_subsecs(0);
        json!({
            "agent_id": agent.user_id,
            "starts_at": starts.to_rfc3339(),
            "duration_minutes": 30,
            "time_zone": "Europe/London",
            "join_url": "https://meet.example.com/c",
            "preparation_notes": "Review AHT.",
            "focus_areas": ["call_control", "empathy"],
        })
    }

    async fn schedule(&self, by: &Tokens, agent: &Tokens, hours: i64) -> Json {
        let r = self
            .app
            .post(
                "/api/v1/coaching/sessions",
                &by.access,
                &self.body(agent, hours),
            )
            .await;
        r.expect(201);
        r.body.clone()
    }

    async fn list(&self, who: &Tokens, query: &str) -> Vec<String> {
        let r = self
            .app
            .get(&format!("/api/v1/coaching/sessions?{query}"), &who.access)
            .await;
        r.expect(200);
        r.body["items"].as_array().unwrap().iter().map(id).collect()
    }
}

#[tokio::test]
async fn coaching_reach_for_each_role_with_404s_outside_it() {
    let t = Tree::new().await;
    let s1 = id(&t.schedule(&t.tl1, &t.a1, 24).await);
    let s2 = id(&t.schedule(&t.tl1, &t.a2, 26).await);
    let s3 = id(&t.schedule(&t.tl2, &t.a3, 28).await);

    let sees = |who: &Tokens, s: &str| {
        let (app, token, s) = (&t.app, who.access.clone(), s.to_string());
        async move {
            app.get(&format!("/api/v1/coaching/sessions/{s}"), &token)
                .await
                .status
                .as_u16()
        }
    };
    // An agent sees their own session, not a peer's.
    assert_eq!(sees(&t.a1, &s1).await, 200);
    assert_eq!(sees(&t.a1, &s2).await, 404);
    let r = t
        .app
        .get(&format!("/api/v1/coaching/sessions/{s2}"), &t.a1.access)
        .await;
    assert_eq!(r.expect_problem(404)["code"], "not_found");
    // A team leader sees their team's, not another team's.
    assert_eq!(sees(&t.tl1, &s2).await, 200);
    assert_eq!(sees(&t.tl1, &s3).await, 404);
    assert_eq!(sees(&t.tl2, &s1).await, 404);
    // A manager sees all under their team leaders, nothing else.
    assert_eq!(sees(&t.mgr, &s1).await, 200);
    assert_eq!(sees(&t.mgr, &s2).await, 200);
    assert_eq!(sees(&t.mgr, &s3).await, 404);
    assert_eq!(sees(&t.mgr2, &s3).await, 200);
    assert_eq!(sees(&t.mgr2, &s1).await, 404);
    // Coaching admins, the customer's exec and platform admins see everything;
    // another customer's exec nothing.
    for who in [&t.cadmin, &t.exec, &t.admin] {
        for s in [&s1, &s2, &s3] {
            assert_eq!(sees(who, s).await, 200);
        }
    }
    assert_eq!(sees(&t.outsider, &s1).await, 404);

    // Lists apply the same reach.
    let mut all = vec![s1.clone(), s2.clone(), s3.clone()];
    all.sort();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(t.list(&t.a1, "").await, vec![s1.clone()]);
    assert_eq!(t.list(&t.a2, "").await, vec![s2.clone()]);
    assert_eq!(
        sorted(t.list(&t.tl1, "").await),
        sorted(vec![s1.clone(), s2.clone()])
    );
    assert_eq!(t.list(&t.tl2, "").await, vec![s3.clone()]);
    assert_eq!(
        sorted(t.list(&t.mgr, "").await),
        sorted(vec![s1.clone(), s2.clone()])
    );
    assert_eq!(sorted(t.list(&t.cadmin, "").await), all);
    assert!(t.list(&t.outsider, "").await.is_empty());
    // Filters and the cursor.
    assert_eq!(
        t.list(&t.cadmin, &format!("agent_id={}", t.a3.user_id))
            .await,
        vec![s3.clone()]
    );
    assert_eq!(
        sorted(
            t.list(&t.cadmin, &format!("team_leader_id={}", t.tl1.user_id))
                .await
        ),
        sorted(vec![s1.clone(), s2.clone()])
    );
    let page = t
        .app
        .get("/api/v1/coaching/sessions?limit=2", &t.cadmin.access)
        .await;
    page.expect(200);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = t
        .app
        .get(
            &format!("/api/v1/coaching/sessions?limit=2&cursor={cursor}"),
            &t.cadmin.access,
        )
        .await;
    assert_eq!(next.body["items"].as_array().unwrap().len(), 1);
    let far = (Utc::now() + Duration::hours(27)).to_rfc3339();
    assert_eq!(
        t.list(&t.cadmin, &format!("from={}", urlencode(&far)))
            .await,
        vec![s3.clone()]
    );

    // People: the same reach.
    let people = |who: &Tokens| {
        let (app, token) = (&t.app, who.access.clone());
        async move {
            let r = app.get("/api/v1/coaching/people?limit=200", &token).await;
            r.expect(200);
            let mut v: Vec<String> = r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["user_id"].as_str().unwrap().to_string())
                .collect();
            v.sort();
            v
        }
    };
    assert_eq!(people(&t.a1).await, vec![t.a1.user_id.clone()]);
    let mut team = vec![
        t.tl1.user_id.clone(),
        t.a1.user_id.clone(),
        t.a2.user_id.clone(),
    ];
    team.sort();
    assert_eq!(people(&t.tl1).await, team);
    assert_eq!(people(&t.cadmin).await.len(), 8);

    // Changing and cancelling need the session's team leader, a manager or an admin.
    let patch = json!({"preparation_notes": "Bring call 4411."});
    let r = t
        .app
        .patch(
            &format!("/api/v1/coaching/sessions/{s1}"),
            &t.a1.access,
            &patch,
        )
        .await;
    assert_eq!(r.expect_problem(403)["code"], "forbidden");
    t.app
        .patch(
            &format!("/api/v1/coaching/sessions/{s1}"),
            &t.mgr.access,
            &patch,
        )
        .await
        .expect(200);
    let r = t
        .app
        .post(
            &format!("/api/v1/coaching/sessions/{s3}/cancel"),
            &t.tl1.access,
            &json!({}),
        )
        .await;
    r.expect_problem(404);
    // Granting needs a coaching admin.
    t.grant(&t.mgr, &t.a1, json!({"role": "agent"}))
        .await
        .expect_problem(403);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn coaching_scheduling_rules_and_bad_input() {
    let t = Tree::new().await;
    // Outside the caller's reach: the agent is as unknown as a missing one.
    let r = t
        .app
        .post(
            "/api/v1/coaching/sessions",
            &t.tl1.access,
            &t.body(&t.a3, 24),
        )
        .await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), ["/agent_id"]);
    // The agent does not report to the team leader: 422 naming the field ...
    let mut b = t.body(&t.a1, 24);
    b["team_leader_id"] = json!(t.tl2.user_id);
    let r = t
        .app
        .post("/api/v1/coaching/sessions", &t.mgr.access, &b)
        .await;
    assert_eq!(r.expect_problem(422)["code"], "agent_not_in_team");
    assert_eq!(r.pointers(), ["/team_leader_id"]);
    // ... unless a coaching admin pairs them.
    let s = t.schedule_with(&t.cadmin, b).await;
    assert_eq!(s["team_leader_id"], json!(t.tl2.user_id));
    assert_eq!(s["agent_id"], json!(t.a1.user_id));
    // Overlapping sessions of one agent: 409 naming the clashing session.
    let mut b = t.body(&t.a1, 24);
    b["starts_at"] = json!(
        (DateTime::parse_from_rfc3339(s["starts_at"].as_str().unwrap()).unwrap()
            + Duration::minutes(15))
        .to_rfc3339()
    );
    let r = t
        .app
        .post("/api/v1/coaching/sessions", &t.tl1.access, &b)
        .await;
    let p = r.expect_problem(409);
    assert_eq!(p["code"], "session_overlap");
    assert!(p["detail"].as_str().unwrap().contains(&id(&s)), "{p}");
    // Right after it: fine.
    t.schedule(&t.tl1, &t.a1, 25).await;
    // A cancelled session frees its time.
    t.app
        .post(
            &format!("/api/v1/coaching/sessions/{}/cancel", id(&s)),
            &t.cadmin.access,
            &json!({}),
        )
        .await
        .expect(200);
    t.app
        .post("/api/v1/coaching/sessions", &t.tl1.access, &b)
        .await
        .expect(201);

    // Field checks: every problem at once.
    let mut b = t.body(&t.a2, 48);
    b["duration_minutes"] = json!(0);
    b["time_zone"] = json!("Mars/Olympus");
    b["join_url"] = json!("ftp://x");
    let r = t
        .app
        .post("/api/v1/coaching/sessions", &t.tl1.access, &b)
        .await;
    assert_eq!(r.expect_problem(400)["code"], "validation_failed");
    assert_eq!(
        r.pointers(),
        ["/duration_minutes", "/time_zone", "/join_url"]
    );
    // Reporting lines name people with the right role.
    let r = t
        .grant(
            &t.cadmin,
            &t.a2,
            json!({"role": "agent", "team_leader_id": t.mgr.user_id}),
        )
        .await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), ["/team_leader_id"]);
    let r = t
        .grant(
            &t.cadmin,
            &t.a2,
            json!({"role": "agent", "employee_id": "E-1"}),
        )
        .await;
    r.expect_problem(400);
    assert_eq!(r.pointers(), ["/employee_id"]);
    // Nothing half-written: no session for a2, no changed row.
    assert_eq!(t.list(&t.a2, "").await.len(), 0);
    let a2 = t.app.get("/api/v1/coaching/people", &t.a2.access).await;
    assert_eq!(a2.body["items"][0]["team_leader_id"], json!(t.tl1.user_id));
    assert_eq!(a2.body["items"][0]["employee_id"], "E-2");
}

impl Tree {
    async fn schedule_with(&self, by: &Tokens, body: Json) -> Json {
        let r = self
            .app
            .post("/api/v1/coaching/sessions", &by.access, &body)
            .await;
        r.expect(201);
        r.body.clone()
    }
}

#[tokio::test]
async fn coaching_completion_scores_notes_at_rest_and_the_edit_window() {
    let t = Tree::new().await;
    let s = t.schedule(&t.tl1, &t.a1, 1).await;
    let sid = id(&s);
    assert_eq!(s["status"], "scheduled");
    assert_eq!(s["sequence"], 0);
    let path = format!("/api/v1/coaching/sessions/{sid}");

    // Scores outside 0–100.
    let bad = json!({"notes": "x", "scores": {"before": -1, "after": 101,
        "criteria": [{"name": "empathy", "before": 50, "after": 150}]}});
    let r = t
        .app
        .post(&format!("{path}/complete"), &t.tl1.access, &bad)
        .await;
    r.expect_problem(400);
    assert_eq!(
        r.pointers(),
        [
            "/scores/before",
            "/scores/after",
            "/scores/criteria/0/after"
        ]
    );
    // Notes and scores wait for completion.
    let r = t
        .app
        .patch(&path, &t.tl1.access, &json!({"notes": "early"}))
        .await;
    assert_eq!(r.expect_problem(409)["code"], "session_not_completed");
    // A manager schedules but does not complete.
    let done = json!({
        "notes": "**Strong** opening.\n\n<script>alert('x')</script>\n\n- shadow Sam on Friday",
        "scores": {"before": 62, "after": 71,
                   "criteria": [{"name": "empathy", "before": 70, "after": 80},
                                {"name": "call_control", "before": 55}]}
    });
    t.app
        .post(&format!("{path}/complete"), &t.mgr.access, &done)
        .await
        .expect_problem(403);
    let r = t
        .app
        .post(&format!("{path}/complete"), &t.tl1.access, &done)
        .await;
    r.expect(200);
    let c = &r.body;
    assert_eq!(c["status"], "completed");
    assert_eq!(c["score_change"], 9);
    assert_eq!(c["scores"]["criteria"][1]["name"], "call_control");
    assert!(c["scores"]["criteria"][1].get("after").is_none());
    assert_eq!(c["notes"], done["notes"]);
    let html = c["notes_html"].as_str().unwrap();
    assert!(html.contains("<strong>Strong</strong>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    let completed = DateTime::parse_from_rfc3339(c["completed_at"].as_str().unwrap()).unwrap();
    let until = DateTime::parse_from_rfc3339(c["editable_until"].as_str().unwrap()).unwrap();
    assert_eq!(until - completed, Duration::days(7));
    // The agent reads their session's notes.
    let r = t.app.get(&path, &t.a1.access).await;
    r.expect(200);
    assert_eq!(r.body["notes"], done["notes"]);
    // Completing twice: 409.
    let r = t
        .app
        .post(&format!("{path}/complete"), &t.tl1.access, &done)
        .await;
    assert_eq!(r.expect_problem(409)["code"], "session_closed");

    // At rest: sealed, with the key id; the plaintext is nowhere in the row,
    // nor in the audit log.
    let (notes, scores, key): (Vec<u8>, Vec<u8>, String) = sqlx::query_as(
        "SELECT notes_enc, scores_enc, key_id FROM coaching_sessions WHERE id = $1::uuid",
    )
    .bind(&sid)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    assert_eq!(key, "test-1");
    for needle in [&b"Strong"[..], b"shadow Sam", b"empathy"] {
        assert!(!notes.windows(needle.len()).any(|w| w == needle));
        assert!(!scores.windows(needle.len()).any(|w| w == needle));
    }
    let leaked = t
        .app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE target_id = '{sid}'
               AND (coalesce(after::text, '') LIKE '%shadow Sam%' OR coalesce(after::text, '') LIKE '%Strong%')"
        ))
        .await;
    assert_eq!(leaked, 0);
    assert_eq!(
        t.app
            .count(&format!(
                "SELECT count(*) FROM audit_log WHERE target_id = '{sid}' AND action = 'coaching.session.completed'"
            ))
            .await,
        1
    );

    // Within the window the team leader changes notes and scores (audited);
    // nobody else does, and the schedule is closed.
    let edit = json!({"notes": "Updated note.", "scores": {"before": 62, "after": 75}});
    t.app
        .patch(&path, &t.mgr.access, &edit)
        .await
        .expect_problem(403);
    let r = t.app.patch(&path, &t.tl1.access, &edit).await;
    r.expect(200);
    assert_eq!(r.body["notes"], "Updated note.");
    assert_eq!(r.body["score_change"], 13);
    let r = t
        .app
        .patch(&path, &t.tl1.access, &json!({"duration_minutes": 60}))
        .await;
    assert_eq!(r.expect_problem(409)["code"], "session_closed");
    assert_eq!(
        t.app
            .count(&format!(
                "SELECT count(*) FROM audit_log WHERE target_id = '{sid}' AND action = 'coaching.session.completed_edited'"
            ))
            .await,
        1
    );
    // Eight days later: closed.
    sqlx::query(
        "UPDATE coaching_sessions SET completed_at = now() - interval '8 days' WHERE id = $1::uuid",
    )
    .bind(&sid)
    .execute(&t.app.db.pool)
    .await
    .unwrap();
    let r = t.app.patch(&path, &t.tl1.access, &edit).await;
    assert_eq!(r.expect_problem(409)["code"], "session_edit_window_closed");
}

#[tokio::test]
async fn coaching_changes_enqueue_calendar_messages_and_bump_the_sequence() {
    let t = Tree::new().await;
    let s = t.schedule(&t.tl1, &t.a1, 24).await;
    let sid = id(&s);
    let path = format!("/api/v1/coaching/sessions/{sid}");
    assert!(s["uid"].as_str().unwrap().contains(&sid));
    let jobs = |kind: &str| {
        format!("SELECT count(*) FROM jobs WHERE kind = '{kind}' AND subject = '{sid}'")
    };
    assert_eq!(t.app.count(&jobs("coaching_invites")).await, 1);
    // Not moving it: same sequence.
    let r = t
        .app
        .patch(
            &path,
            &t.tl1.access,
            &json!({"focus_areas": ["hold_etiquette"]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["sequence"], 0);
    // Moving it: sequence + 1, same UID.
    let r = t
        .app
        .patch(&path, &t.tl1.access, &json!({"duration_minutes": 45}))
        .await;
    r.expect(200);
    assert_eq!(r.body["sequence"], 1);
    assert_eq!(r.body["uid"], s["uid"]);
    let r = t
        .app
        .post(&format!("{path}/cancel"), &t.tl1.access, &json!({}))
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["sequence"], 2);
    let r = t
        .app
        .post(&format!("{path}/cancel"), &t.tl1.access, &json!({}))
        .await;
    assert_eq!(r.expect_problem(409)["code"], "session_closed");
}
