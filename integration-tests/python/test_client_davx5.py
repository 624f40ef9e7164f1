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

What dav4jvm does with an answer is what `Dav4jvm` below checks: a multistatus must be 207
with an XML body; hrefs are resolved against the URL that was asked (after redirects, which
dav4jvm follows itself for every method, at most 5); a collection's href gets a trailing slash
when its resourcetype was returned; a `<response>` is SELF, MEMBER (below the asked URL, by raw
path segments) or OTHER; properties count only from 2xx propstats of a successful response; a
sync report needs `<sync-token>` under `<multistatus>`. DAVx5 ignores every listed member that
is not MEMBER, needs a `getetag` on each listed member and on each multiget answer, and keys
local objects by the last path segment.

DAVx5 itself never reads the schedule inbox, never POSTs to the outbox and asks for no
free-busy: meetings work through the server's implicit scheduling alone
(`test_meeting_through_the_servers_implicit_scheduling`).
"""

import datetime
import re
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urljoin, urlsplit

import icalendar
import pytest

from client_replay import Replay
from conftest import DIRECTORY

# davx5-ose ProductIds.kt: "DAVx5/$versionName (${context.packageName})"; versionName 4.5.19
# (build-logic AppVersion.kt) with the flavour suffix -ose (app-ose/build.gradle.kts), package
# at.bitfire.davdroid. Older releases (4.4.x, okhttp) sent "DAVx5/4.4.3.2-ose (dav4jvm;
# okhttp/4.12.0) Android/14".
USER_AGENT = "DAVx5/4.5.19-ose (at.bitfire.davdroid)"
# network/HttpClientBuilder.kt installPlugins: Accept-Language from the device locale on every
# request; ktor's ContentEncoding() with its default gzip(), deflate(), identity() writes
# "gzip,deflate,identity" (ktorio/ktor ktor-client-encoding common/src/ContentEncoding.kt).
EVERY_REQUEST = {"Accept-Language": "en-US, en;q=0.7, *;q=0.5", "Accept-Encoding": "gzip,deflate,identity"}
# dav4jvm DavResource.acceptXml() (two values, joined with "," by ktor's mergeHeaders,
# ktorio/ktor ktor-client-core engine/Utils.kt) and MIME_XML_UTF8: PROPFIND, PROPPATCH, REPORT, MKCOL.
XML_REQUEST = {"Accept": "application/xml,text/xml", "Content-Type": "application/xml; charset=UTF-8"}
# dav4jvm DavCalendar.MIME_ICALENDAR_UTF8, the Content-Type of every upload (CalendarSyncManager,
# TasksSyncManager, JtxSyncManager generateUpload).
ICALENDAR = "text/calendar;charset=utf-8"
MAX_REDIRECTS = 5  # dav4jvm DavResource.MAX_REDIRECTS
PAST_DAYS = 90  # davx5-ose AccountSettings.DEFAULT_TIME_RANGE_PAST_DAYS
BATCH = 10  # davx5-ose sync/BatchDownloader.kt: multiget batch size

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CS = "{http://calendarserver.org/ns/}"
ICAL = "{http://apple.com/ns/ical/}"
# dav4jvm property/caldav/CalendarColor.kt
COLOR = re.compile(r"#?([0-9A-Fa-f]{6})([0-9A-Fa-f]{2})?")


class DavResponse:
    """One `<response>` as dav4jvm's ResponseParser makes it."""

    def __init__(self, requested, href, status, propstats, relation):
        self.requested = requested
        self.href = href
        self.status = status
        self.propstats = propstats
        self.relation = relation

    def is_success(self):
        return self.status is None or 200 <= self.status < 300

    @property
    def properties(self):
        """Response.properties: from 2xx propstats, and none when the response failed."""
        if not self.is_success():
            return {}
        found = {}
        for status, props in self.propstats:
            if 200 <= status < 300:
                for element in props:
                    found.setdefault(element.tag, element)
        return found

    def get(self, name):
        return self.properties.get(name)

    def text(self, name):
        element = self.get(name)
        return None if element is None else "".join(element.itertext()).strip()

    def hrefs_of(self, name):
        element = self.get(name)
        return [] if element is None else [(h.text or "").strip() for h in element.iter(DAV + "href")]

    def name(self):
        """Response.hrefName(): the last path segment."""
        return unquote(urlsplit(self.href).path.rstrip("/").rsplit("/", 1)[-1])


