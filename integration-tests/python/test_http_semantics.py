"""Raw HTTP against the gateway: conditional requests, bad input, other users, auth, TLS.

Every refusal is checked twice: the status (and DAV precondition element where RFC 4791 /
RFC 4918 name one), and that the store did not change.
"""

import concurrent.futures
import re
import socket
import ssl
import threading
import uuid

import httpx
import pytest
import requests

from icalendar_samples import event

PROPFIND_ETAGS = (
    '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
    "<d:prop><d:getetag/><cs:getctag/></d:prop></d:propfind>"
)


class Http:
    def __init__(self, gateway, user="alice"):
        self.base = gateway.url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = gateway.auth(user)
        # Per request, not Session.verify: requests lets REQUESTS_CA_BUNDLE override the latter.
        self.ca = gateway.ca

    def request(self, method, path, **kwargs):
        return self.session.request(method, self.base + path, timeout=30, verify=self.ca, **kwargs)

    def snapshot(self, path):
        """The calendar's members with ETags and its ctag: equal snapshots, unchanged store."""
        response = self.request("PROPFIND", path, headers={"Depth": "1"}, data=PROPFIND_ETAGS)
        assert response.status_code == 207, response.text
        return response.text


@pytest.fixture
def alice(gateway):
    return Http(gateway, "alice")


@pytest.fixture
def bob(gateway):
    return Http(gateway, "bob")


def put_event(http, path, ics, **headers):
    headers.setdefault("Content-Type", "text/calendar; charset=utf-8")
    return http.request("PUT", path, data=ics.encode(), headers=headers)


def unique_path(calendar="calendar"):
    return f"/dav/calendars/alice/{calendar}/{uuid.uuid4().hex}.ics"


def test_get_returns_exact_bytes_and_the_etag_of_the_put(alice):
    path = unique_path()
    _, ics = event("exact bytes ✓")
    created = put_event(alice, path, ics, **{"If-None-Match": "*"})
    assert created.status_code == 201
    etag = created.headers["ETag"]
    got = alice.request("GET", path)
    assert got.status_code == 200
    assert got.content == ics.encode()
    assert got.headers["ETag"] == etag
    assert got.headers["Content-Type"].startswith("text/calendar")


def test_if_none_match_star_refuses_an_existing_resource(alice):
    path = unique_path()
    uid, ics = event("first")
    assert put_event(alice, path, ics, **{"If-None-Match": "*"}).status_code == 201
    before = alice.snapshot("/dav/calendars/alice/calendar/")
    _, other = event("second", uid=uid)
    assert put_event(alice, path, other, **{"If-None-Match": "*"}).status_code == 412
    assert alice.snapshot("/dav/calendars/alice/calendar/") == before
    assert alice.request("GET", path).content == ics.encode()


def test_wrong_if_match_is_412_and_changes_nothing(alice):
    path = unique_path()
    uid, ics = event("v1")
    assert put_event(alice, path, ics).status_code == 201
    _, v2 = event("v2", uid=uid)
    assert put_event(alice, path, v2, **{"If-Match": '"not-the-etag"'}).status_code == 412
    assert alice.request("GET", path).content == ics.encode()
    assert alice.request("DELETE", path, headers={"If-Match": '"not-the-etag"'}).status_code == 412
    assert alice.request("GET", path).status_code == 200


def test_malformed_xml_in_propfind_is_400_and_changes_nothing(alice):
    before = alice.snapshot("/dav/calendars/alice/calendar/")
    response = alice.request(
        "PROPFIND", "/dav/calendars/alice/calendar/", data=b"<d:propfind xmlns:d='DAV:'><d:prop><d:getetag></d:propfind>",
        headers={"Content-Type": "application/xml", "Depth": "1"},
    )
    assert response.status_code == 400
    assert alice.snapshot("/dav/calendars/alice/calendar/") == before


def test_malformed_xml_in_proppatch_is_400_and_changes_nothing(alice):
    before = alice.snapshot("/dav/calendars/alice/calendar/")
    response = alice.request(
        "PROPPATCH", "/dav/calendars/alice/calendar/", data=b"<d:propertyupdate xmlns:d='DAV:'><d:set>",
        headers={"Content-Type": "application/xml"},
    )
    assert response.status_code == 400
    assert alice.snapshot("/dav/calendars/alice/calendar/") == before


