"""Apple Calendar and Reminders (iOS dataaccessd, macOS CalendarAgent) replayed against the
gateway with their own bodies, headers and User-Agent.

Apple's clients are closed source; what they send is known from Apple's CalendarServer load
tester, which replays requests recorded from them (apple/ccs-calendarserver@13c706b9,
contrib/performance/loadtest/: `request-data/iOS_5`, `request-data/OS_X_10_11`, the newest
versions there, sequenced by `ical.py` classes `iOS_5` and `OS_X_10_11`, objects written by
`profiles.py`). Where each fixture comes from: clients/apple/SOURCES.md. Facts and what each
answer must hold for the client: docs/clients/apple.md.

`AppleClient` below follows `ical.py` step by step (its function names are given), and reads
each answer as `ical.py` does: responses are looked up by the exact href the client holds
(`result[location]`, `result[self.principalURL]`, `results[calendarHomeSet]`), a calendar is a
response whose `resourcetype` holds `calendar` or `schedule-inbox`, its change tag is
`getctag` (iOS 5, no sync REPORT) or `sync-token` (OS X 10.11), and an object changed when its
`getetag` differs from the one kept.

Users alice, bob (conftest.USERS); the module has its own gateway (`module_gateway`).
"""

import base64
import datetime
import os
import re
import socket
import ssl
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import icalendar
import pytest

from client_replay import DAV, FIXTURES, Replay, multistatus, prop, prop_hrefs, prop_text
from conftest import DIRECTORY

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CS = "{http://calendarserver.org/ns/}"
ICAL = "{http://apple.com/ns/ical/}"

# ical.py: iOS_5.USER_AGENT, and OS_X_10_11.USER_AGENT without the word "Simulator" that ends
# the load tester's constant (a real CalendarAgent's token list ends with CalendarAgent/<build>).
USER_AGENTS = {
    "ios5": "iOS/5.1 (9B179) dataaccessd/1.0",
    "osx": "Mac+OS+X/10.11 (15A283) CalendarAgent/361",
}
# Later macOS versions are known from public server logs, which show headers but not bodies:
# 10.13.6 (Kozea/Radicale issue #1129) and 10.15.5 (etesync/etesync-dav issue #138) send
# `Brief: t` and `Prefer: return=minimal` with PROPFIND; macOS 13.2.1 calls itself dataaccessd
# like iOS and, like every Apple client, tries without credentials first (Radicale issue #1288).
LATER_MACOS = {
    "10.15.5": ("Mac+OS+X/10.15.5 (19F101) CalendarAgent/930.5.1",
                {"Brief": "t", "Prefer": "return=minimal", "Accept-Encoding": "gzip, deflate, br",
                 "Accept-Language": "de-at"}),
    "13.2.1": ("macOS/13.2.1 (22D68) dataaccessd/1.0", {}),
}
# ical.py iOS_5._addDefaultHeaders and OS_X_10_11._addDefaultHeaders: the same four headers.
DEFAULT_HEADERS = {"Accept": "*/*", "Accept-Language": "en-us", "Accept-Encoding": "gzip,deflate",
                   "Connection": "keep-alive"}
# ical.py _propfind/_proppatch/_report: every XML body goes as text/xml.
XML = "text/xml"
# ical.py iOS_5._updateCalendar_VEVENT: events from one month back.
ONE_MONTH = datetime.timedelta(days=31)
# A FREEBUSY property line in a VFREEBUSY reply (calendar-data may be folded, CRLF or LF).
BUSY = re.compile(r"^FREEBUSY[;:]", re.MULTILINE)


def utc(moment):
    return moment.strftime("%Y%m%dT%H%M%SZ")


