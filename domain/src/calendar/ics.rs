//! One event as an iCalendar object, for iTIP `REQUEST` (invitations and
//! updates), `CANCEL` (cancellations, and an attendee removed) and `PUBLISH`
//! (a download for someone who is not an attendee).
//!
//! Shape: `PRODID` (ours), `VERSION:2.0`, `CALSCALE:GREGORIAN`, `METHOD`;
//! one `VEVENT` with a `UID` stable for the event's life, `SEQUENCE` = the
//! event's sequence, `DTSTAMP`, `DTSTART`/`DTEND` in UTC (`Z`, so no
//! `VTIMEZONE` is needed), `SUMMARY`, `DESCRIPTION` (with the join URL),
//! `LOCATION`, `URL`, `STATUS` (`CONFIRMED` or `CANCELLED`), `ORGANIZER` and
//! (except for `PUBLISH`) the recipient as `ATTENDEE`, both `mailto:` with
//! `CN`. Lines end in CRLF and are folded at 75 octets; TEXT values are
//! escaped by `icalendar` (`\\ \; \, \n`); we normalise CR/LF to LF first
//! and strip characters that parameter values cannot carry.

use chrono::{DateTime, Utc};
use icalendar::{Attendee, Calendar, Component, EventLike, EventStatus, PartStat, Property, Role};

/// Our product identifier (`PRODID`).
pub const PRODID: &str = "-//Launchpad//CoP Events 1.0//EN";

/// The iTIP method, at calendar level and in the MIME `method=` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Request,
    Cancel,
    Publish,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
            Method::Publish => "PUBLISH",
        }
    }
}

/// A calendar user: an organizer or an attendee.
#[derive(Debug, Clone, Copy)]
pub struct Party<'a> {
    pub name: Option<&'a str>,
    pub email: &'a str,
}

/// What the calendar object says about the event.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub uid: &'a str,
    pub sequence: u32,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub location: Option<&'a str>,
    pub join_url: Option<&'a str>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Renders the calendar object. `attendee` is ignored for `PUBLISH`.
pub fn render(
    method: Method,
    event: &EventFacts<'_>,
    organizer: &Party<'_>,
    attendee: Option<&Party<'_>>,
    dtstamp: DateTime<Utc>,
) -> String {
    let mut vevent = icalendar::Event::new();
    vevent
        .uid(event.uid)
        .sequence(event.sequence)
        .timestamp(dtstamp)
        .starts(event.starts_at)
        .ends(event.ends_at)
        .summary(&text(event.title))
        .status(if method == Method::Cancel {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        });
    if let Some(d) = description(event) {
        vevent.description(&d);
    }
    if let Some(l) = event.location.or(event.join_url) {
        vevent.location(&text(l));
    }
    if let Some(u) = event.join_url {
        vevent.url(u);
    }
    vevent.append_property(cal_address("ORGANIZER", organizer));
    if method != Method::Publish
        && let Some(a) = attendee
    {
        vevent.attendee(attendee_of(method, a));
    }

    let mut cal = Calendar::empty();
    cal.append_property(Property::new("PRODID", PRODID))
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", method.as_str()))
        .push(vevent.done());
    cal.done().to_string()
}

/// The recipient as `ATTENDEE`: `mailto:` with `CN`, `ROLE=REQ-PARTICIPANT`,
/// `PARTSTAT=NEEDS-ACTION` and `RSVP` (true for a `REQUEST`).
fn attendee_of(method: Method, a: &Party<'_>) -> Attendee {
    let mut att = Attendee::new(mailto(a.email))
        .role(Role::ReqParticipant)
        .partstat(PartStat::NeedsAction)
        .rsvp(method == Method::Request);
    if let Some(cn) = a.name.map(param_value).filter(|n| !n.is_empty()) {
        att = att.cn(cn);
    }
    att
}

