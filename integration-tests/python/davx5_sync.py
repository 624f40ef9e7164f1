"""What DAVx5 4.5.19-ose (bitfireAT/davx5-ose) does with dav4jvm: discovery
(`servicedetection/DavResourceFinder.kt`), the collection refresh (`ServiceRefresher`,
`HomeSetRefresher`, `PrincipalsRefresher`), what a listed collection becomes
(`db/Collection.kt`), and one sync of a collection (`sync/SyncManager.kt` with
`CalendarSyncManager`, `TasksSyncManager` for OpenTasks, `JtxSyncManager` for jtx Board).
Used by test_client_davx5.py; sources of each fact in docs/clients/davx5.md.

DAVx5 ignores every listed member that is not MEMBER, needs a `getetag` on each listed member and
on each multiget answer, and keys local objects by the last path segment.
"""

import datetime
from urllib.parse import unquote, urljoin, urlsplit

import icalendar

from davx5_http import CALDAV, CS, DAV, ICAL, argb, etag_of, parse_multistatus, privileges, with_slash

PAST_DAYS = 90  # davx5-ose AccountSettings.DEFAULT_TIME_RANGE_PAST_DAYS
BATCH = 10  # davx5-ose sync/BatchDownloader.kt: multiget batch size


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
