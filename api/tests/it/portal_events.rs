//! Events, registrations and attendance.

use serde_json::Value;
use test_support::app::json;

use crate::portal_common::{at, event_body, expect_field, id, ids, portal};

#[tokio::test]
async fn event_create_get_list_update_cancel_and_sequence() {
    let p = portal().await;
    let app = &p.app;
    let exec = &p.exec.access;
    let events = format!("/api/v1/cops/{}/events", p.cop);

    let r = app
        .post(&events, &p.lead.access, &event_body(48, Some(30)))
        .await;
    r.expect(201);
    let e = id(&r.body);
    assert_eq!(r.body["type"], "training");
    assert_eq!(r.body["status"], "scheduled");
    assert_eq!(r.body["sequence"], 0);
    assert_eq!(r.body["uid"], format!("{e}@launchpad"));
    assert_eq!(r.body["time_zone"], "Europe/Paris");
    assert_eq!(r.body["speakers"], json!(["Ana Silva"]));
    assert_eq!(r.body["registered_count"], 0);
    let path = format!("/api/v1/events/{e}");
    assert_eq!(
        app.get(&path, &p.outsider.access).await.body["title"],
        "Lakehouse basics"
    );

    // Range and type filters.
    let mut office = event_body(24 * 10, None);
    office["type"] = json!("office_hours");
    let later = id(&app.post(&events, exec, &office).await.body);
    let past = id(&app.post(&events, exec, &event_body(-24, None)).await.body);
    let all = app.get(&events, &p.member.access).await;
    assert_eq!(
        ids(&all.body),
        vec![past.clone(), e.clone(), later.clone()],
        "by start time"
    );
    let window = app
        .get(&format!("{events}?from={}&to={}", at(0), at(24 * 5)), exec)
        .await;
    assert_eq!(ids(&window.body), vec![e.clone()]);
    let typed = app.get(&format!("{events}?type=office_hours"), exec).await;
    assert_eq!(ids(&typed.body), vec![later.clone()]);
    let page = app.get(&format!("{events}?limit=2"), exec).await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&app
            .get(&format!("{events}?limit=2&cursor={cursor}"), exec)
            .await
            .body),
        vec![later]
    );
    expect_field(
        &app.get(&format!("{events}?from={}&to={}", at(5), at(1)), exec)
            .await,
        "/to",
    );

    // Only time, place and status changes bump the sequence.
    let sequence = |v: &Value| v["sequence"].as_i64().unwrap();
    let r = app
        .patch(
            &path,
            exec,
            &json!({"title": "Lakehouse 101", "agenda": "Intro"}),
        )
        .await;
    r.expect(200);
    assert_eq!(sequence(&r.body), 0);
    assert_eq!(r.body["agenda"], "Intro");
    let r = app
        .patch(
            &path,
            exec,
            &json!({"starts_at": at(49), "ends_at": at(51)}),
        )
        .await;
    assert_eq!(sequence(&r.body), 1);
    let r = app
        .patch(
            &path,
            exec,
            &json!({"location": "Room 4", "join_url": null}),
        )
        .await;
    assert_eq!(sequence(&r.body), 2);
    assert!(r.body.get("join_url").is_none());
    let r = app
        .patch(&path, exec, &json!({"time_zone": "America/New_York"}))
        .await;
    assert_eq!(sequence(&r.body), 3);
    let r = app
        .patch(
            &path,
            exec,
            &json!({"location": "Room 4", "capacity": null}),
        )
        .await;
    assert_eq!(sequence(&r.body), 3, "same place: no bump");
    assert!(r.body.get("capacity").is_none());

    let r = app
        .post(&format!("{path}/cancel"), &p.sponsor.access, &json!({}))
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(sequence(&r.body), 4);
    assert!(r.body["cancelled_at"].is_string());
    assert_eq!(
        app.post(&format!("{path}/cancel"), exec, &json!({}))
            .await
            .expect_problem(409)["code"],
        "event_cancelled"
    );
    app.patch(&path, exec, &json!({"title": "Back"}))
        .await
        .expect_problem(409);
    assert_eq!(
        app.get(&path, exec).await.body["uid"],
        format!("{e}@launchpad"),
        "the UID never changes"
    );
    let cancelled = app.get(&format!("{events}?status=cancelled"), exec).await;
    assert_eq!(ids(&cancelled.body), vec![e]);
}