/// Adds `attendee` to a calendar object [`render`]ed without one, so that
/// one rendering serves every recipient of a fan-out: the result is exactly
/// what `render` with that attendee gives (the `ATTENDEE` property is the
/// event's last, folded the same way). `PUBLISH` objects and text that is
/// not one of our objects are returned as they are.
pub fn with_attendee(ics: &str, attendee: &Party<'_>) -> String {
    let method = if ics.contains("\r\nMETHOD:REQUEST\r\n") {
        Method::Request
    } else if ics.contains("\r\nMETHOD:CANCEL\r\n") {
        Method::Cancel
    } else {
        return ics.to_string();
    };
    let Some(end) = ics.rfind("END:VEVENT\r\n") else {
        return ics.to_string();
    };
    // The property as `icalendar` writes (and folds) it, taken from an
    // event holding nothing else (which it gives a DTSTAMP and a UID).
    let mut alone = icalendar::Event::new();
    alone.attendee(attendee_of(method, attendee));
    let alone = alone.done().to_string();
    let line = alone
        .find("\r\nATTENDEE")
        .and_then(|from| {
            let to = alone.rfind("END:VEVENT")?;
            alone.get(from + 2..to)
        })
        .unwrap_or_default();
    let mut out = String::with_capacity(ics.len() + line.len());
    out.push_str(&ics[..end]);
    out.push_str(line);
    out.push_str(&ics[end..]);
    out
}

