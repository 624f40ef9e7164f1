"""DAVx5 replayed: its own requests, headers and User-Agent, its answers read the way dav4jvm
reads them.

Read in bitfireAT/davx5-ose at tag v4.5.19-ose (8f63c21, 2026-08-03) and the library it uses,
bitfireAT/dav4jvm 4.0.1 (37bdcff, its ktor client); the facts and their files are in
docs/clients/davx5.md. Request bodies are the fixtures in clients/davx5/ (each says where it
comes from). The iCalendar bodies are laid out the way DAVx5 writes them: VERSION, PRODID
`DAVx5/<version> ical4j/<version>` (davx5-ose `ProductIds.kt`), the components, then the
minified VTIMEZONEs of the TZIDs used, after the components (bitfireAT/synctools
`icalendar/ICalendarGenerator.kt` and its test `ICalendarGeneratorTest.kt`, whose Europe/Berlin
VTIMEZONE the fixtures carry); DTSTAMP first because ical4j's `VEvent(true)` adds it
(synctools `mapping/calendar/AndroidEventHandler.kt`).

Answers are read by `davx5_http.py` (dav4jvm: headers, redirects, multistatus) and
`davx5_sync.py` (DAVx5's discovery, collection refresh and sync managers), each step asserting
what DAVx5 needs of the answer.

DAVx5 itself never reads the schedule inbox, never POSTs to the outbox and asks for no
free-busy: meetings work through the server's implicit scheduling alone
(`test_meeting_through_the_servers_implicit_scheduling`).
"""

import datetime
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urljoin, urlsplit

import icalendar
import pytest

from client_replay import Replay
from conftest import DIRECTORY
from davx5_http import DAV, XML_REQUEST, Dav4jvm, parse_multistatus, quoted
from davx5_sync import (
    BATCH,
    PAST_DAYS,
    Account,
    Syncer,
    collection_of,
    email_addresses,
    find_principal,
    local_time,
    refresh_collections,
    utc,
)

# davx5-ose ProductIds.kt: "DAVx5/$versionName (${context.packageName})"; versionName 4.5.19
# (build-logic AppVersion.kt) with the flavour suffix -ose (app-ose/build.gradle.kts), package
# at.bitfire.davdroid. Older releases (4.4.x, okhttp) sent "DAVx5/4.4.3.2-ose (dav4jvm;
# okhttp/4.12.0) Android/14".
USER_AGENT = "DAVx5/4.5.19-ose (at.bitfire.davdroid)"


def object_name():
    """A new Android event has no UID yet: DAVx5 makes a random UUID and names the file after
    it (DavUtils.fileNameFromUid)."""
    uid = str(uuid.uuid4())
    return uid, f"{uid}.ics"


def event_times(days_from_now, hours=1):
    day = datetime.datetime.now() + datetime.timedelta(days=days_from_now)
    start = day.replace(hour=10, minute=0, second=0, microsecond=0)
    return local_time(start), local_time(start + datetime.timedelta(hours=hours))


def now_stamp():
    return utc(datetime.datetime.now(datetime.timezone.utc))


def davx5(gateway, user="alice"):
    return Replay(gateway, client="davx5", user=user, user_agent=USER_AGENT)


def set_up_account(replay):
    """Account set-up from the bare host, then the collection refresh DAVx5 runs right after."""
    dav = Dav4jvm(replay)
    principal = find_principal(dav, replay.url(""))
    assert principal, replay.transcript()
    account = Account(dav, principal)
    refresh_collections(account)
    return account


def create_calendar(account, display_name, color, components=None, description="made by DAVx5"):
    """DavCollectionRepository.createCalendar: MKCALENDAR at home + random UUID + '/'."""
    url = account.home_sets[0] + f"{uuid.uuid4()}/"
    if components is None:
        response = account.dav.mkcalendar(url, "mkcalendar.xml", displayname=display_name, color=color, description=description)
    else:
        comps = "".join(f'<CAL:comp name="{c}" />' for c in components)
        response = account.dav.mkcalendar(url, "mkcalendar-components.xml", displayname=display_name, color=color, comps=comps)
    # mkCol(): any 2xx but 207 is success.
    assert 200 <= response.status_code < 300 and response.status_code != 207, account.dav.r.transcript()
    return url