class AppleClient:
    """One Apple client of one user, with the state `ical.py` keeps: principal, home, the
    calendars by href with their change tag, and every object by href with its ETag."""

    def __init__(self, gateway, profile, user, user_agent=None, propfind_headers=None):
        self.profile = profile
        self.user = user
        self.propfind_headers = propfind_headers or {}
        # iOS_5/Profile: each new path is tried without credentials first ("unauthorized").
        self.replay = Replay(gateway, client="apple", user=user, user_agent=user_agent or USER_AGENTS[profile],
                             preemptive=False, challenge_per_path=True)
        self.calendars = {}
        self.events = {}
        # ical.py BaseAppleClient: OS X 10.11 has _SYNC_REPORT, confirmed at the first poll
        # from the home's supported-report-set (_pollFirstTime1); iOS 5 has none.
        self.support_sync = profile == "osx"
        self.first_poll = True
        self.first_update = False

    def close(self):
        self.replay.close()

    def fail(self, message):
        return f"{message}\n{self.replay.transcript()}"

    def send(self, method, path, body=None, headers=None, expect=(200,)):
        sent = dict(DEFAULT_HEADERS)
        sent.update(headers or {})
        response = self.replay.request(method, path, body=body, headers=sent)
        assert response.status_code in expect, self.fail(f"{method} {path}: {response.status_code}, expected {expect}")
        return response

    def fixture(self, fixture_name, **slots):
        return self.replay.body(fixture_name, **slots)

    def propfind(self, path, fixture, depth, expect=(207,)):
        headers = {"Content-Type": XML, "Depth": depth, **self.propfind_headers}
        return self.send("PROPFIND", path, self.fixture(fixture), headers, expect)

    def report(self, path, body, depth, expect=(207,)):
        headers = {"Content-Type": XML}
        if depth is not None:
            headers["Depth"] = depth
        return self.send("REPORT", path, body, headers, expect)

    def proppatch(self, path, body):
        # ical.py _proppatch accepts 200 and 207; the propstat is what says whether it was set.
        return self.send("PROPPATCH", path, body, {"Content-Type": XML}, expect=(200, 207))

    # -- discovery (ical.py _startupPropfindWellKnown, _extractPrincipalDetails) --

    def find_principal(self, start):
        """PROPFIND Depth 0 of `start`; a 301/302 is followed once to the path of Location.
        The principal is current-user-principal, else principal-URL of the response whose
        href is that path."""
        body = f"{self.profile}-well-known-propfind.xml"
        response = self.propfind(start, body, "0", expect=(207, 301, 302))
        location = start
        if response.status_code in (301, 302):
            location = urlsplit(response.headers["Location"]).path
            response = self.propfind(location, body, "0")
        ms = multistatus(response)
        assert location in ms, self.fail(f"no response for {location}, the href ical.py looks up")
        found = prop_hrefs(ms, location, DAV + "current-user-principal") or prop_hrefs(ms, location, DAV + "principal-URL")
        assert found, self.fail("neither current-user-principal nor principal-URL")
        self.principal = found[0]
        return self.principal

    def read_principal(self):
        ms = multistatus(self.propfind(self.principal, f"{self.profile}-principal-propfind.xml", "0"))
        assert self.principal in ms, self.fail("principal answered under another href")

        def one(name):
            values = prop_hrefs(ms, self.principal, name)
            # ical.py: hrefs[...] of a missing property is a KeyError that ends the start-up.
            assert values, self.fail(f"principal without {name}")
            return values[0]

        home = one(CALDAV + "calendar-home-set")
        self.home = home if home.endswith("/") else home + "/"
        self.outbox = one(CALDAV + "schedule-outbox-URL")
        self.inbox = one(CALDAV + "schedule-inbox-URL")
        self.principal_collection = one(DAV + "principal-collection-set")
        addresses = prop_hrefs(ms, self.principal, CALDAV + "calendar-user-address-set")
        mailto = [a for a in addresses if a.startswith("mailto:")]
        # ical.py: "Cannot operate without a mail-style principal URL".
        assert mailto, self.fail(f"no mailto: in calendar-user-address-set {addresses}")
        self.email = mailto[0]
        # ical.py _principalSearchPropertySetReport: Depth 0, and only 200 is accepted.
        self.report(self.principal_collection, self.fixture(f"{self.profile}-principal-search-property-set.xml"), "0",
                    expect=(200,))
        return ms

    def start(self, entry="/.well-known/caldav/"):
        self.find_principal(entry)
        # iOS_5/Profile and OS_X_10_11/Profile: OPTIONS of the principal after finding it.
        options = self.send("OPTIONS", self.principal)
        self.dav_header = options.headers.get("DAV", "")
        assert "calendar-access" in self.dav_header, self.fail("OPTIONS without calendar-access")
        self.read_principal()
        return self

    # -- the poll (ical.py _poll, _calendarHomePropfind, _extractCalendars) --

    def home_listing(self):
        ms = multistatus(self.propfind(self.home, f"{self.profile}-home-propfind.xml", "1"))
        assert self.home in ms, self.fail("the home answered under another href")
        change_tag = DAV + "sync-token" if self.support_sync else CS + "getctag"
        calendars = {}
        for href, props in ms.items():
            if props.status == 404:
                continue
            resourcetype = prop(ms, href, DAV + "resourcetype")
            assert resourcetype is not None, self.fail(f"{href} without resourcetype")
            kinds = {child.tag for child in resourcetype}
            if not kinds & {CALDAV + "calendar", CALDAV + "schedule-inbox"}:
                continue
            components = prop(ms, href, CALDAV + "supported-calendar-component-set")
            calendars[href] = {
                "inbox": CALDAV + "schedule-inbox" in kinds,
                "components": {c.get("name").upper() for c in components} if components is not None else set(),
                "name": prop_text(ms, href, DAV + "displayname") or href.rstrip("/").rsplit("/", 1)[-1],
                "tag": change_tag,
                "token": prop_text(ms, href, change_tag),
                "color": prop_text(ms, href, ICAL + "calendar-color"),
                "order": prop_text(ms, href, ICAL + "calendar-order"),
                "privileges": {granted.tag for privilege in prop(ms, href, DAV + "current-user-privilege-set") or []
                               for granted in privilege},
            }
        return ms, calendars

    def poll(self):
        """One poll: the home, then each calendar whose change tag moved (or is new)."""
        ms, listed = self.home_listing()
        if self.first_poll and self.profile == "osx":
            # ical.py _pollFirstTime1: sync-collection only when the home lists it.
            reports = prop(ms, self.home, DAV + "supported-report-set")
            self.support_sync = reports is not None and reports.find(
                f"{DAV}supported-report/{DAV}report/{DAV}sync-collection") is not None
        self.first_update = self.first_poll
        self.first_poll = False
        changed = []
        for href, calendar in listed.items():
            known = self.calendars.get(href)
            if known is None or known["token"] != calendar["token"]:
                calendar["synced"] = known.get("synced") if known else None
                self.calendars[href] = calendar
                self.update_calendar(href)
                changed.append(href)
            else:
                known.update({k: v for k, v in calendar.items() if k != "synced"})
        for href in [h for h in self.calendars if h not in listed]:
            del self.calendars[href]
            for event in [e for e in self.events if e.startswith(href)]:
                del self.events[event]
        return changed

    def update_calendar(self, href):
        calendar = self.calendars[href]
        old = {e for e in self.events if e.rsplit("/", 1)[0] + "/" == href}
        # iOS_5/Profile and OS_X_10_11/StartupProfile: the calendar's own getctag and
        # sync-token (Depth 0) before its members; they must agree with the home listing.
        own = multistatus(self.propfind(href, f"{self.profile}-calendar-ctag-propfind.xml", "0"))
        assert prop_text(own, href, calendar["tag"]) == calendar["token"], self.fail(
            f"{href}: its {calendar['tag']} differs from the home's")
        if self.profile == "osx" and self.first_update and "VEVENT" in calendar["components"]:
            # OS_X_10_11/StartupProfile: a time-range query of the events around today first.
            today = datetime.datetime.now(datetime.timezone.utc)
            window = self.fixture("osx-startup-events-query.xml", start=utc(today - datetime.timedelta(days=14)),
                                  end=utc(today + datetime.timedelta(days=7)))
            multistatus(self.report(href, window, "1"))
        if self.profile == "ios5" and calendar["inbox"]:
            listing = multistatus(self.propfind(href, "ios5-calendar-etags-propfind.xml", "1"))
        elif self.profile == "ios5" and "VEVENT" in calendar["components"]:
            since = (datetime.datetime.now(datetime.timezone.utc) - ONE_MONTH).strftime("%Y%m%d")
            listing = multistatus(self.report(href, self.fixture("ios5-vevent-time-range-query.xml", start_date=since), "1"))
        elif self.profile == "ios5" and "VTODO" in calendar["components"]:
            listing = multistatus(self.report(href, self.fixture("ios5-vtodo-query.xml"), "1"))
        elif self.profile == "ios5":
            return
        elif self.support_sync:
            self.sync_collection(href, old)
            return
        else:
            listing = multistatus(self.propfind(href, "osx-calendar-etags-propfind.xml", "1"))
        self.apply_listing(href, listing, old)

    def apply_listing(self, href, listing, old):
        """ical.py _updateApplyChanges: members whose ETag differs are fetched, the ones not
        listed any more are dropped."""
        members, changed = set(), []
        for member, props in listing.items():
            if member == href:
                continue
            members.add(member)
            etag = prop_text(listing, member, DAV + "getetag")
            if etag is None:
                continue
            if self.events.get(member, {}).get("etag") != etag:
                changed.append(member)
        self.multiget(href, changed)
        for gone in old - members:
            del self.events[gone]

    def sync_collection(self, href, old):
        """ical.py _updateCalendar_SYNC with the OS_X_10_7 body OS X 10.11 loads: Depth 1, no
        sync-level; an empty token on the first sync."""
        calendar = self.calendars[href]
        token = calendar["synced"] or ""
        ms = multistatus(self.report(href, self.fixture("osx-sync-collection.xml", sync_token=token), "1"))
        assert ms.sync_token, self.fail("sync-collection without a sync-token")
        changed, seen = [], set()
        for member, props in ms.items():
            if member == href:
                continue
            if props.status == 404:
                self.events.pop(member, None)
                continue
            etag = prop_text(ms, member, DAV + "getetag")
            assert etag, self.fail(f"{member} listed without getetag")
            seen.add(member)
            if self.events.get(member, {}).get("etag") != etag:
                changed.append(member)
        self.multiget(href, changed)
        if not token:
            for gone in old - seen:
                del self.events[gone]
        calendar["synced"] = ms.sync_token

    def multiget(self, href, members):
        """ical.py _updateChangedEvents/_eventReport: one REPORT without Depth, each href as
        the recorded `<A:href xmlns:A="DAV:">...</A:href>` line."""
        if not members:
            return
        lines = "\n".join(f'  <A:href xmlns:A="DAV:">{m}</A:href>' for m in sorted(members))
        ms = multistatus(self.report(href, self.fixture(f"{self.profile}-multiget.xml", hrefs=lines), None))
        for member in members:
            assert member in ms, self.fail(f"multiget did not answer {member} under the href asked for")
            etag = prop_text(ms, member, DAV + "getetag")
            data = prop_text(ms, member, CALDAV + "calendar-data")
            assert etag and data, self.fail(f"{member}: no getetag or calendar-data")
            self.events[member] = {"etag": etag, "schedule_tag": prop_text(ms, member, CALDAV + "schedule-tag"),
                                   "data": data}

    # -- writes (ical.py addEvent, changeEvent, deleteEvent, updateEvent, changeEventAttendee) --

    def put_new(self, href, body, if_none_match=False):
        headers = {"Content-Type": "text/calendar"}
        if if_none_match:
            headers["If-None-Match"] = "*"
        response = self.send("PUT", href, body, headers, expect=(201,))
        self.remember_write(href, body, response)
        return response

    def put_change(self, href, body):
        headers = {"Content-Type": "text/calendar", "If-Match": self.events[href]["etag"]}
        response = self.send("PUT", href, body, headers, expect=(204,))
        self.remember_write(href, body, response)
        return response

    def remember_write(self, href, body, response):
        etag = response.headers.get("ETag")
        if etag is None:
            # ical.py: "re-retrieve the event to update the etag" (updateEvent), which reads
            # the ETag header of the GET without a fallback.
            got = self.send("GET", href)
            assert got.headers.get("ETag"), self.fail("GET of an object without ETag")
            self.events[href] = {"etag": got.headers["ETag"], "schedule_tag": got.headers.get("Schedule-Tag"),
                                 "data": got.text}
        else:
            self.events[href] = {"etag": etag, "schedule_tag": response.headers.get("Schedule-Tag"),
                                 "data": body.decode("utf-8") if isinstance(body, bytes) else body}

    def delete(self, href):
        # ical.py deleteEvent: no If-Match; 204, or 404 when it is gone already.
        self.events.pop(href, None)
        return self.send("DELETE", href, expect=(204, 404))


