"""Starts the real gateway binary on 127.0.0.1 over real TLS, on a fresh embedded store, or
with CALDAV_TEST_BACKEND=jmap in front of the Cyrus IMAP server that
`integration-tests/cyrus/cyrus.py start` runs (CYRUS_JMAP_URL; its users are the ones below),
or with CALDAV_TEST_BACKEND=imap in front of the Dovecot that
`integration-tests/dovecot/dovecot.py start` runs (DOVECOT_IMAP_URL, the same users).

The binary comes from CALDAV_GATEWAY_BIN (the Makefile builds it). Each server listens on a
port it picked itself (port 0, read back from its start-up line), is stopped by PID when its
fixture ends (also when a test failed), and its log is attached to the report of every test
that fails while it runs.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

import pytest

LISTENING = re.compile(r"CalDAV gateway listening on (https?://\S+)")
ADMIN_LISTENING = re.compile(r"admin listening on (http://\S+)")
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15
USERS = {"alice": "alice-secret", "bob": "bob-secret", "tester": "tester-secret"}
BACKEND = os.environ.get("CALDAV_TEST_BACKEND", "embedded")
# Whether the gateway can reach other users' calendars itself (store::Directory): the
# embedded store always, JMAP through the service account. Then colleagues are scheduled
# directly and their free-busy is answered; otherwise by iMIP mail, and 3.7.
DIRECTORY = BACKEND == "embedded" or bool(os.environ.get("CYRUS_SERVICE_USER"))
# extra_env of a JMAP gateway that has no service account (config/gateway.toml: empty
# service_user), so colleagues are reached only by iMIP mail. Harmless on the embedded store.
WITHOUT_SERVICE_ACCOUNT = {"GATEWAY__BACKEND__JMAP__SERVICE_USER": "", "GATEWAY__BACKEND__JMAP__SERVICE_PASSWORD": ""}
# Where outside suites write their full output, below integration-tests/.work/.
RESULTS_DIR = "results" if BACKEND == "embedded" else f"results-{BACKEND}"

# Gateways currently running, so a failing test's report can show their logs.
_running = []


@dataclass
class Gateway:
    url: str  # e.g. https://127.0.0.1:40123/
    ca: str  # the certificate to trust: real verification, never turned off
    data_dir: str
    process: subprocess.Popen
    stderr: list = field(default_factory=list)
    admin_url: str = ""  # the admin listener (health, readiness, metrics), e.g. http://127.0.0.1:40124/

    def auth(self, user="alice"):
        return (user, USERS[user])

    def log_tail(self, lines=60):
        return "".join(self.stderr[-lines:])


def _binary():
    binary = os.environ.get("CALDAV_GATEWAY_BIN")
    if not binary or not os.access(binary, os.X_OK):
        pytest.fail(f"CALDAV_GATEWAY_BIN must name the built caldav-gateway binary (run via make); got {binary!r}")
    return binary


def _env(data_dir, extra):
    env = dict(os.environ)
    # A developer's own overrides must not leak into the gateway under test.
    for name in [n for n in env if n.startswith("GATEWAY__")]:
        del env[name]
    env.update(
        {
            "GATEWAY__SERVER__LISTEN": "127.0.0.1:0",
            "GATEWAY__ADMIN__LISTEN": "127.0.0.1:0",
            "GATEWAY__BACKEND__EMBEDDED__DATA_DIR": data_dir,
            "GATEWAY__DEMO__ENABLED": "false",
            "GATEWAY__LOG__LEVEL": "info",
        }
    )
    if BACKEND == "jmap":
        env["GATEWAY__BACKEND__KIND"] = "jmap"
        env["GATEWAY__BACKEND__JMAP__URL"] = os.environ["CYRUS_JMAP_URL"]
        # Every request validated: the tests of changes made behind the gateway's back expect
        # them in the very next request. The window (default 1 s) has tests of its own in
        # test_mail_store_changes.py, which pass None to get the default.
        env["GATEWAY__BACKEND__JMAP__FRESHNESS_MS"] = "0"
        # The embedded users' addresses (user add --email below), so scheduling tests name
        # the same attendees on both backends.
        env["GATEWAY__MAIL__DOMAIN"] = "example.com"
        # The service account cyrus.py shares every test user with: colleagues are scheduled
        # directly and their free-busy answered. A test of the mail path passes
        # WITHOUT_SERVICE_ACCOUNT as extra_env.
        if os.environ.get("CYRUS_SERVICE_USER"):
            env["GATEWAY__BACKEND__JMAP__SERVICE_USER"] = os.environ["CYRUS_SERVICE_USER"]
            env["GATEWAY__BACKEND__JMAP__SERVICE_PASSWORD"] = os.environ["CYRUS_SERVICE_PASSWORD"]
    if BACKEND == "imap":
        # The Dovecot that `integration-tests/dovecot/dovecot.py start` runs (same users).
        env["GATEWAY__BACKEND__KIND"] = "imap"
        env["GATEWAY__BACKEND__IMAP__URL"] = os.environ["DOVECOT_IMAP_URL"]
        env["GATEWAY__MAIL__DOMAIN"] = "example.com"
    env.update(extra)
    # None: the gateway's own default for that setting.
    return {name: value for name, value in env.items() if value is not None}


def _trust_anchor(data_dir):
    """The generated local CA when the gateway made one (tls/ca.pem), else its self-signed
    certificate (tls/cert.pem)."""
    tls = os.path.join(data_dir, "tls")
    for name in ("ca.pem", "cert.pem"):
        path = os.path.join(tls, name)
        if os.path.exists(path):
            return path
    return None


def start_gateway(extra_env=None, data_dir=None):
    """Starts a gateway on a fresh data directory with the users, or, given `data_dir`, again
    on what an earlier gateway left there (its store, users and TLS certificate)."""
    binary = _binary()
    fresh = data_dir is None
    data_dir = data_dir or tempfile.mkdtemp(prefix="caldav-gateway-test-")
    env = _env(data_dir, extra_env or {})
    try:
        embedded = env.get("GATEWAY__BACKEND__KIND", "embedded") == "embedded"
        for user, password in USERS.items() if embedded and fresh else ():
            added = subprocess.run(
                [binary, "user", "add", user, "--password", password, "--email", f"{user}@example.com"],
                env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
            )
            if added.returncode != 0:
                pytest.fail(f"`caldav-gateway user add {user}` exited {added.returncode}:\n{added.stdout}{added.stderr}")
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise

    process = subprocess.Popen(
        [binary, "serve"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    gateway = Gateway(url="", ca="", data_dir=data_dir, process=process)
    # Both pipes are drained for the whole life of the process, so it never blocks on a full pipe.
    threading.Thread(target=lambda: gateway.stderr.extend(process.stderr), daemon=True).start()
    announced = threading.Event()

    def read_stdout():
        for line in process.stdout:
            gateway.stderr.append("[stdout] " + line)
            admin = ADMIN_LISTENING.search(line)
            if admin:
                gateway.admin_url = admin.group(1)
            match = LISTENING.search(line)
            if match and not announced.is_set():
                gateway.url = match.group(1)
                announced.set()

    threading.Thread(target=read_stdout, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not announced.wait(timeout=0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            why = f"exited with {process.returncode}" if process.returncode is not None else f"no start-up line in {START_TIMEOUT_S} s"
            stop_gateway(gateway)
            pytest.fail(f"gateway did not start ({why}); its output:\n{gateway.log_tail()}")
    if gateway.url.startswith("https://"):
        gateway.ca = _trust_anchor(data_dir)
        if gateway.ca is None:
            stop_gateway(gateway)
            pytest.fail(f"gateway serves TLS but wrote neither tls/ca.pem nor tls/cert.pem under {data_dir}")
    _running.append(gateway)
    return gateway


def stop_gateway(gateway):
    """Stops the gateway by its PID: SIGTERM, a bounded wait, then SIGKILL; removes its data."""
    process = gateway.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    if gateway in _running:
        _running.remove(gateway)
    shutil.rmtree(gateway.data_dir, ignore_errors=True)


def kill_gateway(gateway):
    """SIGKILL, as a crash or the OOM killer would end it; its data directory stays."""
    gateway.process.kill()
    gateway.process.wait(timeout=STOP_TIMEOUT_S)
    if gateway in _running:
        _running.remove(gateway)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for gateway in _running:
            report.sections.append((f"gateway {gateway.url} (pid {gateway.process.pid}) log", gateway.log_tail()))


def _serving():
    """Yields a fresh gateway and stops it when the fixture using it ends; returns it."""
    gw = start_gateway()
    try:
        yield gw
    finally:
        stop_gateway(gw)
    return gw


@pytest.fixture(scope="session")
def gateway():
    """One gateway for the session, with users alice, bob and tester."""
    gw = yield from _serving()
    # A gateway that did not stop on SIGTERM by itself is a bug worth a red test.
    assert gw.process.returncode == 0, f"gateway exited {gw.process.returncode} on SIGTERM:\n{gw.log_tail()}"


@pytest.fixture(scope="module")
def module_gateway():
    """A gateway of the test module's own, with the same users: what its tests store (e.g.
    meetings delivered into other users' calendars) stays out of the other modules' sight."""
    yield from _serving()


@pytest.fixture
def start_dedicated_gateway():
    """Starts gateways with extra settings for one test; all are stopped when it ends."""
    started = []

    def start(**env):
        gw = start_gateway(env)
        started.append(gw)
        return gw

    try:
        yield start
    finally:
        for gw in started:
            stop_gateway(gw)
