"""What an operator's tools see: the admin listener (`[admin] listen`) with `/healthz`,
`/readyz` and `/metrics`, apart from the public listener phones reach."""

import re
import socket

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