def synced_collection(account, display_name, color, components=None, kind="events", past_days=PAST_DAYS):
    """A collection made on the phone, found by the refresh and synced once (still empty)."""
    url = create_calendar(account, display_name, color, components)
    refresh_collections(account)
    syncer = Syncer(account, url, kind=kind, past_days=past_days)
    assert syncer.sync(), "the first sync lists the collection"
    assert syncer.local == {}
    return syncer


def other_client_put(gateway, user, url, body):
    """A change made elsewhere (the web mail's calendar, another device): no DAVx5 headers."""
    with Replay(gateway, client="davx5", user=user, user_agent="another client") as other:
        response = other.request("PUT", url, body=body, headers={"Content-Type": "text/calendar; charset=utf-8"})
        assert response.status_code in (201, 204), other.transcript()


def other_client_request(gateway, user, method, url, body=None, headers=None):
    with Replay(gateway, client="davx5", user=user, user_agent="another client") as other:
        return other.request(method, url, body=body, headers=headers or {})


# --- discovery ---------------------------------------------------------------------------------


def test_discovery_from_the_bare_host(module_gateway):
    """The user types only https://host:port: CardDAV is probed first and found absent, then
    CalDAV finds the principal at '/', checks it with OPTIONS and reads the mail address."""
    with davx5(module_gateway) as r:
        dav = Dav4jvm(r)
        base = r.url("")
        # CardDAV (DavResourceFinder tries it first): the principal is found but offers no
        # `addressbook`, so DAVx5 then asks /.well-known/carddav, whose failure it only logs.
        carddav = dav.propfind(base, 0, "propfind-base-url-carddav.xml")
        assert [e.relation for e in carddav] == ["SELF"], r.transcript()
        assert carddav[0].get("{urn:ietf:params:xml:ns:carddav}addressbook-home-set") is None
        principal = urljoin(carddav[0].requested, carddav[0].hrefs_of(DAV + "current-user-principal")[0])
        assert "addressbook" not in dav.options(principal)
        _, well_known = dav.propfind_raw(r.url("/.well-known/carddav"), 0, "propfind-current-user-principal.xml")
        assert well_known.status_code < 500, r.transcript()

        # CalDAV
        caldav = dav.propfind(base, 0, "propfind-base-url-caldav.xml")
        assert len(caldav) == 1 and caldav[0].relation == "SELF" and caldav[0].is_success(), r.transcript()
        assert collection_of(caldav[0]) is None, "'/' must not look like a calendar"
        principal = urljoin(caldav[0].requested, caldav[0].hrefs_of(DAV + "current-user-principal")[0])
        assert urlsplit(principal).path == "/dav/principals/alice/", principal
        assert "calendar-access" in dav.options(principal), r.transcript()
        assert find_principal(dav, base) == principal

        # A wrong password: ktor's Auth plugin needs a Basic (or Digest) challenge to count the
        # 401 as UnauthorizedException, which DavResourceFinder turns into "encountered401" (the
        # login screen's "wrong credentials" instead of "no service found").
        wrong = {"Authorization": "Basic YWxpY2U6bm90LXRoZS1wYXNzd29yZA==", "Depth": "0", **XML_REQUEST}
        refused = r.request("PROPFIND", base, body=r.body("propfind-base-url-caldav.xml"), headers=wrong, auth=False)
        assert refused.status_code == 401, r.transcript()
        assert refused.headers.get("WWW-Authenticate", "").lower().startswith("basic realm="), refused.headers

        # The first mailto: address becomes the account name (ui/setup/LoginScreenViewModel.kt)
        # and so the calendars' OWNER_ACCOUNT, which decides who is the organizer on Android.
        assert email_addresses(dav, principal)[:1] == ["alice@example.com"], r.transcript()


