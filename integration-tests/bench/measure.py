"""One cell of compare.py: one workload on one server at one client count, driven by wrk.

wrk (compiled, epoll) sends the request over kept-alive HTTP/1.1 connections for a fixed time;
a Lua script sets method, headers and body, and for the PUT workloads builds a new href and UID
per request (put-new) or sends If-Match with the ETag of the previous answer (put-update).
Server-side cost comes from /proc: CPU (utime+stime of every process of the server's process
tree, plus what its reaped children used: cutime+cstime) and resident memory (the sum of RSS
over that tree; for Cyrus, whose master forks a process per connection, the sum counts shared
pages once per process and so over-states it).
"""

import base64
import os
import pathlib
import re
import subprocess
import time

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stats():
    """PID -> (ppid, cpu ticks including reaped children, rss bytes) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = text[text.rindex(")") + 2:].split()
        table[int(entry)] = (int(rest[1]), sum(int(x) for x in rest[11:15]), int(rest[21]) * PAGE)
    return table


def tree_usage(roots):
    """{role: (cpu seconds, rss bytes, processes)} for each role's process tree."""
    table = _stats()
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    usage = {}
    for role, root in roots.items():
        cpu = rss = count = 0
        todo = [root]
        while todo:
            pid = todo.pop()
            if pid not in table:
                continue
            _, ticks, resident = table[pid]
            cpu += ticks
            rss += resident
            count += 1
            todo.extend(children.get(pid, []))
        usage[role] = (cpu / TICKS, rss, count)
    return usage


def wait_idle(roots, limit_s, busy_fraction=0.05, window_s=0.3):
    """Waits (at most limit_s) until the server trees use under busy_fraction of a core, so
    work queued by one cell does not land in the next. Returns the seconds waited."""
    started = time.monotonic()
    before = sum(cpu for cpu, _, _ in tree_usage(roots).values())
    while time.monotonic() - started < limit_s:
        time.sleep(window_s)
        now = sum(cpu for cpu, _, _ in tree_usage(roots).values())
        if now - before < busy_fraction * window_s:
            break
        before = now
    return time.monotonic() - started


def _lua_string(text):
    """A Lua string literal of the text, byte for byte: a long bracket would turn each CRLF
    of an iCalendar body into LF, which servers rightly refuse."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in '\\"':
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def lua_script(workload, auth, run_id):
    lines = [f'wrk.method = "{workload.method}"', f"wrk.path = {_lua_string(workload.path)}"]
    headers = dict(workload.headers)
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    for name, value in headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    if workload.kind == "static":
        if workload.body:
            lines.append(f"wrk.body = {_lua_string(workload.body)}")
    elif workload.kind == "put-new":
        before, after = workload.body.split("@UID@")
        lines += [
            f"local before, after = {_lua_string(before)}, {_lua_string(after)}",
            "local threads = 0",
            "function setup(thread) threads = threads + 1; thread:set('tid', threads) end",
            "counter = 0",
            "function request()",
            "  counter = counter + 1",
            f"  local uid = '{run_id}-' .. tid .. '-' .. counter",
            f"  return wrk.format(nil, {_lua_string(workload.path)} .. uid .. '.ics', nil, before .. uid .. after)",
            "end",
        ]
    elif workload.kind == "put-update":
        before, after = workload.body.split("@N@")
        lines += [
            f"local before, after = {_lua_string(before)}, {_lua_string(after)}",
            f"etag = {_lua_string(headers['If-Match'])}",
            "counter = 0",
            "function request()",
            "  counter = counter + 1",
            "  wrk.headers['If-Match'] = etag",
            "  return wrk.format(nil, nil, nil, before .. counter .. after)",
            "end",
            "function response(status, headers, body)",
            "  for name, value in pairs(headers) do",
            "    if string.lower(name) == 'etag' then etag = value end",
            "  end",
            "end",
        ]
    return "\n".join(lines) + "\n"


def _ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out):
    requests_done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not requests_done or not rps:
        raise RuntimeError(f"unexpected wrk output:\n{out}")

    def pct(p):
        found = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s|m)\b", out)
        return _ms(*found.groups()) if found else None

    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = {}
    if socket_errors:
        for name, value in zip(("connect", "read", "write", "timeout"), socket_errors.groups()):
            if int(value):
                errors[name] = int(value)
    if non_2xx:
        errors["non_2xx"] = int(non_2xx.group(1))
    return {"requests": int(requests_done.group(1)), "rps": float(rps.group(1)), "p50_ms": pct(50),
            "p99_ms": pct(99), "errors": errors}


def run_wrk(url, script_path, clients, seconds, timeout_s):
    threads = min(clients, 2)
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", f"--timeout", f"{timeout_s}s", "--latency",
               "-s", str(script_path), url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    # wrk runs a plain GET when the script does not load, and says so only on stderr.
    if out.returncode != 0 or out.stderr.strip():
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr[-500:]}")
    return parse_wrk(out.stdout)
