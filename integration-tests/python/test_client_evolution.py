"""Evolution and GNOME Calendar, both through evolution-data-server (EDS), replayed with EDS's
own request bodies (`clients/evolution/`), headers and User-Agent, and every answer read the way
EDS reads it. Facts and their sources: docs/clients/evolution.md.

- Discovery (`e-webdav-discover.c`): PROPFIND Depth 0 on the URL typed, the principal, Depth 1
  on each calendar home; `/.well-known/caldav` when that found no calendar; an OPTIONS per
  calendar for `calendar-auto-schedule` (Evolution's collection account). GNOME Calendar first
  GETs the URL to see whether it is an iCalendar file, then runs the same discovery for events.
- The CalDAV backend (`e-cal-backend-caldav.c`): OPTIONS, current-user-privilege-set and getctag
  at connect; a refresh compares getctag, lists ETags (35 days around now first, then all) and
  fetches new or changed objects by calendar-multiget; since 3.61 sync-collection instead when
  the calendar lists it in supported-report-set. Writes: PUT with If-None-Match `*` or If-Match
  and `Prefer: return=minimal`, DELETE with If-Match (and `Schedule-Reply: F` when the source
  leaves scheduling to the client).
- Free/busy: POST to the owner's schedule outbox when OPTIONS advertises scheduling, else
  principal-property-search and a free-busy-query REPORT on the principal
  (`quirks/principal_free_busy.rs`).
- Calendars are created, edited and deleted by Evolution's WebDAV browser (GNOME/evolution
  `src/e-util/e-webdav-browser.c`): MKCALENDAR on the escaped name, PROPPATCH, DELETE Depth 1.
"""

import hashlib
import re
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urljoin, urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import icalendar
import pytest

from client_replay import Replay
from conftest import DIRECTORY

# evolution-data-server presets these on every message (src/libedataserver/e-soup-session.c,
# e_soup_session_preset_message); "Evolution/" VERSION is the EDS version, also when GNOME
# Calendar is the application.
EDS_STABLE = "Evolution/3.60.2"  # tag 3.60.2: getctag, ETag list and multiget
EDS_DEV = "Evolution/3.61.2"  # tag 3.61.2: sync-collection (commit fb7b3dc76)
EDS_HEADERS = {"Connection": "close", "Cache-Control": "no-cache", "Pragma": "no-cache"}
XML_BODY = {"Content-Type": 'application/xml; charset="utf-8"'}  # E_WEBDAV_CONTENT_TYPE_XML
ICS_BODY = {"Content-Type": 'text/calendar; charset="utf-8"'}  # E_WEBDAV_CONTENT_TYPE_CALENDAR
# GNOME Calendar's own session (gnome-calendar src/utils/gcal-utils.c, gcal_create_soup_session):
# "GNOME Calendar/" PACKAGE_VERSION " - ", to which libsoup appends its own product token.
GNOME_CALENDAR_UA = "GNOME Calendar/50.0 - libsoup/3.6.5"

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CS = "{http://calendarserver.org/ns/}"
ICAL = "{http://apple.com/ns/ical/}"
BERLIN = "/freeassociation.sourceforge.net/Europe/Berlin"
# E_CALDAV_DEFAULT_LIMIT_DAYS: the first pass of a refresh looks this far around now.
LIMIT_DAYS = 35
# EWebDAVResourceSupports bits of e-webdav-session.h
EVENTS, MEMOS, TASKS = 1 << 1, 1 << 2, 1 << 3


def uid():
    """What e_util_generate_uid() gives: a SHA-1 in hex."""
    return hashlib.sha1(str(time.monotonic_ns()).encode() + str(id(object())).encode()).hexdigest()


def ical_utc(moment):
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def local(moment):
    return moment.strftime("%Y%m%dT%H%M%S")


class Eds:
    """One EDS session (ESoupSession/EWebDAVSession) of one user: its headers on every request,
    preemptive Basic over https (e_soup_session_maybe_prepare_basic_auth), and redirects
    followed with the method and body kept (e_soup_session_send_message_sync)."""

    def __init__(self, replay, user_agent=EDS_STABLE):
        self.r = replay
        self.user_agent = user_agent

    def request(self, method, path, body=None, headers=None):
        sent = dict(EDS_HEADERS, **{"User-Agent": self.user_agent})
        sent.update(headers or {})
        for _ in range(30):  # EDS gives up after 30 redirects
            response = self.r.request(method, path, body=body, headers=sent)
            if not 300 <= response.status_code < 400:
                return response
            path = self.r.follow(response)
            assert not path.startswith("http://"), f"EDS refuses an https-to-http redirect\n{self.r.transcript()}"
        raise AssertionError(f"more than 30 redirects\n{self.r.transcript()}")

    def xml(self, method, path, fixture, depth=None, **variables):
        headers = dict(XML_BODY)
        if depth is not None:
            headers["Depth"] = depth
        return self.request(method, path, self.r.body(fixture, **variables), headers)

    def full_uri(self, response, href):
        """e_webdav_session_ensure_full_uri: a path replaces the path of the request URI."""
        if href.startswith("/") or "://" not in href:
            parts = urlsplit(str(response.request.url))
            return f"{parts.scheme}://{parts.netloc}{href}"
        return href

    def traverse(self, response):
        """e_webdav_session_traverse_propstat_response: 207 and an XML media type are required;
        yields (full href, status, prop element) per propstat that has a property, and
        (full href, status, None) for a response with only a status (a removed member)."""
        assert response.status_code == 207, f"EDS expects 207 Multi-Status\n{self.r.transcript()}"
        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        assert media in ("application/xml", "text/xml"), f"EDS refuses {media!r}\n{self.r.transcript()}"
        root = ET.fromstring(response.content)
        assert root.tag == DAV + "multistatus", self.r.transcript()
        for entry in root.findall(DAV + "response"):
            href = entry.findtext(DAV + "href")
            status = entry.findtext(DAV + "status")
            propstats = entry.findall(DAV + "propstat")
            if href is None:
                continue
            if status is not None and not propstats:
                yield self.full_uri(response, href.strip()), status_code(status), None
                continue
            for propstat in propstats:
                prop = propstat.find(DAV + "prop")
                if prop is not None and len(prop):
                    yield self.full_uri(response, href.strip()), status_code(propstat.findtext(DAV + "status")), prop

    def first_propstat(self, response):
        """Callbacks like getctag's return FALSE after the first propstat they are given: only
        the first propstat of the answer counts."""
        for href, status, prop in self.traverse(response):
            return href, status, prop
        raise AssertionError(f"no propstat with a property\n{self.r.transcript()}")

    def path(self, uri):
        parts = urlsplit(uri)
        return parts.path + (f"?{parts.query}" if parts.query else "")