def test_malformed_icalendar_is_refused_with_valid_calendar_data(alice):
    before = alice.snapshot("/dav/calendars/alice/calendar/")
    path = unique_path()
    response = put_event(alice, path, "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:broken\r\n")
    assert response.status_code == 403
    assert "valid-calendar-data" in response.text
    assert alice.request("GET", path).status_code == 404
    assert alice.snapshot("/dav/calendars/alice/calendar/") == before


def test_wrong_content_type_is_refused_with_supported_calendar_data(alice):
    before = alice.snapshot("/dav/calendars/alice/calendar/")
    path = unique_path()
    _, ics = event("plain text")
    response = put_event(alice, path, ics, **{"Content-Type": "text/plain"})
    # RFC 4791 §5.3.2.1 names the precondition (403); 415 is the plain-HTTP answer. Either
    # refuses; a 403 must say which precondition failed.
    assert response.status_code in (403, 415), response.status_code
    if response.status_code == 403:
        assert "supported-calendar-data" in response.text
    assert alice.request("GET", path).status_code == 404
    assert alice.snapshot("/dav/calendars/alice/calendar/") == before


def test_body_over_the_limit_is_413_and_changes_nothing(start_dedicated_gateway):
    # max_resource_size may not exceed max_request_body, so both shrink.
    http = Http(start_dedicated_gateway(GATEWAY__LIMITS__MAX_REQUEST_BODY="4096", GATEWAY__LIMITS__MAX_RESOURCE_SIZE="4096"))
    before = http.snapshot("/dav/calendars/alice/calendar/")
    path = "/dav/calendars/alice/calendar/big.ics"
    _, ics = event("x" * 10_000)
    assert put_event(http, path, ics).status_code == 413
    # Chunked, so no Content-Length tells the size up front.
    chunks = (ics.encode()[i : i + 1000] for i in range(0, len(ics), 1000))
    assert http.request("PUT", path, data=chunks, headers={"Content-Type": "text/calendar"}).status_code == 413
    assert http.request("GET", path).status_code == 404
    assert http.snapshot("/dav/calendars/alice/calendar/") == before
    # The limit is the only reason: a body under it is stored.
    assert put_event(http, path, event("small")[1]).status_code == 201


def test_object_over_max_resource_size_is_refused_with_max_resource_size(start_dedicated_gateway):
    http = Http(start_dedicated_gateway(GATEWAY__LIMITS__MAX_RESOURCE_SIZE="2048"))
    before = http.snapshot("/dav/calendars/alice/calendar/")
    path = "/dav/calendars/alice/calendar/large.ics"
    response = put_event(http, path, event("y" * 4000)[1])
    # RFC 4791 §5.3.2.1: CALDAV:max-resource-size, a 403 precondition.
    assert response.status_code == 403
    assert "max-resource-size" in response.text
    assert http.request("GET", path).status_code == 404
    assert http.snapshot("/dav/calendars/alice/calendar/") == before


def test_another_users_resources_are_out_of_reach(alice, bob):
    path = "/dav/calendars/bob/calendar/mine.ics"
    _, ics = event("bob's")
    assert put_event(bob, path, ics).status_code == 201
    before = bob.snapshot("/dav/calendars/bob/calendar/")
    _, intrusion = event("alice was here")
    for response in [
        alice.request("GET", path),
        put_event(alice, path, intrusion),
        alice.request("DELETE", path),
        alice.request("PROPFIND", "/dav/calendars/bob/", headers={"Depth": "1"}),
        alice.request("PROPFIND", "/dav/calendars/bob/calendar/", headers={"Depth": "1"}),
        alice.request("DELETE", "/dav/calendars/bob/calendar/"),
    ]:
        assert response.status_code in (403, 404), (response.request.method, response.status_code)
    multiget = alice.request(
        "REPORT", "/dav/calendars/alice/calendar/", headers={"Depth": "1"},
        data=(
            '<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            f"<d:prop><c:calendar-data/></d:prop><d:href>{path}</d:href></c:calendar-multiget>"
        ),
    )
    assert multiget.status_code == 207
    assert "bob's" not in multiget.text and "404" in multiget.text
    assert bob.snapshot("/dav/calendars/bob/calendar/") == before
    assert bob.request("GET", path).content == ics.encode()


def test_uid_used_by_another_resource_is_refused_with_no_uid_conflict(alice):
    first = unique_path()
    uid, ics = event("owner of the uid")
    assert put_event(alice, first, ics).status_code == 201
    before = alice.snapshot("/dav/calendars/alice/calendar/")
    second = unique_path()
    response = put_event(alice, second, event("copy", uid=uid)[1])
    # RFC 4791 §5.3.2.1: <C:no-uid-conflict><D:href>the resource holding the UID</D:href>
    assert response.status_code == 403
    assert "no-uid-conflict" in response.text and first in response.text
    assert alice.request("GET", second).status_code == 404
    assert alice.request("GET", first).content == ics.encode()
    assert alice.snapshot("/dav/calendars/alice/calendar/") == before