class Multistatus(list):
    sync_token = None


def raw_segments(url):
    return urlsplit(url).path.split("/")[1:]


def segments_without_slash(url):
    """Url.omitTrailingSlash().rawSegments (ktor: `https://host` and `https://host/` alike)."""
    segments = raw_segments(url)
    return segments[:-1] if segments and segments[-1] == "" else segments


def with_slash(url):
    parts = urlsplit(url)
    return url if parts.path.endswith("/") else parts._replace(path=parts.path + "/").geturl()


def same_origin(a, b):
    a, b = urlsplit(a), urlsplit(b)
    return a.scheme == b.scheme and (a.hostname or "").lower() == (b.hostname or "").lower() and a.port == b.port


def resolve_href(location, href):
    """ResponseParser.resolveHref: a relative href with a colon but no `://` is taken as a path."""
    if not href.startswith("/") and ":" in href and "://" not in href:
        href = "./" + href
    return urljoin(location, href)


def relation_of(location, href):
    """ResponseParser: SELF, MEMBER (same origin, more raw segments, same leading ones) or OTHER."""
    if same_origin(location, href) and segments_without_slash(href) == segments_without_slash(location):
        return "SELF"
    if not same_origin(location, href):
        return "OTHER"
    base = raw_segments(location)
    if base and base[-1] == "":
        base = base[:-1]
    segments = raw_segments(href)
    if len(segments) > len(base) and segments[: len(base)] == base:
        return "MEMBER"
    return "OTHER"


def parse_status(line):
    parts = (line or "").split()
    assert len(parts) >= 2 and parts[1].isdigit(), f"dav4jvm cannot parse the status line {line!r}"
    return int(parts[1])


def parse_multistatus(location, response, transcript):
    """DavResource.processMultiStatus: 207 with an XML body, then each `<response>`."""
    assert response.status_code == 207, f"dav4jvm wants 207 Multi-Status, got {response.status_code}\n{transcript()}"
    content_type = response.headers.get("Content-Type", "")
    assert content_type == "" or "xml" in content_type.split(";")[0] or response.content.startswith(b"<?xml"), (
        f"a non-XML 207 is a DavException in dav4jvm: {content_type}\n{transcript()}"
    )
    root = ET.fromstring(response.content)
    assert root.tag == DAV + "multistatus", transcript()
    result = Multistatus()
    for child in root:
        if child.tag == DAV + "sync-token":
            result.sync_token = (child.text or "").strip()
        if child.tag != DAV + "response":
            continue
        href = child.find(DAV + "href")
        # dav4jvm ignores a response without a resolvable href: the server must give one.
        assert href is not None and (href.text or "").strip(), f"<response> without <href>\n{transcript()}"
        url = resolve_href(location, href.text.strip())
        status = child.find(DAV + "status")
        status = None if status is None else parse_status(status.text)
        propstats = []
        for propstat in child.findall(DAV + "propstat"):
            code = propstat.find(DAV + "status")
            prop = propstat.find(DAV + "prop")
            # PropStatParser: a propstat without status is "assumed OK".
            propstats.append((200 if code is None else parse_status(code.text), [] if prop is None else list(prop)))
        response_entry = DavResponse(location, url, status, propstats, "OTHER")
        resource_type = response_entry.get(DAV + "resourcetype")
        if resource_type is not None and resource_type.find(DAV + "collection") is not None:
            response_entry.href = url = with_slash(url)
        response_entry.relation = relation_of(location, url)
        result.append(response_entry)
    return result