def test_discovery_from_well_known(module_gateway):
    """The user types https://host:port/.well-known/caldav: dav4jvm follows the redirect itself
    and resolves the principal against the URL it was redirected to."""
    with davx5(module_gateway) as r:
        dav = Dav4jvm(r)
        location, response = dav.propfind_raw(r.url("/.well-known/caldav"), 0, "propfind-base-url-caldav.xml")
        assert urlsplit(location).path != "/.well-known/caldav", "expected a redirect (RFC 6764 §5)"
        entries = parse_multistatus(location, response, r.transcript)
        self_entries = [e for e in entries if e.relation == "SELF"]
        assert self_entries, r.transcript()
        principal = urljoin(location, self_entries[0].hrefs_of(DAV + "current-user-principal")[0])
        assert urlsplit(principal).path == "/dav/principals/alice/"
        assert "calendar-access" in dav.options(principal)
        # What DAVx5 sends to /.well-known/caldav when the typed URL gave no principal.
        assert find_principal(dav, r.url("/.well-known/caldav")) == principal
        for entry in dav.propfind(r.url("/.well-known/caldav"), 0, "propfind-current-user-principal.xml"):
            assert urljoin(entry.requested, entry.hrefs_of(DAV + "current-user-principal")[0]) == principal


# --- collections -------------------------------------------------------------------------------


def test_home_listing_with_calendars_task_list_and_journal(module_gateway):
    """Several calendars made by DAVx5 itself (each component choice of its dialog), colours
    with and without alpha, read back the way Collection.fromDavResponse reads them."""
    with davx5(module_gateway) as r:
        account = set_up_account(r)
        assert account.home_may_bind, "DAVx5 offers 'create calendar' only where DAV:bind is granted"
        made = {
            "Work": create_calendar(account, "Work", "#FF8C00"),
            "Family": create_calendar(account, "Family", "#3CB371", ["VEVENT"]),
            "Errands": create_calendar(account, "Errands", "#1E90FF", ["VTODO"]),
            "Diary": create_calendar(account, "Diary", "#9370DB", ["VJOURNAL"]),
        }
        # Apple clients write #RRGGBBAA and calendar-order; DAVx5 reads the alpha form and
        # ignores the order (it sorts by display name, db/CollectionDao.kt).
        patch = (
            '<?xml version="1.0" encoding="UTF-8"?><A:propertyupdate xmlns:A="DAV:"><A:set><A:prop>'
            '<B:calendar-color xmlns:B="http://apple.com/ns/ical/">#FF2968CC</B:calendar-color>'
            '<B:calendar-order xmlns:B="http://apple.com/ns/ical/">3</B:calendar-order>'
            "</A:prop></A:set></A:propertyupdate>"
        )
        patched = other_client_request(module_gateway, "alice", "PROPPATCH", made["Family"], patch, {"Content-Type": "application/xml"})
        assert patched.status_code == 207, patched.text

        collections = refresh_collections(account)
        by_name = {c["displayname"]: c for c in collections.values()}
        for name, url in made.items():
            assert url in collections, f"{name} not listed under its own URL\n{r.transcript()}"
        assert by_name["Work"]["color"] == 0xFFFF8C00
        assert by_name["Work"]["description"] == "made by DAVx5"
        assert by_name["Family"]["color"] == 0xCCFF2968, "the alpha of #RRGGBBAA"
        assert by_name["Work"]["components"] == {"VEVENT": True, "VTODO": True, "VJOURNAL": True}
        assert by_name["Family"]["components"] == {"VEVENT": True, "VTODO": False, "VJOURNAL": False}
        assert by_name["Errands"]["components"] == {"VEVENT": False, "VTODO": True, "VJOURNAL": False}
        assert by_name["Diary"]["components"] == {"VEVENT": False, "VTODO": False, "VJOURNAL": True}
        for collection in collections.values():
            assert not collection["read_only"], f"{collection['url']} would be read-only in DAVx5"
            assert collection["type"] == "CALENDAR"
        # The schedule inbox and outbox are listed in the home but are no calendars: DAVx5
        # must not offer them for sync.
        assert not any(urlsplit(u).path.rstrip("/").endswith(("/inbox", "/outbox")) for u in collections)

        # What each app gets (CollectionDao getSyncCalendars / getSyncTaskLists /
        # getSyncJtxCollections, all ordered by display name).
        calendars = sorted(c["displayname"] for c in collections.values() if c["components"]["VEVENT"])
        task_lists = sorted(c["displayname"] for c in collections.values() if c["components"]["VTODO"])
        jtx = sorted(c["displayname"] for c in collections.values() if c["components"]["VTODO"] or c["components"]["VJOURNAL"])
        assert {"Work", "Family"} <= set(calendars) and "Errands" not in calendars
        assert {"Work", "Errands"} <= set(task_lists) and "Diary" not in task_lists
        assert {"Work", "Errands", "Diary"} <= set(jtx) and "Family" not in jtx


