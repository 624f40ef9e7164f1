"""eM Client, replayed as far as public sources show its requests (docs/clients/emclient.md).

eM Client is closed source. What this file sends rests on:
- the OPTIONS probe of the server root with eM Client 6's headers: a Fiddler capture in
  bitfireAT/davdroid#406 (`User-Agent: eM Client/6.0.21040.0`, no body, no credentials);
- the member listing (PROPFIND Depth 1, getetag + getcontenttype, `Brief: t`): eM Client
  9.2.2230's own log in etesync/etesync-dav#307;
- sync-collection with an empty token first, then the stored token, `Depth: 0`:
  stalwartlabs/stalwart#2783 (initial body), stalwart#2116 (eM Client sends Depth 0 and
  expects the members), tine20/tine20#5654 (eM Client sends its stored token back);
- the iCalendar eM Client 6 writes (Windows time zone, VALARM acknowledgement, a series with
  one overridden instance): OX App Suite's CalDAV tests for eM Client,
  open-xchange/appsuite-middleware openexchange-test/.../caldav/tests/AlarmTestEMClient.java;
  an update while another one won is a 412, which OX's Bug54192Test ("Sync Conflict with
  emclient") expects eM Client to see.

Not public, so not replayed (see the doc): eM Client's discovery PROPFIND bodies, its
MKCALENDAR/PROPPATCH/DELETE of calendars, its PUT headers, tasks (VTODO), invitations and its
free-busy request. Test setup that is no client request (making a calendar to work in, reading
back what was stored) goes through `setup_*` helpers and is marked as such.
"""

import uuid
from datetime import datetime, timezone

import pytest

from client_replay import Replay, multistatus, prop_text

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
# The versions of the sources above; the newest is used where the version does not matter.
UA_EM_CLIENT_6 = "eM Client/6.0.21040.0"
UA_EM_CLIENT_9 = "eMClient/9.2.2230.0"
# etesync-dav#307: the headers of eM Client 9.2's PROPFIND.
LISTING_HEADERS = {"Accept": "text/xml", "Brief": "t", "Depth": "1", "Content-Type": "text/xml; charset=utf-8"}
# RFC 6578 §3.2 wants Depth 0 on sync-collection; stalwart#2116 reports eM Client sends it.
SYNC_HEADERS = {"Accept": "text/xml", "Depth": "0", "Content-Type": "text/xml; charset=utf-8"}
ICS_HEADERS = {"Content-Type": "text/calendar; charset=utf-8"}


def now_utc():
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def setup_calendar(r, name):
    """Test setup, not an eM Client request: a calendar of the test's own to sync."""
    path = f"/dav/calendars/{r.user}/{name}/"
    resp = r.request("MKCALENDAR", path)
    assert resp.status_code == 201, r.transcript()
    return path


def put_event(r, href, fixture, headers=None, **values):
    body = r.body(fixture, **values)
    return r.request("PUT", href, body=body, headers={**ICS_HEADERS, **(headers or {})})


def event_values(uid, summary="test"):
    # Friday 2027-01-08 08:00-09:00 Berlin (UTC+1), acknowledged 07:44 (AlarmTestEMClient).
    return dict(uid=uid, start="20270108T080000", end="20270108T090000", now=now_utc(),
                ack="20270108T064400Z", summary=summary)


def members(ms, collection):
    """The hrefs below `collection` with their properties, the collection itself left out."""
    return {h: p for h, p in ms.items() if h.rstrip("/") != collection.rstrip("/")}


def test_emclient_options_probe_of_the_server_root_is_answered_with_dav_classes(module_gateway):
    # davdroid#406: eM Client 6 starts with OPTIONS on the URL typed in, without credentials,
    # and keeps going with its defaults when the answer is no DAV answer (there a 302 to a
    # login page). The gateway answers the root itself, so the probe gets the real classes.
    with Replay(module_gateway, client="emclient", user_agent=UA_EM_CLIENT_6) as r:
        resp = r.request("OPTIONS", "/", headers={"Accept-Encoding": "gzip, deflate", "Content-Length": "0"},
                         auth=False)
        assert resp.status_code in (200, 204), r.transcript()
        dav = {c.strip() for c in resp.headers.get("DAV", "").split(",")}
        assert {"1", "calendar-access"} <= dav, r.transcript()
        assert "calendar-auto-schedule" in dav, r.transcript()
        # What eM Client reads from Allow is not public; the root offers discovery methods.
        allow = {m.strip() for m in resp.headers.get("Allow", "").split(",")}
        assert "PROPFIND" in allow, r.transcript()