/// The description attendees read: the event's text, then the join URL.
fn description(event: &EventFacts<'_>) -> Option<String> {
    let mut parts = vec![];
    if let Some(d) = event.description.map(text).filter(|d| !d.trim().is_empty()) {
        parts.push(d);
    }
    if let Some(u) = event.join_url {
        parts.push(format!("Join: {u}"));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

fn mailto(email: &str) -> String {
    format!("mailto:{email}")
}

fn cal_address(key: &str, party: &Party<'_>) -> Property {
    let mut p = Property::new(key, mailto(party.email));
    if let Some(cn) = party.name.map(param_value).filter(|n| !n.is_empty()) {
        p.add_parameter("CN", &cn);
    }
    p.done()
}

/// A TEXT value: CR LF and lone CR become LF (which `icalendar` escapes as
/// `\n`); other control characters are dropped.
fn text(s: &str) -> String {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// A parameter value (CN): one line, no DQUOTE (RFC 5545 forbids it even
/// in quoted values); `icalendar` quotes values containing `:`, `;` or `,`.
fn param_value(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| {
            if c.is_control() {
                ' '
            } else if c == '"' {
                '\''
            } else {
                c
            }
        })
        .collect();
    one_line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn facts() -> EventFacts<'static> {
        EventFacts {
            uid: "0190c3f0-0000-7000-8000-000000000001@launchpad",
            sequence: 3,
            title: "Lakehouse office hours; Q&A, part 1",
            description: Some("Line one\r\nLine two, with a comma; and a semicolon \\ backslash"),
            location: Some("Room 4, Building B"),
            join_url: Some("https://meet.example.com/lakehouse?id=42"),
            starts_at: Utc.with_ymd_and_hms(2026, 12, 3, 15, 0, 0).unwrap(),
            ends_at: Utc.with_ymd_and_hms(2026, 12, 3, 16, 0, 0).unwrap(),
        }
    }

    fn organizer() -> Party<'static> {
        Party {
            name: Some("Launchpad, Events"),
            email: "events@launchpad.example",
        }
    }

    /// RFC 5545 §3.1: unfold by removing CRLF followed by one space or tab.
    fn unfold(s: &str) -> String {
        s.replace("\r\n ", "").replace("\r\n\t", "")
    }

    #[test]
    fn request_has_every_field() {
        let att = Party {
            name: Some("Zoë \"Zed\" Ørsted\r\nBcc: evil@example.com"),
            email: "zoe@example.org",
        };
        let stamp = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        let ics = render(Method::Request, &facts(), &organizer(), Some(&att), stamp);
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        let u = unfold(&ics);
        for line in [
            "PRODID:-//Launchpad//CoP Events 1.0//EN",
            "VERSION:2.0",
            "METHOD:REQUEST",
            "UID:0190c3f0-0000-7000-8000-000000000001@launchpad",
            "SEQUENCE:3",
            "DTSTAMP:20261121T100000Z",
            "DTSTART:20261203T150000Z",
            "DTEND:20261203T160000Z",
            "STATUS:CONFIRMED",
            r"SUMMARY:Lakehouse office hours\; Q&A\, part 1",
            r"LOCATION:Room 4\, Building B",
            "URL:https://meet.example.com/lakehouse?id=42",
            r"DESCRIPTION:Line one\nLine two\, with a comma\; and a semicolon \\ backslash\n\nJoin: https://meet.example.com/lakehouse?id=42",
            "ORGANIZER;CN=\"Launchpad, Events\":mailto:events@launchpad.example",
        ] {
            assert!(
                u.lines().any(|l| l.trim_end_matches('\r') == line),
                "missing {line:?} in\n{u}"
            );
        }
        let attendee = u
            .lines()
            .find(|l| l.starts_with("ATTENDEE"))
            .expect("an attendee");
        for part in [
            "ROLE=REQ-PARTICIPANT",
            "PARTSTAT=NEEDS-ACTION",
            "RSVP=TRUE",
            "CN=\"Zoë 'Zed' Ørsted Bcc: evil@example.com\"",
            ":mailto:zoe@example.org",
        ] {
            assert!(attendee.contains(part), "{part:?} not in {attendee:?}");
        }
        // The name's CR LF did not start a new property.
        assert!(
            !u.lines()
                .any(|l| l.starts_with("Bcc") || l.starts_with(" evil"))
        );
    }

    #[test]
    fn lines_are_crlf_and_folded_at_75_octets() {
        let long = "x".repeat(50) + &"é".repeat(80) + &"y".repeat(30);
        let f = EventFacts {
            title: &long,
            description: Some(&long),
            ..facts()
        };
        let ics = render(Method::Request, &f, &organizer(), None, Utc::now());
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
            assert!(!line.contains('\r') && !line.contains('\n'));
        }
        assert!(
            ics.split("\r\n").any(|l| l.starts_with(' ')),
            "long lines are folded"
        );
        // Unfolding restores the value; folding never splits a UTF-8 character.
        assert!(unfold(&ics).contains(&format!("SUMMARY:{long}")));
    }

    #[test]
    fn cancel_and_publish() {
        let att = Party {
            name: None,
            email: "ann@example.org",
        };
        let cancel = unfold(&render(
            Method::Cancel,
            &facts(),
            &organizer(),
            Some(&att),
            Utc::now(),
        ));
        assert!(cancel.contains("METHOD:CANCEL\r\n"));
        assert!(cancel.contains("STATUS:CANCELLED\r\n"));
        assert!(cancel.contains("RSVP=FALSE"));
        assert!(cancel.contains(":mailto:ann@example.org\r\n"));
        let publish = render(
            Method::Publish,
            &facts(),
            &organizer(),
            Some(&att),
            Utc::now(),
        );
        assert!(publish.contains("METHOD:PUBLISH\r\n"));
        assert!(!publish.contains("ATTENDEE"));
    }

    #[test]
    fn an_attendee_added_later_is_what_render_gives() {
        let stamp = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        let long = "Zoë ".repeat(30);
        for method in [Method::Request, Method::Cancel] {
            for att in [
                Party {
                    name: Some("Zoë \"Zed\" Ørsted, PhD\r\nBcc: evil@example.com"),
                    email: "zoe@example.org",
                },
                Party {
                    name: None,
                    email: "ann@example.org",
                },
                Party {
                    name: Some(&long),
                    email: "a-very-long-address-for-folding@subdomain.example.org",
                },
            ] {
                let shared = render(method, &facts(), &organizer(), None, stamp);
                assert!(!shared.contains("ATTENDEE"));
                assert_eq!(
                    with_attendee(&shared, &att),
                    render(method, &facts(), &organizer(), Some(&att), stamp),
                    "{method:?} {att:?}"
                );
            }
        }
        let publish = render(Method::Publish, &facts(), &organizer(), None, stamp);
        let att = Party {
            name: None,
            email: "ann@example.org",
        };
        assert_eq!(with_attendee(&publish, &att), publish);
    }

    #[test]
    fn the_uid_is_what_we_give() {
        let a = render(Method::Request, &facts(), &organizer(), None, Utc::now());
        let b = render(Method::Cancel, &facts(), &organizer(), None, Utc::now());
        let uid = |s: &str| s.lines().find(|l| l.starts_with("UID:")).map(String::from);
        assert_eq!(uid(&a), uid(&b));
        assert_eq!(
            uid(&a).as_deref(),
            Some("UID:0190c3f0-0000-7000-8000-000000000001@launchpad")
        );
    }
}
