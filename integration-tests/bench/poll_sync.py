"""The two requests every CalDAV client repeats most, side by side in one run: the
calendar-home poll (Depth:1 PROPFIND of getctag and sync-token) and a sync-collection with the
current token (nothing changed), on
  - the gateway on the embedded store,
  - the gateway in front of Cyrus (JMAP) with each given `backend.jmap.freshness_ms`
    (BENCH_FRESHNESS, comma-separated; `default` is the shipped default),
  - the gateway in front of Cyrus with push alive and freshness_ms 0: behind
    integration-tests/python/mail_server_proxy.PushProxy, which answers the event source as a
    Cyrus built with push does (Debian's has none); the proxy is Python, so only requests that
    reach the mail server are slowed by it, and a pushed poll reaches none,
  - Cyrus's own CalDAV on the same Cyrus.
Each server gets the same BENCH_POLL_EVENTS events (1,000 by default) in one calendar, then
BENCH_POLL_SAMPLES requests of each kind one after the other over a kept-alive connection, in
interleaved rounds so the machine's noise falls on all alike. For the JMAP gateways the JMAP
requests per client request come from its /metrics. Release build; every server listens on
127.0.0.1 and is stopped by PID.

    python3 integration-tests/bench/poll_sync.py
"""

import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))
import jmap  # noqa: E402
import mail_server_proxy  # noqa: E402
import run  # noqa: E402

EVENTS = int(os.environ.get("BENCH_POLL_EVENTS", "1000"))
SAMPLES = int(os.environ.get("BENCH_POLL_SAMPLES", "200"))
ROUNDS = int(os.environ.get("BENCH_POLL_ROUNDS", "5"))
FRESHNESS = os.environ.get("BENCH_FRESHNESS", "0,default").split(",")
USER = "tester"

POLL = ('<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><D:displayname/>'
        "<CS:getctag/><D:sync-token/></D:prop></D:propfind>")
SYNC = ('<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
        "<D:prop><D:getetag/></D:prop></D:sync-collection>")
TOKEN = '<D:propfind xmlns:D="DAV:"><D:prop><D:sync-token/></D:prop></D:propfind>'


