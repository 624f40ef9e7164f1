"""Thunderbird's CalDAV provider, replayed: its own request bodies, headers and User-Agent, in
its order, with every answer read the way Thunderbird reads it (thunderbird_client.py follows
comm-central function by function). Facts and sources: docs/clients/thunderbird.md.

Where each fixture in clients/thunderbird/ comes from (comm-central master cf9726f, same bytes
in the 128 ESR branch; the XML is built by string concatenation there, so the bytes are known):
  propfind-detect-collection.xml    CalDavProvider.sys.mjs CalDavDetector.detectCollection
  propfind-principal-home-set.xml   CalDavDetector.handlePrincipal
  propfind-home-set.xml             CalDavDetector.handleHomeSet (Depth 1)
  propfind-ics-dav-location.xml     CalICSProvider.sys.mjs ICSDetector.attemptDAVLocation
  propfind-ics-directory.xml        ICSDetector.handleDirectory (Depth 1)
  propfind-check-resource-type.xml  CalDavCalendar.sys.mjs checkDavResourceType
  propfind-principal-namespace.xml  CalDavCalendar.checkPrincipalsNameSpace
  report-sync-collection.xml        CalDavRequestHandlers.sys.mjs CalDavWebDavSyncHandler.doWebDAVSync
  report-calendar-multiget.xml      CalDavMultigetSyncHandler.doMultiGet
  freebusy-request.ics              CalDavRequest.sys.mjs CalDavFreeBusyRequest (METHOD:REQUEST VFREEBUSY)
  PROPFIND bodies: CalDavPropfindRequest = XML_HEADER + `<D:propfind ${CalDavTagsToXmlns(...)}>`
  (single-quoted xmlns in first-use order); the same bytes are in the public request log of
  github.com/mguessan/davmail/issues/375.
  event*.ics, task*.ics, meeting.ics: items as Thunderbird's ICS serializer writes them
  (CalIcsSerializer: PRODID "-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN", VERSION, the
  VTIMEZONEs, then the item; properties in CalItemBase.icsBasePropMap order, then ORGANIZER,
  ATTENDEE (params RSVP, CN, PARTSTAT, CUTYPE, ROLE: CalAttendee.icalAttendeePropMap), RRULE,
  VALARM, DTSTART/DTEND or DUE/COMPLETED, then the other properties such as X-MOZ-GENERATION,
  which doModifyItem raises on every change); CRLF line ends (ical.js). The shape matches the
  Thunderbird PUT recorded in github.com/mguessan/davmail/issues/22. The summaries and times
  are the test's.
  vtimezone-europe-berlin.ics: what icu::VTimeZone::write gives for Europe/Berlin, which is
  what Thunderbird puts in every PUT with a zoned time (calendar/base/src/TimezoneDatabase.cpp
  GetTimezoneDefinition); written with Debian's ICU 72 (tzdata 2022e) by a ten-line program
  calling createVTimeZoneByID + write. ICU 72 leaves the property name off its `X-TZINFO:`
  line; ical.js, which parses the definition in Thunderbird (CalTimezoneService,
  ICAL.Timezone.fromData), throws on a line without ":", so the ICU Thunderbird bundles writes
  the name, and the fixture has it. Only the tzdata version differs from Thunderbird's.
  mkcalendar-by-another-client.xml: NOT Thunderbird (it never creates calendars): the setup
  another client or the web mail does, giving calendars colour and order.
"""

import os
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from client_replay import Replay
from conftest import DIRECTORY
from thunderbird_client import (
    MIME_TEXT_CALENDAR,
    USER_AGENT,
    CalDavDetector,
    headers_for,
    PropfindResponse,
    ThunderbirdCalendar,
    unfold,
)

VTIMEZONE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients", "thunderbird", "vtimezone-europe-berlin.ics")


def thunderbird(gateway, user="alice"):
    # Necko sends the first request of a protection space without credentials and answers the
    # challenge; then it sends them with every request to that space.
    return Replay(gateway, client="thunderbird", user=user, user_agent=USER_AGENT, preemptive=False)


def another_client(gateway, user="alice"):
    return Replay(gateway, client="thunderbird", user=user, user_agent="")


