"""What an operator's tools see: the admin listener (`[admin] listen`) with `/healthz`,
`/readyz` and `/metrics`, apart from the public listener phones reach."""

import re
import signal
import socket
import time

import requests

from conftest import BACKEND

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
        assert "caldav_gateway_jmap_requests_total" in found, text
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


def test_password_guessing_is_limited_per_user_and_per_address_without_locking_out_others(start_dedicated_gateway):
    gw = start_dedicated_gateway(
        GATEWAY__AUTH__MAX_FAILURES_PER_USER="3",
        GATEWAY__AUTH__MAX_FAILURES_PER_ADDRESS="5",
        GATEWAY__AUTH__FAILURE_WINDOW_SECS="120",
    )

    def propfind(auth):
        return public(gw, "PROPFIND", "/dav/", auth=auth, data=PROPFIND, headers={"Depth": "0"})

    assert propfind(gw.auth("bob")).status_code == 207  # bob's phone is signed in before the attack
    for _ in range(3):
        assert propfind(("alice", "guess")).status_code == 401
    refused = propfind(("alice", "guess"))
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    assert "WWW-Authenticate" not in refused.headers
    # Locked out: even the right password does not reach the mail system within the window.
    assert propfind(gw.auth("alice")).status_code == 429
    # Another user from the same address is not.
    assert propfind(gw.auth("tester")).status_code == 207

    # Two more refusals for someone else use up the address's five.
    for _ in range(2):
        assert propfind(("nobody", "guess")).status_code == 401
    assert propfind(("carol", "anything")).status_code == 429
    # A client already signed in keeps working: its session is cached, no login is tried.
    assert propfind(gw.auth("bob")).status_code == 207

    found = samples(admin(gw, "/metrics").text)
    assert found["caldav_gateway_failed_logins_total"] == 5
    log = gw.log_tail(400)
    assert "limit per user reached" in log and "limit per client address reached" in log, log
    assert "guess" not in log, "a password reached the log"


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