class Dav4jvm:
    """DAVx5's HTTP client: dav4jvm's DavResource methods over one Replay."""

    def __init__(self, replay):
        self.r = replay

    def url(self, path_or_url):
        return self.r.url(path_or_url)

    def send(self, method, url, body=None, headers=None, follow=True):
        """DavResource.followRedirects: 301/302/307/308 are followed (Location resolved against
        the current URL), at most MAX_REDIRECTS; returns (final URL, response)."""
        location = self.url(url)
        for _ in range(MAX_REDIRECTS):
            sent = dict(EVERY_REQUEST)
            sent.update(headers or {})
            response = self.r.request(method, location, body=body, headers=sent)
            if not follow or response.status_code not in (301, 302, 307, 308):
                return location, response
            target = self.url(self.r.follow(response))
            assert not (location.startswith("https:") and target.startswith("http:")), "HTTPS to HTTP redirect"
            location = target
        raise AssertionError(f"dav4jvm gives up after {MAX_REDIRECTS} redirects\n{self.r.transcript()}")

    def propfind(self, url, depth, fixture, **variables):
        location, response = self.send(
            "PROPFIND", url, self.r.body(fixture, **variables), {"Depth": str(depth), **XML_REQUEST}
        )
        return parse_multistatus(location, response, self.r.transcript)

    def propfind_raw(self, url, depth, fixture):
        return self.send("PROPFIND", url, self.r.body(fixture), {"Depth": str(depth), **XML_REQUEST})

    def self_response(self, url, fixture):
        """selfResponse(): the first SELF response of a Depth 0 PROPFIND."""
        found = [entry for entry in self.propfind(url, 0, fixture) if entry.relation == "SELF"]
        assert found, f"no response for the resource itself\n{self.r.transcript()}"
        return found[0]

    def options(self, url):
        """DavResource.options(): Content-Length 0, no compression; DAV header as a list."""
        _, response = self.send("OPTIONS", url, headers={"Content-Length": "0", "Accept-Encoding": "identity"}, follow=False)
        assert 200 <= response.status_code < 300, self.r.transcript()
        return {item.strip() for value in response.headers.get_list("DAV") for item in value.split(",")}

    def report(self, url, fixture, depth=None, **variables):
        headers = dict(XML_REQUEST)
        if depth is not None:
            headers["Depth"] = str(depth)
        location, response = self.send("REPORT", url, self.r.body(fixture, **variables), headers)
        return location, response

    def put(self, url, body, if_match=None, if_schedule_tag=None, if_none_match=False):
        """SyncManager's DavResource.put wrapper (uploadDirty)."""
        headers = {"Content-Type": ICALENDAR}
        if if_match is not None:
            headers["If-Match"] = quoted(if_match)
        if if_schedule_tag is not None:
            headers["If-Schedule-Tag-Match"] = quoted(if_schedule_tag)
        if if_none_match:
            headers["If-None-Match"] = "*"
        _, response = self.send("PUT", url, body, headers)
        return response

    def delete(self, url, if_match=None, if_schedule_tag=None):
        headers = {}
        if if_match is not None:
            headers["If-Match"] = quoted(if_match)
        if if_schedule_tag is not None:
            headers["If-Schedule-Tag-Match"] = quoted(if_schedule_tag)
        _, response = self.send("DELETE", url, headers=headers)
        # dav4jvm delete(): 207 counts as a failure (a member could not be deleted).
        return response

    def mkcalendar(self, url, fixture, **variables):
        _, response = self.send("MKCALENDAR", with_slash(self.url(url)), self.r.body(fixture, **variables), XML_REQUEST)
        return response