def ics(replay, name, **variables):
    """An iCalendar fixture with CRLF line ends, the Berlin VTIMEZONE in ${vtimezone}."""
    with open(VTIMEZONE_FILE, encoding="utf-8") as f:
        variables.setdefault("vtimezone", f.read())
    text = replay.body(name, **variables).decode("utf-8")
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def thunderbird_uid():
    """cal.getUUID(): a UUID without braces."""
    return str(uuid.uuid4())


def make_calendar(setup, name, display_name, color, order, component):
    path = f"/dav/calendars/{setup.user}/{name}/"
    body = setup.body("mkcalendar-by-another-client.xml", display_name=display_name, color=color, order=str(order), component=component)
    response = setup.request("MKCALENDAR", path, body=body, headers={"Content-Type": "application/xml; charset=utf-8"})
    assert response.status_code == 201, setup.transcript()
    return path


@pytest.fixture(scope="module")
def calendars(module_gateway):
    """alice's calendars as another client left them: the default calendar and task list, a
    work calendar (colour with alpha, as Apple and DAVx5 write it) and a second task list."""
    suffix = uuid.uuid4().hex[:8]
    with another_client(module_gateway) as setup:
        work = make_calendar(setup, f"work-{suffix}", "Work", "#E66100FF", 2, "VEVENT")
        errands = make_calendar(setup, f"errands-{suffix}", "Errands", "#26A269", 3, "VTODO")
        yield {"work": work, "errands": errands, "calendar": "/dav/calendars/alice/calendar/", "tasks": "/dav/calendars/alice/tasks/"}


def subscribe(replay, path):
    calendar = ThunderbirdCalendar(replay, replay.url(path))
    calendar.check_server_info()
    return calendar


def test_new_calendar_dialog_finds_every_calendar_from_the_bare_host(module_gateway, calendars):
    """File > New > Calendar > On the Network, location = host and port: .well-known (301 to
    /dav/, followed with the same PROPFIND), principal, home listing."""
    host = module_gateway.url.split("://", 1)[1].rstrip("/")
    with thunderbird(module_gateway) as r:
        found = CalDavDetector(r).detect(host)
        by_path = {r.url(c["url"]).split(r.origin, 1)[1]: c for c in found}
        for key in ("work", "errands", "calendar", "tasks"):
            assert calendars[key] in by_path, f"{calendars[key]} not offered: {sorted(by_path)}\n{r.transcript()}"
        work = by_path[calendars["work"]]
        assert (work["name"], work["color"], work["read_only"]) == ("Work", "#E66100", False), work
        errands = by_path[calendars["errands"]]
        assert (errands["name"], errands["color"], errands["read_only"]) == ("Errands", "#26A269", False), errands
        assert by_path[calendars["calendar"]]["name"] == "Calendar"
        # The schedule inbox and outbox are no calendars to subscribe to.
        assert not any(p.rstrip("/").endswith(("/inbox", "/outbox")) for p in by_path), sorted(by_path)
        # The first request went to .well-known without credentials, as necko sends it.
        assert "/.well-known/caldav" in r.exchanges[0].split("\n", 1)[0], r.transcript()


def test_the_connection_survives_the_challenge_and_the_redirect(module_gateway):
    """Thunderbird's first PROPFIND of a protection space goes without credentials and with its
    body; after the 401 (and the .well-known 301) the next request must get its answer: the
    gateway says Connection: close when it leaves a body unread (unread_body.rs). Without that,
    about one request in six after such an answer went into a silently closed connection."""
    with thunderbird(module_gateway) as r:
        headers = headers_for(r, "PROPFIND", {"Depth": "0", "Content-Type": "text/xml; charset=utf-8"})
        body = r.body("propfind-detect-collection.xml")
        for _ in range(40):
            for path in ("/.well-known/caldav", "/dav/"):
                answer = r.request("PROPFIND", path, body=body, headers=headers, auth=False)
                assert answer.status_code in (301, 401), r.transcript()
                assert r.request("OPTIONS", "/dav/", headers=headers_for(r, "OPTIONS"), auth=False).status_code == 200


