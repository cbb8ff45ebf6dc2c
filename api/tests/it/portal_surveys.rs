//! Surveys: life cycle, answer validation, one response per member, results.

use serde_json::Value;
use test_support::{Tokens, app::json};

use crate::portal_common::{Portal, expect_field, id, ids, portal};

/// A cop_health survey with one question of each kind; returns (id, question ids).
async fn survey(p: &Portal, cop: &str, token: &Tokens) -> (String, Vec<String>) {
    let r = p
        .app
        .post(
            &format!("/api/v1/cops/{cop}/surveys"),
            &token.access,
            &json!({
                "kind": "cop_health",
                "title": "Quarterly health",
                "questions": [
                    {"kind": "nps", "prompt": "Would you recommend the CoP?", "required": true},
                    {"kind": "rating", "prompt": "Session quality"},
                    {"kind": "single_choice", "prompt": "Best format", "options": ["Labs", "Talks", "Q&A"]},
                    {"kind": "multi_choice", "prompt": "Next topics", "options": ["x", "y", "z"]},
                    {"kind": "text", "prompt": "Anything else?"},
                ],
            }),
        )
        .await;
    r.expect(201);
    let questions = r.body["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    (id(&r.body), questions)
}

async fn open(p: &Portal, survey: &str) {
    p.app
        .post(
            &format!("/api/v1/surveys/{survey}/open"),
            &p.exec.access,
            &json!({}),
        )
        .await
        .expect(200);
}

fn score(q: &str, s: i64) -> Value {
    json!({"question_id": q, "score": s})
}

fn choices(q: &str, c: &[&str]) -> Value {
    json!({"question_id": q, "choices": c})
}

fn text(q: &str, t: &str) -> Value {
    json!({"question_id": q, "text": t})
}

#[tokio::test]
async fn survey_life_cycle_draft_open_closed() {
    let p = portal().await;
    let app = &p.app;
    let (s, q) = survey(&p, &p.cop, &p.lead).await;
    let path = format!("/api/v1/surveys/{s}");
    let g = app.get(&path, &p.outsider.access).await;
    g.expect(200);
    assert_eq!(g.body["status"], "draft");
    assert_eq!(
        g.body["questions"][2]["options"],
        json!(["Labs", "Talks", "Q&A"])
    );
    assert_eq!(g.body["questions"][0]["required"], true);
    assert_eq!(g.body["questions"][4]["position"], 4);

    // Drafts are editable; questions are replaced.
    let r = app
        .patch(
            &path,
            &p.exec.access,
            &json!({"title": "Q4 health", "description": "Five minutes", "questions": [
                {"kind": "nps", "prompt": "Recommend?", "required": true},
                {"kind": "text", "prompt": "Why?"},
            ]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["title"], "Q4 health");
    assert_eq!(r.body["questions"].as_array().unwrap().len(), 2);
    assert_ne!(id(&r.body["questions"][0]), q[0]);
    let nps_q = id(&r.body["questions"][0]);
    // Responses only while open.
    let respond = format!("{path}/responses");
    let answer = json!({"answers": [score(&nps_q, 9)]});
    assert_eq!(
        app.post(&respond, &p.member.access, &answer)
            .await
            .expect_problem(409)["code"],
        "survey_not_open"
    );
    app.post(&format!("{path}/close"), &p.exec.access, &json!({}))
        .await
        .expect_problem(409);
    open(&p, &s).await;
    assert_eq!(
        app.patch(&path, &p.exec.access, &json!({"title": "x"}))
            .await
            .expect_problem(409)["code"],
        "survey_not_draft"
    );
    app.post(&format!("{path}/open"), &p.exec.access, &json!({}))
        .await
        .expect_problem(409);

    let r = app.post(&respond, &p.member.access, &answer).await;
    r.expect(201);
    assert_eq!(r.body["user_id"], p.member.user_id.as_str());
    let again = app
        .post(
            &respond,
            &p.member.access,
            &json!({"answers": [score(&nps_q, 3)]}),
        )
        .await;
    assert_eq!(again.expect_problem(409)["code"], "already_responded");
    // Non-members cannot respond.
    app.post(&respond, &p.outsider.access, &answer)
        .await
        .expect_problem(403);
    app.post(&respond, &p.exec.access, &answer)
        .await
        .expect_problem(403);

    let r = app
        .post(&format!("{path}/close"), &p.sponsor.access, &json!({}))
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "closed");
    assert!(r.body["closed_at"].is_string());
    let late = app.post(&respond, &p.lead.access, &answer).await;
    assert_eq!(late.expect_problem(409)["code"], "survey_not_open");
    // The late response wrote nothing: no response row for the lead, no answers.
    assert_eq!(
        p.count(&format!(
            "SELECT count(*) FROM survey_responses WHERE user_id = '{}'",
            p.lead.user_id
        ))
        .await,
        0
    );
    assert_eq!(p.count("SELECT count(*) FROM survey_responses").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM survey_answers").await, 1);
    assert_eq!(
        p.count("SELECT count(*) FROM survey_answers WHERE numeric_value = 9")
            .await,
        1
    );

    // Lists with filters.
    let other = survey(&p, &p.cop, &p.exec).await.0;
    let surveys = format!("/api/v1/cops/{}/surveys", p.cop);
    assert_eq!(
        ids(&app.get(&surveys, &p.member.access).await.body),
        vec![other.clone(), s.clone()]
    );
    assert_eq!(
        ids(&app
            .get(&format!("{surveys}?status=closed"), &p.member.access)
            .await
            .body),
        vec![s.clone()]
    );
    assert_eq!(
        ids(&app
            .get(
                &format!("{surveys}?status=draft&kind=cop_health"),
                &p.member.access
            )
            .await
            .body),
        vec![other]
    );
    let listed = app
        .get(&format!("{surveys}?limit=1"), &p.member.access)
        .await;
    assert_eq!(
        listed.body["items"][0]["questions"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert!(listed.body["next_cursor"].is_string());
}

#[tokio::test]
async fn session_feedback_surveys_belong_to_an_event_of_the_cop() {
    let p = portal().await;
    let app = &p.app;
    let surveys = format!("/api/v1/cops/{}/surveys", p.cop);
    let q = json!([{"kind": "rating", "prompt": "How was it?"}]);
    let r = app
        .post(
            &surveys,
            &p.exec.access,
            &json!({"kind": "session_feedback", "title": "Feedback", "questions": q}),
        )
        .await;
    expect_field(&r, "/event_id");
    let theirs = p.other_event().await;
    let r = app
        .post(
            &surveys,
            &p.exec.access,
            &json!({"kind": "session_feedback", "event_id": theirs, "title": "F", "questions": q}),
        )
        .await;
    expect_field(&r, "/event_id");
    let ours = p.event(-1, None).await;
    let r = app
        .post(
            &surveys,
            &p.exec.access,
            &json!({"kind": "exec_pulse", "event_id": ours, "title": "F", "questions": q}),
        )
        .await;
    expect_field(&r, "/event_id");
    let r = app
        .post(
            &surveys,
            &p.exec.access,
            &json!({"kind": "session_feedback", "event_id": ours, "title": "F", "questions": q}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["event_id"], ours.as_str());
    let by_event = app
        .get(&format!("{surveys}?event_id={ours}"), &p.exec.access)
        .await;
    assert_eq!(ids(&by_event.body), vec![id(&r.body)]);
    assert_eq!(p.count("SELECT count(*) FROM surveys").await, 1);
}

#[tokio::test]
async fn survey_definitions_are_validated() {
    let p = portal().await;
    let surveys = format!("/api/v1/cops/{}/surveys", p.cop);
    let r = p
        .app
        .post(
            &surveys,
            &p.exec.access,
            &json!({"kind": "cop_health", "title": "", "questions": [
                {"kind": "single_choice", "prompt": "Pick", "options": ["a"]},
                {"kind": "multi_choice", "prompt": "Pick", "options": ["a", "a", "b"]},
                {"kind": "rating", "prompt": "Rate", "options": ["a", "b"]},
                {"kind": "text", "prompt": " "},
            ]}),
        )
        .await;
    r.expect_problem(400);
    assert_eq!(
        r.pointers(),
        [
            "/title",
            "/questions/0/options",
            "/questions/1/options/1",
            "/questions/2/options",
            "/questions/3/prompt"
        ]
    );
    let r = p
        .app
        .post(
            &surveys,
            &p.exec.access,
            &json!({"kind": "cop_health", "title": "T", "questions": []}),
        )
        .await;
    expect_field(&r, "/questions");
    let r = p
        .app
        .post(&surveys, &p.exec.access, &json!({"kind": "cop_health", "title": "T", "questions": [{"kind": "slider", "prompt": "?"}]}))
        .await;
    expect_field(&r, "/questions/0/kind");
    assert_eq!(p.count("SELECT count(*) FROM surveys").await, 0);
}

#[tokio::test]
async fn answers_are_validated_against_the_questions() {
    let p = portal().await;
    let app = &p.app;
    let (s, q) = survey(&p, &p.cop, &p.exec).await;
    let (other, other_q) = survey(&p, &p.cop, &p.exec).await;
    open(&p, &s).await;
    open(&p, &other).await;
    let respond = format!("/api/v1/surveys/{s}/responses");
    let token = p.member.access.clone();
    let post = |answers: Value| {
        let (respond, token) = (respond.clone(), token.clone());
        async move {
            app.post(&respond, &token, &json!({ "answers": answers }))
                .await
        }
    };

    expect_field(&post(json!([score(&q[0], 11)])).await, "/answers/0/score");
    expect_field(
        &post(json!([score(&q[0], 9), score(&q[1], 0)])).await,
        "/answers/1/score",
    );
    expect_field(
        &post(json!([score(&q[0], 9), score(&q[1], 6)])).await,
        "/answers/1/score",
    );
    expect_field(
        &post(json!([score(&q[0], 9), score(&other_q[1], 3)])).await,
        "/answers/1/question_id",
    );
    expect_field(
        &post(json!([score(&q[0], 9), choices(&q[2], &["Nope"])])).await,
        "/answers/1/choices/0",
    );
    expect_field(
        &post(json!([score(&q[0], 9), choices(&q[2], &["Labs", "Talks"])])).await,
        "/answers/1/choices",
    );
    expect_field(
        &post(json!([score(&q[0], 9), choices(&q[3], &["x", "x"])])).await,
        "/answers/1/choices/1",
    );
    expect_field(
        &post(json!([score(&q[0], 9), text(&q[1], "five")])).await,
        "/answers/1/score",
    );
    expect_field(
        &post(json!([score(&q[0], 9), score(&q[0], 8)])).await,
        "/answers/1/question_id",
    );
    expect_field(
        &post(json!([score(&q[0], 9), text(&q[4], "  ")])).await,
        "/answers/1/text",
    );
    expect_field(
        &post(json!([{"question_id": q[0], "score": 9.5}])).await,
        "/answers/0/score",
    );
    let missing_required = post(json!([score(&q[1], 4)])).await;
    expect_field(&missing_required, "/answers");
    assert!(
        missing_required.body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("required")
    );
    expect_field(&post(json!([])).await, "/answers");
    assert_eq!(
        p.count("SELECT count(*) FROM survey_responses").await,
        0,
        "nothing written"
    );
    assert_eq!(p.count("SELECT count(*) FROM survey_answers").await, 0);

    post(json!([
        score(&q[0], 0),
        score(&q[1], 1),
        choices(&q[2], &["Q&A"]),
        choices(&q[3], &["z", "x"]),
        text(&q[4], "ok")
    ]))
    .await
    .expect(201);
    assert_eq!(p.count("SELECT count(*) FROM survey_answers").await, 5);
}

#[tokio::test]
async fn results_match_hand_computed_aggregates() {
    let p = portal().await;
    let app = &p.app;
    let extra = p.new_member("fifth@acme.test").await;
    p.new_member("silent@acme.test").await;
    let (s, q) = survey(&p, &p.cop, &p.exec).await;
    let results = format!("/api/v1/surveys/{s}/results");

    // No responses: counts are zero and NPS is null (absent).
    let empty = app.get(&results, &p.outsider.access).await;
    empty.expect(200);
    assert_eq!(empty.body["response_count"], 0);
    assert_eq!(empty.body["response_rate"], 0.0);
    let nps_q = &empty.body["questions"][0];
    assert_eq!(nps_q["answer_count"], 0);
    assert!(
        nps_q.get("nps").is_none() && nps_q.get("average").is_none(),
        "{nps_q}"
    );
    assert_eq!(nps_q["promoters"], 0);

    open(&p, &s).await;
    let responses: [(&Tokens, Vec<Value>); 5] = [
        (
            &p.sponsor,
            vec![
                score(&q[0], 10),
                score(&q[1], 5),
                choices(&q[2], &["Labs"]),
                choices(&q[3], &["x", "y"]),
                text(&q[4], "Great"),
            ],
        ),
        (
            &p.lead,
            vec![
                score(&q[0], 9),
                score(&q[1], 4),
                choices(&q[2], &["Talks"]),
                choices(&q[3], &["y"]),
            ],
        ),
        (
            &p.champion,
            vec![
                score(&q[0], 8),
                score(&q[1], 4),
                choices(&q[2], &["Labs"]),
                choices(&q[3], &["x", "y", "z"]),
            ],
        ),
        (
            &p.member,
            vec![
                score(&q[0], 3),
                score(&q[1], 2),
                choices(&q[3], &["y"]),
                text(&q[4], "More labs"),
            ],
        ),
        (&extra, vec![score(&q[0], 10)]),
    ];
    for (t, answers) in &responses {
        app.post(
            &format!("/api/v1/surveys/{s}/responses"),
            &t.access,
            &json!({ "answers": answers }),
        )
        .await
        .expect(201);
    }
    let r = app.get(&results, &p.member.access).await;
    r.expect(200);
    let b = &r.body;
    assert_eq!(b["response_count"], 5);
    assert_eq!(b["member_count"], 6);
    assert_close(&b["response_rate"], 5.0 / 6.0);

    // NPS: scores 10, 9, 8, 3, 10 → 3 promoters, 1 passive, 1 detractor → 60 − 20 = 40.
    let nps = &b["questions"][0];
    assert_eq!(nps["kind"], "nps");
    assert_eq!(nps["answer_count"], 5);
    assert_eq!(
        (
            nps["promoters"].as_i64(),
            nps["passives"].as_i64(),
            nps["detractors"].as_i64()
        ),
        (Some(3), Some(1), Some(1))
    );
    assert_close(&nps["nps"], 40.0);
    assert_close(&nps["average"], 8.0);
    let dist: Vec<(i64, i64)> = nps["distribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["score"].as_i64().unwrap(), d["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(dist.len(), 11);
    assert_eq!(dist[10], (10, 2));
    assert_eq!(dist[3], (3, 1));
    assert_eq!(dist[0], (0, 0));

    // Rating: 5, 4, 4, 2 → 3.75.
    let rating = &b["questions"][1];
    assert_eq!(rating["answer_count"], 4);
    assert_close(&rating["average"], 3.75);
    let counts: Vec<i64> = rating["distribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [0, 1, 0, 2, 1]);
    assert!(rating.get("nps").is_none() && rating.get("promoters").is_none());

    // Single choice: Labs 2/3, Talks 1/3, Q&A 0.
    let single = &b["questions"][2];
    assert_eq!(single["answer_count"], 3);
    let opts = single["options"].as_array().unwrap();
    assert_eq!(opts[0]["option"], "Labs");
    assert_eq!(opts[0]["count"], 2);
    assert_close(&opts[0]["share"], 2.0 / 3.0);
    assert_close(&opts[1]["share"], 1.0 / 3.0);
    assert_eq!(opts[2]["count"], 0);
    assert_close(&opts[2]["share"], 0.0);

    // Multi choice over 4 answers: x 2 (0.5), y 4 (1.0), z 1 (0.25).
    let multi = &b["questions"][3];
    assert_eq!(multi["answer_count"], 4);
    let shares: Vec<(i64, f64)> = multi["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["count"].as_i64().unwrap(), o["share"].as_f64().unwrap()))
        .collect();
    assert_eq!(shares, [(2, 0.5), (4, 1.0), (1, 0.25)]);

    // Text: two answers.
    let t = &b["questions"][4];
    assert_eq!(t["answer_count"], 2);
    assert!(t.get("options").is_none() && t.get("average").is_none());
    assert_eq!(
        p.count("SELECT count(*) FROM survey_answers WHERE text_value IS NOT NULL")
            .await,
        2
    );
}

fn assert_close(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - expected).abs() < 1e-9, "{got} != {expected}");
}

#[tokio::test]
async fn survey_roles() {
    let p = portal().await;
    let app = &p.app;
    let surveys = format!("/api/v1/cops/{}/surveys", p.cop);
    let body = json!({"kind": "exec_pulse", "title": "Pulse", "questions": [{"kind": "rating", "prompt": "Mood"}]});
    for (role, t) in p.roles() {
        let r = app.post(&surveys, &t.access, &body).await;
        let expected = if matches!(role, "exec_sponsor" | "lead") {
            201
        } else {
            403
        };
        assert_eq!(r.status, expected, "{role} creating a survey: {}", r.text);
    }
    app.post(&surveys, &p.outsider.access, &body)
        .await
        .expect_problem(403);
    let s = id(&app.post(&surveys, &p.exec.access, &body).await.body);
    for path in ["open", "close"] {
        app.post(
            &format!("/api/v1/surveys/{s}/{path}"),
            &p.member.access,
            &json!({}),
        )
        .await
        .expect_problem(403);
        app.post(
            &format!("/api/v1/surveys/{s}/{path}"),
            &p.champion.access,
            &json!({}),
        )
        .await
        .expect_problem(403);
    }
    app.patch(
        &format!("/api/v1/surveys/{s}"),
        &p.champion.access,
        &json!({"title": "x"}),
    )
    .await
    .expect_problem(403);
    app.get(&format!("/api/v1/surveys/{s}/results"), &p.outsider.access)
        .await
        .expect(200);
}

#[tokio::test]
async fn surveys_of_other_tenants_answer_404_and_stay_unchanged() {
    let p = portal().await;
    let app = &p.app;
    let (s, q) = survey(&p, &p.cop, &p.exec).await;
    let t = &p.other_exec.access;
    let path = format!("/api/v1/surveys/{s}");
    assert_eq!(
        app.get(&path, t).await.expect_problem(404)["detail"],
        "survey not found"
    );
    app.get(&format!("{path}/results"), t)
        .await
        .expect_problem(404);
    app.patch(&path, t, &json!({"title": "Hacked"}))
        .await
        .expect_problem(404);
    app.post(&format!("{path}/open"), t, &json!({}))
        .await
        .expect_problem(404);
    open(&p, &s).await;
    app.post(&format!("{path}/close"), t, &json!({}))
        .await
        .expect_problem(404);
    app.post(
        &format!("{path}/responses"),
        t,
        &json!({"answers": [score(&q[0], 10)]}),
    )
    .await
    .expect_problem(404);
    app.get(&format!("/api/v1/cops/{}/surveys", p.cop), t)
        .await
        .expect_problem(404);
    // A draft of A: another customer's exec cannot delete it either.
    let (draft, _) = survey(&p, &p.cop, &p.exec).await;
    app.delete(&format!("/api/v1/surveys/{draft}"), t)
        .await
        .expect_problem(404);
    app.delete(&path, t).await.expect_problem(404);
    assert_eq!(
        app.get(&format!("/api/v1/surveys/{draft}"), &p.exec.access)
            .await
            .body["status"],
        "draft"
    );
    let body = json!({"kind": "exec_pulse", "title": "P", "questions": [{"kind": "rating", "prompt": "?"}]});
    app.post(&format!("/api/v1/cops/{}/surveys", p.cop), t, &body)
        .await
        .expect_problem(404);

    let g = app.get(&path, &p.exec.access).await;
    assert_eq!(g.body["title"], "Quarterly health");
    assert_eq!(g.body["status"], "open");
    assert_eq!(p.count("SELECT count(*) FROM survey_responses").await, 0);
    assert_eq!(p.count("SELECT count(*) FROM surveys").await, 2);
    assert_eq!(p.count("SELECT count(*) FROM survey_questions").await, 10);
}

#[tokio::test]
async fn draft_surveys_can_be_deleted_opened_ones_cannot() {
    let p = portal().await;
    let app = &p.app;
    let (draft, _) = survey(&p, &p.cop, &p.exec).await;
    let path = format!("/api/v1/surveys/{draft}");
    // Managing the CoP is required.
    for t in [&p.member, &p.champion, &p.outsider] {
        app.delete(&path, &t.access).await.expect_problem(403);
    }
    assert_eq!(p.count("SELECT count(*) FROM surveys").await, 1);
    app.delete(&path, &p.lead.access).await.expect(204);
    app.get(&path, &p.member.access).await.expect_problem(404);
    app.delete(&path, &p.lead.access).await.expect_problem(404);
    assert_eq!(p.count("SELECT count(*) FROM surveys").await, 0);
    assert_eq!(
        p.count("SELECT count(*) FROM survey_questions").await,
        0,
        "questions go with the survey"
    );
    assert_eq!(
        p.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'survey.deleted' AND target_id = '{draft}'"
        ))
        .await,
        1
    );

    // Opened surveys hold responses: 409, and nothing is removed.
    let (s, q) = survey(&p, &p.cop, &p.exec).await;
    let path = format!("/api/v1/surveys/{s}");
    open(&p, &s).await;
    app.post(
        &format!("{path}/responses"),
        &p.member.access,
        &json!({"answers": [score(&q[0], 10)]}),
    )
    .await
    .expect(201);
    assert_eq!(
        app.delete(&path, &p.exec.access).await.expect_problem(409)["code"],
        "survey_not_draft"
    );
    app.post(&format!("{path}/close"), &p.exec.access, &json!({}))
        .await
        .expect(200);
    assert_eq!(
        app.delete(&path, &p.admin.access).await.expect_problem(409)["code"],
        "survey_not_draft"
    );
    assert_eq!(
        app.get(&path, &p.member.access).await.body["status"],
        "closed"
    );
    assert_eq!(p.count("SELECT count(*) FROM survey_responses").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM survey_answers").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM survey_questions").await, 5);
}
