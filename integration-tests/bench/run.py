"""The gateway against Radicale on the same 10,000 events (the first `make bench`; compare.py,
which `make bench` runs now, measures every peer side by side; this stays runnable alone).

Both servers run on 127.0.0.1 over plain HTTP (the same footing for both; TLS cost is not
what is compared), each on a port picked here, and are stopped by PID. `wrk` drives three
requests a CalDAV client makes constantly, for a fixed time each:
  - a one-month time-range calendar-query (DAVx5/iOS sync window), getetag only
  - a calendar-multiget of 100 hrefs with calendar-data
  - a Depth:1 PROPFIND of the calendar with getetag (the "what changed?" listing)
and reports requests/s and p50/p99 latency. Results go to stdout and to
integration-tests/.work/bench-results.md.
"""

import base64
import concurrent.futures
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import data  # noqa: E402  the event generator every benchmark shares
import peers  # noqa: E402  starting and stopping servers
from peers import free_port, wait_until_up  # noqa: E402  jmap.py uses them through run

EVENTS = int(os.environ.get("BENCH_EVENTS", "10000"))
DURATION = os.environ.get("BENCH_DURATION", "20s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "4")
USER, PASSWORD = "bench", "bench-password"
ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = ROOT / "integration-tests" / ".work"
events = data.events  # jmap.py and earlier runs call run.events
stop = peers.stop_process


def start_gateway(work):
    binary = ROOT / "target" / "release" / "caldav-gateway"
    port = free_port()
    env = dict(os.environ, GATEWAY__SERVER__LISTEN=f"127.0.0.1:{port}", GATEWAY__TLS__ENABLED="false",
               GATEWAY__BACKEND__EMBEDDED__DATA_DIR=str(work / "gateway"), GATEWAY__DEMO__ENABLED="false",
               GATEWAY__LOG__LEVEL="warn")
    subprocess.run([binary, "user", "add", USER, "--password", PASSWORD], env=env, check=True, capture_output=True)
    process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base + "/dav/")
    return process, base, f"/dav/calendars/{USER}/bench/"


def seed_radicale(work, data):
    """Radicale's filesystem storage: a collection is a folder with `.Radicale.props`, an item
    one file. Loading through PUT would take tens of minutes: each PUT re-reads the growing
    collection (4,080 of 10,000 items after 8 minutes here)."""
    folder = work / "radicale" / "collection-root" / USER / "bench"
    folder.mkdir(parents=True)
    (folder / ".Radicale.props").write_text('{"tag": "VCALENDAR", "D:displayname": "bench"}')
    for name, ics in data:
        (folder / name).write_text(ics, newline="")


def start_radicale(work):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}", "--auth-type", "none",
         "--storage-filesystem-folder", str(work / "radicale"), "--logging-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base + "/")
    return process, base, f"/{USER}/bench/"


def load(base, calendar, data):
    auth = (USER, PASSWORD)
    response = requests.request("MKCALENDAR", base + calendar, auth=auth, timeout=60)
    assert response.status_code == 201, (base, response.status_code, response.text)
    local = __import__("threading").local()

    def put(item):
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.auth = auth
        name, ics = item
        r = local.session.put(base + calendar + name, data=ics.encode(), headers={"Content-Type": "text/calendar"}, timeout=60)
        assert r.status_code in (201, 204), (name, r.status_code, r.text[:200])

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, data))
    return time.monotonic() - started


def warm_up(url, method, body, depth):
    """One request first, so caches (Radicale's item cache) are built outside the measurement."""
    response = requests.request(method, url, data=body.encode(), auth=(USER, PASSWORD),
                                headers={"Depth": depth, "Content-Type": "application/xml"}, timeout=600)
    assert response.status_code == 207, (url, response.status_code, response.text[:300])
    assert body.count("<D:href>") == 0 or response.text.count("200 OK") >= 100, "multiget found too little"


def lua(method, body, depth):
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    escaped = body.replace("\\", "\\\\").replace("]]", "] ]")
    return (f'wrk.method = "{method}"\nwrk.body = [[{escaped}]]\n'
            f'wrk.headers["Content-Type"] = "application/xml; charset=utf-8"\n'
            f'wrk.headers["Depth"] = "{depth}"\nwrk.headers["Authorization"] = "Basic {token}"\n')


def workloads(calendar, names):
    month = ('<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
             '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
             '<C:time-range start="20270301T000000Z" end="20270401T000000Z"/></C:comp-filter></C:comp-filter>'
             "</C:filter></C:calendar-query>")
    hrefs = "".join(f"<D:href>{calendar}{name}</D:href>" for name in names[:100])
    multiget = ('<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
                f"<C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>")
    propfind = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>'
    return [("one-month calendar-query", "REPORT", month, "1"),
            ("100-href calendar-multiget", "REPORT", multiget, "1"),
            (f"Depth:1 PROPFIND of {EVENTS} members", "PROPFIND", propfind, "1")]


def measure(url, script, work):
    path = work / "workload.lua"
    path.write_text(script)
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}", "--timeout", "300s", "--latency", "-s", str(path), url],
                         capture_output=True, text=True, timeout=600).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert not non_2xx, f"{url}: {non_2xx.group(0)}\n{out}"

    def pct(p):
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    return rps, pct(50), pct(99)


def main():
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it)")
    WORK.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-", dir=WORK))
    data = list(events(EVENTS))
    names = [name for name, _ in data]
    rng = random.Random(1)
    sample = rng.sample(names, 100)
    servers = []
    measured = []
    try:
        for label, starter in [("caldav-gateway", start_gateway), ("Radicale 3.9.0", start_radicale)]:
            if starter is start_radicale:
                seed_radicale(work, data)
            process, base, calendar = starter(work)
            servers.append(process)
            seconds = load(base, calendar, data) if starter is start_gateway else None
            if seconds is not None:
                print(f"{label}: loaded {EVENTS} events through PUT in {seconds:.1f} s", flush=True)
            results = []
            for title, method, body, depth in workloads(calendar, sample):
                warm_up(base + calendar, method, body, depth)
                results.append((title, measure(base + calendar, lua(method, body, depth), work)))
                print(f"  {title}: {results[-1][1][0]:.1f} req/s", flush=True)
            stop(process)
            servers.remove(process)
            measured.append((label, seconds, results))
    finally:
        for process in servers:
            stop(process)
        shutil.rmtree(work, ignore_errors=True)
    report(measured)


def report(measured):
    (gw_label, gw_load, gw), (rad_label, rad_load, rad) = measured
    lines = [f"{EVENTS} events, wrk -t1 -c{CONNECTIONS} -d{DURATION}, {os.cpu_count()} cores, plain HTTP on loopback", "",
             f"| request | {gw_label} req/s | p50 / p99 ms | {rad_label} req/s | p50 / p99 ms | ratio |",
             "|---|---|---|---|---|---|"]
    for (title, (g_rps, g50, g99)), (_, (r_rps, r50, r99)) in zip(gw, rad):
        lines.append(f"| {title} | {g_rps:.1f} | {g50:.2f} / {g99:.2f} | {r_rps:.1f} | {r50:.2f} / {r99:.2f} | {g_rps / r_rps:.1f}x |")
    lines.append(f"| loading the events through PUT (8 parallel clients) | {gw_load:.1f} s | | written to its storage | | |")
    text = "\n".join(lines)
    print("\n" + text)
    (WORK / "bench-results.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
