"""What an operator's tools see: the admin listener (`[admin] listen`) with `/healthz`,
`/readyz` and `/metrics`, apart from the public listener phones reach."""

import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid

import requests

from conftest import BACKEND, start_gateway, stop_gateway
from icalendar_samples import event

PROPFIND = (
    '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname/></d:prop></d:propfind>'
)


def public(gw, method, path, auth=None, **kwargs):
    return requests.request(method, gw.url.rstrip("/") + path, auth=auth, verify=gw.ca, timeout=30, **kwargs)


def admin(gw, path):
    assert gw.admin_url, f"no admin listener announced:\n{gw.log_tail()}"
    return requests.get(gw.admin_url + path.lstrip("/"), timeout=30)


def samples(text):
    """{'name{labels}': value} of an OpenMetrics exposition."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health_and_readiness_answer_on_the_admin_listener_only(start_dedicated_gateway):
    gw = start_dedicated_gateway()
    assert admin(gw, "/healthz").status_code == 200
    ready = admin(gw, "/readyz")
    assert ready.status_code == 200, ready.text
    for path in ("/healthz", "/readyz", "/metrics"):
        assert public(gw, "GET", path).status_code == 404, f"{path} must not be served to phones"


def test_metrics_count_requests_by_method_and_status_and_refused_logins_only(start_dedicated_gateway):
    gw = start_dedicated_gateway()
    for _ in range(3):
        answer = public(gw, "PROPFIND", "/dav/calendars/alice/", auth=gw.auth("alice"), data=PROPFIND,
                        headers={"Depth": "0"})
        assert answer.status_code == 207, answer.text
    # No credentials is the ordinary first request of a client, not a failed login.
    assert public(gw, "PROPFIND", "/dav/calendars/alice/", data=PROPFIND).status_code == 401
    assert public(gw, "PROPFIND", "/dav/calendars/alice/", auth=("alice", "wrong"), data=PROPFIND).status_code == 401

    response = admin(gw, "/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    text = response.text
    found = samples(text)
    assert found['caldav_gateway_http_requests_total{method="PROPFIND",status="207"}'] == 3, text
    assert found['caldav_gateway_http_requests_total{method="PROPFIND",status="401"}'] == 2, text
    assert found['caldav_gateway_http_request_duration_seconds_count{method="PROPFIND"}'] == 5, text
    assert found["caldav_gateway_failed_logins_total"] == 1, text
    assert found["caldav_gateway_sessions"] == 1, text
    # Three PROPFINDs with good credentials, one wrong password: two logins reach the backend.
    assert found["caldav_gateway_backend_logins_total"] == 2, text
    if BACKEND == "jmap":
        assert found["caldav_gateway_jmap_request_duration_seconds_count"] == found["caldav_gateway_jmap_requests_total"] > 0
        assert found["caldav_gateway_jmap_request_failures_total"] == 0, text
    # Aggregates only: no user, path or password in any label.
    for secret in ("alice", "wrong", "calendars"):
        assert secret not in text, f"{secret!r} leaked into /metrics:\n{text}"


def test_an_unreachable_backend_makes_the_gateway_unready_but_not_unhealthy_and_is_no_failed_login(
    start_dedicated_gateway,
):
    gw = start_dedicated_gateway(
        GATEWAY__BACKEND__KIND="jmap",
        GATEWAY__BACKEND__JMAP__URL=f"http://127.0.0.1:{closed_port()}/jmap/",
        GATEWAY__BACKEND__JMAP__SERVICE_USER="",
        GATEWAY__BACKEND__JMAP__SERVICE_PASSWORD="",
        GATEWAY__ADMIN__READINESS_TIMEOUT_SECS="2",
    )
    assert admin(gw, "/healthz").status_code == 200
    ready = admin(gw, "/readyz")
    assert ready.status_code == 503, ready.text
    answer = public(gw, "PROPFIND", "/dav/calendars/alice/", auth=gw.auth("alice"), data=PROPFIND)
    assert answer.status_code == 503, answer.text
    found = samples(admin(gw, "/metrics").text)
    assert found["caldav_gateway_failed_logins_total"] == 0
    # The outage is counted where it belongs: as failed calls to the mail server.
    assert found["caldav_gateway_jmap_request_failures_total"] >= 1
    assert found['caldav_gateway_jmap_request_duration_seconds_bucket{le="+Inf"}'] >= 1


def test_password_guessing_is_limited_per_user_and_per_address_without_locking_out_others(start_dedicated_gateway):
    gw = start_dedicated_gateway(
        GATEWAY__AUTH__MAX_FAILURES_PER_USER="3",
        GATEWAY__AUTH__MAX_FAILURES_PER_ADDRESS="6",
        GATEWAY__AUTH__FAILURE_WINDOW_SECS="120",
        # Sessions expire at once, so every request of a signed-in phone is a new login.
        GATEWAY__AUTH__SESSION_TTL_SECS="1",
    )

    def propfind(auth):
        return public(gw, "PROPFIND", "/dav/", auth=auth, data=PROPFIND, headers={"Depth": "0"})

    assert propfind(gw.auth("bob")).status_code == 207  # bob's phone is signed in before the attack
    # Its stale copy of an old password, retried on every request, is one refused credential.
    for _ in range(4):
        assert propfind(("alice", "old-password")).status_code == 401
    for guess in ("guess-1", "guess-2"):
        assert propfind(("alice", guess)).status_code == 401
    refused = propfind(("ALICE", "guess-3"))  # the user name's case makes no new count
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    assert "WWW-Authenticate" not in refused.headers
    # Locked out: even the right password does not reach the mail system within the window...
    assert propfind(gw.auth("alice")).status_code == 429
    # ...but another user from the same address is not.
    assert propfind(gw.auth("tester")).status_code == 207

    # Guesses at bob do not stop bob's phone, whose credential logged in within the window,
    # even though each of its requests is a new login now.
    for guess in ("b-1", "b-2", "b-3"):
        propfind(("bob", guess))
    time.sleep(1.5)
    assert propfind(gw.auth("bob")).status_code == 207
    # The address has six refused credentials now (alice's three, bob's three): others from it wait.
    assert propfind(("carol", "anything")).status_code == 429

    found = samples(admin(gw, "/metrics").text)
    assert found["caldav_gateway_failed_logins_total"] == 9
    log = gw.log_tail(400)
    assert "limit per user reached" in log and "limit per client address reached" in log, log
    assert "guess" not in log and "old-password" not in log, "a password reached the log"


TOKEN = "admin-token-for-tests"


def switch(gw, path, body, token=TOKEN):
    return requests.put(gw.admin_url + path, data=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def dav(gw, user):
    return public(gw, "PROPFIND", "/dav/", auth=gw.auth(user), data=PROPFIND, headers={"Depth": "0"})


def test_caldav_is_switched_off_and_on_for_a_user_a_domain_and_the_service_without_a_restart(start_dedicated_gateway):
    gw = start_dedicated_gateway(GATEWAY__ADMIN__TOKEN=TOKEN)
    assert dav(gw, "alice").status_code == 207  # signed in: the switch must hold for cached sessions too
    assert switch(gw, "access/users/alice", "off", token="wrong").status_code == 401
    assert switch(gw, "access/users/alice", "maybe").status_code == 400
    assert dav(gw, "alice").status_code == 207

    assert switch(gw, "access/users/alice", "off").status_code == 204
    refused = dav(gw, "alice")
    assert refused.status_code == 403 and "turned off for this account" in refused.text, refused.text
    assert dav(gw, "bob").status_code == 207, "other users are not affected"

    assert switch(gw, "access/domains/Example.COM", "off").status_code == 204
    refused = dav(gw, "bob")
    assert refused.status_code == 403 and "example.com" in refused.text, refused.text
    current = requests.get(gw.admin_url + "access", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).json()
    assert current == {"enabled": True, "disabled_domains": ["example.com"], "disabled_users": ["alice"]}

    assert switch(gw, "access/domains/example.com", "on").status_code == 204
    assert switch(gw, "access/service", "off").status_code == 204
    refused = dav(gw, "tester")
    assert refused.status_code == 403 and "turned off on this server" in refused.text, refused.text
    assert switch(gw, "access/service", "on").status_code == 204
    assert switch(gw, "access/users/alice", "on").status_code == 204
    for user in ("alice", "bob", "tester"):
        assert dav(gw, user).status_code == 207
    assert gw.log_tail(400).count("CalDAV access changed") == 6


def test_without_a_token_the_admin_api_changes_nothing(start_dedicated_gateway):
    gw = start_dedicated_gateway()
    assert switch(gw, "access/service", "off", token="").status_code == 403
    assert dav(gw, "alice").status_code == 207


def test_sighup_reloads_the_switch_from_the_configuration_file(start_dedicated_gateway, tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('[access]\ndisabled_users = ["bob"]\n')
    gw = start_dedicated_gateway(GATEWAY_CONFIG=str(config))
    assert dav(gw, "bob").status_code == 403
    assert dav(gw, "alice").status_code == 207

    def after_hangup(expected_bob):
        gw.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while dav(gw, "bob").status_code != expected_bob:
            assert time.monotonic() < deadline, gw.log_tail()
            time.sleep(0.1)

    config.write_text('[access]\ndisabled_users = []\n')
    after_hangup(207)
    # A file that no longer loads is reported and changes nothing.
    config.write_text('[access]\ndisabled_userz = ["bob"]\n')
    gw.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "configuration not reloaded" not in gw.log_tail(200):
        assert time.monotonic() < deadline, gw.log_tail()
        time.sleep(0.1)
    assert dav(gw, "bob").status_code == 207
    assert gw.process.poll() is None


def test_answers_over_tls_carry_hsts(gateway):
    response = public(gateway, "OPTIONS", "/dav/")
    assert response.headers.get("Strict-Transport-Security") == "max-age=31536000"


def test_the_plain_http_listener_only_redirects_to_https(start_dedicated_gateway):
    gw = start_dedicated_gateway(GATEWAY__TLS__REDIRECT_LISTEN="127.0.0.1:0", GATEWAY__TLS__REDIRECT_HTTPS_PORT="8443")
    plain = re.search(r"redirecting (http://\S+) to HTTPS", gw.log_tail(200)).group(1)
    https_port = 8443  # the public port named in the setting, not the listener's own
    answer = requests.get(plain + "dav/calendars/?x=1", allow_redirects=False, timeout=30)
    assert answer.status_code == 301
    assert answer.headers["Location"] == f"https://127.0.0.1:{https_port}/dav/calendars/?x=1"
    propfind = requests.request("PROPFIND", plain + "dav/", auth=gw.auth("alice"), allow_redirects=False, timeout=30)
    assert propfind.status_code == 308, "a PROPFIND keeps its method and body"
    assert not propfind.content


def make_certificate(directory, name):
    """A CA and a certificate for 127.0.0.1 it signs (openssl, EC keys)."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", f"{name}-ca.key", "-out", f"{name}-ca.pem", "-days", "2",
        "-subj", f"/CN=test CA {name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign")
    run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=127.0.0.1")
    (directory / f"{name}.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{name}-ca.pem", "-CAkey", f"{name}-ca.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return directory / f"{name}.pem", directory / f"{name}.key", directory / f"{name}-ca.pem"


def trusted_by(url, ca):
    try:
        requests.request("OPTIONS", url, verify=str(ca), timeout=10)
        return True
    except requests.exceptions.SSLError:
        return False


def test_a_renewed_certificate_is_served_without_a_restart(tmp_path):
    old_cert, old_key, old_ca = make_certificate(tmp_path, "old")
    new_cert, new_key, new_ca = make_certificate(tmp_path, "new")
    live_cert, live_key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(old_cert, live_cert)
    shutil.copy(old_key, live_key)
    data_dir = tmp_path / "data"
    (data_dir / "tls").mkdir(parents=True)
    shutil.copy(old_ca, data_dir / "tls" / "ca.pem")  # what the harness trusts at start
    gw = start_gateway({"GATEWAY__TLS__CERT": str(live_cert), "GATEWAY__TLS__KEY": str(live_key),
                        "GATEWAY__TLS__RELOAD_CHECK_SECS": "1"}, data_dir=str(data_dir))
    try:
        assert trusted_by(gw.url, old_ca) and not trusted_by(gw.url, new_ca)
        # A key that does not match is refused and the running pair kept.
        shutil.copy(new_cert, live_cert)
        deadline = time.monotonic() + 15
        while "do not load" not in gw.log_tail(200):
            assert time.monotonic() < deadline, gw.log_tail()
            time.sleep(0.2)
        assert trusted_by(gw.url, old_ca)
        shutil.copy(new_key, live_key)
        deadline = time.monotonic() + 15
        while not trusted_by(gw.url, new_ca):
            assert time.monotonic() < deadline, gw.log_tail()
            time.sleep(0.2)
        assert not trusted_by(gw.url, old_ca)
        assert "TLS certificate reloaded" in gw.log_tail(200)
    finally:
        stop_gateway(gw)


def test_sigterm_refuses_new_connections_finishes_the_request_in_flight_and_exits_0(start_dedicated_gateway):
    gw = start_dedicated_gateway(GATEWAY__SERVER__SHUTDOWN_GRACE_SECS="20")
    host, port = gw.url.split("//")[1].rstrip("/").split(":")
    context = ssl.create_default_context(cafile=gw.ca)
    _, ics = event("in flight at SIGTERM")
    body = ics.encode()
    token = base64.b64encode(":".join(gw.auth("alice")).encode()).decode()
    head = (
        f"PUT /dav/calendars/alice/calendar/{uuid.uuid4().hex}.ics HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Basic {token}\r\nContent-Type: text/calendar\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(head + body[:40])  # the request is under way, its body half sent
            time.sleep(0.5)
            gw.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while True:  # the listener closes: a new connection is refused
                try:
                    socket.create_connection((host, int(port)), timeout=2).close()
                except OSError:
                    break
                assert time.monotonic() < deadline, "still accepting after SIGTERM"
                time.sleep(0.1)
            tls.sendall(body[40:])
            answer = tls.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 201"), answer
    assert gw.process.wait(timeout=20) == 0, gw.log_tail()


def test_a_configuration_error_stops_start_up_naming_the_setting(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('[auth]\nmax_failures_per_user = "ten"\n')
    started = subprocess.run(
        [os.environ["CALDAV_GATEWAY_BIN"], "--config", str(config), "serve"], capture_output=True, text=True,
        timeout=30, stdin=subprocess.DEVNULL,
    )
    assert started.returncode != 0
    assert "max_failures_per_user" in started.stderr, started.stderr


def test_json_logs_carry_request_id_user_method_status_and_time_but_no_credentials(start_dedicated_gateway):
    gw = start_dedicated_gateway(GATEWAY__LOG__FORMAT="json")
    answer = public(gw, "PROPFIND", "/dav/calendars/alice/", auth=gw.auth("alice"), data=PROPFIND,
                    headers={"Depth": "0", "X-Request-Id": "trace-me-1"})
    assert answer.status_code == 207
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in gw.stderr if line.startswith("{")]
        done = [l for l in lines if l.get("fields", {}).get("message") == "answered" and l.get("span", {}).get("id") == "trace-me-1"]
        if done:
            break
        assert time.monotonic() < deadline, gw.log_tail()
        time.sleep(0.1)
    line = done[0]
    assert line["span"]["method"] == "PROPFIND" and line["span"]["user"] == "alice", line
    assert line["fields"]["status"] == 207 and line["fields"]["latency_ms"] >= 0, line
    password = gw.auth("alice")[1]
    assert not any(password in text or "Basic " in text for text in gw.stderr)