#[tokio::test]
async fn bad_event_input_names_the_field_and_writes_nothing() {
    let p = portal().await;
    let app = &p.app;
    let events = format!("/api/v1/cops/{}/events", p.cop);
    let exec = &p.exec.access;

    let mut b = event_body(24, None);
    b["ends_at"] = b["starts_at"].clone();
    expect_field(&app.post(&events, exec, &b).await, "/ends_at");
    let mut b = event_body(24, None);
    b["ends_at"] = json!(at(23));
    expect_field(&app.post(&events, exec, &b).await, "/ends_at");
    let mut b = event_body(24, None);
    b["time_zone"] = json!("Mars/Olympus_Mons");
    expect_field(&app.post(&events, exec, &b).await, "/time_zone");
    let mut b = event_body(24, None);
    b.as_object_mut().unwrap().remove("join_url");
    expect_field(&app.post(&events, exec, &b).await, "/location");
    let mut b = event_body(24, Some(0));
    b["join_url"] = json!("ftp://x");
    let r = app.post(&events, exec, &b).await;
    expect_field(&r, "/capacity");
    expect_field(&r, "/join_url");
    let mut b = event_body(24, None);
    b["type"] = json!("party");
    expect_field(&app.post(&events, exec, &b).await, "/type");
    let mut b = event_body(24, None);
    b["starts_at"] = json!("tomorrow");
    expect_field(&app.post(&events, exec, &b).await, "/starts_at");
    assert_eq!(p.count("SELECT count(*) FROM events").await, 0);

    let e = p.event(24, None).await;
    let path = format!("/api/v1/events/{e}");
    expect_field(
        &app.patch(&path, exec, &json!({"ends_at": at(20)})).await,
        "/ends_at",
    );
    expect_field(
        &app.patch(&path, exec, &json!({"starts_at": at(30)})).await,
        "/starts_at",
    );
    expect_field(
        &app.patch(&path, exec, &json!({"time_zone": "Nowhere"}))
            .await,
        "/time_zone",
    );
    expect_field(
        &app.patch(&path, exec, &json!({"join_url": null})).await,
        "/location",
    );
    let unchanged = app.get(&path, exec).await;
    assert_eq!(unchanged.body["sequence"], 0);
    assert_eq!(unchanged.body["time_zone"], "Europe/Paris");
}

#[tokio::test]
async fn registrations_self_member_duplicate_capacity_and_unregister() {
    let p = portal().await;
    let app = &p.app;
    let e = p.event(24, Some(3)).await;
    let regs = format!("/api/v1/events/{e}/registrations");

    let r = app.post(&regs, &p.member.access, &json!({})).await;
    r.expect(201);
    assert_eq!(r.body["user_id"], p.member.user_id.as_str());
    assert_eq!(r.body["email"], "member@acme.test");
    let dup = app.post(&regs, &p.member.access, &json!({})).await;
    assert_eq!(dup.expect_problem(409)["code"], "already_registered");
    // Managers register members; non-members cannot register, nor be registered.
    app.post(
        &regs,
        &p.lead.access,
        &json!({"user_id": p.champion.user_id}),
    )
    .await
    .expect(201);
    app.post(&regs, &p.outsider.access, &json!({}))
        .await
        .expect_problem(403);
    app.post(&regs, &p.exec.access, &json!({}))
        .await
        .expect_problem(403);
    expect_field(
        &app.post(
            &regs,
            &p.exec.access,
            &json!({"user_id": p.outsider.user_id}),
        )
        .await,
        "/user_id",
    );
    app.post(
        &regs,
        &p.member.access,
        &json!({"user_id": p.sponsor.user_id}),
    )
    .await
    .expect_problem(403);
    app.post(&regs, &p.sponsor.access, &json!({}))
        .await
        .expect(201);
    let full = app.post(&regs, &p.lead.access, &json!({})).await;
    assert_eq!(full.expect_problem(409)["code"], "event_full");
    assert_eq!(
        app.get(&format!("/api/v1/events/{e}"), &p.exec.access)
            .await
            .body["registered_count"],
        3
    );

    let list = app.get(&regs, &p.outsider.access).await;
    let users: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        users,
        [
            p.member.user_id.as_str(),
            p.champion.user_id.as_str(),
            p.sponsor.user_id.as_str()
        ]
    );
    assert_eq!(
        list.body["items"][1]["registered_by"],
        p.lead.user_id.as_str()
    );

    // The capacity cannot drop below the registrations.
    let r = app
        .patch(
            &format!("/api/v1/events/{e}"),
            &p.exec.access,
            &json!({"capacity": 2}),
        )
        .await;
    assert_eq!(
        r.expect_problem(409)["code"],
        "capacity_below_registrations"
    );

    // Unregister: oneself, or anyone as a manager.
    app.delete(&format!("{regs}/{}", p.sponsor.user_id), &p.member.access)
        .await
        .expect_problem(403);
    app.delete(&format!("{regs}/{}", p.member.user_id), &p.member.access)
        .await
        .expect(204);
    app.delete(&format!("{regs}/{}", p.champion.user_id), &p.lead.access)
        .await
        .expect(204);
    app.delete(&format!("{regs}/{}", p.champion.user_id), &p.lead.access)
        .await
        .expect_problem(404);
    app.post(&regs, &p.lead.access, &json!({}))
        .await
        .expect(201);
    assert_eq!(p.count("SELECT count(*) FROM event_registrations").await, 2);

    // Cancelled and past events take no registrations.
    app.post(
        &format!("/api/v1/events/{e}/cancel"),
        &p.exec.access,
        &json!({}),
    )
    .await
    .expect(200);
    assert_eq!(
        app.post(&regs, &p.member.access, &json!({}))
            .await
            .expect_problem(409)["code"],
        "event_cancelled"
    );
    let past = p.event(-3, None).await;
    let r = app
        .post(
            &format!("/api/v1/events/{past}/registrations"),
            &p.member.access,
            &json!({}),
        )
        .await;
    assert_eq!(r.expect_problem(409)["code"], "event_ended");
}

