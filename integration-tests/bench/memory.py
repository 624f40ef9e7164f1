"""make bench-memory: the gateway's resident memory at start, under load and idle afterwards.

Issue 12's memory targets: under 50 MiB resident when started and idle; after a sustained load
at most the configured cache budgets plus 50 MiB, and back there once the load stops. The
embedded gateway (release build) is started on 127.0.0.1, loaded with BENCH_MEMORY_EVENTS
events through PUT, then `wrk` runs the reads clients make (month query, multiget, Depth:1
listing, poll) with BENCH_MEMORY_CLIENTS connections, one after the other in rounds, for
BENCH_MEMORY_MINUTES minutes in all. VmRSS is read from /proc every second; the process is
stopped by PID whatever happens. Results: stdout and integration-tests/.work/bench-memory.json.
"""

import json
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run  # noqa: E402  the event generator, the workloads and the server helpers

EVENTS = int(os.environ.get("BENCH_MEMORY_EVENTS", "10000"))
MINUTES = float(os.environ.get("BENCH_MEMORY_MINUTES", "10"))
CLIENTS = int(os.environ.get("BENCH_MEMORY_CLIENTS", "32"))
IDLE_SECONDS = int(os.environ.get("BENCH_MEMORY_IDLE_SECONDS", "60"))
MIB = 1024 * 1024


def rss(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class Sampler(threading.Thread):
    """VmRSS once a second: the peak is what an operator's memory limit has to allow."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples, self.stopped = pid, 0, [], threading.Event()

    def run(self):
        while not self.stopped.wait(1.0):
            try:
                value = rss(self.pid)
            except (OSError, RuntimeError):
                return
            self.peak = max(self.peak, value)
            self.samples.append((time.monotonic(), value))


def poll_workload():
    body = ('<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/>'
            "<D:sync-token/><D:displayname/><D:resourcetype/></D:prop></D:propfind>")
    return ("calendar home poll", "PROPFIND", body, "1")


def main():
    run.WORK.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-memory-", dir=run.WORK))
    process = None
    try:
        process, base, calendar = run.start_gateway(work)
        time.sleep(2)
        started = rss(process.pid)
        print(f"started, idle: {started / MIB:.1f} MiB", flush=True)
        data = list(run.events(EVENTS))
        seconds = run.load(base, calendar, data)
        loaded = rss(process.pid)
        print(f"loaded {EVENTS} events in {seconds:.1f} s: {loaded / MIB:.1f} MiB", flush=True)
        names = [name for name, _ in data]
        home = calendar.rsplit("/", 2)[0] + "/"
        cells = [(calendar, w) for w in run.workloads(calendar, names)] + [(home, poll_workload())]
        for url, (_, method, body, depth) in cells:
            run.warm_up(base + url, method, body, depth)
        sampler = Sampler(process.pid)
        sampler.start()
        deadline = time.monotonic() + MINUTES * 60
        per_cell = max(5, int(MINUTES * 60 / len(cells) / 4))
        rounds = 0
        saved = (run.CONNECTIONS, run.DURATION)
        run.CONNECTIONS, run.DURATION = str(CLIENTS), f"{per_cell}s"
        try:
            while time.monotonic() < deadline:
                for url, (title, method, body, depth) in cells:
                    if time.monotonic() >= deadline:
                        break
                    run.measure(base + url, run.lua(method, body, depth), work)
                rounds += 1
        finally:
            run.CONNECTIONS, run.DURATION = saved
        after_load = rss(process.pid)
        sampler.stopped.set()
        print(f"after {MINUTES:g} min of load ({rounds} rounds, {CLIENTS} connections): "
              f"{after_load / MIB:.1f} MiB, peak {sampler.peak / MIB:.1f} MiB", flush=True)
        idle = []
        for _ in range(IDLE_SECONDS):
            time.sleep(1)
            idle.append(rss(process.pid))
        print(f"after {IDLE_SECONDS} s idle: {idle[-1] / MIB:.1f} MiB", flush=True)
        result = {"events": EVENTS, "minutes": MINUTES, "clients": CLIENTS, "started_mib": started / MIB,
                  "loaded_mib": loaded / MIB, "peak_mib": sampler.peak / MIB, "after_load_mib": after_load / MIB,
                  "idle_mib": idle[-1] / MIB, "idle_seconds": IDLE_SECONDS}
        (run.WORK / "bench-memory.json").write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if process is not None:
            run.stop(process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