def test_new_calendar_dialog_from_the_root_a_principal_or_a_calendar_url(module_gateway, calendars):
    """The other locations a user types: the root (attemptRoot), the principal URL
    (attemptLocation -> current-user-principal) and one calendar's URL (just that calendar)."""
    with thunderbird(module_gateway) as r:
        detector = CalDavDetector(r)
        from_root = detector.detect_collection(r.url("/"))
        assert calendars["work"] in {r.url(c["url"]).split(r.origin, 1)[1] for c in from_root or []}, r.transcript()
        from_principal = detector.detect_collection(r.url("/dav/principals/alice/"))
        assert calendars["errands"] in {r.url(c["url"]).split(r.origin, 1)[1] for c in from_principal or []}, r.transcript()
        # Typed without the trailing slash: Thunderbird keeps the URL as typed for detection.
        only = detector.detect_collection(r.url(calendars["work"].rstrip("/")))
        assert only is not None and len(only) == 1 and only[0]["name"] == "Work", r.transcript()


def test_the_ics_detector_running_beside_it_changes_nothing(module_gateway, calendars):
    """The dialog runs every provider's detection at once: the ICS one sends HEAD, GET,
    PROPFIND and a PUT with `If-Match: nothing` and an empty text/plain body to the location
    (CalICSProvider.sys.mjs ICSDetector). None of it may touch a calendar."""
    with thunderbird(module_gateway) as r:
        accept = {"Accept": "text/calendar, application/ics, text/plain;q=0.9"}
        for location in ("/", calendars["work"]):
            for method in ("HEAD", "GET"):
                response = r.request(method, location, headers=headers_for(r, method, accept))
                assert response.status_code != 500, r.transcript()
                assert "text/calendar" not in response.headers.get("Content-Type", ""), r.transcript()
            xml_headers = headers_for(r, "PROPFIND", {"Content-Type": "text/xml; charset=utf-8"})
            answer = PropfindResponse(r.request("PROPFIND", location, body=r.body("propfind-ics-dav-location.xml"),
                                                headers=dict(xml_headers, Depth="0")))
            assert answer.ok, r.transcript()
            props = answer.first_props
            if "C:calendar" not in props.get("D:resourcetype", set()) and "D:collection" in props.get("D:resourcetype", set()):
                # handleDirectory: members whose getcontenttype is exactly text/calendar would
                # be offered as ICS files; the gateway's root has none.
                listing = PropfindResponse(r.request("PROPFIND", location, body=r.body("propfind-ics-directory.xml"),
                                                     headers=dict(xml_headers, Depth="1")))
                assert listing.ok, r.transcript()
                assert not [h for h, p in listing.data.items() if p.get("D:getcontenttype") == "text/calendar"], r.transcript()
            put = r.request("PUT", location, body=b"", headers=headers_for(r, "PUT", {"If-Match": "nothing", "Content-Type": "text/plain"}))
            assert not 200 <= put.status_code < 300, f"the ICS detector's probe was stored\n{r.transcript()}"
        work = subscribe(r, calendars["work"])
        assert work.refresh() == [] and work.href_index == {}, r.transcript()