@pytest.fixture
def apple(module_gateway):
    started = []

    def start(profile, user="alice", entry="/.well-known/caldav/", **options):
        client = AppleClient(module_gateway, profile, user, **options)
        started.append(client)
        return client.start(entry)

    yield start
    for client in started:
        client.close()


def new_uid():
    # ical.py/profiles.py: str(uuid4()), upper case as Apple's clients write them.
    return str(uuid.uuid4()).upper()


def new_object(calendar):
    """UID and href of a new object: `<calendar>/<UID>.ics` (profiles.py `Eventer._addEvent`)."""
    uid = new_uid()
    return uid, f"{calendar}{uid}.ics"


def event_times(days_ahead, hours=1):
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days_ahead)).replace(
        minute=0, second=0, microsecond=0)
    return start, start + datetime.timedelta(hours=hours)


def now_utc():
    return utc(datetime.datetime.now(datetime.timezone.utc))


def make_calendar(client, name, component, color, order):
    """The MKCALENDAR OS X 10.11 sends (startup_create_calendar.request), at a new UUID name
    in the home as Apple's clients name calendars."""
    href = f"{client.home}{new_uid()}/"
    body = client.fixture("osx-mkcalendar.xml", order=str(order), component_type=component, color=color, display_name=name)
    client.send("MKCALENDAR", href, body, {"Content-Type": XML}, expect=(201,))
    return href


