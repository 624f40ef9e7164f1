"""The demo user: off unless asked for (`make run` asks), and its password never lands in a
log. Under a service manager stdout is the journal, so the password is shown only to a terminal.
"""

import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import LISTENING, _binary, _env


def run_fresh_gateway(**extra):
    """Starts `serve` on an empty data directory until it listens, stops it, and returns its
    output and the users the store then holds."""
    binary = _binary()
    data_dir = tempfile.mkdtemp(prefix="caldav-gateway-test-")
    try:
        env = _env(data_dir, extra)
        if "GATEWAY__DEMO__ENABLED" not in extra:
            del env["GATEWAY__DEMO__ENABLED"]  # the configured default
        process = subprocess.Popen(
            [binary, "serve"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        output = []
        try:
            for line in process.stdout:
                output.append(line)
                if LISTENING.search(line):
                    break
        finally:
            process.send_signal(signal.SIGTERM)
            rest, _ = process.communicate(timeout=15)
            output.append(rest)
        users = subprocess.run(
            [binary, "user", "list"], env=env, capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL, check=True,
        ).stdout.split()
        return "".join(output), users
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.skipif(os.environ.get("CALDAV_TEST_BACKEND", "embedded") != "embedded", reason="embedded store only")
def test_no_demo_user_by_default():
    output, users = run_fresh_gateway()
    assert users == []
    assert "Created demo user" not in output


@pytest.mark.skipif(os.environ.get("CALDAV_TEST_BACKEND", "embedded") != "embedded", reason="embedded store only")
def test_demo_password_is_not_written_to_a_pipe():
    output, users = run_fresh_gateway(GATEWAY__DEMO__ENABLED="true")
    assert users == ["demo"]
    assert "Created demo user 'demo'" in output
    assert "password:" not in output.lower(), output