def test_create_rename_and_delete_a_calendar(module_gateway):
    """DAVx5 creates with MKCALENDAR and deletes with a plain DELETE; it has no rename (no
    PROPPATCH anywhere in davx5-ose), so a rename made elsewhere must show at its next refresh."""
    with davx5(module_gateway) as r:
        account = set_up_account(r)
        url = create_calendar(account, "Trips", "#DC143C")
        assert refresh_collections(account)[url]["displayname"] == "Trips"

        rename = (
            '<?xml version="1.0" encoding="utf-8"?><propertyupdate xmlns="DAV:"><set><prop>'
            "<displayname>Journeys</displayname></prop></set></propertyupdate>"
        )
        renamed = other_client_request(module_gateway, "alice", "PROPPATCH", url, rename, {"Content-Type": "application/xml"})
        assert renamed.status_code == 207
        assert refresh_collections(account)[url]["displayname"] == "Journeys"

        # With a time zone picked in the dialog: calendar-timezone-id and calendar-timezone.
        zoned = account.home_sets[0] + f"{uuid.uuid4()}/"
        made = account.dav.mkcalendar(zoned, "mkcalendar-timezone.xml", displayname="Vienna office", color="#008080")
        assert made.status_code == 201, r.transcript()
        listed = refresh_collections(account)[zoned]
        assert listed["timezone_id"] == "Europe/Vienna" and listed["color"] == 0xFF008080, listed

        # The same name again: 405 (RFC 4791 §5.3.1.1), which DAVx5 shows as an error.
        again = account.dav.mkcalendar(url, "mkcalendar.xml", displayname="Trips", color="#DC143C", description="x")
        assert again.status_code == 405, r.transcript()

        deleted = account.dav.delete(url)
        assert 200 <= deleted.status_code < 300 and deleted.status_code != 207, r.transcript()
        r.created.remove(urlsplit(url).path)
        assert url not in refresh_collections(account)
        # DavCollectionRepository.deleteRemote: 404/410 means it is gone already, also fine.
        assert account.dav.delete(url).status_code in (404, 410)


# --- events ------------------------------------------------------------------------------------