def default_calendar(client):
    """The calendar every account starts with (the gateway's `caldav.default_calendar`)."""
    return next(h for h, c in client.calendars.items() if c["components"] == {"VEVENT"} and c["name"] == "Calendar")


def components(data):
    return list(icalendar.Calendar.from_ical(data).walk())


# -------------------------------------------------------------------------------------------


def test_ios_finds_the_principal_from_the_bare_host(apple):
    """iOS_5/Profile: `PROPFIND /` with the well-known body when the user typed only the host."""
    client = apple("ios5", entry="/")
    assert client.principal == "/dav/principals/alice/", client.fail("principal")
    assert client.home == "/dav/calendars/alice/", client.fail("home")
    assert client.email == "mailto:alice@example.com"
    assert client.inbox == "/dav/calendars/alice/inbox/" and client.outbox == "/dav/calendars/alice/outbox/"


@pytest.mark.parametrize("profile", ["ios5", "osx"])
def test_discovery_from_well_known_follows_the_redirect_and_finds_the_home(apple, profile):
    client = apple(profile)
    assert client.principal == "/dav/principals/alice/", client.fail("principal")
    assert client.home == "/dav/calendars/alice/", client.fail("home")
    # The gateway does implicit scheduling, so Apple's clients leave invitations to it.
    assert "calendar-auto-schedule" in client.dav_header, client.fail("no calendar-auto-schedule in DAV")


