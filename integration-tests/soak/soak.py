"""Soak: N simulated clients poll and write for M minutes against one gateway.

Each client, in its own thread and TLS connection, loops: PROPFIND of its user's calendar home
(Depth 1), sync-collection from its last token, and now and then a PUT (new or changed event)
or a DELETE of one of its own events, with a random think time between requests, as a phone or
desktop client polling would. Reported at the end (and written as JSON with --out): errors by
kind (method and status, or the exception), the gateway's RSS at the start (after the first
requests), every 15 s, at the end of the load and after the clients deleted their events, and p50/p99 latency per minute, so growth in memory
or drift in latency shows.

    python integration-tests/soak/soak.py --backend embedded --clients 20 --minutes 5

The backend is the one the integration suite uses: the embedded store in a fresh directory,
or with --backend jmap the Cyrus whose env file `cyrus.py start DIR` wrote (CYRUS_* variables
must be set, as `make soak` does). The gateway binary comes from CALDAV_GATEWAY_BIN.
"""

import argparse
import collections
import json
import os
import pathlib
import random
import re
import statistics
import sys
import threading
import time
import uuid

MAX_MINUTES = 60
RSS_EVERY_S = 15
HERE = pathlib.Path(__file__).resolve().parent
SYNC = (
    '<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>'
    "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
)
PROPFIND = (
    '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
    "<d:prop><d:resourcetype/><d:displayname/><cs:getctag/><d:sync-token/></d:prop></d:propfind>"
)
TOKEN = re.compile(r"<D:sync-token>([^<]+)</D:sync-token>")


def event(uid, summary):
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//soak//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


class Recorder:
    def __init__(self, started):
        self.started = started
        self.lock = threading.Lock()
        self.latencies = collections.defaultdict(list)  # minute -> seconds
        self.errors = collections.Counter()
        self.requests = 0

    def record(self, seconds, error=None):
        minute = int((time.monotonic() - self.started) // 60)
        with self.lock:
            self.requests += 1
            self.latencies[minute].append(seconds)
            if error:
                self.errors[error] += 1


def client(number, gateway, users, recorder, until, think_ms):
    import requests

    user = users[number % len(users)]
    session = requests.Session()
    session.auth = gateway.auth(user)
    base = gateway.url.rstrip("/")
    home = f"/dav/calendars/{user}/"
    calendar = home + "calendar/"
    rng = random.Random(number)
    mine = {}  # href -> uid of this client's events
    token = ""

    def call(method, path, expected, **kwargs):
        began = time.monotonic()
        error = None
        response = None
        try:
            response = session.request(method, base + path, timeout=60, verify=gateway.ca, **kwargs)
            if response.status_code not in expected:
                error = f"{method} {response.status_code}" + (f" ({user})" if response.status_code == 403 else "")
        except Exception as exc:  # every failure is counted by kind, none stops the soak
            error = f"{method} {type(exc).__name__}"
        recorder.record(time.monotonic() - began, error)
        return response if error is None else None

    while time.monotonic() < until:
        roll = rng.random()
        if roll < 0.4:
            call("PROPFIND", home, (207,), headers={"Depth": "1"}, data=PROPFIND)
        elif roll < 0.75:
            response = call("REPORT", calendar, (207,), headers={"Depth": "1"}, data=SYNC.format(token=token))
            found = response is not None and TOKEN.search(response.text)
            token = found.group(1) if found else ""
        elif roll < 0.92 or not mine:
            if mine and rng.random() < 0.5:
                href = rng.choice(list(mine))
            else:
                href = f"{calendar}soak-{number}-{uuid.uuid4().hex}.ics"
                mine[href] = f"{uuid.uuid4()}@soak"
            if call("PUT", href, (201, 204), data=event(mine[href], f"soak {rng.random()}").encode(),
                    headers={"Content-Type": "text/calendar; charset=utf-8"}) is None:
                pass
        else:
            href = rng.choice(list(mine))
            if call("DELETE", href, (204, 200)) is not None:
                del mine[href]
        time.sleep(rng.uniform(0, 2 * think_ms / 1000))
    for href in list(mine):  # leave the calendar as it was
        try:
            session.delete(base + href, timeout=60, verify=gateway.ca)
        except Exception:
            pass


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["embedded", "jmap"], default="embedded")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--think-ms", type=int, default=500, help="mean pause between a client's requests")
    parser.add_argument("--users", default="alice,bob,tester", help="comma-separated; clients take turns")
    parser.add_argument("--set", action="append", default=[], metavar="GATEWAY__KEY=VALUE",
                        help="a setting for the gateway under test (repeatable)")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    if not 0 < args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be in (0, {MAX_MINUTES}]")
    os.environ["CALDAV_TEST_BACKEND"] = args.backend
    sys.path.insert(0, str(HERE.parent / "python"))
    import conftest  # the integration suite's way of starting the real binary

    settings = dict(setting.split("=", 1) for setting in args.set)
    gateway = conftest.start_gateway({"GATEWAY__LOG__LEVEL": "warn", **settings})
    try:
        users = args.users.split(",")
        started = time.monotonic()
        recorder = Recorder(started)
        until = started + args.minutes * 60
        threads = [threading.Thread(target=client, args=(n, gateway, users, recorder, until, args.think_ms))
                   for n in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(min(5, args.minutes * 60 / 4))  # the first logins and full reads are done
        rss_start = rss_kib(gateway.process.pid)
        rss_samples = []  # (seconds since start, KiB)
        rss_end = None
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            now = time.monotonic()
            if now >= until and rss_end is None:
                rss_end = rss_kib(gateway.process.pid)  # before the clients delete what they made
            elif now < until and int((now - started) // RSS_EVERY_S) >= len(rss_samples):
                rss_samples.append((round(now - started), rss_kib(gateway.process.pid)))
        rss_after_cleanup = rss_kib(gateway.process.pid)
        alive = gateway.process.poll() is None
    finally:
        conftest.stop_gateway(gateway)
        if args.out:
            # The gateway's warnings and errors, to explain the error counts.
            log = [line for line in gateway.stderr if " WARN " in line or " ERROR " in line]
            pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            pathlib.Path(args.out).with_suffix(".log").write_text("".join(log))
    minutes = []
    for minute in sorted(recorder.latencies):
        values = recorder.latencies[minute]
        minutes.append({"minute": minute + 1, "requests": len(values),
                        "p50_ms": round(1000 * statistics.median(values), 1),
                        "p99_ms": round(1000 * percentile(values, 0.99), 1)})
    figures = {
        "backend": args.backend, "clients": args.clients, "minutes": args.minutes, "think_ms": args.think_ms,
        "requests": recorder.requests, "errors": dict(recorder.errors),
        "rss_kib_start": rss_start, "rss_kib_end": rss_end, "rss_kib_samples": rss_samples,
        "rss_kib_after_cleanup": rss_after_cleanup,
        "per_minute": minutes, "gateway_alive_at_end": alive,
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    # A soak fails when anything failed: the figures are printed either way.
    return 0 if alive and not recorder.errors else 1


if __name__ == "__main__":
    sys.exit(main())