def status_code(line):
    parts = (line or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def dav_capabilities(response):
    """e_webdav_session_comma_header_to_hashtable on the DAV header, case-insensitive."""
    return {token.strip().lower() for token in response.headers.get("DAV", "").split(",") if token.strip()}


# ---- discovery, as e-webdav-discover.c does it ----------------------------------------------

class Discovered:
    def __init__(self):
        self.calendars = []  # dicts: href, supports, display_name, color, order
        self.addresses = []
        self.covered = set()


def supports_of(prop):
    """e_webdav_session_extract_supports for a calendar."""
    found = prop.find(CALDAV + "supported-calendar-component-set")
    if found is None:
        return 0
    comps = [c.get("name", "").upper() for c in found.findall(CALDAV + "comp")]
    if not comps:
        return EVENTS | MEMOS | TASKS
    return (EVENTS if "VEVENT" in comps else 0) | (MEMOS if "VJOURNAL" in comps else 0) | (TASKS if "VTODO" in comps else 0)


def nonempty(prop, name):
    text = prop.findtext(name)
    text = (text or "").strip()
    if len(text) > 1 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]  # e_webdav_session_util_maybe_dequote
    return text or None


def list_calendars(eds, home, only_supports, found):
    """e_webdav_session_list_sync (ONLY_CALENDAR | ALL), Depth 1, and
    e_webdav_discover_split_resources."""
    response = eds.xml("PROPFIND", eds.path(home), "propfind-list-calendars.xml", depth="1")
    for href, status, prop in eds.traverse(response):
        if status != 200:
            continue
        resourcetype = prop.find(DAV + "resourcetype")
        if resourcetype is None or resourcetype.find(CALDAV + "calendar") is None:
            continue  # the home, the schedule inbox and outbox are no calendars for EDS
        supports = supports_of(prop)
        if only_supports and not supports & only_supports:
            continue
        order_text = nonempty(prop, ICAL + "calendar-order")
        order = int(re.match(r"\d+", order_text).group()) if order_text and re.match(r"\d+", order_text) else None
        found.calendars.append({
            "href": href,
            "supports": supports,
            "display_name": nonempty(prop, DAV + "displayname"),
            "color": nonempty(prop, ICAL + "calendar-color"),
            "order": order,
            "ctag": nonempty(prop, DAV + "getetag") or nonempty(prop, CS + "getctag"),
        })


def discover_uri(eds, uri, only_supports, found, only_sets=False):
    """e_webdav_discover_propfind_uri_sync and its response callback."""
    if uri in found.covered:
        return
    found.covered.add(uri)
    fixture = "propfind-principal-sets.xml" if only_sets else "propfind-discover.xml"
    response = eds.xml("PROPFIND", eds.path(uri), fixture, depth="0")
    for href, status, prop in eds.traverse(response):
        if status != 200:
            continue
        for home in prop.iter(CALDAV + "calendar-home-set"):
            for node in home.findall(DAV + "href"):
                home_uri = eds.full_uri(response, node.text.strip())
                if ("home", home_uri) not in found.covered:
                    list_calendars(eds, home_uri, only_supports, found)
                    found.covered.add(("home", home_uri))
        for address_set in prop.iter(CALDAV + "calendar-user-address-set"):
            for node in address_set.findall(DAV + "href"):
                text = (node.text or "").strip()
                if text.lower().startswith("mailto:") and text[7:] and text[7:].lower() not in map(str.lower, found.addresses):
                    found.addresses.append(text[7:])
        principal = prop.find(f"{DAV}current-user-principal/{DAV}href")
        if principal is None:
            principal = prop.find(f"{DAV}principal-URL/{DAV}href")
        if principal is not None and principal.text:
            discover_uri(eds, eds.full_uri(response, principal.text.strip()), only_supports, found, only_sets=True)


def discover(eds, url, only_supports, auto_schedule):
    """e_webdav_discover_sources_full_sync: the URL, then /.well-known/caldav when no calendar
    was found, an OPTIONS per calendar when asked for auto-schedule, sorted by order then name."""
    found = Discovered()
    discover_uri(eds, url, only_supports, found)
    if not found.calendars and "/.well-known/" not in urlsplit(url).path:
        found.covered.clear()
        discover_uri(eds, eds.r.url("/.well-known/caldav"), EVENTS | MEMOS | TASKS, found)
    for calendar in found.calendars if auto_schedule else ():
        response = eds.request("OPTIONS", eds.path(calendar["href"]))
        assert response.status_code == 200, eds.r.transcript()
        calendar["auto_schedule"] = "calendar-auto-schedule" in dav_capabilities(response)

    def key(c):
        return (c["order"] if c["order"] is not None else float("inf"), c["display_name"] or "")

    found.calendars.sort(key=key)
    return found


def eds_color(text):
    """webdav_collection_add_found_source: sscanf "#%02x%02x%02x", kept as #rrggbb."""
    match = re.match(r"#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})", text or "")
    return "#" + "".join(match.groups()).lower() if match else None


# ---- the CalDAV backend ---------------------------------------------------------------------