def test_subscribed_calendar_syncs_creates_changes_and_deletes_an_event(module_gateway, calendars):
    with thunderbird(module_gateway) as r:
        work = subscribe(r, calendars["work"])
        assert work.has_webdav_sync and work.has_auto_scheduling and not work.read_only, r.transcript()
        assert work.supported_item_types == ["VEVENT"], work.supported_item_types
        assert work.ctag, "getctag is asked for and cached even with sync"
        assert work.calendar_user_addresses == ["mailto:alice@example.com"], work.calendar_user_addresses
        assert work.outbox_url and work.inbox_url, r.transcript()
        assert work.refresh() == [] and work.sync_token, r.transcript()

        # New event: PUT <id>.ics with If-None-Match: *, then a one-href multiget.
        uid = thunderbird_uid()
        body = ics(r, "event.ics", uid=uid, summary="Planning", start="20261203T100000", end="20261203T110000")
        created = work.add_item(uid, body)
        assert created.status_code in (200, 201, 204), r.transcript()
        assert "SUMMARY:Planning" in unfold(work.items[uid]), r.transcript()
        # The VTIMEZONE ICU writes (offsets with seconds) came back intact enough to be read.
        assert "TZID:Europe/Berlin" in work.items[uid], r.transcript()

        # Next refresh: only the token, nothing to fetch (the etag is the one it has).
        assert work.refresh() == [], r.transcript()

        # Change: If-Match with the etag from the multiget.
        changed = ics(r, "event-modified.ics", uid=uid, summary="Planning (room 4)", start="20261203T100000",
                      end="20261203T113000", generation="1")
        assert work.modify_item(uid, changed).status_code in (200, 201, 204), r.transcript()
        assert "SUMMARY:Planning (room 4)" in unfold(work.items[uid]), r.transcript()

        # A stale etag is a conflict Thunderbird asks the user about: 412 (409 also counts).
        stale = dict(work.item_info[uid], etag='"stale"')
        response = work.request("PUT", work.make_uri(stale["location_path"]), changed,
                                {"Content-Type": MIME_TEXT_CALENDAR, "If-Match": stale["etag"]})
        assert response.status_code in (409, 412), r.transcript()

        # A change made elsewhere arrives with the next sync-collection.
        with another_client(module_gateway) as web:
            href = work.make_uri(work.item_info[uid]["location_path"])
            elsewhere = ics(r, "event-modified.ics", uid=uid, summary="Planning (moved by phone)",
                            start="20261203T140000", end="20261203T150000", generation="2")
            assert web.request("PUT", href, body=elsewhere, headers={"Content-Type": "text/calendar"}).status_code == 204
        fetched = work.refresh()
        assert len(fetched) == 1 and "moved by phone" in unfold(work.items[uid]), r.transcript()

        # Delete with If-Match; the next sync reports nothing left.
        deleted = work.delete_item(uid)
        assert deleted.status_code in (200, 204), r.transcript()
        assert work.refresh() == [] and work.href_index == {}, r.transcript()


def test_a_deleted_event_is_a_404_member_in_the_next_sync(module_gateway, calendars):
    with thunderbird(module_gateway) as r:
        work = subscribe(r, calendars["work"])
        work.refresh()
        uid = thunderbird_uid()
        assert work.add_item(uid, ics(r, "event.ics", uid=uid, summary="Short-lived", start="20261204T100000",
                                      end="20261204T110000")).status_code in (200, 201, 204)
        work.refresh()
        with another_client(module_gateway) as web:
            assert web.request("DELETE", work.make_uri(work.item_info[uid]["location_path"])).status_code == 204
        assert uid in work.items
        work.refresh()
        assert uid not in work.items, f"the removal did not reach Thunderbird\n{r.transcript()}"


def test_a_sync_in_pages_is_followed_to_the_end(start_dedicated_gateway):
    """A gateway that answers at most 2 members per sync-collection marks the collection's
    own response 507 (RFC 6578 §3.6); Thunderbird reads that as "sync again with the new
    token" (additionalSyncNeeded) and, on a first sync, removes nothing it did not see."""
    gateway = start_dedicated_gateway(GATEWAY__LIMITS__MAX_SYNC_RESULTS="2")
    # alice, whose calendars the module's gateway serves too: on JMAP this second gateway's
    # work in her account once made that gateway answer valid-sync-token to her later syncs
    # (docs/clients/thunderbird.md, "Known gaps"; test_scale_out.py replays it).
    with another_client(gateway) as setup:
        path = make_calendar(setup, f"paged-{uuid.uuid4().hex[:8]}", "Paged", "#1C71D8", 4, "VEVENT")
        uids = [thunderbird_uid() for _ in range(5)]
        for day, uid in enumerate(uids, start=1):
            body = ics(setup, "event.ics", uid=uid, summary=f"Day {day}", start=f"2026120{day}T100000", end=f"2026120{day}T110000")
            assert setup.request("PUT", f"{path}{uid}.ics", body=body, headers={"Content-Type": "text/calendar"}).status_code == 201
        with thunderbird(gateway) as r:
            paged = subscribe(r, path)
            paged.refresh()
            assert sorted(paged.items) == sorted(uids), r.transcript()
            assert sum(" 507" in x for x in r.exchanges) >= 2, "the answers were not paged"
            assert paged.refresh() == [], r.transcript()


