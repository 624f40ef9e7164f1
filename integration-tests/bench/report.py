"""compare.py's results as markdown: throughput and latency with ratios, CPU per request,
memory, and the cross-check of what each server answered."""

import math

import workloads

# Ratio columns: (numerator, denominator); req/s of the first over req/s of the second.
RATIOS = [("gateway", "cyrus"), ("gateway", "xandikos"), ("gateway", "radicale"), ("gateway", "ceiling"),
          ("gateway-jmap", "cyrus"), ("gateway-jmap", "gateway"), ("gateway-jmap", "ceiling")]
SHORT = {"gateway": "emb", "gateway-jmap": "JMAP", "cyrus": "Cyrus", "xandikos": "Xandikos", "radicale": "Radicale",
         "ceiling": "ceiling"}


def _num(value):
    if value is None:
        return "?"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1 or value == 0:
        return f"{value:.2f}"
    return f"{value:.{1 - math.floor(math.log10(value))}f}"  # two significant figures, no exponent


def _errors(cell):
    errors = cell.get("errors") or {}
    return " !" + ",".join(f"{k} {v}" for k, v in errors.items()) if errors else ""


def cell_text(cell):
    if "skipped" in cell:
        return f"skipped: {cell['skipped'][:80]}"
    cpu = ", ".join(f"{role} {ms:.3f}" for role, ms in cell["cpu_ms_per_request"].items())
    calls = f", {cell['backend_requests_per_request']} backend req/req" if "backend_requests_per_request" in cell else ""
    return (f"{cell['rps']:.1f} req/s, p50 {_num(cell['p50_ms'])} p99 {_num(cell['p99_ms'])} ms, "
            f"CPU ms/req {cpu}{calls}{_errors(cell)}")


def _rate(cell, check):
    """req/s of a cell, or for a cell skipped as too slow an estimate from one request's time
    (True as second value)."""
    if cell is None:
        return None, False
    if "skipped" in cell:
        if check and "error" not in check and check.get("seconds"):
            return 1 / check["seconds"], True
        return None, False
    if cell.get("errors") or not cell.get("requests"):
        return None, False
    return cell["rps"], False


def _throughput_cell(cell, check):
    if cell is None:
        return ""
    if "skipped" in cell:
        if check and "error" not in check:
            return f"slow: {check['seconds']:.2f} s/req"
        return "error"
    if not cell.get("requests"):
        return f"none completed in the cell{_errors(cell)}"
    return f"{_num(cell['rps'])} ({_num(cell['p50_ms'])} / {_num(cell['p99_ms'])}){_errors(cell)}"


def _ratio(a, b):
    (ra, est_a), (rb, est_b) = a, b
    if ra is None or rb is None or rb == 0:
        return ""
    return f"{'~' if est_a or est_b else ''}{_num(ra / rb)}x"


