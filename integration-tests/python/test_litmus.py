"""litmus (Debian's package), the WebDAV conformance suite, against the gateway.

litmus works in the collection it is given: it creates `litmus/` there with MKCOL and puts
files, nested collections and dead properties into it. A calendar collection may hold neither
files nor collections (RFC 4791 §4.2), so the suite runs in the calendar home, where the
gateway keeps plain WebDAV collections; the same handlers serve calendars.

Every suite must pass. The only warnings and skipped tests allowed are those listed, with
their reasons, in deviations.py (LITMUS_WARNINGS, LITMUS_SKIPS); a listed one that no longer
occurs fails too. The full output is recorded.

litmus talks TLS through neon/GnuTLS, which trusts only the system store, so this gateway
serves plain HTTP on 127.0.0.1 (explicitly configured, as behind a TLS-terminating proxy).
"""

from conftest import BACKEND, RESULTS_DIR
from deviations import LITMUS_SKIPS, LITMUS_WARNINGS
import pathlib
import re
import shutil
import subprocess
import tempfile

RESULTS = pathlib.Path(__file__).resolve().parents[1] / ".work" / RESULTS_DIR
SUITES = ["basic", "copymove", "props", "locks", "http"]
SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


def test_litmus_passes_every_suite(start_dedicated_gateway):
    litmus = shutil.which("litmus")
    assert litmus, "litmus is installed by `make integration` (apt-get install litmus)"
    gw = start_dedicated_gateway(GATEWAY__TLS__ENABLED="false")
    assert gw.url.startswith("http://127.0.0.1:"), gw.url
    user, password = gw.auth("tester")
    url = gw.url.rstrip("/") + f"/dav/calendars/{user}/"
    with tempfile.TemporaryDirectory(prefix="litmus-") as work:
        # litmus writes debug.log and child.log into its working directory.
        run = subprocess.run(
            [litmus, "--keep-going", url, user, password],
            cwd=work, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        )
    output = run.stdout + run.stderr
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "litmus.txt").write_text(output)
    summaries = {m[0]: (int(m[1]), int(m[2]), int(m[3])) for m in SUMMARY.findall(output)}
    assert sorted(summaries) == sorted(SUITES), output[-3000:]
    for suite, (ran, passed, failed) in summaries.items():
        assert failed == 0 and passed == ran, f"{suite}: {failed} failed\n{output[-3000:]}"
    warnings = {w.strip() for w in re.findall(r"WARNING: (.+)", output)}
    allowed = {w for w, d in LITMUS_WARNINGS.items() if BACKEND in d.backends}
    assert warnings == allowed, f"unlisted: {sorted(warnings - allowed)}; listed but gone: {sorted(allowed - warnings)}"
    skipped = set(_skipped_tests(output))
    allowed = {t for t, d in LITMUS_SKIPS.items() if BACKEND in d.backends}
    assert skipped == allowed, f"unlisted skips: {sorted(skipped - allowed)}; listed but gone: {sorted(allowed - skipped)}"
    assert run.returncode == 0, output[-3000:]


def _skipped_tests(output):
    """"<suite>.<test>" for every SKIPPED line, the suite read from the `-> running` line above."""
    suite = None
    for line in output.splitlines():
        running = re.match(r"-> running `(\w+)'", line)
        if running:
            suite = running.group(1)
        skipped = re.match(r"\s*\d+\. (\w+)\.+ SKIPPED", line)
        if skipped:
            yield f"{suite}.{skipped.group(1)}"