def test_recurring_event_with_one_changed_instance(module_gateway, calendars):
    """Thunderbird writes the whole series with the changed instance as a second VEVENT
    (doModifyItem: parentItem.clone() and recurrenceInfo.modifyException)."""
    with thunderbird(module_gateway) as r:
        work = subscribe(r, calendars["work"])
        work.refresh()
        uid = thunderbird_uid()
        assert work.add_item(uid, ics(r, "event-recurring.ics", uid=uid)).status_code in (200, 201, 204), r.transcript()
        assert work.modify_item(uid, ics(r, "event-recurring-one-changed.ics", uid=uid)).status_code in (200, 201, 204), r.transcript()
        data = unfold(work.items[uid])
        assert data.count("BEGIN:VEVENT") == 2, data
        assert "RECURRENCE-ID;TZID=Europe/Berlin:20261216T090000" in data, data
        assert "RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=WE" in data, data
        assert work.delete_item(uid).status_code in (200, 204), r.transcript()


def test_task_list_with_due_date_and_completion(module_gateway, calendars):
    """A task list is a calendar whose supported-calendar-component-set is VTODO: Thunderbird
    then offers tasks only (capabilities.tasks.supported) and PUTs VTODOs to it."""
    with thunderbird(module_gateway) as r:
        for key in ("errands", "tasks"):
            tasks = subscribe(r, calendars[key])
            assert tasks.supported_item_types == ["VTODO"], (key, tasks.supported_item_types)
            tasks.refresh()
            uid = thunderbird_uid()
            assert tasks.add_item(uid, ics(r, "task.ics", uid=uid)).status_code in (200, 201, 204), r.transcript()
            assert "DUE;TZID=Europe/Berlin:20261204T170000" in unfold(tasks.items[uid]), r.transcript()
            assert tasks.modify_item(uid, ics(r, "task-completed.ics", uid=uid)).status_code in (200, 201, 204), r.transcript()
            data = unfold(tasks.items[uid])
            assert "STATUS:COMPLETED" in data and "COMPLETED:20261203T161200Z" in data and "PERCENT-COMPLETE:100" in data, data
            assert tasks.refresh() == [], r.transcript()
            assert tasks.delete_item(uid).status_code in (200, 204), r.transcript()


def test_an_expired_sync_token_is_a_4xx_thunderbird_recovers_from(module_gateway, calendars):
    """A 4xx to a sync with a token makes Thunderbird drop the token and sync from scratch,
    except a 403 whose body contains `<D:error xmlns:D="DAV:"/>` (or a 429), which it takes
    for a rate limit and then never resyncs (CalDavWebDavSyncHandler.onStopRequest)."""
    with thunderbird(module_gateway) as r:
        work = subscribe(r, calendars["work"])
        work.refresh()
        # A token of the server the calendar lived on before (sabre/dav's form): never issued here.
        work.sync_token = "http://sabre.io/ns/sync/1234"
        response = work.refresh(may_fail=True)
        assert 400 <= response.status_code < 500 and response.status_code != 429, r.transcript()
        assert '<D:error xmlns:D="DAV:"/>' not in response.text, r.transcript()
        work.sync_token = None
        assert work.refresh() == [] and work.sync_token, r.transcript()