def size_tables(size_result):
    peers = list(size_result["peers"])
    labels = {key: size_result["peers"][key]["label"] for key in peers}
    cells = {(c["workload"], c["clients"], c["peer"]): c for c in size_result["cells"]}
    checks = size_result["checks"]
    rows = sorted({(c["workload"], c["clients"]) for c in size_result["cells"]},
                  key=lambda row: (list(workloads.TITLES).index(row[0]), row[1]))
    ratios = [(a, b) for a, b in RATIOS if a in peers and b in peers]
    left_out = [f"{info['label']} ({info['reason']})" for info in size_result.get("left_out", {}).values()]
    out = [f"### {size_result['events']:,} events (+ {size_result['objects'] - size_result['events']:,} tasks)", ""]
    if left_out:
        out += ["Left out of this size, not loaded in time: " + "; ".join(left_out) + ".", ""]
    out += ["req/s (p50 / p99 ms); ratios are req/s of the first over req/s of the second (above 1x: the first "
            "is faster); `~`: the peer's rate estimated from one request's time, its cell being too slow to time.", "",
            "| request | clients | " + " | ".join(labels[p] for p in peers) + " | "
            + " | ".join(f"{SHORT[a]}/{SHORT[b]}" for a, b in ratios) + " |",
            "|---|---|" + "---|" * (len(peers) + len(ratios))]
    for workload, clients in rows:
        line = [workloads.TITLES[workload], str(clients)]
        for peer in peers:
            line.append(_throughput_cell(cells.get((workload, clients, peer)), checks.get(peer, {}).get(workload)))
        for a, b in ratios:
            line.append(_ratio(_rate(cells.get((workload, clients, a)), checks.get(a, {}).get(workload)),
                               _rate(cells.get((workload, clients, b)), checks.get(b, {}).get(workload))))
        out.append("| " + " | ".join(line) + " |")
    out += ["", "Server CPU per request (ms; the server's whole process tree, from /proc) and, for the JMAP "
            "backend, the gateway's requests to Cyrus per client request (from its /metrics):", "",
            "| request | clients | " + " | ".join(_cpu_headers(peers, labels)) + " |",
            "|---|---|" + "---|" * len(_cpu_headers(peers, labels))]
    for workload, clients in rows:
        line = [workloads.TITLES[workload], str(clients)]
        for peer in peers:
            cell = cells.get((workload, clients, peer))
            roles = ("gateway", "cyrus") if peer == "gateway-jmap" else (None,)
            for role in roles:
                if cell is None or "skipped" in cell or not cell.get("requests"):
                    line.append("")
                else:
                    values = cell["cpu_ms_per_request"]
                    line.append(f"{values[role] if role else sum(values.values()):.3f}")
            if peer == "gateway-jmap":
                counted = cell and "skipped" not in cell and cell.get("requests")
                line.append(str(cell.get("backend_requests_per_request", "")) if counted else "")
        out.append("| " + " | ".join(line) + " |")
    out += ["", "Memory (MiB resident: the gateway's VmRSS; for Cyrus the sum over its master and every child, "
            "which counts shared pages once per process) and loading:", "",
            "| server | loaded, idle | after the last cell, idle | highest after a cell | loading |", "|---|---|---|---|---|"]
    for peer in peers:
        info = size_result["peers"][peer]
        highest = {}
        for cell in size_result["cells"]:
            if cell["peer"] == peer and "rss_mib_after" in cell:
                for role, mib in cell["rss_mib_after"].items():
                    highest[role] = max(highest.get(role, 0), mib)
        loading = ("through PUT, 8 clients: %.1f s" % info["load_s"]) if info.get("load_s") is not None else (
            "replays the gateway's answers" if peer == "ceiling" else "written to its storage")
        out.append(f"| {labels[peer]} | {_mib(info.get('rss_mib_loaded_idle'))} | {_mib(info.get('rss_mib_end'))} | "
                   f"{_mib(highest)} | {loading} |")
    out += ["", "What each server answered (status, <response> elements) when checked before timing:", "",
            "| request | " + " | ".join(labels[p] for p in peers) + " |", "|---|" + "---|" * len(peers)]
    for workload in workloads.TITLES:
        if not any(workload in checks.get(p, {}) for p in peers):
            continue
        line = [workloads.TITLES[workload]]
        for peer in peers:
            check = checks.get(peer, {}).get(workload)
            if check is None:
                line.append("n/a")
            elif "error" in check:
                line.append(f"{check.get('status')}: {check['error'][:60]}".replace("|", "/").replace("\n", " "))
            else:
                line.append(f"{check['status']}, {check['responses']}")
        out.append("| " + " | ".join(line) + " |")
    differing = []
    # The poll lists each server's own home: its default calendar, schedule inbox and outbox
    # differ by design; every other answer should hold the same members everywhere.
    for workload in [w for w in workloads.TITLES if w != "poll"]:
        counts = {labels[p]: checks[p][workload]["responses"] for p in peers
                  if "responses" in checks.get(p, {}).get(workload, {})}
        if len(set(counts.values())) > 1:
            differing.append(f"{workload} ({', '.join(f'{label} {n}' for label, n in counts.items())})")
    if differing:
        out += ["", "Answers of different sizes, so not the same work: " + "; ".join(differing) + "."]
    return out


def _cpu_headers(peers, labels):
    headers = []
    for peer in peers:
        if peer == "gateway-jmap":
            headers += ["JMAP: gateway", "JMAP: Cyrus", "JMAP: requests to Cyrus"]
        else:
            headers.append(labels[peer])
    return headers


def _mib(values):
    if not values:
        return ""
    return " + ".join(f"{role} {mib:.0f}" for role, mib in values.items()) if len(values) > 1 else \
        f"{next(iter(values.values())):.0f}"


def markdown(results):
    m = results["machine"]
    s = results["settings"]
    out = [f"## {results['date'][:10]}, side by side: `make bench` (integration-tests/bench/compare.py)", "",
           f"{m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, load average at start "
           f"{' '.join(m['load_at_start'])}. wrk, {s['seconds']} s per cell, clients {', '.join(map(str, s['clients']))} "
           f"(2 wrk threads from 2 clients on), request timeout {s['timeout_s']} s; cells interleaved across servers; "
           f"plain HTTP/1.1 on 127.0.0.1. Total run time {results.get('total_s', 0):.0f} s.", ""]
    for size_result in results["sizes"]:
        out += size_tables(size_result) + [""]
    return "\n".join(out)
