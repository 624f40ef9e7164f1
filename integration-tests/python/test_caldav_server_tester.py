"""caldav-server-tester (PyPI), a suite nobody here wrote, against the gateway.

Its full output is recorded in integration-tests/results/. Every feature the tester reports
with a support level other than "full", and every "found something unexpected" line, must be
listed with that level in deviations.py (CALDAV_SERVER_TESTER) for the backend under test;
a listed feature the tester now reports differently fails too.
"""

from conftest import BACKEND, RESULTS_DIR
from deviations import CALDAV_SERVER_TESTER
import json
import os
import pathlib
import re
import subprocess
import sys

# Each run writes here (ignored by git); integration-tests/results/ holds a dated snapshot.
RESULTS = pathlib.Path(__file__).resolve().parents[1] / ".work" / RESULTS_DIR


def test_caldav_server_tester_reports_only_listed_deviations(gateway):
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
    listed = {name: level for name, (level, d) in CALDAV_SERVER_TESTER.items() if BACKEND in d.backends}
    observed = {name: f.get("support") for name, f in features.items() if f.get("support") != "full"}
    unlisted = {n: features[n] for n in observed if listed.get(n) != observed[n]}
    assert not unlisted, f"deviations not listed in deviations.py: {unlisted}"
    unexpected = dict(re.findall(r"found something unexpected for (\S+?)\.\s.*?observed: \{'support': '(\w+)'", run.stderr))
    gone = {n: features.get(n) for n in listed if n not in observed and n not in unexpected}
    assert not gone, f"listed in deviations.py but now reported otherwise: {gone}"
    # The tester's own complaints (observed differs from what it expects; a sub-feature that
    # only inherits its parent's level is not in the JSON) must each be a listed feature.
    # Every complaint line must have been read (none since the gateway advertises scheduling; a
    # change of the line's format must not make complaints pass unread).
    complaints = run.stderr.count("found something unexpected")
    assert len(unexpected) == complaints, f"{complaints} complaints, {len(unexpected)} read: did the format change?"
    unlisted = {n: level for n, level in unexpected.items() if listed.get(n) != level}
    assert not unlisted, f"the tester complains of deviations not listed in deviations.py: {unlisted}"