class Backend:
    """One ECalBackendCalDAV for one calendar: its cache is {href: (etag, ics)}."""

    def __init__(self, eds, calendar_href, component="VEVENT"):
        self.eds = eds
        # e_webdav_session_new_message: the source URL is a collection, a slash is ensured
        self.href = calendar_href if calendar_href.endswith("/") else calendar_href + "/"
        self.path = eds.path(calendar_href)
        self.component = component
        self.cache = {}
        self.sync_tag = None
        self.supports_sync_collection = False
        self.auto_schedule = False

    def connect(self):
        """ecb_caldav_connect_sync."""
        eds = self.eds
        options = eds.request("OPTIONS", self.path)
        assert options.status_code == 200, eds.r.transcript()
        capabilities = dav_capabilities(options)
        assert "calendar-access" in capabilities, f"EDS: URL doesn't reference CalDAV calendar\n{eds.r.transcript()}"
        self.auto_schedule = "calendar-auto-schedule" in capabilities
        self.schedule = self.auto_schedule or "calendar-schedule" in capabilities
        privileges = eds.xml("PROPFIND", self.path, "propfind-privileges.xml", depth="0")
        names = set()
        for _, status, prop in eds.traverse(privileges):
            if status == 200:
                for privilege in prop.iter(DAV + "privilege"):
                    names.update(child.tag for child in privilege)
        self.writable = bool(names & {DAV + "write", DAV + "write-content", DAV + "all"})
        if eds.user_agent == EDS_STABLE:
            response = eds.xml("PROPFIND", self.path, "propfind-getctag.xml", depth="0")
            eds.first_propstat(response)
        else:
            response = eds.xml("PROPFIND", self.path, "propfind-collection-props.xml", depth="0")
            _, status, prop = eds.first_propstat(response)
            self.supports_sync_collection = status == 200 and any(
                report.find(DAV + "sync-collection") is not None
                for report in prop.iter(DAV + "report")
            )

    def getctag(self):
        response = self.eds.xml("PROPFIND", self.path, "propfind-getctag.xml", depth="0")
        _, status, prop = self.eds.first_propstat(response)
        ctag = nonempty(prop, CS + "getctag") if status == 200 else None
        assert ctag, f"EDS reads getctag from the first propstat\n{self.eds.r.transcript()}"
        return ctag

    def list_etags(self, in_range):
        now = datetime.now(timezone.utc)
        if in_range:
            response = self.eds.xml("REPORT", self.path, "report-etags-in-range.xml", depth="1",
                                    component=self.component, start=ical_utc(now - timedelta(days=LIMIT_DAYS)),
                                    end=ical_utc(now + timedelta(days=LIMIT_DAYS)))
        else:
            response = self.eds.xml("REPORT", self.path, "report-etags.xml", depth="1", component=self.component)
        known = {}
        request_path = urlsplit(str(response.request.url)).path
        for href, status, prop in self.eds.traverse(response):
            # ecb_caldav_get_calendar_items_cb skips the collection itself
            if status != 200 or href.endswith("/") or href.endswith(request_path):
                continue
            etag = nonempty(prop, DAV + "getetag")
            assert etag, f"EDS needs getetag on every member\n{self.eds.r.transcript()}"
            known[href] = etag
        return known

    def multiget(self, hrefs):
        """ecb_caldav_multiget_from_sets_sync: objects by href; an href answered 404 is removed."""
        if not hrefs:
            return
        body_hrefs = "".join(f"<D:href>{escape(self.eds.path(h))}</D:href>" for h in hrefs)
        response = self.eds.xml("REPORT", self.path, "report-multiget.xml", hrefs=body_hrefs)
        answered = set()
        for href, status, prop in self.eds.traverse(response):
            match = [h for h in hrefs if href_equal(h, href)]
            assert match, f"EDS finds no requested href equal to {href}\n{self.eds.r.transcript()}"
            answered.add(match[0])
            if status == 404:
                self.cache.pop(match[0], None)
                continue
            if status != 200:
                continue
            data = prop.findtext(CALDAV + "calendar-data")
            etag = nonempty(prop, DAV + "getetag")
            assert data and etag, self.eds.r.transcript()
            calendar = icalendar.Calendar.from_ical(data)
            assert any(c.name == self.component for c in calendar.walk()), \
                f"EDS drops an object without a {self.component}\n{self.eds.r.transcript()}"
            self.cache[match[0]] = (etag, data)
        assert answered == set(hrefs), f"multiget left out {set(hrefs) - answered}\n{self.eds.r.transcript()}"

    def refresh(self):
        """ecb_caldav_get_changes_sync (3.60: getctag, ETags, multiget), then the repeated pass
        over everything. Returns the hrefs created, modified and removed."""
        before = dict(self.cache)
        if self.supports_sync_collection:
            self._sync_collection()
        else:
            ctag = self.getctag()
            if ctag == self.sync_tag:
                return set(), set(), set()
            for in_range in (True, False):
                known = self.list_etags(in_range)
                if in_range:
                    self.first_pass = set(known)
                changed = [h for h, e in known.items() if self.cache.get(h, (None,))[0] != e]
                if not in_range:
                    for gone in set(self.cache) - set(known):
                        del self.cache[gone]
                self.multiget(changed)
            self.sync_tag = ctag
        created = set(self.cache) - set(before)
        removed = set(before) - set(self.cache)
        modified = {h for h in set(self.cache) & set(before) if self.cache[h][0] != before[h][0]}
        return created, modified, removed

    def _sync_collection(self, token=None):
        token = self.sync_tag if token is None else token
        # the stored tag is a sync-token only when it looks like a URI (':' or '/')
        if token and ":" not in token and "/" not in token:
            token = None
        modified, removed = [], []
        while True:
            if token:
                response = self.eds.xml("REPORT", self.path, "report-sync-collection.xml", depth="0", token=escape(token))
            else:
                response = self.eds.xml("REPORT", self.path, "report-sync-collection-initial.xml", depth="0")
            if token and (response.status_code == 412 or (response.status_code == 403 and "valid-sync-token" in response.text)):
                token, modified, removed = None, [], []
                self.cache.clear()
                continue
            repeat = False
            request_path = urlsplit(str(response.request.url)).path.rstrip("/")
            for href, status, prop in self.eds.traverse(response):
                if status == 507:
                    repeat = True
                    continue
                if urlsplit(href).path.rstrip("/").endswith(request_path):
                    continue
                if status == 200:
                    etag = nonempty(prop, DAV + "getetag")
                    if etag and self.cache.get(href, (None,))[0] != etag:
                        modified.append(href)
                elif status == 404 and prop is None:
                    removed.append(href)
            token = ET.fromstring(response.content).findtext(DAV + "sync-token")
            assert token, f"EDS: Server did not return sync-token\n{self.eds.r.transcript()}"
            if not repeat:
                break
        for href in removed:
            self.cache.pop(href, None)
        self.multiget(modified)
        self.sync_tag = token

    def put(self, name, ics, etag=None, extra_headers=None):
        """ecb_caldav_save_component_sync: new objects at <uid>.ics with If-None-Match, changes
        with If-Match; Prefer: return=minimal always. Returns the response."""
        href = self.href + quote(name, safe="") if etag is None else name
        headers = dict(ICS_BODY, Prefer="return=minimal")
        if etag is None:
            headers["If-None-Match"] = "*"
        else:
            headers["If-Match"] = etag if '"' in etag else f'"{etag}"'
        headers.update(extra_headers or {})
        response = self.eds.request("PUT", self.eds.path(href), ics.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), headers)
        if 200 <= response.status_code < 300:
            location = response.headers.get("Location")
            stored_href = urljoin(str(response.request.url), location) if location else str(response.request.url)
            new_etag = response.headers.get("ETag")
            if new_etag and not new_etag.startswith("W/"):
                self.cache[stored_href] = (new_etag.strip('"'), ics.decode())
            else:
                # without a strong ETag EDS reads the object back (ecb_caldav_load_component_sync)
                got = self.eds.request("GET", self.eds.path(stored_href))
                assert got.status_code == 200 and got.headers.get("ETag"), self.eds.r.transcript()
                self.cache[stored_href] = (got.headers["ETag"].strip('"'), got.text)
            response.stored_href = stored_href
        return response

    def delete(self, href, schedule_reply=True):
        """ecb_caldav_remove_component_sync with E_CONFLICT_RESOLUTION_FAIL: If-Match, and
        Schedule-Reply: F when the source does not let the server schedule."""
        etag = self.cache[href][0]
        headers = {"If-Match": etag if '"' in etag else f'"{etag}"'}
        if not schedule_reply:
            headers["Schedule-Reply"] = "F"
        response = self.eds.request("DELETE", self.eds.path(href), headers=headers)
        if response.status_code in (200, 204, 404):
            self.cache.pop(href, None)
        return response


