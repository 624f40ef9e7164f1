#!/usr/bin/env python3
"""The MTA between the test Cyrus's outgoing mail and its users' INBOXes, on loopback.

    mail_relay.py --spool DIR [--lmtp HOST:PORT] [--port-file FILE]

Listens for SMTP on 127.0.0.1 (a free port, written to --port-file), keeps every message it
receives in DIR as NNNN.eml with a NNNN.json beside it ({"from": ..., "to": [...]}, the SMTP
envelope), and, with --lmtp, hands each message on to that LMTP server (Cyrus's lmtpd) for
its recipients, as a real MTA delivers local mail. A recipient the LMTP server refuses is
recorded in the JSON ("refused": {...}) and not retried. Runs until SIGTERM or SIGINT.

Needs aiosmtpd (integration-tests/python/requirements.txt): run it with the venv's python.
"""

import argparse
import json
import pathlib
import signal
import smtplib
import socket
import threading

from aiosmtpd.controller import Controller


class Relay:
    def __init__(self, spool, lmtp):
        self.spool = spool
        self.lmtp = lmtp
        self.lock = threading.Lock()
        self.count = len(list(spool.glob("*.eml")))

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            stem = self.spool / f"{self.count:04d}"
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        meta = {"from": envelope.mail_from, "to": list(envelope.rcpt_tos)}
        if self.lmtp:
            meta["refused"] = self.deliver(envelope.mail_from, envelope.rcpt_tos, data)
        # The .json is written last: a reader that sees it knows the delivery is done.
        stem.with_suffix(".eml").write_bytes(data)
        stem.with_suffix(".json").write_text(json.dumps(meta))
        return "250 OK"

    def deliver(self, sender, recipients, data):
        host, port = self.lmtp
        try:
            with smtplib.LMTP(host, port, timeout=30) as lmtp:
                refused = lmtp.sendmail(sender, recipients, data)
            return {rcpt: f"{code} {msg.decode(errors='replace')}" for rcpt, (code, msg) in refused.items()}
        except smtplib.SMTPRecipientsRefused as error:
            return {rcpt: f"{code} {msg.decode(errors='replace')}" for rcpt, (code, msg) in error.recipients.items()}
        except (OSError, smtplib.SMTPException) as error:
            return {rcpt: f"not delivered: {error}" for rcpt in recipients}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spool", required=True, type=pathlib.Path)
    parser.add_argument("--lmtp", help="HOST:PORT of the LMTP server to deliver to")
    parser.add_argument("--port", type=int, default=0, help="SMTP port (default: a free one)")
    parser.add_argument("--port-file", type=pathlib.Path)
    args = parser.parse_args()
    args.spool.mkdir(parents=True, exist_ok=True)
    lmtp = None
    if args.lmtp:
        host, _, port = args.lmtp.rpartition(":")
        lmtp = (host, int(port))
    port = args.port or free_port()
    controller = Controller(Relay(args.spool, lmtp), hostname="127.0.0.1", port=port)
    controller.start()
    if args.port_file:
        args.port_file.write_text(f"{port}\n")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
