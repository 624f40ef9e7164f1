"""Starts the real gateway binary on 127.0.0.1 with a fresh embedded store, over real TLS.

The binary comes from CALDAV_GATEWAY_BIN (the Makefile builds it). Each server listens on a
port it picked itself (port 0, read back from its start-up line) and is stopped by PID.
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

LISTENING = re.compile(r"listening on (https?://\S+)")
START_TIMEOUT_S = 30
USERS = {"alice": "alice-secret", "bob": "bob-secret", "tester": "tester-secret"}


@dataclass
class Gateway:
    url: str  # e.g. https://127.0.0.1:40123/
    ca: str  # the generated local CA to trust
    data_dir: str
    process: subprocess.Popen
    stderr: list = field(default_factory=list)

    def auth(self, user="alice"):
        return (user, USERS[user])


def _binary():
    binary = os.environ.get("CALDAV_GATEWAY_BIN")
    if not binary or not os.path.exists(binary):
        pytest.fail("CALDAV_GATEWAY_BIN must name the built caldav-gateway binary (run via make)")
    return binary


def _env(data_dir, extra):
    env = dict(os.environ)
    env.update(
        {
            "GATEWAY__SERVER__LISTEN": "127.0.0.1:0",
            "GATEWAY__BACKEND__EMBEDDED__DATA_DIR": data_dir,
            "GATEWAY__DEMO__ENABLED": "false",
            "GATEWAY__LOG__LEVEL": "info",
        }
    )
    env.update(extra)
    return env


def start_gateway(extra_env=None):
    binary = _binary()
    data_dir = tempfile.mkdtemp(prefix="caldav-gateway-test-")
    env = _env(data_dir, extra_env or {})
    for user, password in USERS.items():
        subprocess.run(
            [binary, "user", "add", user, "--password", password, "--email", f"{user}@example.com"],
            env=env, check=True, capture_output=True, timeout=60,
        )
    process = subprocess.Popen(
        [binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stderr_lines = []
    threading.Thread(target=lambda: stderr_lines.extend(process.stderr), daemon=True).start()
    found = {}

    def read_stdout():
        for line in process.stdout:
            match = LISTENING.search(line)
            if match and "url" not in found:
                found["url"] = match.group(1)

    threading.Thread(target=read_stdout, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while "url" not in found:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_gateway(process)
            pytest.fail("gateway did not start:\n" + "".join(stderr_lines[-40:]))
        time.sleep(0.05)
    return Gateway(found["url"], os.path.join(data_dir, "tls", "ca.pem"), data_dir, process, stderr_lines)


def stop_gateway(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def gateway():
    gw = start_gateway()
    yield gw
    stop_gateway(gw.process)
    shutil.rmtree(gw.data_dir, ignore_errors=True)


@pytest.fixture
def small_limit_gateway():
    """A gateway whose request bodies may be at most 4 KiB."""
    gw = start_gateway(
        {"GATEWAY__LIMITS__MAX_REQUEST_BODY": "4096", "GATEWAY__LIMITS__MAX_RESOURCE_SIZE": "4096"}
    )
    yield gw
    stop_gateway(gw.process)
    shutil.rmtree(gw.data_dir, ignore_errors=True)