def href_equal(a, b):
    """e_webdav_session_util_item_href_equal: without scheme, host caseless, %-escapes decoded
    per segment, path case-sensitive."""
    def norm(h):
        h = h.split("://", 1)[-1]
        host, _, path = h.partition("/")
        return host.lower().split("@")[-1], [re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s) for s in path.split("/")]
    return norm(a) == norm(b)


def event_body(r, the_uid, start, summary="Project sync", sequence=1, minutes=60):
    stamp = ical_utc(datetime.now(timezone.utc))
    return r.body("event.ics", vtimezone=r.body("vtimezone-berlin.ics").decode(), uid=the_uid, dtstamp=stamp,
                  created=stamp, start=local(start), end=local(start + timedelta(minutes=minutes)),
                  sequence=str(sequence), summary=summary)


def next_weekday_at(days, hour):
    moment = datetime.now() + timedelta(days=days)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0)


# ---- the calendars the tests find: made the way Evolution's WebDAV browser makes them --------

CALENDARS = [
    # (escaped name segment, display name, colour, order, fixture)
    ("Work", "Work", "#3465a4", 2, "mkcalendar-events.xml"),
    ("Family%20%26%20Friends", "Family & Friends", "#ef2929", 1, "mkcalendar-events.xml"),
    ("Chores", "Chores", "#73d216", 3, "mkcalendar-tasks.xml"),
]


def webdav_browser_create(eds, home, segment, name, color, order, fixture):
    """webdav_browser_save_changes_thread (create): MKCALENDAR on home + the escaped name (no
    trailing slash), then a PROPPATCH of calendar-order when one was given."""
    href = home.rstrip("/") + "/" + segment
    response = eds.xml("MKCALENDAR", eds.path(href), fixture, display_name=escape(name), color=color)
    assert response.status_code == 201, eds.r.transcript()
    if order is not None:
        patched = eds.xml("PROPPATCH", eds.path(href), "proppatch-order.xml", order=str(order))
        # Evolution treats a refused order as non-fatal; the gateway keeps it
        assert [s for _, s, _ in eds.traverse(patched)] == [200], eds.r.transcript()
    return href


@pytest.fixture(scope="module")
def alice_calendars(module_gateway):
    with Replay(module_gateway, client="evolution", user="alice") as r:
        eds = Eds(r)
        home = r.url("/dav/calendars/alice/")
        hrefs = [webdav_browser_create(eds, home, *c) for c in CALENDARS]
        yield hrefs
        for href in hrefs:
            eds.request("DELETE", eds.path(href), headers={"Depth": "1"})


# ---- tests ---------------------------------------------------------------------------------

def test_collection_account_discovers_calendars_and_task_lists_from_the_bare_host(module_gateway, alice_calendars):
    """Evolution's CalDAV collection account (e-webdav-collection-backend.c): everything but
    contacts, with auto-schedule checked per calendar; sources keep colour and order."""
    with Replay(module_gateway, client="evolution", user="alice") as r:
        eds = Eds(r)
        found = discover(eds, r.url("/"), EVENTS | MEMOS | TASKS, auto_schedule=True)
        transcript = r.transcript()
        assert found.addresses and found.addresses[0] == "alice@example.com", transcript
        by_name = {c["display_name"]: c for c in found.calendars}
        for _, name, color, order, fixture in CALENDARS:
            assert name in by_name, transcript
            calendar = by_name[name]
            assert eds_color(calendar["color"]) == color, transcript
            assert calendar["order"] == order, transcript
            assert calendar["supports"] == (TASKS if "tasks" in fixture else EVENTS), transcript
            assert calendar["auto_schedule"], transcript
        ordered = [c["display_name"] for c in found.calendars if c["order"] is not None]
        assert ordered == ["Family & Friends", "Work", "Chores"], transcript
        # the gateway's own default calendar and task list are there too, each once
        assert len({c["href"] for c in found.calendars}) == len(found.calendars), transcript
        assert any(c["supports"] & TASKS and c["display_name"] != "Chores" for c in found.calendars), transcript
        # the hrefs EDS stores as source URLs work as they are
        for calendar in found.calendars:
            backend = Backend(eds, calendar["href"], "VTODO" if calendar["supports"] == TASKS else "VEVENT")
            backend.connect()
            assert backend.writable, transcript


