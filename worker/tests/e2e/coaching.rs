//! Coaching end to end: the real API over HTTP, a real worker, a real SMTP
//! server (aiosmtpd), and the calendar messages it received parsed by PyPI
//! `icalendar` (through `test-support/inspect_mail.py`).

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use test_support::{
    SmtpSink,
    app::{Json, json},
};

use crate::harness::Harness;

const WAIT: Duration = Duration::from_secs(40);

fn time(v: &Json) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// The calendar object of a received message (its text/calendar part).
fn ics(m: &Json) -> Json {
    let alt = &m["mime"]["parts"][0];
    let cal = alt["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == "text/calendar")
        .unwrap_or_else(|| panic!("no text/calendar part: {m}"));
    assert_eq!(cal["params"]["method"], cal["ics"]["method"]);
    cal["ics"].clone()
}

/// The messages to `address`, oldest first.
fn to(messages: &[Json], address: &str) -> Vec<Json> {
    messages
        .iter()
        .filter(|m| m["to"][0]["address"] == address)
        .cloned()
        .collect()
}

#[tokio::test]
async fn coaching_session_invites_update_and_cancel_reach_both_people() {
    let h = Harness::new().await;
    let sink = SmtpSink::start();
    let url = sink.url();
    let _w = h.worker_with(&[("LAUNCHPAD_SMTP_URL", url.as_str())]);
    let app = &h.app;
    let customer = app.create_customer(&h.admin, "acme").await;
    let c = [customer.as_str()];
    let tl = app
        .user(&h.admin, "tl@acme.test", &["customer_member"], &c)
        .await;
    let agent = app
        .user(&h.admin, "agent@acme.test", &["customer_member"], &c)
        .await;
    let admin = &h.admin.access;
    let grant = |who: &str, body: Json| {
        let path = format!("/api/v1/coaching/people/{who}");
        async move { app.put(&path, admin, &body).await }
    };
    grant(&tl.user_id, json!({"role": "team_leader"}))
        .await
        .expect(201);
    grant(
        &agent.user_id,
        json!({"role": "agent", "team_leader_id": tl.user_id}),
    )
    .await
    .expect(201);

    let starts = (Utc::now() + chrono::Duration::days(2)).trunc_subsecs(0);
    let r = app
        .post(
            "/api/v1/coaching/sessions",
            &tl.access,
            &json!({"agent_id": agent.user_id, "starts_at": starts.to_rfc3339(),
                    "duration_minutes": 30, "time_zone": "Europe/London",
                    "location": "Room 2, Floor 3", "focus_areas": ["empathy"]}),
        )
        .await;
    r.expect(201);
    let s = r.body.clone();
    let sid = s["id"].as_str().unwrap();
    let uid = s["uid"].as_str().unwrap();

    // The invitation: a REQUEST to each of the two people, naming them.
    let got = sink.wait_for(2, WAIT).await;
    for (addr, m) in [("tl@acme.test", &got), ("agent@acme.test", &got)] {
        let mine = to(m, addr);
        assert_eq!(mine.len(), 1, "{addr}: {got:?}");
        let cal = ics(&mine[0]);
        assert_eq!(cal["method"], "REQUEST");
        let ev = &cal["events"][0];
        assert_eq!(ev["uid"], uid);
        assert_eq!(ev["sequence"], 0);
        assert_eq!(ev["status"], "CONFIRMED");
        assert_eq!(ev["location"], "Room 2, Floor 3");
        assert_eq!(time(&ev["dtstart"]), starts);
        assert_eq!(time(&ev["dtend"]), starts + chrono::Duration::minutes(30));
        assert!(
            ev["summary"]
                .as_str()
                .unwrap()
                .starts_with("Coaching: agent with tl")
        );
        let att = ev["attendees"].as_array().unwrap();
        assert_eq!(att.len(), 1);
        assert_eq!(att[0]["value"], format!("mailto:{addr}"));
        assert!(
            mine[0]["subject"]
                .as_str()
                .unwrap()
                .starts_with("Invitation: Coaching")
        );
    }

    // Rescheduled: an update (same UID, SEQUENCE 1) to both.
    let later = starts + chrono::Duration::hours(3);
    app.patch(
        &format!("/api/v1/coaching/sessions/{sid}"),
        &tl.access,
        &json!({"starts_at": later.to_rfc3339()}),
    )
    .await
    .expect(200);
    let got = sink.wait_for(4, WAIT).await;
    for addr in ["tl@acme.test", "agent@acme.test"] {
        let mine = to(&got, addr);
        assert_eq!(mine.len(), 2, "{addr}");
        let cal = ics(&mine[1]);
        assert_eq!(cal["method"], "REQUEST");
        assert_eq!(cal["events"][0]["uid"], uid);
        assert_eq!(cal["events"][0]["sequence"], 1);
        assert_eq!(time(&cal["events"][0]["dtstart"]), later);
        assert!(
            mine[1]["subject"]
                .as_str()
                .unwrap()
                .starts_with("Updated: ")
        );
    }

    // Cancelled: a CANCEL (SEQUENCE 2) to both.
    app.post(
        &format!("/api/v1/coaching/sessions/{sid}/cancel"),
        &tl.access,
        &json!({}),
    )
    .await
    .expect(200);
    let got = sink.wait_for(6, WAIT).await;
    for addr in ["tl@acme.test", "agent@acme.test"] {
        let mine = to(&got, addr);
        assert_eq!(mine.len(), 3, "{addr}");
        let cal = ics(&mine[2]);
        assert_eq!(cal["method"], "CANCEL");
        assert_eq!(cal["events"][0]["uid"], uid);
        assert_eq!(cal["events"][0]["sequence"], 2);
        assert_eq!(cal["events"][0]["status"], "CANCELLED");
        assert!(
            mine[2]["subject"]
                .as_str()
                .unwrap()
                .starts_with("Cancelled: ")
        );
    }
}