@pytest.mark.skipif(not DIRECTORY, reason="colleagues are reached only by iMIP mail without a service account")
def test_invitation_reaches_the_attendee_and_the_answer_the_organizer(module_gateway, calendars):
    """With calendar-auto-schedule Thunderbird leaves the messages to the server
    (CalDavCalendar.sendItems returns at once): the organizer PUTs the meeting, the attendee
    finds it in the calendar by sync-collection and accepts by PUT with If-Match. Thunderbird
    never polls the schedule inbox here (pollInbox needs calendar.caldav.sched.enabled, off by
    default, when the calendar syncs by sync-collection)."""
    uid = thunderbird_uid()
    with thunderbird(module_gateway, "alice") as alice_r, thunderbird(module_gateway, "bob") as bob_r:
        alice = subscribe(alice_r, calendars["calendar"])
        alice.refresh()
        bob = subscribe(bob_r, "/dav/calendars/bob/calendar/")
        bob.refresh()
        assert bob.calendar_user_addresses == ["mailto:bob@example.com"], bob_r.transcript()

        meeting = ics(alice_r, "meeting.ics", uid=uid, stamp="20261120T110135Z", bob_partstat="NEEDS-ACTION", extra="")
        assert alice.add_item(uid, meeting).status_code in (200, 201, 204), alice_r.transcript()

        fetched = bob.refresh()
        assert fetched and uid in bob.items, f"the invitation is not in bob's calendar\n{bob_r.transcript()}"
        assert re.search(r"ATTENDEE;[^\n]*PARTSTAT=NEEDS-ACTION[^\n]*:mailto:bob@example.com", unfold(bob.items[uid])), bob.items[uid]

        # Bob accepts: Thunderbird rewrites his copy with his PARTSTAT and PUTs it back.
        accepted = ics(bob_r, "meeting.ics", uid=uid, stamp="20261121T090000Z", bob_partstat="ACCEPTED", extra="X-MOZ-GENERATION:1\r\n")
        response = bob.modify_item(uid, accepted)
        assert response.status_code in (200, 201, 204), bob_r.transcript()

        alice.refresh()
        answered = unfold(alice.items[uid])
        assert re.search(r"ATTENDEE;[^\n]*PARTSTAT=ACCEPTED[^\n]*:mailto:bob@example.com", answered), answered

        assert alice.delete_item(uid).status_code in (200, 204), alice_r.transcript()
        bob.refresh()
        assert uid not in bob.items or "STATUS:CANCELLED" in unfold(bob.items[uid]), bob_r.transcript()
        if uid in bob.items:
            assert bob.delete_item(uid).status_code in (200, 204, 404), bob_r.transcript()


@pytest.mark.skipif(not DIRECTORY, reason="colleagues' free-busy needs the directory (service account on JMAP)")
def test_free_busy_of_a_colleague_through_the_outbox(module_gateway, calendars):
    """The attendee dialog's free/busy grid: CalDavCalendar.getFreeBusyIntervals POSTs a
    VFREEBUSY REQUEST to the outbox (Originator, Recipient) and reads request-status and the
    FREEBUSY periods of the first recipient (FreeBusyResponse)."""
    busy_uid = thunderbird_uid()
    with thunderbird(module_gateway, "bob") as bob_r, thunderbird(module_gateway, "alice") as r:
        bob = subscribe(bob_r, "/dav/calendars/bob/calendar/")
        bob.refresh()
        body = ics(bob_r, "event.ics", uid=busy_uid, summary="Dentist", start="20261210T090000", end="20261210T100000")
        assert bob.add_item(busy_uid, body).status_code in (200, 201, 204), bob_r.transcript()

        alice = subscribe(r, calendars["calendar"])
        assert alice.outbox_url and alice.calendar_user_addresses, r.transcript()
        start = datetime(2026, 12, 9, 23, 0, tzinfo=timezone.utc)
        request = ics(r, "freebusy-request.ics", uid=thunderbird_uid(), start=stamp(start), end=stamp(start + timedelta(days=1)),
                      organizer=alice.calendar_user_addresses[0], attendee="mailto:bob@example.com")
        response = r.request("POST", alice.outbox_url, body=request, headers=headers_for(r, "POST", {
            "Content-Type": MIME_TEXT_CALENDAR, "Originator": alice.calendar_user_addresses[0],
            "Recipient": "mailto:bob@example.com"}))
        assert response.status_code == 200, r.transcript()
        root = ET.fromstring(response.content)
        first = next(c for c in root if c.tag.endswith("}response"))
        texts = {c.tag.rsplit("}", 1)[-1]: "".join(c.itertext()).strip() for c in first}
        assert texts["request-status"].startswith("2"), r.transcript()
        periods = re.findall(r"^FREEBUSY[^:]*:(.*)$", unfold(texts["calendar-data"]), re.M)
        # 09:00-10:00 Berlin is 08:00-09:00 UTC.
        assert any(p.startswith("20261210T080000Z/") for p in ",".join(periods).split(",")), texts["calendar-data"]
        assert "Dentist" not in texts["calendar-data"]
        assert bob.delete_item(busy_uid).status_code in (200, 204), bob_r.transcript()


def stamp(moment):
    return moment.strftime("%Y%m%dT%H%M%SZ")