def test_gnome_calendar_discovers_event_calendars_from_well_known(module_gateway, alice_calendars):
    """GNOME Calendar's "Add calendar" with https://host/.well-known/caldav: its own GET first
    (is it an .ics file?), then EDS discovery for events only; task lists are not offered."""
    with Replay(module_gateway, client="evolution", user="alice", preemptive=False) as r:
        probe = r.request("GET", "/.well-known/caldav", headers={"User-Agent": GNOME_CALENDAR_UA})
        for _ in range(5):  # libsoup follows a GET redirect itself
            if not 300 <= probe.status_code < 400:
                break
            probe = r.request("GET", r.follow(probe), headers={"User-Agent": GNOME_CALENDAR_UA})
        is_calendar = probe.content[:15] == b"BEGIN:VCALENDAR" or "text/calendar" in probe.headers.get("Content-Type", "")
        assert not is_calendar, r.transcript()

        eds = Eds(r, EDS_STABLE)
        found = discover(eds, r.url("/.well-known/caldav"), EVENTS, auto_schedule=False)
        transcript = r.transcript()
        assert any(e.startswith("> PROPFIND") and "/.well-known/caldav" in e.split("\n")[0] for e in r.exchanges), transcript
        names = [c["display_name"] for c in found.calendars]
        assert "Work" in names and "Family & Friends" in names, transcript
        assert "Chores" not in names, transcript
        assert all(c["supports"] & EVENTS for c in found.calendars), transcript
        assert found.addresses[:1] == ["alice@example.com"], transcript
        # gcal-source-discoverer.c create_discovered_source: colour as discovered
        work = next(c for c in found.calendars if c["display_name"] == "Work")
        assert eds_color(work["color"]) == "#3465a4", transcript


def test_refresh_with_getctag_etags_and_multiget(module_gateway, alice_calendars):
    """EDS 3.60: getctag unchanged means nothing to do; otherwise the ETag list (35 days around
    now, then everything) and calendar-multiget of what is new or changed."""
    with Replay(module_gateway, client="evolution", user="alice") as r:
        eds = Eds(r, EDS_STABLE)
        work = Backend(eds, alice_calendars[0])
        work.connect()
        created, _, _ = work.refresh()
        assert created == set(), r.transcript()

        near, far = uid(), uid()
        assert work.put(f"{near}.ics", event_body(r, near, next_weekday_at(2, 10))).status_code == 201, r.transcript()
        assert work.put(f"{far}.ics", event_body(r, far, next_weekday_at(120, 9), "Far away")).status_code == 201, r.transcript()

        # another EDS instance (a second computer) starts from nothing
        other = Backend(Eds(r, EDS_STABLE), alice_calendars[0])
        other.connect()
        created, _, _ = other.refresh()
        assert {h.rsplit("/", 1)[-1] for h in created} == {f"{near}.ics", f"{far}.ics"}, r.transcript()
        # the first pass saw only what lies within 35 days of now
        assert {h.rsplit("/", 1)[-1] for h in other.first_pass} == {f"{near}.ics"}, r.transcript()

        # nothing changed: one PROPFIND and done
        count = len(r.exchanges)
        assert other.refresh() == (set(), set(), set()), r.transcript()
        assert len(r.exchanges) == count + 1, r.transcript()

        # a change and a removal made by the first instance reach the second
        near_href = next(h for h in work.cache if h.endswith(f"{near}.ics"))
        changed = work.put(near_href, event_body(r, near, next_weekday_at(2, 11), "Project sync (moved)", 2), etag=work.cache[near_href][0])
        assert changed.status_code in (200, 204), r.transcript()
        far_href = next(h for h in work.cache if h.endswith(f"{far}.ics"))
        assert work.delete(far_href).status_code in (200, 204), r.transcript()
        created, modified, removed = other.refresh()
        assert created == set(), r.transcript()
        assert {h.rsplit("/", 1)[-1] for h in modified} == {f"{near}.ics"}, r.transcript()
        assert {h.rsplit("/", 1)[-1] for h in removed} == {f"{far}.ics"}, r.transcript()
        assert "moved" in next(v for h, v in other.cache.items() if h.endswith(f"{near}.ics"))[1], r.transcript()

        # ecb_caldav_list_existing_sync: REPORT Depth 0 on the calendar must list its members
        existing = eds.xml("REPORT", work.path, "report-list-existing.xml", depth="0", component="VEVENT")
        uids = set()
        for _, status, prop in eds.traverse(existing):
            if status == 200 and prop.findtext(CALDAV + "calendar-data"):
                uids.update(str(c.get("UID")) for c in icalendar.Calendar.from_ical(prop.findtext(CALDAV + "calendar-data")).walk("VEVENT"))
        assert near in uids, r.transcript()

        for href in list(work.cache):
            work.delete(href)


def test_refresh_with_sync_collection(module_gateway, alice_calendars):
    """EDS 3.61 and later: sync-collection when supported-report-set lists it; a 404 member
    is a removal; an unknown token (403 valid-sync-token) starts over without one."""
    with Replay(module_gateway, client="evolution", user="alice") as r:
        eds = Eds(r, EDS_DEV)
        family = Backend(eds, alice_calendars[1])
        family.connect()
        assert family.supports_sync_collection, r.transcript()
        family.refresh()
        assert family.sync_tag and (":" in family.sync_tag or "/" in family.sync_tag), \
            f"EDS ignores a sync-token that is not a URI\n{r.transcript()}"

        writer = Backend(Eds(r, EDS_DEV), alice_calendars[1])
        writer.connect()
        one, two = uid(), uid()
        for the_uid, day in ((one, 3), (two, 4)):
            assert writer.put(f"{the_uid}.ics", event_body(r, the_uid, next_weekday_at(day, 14))).status_code == 201, r.transcript()
        created, _, _ = family.refresh()
        assert {h.rsplit("/", 1)[-1] for h in created} == {f"{one}.ics", f"{two}.ics"}, r.transcript()

        one_href = next(h for h in writer.cache if h.endswith(f"{one}.ics"))
        two_href = next(h for h in writer.cache if h.endswith(f"{two}.ics"))
        assert writer.put(one_href, event_body(r, one, next_weekday_at(3, 15), "Changed", 2), etag=writer.cache[one_href][0]).status_code in (200, 204)
        assert writer.delete(two_href).status_code in (200, 204), r.transcript()
        created, modified, removed = family.refresh()
        assert {h.rsplit("/", 1)[-1] for h in modified} == {f"{one}.ics"}, r.transcript()
        assert {h.rsplit("/", 1)[-1] for h in removed} == {f"{two}.ics"}, r.transcript()

        # a token the server no longer knows
        family.sync_tag = family.sync_tag + "0"
        family.refresh()
        assert {h.rsplit("/", 1)[-1] for h in family.cache} == {f"{one}.ics"}, r.transcript()
        writer.delete(one_href)