@pytest.mark.parametrize("version", sorted(LATER_MACOS))
def test_later_macos_headers_from_the_bare_host_to_the_calendar_list(apple, version):
    """The OS X 10.11 bodies (the later logs show no bodies) with a later macOS's User-Agent
    and PROPFIND headers: `Prefer: return=minimal` may drop the 404 propstats (RFC 8144 §2.1)
    or not, and everything the client reads must still be there."""
    user_agent, headers = LATER_MACOS[version]
    mac = apple("osx", entry="/", user_agent=user_agent, propfind_headers=headers)
    mac.poll()
    calendar = default_calendar(mac)
    assert mac.calendars[calendar]["token"] and mac.calendars[mac.inbox]["inbox"], mac.fail("calendar list")


def test_ios_lists_calendars_and_a_reminders_list_with_colour_and_order(apple):
    """A Mac makes a calendar and a Reminders list (MKCALENDAR with colour and order); the
    iPhone's home PROPFIND lists them with what it shows: name, colour, order, component set
    (a VTODO-only collection is a Reminders list), privileges, and ctag."""
    mac = apple("osx")
    work = make_calendar(mac, "Work", "VEVENT", "1BADF8FF", 2)
    reminders = make_calendar(mac, "Groceries", "VTODO", "63DA38FF", 3)

    phone = apple("ios5")
    phone.poll()
    calendars = phone.calendars
    assert {work, reminders, phone.inbox} <= set(calendars), phone.fail(f"listed {sorted(calendars)}")
    assert calendars[work]["name"] == "Work" and calendars[work]["components"] == {"VEVENT"}
    assert calendars[work]["color"] == "#1BADF8FF" and calendars[work]["order"] == "2"
    assert calendars[reminders]["components"] == {"VTODO"}, phone.fail("Reminders list component set")
    assert calendars[reminders]["color"] == "#63DA38FF" and calendars[reminders]["order"] == "3"
    for href in (work, reminders):
        assert calendars[href]["token"], phone.fail(f"{href} without getctag")
        assert {DAV + "write-content", DAV + "bind", DAV + "unbind"} <= calendars[href]["privileges"], phone.fail(
            f"{href}: iOS shows a calendar without write privileges as read-only")
    assert calendars[phone.inbox]["inbox"]

    # iOS 5 at its first start (iOS_5._pollFirstTime1): its own colour (#RRGGBB, no alpha)
    # and order on every calendar but the inbox; the next listing gives them back as written.
    for href in (work, reminders):
        for fixture in ("ios5-calendar-color-proppatch.xml", "ios5-calendar-order-proppatch.xml"):
            answer = multistatus(phone.proppatch(href, phone.fixture(fixture)))
            assert all(status == 200 for status, _ in answer[href].values()), phone.fail("PROPPATCH refused")
    _, listed = phone.home_listing()
    assert listed[work]["color"] == "#711A76" and listed[work]["order"] == "0", phone.fail("colour/order")


def test_ios_creates_changes_and_deletes_an_event_with_ctag_and_etags(apple):
    phone = apple("ios5")
    phone.poll()
    calendar = default_calendar(phone)
    uid, href = new_object(calendar)
    start, end = event_times(3)
    body = phone.fixture("event.ics", now=now_utc(), uid=uid, dtstart=utc(start), dtend=utc(end), summary="Simple event")
    phone.put_new(href, body)
    created_etag = phone.events[href]["etag"]

    # Another device polls: the ctag moved, the time-range query lists the event, multiget reads it.
    other = apple("ios5")
    other.poll()
    assert href in other.events, other.fail("the new event was not found by iOS's poll")
    assert other.events[href]["etag"] == created_etag
    assert "SUMMARY:Simple event" in other.events[href]["data"]

    # profiles.py TitleChanger: a new SUMMARY, PUT with If-Match (ical.py changeEvent), 204.
    changed = body.replace(b"SUMMARY:Simple event", b"SUMMARY:Event.....")
    phone.put_change(href, changed)
    assert phone.events[href]["etag"] != created_etag
    assert other.poll(), other.fail("no calendar changed after the edit")
    assert "SUMMARY:Event....." in other.events[href]["data"], other.fail("the edit did not arrive")

    # A stale If-Match is refused, as ical.py changeEvent expects (412 allowed, nothing written).
    phone.send("PUT", href, changed, {"Content-Type": "text/calendar", "If-Match": created_etag}, expect=(412,))

    phone.delete(href)
    other.poll()
    assert href not in other.events, other.fail("the deleted event is still listed")


