"""What Thunderbird's CalDAV provider does with the gateway's answers, step by step, so the
replay in test_client_thunderbird.py reads each answer the way Thunderbird reads it.

Source: comm-central (github mozilla/releases-comm-central, master at cf9726f, 156.0a1; the
request bodies and headers are unchanged since the 128 ESR branch point 905e5f5960^):
  calendar/providers/caldav/CalDavProvider.sys.mjs          detection (CalDavDetector)
  calendar/providers/ics/CalICSProvider.sys.mjs             the ICS detector run beside it
  calendar/providers/caldav/CalDavCalendar.sys.mjs          one subscribed calendar
  calendar/providers/caldav/modules/CalDavRequest.sys.mjs   requests, PropfindResponse decorators
  calendar/providers/caldav/modules/CalDavRequestHandlers.sys.mjs  sync and multiget parsing
  calendar/base/modules/utils/calProviderUtils.sys.mjs      prepHttpChannel (Accept headers)
Function names below are Thunderbird's, so each step can be found there. The request bodies
are the fixtures in clients/thunderbird/ (which file comes from where: test module docstring).
"""

import re
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote, urljoin, urlsplit

# The Gecko user agent of Thunderbird (MDN "Gecko user agent string reference": platform; rv;
# Gecko/20100101; appname/appversion); 128.3.1 is the version of the public request log in
# github.com/Purelymail/purelymail-issues/issues/250. Lightning's token went in 78 (tine20#7198).
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.1"
# calProviderUtils.prepHttpChannel sets Accept and Accept-Charset on every channel; necko adds
# Accept-Language (recorded in github.com/mguessan/davmail/issues/107 and #375).
BASE_HEADERS = {"Accept": "text/xml", "Accept-Charset": "utf-8,*;q=0.1", "Accept-Language": "en-US,en;q=0.5"}
# What Gecko adds to each of those channels, as in the Thunderbird 128 PROPFIND recorded in
# davmail#375: Pragma and Cache-Control for prepHttpChannel's LOAD_BYPASS_CACHE, the fetch
# metadata headers, and Origin (the server's own) on everything but GET and HEAD.
GECKO_HEADERS = {
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "no-cors",
    "Sec-Fetch-Site": "same-origin",
    "Priority": "u=4",
    "Pragma": "no-cache",
    "Cache-Control": "no-cache",
}
MIME_TEXT_XML = "text/xml; charset=utf-8"
MIME_TEXT_CALENDAR = "text/calendar; charset=utf-8"
# CalDavUtils.CalDavNsUnresolver: the prefixes Thunderbird names properties with.
PREFIXES = {"DAV:": "D", "urn:ietf:params:xml:ns:caldav": "C", "http://apple.com/ns/ical/": "A", "http://calendarserver.org/ns/": "CS"}
# CalDavCalendar.FORBIDDEN_PATH_CHARACTERS: a new item is PUT as <id with these replaced>.ics
FORBIDDEN_PATH_CHARACTERS = re.compile(r"[^a-zA-Z0-9_\-\.]")
WRITE_PRIVILEGES = {"D:write", "D:write-content", "D:bind", "D:all"}


def headers_for(replay, method, extra=None):
    """The headers of one Thunderbird request: `extra` on top of what every channel has."""
    sent = dict(BASE_HEADERS, **GECKO_HEADERS)
    if method not in ("GET", "HEAD"):
        sent["Origin"] = replay.origin
    sent.update(extra or {})
    return sent


def local(tag):
    return tag.rsplit("}", 1)[-1]


def qname(element):
    namespace = element.tag[1:].split("}", 1)[0] if element.tag.startswith("{") else ""
    return f"{PREFIXES.get(namespace, namespace)}:{local(element.tag)}"


def encode_uri_component(segment):
    """JavaScript's encodeURIComponent."""
    return quote(segment, safe="-_.!~*'()")


def ensure_decoded_path(text):
    """CalDavCalendar.ensureDecodedPath: the path of a URL or path, each segment decoded."""
    if not text.startswith("/"):
        match = re.match(r"(https?)(://[^/]*)([^#?]*)", text)
        text = match.group(3) if match and match.group(3) else text
    return "/".join(unquote(segment) for segment in text.split("/"))