class Target:
    def __init__(self, name, base, home, calendar, auth, admin=None):
        self.name, self.base, self.home, self.calendar, self.admin = name, base, home, calendar, admin
        self.session = requests.Session()
        self.session.auth = auth
        self.times = {"poll": [], "sync": []}
        self.calls = {"poll": [], "sync": []}
        token = self.request("PROPFIND", calendar, TOKEN, "0")
        self.sync_body = SYNC.format(token=re.search(r"<[^>]*sync-token>([^<]+)<", token).group(1))

    def request(self, method, path, body, depth):
        r = self.session.request(method, self.base + path, data=body.encode(), timeout=60,
                                 headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"})
        assert r.status_code == 207, (self.name, method, path, r.status_code, r.text[:300])
        return r.text

    def round(self):
        for kind, (method, path, body, depth) in {
            "poll": ("PROPFIND", self.home, POLL, "1"),
            "sync": ("REPORT", self.calendar, self.sync_body, "1"),
        }.items():
            # Once more before measuring: a push-vouched view is one read after the stream was up.
            self.request(method, path, body, depth)
            before = jmap.backend_requests(self.admin) if self.admin else 0
            for _ in range(SAMPLES):
                started = time.perf_counter()
                self.request(method, path, body, depth)
                self.times[kind].append((time.perf_counter() - started) * 1000)
            if self.admin:
                self.calls[kind].append((jmap.backend_requests(self.admin) - before) / SAMPLES)


def start_jmap_gateway(work, url, freshness, **extra):
    if freshness != "default":
        extra["GATEWAY__BACKEND__JMAP__FRESHNESS_MS"] = freshness
    saved = dict(os.environ)
    os.environ.update(extra)
    try:
        return jmap.start_gateway(work / f"jmap-{freshness}-{len(extra)}", url)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-poll-", dir=run.WORK))
    work.chmod(0o755)  # Cyrus runs as its own user and must reach its directory inside
    cyrus_dir = work / "cyrus"
    subprocess.run([*jmap.CYRUS, "start", str(cyrus_dir)], check=True, stdout=subprocess.DEVNULL)
    processes, proxies = [], []
    try:
        env = jmap.env_of(cyrus_dir)
        password = json.loads(env["CYRUS_USERS"])[USER]
        run.USER, run.PASSWORD, run.EVENTS = USER, password, EVENTS
        data = list(run.events(EVENTS))
        targets = []

        embedded, base, calendar = run.start_gateway(work)
        processes.append(embedded)
        run.load(base, calendar, data)
        targets.append(Target("gateway, embedded store", base, f"/dav/calendars/{USER}/", calendar, (USER, password)))

        for freshness in FRESHNESS:
            process, base, admin = start_jmap_gateway(work, env["CYRUS_JMAP_URL"], freshness)
            processes.append(process)
            calendar = f"/dav/calendars/{USER}/bench/"
            if len(targets) == 1:
                run.load(base, calendar, data)  # once: the other JMAP gateways see the same mailboxes
            name = f"gateway, JMAP/Cyrus, freshness_ms {freshness}"
            targets.append(Target(name, base, f"/dav/calendars/{USER}/", calendar, (USER, password), admin))

        # Streams kept for the whole run: a reconnection leaves about one ping unconfirmed.
        proxy = mail_server_proxy.PushProxy(f"http://127.0.0.1:{env['CYRUS_HTTP_PORT']}", stream_seconds=3600)
        proxies.append(proxy)
        process, base, admin = start_jmap_gateway(work, proxy.url + "/jmap/", "0", GATEWAY__BACKEND__JMAP__HTTP2="false")
        processes.append(process)
        pushed = Target("gateway, JMAP/Cyrus with push alive, freshness_ms 0", base, f"/dav/calendars/{USER}/",
                        f"/dav/calendars/{USER}/bench/", (USER, password), admin)
        deadline = time.monotonic() + 30
        while jmap.metric(admin, "jmap_push_connections_total") < 1:
            assert time.monotonic() < deadline, "no push stream confirmed within 30 s"
            time.sleep(0.1)
        targets.append(pushed)

        # Cyrus's own CalDAV: its calendar home, one calendar made with MKCALENDAR and filled by PUT.
        cyrus = f"http://127.0.0.1:{env['CYRUS_HTTP_PORT']}"
        home = f"/dav/calendars/user/{USER}/"
        cyrus_calendar = home + "bench/"
        run.load(cyrus, cyrus_calendar, data)
        targets.append(Target("Cyrus 3.6 CalDAV", cyrus, home, cyrus_calendar, (USER, password)))

        for target in targets:
            target.round()  # warm-up, not counted
            target.times = {"poll": [], "sync": []}
            target.calls = {"poll": [], "sync": []}
        for _ in range(ROUNDS):
            for target in targets:
                target.round()
    finally:
        for process in processes:
            run.stop(process)
        for proxy in proxies:
            proxy.kill()
            proxy.close()
        subprocess.run([*jmap.CYRUS, "stop", str(cyrus_dir)], check=False)

    def p(times, q):
        return sorted(times)[int(len(times) * q) - 1]

    cyrus, embedded = targets[-1], targets[0]
    lines = [f"{EVENTS} events, {ROUNDS} interleaved rounds of {SAMPLES} sequential requests each (Python requests, "
             "kept-alive HTTP/1.1, loopback)", "",
             "| server | poll p50 / p99 ms | sync p50 / p99 ms | JMAP requests per poll / sync | poll: x Cyrus, / embedded | sync: x Cyrus, / embedded |",
             "|---|---|---|---|---|---|"]
    for t in targets:
        cells = []
        for kind in ("poll", "sync"):
            cells.append(f"{statistics.median(t.times[kind]):.3f} / {p(t.times[kind], 0.99):.3f}")
        calls = " / ".join(f"{statistics.mean(t.calls[k]):.2f}" for k in ("poll", "sync")) if t.admin else "-"
        ratios = []
        for kind in ("poll", "sync"):
            mine = statistics.median(t.times[kind])
            ratios.append(f"{statistics.median(cyrus.times[kind]) / mine:.2f}x, {mine / statistics.median(embedded.times[kind]):.2f}")
        lines.append(f"| {t.name} | {cells[0]} | {cells[1]} | {calls} | {ratios[0]} | {ratios[1]} |")
    text = "\n".join(lines)
    print(text)
    (run.WORK / "bench-poll-sync-results.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