def test_event_sync_with_the_default_time_range(module_gateway):
    """Default settings (events of the last 90 days): ctag/sync-token, calendar-query with a
    time range and multiget; create, change and delete with If-None-Match / If-Match."""
    with davx5(module_gateway) as r:
        account = set_up_account(r)
        events = synced_collection(account, "Events", "#FF8C00")
        url = events.url
        assert events.sync() is False, "unchanged sync state: DAVx5 does not list again"

        # A new event on the phone: PUT with If-None-Match: *.
        uid, name = object_name()
        start, end = event_times(2)
        body = r.body("event.ics", uid=uid, dtstamp=now_stamp(), summary="Dentist", start=start, end=end)
        created = events.upload_new(name, body)
        assert created.status_code == 201
        assert created.headers.get("ETag"), "without an ETag DAVx5 downloads its own upload again"
        assert events.sync(uploaded=True)
        assert events.downloaded == [], f"the listed ETag must equal the PUT's ETag\n{r.transcript()}"
        assert list(events.local) == [name]

        # The same UID under another name is refused (RFC 4791 §5.3.2.1 no-uid-conflict).
        _, other_name = object_name()
        conflict = account.dav.put(url + other_name, body, if_none_match=True)
        assert conflict.status_code in (403, 409), r.transcript()
        # If-None-Match: * on an existing name is 412: DAVx5 leaves it for the next sync.
        assert account.dav.put(url + name, body, if_none_match=True).status_code == 412

        # Changed elsewhere: next sync sees a new state, lists, downloads only that event.
        changed = r.body("event-changed.ics", uid=uid, dtstamp=now_stamp(), summary="Dentist (moved)",
                         location="Main street 1", start=start, end=end, sequence="1")
        other_client_put(module_gateway, "alice", url + name, changed)
        assert events.sync()
        assert events.downloaded == [name], r.transcript()
        assert "Dentist (moved)" in events.local[name][2]

        # Changed on the phone: If-Match with the ETag from the multiget.
        stale = events.local[name][0]
        mine = r.body("event-changed.ics", uid=uid, dtstamp=now_stamp(), summary="Dentist, bring card",
                      location="Main street 1", start=start, end=end, sequence="2")
        updated = events.upload_change(name, mine)
        assert updated.status_code in (200, 204), r.transcript()
        assert events.local[name][0] != stale
        # A stale ETag is 412: DAVx5 ignores it and downloads the server's version.
        assert account.dav.put(url + name, mine, if_match=stale).status_code == 412
        assert events.sync(uploaded=True)
        assert events.downloaded == []

        # Past events: older than 90 days are not listed, a series reaching into the range is.
        old_uid, old_name = object_name()
        old_start, old_end = event_times(-200)
        other_client_put(module_gateway, "alice", url + old_name,
                         r.body("event.ics", uid=old_uid, dtstamp=now_stamp(), summary="Long ago", start=old_start, end=old_end))
        series_uid, series_name = object_name()
        series_start, series_end = event_times(-203)
        ex_start, ex_end = event_times(-203 + 7 * 40)
        other_client_put(module_gateway, "alice", url + series_name, r.body(
            "event-recurring.ics", uid=series_uid, dtstamp=now_stamp(), summary="Weekly", start=series_start,
            end=series_end, count="52", sequence="0", exception_of=ex_start, exception_summary="Weekly (later)",
            exception_start=ex_start, exception_end=ex_end))
        assert events.sync()
        assert sorted(events.local) == sorted([name, series_name]), r.transcript()

        # Deleted on the phone: DELETE with If-Match; the next listing no longer has it.
        deleted = events.delete(name)
        assert 200 <= deleted.status_code < 300 and deleted.status_code != 207, r.transcript()
        assert events.sync(uploaded=True)
        assert name not in events.local and events.removed == []


