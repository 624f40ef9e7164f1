"""sync-collection in pages (RFC 6578 §3.6): an answer over the client's DAV:limit or the
server's limits.max_sync_results is truncated, the collection itself is answered 507 and the
sync-token continues from there. A client that follows the tokens (DAVx5 does as long as the
collection answers 507) ends with exactly the calendar's final state, even when the calendar
changes between pages.
"""

import uuid
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlsplit

import pytest
import requests

from icalendar_samples import event

D = "{DAV:}"


class Client:
    def __init__(self, gateway):
        self.base = gateway.url.rstrip("/")
        self.auth = gateway.auth("alice")
        self.ca = gateway.ca

    def request(self, method, path, **kwargs):
        return requests.request(method, self.base + path, auth=self.auth, verify=self.ca, timeout=30, **kwargs)

    def new_calendar(self):
        path = f"/dav/calendars/alice/paging-{uuid.uuid4().hex[:8]}/"
        assert self.request("MKCALENDAR", path).status_code == 201
        return path

    def put(self, path, summary="Meeting"):
        # One UID per resource: a PUT may not give an existing resource another UID.
        _, ics = event(summary, uid=f"{path.strip('/').replace('/', '-')}@paging.example")
        response = self.request("PUT", path, data=ics.encode(), headers={"Content-Type": "text/calendar"})
        assert response.status_code in (201, 204), response.text

    def delete(self, path):
        assert self.request("DELETE", path).status_code == 204

    def members(self, calendar):
        """name -> etag of what the calendar holds now (PROPFIND Depth 1)."""
        body = '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
        response = self.request("PROPFIND", calendar, headers={"Depth": "1"}, data=body)
        assert response.status_code == 207
        found = {}
        for r in ET.fromstring(response.content).iter(D + "response"):
            href = unquote(r.findtext(D + "href"))
            etag = r.findtext(f"{D}propstat/{D}prop/{D}getetag")
            if href.rstrip("/") != calendar.rstrip("/") and etag:
                found[href] = etag
        return found

    def sync(self, calendar, token, limit=None):
        """One sync-collection: (changed {href: etag}, removed {href}, collection 507?, token)."""
        limit_xml = f"<d:limit><d:nresults>{limit}</d:nresults></d:limit>" if limit is not None else ""
        body = (
            '<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:">'
            f"<d:sync-token>{token or ''}</d:sync-token><d:sync-level>1</d:sync-level>{limit_xml}"
            "<d:prop><d:getetag/></d:prop></d:sync-collection>"
        )
        response = self.request("REPORT", calendar, data=body, headers={"Content-Type": "application/xml"})
        assert response.status_code == 207, response.text
        root = ET.fromstring(response.content)
        changed, removed, truncated = {}, set(), False
        for r in root.iter(D + "response"):
            href = unquote(urlsplit(r.findtext(D + "href")).path)
            status = r.findtext(D + "status") or ""
            if href.rstrip("/") == calendar.rstrip("/"):
                assert " 507 " in status, status
                truncated = True
            elif " 404 " in status:
                removed.add(href)
            else:
                etag = r.findtext(f"{D}propstat/{D}prop/{D}getetag")
                assert etag, ET.tostring(r)
                changed[href] = etag
        token = root.findtext(D + "sync-token")
        assert token
        return changed, removed, truncated, token


def apply(state, changed, removed):
    for href in removed:
        state.pop(href, None)
    state.update(changed)


def follow(client, calendar, state, token, limit, between_pages=()):
    """Syncs until the collection is no longer answered 507, calling one of `between_pages`
    after each truncated page. Returns the final token and the number of pages."""
    pages = 0
    actions = list(between_pages)
    while True:
        changed, removed, truncated, token = client.sync(calendar, token, limit)
        pages += 1
        if limit is not None:
            assert len(changed) + len(removed) <= limit
        apply(state, changed, removed)
        if not truncated:
            return token, pages
        assert pages < 50, "paging does not end"
        if actions:
            actions.pop(0)()


@pytest.fixture
def client(gateway):
    return Client(gateway)


def test_first_sync_pages_through_changes_made_between_pages(client):
    calendar = client.new_calendar()
    names = [f"{calendar}item-{n:02}.ics" for n in range(25)]
    for name in names:
        client.put(name)

    between_pages = [
        # After page 1 (items 00..09 sent): change one sent and one unsent item, delete a sent
        # and an unsent one, add one before the cursor and one after it.
        lambda: (
            client.put(names[3], "changed after it was sent"),
            client.put(names[20], "changed before it was sent"),
            client.delete(names[5]),
            client.delete(names[15]),
            client.put(f"{calendar}aaa-new-first.ics"),
            client.put(f"{calendar}zzz-new-last.ics"),
        ),
        # After page 2.
        lambda: (client.delete(names[0]), client.put(names[24], "changed again"), client.put(f"{calendar}item-125.ics")),
    ]
    state = {}
    token, pages = follow(client, calendar, state, None, 10, between_pages)
    assert pages >= 3
    assert state == client.members(calendar)

    # The final token is a plain one: nothing changed since, nothing is reported.
    changed, removed, truncated, _ = client.sync(calendar, token, 10)
    assert (changed, removed, truncated) == ({}, set(), False)


def test_a_delta_over_the_limit_is_paged_too(client):
    calendar = client.new_calendar()
    names = [f"{calendar}item-{n:02}.ics" for n in range(25)]
    for name in names[:12]:
        client.put(name)
    state = {}
    token, _ = follow(client, calendar, state, None, None)
    assert state == client.members(calendar)

    for name in names[12:]:
        client.put(name)
    for name in names[:4]:
        client.delete(name)
    between_pages = [lambda: (client.put(names[1]), client.delete(names[20]), client.put(names[12], "edited"))]
    token, pages = follow(client, calendar, state, token, 5, between_pages)
    assert pages >= 4
    assert state == client.members(calendar)


def test_the_configured_cap_pages_a_client_that_sends_no_limit(start_dedicated_gateway):
    # DAVx5 sends no DAV:limit; it follows the 507 on its collection's href.
    client = Client(start_dedicated_gateway(GATEWAY__LIMITS__MAX_SYNC_RESULTS="7"))
    calendar = client.new_calendar()
    for n in range(20):
        client.put(f"{calendar}item-{n:02}.ics")
    changed, removed, truncated, _ = client.sync(calendar, None)
    assert (len(changed), removed, truncated) == (7, set(), True)
    state = {}
    _, pages = follow(client, calendar, state, None, None)
    assert pages == 3
    assert state == client.members(calendar)


def test_a_foreign_page_token_is_an_invalid_sync_token(client):
    calendar = client.new_calendar()
    body = (
        '<d:sync-collection xmlns:d="DAV:"><d:sync-token>urn:x-caldav-gateway:sync-page:a:b</d:sync-token>'
        "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
    )
    response = client.request("REPORT", calendar, data=body)
    assert response.status_code == 403
    assert "valid-sync-token" in response.text