def test_event_create_change_delete_with_conditional_headers(module_gateway, alice_calendars):
    with Replay(module_gateway, client="evolution", user="alice") as r:
        eds = Eds(r, EDS_STABLE)
        work = Backend(eds, alice_calendars[0])
        work.connect()
        the_uid = uid()
        body = event_body(r, the_uid, next_weekday_at(5, 9))
        created = work.put(f"{the_uid}.ics", body)
        assert created.status_code == 201, r.transcript()
        etag = created.headers.get("ETag", "")
        assert etag and not etag.startswith("W/"), f"EDS then GETs the object again\n{r.transcript()}"
        href = created.stored_href
        # the same UID again as new: If-None-Match * refuses
        assert work.put(f"{the_uid}.ics", body).status_code == 412, r.transcript()

        stale = work.cache[href][0]
        changed = work.put(href, event_body(r, the_uid, next_weekday_at(5, 10), "Later", 2), etag=stale)
        assert changed.status_code in (200, 204) and changed.headers.get("ETag"), r.transcript()
        # EDS's conflict: If-Match of an old ETag -> 412 -> E_CLIENT_ERROR_OUT_OF_SYNC
        conflict = work.put(href, event_body(r, the_uid, next_weekday_at(5, 11), "Even later", 3), etag=stale)
        assert conflict.status_code == 412, r.transcript()

        work.cache[href] = (stale, "")
        assert work.delete(href).status_code == 412, r.transcript()
        work.cache[href] = (changed.headers["ETag"].strip('"'), "")
        assert work.delete(href).status_code in (200, 204), r.transcript()
        gone = eds.request("GET", eds.path(href))
        assert gone.status_code == 404, r.transcript()


def test_recurring_event_with_one_moved_instance(module_gateway, alice_calendars):
    """EDS keeps a series and its detached instances in one resource
    (e_cal_meta_backend_merge_instances) and writes them together."""
    with Replay(module_gateway, client="evolution", user="alice") as r:
        eds = Eds(r, EDS_STABLE)
        work = Backend(eds, alice_calendars[0])
        work.connect()
        work.refresh()
        the_uid = uid()
        start = next_weekday_at(1, 9)
        instance = start + timedelta(days=14)
        moved = instance + timedelta(days=1, hours=3)
        stamp = ical_utc(datetime.now(timezone.utc))
        body = r.body("recurring.ics", vtimezone=r.body("vtimezone-berlin.ics").decode(), uid=the_uid, dtstamp=stamp,
                      created=stamp, start=local(start), end=local(start + timedelta(hours=1)),
                      instance=local(instance), moved_start=local(moved), moved_end=local(moved + timedelta(hours=1)))
        assert work.put(f"{the_uid}.ics", body).status_code == 201, r.transcript()

        reader = Backend(Eds(r, EDS_STABLE), alice_calendars[0])
        reader.connect()
        created, _, _ = reader.refresh()
        href = next(h for h in created if h.endswith(f"{the_uid}.ics"))
        events = list(icalendar.Calendar.from_ical(reader.cache[href][1]).walk("VEVENT"))
        assert len(events) == 2, r.transcript()
        detached = next(e for e in events if e.get("RECURRENCE-ID"))
        assert detached["DTSTART"].dt.replace(tzinfo=None) == moved, r.transcript()
        assert next(e for e in events if not e.get("RECURRENCE-ID")).get("RRULE"), r.transcript()
        work.delete(next(h for h in work.cache if h.endswith(f"{the_uid}.ics")))


def test_task_with_due_date_and_completion(module_gateway, alice_calendars):
    with Replay(module_gateway, client="evolution", user="alice") as r:
        eds = Eds(r, EDS_STABLE)
        chores = Backend(eds, alice_calendars[2], component="VTODO")
        chores.connect()
        chores.refresh()
        the_uid = uid()
        due = (datetime.now() + timedelta(days=3)).strftime("%Y%m%d")
        stamp = ical_utc(datetime.now(timezone.utc))
        created = chores.put(f"{the_uid}.ics", r.body("task.ics", uid=the_uid, dtstamp=stamp, created=stamp, due=due))
        assert created.status_code == 201, r.transcript()

        # an event into a task list is refused the way EDS reports it (403 precondition)
        event_uid = uid()
        refused = chores.put(f"{event_uid}.ics", event_body(r, event_uid, next_weekday_at(1, 9)))
        assert refused.status_code == 403 and "supported-calendar-component" in refused.text, r.transcript()

        reader = Backend(Eds(r, EDS_STABLE), alice_calendars[2], component="VTODO")
        reader.connect()
        found, _, _ = reader.refresh()
        assert any(h.endswith(f"{the_uid}.ics") for h in found), r.transcript()

        done = chores.put(created.stored_href, r.body("task-completed.ics", uid=the_uid, dtstamp=stamp, created=stamp,
                                                      due=due, completed=ical_utc(datetime.now(timezone.utc))),
                          etag=chores.cache[created.stored_href][0])
        assert done.status_code in (200, 204), r.transcript()
        _, modified, _ = reader.refresh()
        href = next(iter(modified))
        todo = icalendar.Calendar.from_ical(reader.cache[href][1]).walk("VTODO")[0]
        assert str(todo["STATUS"]) == "COMPLETED" and int(todo["PERCENT-COMPLETE"]) == 100, r.transcript()
        assert todo.get("COMPLETED") and todo["DUE"].dt.strftime("%Y%m%d") == due, r.transcript()
        chores.delete(created.stored_href)