def test_event_sync_with_collection_sync(module_gateway):
    """'Sync all past events' (no time range): sync-collection, initial then incremental, with
    removals as 404 members and a bad token answered with DAV:valid-sync-token."""
    with davx5(module_gateway) as r:
        account = set_up_account(r)
        events = synced_collection(account, "All events", "#20B2AA", past_days=None)
        url = events.url
        assert events.has_collection_sync, "supported-report-set without sync-collection: DAVx5 would fall back"
        assert events.algorithm() == "COLLECTION_SYNC"
        first_token = account.sync_state[url]

        names = []
        for day in (3, 4, 5):
            uid, name = object_name()
            start, end = event_times(day)
            other_client_put(module_gateway, "alice", url + name,
                             r.body("event.ics", uid=uid, dtstamp=now_stamp(), summary=f"Day {day}", start=start, end=end))
            names.append(name)
        assert events.sync()
        assert sorted(events.downloaded) == sorted(names), r.transcript()
        assert account.sync_state[url] != first_token

        # Uploaded from the phone, then deleted elsewhere: a 404 member in the next report.
        uid, mine = object_name()
        start, end = event_times(6)
        events.upload_new(mine, r.body("event.ics", uid=uid, dtstamp=now_stamp(), summary="Mine", start=start, end=end))
        assert events.sync(uploaded=True)
        assert events.downloaded == [], f"the reported ETag must equal the PUT's ETag\n{r.transcript()}"
        gone = other_client_request(module_gateway, "alice", "DELETE", url + names[0])
        assert gone.status_code == 204
        assert events.sync()
        assert events.removed == [names[0]], r.transcript()
        assert events.sync() is False

        # An unknown token: DAVx5 looks for <DAV:valid-sync-token/> in the error body and then
        # starts over with an initial sync.
        _, response = account.dav.report(url, "sync-collection.xml", depth=0, token="http://example.invalid/sync/1")
        assert response.status_code in (403, 409), r.transcript()
        # HttpResponseInfo parses the <error> only from a body typed as XML.
        assert "xml" in response.headers.get("Content-Type", ""), response.headers
        error = ET.fromstring(response.content)
        assert error.tag == DAV + "error" and error.find(DAV + "valid-sync-token") is not None, response.text


def test_collection_sync_paged_by_the_server(start_dedicated_gateway):
    """DAVx5 sends no limit, but a server may page a large answer itself (RFC 6578 §3.6): the
    collection's own response 507 and a sync-token to go on from. DAVx5 asks again until the
    collection is no longer 507, then downloads in multiget batches of 10."""
    gateway = start_dedicated_gateway(GATEWAY__LIMITS__MAX_SYNC_RESULTS="4")
    with davx5(gateway) as r:
        account = set_up_account(r)
        events = synced_collection(account, "Busy", "#FF4500", past_days=None)
        names = []
        for day in range(1, 14):
            uid, name = object_name()
            start, end = event_times(day)
            other_client_put(gateway, "alice", events.url + name,
                             r.body("event.ics", uid=uid, dtstamp=now_stamp(), summary=f"Day {day}", start=start, end=end))
            names.append(name)
        assert events.sync()
        assert sorted(events.local) == sorted(names), r.transcript()
        reports = [e for e in r.exchanges if e.startswith("> REPORT") and "<sync-collection" in e]
        assert len(reports) >= 4, "13 changes in pages of 4 take four sync-collection requests"
        multigets = [e for e in r.exchanges if "<CAL:calendar-multiget" in e]
        assert all(e.count("<href>") <= BATCH for e in multigets)
        assert events.sync() is False

def test_recurring_event_with_one_changed_instance(module_gateway):
    """A weekly series with one moved instance: master and exception in one resource, one UID."""
    with davx5(module_gateway) as r:
        account = set_up_account(r)
        events = synced_collection(account, "Series", "#6A5ACD")
        uid, name = object_name()
        start, end = event_times(1)
        moved_of, _ = event_times(15)
        moved_start, moved_end = event_times(16)
        body = r.body("event-recurring.ics", uid=uid, dtstamp=now_stamp(), summary="Team sync", start=start, end=end,
                      count="8", sequence="0", exception_of=moved_of, exception_summary="Team sync (moved)",
                      exception_start=moved_start, exception_end=moved_end)
        assert events.upload_new(name, body).status_code == 201
        events.local.clear()
        assert events.sync(uploaded=True)
        assert events.downloaded == [name]
        calendar = icalendar.Calendar.from_ical(events.local[name][2])
        vevents = [c for c in calendar.walk("VEVENT")]
        assert len(vevents) == 2, r.transcript()
        exception = [e for e in vevents if e.get("RECURRENCE-ID") is not None]
        assert len(exception) == 1 and str(exception[0]["SUMMARY"]) == "Team sync (moved)"
        assert exception[0]["RECURRENCE-ID"].dt.strftime("%Y%m%dT%H%M%S") == moved_of


