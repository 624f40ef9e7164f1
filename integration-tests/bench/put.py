"""PUT on the JMAP backend next to Cyrus's own CalDAV PUT, in one run (issue 12).

One private Cyrus (integration-tests/cyrus/cyrus.py; its httpd serves CalDAV as well as
JMAP) and the gateway (release build, `backend.kind = "jmap"`) in front of it. Each side gets
a calendar of BENCH_PUT_EVENTS (1,000) events of `make bench`'s generator, loaded through PUT
by 8 clients: the gateway as user `tester`, Cyrus's CalDAV as user `alice`, so neither side's
writes move the other's account. Then, in interleaved rounds (the side that goes first
alternates), each side is timed on:
  - create: PUT of a new event (If-None-Match: *), distinct hrefs, 1 client sequentially
    and 8 clients in parallel;
  - update: PUT with If-Match of an event created before (its ETag from the create), 1 and 8
    clients, distinct hrefs.
Clients are plain http.client connections kept alive, one per thread. For the gateway the
JMAP requests per PUT and the time spent in them come from its /metrics
(`caldav_gateway_jmap_requests_total`, `..._jmap_request_duration_seconds_sum`), and its
CPU time per PUT from /proc.
Every server listens on 127.0.0.1 and is stopped by PID. Results go to stdout and to
integration-tests/.work/bench-put-results.md.
"""

import base64
import concurrent.futures
import http.client
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import jmap  # noqa: E402  Cyrus and gateway helpers
import run  # noqa: E402  the event generator

EVENTS = int(os.environ.get("BENCH_PUT_EVENTS", "1000"))
ROUNDS = int(os.environ.get("BENCH_PUT_ROUNDS", "4"))
# PUTs per client per phase and round.
PER_CLIENT = int(os.environ.get("BENCH_PUT_PER_CLIENT", "25"))
PARALLEL = 8
GATEWAY_USER, CYRUS_USER = "tester", "alice"


class Side:
    """One server under test: where its calendar is and how to authenticate."""

    def __init__(self, label, port, calendar, user, password):
        self.label, self.port, self.calendar = label, port, calendar
        self.header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.local = threading.local()
        self.created = []  # (href, body, etag) of events created in the timed phases
        self.samples = {}  # phase -> list of (latency ms, count, wall s)

    def connection(self):
        if not hasattr(self.local, "conn"):
            self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        return self.local.conn

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {}, Authorization=self.header)
        for attempt in range(2):
            conn = self.connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, response.getheader("ETag"), data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                del self.local.conn
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def put(self, href, body, headers):
        headers = dict(headers, **{"Content-Type": "text/calendar; charset=utf-8"})
        started = time.perf_counter()
        status, etag, data = self.request("PUT", href, body.encode(), headers)
        elapsed = (time.perf_counter() - started) * 1000
        assert status in (201, 204), (self.label, href, status, data[:300])
        if etag is None:
            # Not timed: a server that stored other bytes than these answers no ETag.
            status, etag, _ = self.request("HEAD", href)
            assert status == 200 and etag, (self.label, href, status)
        return elapsed, etag


def event(n, uid, summary=None):
    """`make bench`'s event number n under another UID (and SUMMARY for an update)."""
    name, ics = EVENT_TEMPLATES[n % len(EVENT_TEMPLATES)]
    old_uid = name[: -len(".ics")] + "@example.com"
    ics = ics.replace(old_uid, uid)
    if summary is not None:
        ics = re.sub(r"SUMMARY:[^\r\n]*", f"SUMMARY:{summary}", ics, count=1)
    return ics


EVENT_TEMPLATES = list(run.events(200))


def load(side, data):
    status, _, body = side.request("MKCALENDAR", side.calendar)
    assert status == 201, (side.label, status, body[:300])
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(lambda item: side.put(side.calendar + item[0], item[1], {}), data))
    return time.monotonic() - started


def create_phase(side, phase, clients, round_no):
    def client(c):
        times = []
        for i in range(PER_CLIENT):
            uid = f"put-{round_no}-{clients}-{c}-{i}@example.com"
            href = f"{side.calendar}put-{round_no}-{clients}-{c}-{i}.ics"
            body = event(i + c, uid)
            elapsed, etag = side.put(href, body, {"If-None-Match": "*"})
            times.append(elapsed)
            with LOCK:
                side.created.append([href, uid, etag, i + c])
        return times

    run_phase(side, phase, clients, client)


def update_phase(side, phase, clients, round_no):
    # Each client updates its own slice of the events created so far: distinct hrefs.
    with LOCK:
        targets = side.created[-clients * PER_CLIENT:]

    def client(c):
        times = []
        for entry in targets[c::clients]:
            href, uid, etag, n = entry
            body = event(n, uid, summary=f"updated {round_no} {clients} {time.monotonic_ns()}")
            elapsed, new_etag = side.put(href, body, {"If-Match": etag})
            entry[2] = new_etag
            times.append(elapsed)
        return times

    run_phase(side, phase, clients, client)


