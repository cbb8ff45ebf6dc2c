//! The CoP portal's demo data.

use sqlx::PgPool;

use super::{DEMO_EXEC_EMAIL, DEMO_EXEC_PASSWORD};
use crate::{
    Result,
    ids::{CustomerId, UserId},
    kinds::InviteReason,
    portal::invites,
    values::Password,
};

/// The demo CoPs (their names identify them).
pub const DEMO_COPS: [&str; 2] = ["Data Engineering CoP", "ML & AI Practitioners"];

/// CoP portal demo data for `customer`, idempotent (skipped when the
/// customer already has CoPs; returns whether it wrote them): two CoPs; a dozen named members plus a wider
/// community (42 users of the customer, password `DEMO_EXEC_PASSWORD`);
/// past and upcoming events with registrations and attendance; content with
/// engagement; a closed health survey with 40 responses (free text
/// included) and an open session-feedback survey; use cases; a champion;
/// two weeks of an ingested KPI; and the invitations of the upcoming
/// events, queued (the worker sends them).
pub async fn seed_portal(db: &PgPool, customer: CustomerId) -> Result<bool> {
    use crate::ids::{AssetId, CopId, EventId, QuestionId, ResponseId, SurveyId, UseCaseId};
    use chrono::{Duration, Utc};

    const CORE: [(&str, &str); 12] = [
        ("Ana Silva", "ana.silva"),
        ("Ben Okafor", "ben.okafor"),
        ("Chloé Martin", "chloe.martin"),
        ("Dev Patel", "dev.patel"),
        ("Elena Rossi", "elena.rossi"),
        ("Farid Haddad", "farid.haddad"),
        ("Grace Kim", "grace.kim"),
        ("Hugo Lambert", "hugo.lambert"),
        ("Ines Duarte", "ines.duarte"),
        ("Jonas Weber", "jonas.weber"),
        ("Keiko Tanaka", "keiko.tanaka"),
        ("Liam Byrne", "liam.byrne"),
    ];
    const FIRST: [&str; 10] = [
        "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    ];
    const LAST: [&str; 3] = ["Andersen", "Costa", "Nowak"];
    const NPS: [i16; 40] = [
        10, 9, 8, 7, 10, 6, 9, 9, 5, 10, 8, 7, 9, 10, 3, 8, 9, 10, 7, 6, 9, 8, 10, 9, 4, 8, 9, 10,
        7, 9, 10, 8, 6, 9, 9, 10, 7, 8, 9, 10,
    ];
    const FORMATS: [&str; 4] = [
        "Office hours",
        "Deep dives",
        "Hands-on labs",
        "Roadmap briefings",
    ];
    // Which format each respondent prefers: labs first, roadmaps last (every
    // fifth respondent skips the question; the 32 answers: 13, 9, 7, 3).
    const FORMAT_PICKS: [usize; 40] = [
        2, 1, 0, 2, 0, 2, 1, 2, 0, 0, 1, 2, 3, 2, 0, 0, 2, 1, 2, 0, 1, 0, 2, 3, 0, 2, 1, 0, 2, 0,
        1, 2, 0, 3, 0, 1, 2, 0, 1, 0,
    ];
    // The percentage of respondents who ask for each topic.
    const TOPIC_SHARE: [usize; 5] = [65, 50, 35, 55, 20];
    const TOPICS: [&str; 5] = [
        "Streaming",
        "Data quality",
        "Cost optimisation",
        "MLOps",
        "Governance",
    ];
    const FEEDBACK: [&str; 30] = [
        "The deep dive on streaming joins saved my team a week of trial and error.",
        "Please record the office hours; the time slot clashes with our stand-up.",
        "More hands-on labs, fewer slides.",
        "I would love a session on cost monitoring and cluster policies.",
        "The notebooks in the library are great, but some are out of date.",
        "Sessions run over time quite often; a strict agenda would help.",
        "Great community, I always leave with something I can apply the same day.",
        "It is hard to find the right content for beginners.",
        "Could we get a roadmap briefing every quarter instead of twice a year?",
        "The champions program motivates people to share their work.",
        "Invite more speakers from the business side, not only engineers.",
        "Audio quality in the last two sessions was poor.",
        "A Slack channel for follow-up questions would be useful.",
        "The data quality checklist is now part of our release process.",
        "Too many tools covered at once; focus on fewer topics in more depth.",
        "I joined late in the year and would appreciate an onboarding path.",
        "Loved the live debugging of the failing pipeline.",
        "Please share the slides before the session starts.",
        "Time zones are tough for the APAC members; alternate the slots.",
        "The MLOps session was exactly what our team needed to get started.",
        "Some examples assume admin rights we do not have in production.",
        "Keep the sessions at one hour; ninety minutes is too long.",
        "A certification study group would be a great addition.",
        "I found the governance session too theoretical.",
        "The use case showcase was inspiring; more of those please.",
        "Labs should come with a sandbox workspace that is ready to use.",
        "Nothing to change, keep it up!",
        "The survey is a bit long; three questions would be enough.",
        "We need guidance on migrating legacy ETL jobs.",
        "Dashboard templates would help us report adoption to our managers.",
    ];

    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(7270003)")
        .execute(&mut *tx)
        .await?;
    let has_cops: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cops WHERE customer_id = $1)")
            .bind(customer)
            .fetch_one(&mut *tx)
            .await?;
    if has_cops {
        return Ok(false);
    }
    let exec: UserId = sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = $1")
        .bind(DEMO_EXEC_EMAIL)
        .fetch_one(&mut *tx)
        .await?;

    // People: the named core members and the wider community, hashed once.
    let mut people: Vec<(String, String)> = CORE
        .iter()
        .map(|(name, local)| (name.to_string(), format!("{local}@acme.example")))
        .collect();
    for first in FIRST {
        for last in LAST {
            people.push((
                format!("{first} {last}"),
                format!(
                    "{}.{}@acme.example",
                    first.to_lowercase(),
                    last.to_lowercase()
                ),
            ));
        }
    }
    let pw =
        Password::parse(DEMO_EXEC_PASSWORD).map_err(|m| crate::Error::field("/password", m))?;
    let hash = crate::auth::password::hash(&pw).await?;
    let (names, emails): (Vec<String>, Vec<String>) = people.into_iter().unzip();
    let fresh_ids: Vec<uuid::Uuid> = emails.iter().map(|_| UserId::new().0).collect();
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, roles)
         SELECT t.id, t.email, t.name, $4, ARRAY['customer_member'] FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, email, name)
         ON CONFLICT (lower(email)) DO NOTHING",
    )
    .bind(&fresh_ids)
    .bind(&emails)
    .bind(&names)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    let users: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT u.id FROM unnest($1::text[]) WITH ORDINALITY AS t(email, n) JOIN users u ON lower(u.email) = t.email ORDER BY t.n",
    )
    .bind(&emails)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO user_customers (user_id, customer_id) SELECT unnest($1::uuid[]), $2 ON CONFLICT DO NOTHING")
        .bind(&users)
        .bind(customer)
        .execute(&mut *tx)
        .await?;

    // The CoPs and their members (joined over the last months).
    let now = Utc::now();
    let cops = [CopId::new(), CopId::new()];
    let missions = [
        "Share lakehouse engineering patterns and raise the bar on data reliability across Acme.",
        "Take models from notebooks to production, responsibly and repeatably.",
    ];
    let phases = ["growth", "launch"];
    for i in 0..2 {
        sqlx::query(
            "INSERT INTO cops (id, customer_id, name, owner_id, phase, mission, charter, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $4, $8)",
        )
        .bind(cops[i])
        .bind(customer)
        .bind(DEMO_COPS[i])
        .bind(exec)
        .bind(phases[i])
        .bind(missions[i])
        .bind("## Charter\n\nWe meet every two weeks, share what works, and publish reusable assets.")
        .bind(now - Duration::days(200))
        .execute(&mut *tx)
        .await?;
    }
    let mut members: Vec<(CopId, uuid::Uuid, &str, chrono::DateTime<Utc>)> = vec![
        (cops[0], exec.0, "exec_sponsor", now - Duration::days(190)),
        (cops[1], exec.0, "exec_sponsor", now - Duration::days(120)),
    ];
    for (i, u) in users.iter().enumerate() {
        let role = match i {
            0 => "lead",
            1 | 2 => "champion",
            _ => "member",
        };
        members.push((cops[0], *u, role, now - Duration::days(180 - 4 * i as i64)));
        if (6..12).contains(&i) {
            let role = if i == 6 { "lead" } else { "member" };
            members.push((cops[1], *u, role, now - Duration::days(110 - 5 * i as i64)));
        }
    }
    for (cop, user, role, joined) in &members {
        sqlx::query("INSERT INTO cop_members (cop_id, user_id, role, added_by, joined_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(cop)
            .bind(user)
            .bind(role)
            .bind(exec)
            .bind(joined)
            .execute(&mut *tx)
            .await?;
    }

    // Events: four past and two upcoming in the first CoP, one of each in the second.
    let plan: [(usize, i64, &str, &str); 8] = [
        (0, -60, "training", "Lakehouse onboarding bootcamp"),
        (0, -40, "deep_dive", "Streaming joins in depth"),
        (0, -20, "office_hours", "Pipeline office hours"),
        (0, -7, "roadmap", "Platform roadmap Q4"),
        (0, 7, "office_hours", "Pipeline office hours"),
        (0, 21, "deep_dive", "Data quality at scale"),
        (1, -14, "training", "From notebook to model serving"),
        (1, 10, "deep_dive", "Feature stores in practice"),
    ];
    let mut events: Vec<(EventId, usize, chrono::DateTime<Utc>)> = Vec::new();
    for (cop, days, kind, title) in plan {
        let id = EventId::new();
        let starts = (now + Duration::days(days))
            .date_naive()
            .and_hms_opt(15, 0, 0)
            .expect("valid time")
            .and_utc();
        sqlx::query(
            "INSERT INTO events (id, cop_id, type, title, description, starts_at, ends_at, time_zone, join_url,
                 capacity, speakers, agenda, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'Europe/Paris', $8, 40, $9, $10, $11, $12)",
        )
        .bind(id)
        .bind(cops[cop])
        .bind(kind)
        .bind(title)
        .bind(format!("{title}: a session of the {}.", DEMO_COPS[cop]))
        .bind(starts)
        .bind(starts + Duration::hours(1))
        .bind(format!("https://meet.acme.example/{}", id.0.simple()))
        .bind(vec![CORE[cop * 6].0.to_string()])
        .bind("1. Welcome (5 min)\n2. Main session (40 min)\n3. Q&A (15 min)")
        .bind(exec)
        .bind(starts - Duration::days(21))
        .execute(&mut *tx)
        .await?;
        events.push((id, cop, starts));
    }
    // Registrations (members of the event's CoP) and, for past events, attendance.
    for (n, (event, cop, starts)) in events.iter().enumerate() {
        let pool: Vec<uuid::Uuid> = members
            .iter()
            .filter(|m| m.0 == cops[*cop])
            .map(|m| m.1)
            .collect();
        let count = if *starts < now { 14 } else { 8 };
        for (k, user) in pool
            .iter()
            .cycle()
            .skip(n * 3)
            .take(count.min(pool.len()))
            .enumerate()
        {
            sqlx::query(
                "INSERT INTO event_registrations (event_id, user_id, registered_by, registered_at) VALUES ($1, $2, $2, $3)",
            )
            .bind(event)
            .bind(user)
            .bind(*starts - Duration::days(10) + Duration::hours(k as i64))
            .execute(&mut *tx)
            .await?;
            if *starts < now && k % 4 != 3 {
                sqlx::query(
                    "INSERT INTO event_attendance (event_id, user_id, joined_at, left_at, imported_by, imported_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(event)
                .bind(user)
                .bind(*starts + Duration::minutes((k % 6) as i64))
                .bind(*starts + Duration::minutes(50 + (k % 11) as i64))
                .bind(exec)
                .bind(*starts + Duration::hours(2))
                .execute(&mut *tx)
                .await?;
            }
        }
    }

    // Content and engagement.
    // (CoP, kind, title, persona, level, topic, tags)
    type SeedAsset = (
        usize,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    );
    let assets: [SeedAsset; 7] = [
        (
            0,
            "notebook",
            "Streaming joins starter notebook",
            "data_engineer",
            "intermediate",
            "streaming",
            &["streaming", "joins"],
        ),
        (
            0,
            "video",
            "Lakehouse onboarding recording",
            "data_engineer",
            "beginner",
            "onboarding",
            &["onboarding"],
        ),
        (
            0,
            "doc",
            "Data quality checklist",
            "analytics_engineer",
            "beginner",
            "data quality",
            &["quality", "checklist"],
        ),
        (
            0,
            "dashboard",
            "Cluster cost dashboard",
            "platform_admin",
            "intermediate",
            "cost",
            &["cost", "finops"],
        ),
        (
            0,
            "presentation",
            "Platform roadmap Q4 slides",
            "executive",
            "beginner",
            "roadmap",
            &["roadmap"],
        ),
        (
            1,
            "course",
            "MLOps foundations",
            "data_scientist",
            "beginner",
            "mlops",
            &["mlops", "serving"],
        ),
        (
            1,
            "notebook",
            "Feature store walkthrough",
            "ml_engineer",
            "advanced",
            "features",
            &["features"],
        ),
    ];
    for (n, (cop, kind, title, persona, level, topic, tags)) in assets.iter().enumerate() {
        let id = AssetId::new();
        sqlx::query(
            "INSERT INTO content_assets (id, cop_id, kind, title, url, persona, level, topic, tags, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(id)
        .bind(cops[*cop])
        .bind(kind)
        .bind(title)
        .bind(format!("https://content.acme.example/{}", id.0.simple()))
        .bind(persona)
        .bind(level)
        .bind(topic)
        .bind(tags.iter().map(|t| t.to_string()).collect::<Vec<_>>())
        .bind(users[0])
        .bind(now - Duration::days(90 - 10 * n as i64))
        .execute(&mut *tx)
        .await?;
        let pool: Vec<uuid::Uuid> = members
            .iter()
            .filter(|m| m.0 == cops[*cop])
            .map(|m| m.1)
            .collect();
        for k in 0..(12 + 3 * n) {
            let action = match k % 5 {
                0..=2 => "view",
                3 => "download",
                _ => "like",
            };
            sqlx::query("INSERT INTO asset_engagement (asset_id, cop_id, user_id, action, at) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(cops[*cop])
                .bind(pool[(k * 7 + n) % pool.len()])
                .bind(action)
                .bind(now - Duration::hours((k * 37 + n * 11) as i64 % (24 * 80)))
                .execute(&mut *tx)
                .await?;
        }
    }

    // A closed CoP health survey with 40 responses, and an open session survey.
    let survey = SurveyId::new();
    sqlx::query(
        "INSERT INTO surveys (id, cop_id, kind, title, description, status, opened_at, closed_at, created_by, created_at)
         VALUES ($1, $2, 'cop_health', 'Quarterly CoP health check', 'Tell us how the CoP is working for you.',
                 'closed', $3, $4, $5, $3)",
    )
    .bind(survey)
    .bind(cops[0])
    .bind(now - Duration::days(30))
    .bind(now - Duration::days(16))
    .bind(exec)
    .execute(&mut *tx)
    .await?;
    let q: [QuestionId; 5] = std::array::from_fn(|_| QuestionId::new());
    let questions = serde_json::json!([
        {"id": q[0], "position": 0, "kind": "nps", "prompt": "How likely are you to recommend this CoP to a colleague?", "options": [], "required": true},
        {"id": q[1], "position": 1, "kind": "rating", "prompt": "How useful were this quarter's sessions?", "options": [], "required": true},
        {"id": q[2], "position": 2, "kind": "single_choice", "prompt": "Which session format works best for you?", "options": FORMATS, "required": false},
        {"id": q[3], "position": 3, "kind": "multi_choice", "prompt": "Which topics should we cover next?", "options": TOPICS, "required": false},
        {"id": q[4], "position": 4, "kind": "text", "prompt": "What should we do differently?", "options": [], "required": false},
    ]);
    insert_questions(&mut tx, survey, questions).await?;
    let respondents: Vec<uuid::Uuid> = users.iter().take(40).copied().collect();
    let response_ids: Vec<uuid::Uuid> = respondents.iter().map(|_| ResponseId::new().0).collect();
    let responded_at: Vec<chrono::DateTime<Utc>> = (0..40)
        .map(|k| now - Duration::days(29) + Duration::hours(8 * k as i64))
        .collect();
    sqlx::query(
        "INSERT INTO survey_responses (id, survey_id, user_id, responded_at)
         SELECT t.id, $2, t.user_id, t.at FROM unnest($1::uuid[], $3::uuid[], $4::timestamptz[]) AS t(id, user_id, at)",
    )
    .bind(&response_ids)
    .bind(survey)
    .bind(&respondents)
    .bind(&responded_at)
    .execute(&mut *tx)
    .await?;
    let mut answers = Vec::new();
    for (k, r) in response_ids.iter().enumerate() {
        answers.push(
            serde_json::json!({"response_id": r, "question_id": q[0], "numeric_value": NPS[k]}),
        );
        answers.push(serde_json::json!({"response_id": r, "question_id": q[1], "numeric_value": usefulness(NPS[k], k)}));
        if k % 5 != 4 {
            answers.push(serde_json::json!({"response_id": r, "question_id": q[2], "choice_values": [FORMATS[FORMAT_PICKS[k]]]}));
        }
        if k % 3 != 2 {
            let picked: Vec<&str> = TOPICS
                .iter()
                .zip(TOPIC_SHARE)
                .enumerate()
                .filter(|(j, (_, share))| (k * 37 + j * 61 + 11) % 100 < *share)
                .map(|(_, (t, _))| *t)
                .collect();
            let picked = if picked.is_empty() {
                vec![TOPICS[k % TOPICS.len()]]
            } else {
                picked
            };
            answers.push(
                serde_json::json!({"response_id": r, "question_id": q[3], "choice_values": picked}),
            );
        }
        if k % 4 != 3 {
            answers.push(serde_json::json!({"response_id": r, "question_id": q[4], "text_value": FEEDBACK[k % FEEDBACK.len()]}));
        }
    }
    insert_answers(&mut tx, survey, serde_json::Value::Array(answers)).await?;

    let (last_past, _, _) = events
        .iter()
        .rfind(|(_, cop, s)| *cop == 0 && *s < now)
        .copied()
        .expect("a past event");
    let session = SurveyId::new();
    sqlx::query(
        "INSERT INTO surveys (id, cop_id, event_id, kind, title, status, opened_at, created_by, created_at)
         VALUES ($1, $2, $3, 'session_feedback', 'Feedback: Platform roadmap Q4', 'open', $4, $5, $4)",
    )
    .bind(session)
    .bind(cops[0])
    .bind(last_past)
    .bind(now - Duration::days(6))
    .bind(exec)
    .execute(&mut *tx)
    .await?;
    let sq: [QuestionId; 2] = std::array::from_fn(|_| QuestionId::new());
    insert_questions(
        &mut tx,
        session,
        serde_json::json!([
            {"id": sq[0], "position": 0, "kind": "rating", "prompt": "How would you rate this session?", "options": [], "required": true},
            {"id": sq[1], "position": 1, "kind": "text", "prompt": "Anything we should improve?", "options": [], "required": false},
        ]),
    )
    .await?;
    let mut session_answers = Vec::new();
    for k in 0..5 {
        let r = ResponseId::new();
        sqlx::query("INSERT INTO survey_responses (id, survey_id, user_id, responded_at) VALUES ($1, $2, $3, $4)")
            .bind(r)
            .bind(session)
            .bind(users[k])
            .bind(now - Duration::days(5) + Duration::hours(k as i64))
            .execute(&mut *tx)
            .await?;
        session_answers.push(serde_json::json!({"response_id": r, "question_id": sq[0], "numeric_value": 3 + (k % 3)}));
        session_answers.push(serde_json::json!({"response_id": r, "question_id": sq[1], "text_value": FEEDBACK[(k * 7) % FEEDBACK.len()]}));
    }
    insert_answers(&mut tx, session, serde_json::Value::Array(session_answers)).await?;

    // Use cases, a champion and an ingested KPI.
    sqlx::query(
        "INSERT INTO use_cases (id, cop_id, title, summary, business_value, status, submitted_by, decided_by, decided_at, approved_at, created_at)
         VALUES ($1, $2, 'Churn prediction on the lakehouse',
                 'Moved the churn model from a nightly export to a streaming feature pipeline.',
                 'Retention campaigns start 3 days earlier; about 1.2M EUR of revenue kept per year.',
                 'approved', $3, $4, $5, $5, $6),
                ($7, $2, 'Self-service data quality alerts',
                 'Teams subscribe to quality checks on the tables they consume.', NULL,
                 'submitted', $8, NULL, NULL, NULL, $9)",
    )
    .bind(UseCaseId::new())
    .bind(cops[0])
    .bind(users[3])
    .bind(exec)
    .bind(now - Duration::days(12))
    .bind(now - Duration::days(25))
    .bind(UseCaseId::new())
    .bind(users[4])
    .bind(now - Duration::days(3))
    .execute(&mut *tx)
    .await?;
    let quarter_start = (now - Duration::days(90)).date_naive();
    sqlx::query(
        "INSERT INTO champions (id, cop_id, user_id, title, period_start, period_end, recognised_by)
         VALUES ($1, $2, $3, 'Champion of the quarter', $4, $5, $6)",
    )
    .bind(crate::ids::ChampionId::new())
    .bind(cops[0])
    .bind(users[1])
    .bind(quarter_start)
    .bind(quarter_start + Duration::days(89))
    .bind(exec)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO kpi_metrics (cop_id, metric, date, value, source)
         SELECT $1, 'dbu_consumed', d::date, 800 + 25 * extract(dow FROM d) + 3 * row_number() OVER (ORDER BY d), 'ingest'
         FROM generate_series(current_date - 14, current_date - 1, interval '1 day') AS d",
    )
    .bind(cops[0])
    .execute(&mut *tx)
    .await?;
    // The upcoming events' invitations go out as the API would send them.
    for (event, _, starts) in &events {
        if *starts > now {
            invites::enqueue(
                &mut tx,
                customer,
                Some(exec),
                *event,
                InviteReason::Resend,
                None,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

async fn insert_questions(
    conn: &mut sqlx::PgConnection,
    survey: crate::ids::SurveyId,
    questions: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO survey_questions (id, survey_id, position, kind, prompt, options, required)
         SELECT t.id, $1, t.position, t.kind, t.prompt, t.options, t.required
         FROM jsonb_to_recordset($2) AS t(id uuid, position smallint, kind text, prompt text, options text[], required boolean)",
    )
    .bind(survey)
    .bind(questions)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_answers(
    conn: &mut sqlx::PgConnection,
    survey: crate::ids::SurveyId,
    answers: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO survey_answers (response_id, survey_id, question_id, numeric_value, choice_values, text_value)
         SELECT t.response_id, $1, t.question_id, t.numeric_value, t.choice_values, t.text_value
         FROM jsonb_to_recordset($2)
             AS t(response_id uuid, question_id uuid, numeric_value smallint, choice_values text[], text_value text)",
    )
    .bind(survey)
    .bind(answers)
    .execute(conn)
    .await?;
    Ok(())
}

/// How useful a respondent found the sessions (1–5), in line with how
/// likely they are to recommend the CoP (0–10), with some spread.
fn usefulness(nps: i16, k: usize) -> i16 {
    match nps {
        10 => 5,
        9 => 4 + !k.is_multiple_of(3) as i16,
        8 => 4,
        7 => 3 + (k % 2) as i16,
        5 | 6 => 3,
        _ => 2,
    }
}
