"""make bench: the gateway next to its peers and a static ceiling, side by side in one run.

For each calendar size (BENCH_SIZES events, plus one task for every ten, data.py) every server
is started privately on 127.0.0.1 (peers.py), loaded with the same objects, and each workload
(workloads.py) is sent once to check its status and to count the <response> elements (a server
answering 4xx, or answering less, fast must not look fast); then wrk drives every cell for
BENCH_SECONDS, cells interleaved (workload, clients, then server A, B, C...) so the machine's
noise hits every server alike. A request that takes longer than BENCH_TIMEOUT, or so long that
the cell could not finish or drain in time, has its cell marked with the one request's time
instead of a hung run.

Knobs (environment): BENCH_SIZES (default 1000,10000,50000), BENCH_CLIENTS (1,8,32),
BENCH_SECONDS (5), BENCH_PEERS (gateway,gateway-jmap,cyrus,xandikos,radicale,ceiling),
BENCH_WORKLOADS (all: poll,sync-initial,sync-changes,listing,multiget,month,vtodo,get,put-new,
put-update), BENCH_TIMEOUT (30 s per request), BENCH_LOAD_TIMEOUT (1800 s: a server that has
not taken the objects by then is left out of that size, and the report says so). `--record`
puts the markdown into BENCHMARKS.md as its newest section. Results: integration-tests/.work/bench-compare.json and .md.
"""

import concurrent.futures
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import data  # noqa: E402
import measure  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import workloads  # noqa: E402

ROOT = peers.ROOT
WORK = ROOT / "integration-tests" / ".work"


def env_list(name, default):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SIZES = [int(size) for size in env_list("BENCH_SIZES", "1000,10000,50000")]
CLIENTS = [int(count) for count in env_list("BENCH_CLIENTS", "1,8,32")]
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
PEERS = env_list("BENCH_PEERS", ",".join(peers.PEERS))
WORKLOADS = env_list("BENCH_WORKLOADS", ",".join(workloads.TITLES))
TIMEOUT_S = int(os.environ.get("BENCH_TIMEOUT", "30"))
peers.LOAD_TIMEOUT_S = int(os.environ.get("BENCH_LOAD_TIMEOUT", str(peers.LOAD_TIMEOUT_S)))
# Longest wait for a server to finish what a cell left queued before the next cell starts.
DRAIN_S = max(2 * SECONDS, 10)


def send(session, peer, workload):
    """The workload once from Python: (status, headers, body text, seconds)."""
    body = workload.body
    if workload.kind == "put-new":
        body = body.replace("@UID@", f"check-{uuid.uuid4().hex}")
        path = workload.path + body.split("UID:", 1)[1].split("\r\n", 1)[0] + ".ics"
    elif workload.kind == "put-update":
        body = body.replace("@N@", "check")
        path = workload.path
    else:
        path = workload.path
    started = time.monotonic()
    r = session.request(workload.method, peer.base + path, data=body.encode(), headers=workload.headers,
                        timeout=TIMEOUT_S)
    seconds = time.monotonic() - started
    return r.status_code, r.headers, r.content.decode("utf-8", "replace"), seconds, path, body


def check(peer, workload, recordings):
    """Sends the workload twice (the first warms caches), checks the status, and records
    what the embedded gateway answered for the ceiling. Returns the check's facts."""
    session = peer.session()
    try:
        for _ in range(2):
            if workload.kind == "put-update":
                workload.headers["If-Match"] = current_etag(peer, workload.path)
            status, headers, text, seconds, path, body = send(session, peer, workload)
    except requests.Timeout:
        return {"status": None, "seconds": TIMEOUT_S, "error": f"no answer within {TIMEOUT_S} s"}
    facts = {"status": status, "seconds": round(seconds, 4), "responses": workloads.responses_in(text),
             "bytes": len(text.encode())}
    if status not in workload.expect:
        facts["error"] = f"status {status}: {text[:200]}"
    if workload.key == "multiget" and text.count("BEGIN:VCALENDAR") < workloads.MULTIGET_HREFS:
        facts["error"] = f"multiget returned {text.count('BEGIN:VCALENDAR')} objects"
    if workload.kind == "put-update":
        if headers.get("ETag"):
            workload.headers["If-Match"] = headers["ETag"]
        else:
            facts["error"] = "no ETag in the answer to an If-Match PUT: the next update cannot be conditional"
    if recordings is not None and workload.kind != "put-update":
        recordings.append({"method": workload.method, "path": "*" if workload.kind == "put-new" else path,
                           "body": "" if workload.kind == "put-new" else body, "status": status,
                           "headers": list(headers.items()), "response": text})
    return facts