def ensure_encoded_path(text):
    """CalDavCalendar.ensureEncodedPath: each segment through encodeURIComponent."""
    if not text.startswith("/"):
        text = ensure_decoded_path(text)
    return "/".join(encode_uri_component(segment) for segment in text.split("/"))


class PropfindResponse:
    """CalDavRequest.PropfindResponse: `ok` is 207 with parseable XML; `data` maps each
    response's href (its text, untrimmed) to its properties with the decorators applied."""

    def __init__(self, response):
        self.status = response.status_code
        self.url = str(response.request.url)
        self.xml = None
        if self.status == 207:
            try:
                self.xml = ET.fromstring(response.content)
            except ET.ParseError:
                self.xml = None

    @property
    def ok(self):
        return self.status == 207 and self.xml is not None

    @property
    def data(self):
        data = {}
        for response in [c for c in self.xml if local(c.tag) == "response"]:
            href = next(c for c in response if local(c.tag) == "href").text or ""
            props = data.setdefault(href, {})
            for propstat in [c for c in response if local(c.tag) == "propstat"]:
                status = next((c.text or "" for c in propstat if local(c.tag) == "status"), "")
                for prop in [c for c in propstat if local(c.tag) == "prop"]:
                    for element in prop:
                        props[qname(element)] = decorate(element, status)
        return data

    @property
    def first_props(self):
        return next(iter(self.data.values()), None)


def _hrefs(element):
    return [(h.text or "").strip() for h in element if local(h.tag) == "href"]


def decorate(element, status):
    """PropfindResponse.decorators, else the trimmed text (None when empty)."""
    name = qname(element)
    if name in ("D:principal-collection-set", "C:calendar-home-set", "C:calendar-user-address-set"):
        return _hrefs(element)
    if name in ("D:current-user-principal", "D:owner"):
        found = _hrefs(element)
        return found[0] if found else None
    if name == "D:current-user-privilege-set":
        if "404" in status:
            return None
        return {qname(p) for privilege in element if local(privilege.tag) == "privilege" for p in privilege}
    if name == "D:supported-report-set":
        return {
            qname(r)
            for supported in element if local(supported.tag) == "supported-report"
            for report in supported if local(report.tag) == "report"
            for r in report
        }
    if name == "D:resourcetype":
        return {qname(child) for child in element}
    if name == "C:supported-calendar-component-set":
        return {comp.get("name") for comp in element if local(comp.tag) == "comp"}
    if name in ("C:schedule-inbox-URL", "C:schedule-outbox-URL"):
        found = _hrefs(element)
        return found[0] if found else ("".join(element.itertext()).strip() or None)
    return "".join(element.itertext()).strip() or None


def leaf_responses(xml):
    """The responses of a multistatus as the SAX-style handlers of CalDavRequestHandlers see
    them: each leaf element by local name (`status` inside a propstat is `propstat_status`),
    namespaces ignored; the multistatus-level sync-token apart."""
    responses = []
    sync_token = None
    for child in xml:
        if local(child.tag) == "sync-token":
            sync_token = child.text or ""
        if local(child.tag) != "response":
            continue
        values = {"is_collection": False}

        def walk(element, in_propstat):
            name = local(element.tag)
            if name == "collection":
                values["is_collection"] = True
            in_propstat = in_propstat or name == "propstat"
            children = list(element)
            if not children:
                key = "propstat_status" if (name == "status" and in_propstat) else name
                values[key] = "".join(element.itertext())
            for c in children:
                walk(c, in_propstat)

        for c in child:
            walk(c, False)
        responses.append(values)
    return responses, sync_token