def test_ios_recurring_event_with_one_instance_moved(apple):
    phone = apple("ios5")
    phone.poll()
    calendar = default_calendar(phone)
    uid, href = new_object(calendar)
    start, end = event_times(2)
    second = start + datetime.timedelta(weeks=1)
    moved = second + datetime.timedelta(hours=3)
    body = phone.fixture("event-weekly-with-override.ics", now=now_utc(), uid=uid, dtstart=utc(start),
                         dtend=utc(end), summary="Weekly", recurrence_id=utc(second), moved_dtstart=utc(moved),
                         moved_dtend=utc(moved + (end - start)), moved_summary="Weekly (moved)")
    phone.put_new(href, body)

    other = apple("ios5")
    other.poll()
    assert href in other.events, other.fail("the recurring event is not in the time-range answer")
    events = [c for c in components(other.events[href]["data"]) if c.name == "VEVENT"]
    assert len(events) == 2, other.fail("master and override must come back together")
    override = next(e for e in events if e.get("RECURRENCE-ID") is not None)
    assert override.get("RECURRENCE-ID").dt == second and str(override.get("SUMMARY")) == "Weekly (moved)"
    master = next(e for e in events if e.get("RECURRENCE-ID") is None)
    assert "COUNT=4" in master.get("RRULE").to_ical().decode()
    phone.delete(href)


def test_ios_reminder_with_due_date_then_completed(apple):
    mac = apple("osx")
    reminders = make_calendar(mac, "Errands", "VTODO", "FF2968FF", 4)
    phone = apple("ios5")
    phone.poll()
    uid, href = new_object(reminders)
    due, _ = event_times(1)
    body = phone.fixture("task.ics", now=now_utc(), uid=uid, summary="Simple task", due=utc(due))
    phone.put_new(href, body)

    other = apple("ios5")
    other.poll()
    assert href in other.events, other.fail("the VTODO query did not list the reminder")
    todo = next(c for c in components(other.events[href]["data"]) if c.name == "VTODO")
    assert todo.get("DUE").dt == due

    done = phone.fixture("task-completed.ics", now=now_utc(), uid=uid, summary="Simple task", due=utc(due),
                         completed=now_utc())
    phone.put_change(href, done)
    other.poll()
    todo = next(c for c in components(other.events[href]["data"]) if c.name == "VTODO")
    assert todo.get("COMPLETED") is not None and int(todo.get("PERCENT-COMPLETE")) == 100, other.fail("completion")
    phone.delete(href)


def test_osx_polls_with_the_sync_report_it_is_offered(apple):
    """OS X 10.11 uses sync-collection only when the home's supported-report-set lists it
    (ical.py _pollFirstTime1); otherwise a Depth 1 PROPFIND of ETags per changed calendar.
    Either way an event made elsewhere arrives, a change and a removal are seen."""
    mac = apple("osx")
    mac.poll()
    calendar = default_calendar(mac)
    listing, _ = mac.home_listing()
    for href in mac.calendars:
        # OS X keys calendars by DAV:sync-token (ical.py _extractCalendars), iOS by getctag.
        assert prop_text(listing, href, DAV + "sync-token") and prop_text(listing, href, CS + "getctag"), mac.fail(
            f"{href} without sync-token or getctag")
    phone = apple("ios5")
    uid, href = new_object(calendar)
    start, end = event_times(4)
    body = phone.fixture("event.ics", now=now_utc(), uid=uid, dtstart=utc(start), dtend=utc(end), summary="From phone")
    phone.put_new(href, body)

    assert calendar in mac.poll(), mac.fail("the sync-token did not move")
    assert href in mac.events, mac.fail("the new event did not arrive")
    phone.put_change(href, body.replace(b"From phone", b"Changed"))
    mac.poll()
    assert "SUMMARY:Changed" in mac.events[href]["data"]
    phone.delete(href)
    mac.poll()
    assert href not in mac.events, mac.fail("the removal was not seen")


def test_osx_sync_collection_body_initial_and_incremental(apple):
    """The sync-collection body OS X 10.11 sends (OS_X_10_7/poll_calendar_sync.request: no
    sync-level, Depth 1), replayed on a calendar: an initial sync with an empty token, then
    changes and a removal (404) against the token it got."""
    mac = apple("osx")
    mac.poll()
    calendar = default_calendar(mac)
    mac.calendars[calendar]["synced"] = None
    mac.sync_collection(calendar, set())
    first_token = mac.calendars[calendar]["synced"]

    uid, href = new_object(calendar)
    start, end = event_times(5)
    body = mac.fixture("event.ics", now=now_utc(), uid=uid, dtstart=utc(start), dtend=utc(end), summary="Synced")
    # Apple's later simulator (users/sagen/clientsim ical.py addEvent) sends If-None-Match: *.
    mac.put_new(href, body, if_none_match=True)
    mac.events.pop(href)
    mac.sync_collection(calendar, set())
    assert href in mac.events and mac.calendars[calendar]["synced"] != first_token, mac.fail("incremental sync")

    mac.send("DELETE", href, expect=(204,))
    ms = multistatus(mac.report(calendar, mac.fixture("osx-sync-collection.xml", sync_token=mac.calendars[calendar]["synced"]), "1"))
    assert ms.get(href) is not None and ms[href].status == 404, mac.fail("the removal must be a 404 response")


