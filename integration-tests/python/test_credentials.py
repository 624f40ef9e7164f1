"""Credentials the gateway refuses before they reach the mail system (RFC 7617 §2: no
control characters in user-id or password). Cyrus IMAP's SASL PLAIN is NUL-separated and logs
in with `password\\0anything` as if it were `password`; the gateway must never pass one on.
"""

import base64

import pytest
import requests


def propfind_with(gateway, user_and_password):
    token = base64.b64encode(user_and_password.encode()).decode()
    return requests.request(
        "PROPFIND",
        gateway.url.rstrip("/") + "/dav/",
        headers={"Authorization": f"Basic {token}", "Depth": "0"},
        timeout=30,
        verify=gateway.ca,
    )


def test_the_real_password_logs_in(gateway):
    user, password = gateway.auth("alice")
    assert propfind_with(gateway, f"{user}:{password}").status_code == 207


@pytest.mark.parametrize("suffix", ["\0anything", "\0", "\n", "\r\nx", "\x7f"])
def test_a_password_with_a_control_character_is_refused(gateway, suffix):
    user, password = gateway.auth("alice")
    response = propfind_with(gateway, f"{user}:{password}{suffix}")
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize("user", ["alice\0", "ali\tce", "a/b", "..", "."])
def test_a_user_name_that_is_no_url_segment_is_refused(gateway, user):
    _, password = gateway.auth("alice")
    assert propfind_with(gateway, f"{user}:{password}").status_code == 401