class ThunderbirdCalendar:
    """One calendar as Thunderbird subscribes it: a URL, and what it learns from it alone."""

    def __init__(self, replay, url):
        self.r = replay
        self.uri = url if url.endswith("/") else url + "/"  # calendarUri
        self.href_index = {}  # mHrefIndex: decoded path -> item id (UID)
        self.item_info = {}  # mItemInfoCache: id -> {etag, location_path}
        self.items = {}  # the offline storage: id -> calendar-data text
        self.sync_token = None  # mWebdavSyncToken
        self.has_webdav_sync = False
        self.ctag = None
        self.supported_item_types = ["VEVENT", "VTODO"]
        self.read_only = False
        self.principal_url = None
        self.has_auto_scheduling = False
        self.inbox_url = None
        self.outbox_url = None
        self.calendar_user_addresses = []
        self.cal_home_set = None

    # --- paths ---------------------------------------------------------------------------
    @property
    def path(self):
        return urlsplit(self.uri).path

    @property
    def location_path(self):  # mLocationPath
        return ensure_decoded_path(self.path)

    def make_uri(self, insert="", base=None):
        base = base or self.uri
        parts = urlsplit(base)
        decoded = ensure_decoded_path(parts.path + insert)
        return f"{parts.scheme}://{parts.netloc}{ensure_encoded_path(decoded)}"

    def set_cal_home_set(self, remove_last_path_segment):
        """setCalHomeSet, chop included: a trailing slash takes one more character with it."""
        if remove_last_path_segment:
            base = self.uri.split("?")[0]
            if base.endswith("/"):
                base = base[: len(base) - 2]
            self.cal_home_set = "/".join(base.split("/")[:-1]) + "/"
        else:
            self.cal_home_set = self.uri

    def request(self, method, url, body=None, headers=None):
        return self.r.request(method, url, body=body, headers=headers_for(self.r, method, headers))

    def propfind(self, url, fixture, depth="0"):
        return self.request("PROPFIND", url, self.r.body(fixture), {"Depth": depth, "Content-Type": MIME_TEXT_XML})

    # --- checkDavResourceType -> checkServerCaps -> findPrincipalNS ----------------------
    def check_server_info(self):
        """replayChangesOn before the first refresh: every request Thunderbird makes for a
        newly subscribed (or restarted) calendar, with what it concludes from each answer."""
        answer = PropfindResponse(self.propfind(self.make_uri(), "propfind-check-resource-type.xml"))
        assert answer.ok, f"initial PROPFIND: {answer.status}\n{self.r.transcript()}"
        props = answer.first_props
        self.has_webdav_sync = "D:sync-collection" in (props.get("D:supported-report-set") or set())
        self.ctag = props.get("CS:getctag")
        components = props.get("C:supported-calendar-component-set")
        if components:
            self.supported_item_types = [t for t in ["VEVENT", "VTODO"] if t in components]
        self.principal_url = props.get("D:current-user-principal") or props.get("D:owner")
        resource_type = props.get("D:resourcetype") or set()
        assert "C:calendar" in resource_type, f"not a calendar for Thunderbird: {resource_type}\n{self.r.transcript()}"
        privileges = props.get("D:current-user-privilege-set")
        if isinstance(privileges, set):
            self.read_only = not (WRITE_PRIVILEGES & privileges)
        self.set_cal_home_set(True)
        self.check_server_caps()
        return props

    def check_server_caps(self, retry=False):
        response = self.request("OPTIONS", self.make_uri(base=self.cal_home_set))
        if not 200 <= response.status_code < 300:
            assert not retry and response.status_code == 404, f"OPTIONS {response.status_code}\n{self.r.transcript()}"
            self.set_cal_home_set(False)
            return self.check_server_caps(retry=True)
        # DAVHeaderResponse.features drops the first token, taken to be the DAV version.
        features = set(re.split(r",\s*", response.headers.get("DAV", ""))[1:])
        self.has_auto_scheduling = "calendar-auto-schedule" in features
        if self.has_auto_scheduling or "calendar-schedule" in features:
            self.find_principal_ns()

    def find_principal_ns(self):
        assert self.principal_url, f"no principal from the calendar: Thunderbird would search principals\n{self.r.transcript()}"
        # checkPrincipalsNameSpace: a trailing slash added, the calendar's origin prefixed.
        namespace = re.sub(r"([^/])$", r"\1/", self.principal_url)
        parts = urlsplit(self.uri)
        url = f"{parts.scheme}://{parts.netloc}{ensure_encoded_path(namespace)}"
        answer = PropfindResponse(self.propfind(url, "propfind-principal-namespace.xml"))
        assert answer.ok, f"principal PROPFIND {answer.status}\n{self.r.transcript()}"
        props = answer.first_props
        # Thunderbird 128 iterates calendar-home-set and calendar-user-address-set without a
        # check: a missing one is a TypeError that leaves the calendar half set up.
        home_sets = props.get("C:calendar-home-set")
        assert home_sets is not None, f"principal without calendar-home-set\n{self.r.transcript()}"
        assert props.get("C:calendar-user-address-set") is not None, self.r.transcript()
        home_path = urlsplit(self.cal_home_set).path

        def home_set_matches(home_set):
            normalized = re.sub(r"([^/])$", r"\1/", home_set)
            return normalized in (home_path, self.cal_home_set)

        if len(home_sets) == 1 or any(home_set_matches(h) for h in home_sets):
            addresses = [a.lower() for a in props["C:calendar-user-address-set"] if a.lower().startswith("mailto:")]
            self.calendar_user_addresses = list(dict.fromkeys(addresses))
            self.inbox_url = self._box_url(props.get("C:schedule-inbox-URL"))
            self.outbox_url = self._box_url(props.get("C:schedule-outbox-URL"))

    def _box_url(self, path):
        if not path:
            return None
        path = ensure_decoded_path(path)
        if not path.endswith("/"):
            path += "/"
        parts = urlsplit(self.uri)
        return f"{parts.scheme}://{parts.netloc}{path}"

    # --- refresh: sync-collection, then calendar-multiget -------------------------------
    def refresh(self, may_fail=False):
        """safeRefresh with WebDAV sync (the gateway advertises it): CalDavWebDavSyncHandler,
        then CalDavMultigetSyncHandler for what changed. Returns the hrefs fetched; an answer
        other than 207 is returned only with `may_fail` (Thunderbird would drop its token and
        download the whole calendar again, onStopRequest), else it fails the test."""
        assert self.has_webdav_sync, "without sync-collection Thunderbird would poll getctag"
        token = "<sync-token/>"
        if self.sync_token:
            token = f"<sync-token>{xml_escape(self.sync_token)}</sync-token>"
        response = self.request(
            "REPORT", self.make_uri(), self.r.body("report-sync-collection.xml", sync_token=token),
            {"Depth": "1", "Content-Type": MIME_TEXT_XML},
        )
        if response.status_code != 207:
            assert may_fail, f"sync-collection answered {response.status_code}\n{self.r.transcript()}"
            return response
        responses, new_token = leaf_responses(ET.fromstring(response.content))
        reported, need_fetching, unhandled, additional = set(), [], [], False
        for resp in responses:
            href = ensure_decoded_path(resp["href"]) if resp.get("href") else None
            content_type = resp.get("getcontenttype")
            status = resp.get("status")
            if (not content_type or content_type == "text/plain") and href and href.endswith(".ics"):
                content_type = "text/calendar"
            if href and status and status.find(" 404") > 0:
                self._delete_target(href)
            elif content_type and content_type.startswith("text/calendar") and resp.get("getetag") and href:
                reported.add(href)
                item_id = self.href_index.get(href)
                if not item_id or self.item_info[item_id]["etag"] != resp["getetag"]:
                    need_fetching.append(href)
            elif status and " 507" in status:
                additional = True
            elif status and href and href.endswith("/"):
                pass  # a collection's own 200 response (iCloud) is ignored
            elif (content_type and content_type.startswith("text/calendar")) or (status and " 404" not in status):
                unhandled.append(resp)
        assert not unhandled, f"Thunderbird counts these as errors and disables the calendar: {unhandled}\n{self.r.transcript()}"
        if self.sync_token is None and not additional:
            for path in [p for p in self.href_index if p not in reported]:
                self._delete_target(path)
        if need_fetching:
            self.multiget(need_fetching)
        assert new_token, f"sync-collection answer without a sync-token\n{self.r.transcript()}"
        self.sync_token = new_token
        if additional:
            return self.refresh(may_fail)
        return need_fetching

    def multiget(self, paths):
        """CalDavMultigetSyncHandler.doMultiGet: the hrefs re-encoded segment by segment,
        Depth 1, to the calendar; each answer needs href, getetag and calendar-data."""
        hrefs = "".join(f"<D:href>{xml_escape(ensure_encoded_path(p))}</D:href>" for p in reversed(paths))
        response = self.request(
            "REPORT", self.make_uri(), self.r.body("report-calendar-multiget.xml", hrefs=hrefs),
            {"Depth": "1", "Content-Type": MIME_TEXT_XML},
        )
        assert response.status_code == 207, f"multiget {response.status_code}\n{self.r.transcript()}"
        responses, _ = leaf_responses(ET.fromstring(response.content))
        got = set()
        for resp in responses:
            href = ensure_decoded_path(resp["href"]) if resp.get("href") else None
            status = resp.get("status")
            if href and status and status.find(" 404") > 0:
                self._delete_target(href)
                continue
            assert resp.get("getetag") and href and resp.get("calendar-data"), (
                f"multiget answer Thunderbird cannot use: {resp}\n{self.r.transcript()}"
            )
            self._add_target(href, resp["calendar-data"], resp["getetag"])
            got.add(href)
        missing = {ensure_decoded_path(ensure_encoded_path(p)) for p in paths} - got
        assert not missing, f"asked for {missing} and got nothing usable for them\n{self.r.transcript()}"
        return responses

    def _add_target(self, path, calendar_data, etag):
        """addTargetCalendarItem: the item's id is its UID, its location the href with as many
        leading segments stripped as the calendar URL has."""
        uid = re.search(r"^UID:(.*)$", unfold(calendar_data), re.M)
        assert uid, f"no UID in {calendar_data!r}"
        item_id = uid.group(1).strip()
        components = len(re.sub(r"/{2,}", "/", self.path).split("/"))
        location = "/".join(path.split("/")[components - 1:])
        self.href_index[path] = item_id
        self.item_info[item_id] = {"etag": etag, "location_path": location}
        self.items[item_id] = calendar_data

    def _delete_target(self, path):
        item_id = self.href_index.pop(path, None)
        if item_id:
            self.item_info.pop(item_id, None)
            self.items.pop(item_id, None)

    # --- writes ----------------------------------------------------------------------------
    def item_location(self, item_id):
        """getItemLocationPath: the cached location, else <id>.ics with unsafe characters as _."""
        info = self.item_info.get(item_id)
        if info and info.get("location_path"):
            return info["location_path"]
        return FORBIDDEN_PATH_CHARACTERS.sub("_", item_id) + ".ics"

    def add_item(self, item_id, ics):
        """doAdoptItem: PUT with If-None-Match: *, then getUpdatedItem (a one-href multiget)."""
        url = self.make_uri(self.item_location(item_id))
        response = self.request("PUT", url, ics, {"Content-Type": MIME_TEXT_CALENDAR, "If-None-Match": "*"})
        if response.status_code in (200, 201, 204):  # ItemResponse.ok
            self.item_info[item_id] = {"etag": None, "location_path": self.item_location(item_id)}
            self.multiget([ensure_decoded_path(urlsplit(url).path)])
        return response

    def modify_item(self, item_id, ics):
        """doModifyItem: PUT to the cached location with If-Match: the cached etag."""
        info = self.item_info[item_id]
        url = self.make_uri(info["location_path"])
        response = self.request("PUT", url, ics, {"Content-Type": MIME_TEXT_CALENDAR, "If-Match": info["etag"]})
        if response.status_code in (200, 201, 204):
            self.multiget([ensure_decoded_path(urlsplit(url).path)])
        return response

    def delete_item(self, item_id):
        """doDeleteItem: DELETE with If-Match; 200, 204 and 404 are success, 409/412 a
        conflict Thunderbird checks with HEAD."""
        info = self.item_info[item_id]
        url = self.make_uri(info["location_path"])
        response = self.request("DELETE", url, headers={"If-Match": info["etag"]})
        if response.status_code in (200, 204, 404):
            self._delete_target(ensure_decoded_path(urlsplit(url).path))
        return response


