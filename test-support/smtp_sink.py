#!/usr/bin/env python3
"""A local SMTP server for tests and benchmarks, on aiosmtpd.

    python3 test-support/smtp_sink.py --port 2525 --dir /tmp/mail [--no-store]

Every accepted message is written, byte for byte as received (CRLF line
ends), to a Maildir in DIR (tmp/ then new/), and one line is appended to
DIR/received.log:  <unix time>\t<Message-ID>\t<recipients, comma-separated>

DIR/rules.json (optional, re-read when it changes) makes the server refuse
chosen recipients at RCPT TO:

    {"bounce@example.com": {"code": 550, "message": "5.1.1 No such user"},
     "greylist@example.com": {"code": 451, "message": "4.7.1 Try later", "times": 2}}

"times" limits a rule to the first N attempts for that recipient (then it
is accepted); without it the rule always applies.
"""

import argparse
import asyncio
import email.parser
import email.policy
import json
import os
import signal
import socket
import time

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory: str, store: bool):
        self.dir = directory
        self.store = store
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(directory, sub), exist_ok=True)
        self.rules_path = os.path.join(directory, "rules.json")
        self.rules = {}
        self.rules_mtime = None
        self.attempts = {}
        self.seq = 0
        self.host = socket.gethostname()
        self.log = open(os.path.join(directory, "received.log"), "a", buffering=1)
        self.headers = email.parser.BytesHeaderParser(policy=email.policy.compat32)

    def rule_for(self, address: str):
        try:
            mtime = os.stat(self.rules_path).st_mtime_ns
        except FileNotFoundError:
            self.rules, self.rules_mtime = {}, None
            return None
        if mtime != self.rules_mtime:
            with open(self.rules_path) as f:
                self.rules = {k.lower(): v for k, v in json.load(f).items()}
            self.rules_mtime = mtime
        return self.rules.get(address.lower())

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        rule = self.rule_for(address)
        if rule is not None:
            key = address.lower()
            n = self.attempts.get(key, 0)
            self.attempts[key] = n + 1
            times = rule.get("times")
            if times is None or n < times:
                return f"{rule['code']} {rule['message']}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or b""
        self.seq += 1
        if self.store:
            name = f"{time.time_ns()}.P{os.getpid()}Q{self.seq}.{self.host}"
            tmp = os.path.join(self.dir, "tmp", name)
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, os.path.join(self.dir, "new", name))
        message_id = (self.headers.parsebytes(data).get("Message-ID") or "").strip()
        self.log.write(f"{time.time():.6f}\t{message_id}\t{','.join(envelope.rcpt_tos)}\n")
        return f"250 2.0.0 Ok: queued as Q{self.seq}"


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--no-store", action="store_true", help="log messages without writing them")
    args = ap.parse_args()
    sink = Sink(args.dir, not args.no_store)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, enable_SMTPUTF8=True, decode_data=False, hostname="launchpad-test-sink"),
        host=args.host,
        port=args.port,
        reuse_address=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on {args.host}:{args.port}", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