def test_webdav_browser_creates_edits_and_deletes_a_calendar(module_gateway, alice_calendars):
    with Replay(module_gateway, client="evolution", user="alice") as r:
        eds = Eds(r, EDS_STABLE)
        home = r.url("/dav/calendars/alice/")
        href = webdav_browser_create(eds, home, "Errands%20List", "Errands List", "#c4a000", 7, "mkcalendar-tasks.xml")

        edited = eds.xml("PROPPATCH", eds.path(href), "proppatch-edit.xml", display_name="Errands", color="#75507b", order="4")
        statuses = [s for _, s, _ in eds.traverse(edited)]
        assert statuses and all(s == 200 for s in statuses), r.transcript()

        found = Discovered()
        list_calendars(eds, home, 0, found)
        mine = [c for c in found.calendars if href_equal(c["href"], href + "/")]
        assert len(mine) == 1, r.transcript()
        assert mine[0]["display_name"] == "Errands" and eds_color(mine[0]["color"]) == "#75507b", r.transcript()
        assert mine[0]["order"] == 4 and mine[0]["supports"] == TASKS, r.transcript()

        # webdav_browser_delete_thread: DELETE with Depth 1 and no If-Match
        deleted = eds.request("DELETE", eds.path(href), headers={"Depth": "1"})
        assert deleted.status_code in (200, 204), r.transcript()
        found = Discovered()
        list_calendars(eds, home, 0, found)
        assert not any(href_equal(c["href"], href + "/") for c in found.calendars), r.transcript()


def meeting_body(r, the_uid, start, summary, agent=""):
    stamp = ical_utc(datetime.now(timezone.utc))
    return r.body("meeting.ics", vtimezone=r.body("vtimezone-berlin.ics").decode(), uid=the_uid, dtstamp=stamp,
                  created=stamp, start=local(start), end=local(start + timedelta(hours=1)), summary=summary, agent=agent)


def default_calendar(eds):
    found = discover(eds, eds.r.url("/"), EVENTS, auto_schedule=False)
    return next(c["href"] for c in found.calendars if c["supports"] & EVENTS and c["display_name"] not in ("Work", "Family & Friends"))


@pytest.mark.skipif(not DIRECTORY, reason="colleagues are reached directly only with a backend directory")
def test_meeting_invitation_and_answer_with_server_side_scheduling(module_gateway, alice_calendars):
    """With calendar-auto-schedule and "Server handles meeting invitations" (set on sources the
    collection account finds with auto-schedule), EDS writes the meeting as it is and the
    server invites; bob's EDS never reads an inbox: it finds the meeting in his calendar."""
    with Replay(module_gateway, client="evolution", user="alice") as ra, \
            Replay(module_gateway, client="evolution", user="bob") as rb:
        alice = Backend(Eds(ra), alice_calendars[0])
        alice.connect()
        assert alice.auto_schedule, ra.transcript()
        bob_eds = Eds(rb)
        bob = Backend(bob_eds, default_calendar(bob_eds))
        bob.connect()
        bob.refresh()

        the_uid = uid()
        sent = alice.put(f"{the_uid}.ics", meeting_body(ra, the_uid, next_weekday_at(6, 13), "Planning"))
        assert sent.status_code == 201, ra.transcript()

        created, _, _ = bob.refresh()
        mine = [h for h in created if the_uid in bob.cache[h][1]]
        assert len(mine) == 1, rb.transcript()
        href = mine[0]
        invitation = icalendar.Calendar.from_ical(bob.cache[href][1])
        attendee = next(a for a in invitation.walk("VEVENT")[0]["ATTENDEE"] if "bob@" in str(a))
        assert attendee.params.get("PARTSTAT") == "NEEDS-ACTION", rb.transcript()

        # Evolution's Accept: the same object with bob's PARTSTAT, written with If-Match
        accepted = bob.cache[href][1].replace("\r\n ", "")
        accepted = re.sub(r"(ATTENDEE;[^\r\n]*?)PARTSTAT=NEEDS-ACTION([^\r\n]*mailto:bob@example\.com)", r"\1PARTSTAT=ACCEPTED\2", accepted)
        assert "PARTSTAT=ACCEPTED" in accepted, rb.transcript()
        answered = bob.put(href, accepted.encode(), etag=bob.cache[href][0])
        assert answered.status_code in (200, 204), rb.transcript()

        _, modified, _ = alice.refresh()
        mine = [h for h in modified if h.endswith(f"{the_uid}.ics")]
        assert mine, ra.transcript()
        organizer_copy = icalendar.Calendar.from_ical(alice.cache[mine[0]][1]).walk("VEVENT")[0]
        bob_there = next(a for a in organizer_copy["ATTENDEE"] if "bob@" in str(a))
        assert bob_there.params.get("PARTSTAT") == "ACCEPTED", ra.transcript()
        alice.delete(mine[0])


def test_client_side_scheduling_sources_send_nothing(module_gateway, alice_calendars):
    """A source without "Server handles meeting invitations" (GNOME Calendar's, which
    gcal-source-discoverer.c creates without it): EDS adds SCHEDULE-AGENT=CLIENT to ORGANIZER
    and ATTENDEE of a new meeting and sends Schedule-Reply: F with a DELETE, so the server
    must invite nobody."""
    with Replay(module_gateway, client="evolution", user="alice") as ra, \
            Replay(module_gateway, client="evolution", user="bob") as rb:
        alice = Backend(Eds(ra), alice_calendars[1])
        alice.connect()
        bob_eds = Eds(rb)
        bob = Backend(bob_eds, default_calendar(bob_eds))
        bob.connect()
        bob.refresh()
        the_uid = uid()
        sent = alice.put(f"{the_uid}.ics", meeting_body(ra, the_uid, next_weekday_at(8, 15), "Private planning", ";SCHEDULE-AGENT=CLIENT"))
        assert sent.status_code == 201, ra.transcript()
        created, _, _ = bob.refresh()
        assert not any(the_uid in bob.cache[h][1] for h in created), rb.transcript()
        assert alice.delete(sent.stored_href, schedule_reply=False).status_code in (200, 204), ra.transcript()