def test_emclient_lists_members_with_etags_and_content_type(module_gateway):
    uids = [f"emclient-list-{uuid.uuid4()}" for _ in range(2)]
    with Replay(module_gateway, client="emclient", user_agent=UA_EM_CLIENT_9) as r:
        calendar = setup_calendar(r, f"emclient-list-{uuid.uuid4().hex[:8]}")
        for uid in uids:
            resp = put_event(r, f"{calendar}{uid}.ics", "event.ics", **event_values(uid))
            assert resp.status_code == 201, r.transcript()

        resp = r.request("PROPFIND", calendar, body=r.body("propfind-members.xml"), headers=LISTING_HEADERS)
        ms = multistatus(resp)
        found = members(ms, calendar)
        # eM Client keeps a member when it has an ETag to compare and a calendar content type.
        assert sorted(found) == sorted(f"{calendar}{uid}.ics" for uid in uids), r.transcript()
        for href in found:
            assert prop_text(ms, href, "{DAV:}getetag"), r.transcript()
            assert prop_text(ms, href, "{DAV:}getcontenttype").startswith("text/calendar"), r.transcript()
        # The collection answers for itself too. `Brief: t` is ignored (the short answer is
        # optional); eM Client 9.2 synced against Radicale (etesync-dav#307), which ignores it too.
        assert calendar in ms or calendar.rstrip("/") in ms, r.transcript()


def test_emclient_syncs_with_sync_collection_from_an_empty_token(module_gateway):
    uid_kept, uid_changed, uid_deleted = (f"emclient-sync-{n}-{uuid.uuid4()}" for n in ("kept", "changed", "deleted"))
    with Replay(module_gateway, client="emclient", user_agent=UA_EM_CLIENT_9) as r:
        calendar = setup_calendar(r, f"emclient-sync-{uuid.uuid4().hex[:8]}")
        etags = {}
        for uid in (uid_kept, uid_changed, uid_deleted):
            resp = put_event(r, f"{calendar}{uid}.ics", "event.ics", **event_values(uid))
            assert resp.status_code == 201, r.transcript()

        # Initial sync (stalwart#2783): every member with its ETag, and a token to keep.
        resp = r.request("REPORT", calendar, body=r.body("sync-collection-initial.xml"), headers=SYNC_HEADERS)
        ms = multistatus(resp)
        assert ms.sync_token, r.transcript()
        found = members(ms, calendar)
        assert sorted(found) == sorted(f"{calendar}{u}.ics" for u in (uid_kept, uid_changed, uid_deleted)), r.transcript()
        for href in found:
            etags[href] = prop_text(ms, href, "{DAV:}getetag")
            assert etags[href], r.transcript()
            assert prop_text(ms, href, "{DAV:}getcontenttype").startswith("text/calendar"), r.transcript()
        token = ms.sync_token

        # Nothing changed: the stored token gives no members.
        resp = r.request("REPORT", calendar, body=r.body("sync-collection.xml", token=token), headers=SYNC_HEADERS)
        ms = multistatus(resp)
        assert not members(ms, calendar), r.transcript()
        assert ms.sync_token, r.transcript()

        # The reminder dismissed in eM Client (AlarmTestEMClient's second PUT) and one event
        # deleted, both with the ETag eM Client holds.
        changed = f"{calendar}{uid_changed}.ics"
        resp = put_event(r, changed, "event-alarm-acknowledged.ics", headers={"If-Match": etags[changed]},
                         **event_values(uid_changed))
        assert resp.status_code in (200, 201, 204), r.transcript()
        deleted = f"{calendar}{uid_deleted}.ics"
        resp = r.request("DELETE", deleted, headers={"If-Match": etags[deleted]})
        assert resp.status_code in (200, 204), r.transcript()

        resp = r.request("REPORT", calendar, body=r.body("sync-collection.xml", token=token), headers=SYNC_HEADERS)
        ms = multistatus(resp)
        found = members(ms, calendar)
        assert set(found) == {changed, deleted}, r.transcript()
        new_etag = prop_text(ms, changed, "{DAV:}getetag")
        assert new_etag and new_etag != etags[changed], r.transcript()
        # RFC 6578 §3.5.2: a removed member is a response with status 404 and no propstat.
        assert found[deleted].status == 404, r.transcript()
        assert ms.sync_token and ms.sync_token != token, r.transcript()

        # What the dismissed reminder left (test check, not an eM Client request).
        resp = r.request("GET", changed)
        assert resp.status_code == 200, r.transcript()
        assert "ACKNOWLEDGED:99991231T235859Z" in resp.text.replace("\r\n ", ""), r.transcript()


def test_emclient_update_on_a_stale_etag_is_refused_and_the_winner_kept(module_gateway):
    # OX Bug54192Test ("Sync Conflict with emclient when dismissing appointment notification"):
    # eM Client updates an event while another update of it wins; each PUT must either be
    # stored or be refused with 412, never silently overwrite the other.
    uid = f"emclient-conflict-{uuid.uuid4()}"
    with Replay(module_gateway, client="emclient", user_agent=UA_EM_CLIENT_9) as r:
        calendar = setup_calendar(r, f"emclient-conflict-{uuid.uuid4().hex[:8]}")
        href = f"{calendar}{uid}.ics"
        resp = put_event(r, href, "event.ics", **event_values(uid))
        assert resp.status_code == 201, r.transcript()
        resp = r.request("REPORT", calendar, body=r.body("sync-collection-initial.xml"), headers=SYNC_HEADERS)
        etag = prop_text(multistatus(resp), href, "{DAV:}getetag")
        assert etag, r.transcript()

        first = put_event(r, href, "event-alarm-acknowledged.ics", headers={"If-Match": etag},
                          **event_values(uid, summary="test_edit"))
        assert first.status_code in (200, 201, 204), r.transcript()
        second = put_event(r, href, "event.ics", headers={"If-Match": etag}, **event_values(uid, summary="stale"))
        assert second.status_code == 412, r.transcript()
        resp = r.request("GET", href)
        assert "SUMMARY:test_edit" in resp.text, r.transcript()


