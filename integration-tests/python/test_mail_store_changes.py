"""Changes made in the mail store behind the gateway's back (IMAP, another JMAP client) show up
in the next CalDAV poll: getctag moves and sync-collection reports them.

Runs with the JMAP backend only (CALDAV_TEST_BACKEND=jmap, `make jmap`): the embedded store
has no other way in.
"""

import base64
import imaplib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
import requests

from conftest import BACKEND, USERS
from mail_server_proxy import FaultyProxy
from test_http_semantics import Http, put_event

pytestmark = pytest.mark.skipif(BACKEND != "jmap", reason="only a mail server behind the gateway has other clients")

CALENDAR = "/dav/calendars/bob/calendar/"
SYNC = (
    '<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:">'
    "<d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level>"
    "<d:prop><d:getetag/></d:prop></d:sync-collection>"
)
CTAG = (
    '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
    "<d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>"
)


def ctag_and_token(http):
    response = http.request("PROPFIND", CALENDAR, headers={"Depth": "0"}, data=CTAG)
    assert response.status_code == 207, response.text
    ctag = re.search(r"<CS:getctag>([^<]+)</CS:getctag>", response.text).group(1)
    token = re.search(r"<D:sync-token>([^<]+)</D:sync-token>", response.text).group(1)
    return ctag, token


def sync(http, token):
    response = http.request("REPORT", CALENDAR, headers={"Depth": "1"}, data=SYNC.format(token=token))
    assert response.status_code == 207, response.text
    return response.text