def test_depth_infinity_is_refused_with_propfind_finite_depth(alice):
    response = alice.request("PROPFIND", "/dav/calendars/alice/", headers={"Depth": "infinity"})
    # RFC 4918 §9.1: 403 with <D:error><D:propfind-finite-depth/></D:error>
    assert response.status_code == 403
    assert "propfind-finite-depth" in response.text


def test_missing_or_wrong_credentials_get_a_basic_challenge(gateway):
    url = gateway.url.rstrip("/") + "/dav/calendars/alice/"
    anonymous = requests.request("PROPFIND", url, verify=gateway.ca, timeout=30)
    wrong = requests.request("PROPFIND", url, verify=gateway.ca, auth=("alice", "wrong"), timeout=30)
    for response in (anonymous, wrong):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Basic realm="')


def test_well_known_redirects_to_the_dav_root(gateway):
    response = requests.get(gateway.url.rstrip("/") + "/.well-known/caldav", verify=gateway.ca, allow_redirects=False, timeout=30)
    assert response.status_code == 301
    assert response.headers["Location"] == "/dav/"


def test_http2_is_negotiated_by_alpn(gateway):
    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=gateway.ca), auth=gateway.auth()) as client:
        response = client.request("PROPFIND", gateway.url + "dav/calendars/alice/", headers={"Depth": "0"})
    assert response.status_code == 207
    assert response.http_version == "HTTP/2"


def test_http1_still_works_for_old_clients(gateway):
    with httpx.Client(http2=False, verify=ssl.create_default_context(cafile=gateway.ca), auth=gateway.auth()) as client:
        response = client.request("PROPFIND", gateway.url + "dav/calendars/alice/", headers={"Depth": "0"})
    assert response.status_code == 207
    assert response.http_version == "HTTP/1.1"


def test_plain_http_to_the_tls_port_gets_no_dav_answer(gateway):
    host, port = re.match(r"https://([^:/]+):(\d+)/", gateway.url).groups()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"PROPFIND /dav/calendars/alice/ HTTP/1.1\r\nHost: x\r\nDepth: 0\r\n\r\n")
        try:
            reply = sock.recv(1024)
        except ConnectionResetError:
            reply = b""
    # The connection is closed, answered with a TLS alert record (content type 21), or told
    # "400: use https" as nginx does; never served.
    assert reply == b"" or reply[:1] == b"\x15" or reply.startswith(b"HTTP/1.1 400"), reply[:80]


def test_certificate_is_for_localhost_and_alpn_prefers_h2(gateway):
    port = int(re.match(r"https://[^:/]+:(\d+)/", gateway.url).group(1))
    for server_name in ("localhost", "127.0.0.1"):
        context = ssl.create_default_context(cafile=gateway.ca)
        context.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            with context.wrap_socket(sock, server_hostname=server_name) as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
                assert tls.selected_alpn_protocol() == "h2"


def test_an_untrusted_certificate_is_refused_by_a_verifying_client(gateway):
    # Proof that verification is on: without the gateway's CA the same request fails.
    with pytest.raises(requests.exceptions.SSLError):
        requests.request("OPTIONS", gateway.url + "dav/", timeout=30, verify=True)


def test_unknown_sync_token_is_refused_with_valid_sync_token(alice):
    body = (
        '<d:sync-collection xmlns:d="DAV:"><d:sync-token>http://example.com/not-a-token-of-this-server</d:sync-token>'
        "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
    )
    response = alice.request(
        "REPORT", "/dav/calendars/alice/calendar/", data=body, headers={"Content-Type": "application/xml"}
    )
    # RFC 6578 §3.2: 403 with <D:error><D:valid-sync-token/></D:error>; the client then syncs afresh.
    assert response.status_code == 403
    assert "valid-sync-token" in response.text