def test_osx_creates_renames_recolours_and_deletes_a_calendar(apple):
    mac = apple("osx")
    href = make_calendar(mac, "Project", "VEVENT", "CC73E1FF", 5)
    mac.poll()
    assert mac.calendars[href]["name"] == "Project" and mac.calendars[href]["color"] == "#CC73E1FF"

    # OS_X_10_11/StartupProfile: order, displayname, colour, time zone, one PROPPATCH each.
    for fixture, slots in (("osx-calendar-order-proppatch.xml", {}), ("osx-calendar-displayname-proppatch.xml", {"display_name": "Project X"}),
                           ("osx-calendar-color-proppatch.xml", {}), ("osx-calendar-timezone-proppatch.xml", {})):
        answer = multistatus(mac.proppatch(href, mac.fixture(fixture, **slots)))
        assert all(status == 200 for status, _ in answer[href].values()), mac.fail(f"{fixture} refused")
    _, listed = mac.home_listing()
    assert listed[href]["name"] == "Project X" and listed[href]["color"] == "#FD8208FF", mac.fail("rename/colour")
    assert listed[href]["order"] == "1"

    # The home's default alarms (OS_X_10_11/StartupProfile): ical.py accepts 200 or 207.
    mac.proppatch(mac.home, mac.fixture("osx-home-default-alarm-datetime-proppatch.xml"))

    mac.send("DELETE", href, expect=(204,))
    mac.replay.created.remove(urlsplit(mac.replay.url(href)).path)
    mac.poll()
    assert href not in mac.calendars, mac.fail("the deleted calendar is still listed")


@pytest.mark.skipif(not DIRECTORY, reason="JMAP without service account schedules through iMIP (test_scheduling_imip.py)")
def test_invitation_from_a_mac_accepted_on_an_iphone_with_free_busy(apple):
    """OS X 10.11 organizer (ical.py addInvite: free-busy of the attendees first, then the
    PUT), iOS 5 attendee (profiles.py Accepter: the copy in the calendar with PARTSTAT
    NEEDS-ACTION, accepted by a PUT with If-Schedule-Tag-Match, the inbox item deleted);
    the organizer then sees the REPLY in the inbox and bob's answer in the event."""
    mac = apple("osx", user="alice")
    mac.poll()
    phone = apple("ios5", user="bob")
    phone.poll()
    calendar = default_calendar(mac)
    uid, href = new_object(calendar)
    start, end = event_times(6)

    def free_busy():
        day = start.replace(hour=0)
        users = [mac.email, "mailto:bob@example.com"]
        body = mac.fixture("osx-freebusy-request.ics", vfreebusy_uid=new_uid(), end=utc(day + datetime.timedelta(hours=24)),
                           attendees="".join(f"ATTENDEE:{u}\r\n" for u in users), start=utc(day),
                           event_mask=f"X-CALENDARSERVER-MASK-UID:{uid}\r\n", now=now_utc(), organizer=mac.email,
                           summary=f"Availability for {', '.join(users)}")
        headers = {"Content-Type": "text/calendar", "Originator": mac.email, "Recipient": ", ".join(users)}
        response = mac.send("POST", mac.outbox, body, headers)
        answers = {}
        root = ET.fromstring(response.content)
        assert root.tag == CALDAV + "schedule-response", mac.fail("not a schedule-response")
        for item in root.findall(CALDAV + "response"):
            recipient = item.findtext(f"{CALDAV}recipient/{DAV}href").strip()
            status = item.findtext(CALDAV + "request-status").strip()
            answers[recipient] = (status, item.findtext(CALDAV + "calendar-data") or "")
        assert set(answers) == set(users), mac.fail(f"answered {sorted(answers)}")
        assert all(status.startswith("2.0") for status, _ in answers.values()), mac.fail("free-busy refused")
        return answers

    before = free_busy()
    assert not BUSY.search(before["mailto:bob@example.com"][1]), mac.fail("bob busy before the meeting")

    body = mac.fixture("invitation.ics", now=now_utc(), uid=uid, dtstart=utc(start), dtend=utc(end), summary="Planning",
                       organizer_cn="Alice", organizer=mac.email, attendee_cn="Bob", attendee="mailto:bob@example.com")
    response = mac.put_new(href, body)
    assert response.headers.get("Schedule-Tag"), mac.fail("no Schedule-Tag on the organizer's PUT")

    changed = phone.poll()
    assert phone.inbox in changed, phone.fail("bob's inbox ctag did not move")
    requests = [h for h, e in phone.events.items() if h.startswith(phone.inbox) and f"UID:{uid}" in e["data"]]
    assert requests, phone.fail("no invitation in bob's inbox")
    assert all("METHOD:REQUEST" in phone.events[h]["data"] for h in requests), phone.fail("inbox item not a REQUEST")
    copies = [h for h, e in phone.events.items() if not h.startswith(phone.inbox) and f"UID:{uid}" in e["data"]]
    assert len(copies) == 1, phone.fail(f"bob's calendar copies: {copies}")
    copy = copies[0]
    assert phone.events[copy]["schedule_tag"], phone.fail("multiget without schedule-tag")
    vevent = next(c for c in components(phone.events[copy]["data"]) if c.name == "VEVENT")
    bob = next(a for a in vevent.get("ATTENDEE") if str(a).lower() == "mailto:bob@example.com")
    assert bob.params["PARTSTAT"] == "NEEDS-ACTION"

    # profiles.py Accepter._makeAcceptedAttendee: PARTSTAT=ACCEPTED, RSVP removed; PUT with
    # If-Schedule-Tag-Match (ical.py changeEventAttendee), 204.
    calendar_object = icalendar.Calendar.from_ical(phone.events[copy]["data"])
    for component in calendar_object.walk("VEVENT"):
        for attendee in component.get("ATTENDEE"):
            if str(attendee).lower() == "mailto:bob@example.com":
                attendee.params["PARTSTAT"] = "ACCEPTED"
                attendee.params.pop("RSVP", None)
    accepted = phone.send("PUT", copy, calendar_object.to_ical(),
                          {"Content-Type": "text/calendar", "If-Schedule-Tag-Match": phone.events[copy]["schedule_tag"]},
                          expect=(204,))
    assert accepted.headers.get("Schedule-Tag"), phone.fail("no Schedule-Tag after the answer")
    # Accepter.accepted: the invitation in the inbox with this UID is deleted.
    for item in requests:
        phone.delete(item)

    mac.poll()
    replies = [h for h, e in mac.events.items() if h.startswith(mac.inbox) and f"UID:{uid}" in e["data"]]
    assert replies, mac.fail("no REPLY in alice's inbox")
    assert all("METHOD:REPLY" in mac.events[h]["data"] for h in replies)
    organizer_copy = next(c for c in components(mac.events[href]["data"]) if c.name == "VEVENT")
    bob = next(a for a in organizer_copy.get("ATTENDEE") if str(a).lower() == "mailto:bob@example.com")
    assert bob.params["PARTSTAT"] == "ACCEPTED", mac.fail("bob's answer is not in alice's event")
    for reply in replies:  # Accepter._handleReply: replies are deleted at once.
        mac.delete(reply)

    after = free_busy()
    assert BUSY.search(after["mailto:bob@example.com"][1]), mac.fail("bob's meeting is not busy time")
    mac.delete(href)


