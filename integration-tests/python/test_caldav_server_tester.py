"""caldav-server-tester (PyPI), a suite nobody here wrote, against the gateway.

Its full output is recorded in integration-tests/results/. The test fails when the tester
reports a deviation not listed below; each listed one is shared by Cyrus IMAP or Radicale
(per the caldav library's own compatibility records) and names the issue that will close it.
"""

from conftest import RESULTS_DIR
import json
import os
import pathlib
import re
import subprocess
import sys

# Each run writes here (ignored by git); integration-tests/results/ holds a dated snapshot.
RESULTS = pathlib.Path(__file__).resolve().parents[1] / ".work" / RESULTS_DIR

ACCEPTED = {
    "scheduling": "RFC 6638 scheduling is a later issue; Radicale lacks it too",
    "sync-token.limit": "opaque states give no partial token, so DAV:limit is refused with 507; Radicale ignores the limit",
    "sync-token.limit.initial-sync": "as sync-token.limit",
}


def test_caldav_server_tester_reports_nothing_cyrus_and_radicale_do_not_share(gateway):
    user, password = gateway.auth("tester")
    env = dict(os.environ, CALDAV_URL=gateway.url, CALDAV_USERNAME=user, CALDAV_PASSWORD=password,
               CALDAV_SSL_VERIFY_CERT=gateway.ca)
    tester = pathlib.Path(sys.executable).parent / "caldav-server-tester"
    run = subprocess.run([str(tester), "--verbose", "--format", "json"], env=env, capture_output=True, text=True, timeout=900)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "caldav-server-tester.json").write_text(run.stdout)
    (RESULTS / "caldav-server-tester.log").write_text(run.stderr)
    assert run.returncode == 0, run.stderr[-2000:]
    features = json.loads(run.stdout)["features"]
    # Evidence the checks reached the server (the JSON lists only non-default findings).
    assert features["save.no-uid-conflict"]["support"] == "full"
    assert features["calendar-order"]["support"] == "full"
    unexpected = set(re.findall(r"found something unexpected for (\S+?)\.\s", run.stderr))
    assert unexpected, "expected at least the accepted deviations; did the tester's output format change?"
    new = sorted(unexpected - ACCEPTED.keys())
    assert not new, "new deviations: " + ", ".join(f"{n}: {features.get(n)}" for n in new)