def quoted(value):
    """QuotedStringUtils.asQuotedString."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def etag_of(raw):
    """GetETag: without W/ and the quotes."""
    if raw is None:
        return None
    raw = raw.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return raw


def argb(text):
    """CalendarColor.parseARGBColor; None when dav4jvm would log and ignore it."""
    match = COLOR.search(text or "")
    if not match:
        return None
    alpha = int(match.group(2), 16) if match.group(2) else 0xFF
    return (alpha << 24) | int(match.group(1), 16)


def privileges(entry):
    """CurrentUserPrivilegeSet: mayWriteContent / mayBind, all false without the property."""
    element = entry.get(DAV + "current-user-privilege-set")
    if element is None:
        return None
    names = set()
    for privilege in element.findall(DAV + "privilege"):
        names.update(child.tag for child in privilege)
    everything = DAV + "all" in names or DAV + "write" in names
    return {
        "write_content": everything or DAV + "write-content" in names,
        "bind": everything or DAV + "bind" in names,
        "unbind": everything or DAV + "unbind" in names,
    }


def collection_of(entry):
    """Collection.fromDavResponse: only calendars (and webcal subscriptions) become collections."""
    resource_type = entry.get(DAV + "resourcetype")
    if resource_type is None:
        return None
    kinds = {child.tag for child in resource_type}
    if CALDAV + "calendar" in kinds:
        kind = "CALENDAR"
    elif CS + "subscribed" in kinds:
        kind = "WEBCAL"
    else:
        return None
    components = {"VEVENT": True, "VTODO": True, "VJOURNAL": True}
    supported = entry.get(CALDAV + "supported-calendar-component-set")
    if kind == "CALENDAR" and supported is not None:
        components = {"VEVENT": False, "VTODO": False, "VJOURNAL": False}
        if supported.find(CALDAV + "allcomp") is not None:
            components = dict.fromkeys(components, True)
        for comp in supported.findall(CALDAV + "comp"):
            name = (comp.get("name") or "").upper()
            if name in components:
                components[name] = True
    granted = privileges(entry)
    return {
        "url": with_slash(entry.href),
        "type": kind,
        "displayname": entry.text(DAV + "displayname") or None,
        "description": entry.text(CALDAV + "calendar-description"),
        "color": argb(entry.text(ICAL + "calendar-color")),
        "timezone_id": entry.text(CALDAV + "calendar-timezone-id"),
        "components": components,
        "read_only": granted is not None and not granted["write_content"],
        "owner": entry.hrefs_of(DAV + "owner"),
    }


class Account:
    """What DAVx5 keeps of one account: principal, home sets, collections and sync states."""

    def __init__(self, dav, principal):
        self.dav = dav
        self.principal = principal
        self.home_sets = []
        self.collections = {}
        self.home_may_bind = True
        self.sync_state = {}
        self.local = {}  # collection URL -> {file name: (etag, schedule-tag, iCalendar)}


def find_principal(dav, base_url):
    """DavResourceFinder for CalDAV from the URL the user typed: checkBaseURL, then the
    /.well-known URL only when that gave no principal; each principal must answer OPTIONS with
    calendar-access (providesService)."""
    principal = None
    for entry in dav.propfind(base_url, 0, "propfind-base-url-caldav.xml"):
        found = entry.hrefs_of(DAV + "current-user-principal")
        if found:
            candidate = urljoin(entry.requested, found[0])
            if "calendar-access" in dav.options(candidate):
                principal = candidate
    if principal is None:
        for entry in dav.propfind(urljoin(dav.url(base_url), "/.well-known/caldav"), 0, "propfind-current-user-principal.xml"):
            found = entry.hrefs_of(DAV + "current-user-principal")
            if found and "calendar-access" in dav.options(urljoin(entry.requested, found[0])):
                principal = urljoin(entry.requested, found[0])
    return principal


def email_addresses(dav, principal):
    """queryEmailAddress: the mailto: hrefs of calendar-user-address-set, in order."""
    addresses = []
    for entry in dav.propfind(principal, 0, "propfind-calendar-user-address-set.xml"):
        for href in entry.hrefs_of(CALDAV + "calendar-user-address-set"):
            if href.lower().startswith("mailto:"):
                addresses.append(unquote(href[len("mailto:"):]))
    return addresses


def refresh_collections(account):
    """RefreshCollectionsWorker: ServiceRefresher.discoverHomesets, HomeSetRefresher,
    PrincipalsRefresher."""
    dav = account.dav
    account.home_sets = []
    for entry in dav.propfind(account.principal, 0, "propfind-principal-home-sets.xml"):
        for href in entry.hrefs_of(CALDAV + "calendar-home-set"):
            home = with_slash(urljoin(account.principal, href))
            if home not in account.home_sets:
                account.home_sets.append(home)
        # Group memberships and proxies would be queried as further principals (level 1).
        assert not entry.hrefs_of(DAV + "group-membership"), "the gateway has no groups yet"
    assert account.home_sets, f"no calendar-home-set on the principal\n{dav.r.transcript()}"
    account.collections = {}
    owners = set()
    for home in account.home_sets:
        for entry in dav.propfind(home, 1, "propfind-home-collections.xml"):
            if not entry.is_success():
                continue
            if entry.relation == "SELF":
                granted = privileges(entry)
                account.home_may_bind = granted is None or granted["bind"]
            collection = collection_of(entry)
            if collection is None:
                continue
            account.collections[collection["url"]] = collection
            owners.update(urljoin(entry.href, owner) for owner in collection["owner"])
    for owner in owners:
        for entry in dav.propfind(owner, 0, "propfind-principal-displayname.xml"):
            if entry.is_success():
                resource_type = entry.get(DAV + "resourcetype")
                assert resource_type is not None and resource_type.find(DAV + "principal") is not None, (
                    f"a collection owner that is no principal\n{dav.r.transcript()}"
                )
    return account.collections


def sync_state(entry):
    """SyncManager.syncState: sync-token first, else getctag."""
    token = entry.text(DAV + "sync-token")
    if token:
        return ("SYNC_TOKEN", token)
    ctag = entry.text(CS + "getctag")
    return ("CTAG", ctag) if ctag else None


def utc(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def local_time(moment):
    return moment.strftime("%Y%m%dT%H%M%S")


class Syncer:
    """SyncManager.performSync for one collection, as CalendarSyncManager (events),
    TasksSyncManager (OpenTasks) or JtxSyncManager (jtx Board) run it."""

    def __init__(self, account, url, kind="events", past_days=PAST_DAYS):
        self.account = account
        self.dav = account.dav
        self.url = url
        self.kind = kind
        self.past_days = past_days
        self.local = account.local.setdefault(url, {})
        self.has_collection_sync = False
        self.downloaded = []
        self.removed = []
        self.queue = []

    def query_capabilities(self):
        fixture = {
            "events": "propfind-calendar-capabilities.xml",
            "tasks": "propfind-tasks-capabilities.xml",
            "jtx": "propfind-jtx-capabilities.xml",
        }[self.kind]
        entry = self.dav.self_response(self.url, fixture)
        if self.kind == "events":
            reports = entry.get(DAV + "supported-report-set")
            names = set()
            if reports is not None:
                for report in reports.iter(DAV + "report"):
                    names.update(child.tag for child in report)
            self.has_collection_sync = DAV + "sync-collection" in names
        return sync_state(entry)

    def algorithm(self):
        if self.kind == "events" and self.past_days is None and self.has_collection_sync:
            return "COLLECTION_SYNC"
        return "PROPFIND_REPORT"

    def sync(self, uploaded=False):
        """One sync; returns whether anything was listed (False: "no reason to sync")."""
        self.downloaded, self.removed = [], []
        remote_state = self.query_capabilities()
        known = self.account.sync_state.get(self.url)
        if not uploaded and remote_state is not None and known == remote_state:
            return False
        if self.algorithm() == "PROPFIND_REPORT":
            if uploaded:
                remote_state = sync_state(self.dav.self_response(self.url, "propfind-sync-state.xml"))
            present = set()
            for entry in self.list_all():
                present.add(entry.name())
                self.compare(entry)
            self.flush()
            for name in [n for n in self.local if n not in present]:
                self.removed.append(name)
                del self.local[name]
            self.account.sync_state[self.url] = remote_state
        else:
            token = known[1] if known and known[0] == "SYNC_TOKEN" else None
            for _ in range(10):  # furtherResults loop, bounded
                token, further = self.list_changes(token)
                self.account.sync_state[self.url] = ("SYNC_TOKEN", token)
                if not further:
                    break
        return True

    def list_all(self):
        queries = {
            "events": [("calendar-query-vevent-since.xml", {"start": self.since()})],
            "tasks": [("calendar-query-vtodo.xml", {})],
            "jtx": [("calendar-query-vtodo.xml", {}), ("calendar-query-vjournal.xml", {})],
        }[self.kind]
        collection = self.account.collections.get(self.url)
        listed = []
        for fixture, variables in queries:
            if collection and self.kind == "jtx":
                component = "VTODO" if "vtodo" in fixture else "VJOURNAL"
                if not collection["components"][component]:
                    continue
            location, response = self.dav.report(self.url, fixture, depth=1, **variables)
            for entry in parse_multistatus(location, response, self.dav.r.transcript):
                if self.is_member_object(entry) and entry.is_success():
                    listed.append(entry)
        return listed

    def since(self):
        if self.past_days is None:
            raise AssertionError("no time range without a limit")
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=self.past_days)
        return utc(start)

    def list_changes(self, token):
        """listRemoteChanges: sync-collection; 507 on the collection's own response means more."""
        if token is None:
            location, response = self.dav.report(self.url, "sync-collection-initial.xml", depth=0)
        else:
            location, response = self.dav.report(self.url, "sync-collection.xml", depth=0, token=xml_text(token))
        result = parse_multistatus(location, response, self.dav.r.transcript)
        further = False
        for entry in result:
            if entry.relation == "SELF":
                further = entry.status == 507
            elif self.is_member_object(entry):
                if entry.is_success():
                    self.compare(entry)
                elif entry.status == 404:
                    name = entry.name()
                    if name in self.local:
                        del self.local[name]
                        self.removed.append(name)
        self.flush()
        assert result.sync_token, f"sync-collection answer without sync-token\n{self.dav.r.transcript()}"
        return result.sync_token, further

    def is_member_object(self, entry):
        if entry.relation != "MEMBER":
            return False
        resource_type = entry.get(DAV + "resourcetype")
        return resource_type is None or resource_type.find(DAV + "collection") is None

    def compare(self, entry):
        """syncRemote: unknown or changed ETag -> download; a listed member needs an ETag."""
        name = entry.name()
        if name not in self.local:
            self.queue.append(entry.href)
            return
        remote = etag_of(entry.text(DAV + "getetag"))
        assert remote, f"DavException 'Server didn't provide ETag' for {entry.href}\n{self.dav.r.transcript()}"
        if remote != self.local[name][0]:
            self.queue.append(entry.href)

    def flush(self):
        for start in range(0, len(self.queue), BATCH):
            self.multiget(self.queue[start : start + BATCH])
        self.queue = []

    def multiget(self, urls):
        """downloadRemote: calendar-multiget with each URL's encoded path."""
        hrefs = "".join(f"<href>{xml_text(urlsplit(url).path)}</href>" for url in urls)
        location, response = self.dav.report(self.url, "calendar-multiget.xml", hrefs=hrefs)
        for entry in parse_multistatus(location, response, self.dav.r.transcript):
            if not entry.is_success():
                continue
            data = entry.text(CALDAV + "calendar-data")
            if data is None:
                continue
            etag = etag_of(entry.text(DAV + "getetag"))
            assert etag, f"DavException 'Received multi-get response without ETag'\n{self.dav.r.transcript()}"
            calendar = icalendar.Calendar.from_ical(data)
            uids = {str(c.get("UID")) for c in calendar.walk() if c.name in ("VEVENT", "VTODO", "VJOURNAL")}
            # processICalendar: anything but exactly one UID is ignored.
            assert len(uids) == 1, f"not exactly one UID in {entry.href}: {uids}"
            schedule_tag = etag_of(entry.text(CALDAV + "schedule-tag"))
            name = urlsplit(entry.href).path.rsplit("/", 1)[-1]
            self.local[unquote(name)] = (etag, schedule_tag, data)
            self.downloaded.append(unquote(name))

    # -- uploads (uploadDirty / processLocallyDeleted) --

    def object_url(self, name):
        return self.url + name

    def upload_new(self, name, body):
        response = self.dav.put(self.object_url(name), body, if_none_match=True)
        assert response.status_code in (200, 201, 204), self.dav.r.transcript()
        self.remember_upload(name, response, body)
        return response

    def upload_change(self, name, body):
        etag, schedule_tag, _ = self.local[name]
        if schedule_tag is not None:
            response = self.dav.put(self.object_url(name), body, if_schedule_tag=schedule_tag)
        else:
            response = self.dav.put(self.object_url(name), body, if_match=etag)
        if 200 <= response.status_code < 300:
            self.remember_upload(name, response, body)
        return response

    def remember_upload(self, name, response, body):
        """onSuccessfulUpload: the ETag and Schedule-Tag response headers, None when absent."""
        etag = etag_of(response.headers.get("ETag"))
        schedule_tag = etag_of(response.headers.get("Schedule-Tag"))
        self.local[name] = (etag, schedule_tag, body.decode() if isinstance(body, bytes) else body)

    def delete(self, name):
        etag, schedule_tag, _ = self.local[name]
        response = self.dav.delete(
            self.object_url(name), if_match=None if schedule_tag else etag, if_schedule_tag=schedule_tag
        )
        del self.local[name]
        return response


def xml_text(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