def freebusy_request(r, organizer, attendees, start, end):
    """ecb_caldav_get_free_busy_from_schedule_outbox_sync's VFREEBUSY REQUEST."""
    lines = "".join(f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=CHAIR;PARTSTAT=NEEDS-ACTION;RSVP=FALSE:mailto:{a}\n" for a in attendees)
    body = r.body("freebusy-request.ics", uid=uid(), dtstamp=ical_utc(datetime.now(timezone.utc)),
                  start=ical_utc(start), end=ical_utc(end), organizer=organizer, attendees=lines)
    return body.replace(b"\n", b"\r\n")


def vfreebusy_starts(text):
    """The start of every FREEBUSY period of the VFREEBUSY components in `text` (UTC)."""
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    assert "BEGIN:VFREEBUSY" in unfolded, text
    starts = []
    for line in unfolded.splitlines():
        if line.upper().startswith("FREEBUSY"):
            for period in line.split(":", 1)[1].split(","):
                starts.append(datetime.strptime(period.split("/")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc))
    return starts


def berlin_to_utc(moment):
    return moment.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(timezone.utc)


def test_free_busy_through_the_schedule_outbox(module_gateway, alice_calendars):
    """With scheduling advertised: the owner of the calendar, its schedule-outbox-URL, and a POST
    of a VFREEBUSY REQUEST; EDS keeps every VFREEBUSY of the schedule-response's calendar-data."""
    with Replay(module_gateway, client="evolution", user="alice") as r:
        eds = Eds(r)
        work = Backend(eds, alice_calendars[0])
        work.connect()
        assert work.schedule, r.transcript()
        busy_uid = uid()
        busy_start = next_weekday_at(9, 10)
        assert work.put(f"{busy_uid}.ics", event_body(r, busy_uid, busy_start, "Dentist")).status_code == 201, r.transcript()

        owner_answer = eds.xml("PROPFIND", work.path, "propfind-owner.xml", depth="0")
        _, status, prop = eds.first_propstat(owner_answer)
        owner = prop.find(f"{DAV}owner/{DAV}href") if status == 200 else None
        assert owner is not None and owner.text, r.transcript()
        owner_uri = eds.full_uri(owner_answer, owner.text.strip())
        outbox_answer = eds.xml("PROPFIND", eds.path(owner_uri), "propfind-outbox-url.xml", depth="0")
        outbox = None
        for _, status, prop in eds.traverse(outbox_answer):
            node = prop.find(f"{CALDAV}schedule-outbox-URL/{DAV}href")
            if status == 200 and node is not None:
                outbox = eds.full_uri(outbox_answer, node.text.strip())
        assert outbox, r.transcript()

        start = berlin_to_utc(busy_start).replace(hour=0) - timedelta(days=1)
        attendees = ["alice@example.com"] + (["bob@example.com"] if DIRECTORY else [])
        posted = eds.request("POST", eds.path(outbox), freebusy_request(r, "alice@example.com", attendees, start, start + timedelta(days=3)),
                             ICS_BODY)
        assert posted.status_code == 200, r.transcript()
        root = ET.fromstring(posted.content)
        assert root.tag == CALDAV + "schedule-response", r.transcript()
        freebusy = [resp.findtext(CALDAV + "calendar-data") for resp in root.findall(CALDAV + "response")]
        freebusy = [f for f in freebusy if f and f.strip()]
        assert len(freebusy) == len(attendees), r.transcript()
        assert berlin_to_utc(busy_start) in vfreebusy_starts(freebusy[0]), r.transcript()
        work.delete(next(h for h in work.cache if h.endswith(f"{busy_uid}.ics")))


def test_free_busy_fallback_when_scheduling_is_not_advertised(start_dedicated_gateway):
    """Scheduling off for alice: OPTIONS names neither calendar-schedule nor
    calendar-auto-schedule, so EDS skips the outbox, finds the principal by
    principal-property-search and sends free-busy-query to it, Depth infinity; it takes the
    answer only as text/calendar (ecb_caldav_get_free_busy_from_principal_sync)."""
    gateway = start_dedicated_gateway(GATEWAY__SCHEDULING__DISABLED_USERS='["alice"]')
    with Replay(gateway, client="evolution", user="alice") as r:
        eds = Eds(r)
        found = discover(eds, r.url("/"), EVENTS, auto_schedule=True)
        calendar = next(c for c in found.calendars if c["supports"] & EVENTS)
        assert not calendar["auto_schedule"], r.transcript()
        backend = Backend(eds, calendar["href"])
        backend.connect()
        assert not backend.schedule, r.transcript()
        busy_uid = uid()
        busy_start = next_weekday_at(4, 16)
        assert backend.put(f"{busy_uid}.ics", event_body(r, busy_uid, busy_start, "Gym")).status_code == 201, r.transcript()

        search = eds.xml("REPORT", backend.path, "report-principal-search.xml", depth="0", address="alice@example.com")
        principals = [href for href, status, _ in eds.traverse(search) if status == 200]
        assert len(principals) == 1, f"EDS needs exactly one principal\n{r.transcript()}"

        start = berlin_to_utc(busy_start).replace(hour=0) - timedelta(days=1)
        report = eds.xml("REPORT", eds.path(principals[0]), "report-free-busy-query.xml", depth="infinity",
                         start=ical_utc(start), end=ical_utc(start + timedelta(days=3)))
        assert report.status_code == 200, r.transcript()
        assert report.headers.get("Content-Type", "").split(";")[0].strip().lower() == "text/calendar", r.transcript()
        assert berlin_to_utc(busy_start) in vfreebusy_starts(report.text), r.transcript()
        # the same query on someone else's principal shows nothing of their schedule
        other = eds.xml("REPORT", "/dav/principals/bob/", "report-free-busy-query.xml", depth="infinity",
                        start=ical_utc(start), end=ical_utc(start + timedelta(days=3)))
        assert other.status_code == 403 and "BEGIN:VCALENDAR" not in other.text, r.transcript()
        backend.delete(next(h for h in backend.cache if h.endswith(f"{busy_uid}.ics")))
