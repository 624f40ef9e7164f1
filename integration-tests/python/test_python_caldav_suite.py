"""The python caldav library's own functional test suite (tests/test_caldav.py of its sdist)
pointed at the gateway as an "external" test server.

Only limitations the gateway truly has are declared to the suite, and only listed tests may
be skipped or xfailed; both lists, with reasons, are in deviations.py (PYTHON_CALDAV_DECLARED,
PYTHON_CALDAV_SKIPS). Everything else must pass, and a listed skip that no longer happens fails
too. Output is recorded in integration-tests/results/.
"""

from conftest import BACKEND, RESULTS_DIR
from deviations import PYTHON_CALDAV_DECLARED, PYTHON_CALDAV_DESELECTED, PYTHON_CALDAV_SKIPS
import os
import pathlib
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET

import caldav

WORK = pathlib.Path(__file__).resolve().parents[1] / ".work"
# Each run writes here (ignored by git); integration-tests/results/ holds a dated snapshot.
RESULTS = pathlib.Path(__file__).resolve().parents[1] / ".work" / RESULTS_DIR



def _suite_source():
    """The sdist of exactly the installed caldav version, unpacked once."""
    version = caldav.__version__
    target = WORK / f"caldav-{version}"
    if not (target / "tests" / "test_caldav.py").exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             f"caldav=={version}", "-d", str(WORK)],
            check=True, timeout=300,
        )
        with tarfile.open(WORK / f"caldav-{version}.tar.gz") as archive:
            archive.extractall(WORK, filter="data")
    return target


def test_python_caldav_functional_suite_passes_against_the_gateway(gateway):
    source = _suite_source()
    user, password = gateway.auth("tester")
    # `scheduling` is what the gateway advertises in OPTIONS (the suite's testSupport checks the
    # two agree); naming it also gives the suite's scheduling class the feature information
    # without which it skips every test ("No feature information available").
    declared = {"scheduling": "full"} | {
        name: level for name, (level, d) in PYTHON_CALDAV_DECLARED.items() if BACKEND in d.backends
    }
    features = "".join(f"\n      {name}: {{support: {level}}}" for name, level in declared.items())
    # Two users make the suite generate its TestScheduling class (RFC 6638 between users).
    scheduling_users = "".join(
        f"      - {{url: {gateway.url}, username: {name}, password: {secret}, ssl_verify_cert: {gateway.ca}}}\n"
        for name, secret in (gateway.auth("tester"), gateway.auth("bob"))
    )
    (source / "tests" / "caldav_test_servers.yaml").write_text(
        "test-servers:\n"
        "  radicale: {type: embedded, enabled: false}\n"
        "  xandikos: {type: embedded, enabled: false}\n"
        "  gateway:\n"
        "    type: external\n"
        "    enabled: true\n"
        f"    url: {gateway.url}\n"
        f"    username: {user}\n"
        f"    password: {password}\n"
        f"    ssl_verify_cert: {gateway.ca}\n"
        f"    features:{features}\n"
        f"    scheduling_users:\n{scheduling_users}"
    )
    deselected = "".join(f" and not {name}" for name, d in PYTHON_CALDAV_DESELECTED.items() if BACKEND in d.backends)
    env = dict(os.environ, PYTHON_CALDAV_TEST_DOCKER="0")
    RESULTS.mkdir(parents=True, exist_ok=True)
    junit = RESULTS / "python-caldav-functional.junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function",
         "-W", "ignore::DeprecationWarning", "tests/test_caldav.py", "-k", f"gateway{deselected}", "-rsx",
         f"--junitxml={junit}"],
        cwd=source, env=env, capture_output=True, text=True, timeout=1200,
    )
    (RESULTS / "python-caldav-functional.txt").write_text(run.stdout[-20000:] + run.stderr[-5000:])
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, summary
    assert " passed" in summary and "failed" not in summary, summary
    skipped = _skipped(junit)
    allowed = {t for t, d in PYTHON_CALDAV_SKIPS.items() if BACKEND in d.backends}
    assert set(skipped) == allowed, (
        f"unlisted skips: {sorted(set(skipped) - allowed)}; listed but not skipped: {sorted(allowed - set(skipped))}; "
        f"reasons: {skipped}"
    )


def _skipped(junit):
    """{test name without parameters: the skip or xfail message} from pytest's JUnit XML."""
    skipped = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        for child in case:
            if child.tag == "skipped":
                name = case.get("name").split("[")[0]
                skipped[name] = (child.get("message") or "").strip()[:200]
    return skipped