def read_response(stream):
    """Status and headers of one HTTP/1.1 response read from a file over the socket, its
    Content-Length body consumed; None when the server closed the connection instead."""
    status_line = stream.readline()
    if not status_line:
        return None
    headers = {}
    for line in iter(stream.readline, b"\r\n"):
        if not line:
            return None
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    stream.read(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers


@pytest.mark.parametrize("path, user, status", [
    ("/dav/calendars/alice/", None, 401),  # every new path without credentials (iOS_5/Profile)
    ("/.well-known/caldav/", None, 301),  # _startupPropfindWellKnown
    ("/principals/", None, 404),  # iOS 10.3.3 account set-up probes it (nextcloud/server #6192)
    ("/dav/calendars/bob/", "alice", 403),  # another user's home
])
def test_a_body_sent_before_an_early_answer_leaves_the_connection_usable(module_gateway, path, user, status):
    """iOS and macOS send PROPFIND bodies without credentials, to .well-known and to paths
    they probe, then the next request on the same connection. The body may reach the gateway
    after it has decided its answer (here: its second half, a moment later); the connection
    must still carry the next request (unread_body.rs)."""
    url = urlsplit(module_gateway.url)
    context = ssl.create_default_context(cafile=module_gateway.ca)
    with open(os.path.join(FIXTURES, "apple", "ios5-home-propfind.xml"), "rb") as f:
        body = f.read()
    credentials = ""
    if user:
        token = base64.b64encode(":".join(module_gateway.auth(user)).encode()).decode()
        credentials = f"Authorization: Basic {token}\r\n"
        # A first login takes long enough for the whole body to arrive; log in beforehand.
        with Replay(module_gateway, client="apple", user=user) as login:
            assert login.request("PROPFIND", f"/dav/calendars/{user}/", headers={"Depth": "0"}).status_code == 207
    head = (f"PROPFIND {path} HTTP/1.1\r\nHost: {url.netloc}\r\nUser-Agent: {USER_AGENTS['ios5']}\r\n"
            f"{credentials}Content-Type: {XML}\r\nDepth: 1\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection((url.hostname, url.port), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname=url.hostname) as tls:
            stream = tls.makefile("rb")
            tls.sendall(head + body[: len(body) // 2])
            time.sleep(0.3)
            try:
                tls.sendall(body[len(body) // 2:])
                first = read_response(stream)
                assert first is not None and first[0] == status, first
                assert first[1].get("connection") != "close", "a PROPFIND body of a few KiB closed the connection"
                tls.sendall(f"OPTIONS /dav/ HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
                second = read_response(stream)
            except OSError as error:  # ssl.SSLEOFError among them
                pytest.fail(f"the gateway closed the connection after its answer without saying so: {error}")
            assert second is not None and second[0] == 200, second