def current_etag(peer, path):
    r = peer.session().get(peer.base + path, timeout=TIMEOUT_S)
    return r.headers.get("ETag")


def backend_requests(peer):
    if peer.key != "gateway-jmap":
        return None
    text = requests.get(peer.admin + "/metrics", timeout=10).text
    found = re.search(r"^caldav_gateway_jmap_requests_total (\d+)$", text, re.M)
    return int(found.group(1)) if found else None


def skip_reason(facts, clients):
    """Why a cell is not timed, or None. A request that takes longer than half the cell leaves
    wrk nothing to count; many such requests queued at once would keep the server busy into
    the next cells."""
    if "error" in facts:
        return facts["error"]
    one = facts["seconds"]
    if one > SECONDS / 2 or one * clients / 2 > DRAIN_S:
        return f"one request took {one:.2f} s"
    return None


def run_cell(peer, workload, clients, facts, script_dir):
    reason = skip_reason(facts, clients)
    if reason:
        return {"skipped": reason}
    if workload.kind == "put-update":
        workload.headers["If-Match"] = current_etag(peer, workload.path) or workload.headers["If-Match"]
    run_id = uuid.uuid4().hex[:8]
    script = script_dir / f"{peer.key}-{workload.key}-{clients}.lua"
    script.write_text(measure.lua_script(workload, peer.session().auth, run_id))
    calls_before = backend_requests(peer)
    before = measure.tree_usage(peer.processes)
    result = measure.run_wrk(peer.base + workload.path, script, clients, SECONDS, TIMEOUT_S)
    after = measure.tree_usage(peer.processes)
    result["drain_s"] = round(measure.wait_idle(peer.processes, DRAIN_S), 2)
    done = max(result["requests"], 1)
    result["cpu_ms_per_request"] = {role: round((after[role][0] - before[role][0]) * 1000 / done, 4) for role in after}
    result["rss_mib_after"] = {role: round(after[role][1] / 2**20, 1) for role in after}
    calls_after = backend_requests(peer)
    if calls_before is not None and calls_after is not None:
        result["backend_requests_per_request"] = round((calls_after - calls_before) / done, 3)
    return result


def rss_mib(peer):
    return {role: round(rss / 2**20, 1) for role, (_, rss, _) in measure.tree_usage(peer.processes).items()}


def ready(peer, objects, size):
    """Starts and loads one server and prepares its workloads; returns its facts."""
    started = time.monotonic()
    peer.prepare(objects)
    peer.start()
    load_s = peer.load(objects)
    state = workloads.setup(peer, objects)
    peer.workloads = [w for w in workloads.build(peer, objects, state) if w.key in WORKLOADS]
    how = "written to its storage" if load_s is None else f"loaded through PUT in {load_s:.1f} s"
    print(f"[{size}] {peer.label}: ready in {time.monotonic() - started:.1f} s ({how})", flush=True)
    return {"label": peer.label, "load_s": None if load_s is None else round(load_s, 1),
            "ready_s": round(time.monotonic() - started, 1)}


