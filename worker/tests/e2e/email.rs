//! E-mail and calendar invitations end to end: the real API over HTTP, real
//! worker processes, a real SMTP server (aiosmtpd), and what it received
//! checked by independent parsers (Python's `email` package and PyPI
//! `icalendar`, through `test-support/inspect_mail.py`).

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use launchpad_domain::jobs::{EnqueueCtx, NewJob, enqueue_one};
use launchpad_domain::kinds::{EmailSend, EmailSendPayload};
use test_support::{
    Json, SmtpSink,
    app::{Resp, json},
    eventually,
    smtp::{free_port, inspect_ics},
};

use crate::harness::{CopMail, Harness};

const WAIT: Duration = Duration::from_secs(40);

struct Mail(CopMail);

impl std::ops::Deref for Mail {
    type Target = CopMail;

    fn deref(&self) -> &CopMail {
        &self.0
    }
}

impl Mail {
    async fn new() -> Self {
        Self(CopMail::new("Data Engineering CoP").await)
    }

    /// A user of the customer who is a member of the CoP; returns the user id.
    async fn person(&self, email: &str, name: &str) -> String {
        let r = self
            .h
            .app
            .post(
                "/api/v1/users",
                &self.h.admin.access,
                &json!({"email": email, "name": name, "password": "user-password-1234",
                        "roles": ["customer_member"], "customer_ids": [self.customer]}),
            )
            .await;
        r.expect(201);
        let id = r.body["id"].as_str().unwrap().to_string();
        self.h
            .app
            .post(
                &format!("/api/v1/cops/{}/members", self.cop),
                &self.h.admin.access,
                &json!({"user_id": id}),
            )
            .await
            .expect(201);
        id
    }

    /// An event a week from now; `extra` overrides fields.
    async fn event(&self, extra: Json) -> Json {
        let starts = (Utc::now() + chrono::Duration::days(7)).trunc_subsecs(0);
        let mut body = json!({
            "type": "office_hours",
            "title": "Lakehouse Q&A — Ünïcödé; part 1, “quoted”",
            "description": "Bring your questions.\nSecond line, with a comma; and a semicolon.",
            "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + chrono::Duration::hours(1)).to_rfc3339(),
            "time_zone": "Europe/Paris",
            "location": "Room 4, Building B",
            "join_url": "https://meet.example.com/lakehouse?id=42&pw=x",
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let r = self
            .h
            .app
            .post(
                &format!("/api/v1/cops/{}/events", self.cop),
                &self.h.admin.access,
                &body,
            )
            .await;
        r.expect(201);
        r.body.clone()
    }

    async fn register(&self, event: &str, user: &str) -> Resp {
        self.h
            .app
            .post(
                &format!("/api/v1/events/{event}/registrations"),
                &self.h.admin.access,
                &json!({"user_id": user}),
            )
            .await
    }

    async fn registrations(&self, event: &str) -> Vec<Json> {
        let r = self
            .h
            .app
            .get(
                &format!("/api/v1/events/{event}/registrations"),
                &self.h.admin.access,
            )
            .await;
        r.expect(200);
        r.body["items"].as_array().unwrap().clone()
    }

    /// The latest invite of `user` as the registration list shows it.
    async fn invite_of(&self, event: &str, user: &str) -> Json {
        self.registrations(event)
            .await
            .into_iter()
            .find(|r| r["user_id"] == user)
            .map(|r| r["invite"].clone())
            .unwrap_or(Json::Null)
    }

    async fn wait_invite(&self, event: &str, user: &str, state: &str) -> Json {
        eventually(WAIT, &format!("{user}'s invite to be {state}"), || async {
            let i = self.invite_of(event, user).await;
            (i["state"] == state).then_some(i)
        })
        .await
    }

    /// (status, skip_reason, smtp_response, attempts, message_id) of the outbox rows to `address`, oldest first.
    async fn rows_to(
        &self,
        address: &str,
    ) -> Vec<(String, Option<String>, Option<String>, i32, String)> {
        sqlx::query_as(
            "SELECT status, skip_reason, smtp_response, attempts, message_id FROM email_outbox
             WHERE lower(to_address) = lower($1) ORDER BY seq",
        )
        .bind(address)
        .fetch_all(&self.h.app.db.pool)
        .await
        .unwrap()
    }

    /// The `email_send` jobs of `address`'s rows, oldest first.
    async fn send_jobs_to(&self, address: &str) -> Vec<Json> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT j.id::text FROM jobs j JOIN email_outbox o ON j.subject = o.id::text
             WHERE j.kind = 'email_send' AND lower(o.to_address) = lower($1) ORDER BY o.seq",
        )
        .bind(address)
        .fetch_all(&self.h.app.db.pool)
        .await
        .unwrap();
        let mut out = vec![];
        for id in ids {
            out.push(self.h.job(&id).await);
        }
        out
    }
}