#[tokio::test]
async fn capacity_holds_under_concurrent_registrations() {
    let p = portal().await;
    let e = p.event(24, Some(3)).await;
    let mut people = Vec::new();
    for i in 0..10 {
        people.push(p.new_member(&format!("m{i}@acme.test")).await);
    }
    let regs = format!("/api/v1/events/{e}/registrations");
    let empty = json!({});
    let results =
        futures::future::join_all(people.iter().map(|t| p.app.post(&regs, &t.access, &empty)))
            .await;
    let created = results.iter().filter(|r| r.status == 201).count();
    let full = results
        .iter()
        .filter(|r| r.status == 409 && r.body["code"] == "event_full")
        .count();
    assert_eq!(
        (created, full),
        (3, 7),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(p.count("SELECT count(*) FROM event_registrations").await, 3);
}

#[tokio::test]
async fn attendance_import_is_idempotent_and_reports_skipped_rows() {
    let p = portal().await;
    let app = &p.app;
    let e = p.event(-2, None).await;
    let path = format!("/api/v1/events/{e}/attendance");
    let rows = json!({"rows": [
        {"email": "MEMBER@acme.test", "joined_at": at(-2), "left_at": at(-1)},
        {"user_id": p.lead.user_id, "joined_at": at(-2)},
        {"email": "nobody@acme.test", "joined_at": at(-2)},
        {"user_id": p.other_exec.user_id, "joined_at": at(-2)},
        {"email": "outsider@acme.test", "joined_at": at(-2)},
        // The lead left and came back: one row, earliest join, latest leave.
        {"user_id": p.lead.user_id, "joined_at": at(-3), "left_at": at(-1)},
    ]});
    let r = app.post(&path, &p.lead.access, &rows).await;
    r.expect(200);
    assert_eq!(r.body["rows"], 6);
    assert_eq!(r.body["imported"], 3);
    let skipped = r.body["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{}", r.text);
    assert_eq!(skipped[0]["row"], 2);
    assert_eq!(skipped[0]["email"], "nobody@acme.test");
    assert_eq!(
        skipped[0]["reason"],
        "no user of this customer has this email"
    );
    assert_eq!(skipped[1]["row"], 3);
    assert_eq!(skipped[1]["user_id"], p.other_exec.user_id.as_str());

    let snapshot = || async {
        sqlx::query_as::<_, (String, String, Option<String>)>(
            "SELECT user_id::text, joined_at::text, left_at::text FROM event_attendance ORDER BY user_id",
        )
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
    };
    let first = snapshot().await;
    assert_eq!(first.len(), 3);
    let lead_row = first.iter().find(|r| r.0 == p.lead.user_id).unwrap();
    assert!(lead_row.2.is_some(), "merged rows keep the latest leave");

    // Re-importing the same file changes nothing.
    let again = app.post(&path, &p.exec.access, &rows).await;
    again.expect(200);
    assert_eq!(again.body["imported"], 3);
    assert_eq!(snapshot().await, first);
    assert_eq!(
        app.get(&format!("/api/v1/events/{e}"), &p.exec.access)
            .await
            .body["attended_count"],
        3
    );

    // A corrected file overwrites the times.
    let fixed =
        json!({"rows": [{"email": "member@acme.test", "joined_at": at(-2), "left_at": at(-2)}]});
    app.post(&path, &p.exec.access, &fixed).await.expect(200);
    assert_eq!(p.count("SELECT count(*) FROM event_attendance").await, 3);
    assert_eq!(
        p.count("SELECT count(*) FROM event_attendance WHERE left_at = joined_at")
            .await,
        1
    );

    let list = app.get(&format!("{path}?limit=2"), &p.member.access).await;
    list.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        list.body["items"][0]["user_id"],
        p.lead.user_id.as_str(),
        "in joining order"
    );

    // Members may not import.
    app.post(&path, &p.member.access, &fixed)
        .await
        .expect_problem(403);
}

