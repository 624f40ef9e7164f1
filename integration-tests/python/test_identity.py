"""Every user has a `mailto:` calendar user address (RFC 6638 §2.4.1): without one iOS and
macOS hide all scheduling. Embedded users have theirs from `user add --email`, else
`<name>@<mail.domain>`; JMAP users from Identity/get, else their login when it is an address,
else `<login>@<mail.domain>` (Cyrus 3.6 names no address for a login without `@`).
"""

import re
import subprocess
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import BACKEND, _binary, _env

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
BODY = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><C:calendar-user-address-set/></D:prop>
</D:propfind>"""


def addresses(gateway, auth):
    """The hrefs of the principal's calendar-user-address-set, in order."""
    response = requests.request(
        "PROPFIND",
        f"{gateway.url.rstrip('/')}/dav/principals/{auth[0]}/",
        data=BODY,
        headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8"},
        auth=auth,
        timeout=30,
        verify=gateway.ca,
    )
    assert response.status_code == 207, response.text
    found = ET.fromstring(response.content).findall(f".//{CALDAV}calendar-user-address-set/{DAV}href")
    return [href.text for href in found]


def add_embedded_user(gateway, name, password):
    env = _env(gateway.data_dir, {})
    added = subprocess.run(
        [_binary(), "user", "add", name, "--password", password],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert added.returncode == 0, added.stdout + added.stderr


def test_principal_lists_a_mailto_address_before_its_principal_url(start_dedicated_gateway):
    gateway = start_dedicated_gateway(GATEWAY__MAIL__DOMAIN="mail.test")
    found = addresses(gateway, gateway.auth("alice"))
    # Embedded test users are added with --email; Cyrus's have no address, so the domain.
    expected = "mailto:alice@example.com" if BACKEND == "embedded" else "mailto:alice@mail.test"
    assert found == [expected, "/dav/principals/alice/"]


@pytest.mark.skipif(BACKEND != "embedded", reason="users are added through the embedded store")
def test_embedded_user_added_without_email_is_name_at_the_mail_domain(start_dedicated_gateway):
    gateway = start_dedicated_gateway(GATEWAY__MAIL__DOMAIN="mail.test")
    add_embedded_user(gateway, "carol", "carol-secret")
    assert addresses(gateway, ("carol", "carol-secret"))[0] == "mailto:carol@mail.test"


def test_without_a_configured_domain_the_address_is_still_a_valid_mailto(start_dedicated_gateway):
    gateway = start_dedicated_gateway()
    if BACKEND == "embedded":
        add_embedded_user(gateway, "dave", "dave-secret")
        auth = ("dave", "dave-secret")
    else:
        auth = gateway.auth("bob")
    first = addresses(gateway, auth)[0]
    # The machine's host name, or localhost when that is no valid domain.
    assert re.fullmatch(rf"mailto:{auth[0]}@[a-z0-9]([a-z0-9.-]*[a-z0-9])?", first), first


def test_a_mail_domain_that_is_no_host_name_stops_the_gateway_at_start():
    env = _env("/nonexistent-data-dir", {"GATEWAY__MAIL__DOMAIN": "bad domain"})
    started = subprocess.run([_binary(), "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert "mail.domain" in started.stdout + started.stderr
