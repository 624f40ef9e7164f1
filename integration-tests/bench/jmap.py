"""make bench, second part: the gateway in front of Cyrus IMAP (JMAP backend).

For the requests a CalDAV client makes constantly, measured one at a time over a kept-alive
connection once the caches are warm:
  - how many HTTP requests the gateway sends to the mail server per client request
    (from the gateway's /metrics), and
  - the gateway's latency next to the latency of those raw JMAP calls made directly, so the
    difference is what the gateway adds (parsing, XML, the query engine).
Cyrus runs from integration-tests/cyrus/cyrus.py on loopback and is stopped by PID.
"""

import base64
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
import run  # noqa: E402  the event generator, the workloads and the server helpers

EVENTS = int(os.environ.get("BENCH_JMAP_EVENTS", "1000"))
SAMPLES = int(os.environ.get("BENCH_JMAP_SAMPLES", "100"))
ROOT = run.ROOT
CYRUS = [sys.executable, str(ROOT / "integration-tests" / "cyrus" / "cyrus.py")]
USER = "tester"


def env_of(cyrus_dir):
    return {k: v.strip("'") for k, v in (l.split("=", 1) for l in (cyrus_dir / "env").read_text().splitlines())}


def start_gateway(work, jmap_url):
    binary = ROOT / "target" / "release" / "caldav-gateway"
    port, admin_port = run.free_port(), run.free_port()
    env = dict(os.environ, GATEWAY__SERVER__LISTEN=f"127.0.0.1:{port}", GATEWAY__TLS__ENABLED="false",
               GATEWAY__BACKEND__KIND="jmap", GATEWAY__BACKEND__JMAP__URL=jmap_url,
               GATEWAY__BACKEND__EMBEDDED__DATA_DIR=str(work / "gateway"), GATEWAY__ADMIN__LISTEN=f"127.0.0.1:{admin_port}",
               GATEWAY__DEMO__ENABLED="false", GATEWAY__LOG__LEVEL="warn")
    process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    run.wait_until_up(base + "/dav/")
    return process, base, f"http://127.0.0.1:{admin_port}"


def metric(admin, name):
    text = requests.get(admin + "/metrics", timeout=10).text
    return int(re.search(rf"^caldav_gateway_{name} (\d+)$", text, re.M).group(1))


def backend_requests(admin):
    return metric(admin, "jmap_requests_total")


def timed(send, samples):
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        send()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), sorted(times)[int(len(times) * 0.99) - 1]


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-jmap-", dir=run.WORK))
    work.chmod(0o755)  # Cyrus runs as its own user and must reach its directory inside
    cyrus_dir = work / "cyrus"
    subprocess.run([*CYRUS, "start", str(cyrus_dir)], check=True, stdout=subprocess.DEVNULL)
    gateway = None
    try:
        env = env_of(cyrus_dir)
        password = json.loads(env["CYRUS_USERS"])[USER]
        gateway, base, admin = start_gateway(work, env["CYRUS_JMAP_URL"])
        session = requests.Session()
        session.auth = (USER, password)
        calendar = f"/dav/calendars/{USER}/bench/"
        run.USER, run.PASSWORD, run.EVENTS = USER, password, EVENTS
        data = list(run.events(EVENTS))
        seconds = run.load(base, calendar, data)
        print(f"JMAP backend: loaded {EVENTS} events through PUT in {seconds:.1f} s", flush=True)

        # The raw JMAP call a warm request makes: "did the account change?"
        auth = "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()
        jmap = requests.Session()
        jmap.headers["Authorization"] = auth
        info = jmap.get(env["CYRUS_JMAP_URL"], timeout=10)
        api = requests.compat.urljoin(info.url, info.json()["apiUrl"])
        account = info.json()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
        state_call = json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"], "methodCalls": [
            ["Mailbox/get", {"accountId": account, "ids": []}, "0"], ["Email/get", {"accountId": account, "ids": []}, "1"]]})
        raw50, raw99 = timed(lambda: jmap.post(api, data=state_call, headers={"Content-Type": "application/json"}, timeout=30), SAMPLES)

        names = [n for n, _ in data]
        poll = ('<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><D:displayname/>'
                "<CS:getctag/><D:sync-token/></D:prop></D:propfind>")
        rows = []
        workloads = [("calendar-home Depth:1 poll (getctag, sync-token)", f"/dav/calendars/{USER}/", "PROPFIND", poll, "1")]
        workloads += [(title, calendar, method, body, depth) for title, method, body, depth in run.workloads(calendar, names[:100])]
        for title, path, method, body, depth in workloads:
            headers = {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"}

            def send():
                r = session.request(method, base + path, data=body.encode(), headers=headers, timeout=120)
                assert r.status_code == 207, (title, r.status_code, r.text[:300])

            send()  # warm the caches
            before = backend_requests(admin)
            p50, p99 = timed(send, SAMPLES)
            calls = (backend_requests(admin) - before) / SAMPLES
            rows.append((title, p50, p99, calls))
            print(f"  {title}: p50 {p50:.2f} ms, {calls:.2f} JMAP requests", flush=True)
    finally:
        if gateway is not None:
            run.stop(gateway)
        subprocess.run([*CYRUS, "stop", str(cyrus_dir)], check=False)
    lines = [f"JMAP backend on Cyrus IMAP 3.6 (loopback, HTTP/2), {EVENTS} events, {SAMPLES} sequential requests each, warm caches", "",
             f"Raw JMAP state call (Mailbox/get + Email/get of no ids) made directly: p50 {raw50:.2f} ms, p99 {raw99:.2f} ms (HTTP/1.1 from Python)", "",
             "| request | gateway p50 / p99 ms | JMAP requests per client request | gateway's own share of p50 (p50 - requests x raw p50) |",
             "|---|---|---|---|"]
    for title, p50, p99, calls in rows:
        lines.append(f"| {title} | {p50:.2f} / {p99:.2f} | {calls:.2f} | {max(p50 - calls * raw50, 0):.2f} ms |")
    text = "\n".join(lines)
    print("\n" + text)
    (run.WORK / "bench-jmap-results.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