fn time(v: &Json) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// The messages received for `address`, described by the independent parsers.
fn to(messages: &[Json], address: &str) -> Vec<Json> {
    messages
        .iter()
        .filter(|m| m["to"][0]["address"] == address)
        .cloned()
        .collect()
}

/// Checks the iMIP shape and returns (the text/calendar part, the attachment).
fn imip_parts(m: &Json) -> (Json, Json) {
    let mime = &m["mime"];
    assert_eq!(mime["content_type"], "multipart/mixed", "{mime}");
    let parts = mime["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "alternative + attachment: {mime}");
    let alt = &parts[0];
    assert_eq!(alt["content_type"], "multipart/alternative");
    let alts: Vec<&str> = alt["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(alts, ["text/plain", "text/html", "text/calendar"]);
    for p in alt["parts"].as_array().unwrap() {
        assert_eq!(
            p["params"]["charset"]
                .as_str()
                .map(str::to_lowercase)
                .as_deref(),
            Some("utf-8"),
            "{p}"
        );
    }
    let cal = alt["parts"][2].clone();
    let att = parts[1].clone();
    assert_eq!(att["content_type"], "application/ics");
    assert_eq!(att["disposition"], "attachment");
    assert_eq!(att["filename"], "invite.ics");
    // The calendar part's method= is the object's METHOD; the attachment is the same object.
    assert_eq!(cal["params"]["method"], cal["ics"]["method"], "{cal}");
    assert_eq!(att["ics"], cal["ics"]);
    assert_eq!(cal["ics_crlf"], true, "iCalendar lines end in CRLF");
    assert!(
        m["defects"].as_array().unwrap().is_empty(),
        "{}",
        m["defects"]
    );
    (cal, att)
}

#[tokio::test]
async fn invitation_update_and_cancellation_reach_a_real_smtp_server() {
    let m = Mail::new().await;
    let _w = m.worker(&[]);
    let name = "Zoë Ørsted-Ñúñez 日本";
    let zoe = m.person("zoe@example.org", name).await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    let uid = event["uid"].as_str().unwrap();
    m.register(event_id, &zoe).await.expect(201);

    // The invitation (REQUEST).
    let got = m.sink.wait_for(1, WAIT).await;
    let invite = &got[0];
    let (cal, _) = imip_parts(invite);
    let ics = &cal["ics"];
    assert_eq!(ics["method"], "REQUEST");
    assert_eq!(cal["params"]["method"], "REQUEST");
    assert_eq!(ics["prodid"], "-//Launchpad//CoP Events 1.0//EN");
    assert_eq!(ics["version"], "2.0");
    assert_eq!(ics["timezones"], 0);
    let ev = &ics["events"][0];
    assert_eq!(ics["events"].as_array().unwrap().len(), 1);
    assert_eq!(ev["uid"], uid);
    assert_eq!(ev["sequence"], 0);
    assert_eq!(ev["status"], "CONFIRMED");
    assert_eq!(ev["summary"], event["title"]);
    assert_eq!(ev["location"], "Room 4, Building B");
    assert_eq!(ev["url"], "https://meet.example.com/lakehouse?id=42&pw=x");
    let description = ev["description"].as_str().unwrap();
    assert!(
        description
            .starts_with("Bring your questions.\nSecond line, with a comma; and a semicolon.")
    );
    assert!(description.contains("Join: https://meet.example.com/lakehouse?id=42&pw=x"));
    // UTC times, no TZID (so no VTIMEZONE is needed).
    assert_eq!(ev["dtstart_tzid"], Json::Null);
    assert_eq!(time(&ev["dtstart"]), time(&event["starts_at"]));
    assert_eq!(time(&ev["dtend"]), time(&event["ends_at"]));
    assert!(ev["dtstart"].as_str().unwrap().ends_with("+00:00"));
    assert!((Utc::now() - time(&ev["dtstamp"])).num_seconds().abs() < 120);
    assert_eq!(ev["organizer"]["value"], "mailto:no-reply@launchpad.local");
    assert_eq!(ev["organizer"]["params"]["CN"], "Launchpad");
    let att = &ev["attendees"].as_array().unwrap()[..];
    assert_eq!(att.len(), 1);
    assert_eq!(att[0]["value"], "mailto:zoe@example.org");
    assert_eq!(att[0]["params"]["CN"], name);
    assert_eq!(att[0]["params"]["ROLE"], "REQ-PARTICIPANT");
    assert_eq!(att[0]["params"]["PARTSTAT"], "NEEDS-ACTION");
    assert_eq!(att[0]["params"]["RSVP"], "TRUE");

    // Headers: non-ASCII survives, encoded (RFC 2047) on the wire.
    assert_eq!(invite["to"][0]["name"], name);
    assert_eq!(invite["from"][0]["address"], "no-reply@launchpad.local");
    let subject = invite["subject"].as_str().unwrap();
    assert!(
        subject.starts_with(&format!(
            "Invitation: {} — ",
            event["title"].as_str().unwrap()
        )),
        "{subject}"
    );
    assert_eq!(
        invite["headers_ascii"], true,
        "headers are encoded to ASCII"
    );
    assert!(
        invite["raw_subject"].as_str().unwrap().contains("=?utf-8?"),
        "{}",
        invite["raw_subject"]
    );
    let bodies = invite["mime"]["parts"][0]["parts"].as_array().unwrap();
    assert!(
        bodies[0]["content"]
            .as_str()
            .unwrap()
            .contains(&format!("Hello {name},"))
    );
    assert!(
        bodies[1]["content"]
            .as_str()
            .unwrap()
            .contains("Lakehouse Q&amp;A — Ünïcödé")
    );
    // The Message-ID is the one stored before sending.
    let rows = m.rows_to("zoe@example.org").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "sent");
    assert_eq!(invite["message_id"], rows[0].4);
    assert!(
        rows[0].2.as_deref().unwrap().starts_with("250 "),
        "{:?}",
        rows[0].2
    );
    let shown = m.wait_invite(event_id, &zoe, "sent").await;
    assert_eq!(shown["method"], "REQUEST");
    assert!(shown["sent_at"].is_string());

    // Rescheduling sends an update: same UID, higher SEQUENCE, the new time.
    let later = time(&event["starts_at"]) + chrono::Duration::hours(2);
    let r = m
        .h
        .app
        .patch(
            &format!("/api/v1/events/{event_id}"),
            &m.h.admin.access,
            &json!({"starts_at": later.to_rfc3339(), "ends_at": (later + chrono::Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["sequence"], 1);
    let got = m.sink.wait_for(2, WAIT).await;
    let update = &got[1];
    let (cal, _) = imip_parts(update);
    assert_eq!(cal["ics"]["method"], "REQUEST");
    let ev = &cal["ics"]["events"][0];
    assert_eq!(ev["uid"], uid);
    assert_eq!(ev["sequence"], 1);
    assert_eq!(time(&ev["dtstart"]), later);
    assert!(update["subject"].as_str().unwrap().starts_with("Updated: "));
    assert_ne!(update["message_id"], invite["message_id"]);

    // Cancelling sends a CANCEL: same UID, higher SEQUENCE, STATUS:CANCELLED.
    m.h.app
        .post(
            &format!("/api/v1/events/{event_id}/cancel"),
            &m.h.admin.access,
            &json!({}),
        )
        .await
        .expect(200);
    let got = m.sink.wait_for(3, WAIT).await;
    let cancel = &got[2];
    let (cal, _) = imip_parts(cancel);
    assert_eq!(cal["params"]["method"], "CANCEL");
    assert_eq!(cal["ics"]["method"], "CANCEL");
    let ev = &cal["ics"]["events"][0];
    assert_eq!(ev["uid"], uid);
    assert_eq!(ev["sequence"], 2);
    assert_eq!(ev["status"], "CANCELLED");
    assert_eq!(ev["attendees"][0]["value"], "mailto:zoe@example.org");
    assert!(
        cancel["subject"]
            .as_str()
            .unwrap()
            .starts_with("Cancelled: ")
    );
    let shown = eventually(WAIT, "the cancellation to show", || async {
        let i = m.invite_of(event_id, &zoe).await;
        (i["method"] == "CANCEL" && i["state"] == "sent").then_some(i)
    })
    .await;
    assert_eq!(shown["attempts"], 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(m.sink.count(), 3, "one message per change");
}

#[tokio::test]
async fn unregistering_sends_that_attendee_alone_a_cancel() {
    let m = Mail::new().await;
    let _w = m.worker(&[]);
    let ann = m.person("ann@example.org", "Ann").await;
    let bob = m.person("bob@example.org", "Bob").await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    m.register(event_id, &ann).await.expect(201);
    m.register(event_id, &bob).await.expect(201);
    m.sink.wait_for(2, WAIT).await;
    m.h.app
        .delete(
            &format!("/api/v1/events/{event_id}/registrations/{bob}"),
            &m.h.admin.access,
        )
        .await
        .expect(204);
    let got = m.sink.wait_for(3, WAIT).await;
    let bobs = to(&got, "bob@example.org");
    assert_eq!(bobs.len(), 2);
    let (cal, _) = imip_parts(&bobs[1]);
    assert_eq!(cal["ics"]["method"], "CANCEL");
    let ev = &cal["ics"]["events"][0];
    assert_eq!(ev["uid"], event["uid"]);
    assert_eq!(ev["status"], "CANCELLED");
    assert_eq!(ev["attendees"][0]["value"], "mailto:bob@example.org");
    assert!(
        bobs[1]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Registration cancelled: ")
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        to(&m.sink.inspect(), "ann@example.org").len(),
        1,
        "Ann hears nothing more"
    );
}

#[tokio::test]
async fn invite_ics_for_the_caller() {
    let m = Mail::new().await;
    let long = "A long description that needs folding: ".repeat(6) + "ÆØÅ 日本語";
    let event = m.event(json!({"description": long})).await;
    let event_id = event["id"].as_str().unwrap();
    let path = format!("/api/v1/events/{event_id}/invite.ics");

    // Not registered: PUBLISH, no attendee.
    let r = m.h.app.get(&path, &m.h.admin.access).await;
    r.expect(200);
    assert_eq!(r.header("content-type"), Some("text/calendar"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"invite.ics\"")
    );
    let raw = r.text.as_bytes();
    assert!(raw.ends_with(b"END:VCALENDAR\r\n"));
    for line in r.text.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        assert!(!line.contains('\n') && !line.contains('\r'));
    }
    let ics = inspect_ics(raw);
    assert_eq!(ics["method"], "PUBLISH");
    assert!(ics["events"][0]["attendees"].as_array().unwrap().is_empty());
    assert_eq!(ics["events"][0]["uid"], event["uid"]);
    assert!(
        ics["events"][0]["description"]
            .as_str()
            .unwrap()
            .starts_with(&long),
        "folding round-trips"
    );

    // Registered: REQUEST naming the caller.
    m.person("carol@example.org", "Carol Çelik").await;
    let carol =
        m.h.app
            .tokens("carol@example.org", "user-password-1234")
            .await;
    m.h.app
        .post(
            &format!("/api/v1/events/{event_id}/registrations"),
            &carol.access,
            &json!({}),
        )
        .await
        .expect(201);
    let r = m.h.app.get(&path, &carol.access).await;
    r.expect(200);
    let ics = inspect_ics(r.text.as_bytes());
    assert_eq!(ics["method"], "REQUEST");
    let att = &ics["events"][0]["attendees"][0];
    assert_eq!(att["value"], "mailto:carol@example.org");
    assert_eq!(att["params"]["CN"], "Carol Çelik");
    assert_eq!(att["params"]["RSVP"], "TRUE");

    // Another tenant's caller: 404.
    let other = m.h.app.create_customer(&m.h.admin, "other").await;
    let stranger =
        m.h.app
            .user(&m.h.admin, "x@other.example", &["customer_exec"], &[&other])
            .await;
    m.h.app
        .get(&path, &stranger.access)
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn resend_sends_to_every_registrant_again() {
    let m = Mail::new().await;
    let _w = m.worker(&[]);
    let ann = m.person("ann@example.org", "Ann").await;
    let bob = m.person("bob@example.org", "Bob").await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    m.register(event_id, &ann).await.expect(201);
    m.register(event_id, &bob).await.expect(201);
    m.sink.wait_for(2, WAIT).await;

    let path = format!("/api/v1/events/{event_id}/invites");
    let r =
        m.h.app
            .call_with(
                reqwest::Method::POST,
                &path,
                Some(&m.h.admin.access),
                None,
                &[("Idempotency-Key", "resend-1")],
            )
            .await;
    r.expect(202);
    assert_eq!(r.body["kind"], "event_invites");
    let job = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/jobs/{job}").as_str())
    );
    let again =
        m.h.app
            .call_with(
                reqwest::Method::POST,
                &path,
                Some(&m.h.admin.access),
                None,
                &[("Idempotency-Key", "resend-1")],
            )
            .await;
    again.expect(202);
    assert_eq!(again.body["id"], job.as_str(), "same key, same job");
    let done = m.h.wait_status(&job, "succeeded", WAIT).await;
    assert_eq!(done["result"]["queued"], 2);
    assert_eq!(done["result"]["method"], "REQUEST");
    let got = m.sink.wait_for(4, WAIT).await;
    for who in ["ann@example.org", "bob@example.org"] {
        let mine = to(&got, who);
        assert_eq!(mine.len(), 2, "{who}");
        let (a, _) = imip_parts(&mine[0]);
        let (b, _) = imip_parts(&mine[1]);
        assert_eq!(a["ics"]["events"][0]["uid"], b["ics"]["events"][0]["uid"]);
        assert_eq!(b["ics"]["events"][0]["sequence"], 0);
    }
    // Members cannot re-send.
    let ann_tokens =
        m.h.app
            .tokens("ann@example.org", "user-password-1234")
            .await;
    m.h.app
        .post(&path, &ann_tokens.access, &json!(null))
        .await
        .expect_problem(403);
}

#[tokio::test]
async fn a_hard_bounce_fails_the_row_and_suppresses_the_address() {
    let m = Mail::new().await;
    m.sink.refuse(
        "gone@example.org",
        550,
        "5.1.1 <gone@example.org>: Recipient address rejected",
        None,
    );
    let _w = m.worker(&[]);
    let gone = m.person("gone@example.org", "Gone").await;
    let ann = m.person("ann@example.org", "Ann").await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    m.register(event_id, &gone).await.expect(201);
    let shown = m.wait_invite(event_id, &gone, "failed").await;
    assert!(
        shown["detail"].as_str().unwrap().starts_with("550 5.1.1"),
        "{shown}"
    );
    let jobs = m.send_jobs_to("gone@example.org").await;
    let job =
        m.h.wait_status(jobs[0]["id"].as_str().unwrap(), "failed", WAIT)
            .await;
    assert_eq!(job["error"]["code"], "smtp_rejected");
    assert_eq!(job["error"]["retryable"], false);
    assert_eq!(job["attempts"], 1, "a 5xx is not retried");
    let suppressed: Vec<(String, String)> =
        sqlx::query_as("SELECT customer_id::text, address FROM email_suppressions")
            .fetch_all(&m.h.app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        suppressed,
        [(m.customer.clone(), "gone@example.org".to_string())]
    );

    // Later sends respect the suppression list: no job, no SMTP attempt.
    m.register(event_id, &ann).await.expect(201);
    m.sink.wait_for(1, WAIT).await;
    let later = time(&event["starts_at"]) + chrono::Duration::hours(1);
    m.h.app
        .patch(
            &format!("/api/v1/events/{event_id}"),
            &m.h.admin.access,
            &json!({"starts_at": later.to_rfc3339(), "ends_at": (later + chrono::Duration::hours(1)).to_rfc3339()}),
        )
        .await
        .expect(200);
    m.sink.wait_for(2, WAIT).await;
    let shown = m.wait_invite(event_id, &gone, "suppressed").await;
    assert_eq!(shown["detail"], "address_suppressed");
    let rows = m.rows_to("gone@example.org").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].0, "suppressed");
    assert_eq!(rows[1].3, 0, "never attempted");
    assert_eq!(
        m.send_jobs_to("gone@example.org").await.len(),
        1,
        "no job for the suppressed message"
    );
    assert_eq!(to(&m.sink.inspect(), "ann@example.org").len(), 2);
}

#[tokio::test]
async fn a_4xx_is_retried_with_backoff_and_then_succeeds() {
    let m = Mail::new().await;
    m.sink.refuse(
        "grey@example.org",
        451,
        "4.7.1 Greylisted, try again later",
        Some(1),
    );
    let _w = m.worker(&[]);
    let grey = m.person("grey@example.org", "Grey").await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    m.register(event_id, &grey).await.expect(201);

    let job_id = eventually(WAIT, "the send job", || async {
        m.send_jobs_to("grey@example.org")
            .await
            .first()
            .map(|j| j["id"].as_str().unwrap().to_string())
    })
    .await;
    // The first attempt fails transiently: the row is pending again and the job waits.
    let waiting = eventually(WAIT, "a retry to be scheduled", || async {
        let j = m.h.job(&job_id).await;
        (j["error"]["code"] == "smtp_transient").then_some(j)
    })
    .await;
    assert_eq!(waiting["status"], "queued");
    assert_eq!(waiting["error"]["retryable"], true);
    assert!(
        waiting["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("451")
    );
    assert!(time(&waiting["next_attempt_at"]) > Utc::now() - chrono::Duration::seconds(1));
    let rows = m.rows_to("grey@example.org").await;
    assert_eq!(rows[0].0, "pending");
    assert!(rows[0].2.as_deref().unwrap().starts_with("451 4.7.1"));
    assert_eq!(m.invite_of(event_id, &grey).await["state"], "pending");

    // The retry succeeds.
    let done = m.h.wait_status(&job_id, "succeeded", WAIT).await;
    assert_eq!(done["attempts"], 2);
    assert_eq!(done["result"]["status"], "sent");
    let rows = m.rows_to("grey@example.org").await;
    assert_eq!((rows[0].0.as_str(), rows[0].3), ("sent", 2));
    assert_eq!(m.sink.count(), 1);
    assert_eq!(m.wait_invite(event_id, &grey, "sent").await["attempts"], 2);
}

#[tokio::test]
async fn an_unreachable_smtp_server_leaves_rows_pending_and_jobs_retrying() {
    let m = Mail::new().await;
    let port = free_port();
    let _w =
        m.h.worker_with(&[("LAUNCHPAD_SMTP_URL", &format!("smtp://127.0.0.1:{port}"))]);
    let ann = m.person("ann@example.org", "Ann").await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    m.register(event_id, &ann).await.expect(201);
    let job_id = eventually(WAIT, "the send job", || async {
        m.send_jobs_to("ann@example.org")
            .await
            .first()
            .map(|j| j["id"].as_str().unwrap().to_string())
    })
    .await;
    let waiting = eventually(WAIT, "a failed attempt", || async {
        let j = m.h.job(&job_id).await;
        (j["attempts"].as_i64() >= Some(1) && j["status"] == "queued" && j["error"].is_object())
            .then_some(j)
    })
    .await;
    assert_eq!(waiting["error"]["code"], "smtp_transient");
    assert_eq!(waiting["error"]["retryable"], true);
    assert!(waiting["next_attempt_at"].is_string());
    let rows = m.rows_to("ann@example.org").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "pending", "nothing is marked sent");
    assert_eq!(m.invite_of(event_id, &ann).await["state"], "pending");

    // The server comes up on that port: the retry delivers, once.
    let mut sink = SmtpSink::start_on(port, true);
    let done =
        m.h.wait_status(&job_id, "succeeded", Duration::from_secs(60))
            .await;
    assert!(done["attempts"].as_i64().unwrap() >= 2);
    assert_eq!(sink.count(), 1);
    assert_eq!(m.rows_to("ann@example.org").await[0].0, "sent");
    sink.stop();
}

#[tokio::test]
async fn a_worker_killed_between_sends_sends_nobody_twice() {
    let m = Mail::new().await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    let n = 10;
    let mut people = vec![];
    for i in 0..n {
        let address = format!("p{i}@example.org");
        let id = m.person(&address, &format!("Person {i}")).await;
        m.register(event_id, &id).await.expect(201);
        people.push(address);
    }
    // A slow relay (2 messages/s): the worker spends its time waiting for the rate limiter.
    let mut a = m.worker(&[("LAUNCHPAD_SMTP_RATE_PER_SEC", "2")]);
    let pool = m.h.app.db.pool.clone();
    let state = || async {
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'sending') FROM email_outbox",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    // Kill it between two sends: freeze it, and kill it only if no message is
    // in flight (no row `sending`); else let it go on and try again.
    let sent_before = loop {
        let (sent, _) = state().await;
        if sent >= 3 {
            let pid = a.pid().to_string();
            assert!(
                std::process::Command::new("kill")
                    .args(["-STOP", &pid])
                    .status()
                    .unwrap()
                    .success()
            );
            let (sent, sending) = state().await;
            if sending == 0 {
                a.kill();
                break sent;
            }
            assert!(
                std::process::Command::new("kill")
                    .args(["-CONT", &pid])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        sent_before < n as i64,
        "killed before the end ({sent_before} sent)"
    );
    assert_eq!(
        m.sink.count() as i64,
        sent_before,
        "what the server got is what is recorded as sent"
    );

    // Another worker finishes: everyone gets exactly one invitation.
    let _b = m.worker(&[]);
    eventually(
        Duration::from_secs(60),
        "every invitation to be sent",
        || async { (state().await.0 == n as i64).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = m.sink.log();
    assert_eq!(log.len(), n);
    for p in &people {
        assert_eq!(
            log.iter().filter(|(_, _, rcpt)| rcpt == p).count(),
            1,
            "{p} got one message"
        );
    }
    let ids: std::collections::HashSet<&String> = log.iter().map(|(_, id, _)| id).collect();
    assert_eq!(ids.len(), n, "distinct Message-IDs");
}

#[tokio::test]
async fn the_at_least_once_window_resends_with_the_same_message_id() {
    // A worker that died after the server's 250 and before recording `sent`
    // leaves the row `sending`; once its lease expires the row is sent again
    // with the same Message-ID, so receivers can drop the duplicate.
    let m = Mail::new().await;
    let ann = m.person("ann@example.org", "Ann").await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    m.register(event_id, &ann).await.expect(201);
    let w = m.worker(&[]);
    m.sink.wait_for(1, WAIT).await;
    let first = m.wait_invite(event_id, &ann, "sent").await;
    assert_eq!(first["attempts"], 1);
    drop(w);
    // Recreate that crash's state: the row claimed under an expired lease,
    // and its job delivered again.
    sqlx::query("UPDATE email_outbox SET status = 'sending', sent_at = NULL, lease_until = now() - interval '1 second'")
        .execute(&m.h.app.db.pool)
        .await
        .unwrap();
    let outbox_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM email_outbox")
        .fetch_one(&m.h.app.db.pool)
        .await
        .unwrap();
    let mut tx = m.h.app.db.pool.begin().await.unwrap();
    enqueue_one(
        &mut tx,
        NewJob::of::<EmailSend>(&EmailSendPayload { outbox_id }, &EnqueueCtx::default()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let _w = m.worker(&[]);
    m.sink.wait_for(2, WAIT).await;
    let log = m.sink.log();
    assert_eq!(
        log[0].1, log[1].1,
        "the duplicate carries the same Message-ID"
    );
    assert_eq!(m.wait_invite(event_id, &ann, "sent").await["attempts"], 2);
}

#[tokio::test]
async fn header_injection_is_neutralised() {
    let m = Mail::new().await;
    // The API refuses line breaks in names and titles...
    let r = m
        .h
        .app
        .post(
            "/api/v1/users",
            &m.h.admin.access,
            &json!({"email": "x@example.org", "name": "Mallory\r\nBcc: victim@example.com", "password": "user-password-1234",
                    "roles": ["customer_member"], "customer_ids": [m.customer]}),
        )
        .await;
    assert_eq!(r.expect_problem(400)["errors"][0]["pointer"], "/name");
    let r = m
        .h
        .app
        .post(
            &format!("/api/v1/cops/{}/events", m.cop),
            &m.h.admin.access,
            &json!({"title": "Hi\r\nBcc: victim@example.com", "starts_at": "2030-01-01T10:00:00Z",
                    "ends_at": "2030-01-01T11:00:00Z", "time_zone": "UTC", "location": "Here"}),
        )
        .await;
    assert_eq!(r.expect_problem(400)["errors"][0]["pointer"], "/title");
    // ... and data that got in some other way cannot add headers either.
    let mallory = m.person("mallory@example.org", "Mallory").await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    sqlx::query("UPDATE users SET name = $1 WHERE id = $2::uuid")
        .bind("Mallory\r\nBcc: victim@example.com\r\nX-Injected: yes")
        .bind(&mallory)
        .execute(&m.h.app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET title = $1 WHERE id = $2::uuid")
        .bind("Hello\r\nBcc: victim2@example.com\nX-Injected: yes")
        .bind(event_id)
        .execute(&m.h.app.db.pool)
        .await
        .unwrap();
    let _w = m.worker(&[]);
    m.register(event_id, &mallory).await.expect(201);
    let got = m.sink.wait_for(1, WAIT).await;
    let msg = &got[0];
    assert!(msg["bcc"].as_array().unwrap().is_empty(), "{msg}");
    let names: Vec<&str> = msg["header_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(
        !names
            .iter()
            .any(|h| h.eq_ignore_ascii_case("x-injected") || h.eq_ignore_ascii_case("bcc")),
        "{names:?}"
    );
    assert_eq!(msg["subject_count"], 1);
    assert!(
        msg["subject"]
            .as_str()
            .unwrap()
            .starts_with("Invitation: Hello Bcc: victim2@example.com X-Injected: yes")
    );
    assert_eq!(msg["to"].as_array().unwrap().len(), 1);
    assert_eq!(msg["to"][0]["address"], "mallory@example.org");
    assert_eq!(
        msg["to_decoded"],
        "Mallory Bcc: victim@example.com X-Injected: yes <mallory@example.org>"
    );
    assert_eq!(
        m.sink.log()[0].2,
        "mallory@example.org",
        "one envelope recipient"
    );
    let (cal, _) = imip_parts(msg);
    let att = &cal["ics"]["events"][0]["attendees"][0];
    assert_eq!(att["value"], "mailto:mallory@example.org");
    assert_eq!(
        cal["ics"]["events"][0]["summary"],
        "Hello\nBcc: victim2@example.com\nX-Injected: yes"
    );
}

#[tokio::test]
async fn invalid_addresses_are_refused_at_registration_and_missing_ones_skipped() {
    let m = Mail::new().await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    // Accounts are created with valid addresses only.
    let r = m
        .h
        .app
        .post(
            "/api/v1/users",
            &m.h.admin.access,
            &json!({"email": "not-an-address", "name": "Nobody", "password": "user-password-1234",
                    "roles": ["customer_member"], "customer_ids": [m.customer]}),
        )
        .await;
    assert_eq!(r.expect_problem(400)["errors"][0]["pointer"], "/email");
    // An address that became invalid (imported data): registration is a 400 and writes nothing.
    let bad = m.person("bad@example.org", "Bad").await;
    sqlx::query("UPDATE users SET email = 'bad address@@example' WHERE id = $1::uuid")
        .bind(&bad)
        .execute(&m.h.app.db.pool)
        .await
        .unwrap();
    let r = m.register(event_id, &bad).await;
    assert_eq!(r.expect_problem(400)["errors"][0]["pointer"], "/user_id");
    assert_eq!(
        m.h.app
            .count("SELECT count(*) FROM event_registrations")
            .await,
        0
    );
    assert_eq!(
        m.h.app
            .count("SELECT count(*) FROM jobs WHERE kind = 'event_invites'")
            .await,
        0,
        "rolled back with the registration"
    );
    // No address at all: registered; the invitation is recorded as skipped.
    let none = m.person("none@example.org", "No Address").await;
    sqlx::query("UPDATE users SET email = '' WHERE id = $1::uuid")
        .bind(&none)
        .execute(&m.h.app.db.pool)
        .await
        .unwrap();
    let _w = m.worker(&[]);
    m.register(event_id, &none).await.expect(201);
    let shown = m.wait_invite(event_id, &none, "suppressed").await;
    assert_eq!(shown["detail"], "no_address");
    assert_eq!(
        m.h.app
            .count("SELECT count(*) FROM jobs WHERE kind = 'email_send'")
            .await,
        0
    );
    assert_eq!(m.sink.count(), 0);
}

#[tokio::test]
async fn worker_processes_share_the_relay_rate() {
    let m = Mail::new().await;
    let event = m.event(json!({})).await;
    let event_id = event["id"].as_str().unwrap();
    let n = 30;
    let mut people = vec![];
    for i in 0..n {
        people.push(
            m.person(&format!("share{i}@example.org"), &format!("Person {i}"))
                .await,
        );
    }
    // Two processes, one relay of 10 messages/s: 5/s each once they see
    // each other (they count the live email_send workers every heartbeat).
    let rate = [("LAUNCHPAD_SMTP_RATE_PER_SEC", "10")];
    let _a = m.worker(&rate);
    let _b = m.worker(&rate);
    let pool = m.h.app.db.pool.clone();
    eventually(
        Duration::from_secs(30),
        "both workers to be registered",
        || async {
            let live: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM job_workers
                 WHERE 'email_send' = ANY (kinds) AND last_seen > now() - interval '3 seconds'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (live == 2).then_some(())
        },
    )
    .await;
    // One more heartbeat for both to have counted.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for p in &people {
        m.register(event_id, p).await.expect(201);
    }
    eventually(WAIT, "every invitation to arrive", || async {
        (m.sink.count() >= n).then_some(())
    })
    .await;
    let mut times: Vec<f64> = m.sink.log().into_iter().map(|(t, _, _)| t).collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(times.len(), n);
    // The relay's rate holds for the two together: no one-second window
    // carries more than 1.1 × 10 plus each process's burst of one.
    let busiest = times
        .iter()
        .map(|&t0| times.iter().filter(|&&t| t >= t0 && t < t0 + 1.0).count())
        .max()
        .unwrap();
    assert!(
        busiest <= 13,
        "{busiest} messages in one second from two processes sharing 10/s: {times:?}"
    );
}

/// The demo seed's invitations (`scripts/run.sh`'s first start) reach the
/// SMTP server once a worker runs: one per registrant of an upcoming event.
#[tokio::test]
async fn the_demo_seeds_invitations_are_sent_when_the_worker_runs() {
    let h = Harness::new().await;
    let sink = SmtpSink::start();
    launchpad_domain::demo::seed(&h.app.db.pool).await.unwrap();
    let registrants = h
        .app
        .count(
            "SELECT count(*) FROM event_registrations r JOIN events e ON e.id = r.event_id
             WHERE e.starts_at > now()",
        )
        .await;
    assert!(registrants > 0);
    let url = sink.url();
    let _w = h.worker_with(&[("LAUNCHPAD_SMTP_URL", url.as_str())]);
    // The demo's completions also issue certificates, mailed too: only the
    // invitations are counted here.
    eventually(WAIT, "every invitation to be sent", || async {
        let sent = h
            .app
            .count("SELECT count(*) FROM email_outbox WHERE status = 'sent' AND template <> 'certificate_issued'")
            .await;
        (sent == registrants).then_some(())
    })
    .await;
    let invitations = sink
        .inspect()
        .into_iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| !s.starts_with("Your certificate: "))
        })
        .count();
    assert_eq!(invitations as i64, registrants);
}