def xml_escape(text):
    """cal.xml.escapeString."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&apos;")


def unfold(text):
    return re.sub(r"\r?\n[ \t]", "", text)


class CalDavDetector:
    """CalDavProvider.CalDavDetector: what the new-calendar dialog ("On the Network") does
    with a user name, password and location. Returns the calendars the dialog lists, each as
    {"url", "name", "color", "read_only"}."""

    def __init__(self, replay):
        self.r = replay

    def propfind(self, url, fixture, depth="0"):
        """A PROPFIND, following redirects as necko does for Thunderbird: same method, body
        and Depth (CalDavRequestBase.asyncOnChannelRedirect)."""
        headers = headers_for(self.r, "PROPFIND", {"Depth": depth, "Content-Type": MIME_TEXT_XML})
        for _ in range(5):
            response = self.r.request("PROPFIND", url, body=self.r.body(fixture), headers=headers)
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            url = self.r.follow(response)
        raise AssertionError(f"redirect loop\n{self.r.transcript()}")

    def detect_collection(self, url):
        answer = PropfindResponse(self.propfind(url, "propfind-detect-collection.xml"))
        if not answer.ok:
            return None
        props = answer.first_props
        # `resprops["D:resourcetype"].has(...)`: a response without it is a TypeError.
        assert "D:resourcetype" in props, f"first response without resourcetype\n{self.r.transcript()}"
        if "C:calendar" in props["D:resourcetype"]:
            return [self.handle_calendar(answer.url, props)]
        if props.get("C:calendar-home-set"):
            return self.handle_home_set(urljoin(answer.url, props["C:calendar-home-set"][0]))
        if props.get("D:current-user-principal"):
            return self.handle_principal(urljoin(answer.url, props["D:current-user-principal"]))
        if props.get("D:owner"):
            return self.handle_principal(urljoin(answer.url, props["D:owner"]))
        return None

    def handle_principal(self, url):
        answer = PropfindResponse(self.propfind(url, "propfind-principal-home-set.xml"))
        home_sets = answer.first_props.get("C:calendar-home-set") if answer.ok else None
        if not home_sets:
            return None
        calendars = []
        for home_set in home_sets:
            calendars += self.handle_home_set(urljoin(answer.url, home_set)) or []
        return calendars or None

    def handle_home_set(self, url):
        answer = PropfindResponse(self.propfind(url, "propfind-home-set.xml", depth="1"))
        assert answer.ok, f"home listing {answer.status}\n{self.r.transcript()}"
        calendars = []
        for href, props in answer.data.items():
            # `resprops["D:resourcetype"].has("C:calendar")` for every response, inbox and
            # outbox included: one without resourcetype ends the detection in a TypeError.
            assert "D:resourcetype" in props, f"{href} listed without resourcetype\n{self.r.transcript()}"
            if "C:calendar" in props["D:resourcetype"]:
                calendars.append(self.handle_calendar(urljoin(answer.url, href.strip()), props))
        return calendars or None

    def handle_calendar(self, url, props):
        name = props.get("D:displayname")
        if not name:
            name = [s for s in unquote(url).split("/") if s][-1]
        color = props.get("A:calendar-color")
        if color:
            # "Some servers provide colors as an 8-character hex string. Strip the alpha."
            color = re.sub(r"^(#[0-9A-Fa-f]{6})[0-9A-Fa-f]{2}$", r"\1", color)
        privileges = props.get("D:current-user-privilege-set")
        read_only = not (WRITE_PRIVILEGES & privileges) if isinstance(privileges, set) else False
        return {"url": url, "name": name, "color": color, "read_only": read_only}

    def detect(self, location):
        """detectCalendars for a location without a path: attemptLocation skips "/", there is
        no SRV record on loopback (dnsSRV), then .well-known, then the root."""
        origin = location if "://" in location else "https://" + location
        origin = origin.rstrip("/")
        for attempt in ("/.well-known/caldav", "/"):
            calendars = self.detect_collection(origin + attempt)
            if calendars:
                return calendars
        return []