def run_size(size, work):
    objects = data.calendar(size)
    chosen = [key for key in peers.PEERS if key in PEERS]
    running = []
    result = {"events": size, "objects": len(objects), "peers": {}, "left_out": {}, "checks": {}, "cells": []}
    try:
        for key in chosen:
            if key != "ceiling":
                running.append(peers.PEERS[key](work))
        # Started and loaded at the same time: loading through PUT waits mostly on each
        # server's fsyncs, and one after the other a 10,000-event run spent most of its time
        # here.
        pool = concurrent.futures.ThreadPoolExecutor(len(running))
        try:
            futures = {pool.submit(ready, peer, objects, size): peer for peer in running}
            pending = set(futures)
            while pending:
                # Woken every second, so a SIGTERM is acted on while the servers load.
                done, pending = concurrent.futures.wait(pending, timeout=1,
                                                        return_when=concurrent.futures.FIRST_EXCEPTION)
                for future in done:
                    peer = futures[future]
                    try:
                        result["peers"][peer.key] = future.result()
                    except peers.LoadTooSlow as slow:
                        print(f"[{size}] {peer.label}: left out: {slow}", flush=True)
                        result["left_out"][peer.key] = {"label": peer.label, "reason": str(slow)}
                        peer.stop()
            running = [peer for peer in running if peer.key in result["peers"]]
            # In the order of PEERS, not of readiness: the report's columns follow it.
            result["peers"] = {peer.key: result["peers"][peer.key] for peer in running}
        except BaseException:
            # Stopped first, so the other loaders fail at once instead of loading on.
            for peer in running:
                peer.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        gateway = next((peer for peer in running if peer.key == "gateway"), None)
        recordings = []
        for peer in running:
            result["checks"][peer.key] = {}
            for workload in peer.workloads:
                facts = check(peer, workload, recordings if peer is gateway else None)
                result["checks"][peer.key][workload.key] = facts
                if "error" in facts:
                    print(f"[{size}] {peer.label}: {workload.key}: {facts['error']}", flush=True)
        if "ceiling" in chosen and gateway is not None:
            ceiling = peers.Ceiling(work, gateway)
            running.append(ceiling)
            ceiling.start_with(recordings)
            # The same requests the gateway was checked with, bodies and sync token included.
            ceiling.workloads = [w for w in gateway.workloads if w.kind != "put-update"]
            result["peers"]["ceiling"] = {"label": ceiling.label, "load_s": None, "ready_s": 0}
            result["checks"]["ceiling"] = {w.key: check(ceiling, w, None) for w in ceiling.workloads}
        for peer in running:
            measure.wait_idle(peer.processes, DRAIN_S)
            result["peers"][peer.key]["rss_mib_loaded_idle"] = rss_mib(peer)
        script_dir = work / "lua"
        script_dir.mkdir(exist_ok=True)
        for key in WORKLOADS:
            for clients in CLIENTS:
                for peer in running:
                    workload = next((w for w in peer.workloads if w.key == key), None)
                    if workload is None or (workload.only_clients and clients not in workload.only_clients):
                        continue
                    facts = result["checks"][peer.key][key]
                    cell = run_cell(peer, workload, clients, facts, script_dir)
                    cell.update({"peer": peer.key, "workload": key, "clients": clients})
                    result["cells"].append(cell)
                    print(f"[{size}] {key:13} c{clients:<3} {peer.key:13} " + report.cell_text(cell), flush=True)
        for peer in running:
            measure.wait_idle(peer.processes, DRAIN_S)
            result["peers"][peer.key]["rss_mib_end"] = rss_mib(peer)
    finally:
        for peer in reversed(running):
            peer.stop()
    return result


def machine():
    load = pathlib.Path("/proc/loadavg").read_text().split()[:3]
    cpu = next((line.split(":", 1)[1].strip() for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(line.split()[1] for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(int(memory) / 2**20, 1),
            "kernel": platform.release(), "load_at_start": load}


def main(argv):
    record = "--record" in argv
    # A SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so every server is stopped by PID.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it)")
    needed = {peers.GATEWAY_BIN: {"gateway", "gateway-jmap", "ceiling"}, peers.CEILING_BIN: {"ceiling"}}
    for binary, users in needed.items():
        if users & set(PEERS) and not binary.exists():
            raise SystemExit(f"{binary} is missing: cargo build --release --locked -p gateway -p bench-ceiling")
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
               "settings": {"sizes": SIZES, "clients": CLIENTS, "seconds": SECONDS, "peers": PEERS,
                            "workloads": WORKLOADS, "timeout_s": TIMEOUT_S},
               "sizes": []}
    for size in SIZES:
        work = pathlib.Path(tempfile.mkdtemp(prefix=f"bench-compare-{size}-", dir=WORK))
        work.chmod(0o755)  # Cyrus runs as its own user and must reach its directory inside
        try:
            results["sizes"].append(run_size(size, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        results["total_s"] = round(time.monotonic() - started, 1)
        (WORK / "bench-compare.json").write_text(json.dumps(results, indent=1))
    text = report.markdown(results)
    (WORK / "bench-compare.md").write_text(text)
    print("\n" + text)
    print(f"total run time: {time.monotonic() - started:.0f} s; JSON in {WORK / 'bench-compare.json'}")
    if record:
        record_in_benchmarks(text)


def record_in_benchmarks(text):
    """The tables as BENCHMARKS.md's newest section: before its first `## `, the file being
    ordered newest first."""
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text()
    cut = current.find("\n## ")
    cut = len(current) if cut < 0 else cut + 1
    path.write_text(current[:cut] + text.rstrip("\n") + "\n\n" + current[cut:])


if __name__ == "__main__":
    main(sys.argv[1:])