def test_emclient_recurring_event_with_one_changed_instance(module_gateway):
    # AlarmTestEMClient.testAcknowledgeExceptionReminder: a daily series from Friday
    # 2027-01-08 10:00 Berlin and its instance of Sunday changed ("dailyEDIT"); the
    # RECURRENCE-ID is written in UTC although DTSTART carries the Windows TZID.
    uid = f"emclient-series-{uuid.uuid4()}"
    values = dict(uid=uid, start="20270108T100000", end="20270108T110000", now=now_utc(),
                  exception_start="20270110T100000", exception_end="20270110T110000",
                  recurrence_id="20270110T090000Z", exception_ack="20270110T084400Z",
                  series_ack="20270111T084400Z")
    query = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data><C:expand start="20270110T000000Z" end="20270111T000000Z"/></C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="20270110T000000Z" end="20270111T000000Z"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
    with Replay(module_gateway, client="emclient", user_agent=UA_EM_CLIENT_9) as r:
        calendar = setup_calendar(r, f"emclient-series-{uuid.uuid4().hex[:8]}")
        href = f"{calendar}{uid}.ics"
        resp = put_event(r, href, "recurring-with-exception.ics", **values)
        assert resp.status_code == 201, r.transcript()

        # eM Client reads the object back as one resource: both VEVENTs, same UID.
        resp = r.request("GET", href)
        assert resp.status_code == 200, r.transcript()
        text = resp.text.replace("\r\n ", "")
        assert text.count("BEGIN:VEVENT") == 2 and "SUMMARY:dailyEDIT" in text, r.transcript()
        assert "RECURRENCE-ID" in text and "RRULE:FREQ=DAILY" in text, r.transcript()

        # Test check, not an eM Client request (its query is not public): the Sunday instance
        # is the changed one, at the instant the UTC RECURRENCE-ID names.
        resp = r.request("REPORT", calendar, body=query,
                         headers={"Depth": "1", "Content-Type": "text/xml; charset=utf-8"})
        ms = multistatus(resp)
        data = prop_text(ms, href, f"{CALDAV}calendar-data") or ""
        data = data.replace("\r\n ", "").replace("\n ", "")
        assert data.count("BEGIN:VEVENT") == 1 and "SUMMARY:dailyEDIT" in data, r.transcript()
        assert "RECURRENCE-ID:20270110T090000Z" in data, r.transcript()


def test_emclient_stale_sync_token_gets_the_rfc_6578_precondition(module_gateway):
    # tine20#5654: eM Client stopped syncing when a server answered its token with 400. RFC
    # 6578 §3.2 wants 403 with DAV:valid-sync-token, on which a client starts over with an
    # empty token. (How eM Client reacts to the 403 is not public.)
    with Replay(module_gateway, client="emclient", user_agent=UA_EM_CLIENT_9) as r:
        calendar = setup_calendar(r, f"emclient-token-{uuid.uuid4().hex[:8]}")
        resp = r.request("REPORT", calendar, body=r.body("sync-collection.xml", token="http://example.com/ns/sync/1"),
                         headers=SYNC_HEADERS)
        assert resp.status_code == 403, r.transcript()
        assert "valid-sync-token" in resp.text, r.transcript()


@pytest.mark.parametrize("user_agent", [UA_EM_CLIENT_6, "MailClient/7.0.25432.0", "eMClient/8.0.3318.0", UA_EM_CLIENT_9])
def test_emclient_user_agents_of_every_version_are_served_alike(module_gateway, user_agent):
    # The User-Agent changed with every major version (tine20 EMClient.php: "eM Client/5.0...",
    # EMClient7.php: "MailClient/7.0...", tine20#7202: "eMClient/8.0...", etesync-dav#307:
    # "eMClient/9.2..."); servers that keyed on it broke (tine20#5842, #7202). The gateway
    # keys nothing on it: the member listing is the same for each.
    with Replay(module_gateway, client="emclient", user_agent=user_agent) as r:
        resp = r.request("PROPFIND", f"/dav/calendars/{r.user}/", body=r.body("propfind-members.xml"),
                         headers=LISTING_HEADERS)
        ms = multistatus(resp)
        assert any(h.rstrip("/") == f"/dav/calendars/{r.user}" for h in ms), r.transcript()
