"""JMAP push (RFC 8620 §7.3) in front of Cyrus: while an account's push stream is alive, a poll
costs no request to the mail server; a change made directly in the mail store shows up in the
next sync within the push delay; once the stream dies, every request is validated again.

Debian's Cyrus 3.6 is built without Wslay, and its EventSource endpoint then answers 204, so
these tests put `mail_server_proxy.PushProxy` in front of it: it forwards every JMAP request and
answers the event source itself, the way a Cyrus with push does. The gateway's own behaviour
against the 204 is the last test.

Runs with the JMAP backend only (CALDAV_TEST_BACKEND=jmap).
"""

import base64
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from conftest import BACKEND
from mail_server_proxy import PUSH_POLL_S, PushProxy
from test_http_semantics import Http
from test_mail_store_changes import POLL, SYNC, counters

pytestmark = pytest.mark.skipif(BACKEND != "jmap", reason="push is a JMAP mail server's")

# How long a test waits for a push stream or a change to arrive before it fails.
WAIT_S = 15


@pytest.fixture(scope="module")
def user():
    """A user of this module alone: nothing else changes the account under the counts."""
    name, password = f"push{uuid.uuid4().hex[:8]}", "push-secret"
    script = os.path.join(os.path.dirname(__file__), "..", "cyrus", "cyrus.py")
    subprocess.run([sys.executable, script, "user", os.environ["CYRUS_DIR"], name, password], check=True, timeout=60)
    return name, password


@pytest.fixture
def proxy():
    proxy = PushProxy("http://127.0.0.1:" + os.environ["CYRUS_HTTP_PORT"])
    try:
        yield proxy
    finally:
        proxy.kill()
        proxy.close()


def start_behind(start_dedicated_gateway, proxy):
    # freshness 0: every answer not vouched for by push is validated, so the counts show push.
    return start_dedicated_gateway(
        GATEWAY__BACKEND__JMAP__URL=proxy.url + "/jmap/",
        GATEWAY__BACKEND__JMAP__HTTP2="false",
        GATEWAY__BACKEND__JMAP__FRESHNESS_MS="0",
    )


def client(gw, user):
    http = Http(gw, "alice")
    http.session.auth = user
    return http


def poll(http, user):
    response = http.request("PROPFIND", f"/dav/calendars/{user[0]}/", headers={"Depth": "1"}, data=POLL)
    assert response.status_code == 207, response.text
    return response.text


def wait_for(condition, what):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"no {what} within {WAIT_S} s")


def push_alive(gw, http, user):
    """Waits for the account's stream to be confirmed, then polls once so the view is read
    under it."""
    wait_for(lambda: counters(gw)["jmap_push_connections_total"] >= 1, "confirmed push stream")
    return poll(http, user)