def test_concurrent_puts_with_the_same_if_match_have_exactly_one_winner(gateway):
    """Ten clients update the same event from the same ETag at once: one wins (204), nine get
    412, and the stored body is the winner's. On JMAP this holds through ifInState."""
    path = unique_path()
    uid = str(uuid.uuid4())

    def body(summary):
        return (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//integration//tests//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\nSUMMARY:{summary}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n"
        )

    first = put_event(Http(gateway, "alice"), path, body("original"))
    assert first.status_code == 201
    etag = first.headers["ETag"]
    barrier = threading.Barrier(10)

    def contender(i):
        http = Http(gateway, "alice")
        barrier.wait(timeout=30)
        return i, put_event(http, path, body(f"writer {i}"), **{"If-Match": etag}).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(contender, range(10)))
    winners = [i for i, status in outcomes if status == 204]
    assert len(winners) == 1, outcomes
    assert sorted(status for _, status in outcomes) == [204] + [412] * 9, outcomes
    stored = Http(gateway, "alice").request("GET", path)
    assert f"SUMMARY:writer {winners[0]}\r\n" in stored.text


def test_nul_character_in_a_proppatch_body_is_400_and_changes_nothing(alice):
    before = alice.snapshot("/dav/calendars/alice/calendar/")
    for body in (
        b"<d:propertyupdate xmlns:d='DAV:'><d:set><d:prop><d:displayname>a\x00b</d:displayname></d:prop></d:set></d:propertyupdate>",
        b"<d:propertyupdate xmlns:d='DAV:'><d:set><d:prop><d:displayname>a&#0;b</d:displayname></d:prop></d:set></d:propertyupdate>",
    ):
        response = alice.request(
            "PROPPATCH", "/dav/calendars/alice/calendar/", data=body, headers={"Content-Type": "application/xml"}
        )
        assert response.status_code == 400, response.text
    assert alice.snapshot("/dav/calendars/alice/calendar/") == before


def test_multiget_with_non_ascii_hrefs_answers_each_href(alice):
    hrefs = ["/dav/cé", "/dav/c%C3%A9", "/dav/calendars/alice/calendar/é.ics"]
    body = (
        '<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop>'
        + "".join(f"<d:href>{h}</d:href>" for h in hrefs)
        + "</c:calendar-multiget>"
    )
    response = alice.request(
        "REPORT", "/dav/calendars/alice/calendar/", data=body.encode(),
        headers={"Content-Type": "application/xml", "Depth": "1"},
    )
    assert response.status_code == 207, response.text
    assert response.text.count("404 Not Found") == len(hrefs)


def test_dead_property_language_survives_proppatch_and_propfind(alice):
    name = f"p{uuid.uuid4().hex}"
    body = (
        f'<d:propertyupdate xmlns:d="DAV:" xmlns:z="urn:example:lang"><d:set><d:prop xml:lang="de">'
        f'<z:{name} xml:lang="en-US">Jim</z:{name}><z:{name}-inherited>Hallo</z:{name}-inherited>'
        f"</d:prop></d:set></d:propertyupdate>"
    )
    response = alice.request(
        "PROPPATCH", "/dav/calendars/alice/calendar/", data=body.encode(), headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 207, response.text
    response = alice.request(
        "PROPFIND", "/dav/calendars/alice/calendar/", headers={"Depth": "0", "Content-Type": "application/xml"},
        data=f'<d:propfind xmlns:d="DAV:" xmlns:z="urn:example:lang"><d:prop><z:{name}/><z:{name}-inherited/>'
        f"</d:prop></d:propfind>".encode(),
    )
    assert response.status_code == 207, response.text
    assert re.search(rf'<\w+:{name} [^>]*xml:lang="en-US"[^>]*>Jim<', response.text), response.text
    assert re.search(rf'<\w+:{name}-inherited [^>]*xml:lang="de"[^>]*>Hallo<', response.text), response.text


def test_calendar_query_on_the_home_searches_every_calendar_and_on_an_object_just_it(alice):
    summary = f"scope-{uuid.uuid4().hex}"
    path = unique_path()
    _, ics = event(summary)
    assert put_event(alice, path, ics).status_code == 201
    query = (
        '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop>'
        '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
        f'<c:prop-filter name="SUMMARY"><c:text-match>{summary}</c:text-match></c:prop-filter>'
        "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
    ).encode()
    for target, depth in (("/dav/calendars/alice/", "1"), ("/dav/calendars/alice/", "infinity"), (path, "0")):
        response = alice.request(
            "REPORT", target, data=query, headers={"Content-Type": "application/xml", "Depth": depth}
        )
        assert response.status_code == 207, (target, depth, response.text)
        assert response.text.count("<D:href>") == 1 and f"<D:href>{path}</D:href>" in response.text, response.text
    response = alice.request(
        "REPORT", "/dav/calendars/alice/", data=query, headers={"Content-Type": "application/xml", "Depth": "0"}
    )
    assert response.status_code == 207 and "<D:href>" not in response.text, response.text