def jmap(calls, user="bob"):
    """One JMAP request straight to Cyrus, as another mail client would send it."""
    auth = "Basic " + base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()
    url = os.environ["CYRUS_JMAP_URL"]
    request = urllib.request.Request(url, headers={"Authorization": auth})
    with urllib.request.urlopen(request, timeout=10) as response:
        session = json.load(response)
        api = urllib.parse.urljoin(response.url, session["apiUrl"])
    account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    body = {
        "using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
        "methodCalls": [[name, dict(args, accountId=account), str(i)] for i, (name, args) in enumerate(calls)],
    }
    request = urllib.request.Request(api, data=json.dumps(body).encode(), headers={"Authorization": auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["methodResponses"]


def invitation(uid):
    """An invitation as a mail client files it: multipart/alternative with a text/calendar part."""
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//someone else//EN\r\nMETHOD:PUBLISH\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T120000Z\r\nDTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\n"
        "SUMMARY:Filed by another mail client\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    message = (
        "From: someone@example.com\r\nTo: bob@example.com\r\nSubject: Invitation\r\n"
        "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nSee the attached invitation.\r\n"
        "--b1\r\nContent-Type: text/calendar; charset=utf-8; method=PUBLISH\r\n\r\n"
        f"{ics}\r\n--b1--\r\n"
    )
    return ics, message


def append_over_imap(message):
    """Files `message` into bob's calendar mailbox over IMAP, as another mail client does."""
    imap = imaplib.IMAP4("127.0.0.1", int(os.environ["CYRUS_IMAP_PORT"]))
    try:
        imap.login("bob", USERS["bob"])
        status, detail = imap.append("Calendars/calendar", None, None, message.encode())
        assert status == "OK", detail
    finally:
        imap.logout()


def test_a_message_filed_over_imap_appears_in_the_next_poll(gateway):
    bob = Http(gateway, "bob")
    before, token = ctag_and_token(bob)
    uid = f"imap-{uuid.uuid4()}"
    ics, message = invitation(uid)
    append_over_imap(message)
    after, _ = ctag_and_token(bob)
    assert after != before, "the ctag must move when the mail store changed"
    report = sync(bob, token)
    found = re.search(r"<D:href>(/dav/calendars/bob/calendar/[^<]+\.ics)</D:href>", report)
    assert found, report
    href = found.group(1)
    got = bob.request("GET", href)
    assert got.status_code == 200
    assert got.content == ics.encode(), "the calendar part, byte for byte"
    assert uid in got.text


def test_a_message_destroyed_over_jmap_is_reported_removed(gateway):
    bob = Http(gateway, "bob")
    path = CALENDAR + f"{uuid.uuid4().hex}.ics"
    uid = str(uuid.uuid4())
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//integration//tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\nSUMMARY:doomed\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert put_event(bob, path, ics).status_code == 201
    before, token = ctag_and_token(bob)
    found = jmap([["Email/query", {"filter": {"header": ["X-CalDAV-UID", uid]}}]])[0][1]["ids"]
    assert len(found) == 1, found
    destroyed = jmap([["Email/set", {"destroy": found}]])[0][1]
    assert destroyed["destroyed"] == found, destroyed
    after, _ = ctag_and_token(bob)
    assert after != before
    report = sync(bob, token)
    assert re.search(rf"<D:href>{re.escape(path)}</D:href><D:status>HTTP/1.1 404 Not Found</D:status>", report), report
    assert bob.request("GET", path).status_code == 404


POLL = (
    '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
    "<d:prop><d:displayname/><cs:getctag/><d:sync-token/></d:prop></d:propfind>"
)


def counters(gw):
    response = requests.get(gw.admin_url + "metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {m[0]: int(m[1]) for m in re.findall(r"^caldav_gateway_(\w+) (\d+)$", response.text, re.M)}


def poll(http):
    response = http.request("PROPFIND", "/dav/calendars/tester/", headers={"Depth": "1"}, data=POLL)
    assert response.status_code == 207, response.text
    return response.text


@pytest.mark.parametrize("freshness_ms, calls_per_poll", [(0, 1), (5000, 0)])
def test_a_warm_poll_costs_one_backend_call_or_none_within_the_freshness_window(
    start_dedicated_gateway, freshness_ms, calls_per_poll
):
    gw = start_dedicated_gateway(GATEWAY__BACKEND__JMAP__FRESHNESS_MS=str(freshness_ms))
    tester = Http(gw, "tester")
    first = poll(tester)  # login, provisioning, the first full read
    before = counters(gw)
    polls = 5
    for _ in range(polls):
        assert poll(tester) == first, "nothing changed, so the answer is the same"
    after = counters(gw)
    assert after["jmap_requests_total"] - before["jmap_requests_total"] == polls * calls_per_poll, (before, after)
    assert after["jmap_snapshot_rebuilt_total"] == before["jmap_snapshot_rebuilt_total"]
    kind = "jmap_snapshot_validated_total" if calls_per_poll else "jmap_snapshot_fresh_total"
    assert after[kind] - before[kind] >= polls


def test_a_change_made_in_the_mail_store_shows_within_the_default_freshness_window(start_dedicated_gateway):
    # The default window (config/gateway.toml; Debian's Cyrus offers no push, test_jmap_push.py).
    gw = start_dedicated_gateway(GATEWAY__BACKEND__JMAP__FRESHNESS_MS=None)
    bob = Http(gw, "bob")
    window_s = 1.0
    before, token = ctag_and_token(bob)
    started = time.monotonic()
    _, message = invitation(f"window-{uuid.uuid4()}")
    append_over_imap(message)
    # Bounded: the ctag moves no later than the window after the change.
    while ctag_and_token(bob)[0] == before:
        assert time.monotonic() - started < window_s + 0.5, "the change did not show within the window"
        time.sleep(0.05)
    assert re.search(r"<D:href>/dav/calendars/bob/calendar/[^<]+\.ics</D:href>", sync(bob, token))


def test_a_failing_mail_server_gives_502_503_504_with_retry_after_and_nothing_stale(start_dedicated_gateway):
    upstream = "http://127.0.0.1:" + os.environ["CYRUS_HTTP_PORT"]
    proxy = FaultyProxy(upstream)
    try:
        gw = start_dedicated_gateway(
            GATEWAY__BACKEND__JMAP__URL=proxy.url + "/jmap/",
            GATEWAY__BACKEND__JMAP__HTTP2="false",
            GATEWAY__BACKEND__JMAP__REQUEST_TIMEOUT_MS="1000",
        )
        tester = Http(gw, "tester")
        healthy = poll(tester)
        for mode, status in [("down", 503), ("garbage", 502), ("slow", 504)]:
            proxy.mode = mode
            response = tester.request("PROPFIND", "/dav/calendars/tester/", headers={"Depth": "1"}, data=POLL)
            # A cached answer would be 207: the gateway never serves what it could not validate.
            assert response.status_code == status, (mode, response.status_code, response.text[:300])
            assert int(response.headers["Retry-After"]) >= 1
            # The gateway writes its log line as it answers; reading the file may come first.
            deadline = time.monotonic() + 5
            while "mail store" not in gw.log_tail(20) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "mail store" in gw.log_tail(20), "a clear log line names the mail store"
        proxy.mode = "ok"
        assert poll(tester) == healthy
    finally:
        proxy.close()


def test_a_mailbox_made_by_another_client_under_calendars_is_a_calendar(gateway):
    bob = Http(gateway, "bob")
    name = f"webmail-{uuid.uuid4().hex[:8]}"
    mailboxes = jmap([["Mailbox/get", {"properties": ["id", "name", "parentId"]}]])[0][1]["list"]
    root = next(m["id"] for m in mailboxes if m["name"] == "Calendars" and m["parentId"] is None)
    created = jmap([["Mailbox/set", {"create": {"m": {"name": name, "parentId": root}}}]])[0][1]
    assert "m" in created["created"], created
    home = bob.request("PROPFIND", "/dav/calendars/bob/", headers={"Depth": "1"}, data=POLL)
    assert f"<D:href>/dav/calendars/bob/{name}/</D:href>" in home.text, home.text
    # A calendar like the others: it takes events.
    path = f"/dav/calendars/bob/{name}/e.ics"
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//integration//tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uuid.uuid4()}\r\nDTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert put_event(bob, path, ics).status_code == 201


def test_a_changed_password_takes_effect_within_the_session_ttl(start_dedicated_gateway):
    script = os.path.join(os.path.dirname(__file__), "..", "cyrus", "cyrus.py")
    name = f"pw{uuid.uuid4().hex[:8]}"

    def set_password(password):
        subprocess.run([sys.executable, script, "user", os.environ["CYRUS_DIR"], name, password], check=True, timeout=60)

    set_password("first-secret")
    gw = start_dedicated_gateway(GATEWAY__AUTH__SESSION_TTL_SECS="1")
    url = f"/dav/calendars/{name}/"

    def status(password):
        http = Http(gw, "alice")
        http.session.auth = (name, password)
        return http.request("PROPFIND", url, headers={"Depth": "0"}, data=POLL).status_code

    assert status("first-secret") == 207
    set_password("second-secret")
    time.sleep(1.5)
    assert status("first-secret") == 401
    assert status("second-secret") == 207


PRIVILEGES = (
    '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:">'
    "<d:prop><d:current-user-privilege-set/></d:prop></d:propfind>"
)


def set_acl_as_admin(mailbox, who, rights):
    """What a mail administrator (or the user in another client) does: IMAP SETACL (RFC 4314)."""
    imap = imaplib.IMAP4("127.0.0.1", int(os.environ["CYRUS_IMAP_PORT"]))
    try:
        imap.login(os.environ["CYRUS_ADMIN"], os.environ["CYRUS_ADMIN_PASSWORD"])
        status, detail = imap.setacl(mailbox, who, rights)
        assert status == "OK", detail
    finally:
        imap.logout()


def test_a_calendar_the_mail_server_makes_read_only_is_shown_and_treated_as_such(gateway):
    script = os.path.join(os.path.dirname(__file__), "..", "cyrus", "cyrus.py")
    name, password = f"ro{uuid.uuid4().hex[:8]}", "read-only-secret"
    subprocess.run([sys.executable, script, "user", os.environ["CYRUS_DIR"], name, password], check=True, timeout=60)
    http = Http(gateway, "alice")
    http.session.auth = (name, password)
    calendar = f"/dav/calendars/{name}/calendar/"

    def privileges(path=calendar):
        response = http.request("PROPFIND", path, headers={"Depth": "0"}, data=PRIVILEGES)
        assert response.status_code == 207, response.text
        return set(re.findall(r"<D:privilege><(?:\w+:)?([\w-]+)", response.text))

    def event(uid):
        return (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//integration//tests//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )

    kept = calendar + "kept.ics"
    assert put_event(http, kept, event("kept")).status_code == 201
    assert {"read", "write-content", "bind", "unbind"} <= privileges()
    # Read, list and seen flags only: no insert (i), no delete (t, e), RFC 4314 §2.1.
    set_acl_as_admin(f"user/{name}/Calendars/calendar", name, "lrs")
    now = privileges()
    assert "read" in now and not now & {"write", "write-content", "bind", "unbind"}, now
    member = privileges(kept)
    assert "read" in member and not member & {"write", "write-content"}, member
    refused = put_event(http, calendar + "new.ics", event("new"))
    assert refused.status_code == 403, refused.text
    assert "need-privileges" in refused.text
    assert http.request("DELETE", kept).status_code == 403
    assert http.request("GET", kept).status_code == 200, "reading still works"


def test_a_sync_token_survives_a_gateway_restart_and_works_on_another_replica(start_dedicated_gateway):
    from conftest import stop_gateway

    def event(uid):
        return (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//integration//tests//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )

    keep, drop, new = (CALENDAR + f"{what}-{uuid.uuid4().hex}.ics" for what in ("keep", "drop", "new"))
    first = start_dedicated_gateway()
    bob = Http(first, "bob")
    for path in (keep, drop):
        assert put_event(bob, path, event(uuid.uuid4())).status_code == 201
    _, token = ctag_and_token(bob)
    stop_gateway(first)  # the restart: nothing of the first process survives

    second = start_dedicated_gateway()
    bob = Http(second, "bob")
    assert put_event(bob, new, event(uuid.uuid4())).status_code == 201
    assert bob.request("DELETE", drop).status_code == 204
    report = sync(bob, token)
    assert "valid-sync-token" not in report, report
    assert re.search(rf"<D:href>{re.escape(drop)}</D:href><D:status>HTTP/1.1 404 Not Found</D:status>", report), report
    assert f"<D:href>{new}</D:href>" in report, report
    assert keep not in report, "unchanged since the token"