# --- tasks and journals ------------------------------------------------------------------------


def test_task_with_due_date_and_completion(module_gateway):
    """OpenTasks through TasksSyncManager: ctag/sync-token, calendar-query VTODO without a time
    range, a task with DUE, then completed (STATUS, COMPLETED, PERCENT-COMPLETE) with If-Match."""
    with davx5(module_gateway) as r:
        account = set_up_account(r)
        tasks = synced_collection(account, "Chores", "#228B22", ["VTODO"], kind="tasks")
        uid, name = object_name()
        due, _ = event_times(3)
        assert tasks.upload_new(name, r.body("task.ics", uid=uid, dtstamp=now_stamp(), summary="Buy paint", due=due)).status_code == 201
        assert tasks.sync(uploaded=True)
        assert list(tasks.local) == [name] and tasks.downloaded == []

        done = r.body("task-completed.ics", uid=uid, dtstamp=now_stamp(), summary="Buy paint", due=due, completed=now_stamp())
        assert tasks.upload_change(name, done).status_code in (200, 204), r.transcript()
        tasks.local[name] = ("forgotten", None, "")  # as after "re-synchronize": download again
        assert tasks.sync(uploaded=True)
        todo = icalendar.Calendar.from_ical(tasks.local[name][2]).walk("VTODO")[0]
        assert str(todo["STATUS"]) == "COMPLETED" and int(todo["PERCENT-COMPLETE"]) == 100
        assert todo.get("COMPLETED") is not None and todo["DUE"].dt.strftime("%Y%m%dT%H%M%S") == due

        # An event calendar synced as task list lists no events (the VTODO filter).
        events_only = create_calendar(account, "Events only", "#B22222", ["VEVENT"])
        refresh_collections(account)
        e_uid, e_name = object_name()
        start, end = event_times(1)
        other_client_put(module_gateway, "alice", events_only + e_name,
                         r.body("event.ics", uid=e_uid, dtstamp=now_stamp(), summary="Not a task", start=start, end=end))
        assert [e.name() for e in Syncer(account, events_only, kind="tasks").list_all()] == []


def test_journal_and_task_with_jtx_board(module_gateway):
    """jtx Board through JtxSyncManager: calendar-query for VTODO and for VJOURNAL, each only
    when the collection supports it, then multiget."""
    with davx5(module_gateway) as r:
        account = set_up_account(r)
        jtx = synced_collection(account, "Notes", "#8B4513", ["VJOURNAL", "VTODO"], kind="jtx")
        diary = jtx.url
        j_uid, j_name = object_name()
        today = datetime.date.today().strftime("%Y%m%d")
        journal = r.body("journal.ics", uid=j_uid, dtstamp=now_stamp(), summary="Standup notes",
                         description="Paint bought", date=today)
        assert jtx.upload_new(j_name, journal).status_code == 201
        t_uid, t_name = object_name()
        due, _ = event_times(2)
        other_client_put(module_gateway, "alice", diary + t_name,
                         r.body("task.ics", uid=t_uid, dtstamp=now_stamp(), summary="Call plumber", due=due))
        assert jtx.sync(uploaded=True)
        assert sorted(jtx.local) == sorted([j_name, t_name]) and jtx.downloaded == [t_name], r.transcript()
        entry = icalendar.Calendar.from_ical(jtx.local[t_name][2])
        assert [c.name for c in entry.subcomponents if c.name != "VTIMEZONE"] == ["VTODO"]


# --- scheduling --------------------------------------------------------------------------------