LOCK = threading.Lock()


def run_phase(side, phase, clients, client):
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    times = [t for r in results for t in r]
    side.samples.setdefault(phase, []).append((times, wall))


def cpu_seconds(pid):
    """User and system CPU time of a process so far (proc(5), fields 14 and 15)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway_counters(admin, pid):
    text = requests.get(admin + "/metrics", timeout=10).text

    def value(name):
        found = re.search(rf"^caldav_gateway_{name} ([\d.e+-]+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    return value("jmap_requests_total"), value("jmap_request_duration_seconds_sum"), cpu_seconds(pid)


def summary(side, phase):
    rounds = side.samples[phase]
    times = sorted(t for r, _ in rounds for t in r)
    count = len(times)
    wall = sum(w for _, w in rounds)
    return statistics.median(times), times[max(int(count * 0.99) - 1, 0)], count / wall


def main():
    run.WORK.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-put-", dir=run.WORK))
    work.chmod(0o755)  # Cyrus runs as its own user and must reach its directory inside
    cyrus_dir = work / "cyrus"
    subprocess.run([*jmap.CYRUS, "start", str(cyrus_dir)], check=True, stdout=subprocess.DEVNULL)
    gateway = None
    try:
        env = jmap.env_of(cyrus_dir)
        users = json.loads(env["CYRUS_USERS"])
        gateway, base, admin = jmap.start_gateway(work, env["CYRUS_JMAP_URL"])
        port = int(base.rsplit(":", 1)[1])
        ours = Side("gateway (JMAP)", port, f"/dav/calendars/{GATEWAY_USER}/bench/", GATEWAY_USER, users[GATEWAY_USER])
        theirs = Side("Cyrus CalDAV", int(env["CYRUS_HTTP_PORT"]), f"/dav/calendars/user/{CYRUS_USER}/bench/",
                      CYRUS_USER, users[CYRUS_USER])
        data = list(run.events(EVENTS))
        for side in (ours, theirs):
            seconds = load(side, data)
            print(f"{side.label}: loaded {EVENTS} events through PUT (8 clients) in {seconds:.1f} s", flush=True)
        jmap_per_phase = {}
        phases = [("create, 1 client", create_phase, 1), (f"create, {PARALLEL} clients", create_phase, PARALLEL),
                  ("If-Match update, 1 client", update_phase, 1), (f"If-Match update, {PARALLEL} clients", update_phase, PARALLEL)]
        for round_no in range(ROUNDS):
            order = (ours, theirs) if round_no % 2 == 0 else (theirs, ours)
            for phase, action, clients in phases:
                for side in order:
                    before = gateway_counters(admin, gateway.pid) if side is ours else None
                    action(side, phase, clients, round_no)
                    if before is not None:
                        after = gateway_counters(admin, gateway.pid)
                        totals = jmap_per_phase.setdefault(phase, [0.0, 0.0, 0.0, 0])
                        for i in range(3):
                            totals[i] += after[i] - before[i]
                        totals[3] += len(side.samples[phase][-1][0])
            print(f"round {round_no + 1}/{ROUNDS} done", flush=True)
    finally:
        if gateway is not None:
            run.stop(gateway)
        subprocess.run([*jmap.CYRUS, "stop", str(cyrus_dir)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    lines = [f"PUT, JMAP backend on Cyrus IMAP 3.6 next to Cyrus's own CalDAV, calendars of {EVENTS} events, "
             f"{ROUNDS} interleaved rounds of {PER_CLIENT} PUTs per client, {os.cpu_count()} cores, loopback", "",
             "| PUT | gateway p50 / p99 ms | gateway req/s | Cyrus CalDAV p50 / p99 ms | Cyrus req/s | ratio (req/s) "
             "| JMAP requests per PUT | JMAP time per PUT ms | gateway CPU per PUT ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for phase, _, _ in phases:
        g50, g99, grps = summary(ours, phase)
        c50, c99, crps = summary(theirs, phase)
        calls, seconds, cpu, puts = jmap_per_phase[phase]
        lines.append(f"| {phase} | {g50:.2f} / {g99:.2f} | {grps:.1f} | {c50:.2f} / {c99:.2f} | {crps:.1f} | "
                     f"{grps / crps:.2f}x | {calls / puts:.2f} | {seconds * 1000 / puts:.2f} | {cpu * 1000 / puts:.2f} |")
    text = "\n".join(lines)
    print("\n" + text)
    (run.WORK / "bench-put-results.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