def import_event(user, uid):
    """An event filed straight into the user's calendar mailbox over JMAP (Blob/upload, then
    Email/import), as another JMAP client would."""
    auth = "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    base = "http://127.0.0.1:" + os.environ["CYRUS_HTTP_PORT"]
    with urllib.request.urlopen(urllib.request.Request(base + "/jmap/", headers={"Authorization": auth}), timeout=10) as r:
        session = json.load(r)
    account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]

    def call(calls):
        body = {"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
                "methodCalls": [[n, dict(a, accountId=account), str(i)] for i, (n, a) in enumerate(calls)]}
        request = urllib.request.Request(urllib.parse.urljoin(base, session["apiUrl"]), data=json.dumps(body).encode(),
                                         headers={"Authorization": auth, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.load(r)["methodResponses"]

    mailboxes = call([["Mailbox/get", {"properties": ["id", "name", "parentId"]}]])[0][1]["list"]
    root = next(m["id"] for m in mailboxes if m["name"] == "Calendars" and m["parentId"] is None)
    calendar = next(m["id"] for m in mailboxes if m["name"] == "calendar" and m["parentId"] == root)
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//another client//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T120000Z\r\nDTSTART:20261210T090000Z\r\nSUMMARY:behind the back\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    message = (
        "From: someone@example.com\r\nTo: someone@example.com\r\nSubject: event\r\n"
        "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/calendar; charset=utf-8\r\n\r\n{ics}"
    )
    upload = urllib.parse.urljoin(base, session["uploadUrl"].replace("{accountId}", account))
    request = urllib.request.Request(upload, data=message.encode(), headers={"Authorization": auth, "Content-Type": "message/rfc822"})
    with urllib.request.urlopen(request, timeout=10) as r:
        blob = json.load(r)["blobId"]
    imported = call([["Email/import", {"emails": {"e": {"blobId": blob, "mailboxIds": {calendar: True}}}}]])[0][1]
    assert "e" in imported.get("created", {}), imported


def sync_token(http, user):
    body = (
        '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:sync-token/></d:prop></d:propfind>'
    )
    response = http.request("PROPFIND", f"/dav/calendars/{user[0]}/calendar/", headers={"Depth": "0"}, data=body)
    assert response.status_code == 207, response.text
    return re.search(r"<D:sync-token>([^<]+)</D:sync-token>", response.text).group(1)


def sync(http, user, token):
    response = http.request(
        "REPORT", f"/dav/calendars/{user[0]}/calendar/", headers={"Depth": "1"}, data=SYNC.format(token=token)
    )
    assert response.status_code == 207, response.text
    return response.text


def test_a_warm_poll_costs_no_request_to_the_mail_server_while_push_is_alive(start_dedicated_gateway, proxy, user):
    gw = start_behind(start_dedicated_gateway, proxy)
    http = client(gw, user)
    first = poll(http, user)
    assert push_alive(gw, http, user) == first
    before = counters(gw)
    polls = 20
    for _ in range(polls):
        assert poll(http, user) == first, "nothing changed, so the answer is the same"
    after = counters(gw)
    assert after["jmap_requests_total"] == before["jmap_requests_total"], (before, after)
    assert after["jmap_snapshot_pushed_total"] - before["jmap_snapshot_pushed_total"] >= polls


def test_a_change_made_directly_in_the_mail_store_shows_in_the_next_sync_within_the_push_delay(
    start_dedicated_gateway, proxy, user
):
    gw = start_behind(start_dedicated_gateway, proxy)
    http = client(gw, user)
    poll(http, user)
    push_alive(gw, http, user)
    delays = []
    for _ in range(3):
        token = sync_token(http, user)
        uid = f"pushed-{uuid.uuid4()}"
        import_event(user, uid)
        changed = time.monotonic()
        found = []

        def seen():
            report = sync(http, user, token)
            found.extend(re.findall(r"<D:href>([^<]+\.ics)</D:href>", report))
            return bool(found)

        wait_for(seen, "change in sync-collection")
        delays.append(time.monotonic() - changed)
        assert http.request("GET", found[0]).text.count(uid) == 1
    # Cyrus announces within its polling interval (1 s here); one more for the round trips.
    assert max(delays) < PUSH_POLL_S + 1.0, delays
    print(f"push delay of a change made directly over JMAP: median {statistics.median(delays):.2f} s, {delays}")
    # The gateway's own write: visible at once, and its announcement costs no extra read.
    token = sync_token(http, user)
    path = f"/dav/calendars/{user[0]}/calendar/own-{uuid.uuid4().hex}.ics"
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//integration//tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uuid.uuid4()}\r\nDTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert http.request("PUT", path, data=ics, headers={"Content-Type": "text/calendar"}).status_code == 201
    assert f"<D:href>{path}</D:href>" in sync(http, user, token)
    time.sleep(2 * PUSH_POLL_S)  # the write's own announcement arrives
    before = counters(gw)
    poll(http, user)
    after = counters(gw)
    diff = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    # Served as pushed: no state request (the folder's new message may still be described once).
    assert diff.get("jmap_snapshot_pushed_total", 0) >= 1, diff
    assert not diff.get("jmap_snapshot_validated_total") and not diff.get("jmap_snapshot_rebuilt_total"), diff


def test_after_the_push_stream_dies_every_request_is_validated_and_correct(start_dedicated_gateway, proxy, user):
    gw = start_behind(start_dedicated_gateway, proxy)
    http = client(gw, user)
    poll(http, user)
    push_alive(gw, http, user)
    # The stream fails, and the server offers none any more (as Debian's Cyrus answers).
    proxy.push = "refuse"
    proxy.kill()
    time.sleep(2 * PUSH_POLL_S)  # the proxy closes the stream at its next tick
    token = sync_token(http, user)
    before = counters(gw)
    polls = 5
    for _ in range(polls):
        poll(http, user)
    after = counters(gw)
    assert after["jmap_requests_total"] - before["jmap_requests_total"] == polls, (before, after)
    assert after["jmap_snapshot_pushed_total"] == before["jmap_snapshot_pushed_total"]
    uid = f"unpushed-{uuid.uuid4()}"
    import_event(user, uid)
    # No announcement will come: the next request sees it because it asks.
    assert re.search(r"<D:href>[^<]+\.ics</D:href>", sync(http, user, token))


def test_a_server_without_push_is_validated_per_request(start_dedicated_gateway, user):
    # Straight to Debian's Cyrus, whose event source answers 204.
    gw = start_dedicated_gateway(GATEWAY__BACKEND__JMAP__FRESHNESS_MS="0")
    http = client(gw, user)
    first = poll(http, user)
    time.sleep(1)
    before = counters(gw)
    for _ in range(3):
        assert poll(http, user) == first
    after = counters(gw)
    assert after["jmap_requests_total"] - before["jmap_requests_total"] == 3, (before, after)
    assert after["jmap_push_connections_total"] == 0
