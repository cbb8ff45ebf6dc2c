#!/usr/bin/env python3
"""Describes e-mail messages and iCalendar objects as JSON, with parsers
that are not ours: Python's `email` package (policy.default: RFC 2047
header decoding, MIME tree) and PyPI `icalendar` (`Calendar.from_ical`).

    python3 test-support/inspect_mail.py FILE...       # raw messages
    python3 test-support/inspect_mail.py --ics FILE    # one .ics file

Prints one JSON document: a list of messages, or one calendar.
"""

import email
import email.policy
import hashlib
import json
import re
from email.header import decode_header, make_header
from html.parser import HTMLParser
import sys
from urllib.parse import parse_qs, urlsplit

from icalendar import Calendar


def prop(component, name):
    v = component.get(name)
    if v is None:
        return None
    if hasattr(v, "dt"):
        return v.dt.isoformat()
    return str(v)


def cal_address(v):
    return {"value": str(v), "params": {k: str(p) for k, p in v.params.items()}}


def describe_ics(raw: bytes):
    cal = Calendar.from_ical(raw)
    events = []
    for ev in cal.walk("VEVENT"):
        attendees = ev.get("ATTENDEE")
        if attendees is None:
            attendees = []
        elif not isinstance(attendees, list):
            attendees = [attendees]
        organizer = ev.get("ORGANIZER")
        events.append(
            {
                "uid": prop(ev, "UID"),
                "sequence": int(ev.get("SEQUENCE")) if ev.get("SEQUENCE") is not None else None,
                "dtstamp": prop(ev, "DTSTAMP"),
                "dtstart": prop(ev, "DTSTART"),
                "dtend": prop(ev, "DTEND"),
                "dtstart_tzid": ev.get("DTSTART").params.get("TZID") if ev.get("DTSTART") is not None else None,
                "summary": prop(ev, "SUMMARY"),
                "description": prop(ev, "DESCRIPTION"),
                "location": prop(ev, "LOCATION"),
                "url": prop(ev, "URL"),
                "status": prop(ev, "STATUS"),
                "organizer": cal_address(organizer) if organizer is not None else None,
                "attendees": [cal_address(a) for a in attendees],
            }
        )
    return {
        "prodid": prop(cal, "PRODID"),
        "version": prop(cal, "VERSION"),
        "calscale": prop(cal, "CALSCALE"),
        "method": prop(cal, "METHOD"),
        "events": events,
        "timezones": len(cal.walk("VTIMEZONE")),
    }


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            for k, v in attrs:
                if k == "href" and v is not None:
                    self.hrefs.append(v)


def describe_link(url):
    u = urlsplit(url)
    return {
        "url": url,
        "scheme": u.scheme,
        "netloc": u.netloc,
        "path": u.path,
        "query": {k: v for k, v in parse_qs(u.query, keep_blank_values=True).items()},
    }


def links(content_type, text):
    """The links of a body: the `href`s of an HTML part (html.parser,
    entities decoded), the http(s) URLs of a text part."""
    if content_type == "text/html":
        p = _Links()
        p.feed(text)
        p.close()
        return [describe_link(h) for h in p.hrefs]
    return [describe_link(u) for u in re.findall(r"https?://[^\s<>\"]+", text)]


def describe_part(part):
    d = {
        "content_type": part.get_content_type(),
        "params": {k: v for k, v in part.get_params(header="content-type")[1:]} if part.get("Content-Type") else {},
        "disposition": part.get_content_disposition(),
        "filename": part.get_filename(),
        "transfer_encoding": part.get("Content-Transfer-Encoding"),
    }
    if part.is_multipart():
        d["parts"] = [describe_part(p) for p in part.iter_parts()]
    else:
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "utf-8"
        d["size"] = len(payload)
        d["sha256"] = hashlib.sha256(payload).hexdigest()
        d["content"] = payload.decode(charset, errors="replace")
        if part.get_content_type() in ("text/plain", "text/html"):
            d["links"] = links(part.get_content_type(), d["content"])
        if part.get_content_type() in ("text/calendar", "application/ics"):
            d["ics"] = describe_ics(payload)
            d["ics_crlf"] = b"\n" not in payload.replace(b"\r\n", b"")
    return d


def describe_message(raw: bytes):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    wire = email.message_from_bytes(raw, policy=email.policy.compat32)
    to = msg["To"]
    frm = msg["From"]
    return {
        "subject": str(msg["Subject"]),
        # As on the wire (RFC 2047 encoded words, folding), unparsed.
        "raw_subject": wire["Subject"],
        "raw_to": wire["To"],
        # The To header decoded by the strict RFC 2047 decoder (policy.default's
        # address parser puts a space between adjacent encoded words of a
        # display name, which RFC 2047 section 6.2 says to drop).
        "to_decoded": str(make_header(decode_header(wire["To"]))) if wire["To"] else None,
        "subject_count": len(msg.get_all("Subject", failobj=[])),
        "message_id": str(msg["Message-ID"]),
        "to": [{"name": a.display_name, "address": a.addr_spec} for a in to.addresses] if to is not None else [],
        "from": [{"name": a.display_name, "address": a.addr_spec} for a in frm.addresses] if frm is not None else [],
        "bcc": msg.get_all("Bcc", failobj=[]),
        "header_names": list(msg.keys()),
        "headers": {k: str(v) for k, v in msg.items()},
        "list_unsubscribe": msg.get("List-Unsubscribe"),
        "list_unsubscribe_post": msg.get("List-Unsubscribe-Post"),
        "headers_ascii": raw.split(b"\r\n\r\n", 1)[0].isascii(),
        "defects": [type(d).__name__ for d in msg.defects],
        "mime": describe_part(msg),
    }


def main():
    args = sys.argv[1:]
    if args and args[0] == "--ics":
        with open(args[1], "rb") as f:
            out = describe_ics(f.read())
    else:
        out = []
        for path in args:
            with open(path, "rb") as f:
                out.append(describe_message(f.read()))
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