@pytest.mark.skipif(not DIRECTORY, reason="JMAP without service account schedules through iMIP mail")
def test_meeting_through_the_servers_implicit_scheduling(module_gateway):
    """DAVx5 has no scheduling of its own: the organizer's phone just uploads an event with
    ATTENDEEs, the attendee's phone finds the invitation in a synced calendar, answers by
    uploading with If-Schedule-Tag-Match (it has a Schedule-Tag), and the organizer's next sync
    shows the answer."""
    with davx5(module_gateway, "bob") as bob_replay, davx5(module_gateway, "alice") as alice_replay:
        bob = set_up_account(bob_replay)
        alice = set_up_account(alice_replay)
        organizer = synced_collection(bob, "Bob's meetings", "#4682B4")
        uid, name = object_name()
        start, end = event_times(4)
        invite = dict(uid=uid, summary="Planning", start=start, end=end, sequence="0", organizer="bob@example.com",
                      organizer_name="Bob", attendee="alice@example.com", attendee_name="Alice")
        created = organizer.upload_new(name, bob_replay.body("event-meeting.ics", dtstamp=now_stamp(), partstat="NEEDS-ACTION", **invite))
        assert created.status_code == 201 and created.headers.get("Schedule-Tag"), bob_replay.transcript()
        # A scheduling server may store other bytes than were sent; then the PUT carries no
        # ETag (RFC 4791 §5.3.4) and DAVx5's next sync downloads the server's version.
        assert organizer.sync(uploaded=True)
        assert created.headers.get("ETag") or organizer.downloaded == [name], bob_replay.transcript()

        # Alice's phone syncs every calendar that takes events; the invitation is in one.
        found = None
        for url, collection in alice.collections.items():
            if collection["components"]["VEVENT"]:
                syncer = Syncer(alice, url)
                syncer.sync()
                for file_name, (_, _, data) in syncer.local.items():
                    if uid in data:
                        found = (syncer, file_name)
        assert found, alice_replay.transcript()
        syncer, file_name = found
        etag, schedule_tag, data = syncer.local[file_name]
        assert schedule_tag, "multiget must give the schedule-tag of a scheduling object (RFC 6638 §3.2.10)"
        attendee = [a for a in icalendar.Calendar.from_ical(data).walk("VEVENT")[0].get("ATTENDEE")
                    if "alice" in str(a)][0]
        assert attendee.params.get("PARTSTAT") == "NEEDS-ACTION"

        accepted = alice_replay.body("event-meeting.ics", dtstamp=now_stamp(), partstat="ACCEPTED", **invite)
        answered = syncer.upload_change(file_name, accepted)
        assert answered.status_code in (200, 204), alice_replay.transcript()
        sent = answered.request.headers
        assert sent.get("If-Schedule-Tag-Match") == quoted(schedule_tag) and "If-Match" not in sent

        assert organizer.sync()
        assert organizer.downloaded == [name], bob_replay.transcript()
        copy = icalendar.Calendar.from_ical(organizer.local[name][2]).walk("VEVENT")[0]
        partstats = {str(a): a.params.get("PARTSTAT") for a in copy.get("ATTENDEE")}
        assert partstats.get("mailto:alice@example.com") == "ACCEPTED", partstats

        # Alice deletes the meeting on her phone: DELETE with If-Schedule-Tag-Match (the tag
        # of her PUT's answer), which the server turns into a decline.
        _, alice_schedule_tag, _ = syncer.local[file_name]
        assert alice_schedule_tag, "the attendee's PUT must answer with a Schedule-Tag header"
        removed = syncer.delete(file_name)
        assert 200 <= removed.status_code < 300 and removed.status_code != 207, alice_replay.transcript()
        assert removed.request.headers.get("If-Schedule-Tag-Match") == quoted(alice_schedule_tag)
        assert organizer.sync()
        copy = icalendar.Calendar.from_ical(organizer.local[name][2]).walk("VEVENT")[0]
        partstats = {str(a): a.params.get("PARTSTAT") for a in copy.get("ATTENDEE")}
        assert partstats.get("mailto:alice@example.com") == "DECLINED", partstats