#[tokio::test]
async fn attendance_rejects_bad_files_whole() {
    let p = portal().await;
    let app = &p.app;
    let e = p.event(-2, None).await;
    let path = format!("/api/v1/events/{e}/attendance");

    let row = json!({"email": "member@acme.test", "joined_at": at(-2)});
    let too_many = json!({"rows": vec![row.clone(); 5001]});
    let r = app.post(&path, &p.exec.access, &too_many).await;
    expect_field(&r, "/rows");
    assert!(
        r.body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("5000")
    );
    assert_eq!(
        p.count("SELECT count(*) FROM event_attendance").await,
        0,
        "the 5001-row file wrote nothing"
    );
    let max = json!({"rows": vec![row.clone(); 5000]});
    let r = app.post(&path, &p.exec.access, &max).await;
    r.expect(200);
    assert_eq!(r.body["imported"], 1);
    sqlx::query("DELETE FROM event_attendance")
        .execute(&app.db.pool)
        .await
        .unwrap();

    let bad = json!({"rows": [
        row,
        {"email": "lead@acme.test", "joined_at": at(-1), "left_at": at(-2)},
        {"joined_at": at(-2)},
        {"email": "not-an-email", "joined_at": at(-2)},
        {"email": "lead@acme.test", "user_id": p.lead.user_id, "joined_at": at(-2)},
    ]});
    let r = app.post(&path, &p.exec.access, &bad).await;
    r.expect_problem(400);
    assert_eq!(
        r.pointers(),
        [
            "/rows/1/left_at",
            "/rows/2/user_id",
            "/rows/3/email",
            "/rows/4/email"
        ]
    );
    let r = app
        .post(
            &path,
            &p.exec.access,
            &json!({"rows": [{"email": "lead@acme.test", "joined_at": "yesterday"}]}),
        )
        .await;
    expect_field(&r, "/rows/0/joined_at");
    expect_field(
        &app.post(&path, &p.exec.access, &json!({"rows": []})).await,
        "/rows",
    );
    assert_eq!(
        p.count("SELECT count(*) FROM event_attendance").await,
        0,
        "nothing half-written"
    );
}

#[tokio::test]
async fn events_of_other_tenants_answer_404_and_stay_unchanged() {
    let p = portal().await;
    let app = &p.app;
    let e = p.event(24, None).await;
    p.app
        .post(
            &format!("/api/v1/events/{e}/registrations"),
            &p.member.access,
            &json!({}),
        )
        .await
        .expect(201);
    let t = &p.other_exec.access;
    let path = format!("/api/v1/events/{e}");
    assert_eq!(
        app.get(&path, t).await.expect_problem(404)["detail"],
        "event not found"
    );
    app.patch(&path, t, &json!({"title": "Hacked"}))
        .await
        .expect_problem(404);
    app.post(&format!("{path}/cancel"), t, &json!({}))
        .await
        .expect_problem(404);
    app.get(&format!("/api/v1/cops/{}/events", p.cop), t)
        .await
        .expect_problem(404);
    app.post(
        &format!("/api/v1/cops/{}/events", p.cop),
        t,
        &event_body(24, None),
    )
    .await
    .expect_problem(404);
    app.get(&format!("{path}/registrations"), t)
        .await
        .expect_problem(404);
    app.post(&format!("{path}/registrations"), t, &json!({}))
        .await
        .expect_problem(404);
    app.delete(&format!("{path}/registrations/{}", p.member.user_id), t)
        .await
        .expect_problem(404);
    app.get(&format!("{path}/attendance"), t)
        .await
        .expect_problem(404);
    let rows = json!({"rows": [{"email": "exec@globex.test", "joined_at": at(-1)}]});
    app.post(&format!("{path}/attendance"), t, &rows)
        .await
        .expect_problem(404);
    // And the other way round.
    let theirs = p.other_event().await;
    app.get(&format!("/api/v1/events/{theirs}"), &p.exec.access)
        .await
        .expect_problem(404);

    let g = app.get(&path, &p.exec.access).await;
    assert_eq!(g.body["title"], "Lakehouse basics");
    assert_eq!(g.body["status"], "scheduled");
    assert_eq!(g.body["sequence"], 0);
    assert_eq!(g.body["registered_count"], 1);
    assert_eq!(p.count("SELECT count(*) FROM event_attendance").await, 0);
    assert_eq!(p.count("SELECT count(*) FROM events").await, 2);
}
