"""DAVx5's HTTP as its library dav4jvm 4.0.1 does it (bitfireAT/dav4jvm, ktor client): the
headers of every request, redirects followed by the library itself, and a multistatus read the
way `ktor/ResponseParser.kt`, `PropStatParser.kt` and `Response.kt` read it. Used by
test_client_davx5.py; sources of each fact in docs/clients/davx5.md.

A multistatus must be 207 with an XML body; hrefs are resolved against the URL that was asked
(after redirects, at most 5); a collection's href gets a trailing slash when its resourcetype was
returned; a `<response>` is SELF, MEMBER (below the asked URL, by raw path segments) or OTHER;
properties count only from 2xx propstats of a successful response; a sync report's
`<sync-token>` is read under `<multistatus>` only.
"""

import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urljoin, urlsplit

# davx5-ose network/HttpClientBuilder.kt installPlugins: Accept-Language from the device locale on every
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
