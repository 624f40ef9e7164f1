"""One user cannot reach another's data, whatever the method and however the path is spelt.

alice sends every method the gateway knows (and POST) at bob's principal, home, calendar and
event, through paths spelt with the tricks that have broken other servers' access checks:
encoded dot segments, `/./`, doubled slashes, bob's name in another case or in a Unicode
spelling that normalises to `bob` (NFKC), an encoded slash, trailing dots. Each answer must be
a refusal (403/404, or 400 for a path the gateway will not parse; OPTIONS, answered before
authentication from the path's shape alone, must answer exactly as for a path of nobody's), and no answer may carry
bob's event UID, summary, calendar display name, or (where alice did not name it herself) his
calendar's or event's path segment, in its body or headers. Afterwards bob's home is byte for
byte what it was. The paths go out verbatim through http.client (requests/urllib3 would
remove dot segments before sending).
"""

import base64
import http.client
import ssl
import urllib.parse
import uuid

import pytest

from icalendar_samples import event
from test_http_semantics import PROPFIND_ETAGS, Http, put_event

REFUSED = {403, 404}
# A path the gateway cannot map to a resource at all may be refused as malformed.
REFUSED_OR_MALFORMED = REFUSED | {400}

MARK = uuid.uuid4().hex[:10]
BOB_CALENDAR = f"bobsecretcal{MARK}"
BOB_DISPLAYNAME = f"BobSecretDisplay{MARK}"
BOB_OBJECT = f"bobsecretobj{MARK}.ics"
BOB_UID = f"bobsecretuid{MARK}@example.com"
BOB_SUMMARY = f"BobSecretSummary{MARK}"
ALWAYS_SECRET = [BOB_UID, BOB_SUMMARY, BOB_DISPLAYNAME]

MKCALENDAR = (
    '<?xml version="1.0" encoding="utf-8"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:set><d:prop><d:displayname>{name}</d:displayname></d:prop></d:set></c:mkcalendar>"
)
PROPFIND_ALL = '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>'
PROPPATCH = (
    '<?xml version="1.0" encoding="utf-8"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop>'
    "<d:displayname>alice was here</d:displayname></d:prop></d:set></d:propertyupdate>"
)
CALENDAR_QUERY = (
    '<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    '<d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter>'
    "</c:calendar-query>"
)
SYNC_COLLECTION = (
    '<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/>'
    "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
)
FREE_BUSY = (
    '<?xml version="1.0" encoding="utf-8"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
    '<c:time-range start="20260101T000000Z" end="20280101T000000Z"/></c:free-busy-query>'
)


def multiget(href):
    return (
        '<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" '
        'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>'
        f"<d:href>{href}</d:href></c:calendar-multiget>"
    )


class RawHttp:
    """HTTP/1.1 over TLS that sends the request target exactly as given."""

    def __init__(self, gateway, user):
        self.url = urllib.parse.urlsplit(gateway.url)
        self.context = ssl.create_default_context(cafile=gateway.ca)
        self.auth = Http(gateway, user).session.auth
        self.connection = None

    def request(self, method, target, body=None, headers=None):
        token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", **(headers or {})}
        if body is not None:
            headers.setdefault("Content-Type", "application/xml; charset=utf-8")
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPSConnection(
                    self.url.hostname, self.url.port, context=self.context, timeout=30
                )
            try:
                self.connection.request(method, target, body=body.encode() if body else None, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                return response.status, response.getheaders(), data.decode("utf-8", "replace")
            except (http.client.HTTPException, ConnectionError, ssl.SSLError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.connection is not None:
            self.connection.close()


@pytest.fixture(scope="module")
def bobs_data(gateway):
    """bob's own calendar with one event, and alice's event to copy or move into bob's home."""
    bob = Http(gateway, "bob")
    calendar = f"/dav/calendars/bob/{BOB_CALENDAR}/"
    made = bob.request("MKCALENDAR", calendar, data=MKCALENDAR.format(name=BOB_DISPLAYNAME))
    assert made.status_code == 201, made.text
    _, ics = event(BOB_SUMMARY, uid=BOB_UID)
    assert put_event(bob, calendar + BOB_OBJECT, ics).status_code == 201
    alice = Http(gateway, "alice")
    alices = f"/dav/calendars/alice/calendar/isolation{MARK}.ics"
    assert put_event(alice, alices, event("alice's own")[1]).status_code in (201, 204)
    try:
        yield bob, calendar, ics, alices
    finally:
        bob.request("DELETE", calendar)
        alice.request("DELETE", alices)


def bob_snapshot(bob, calendar):
    home = bob.request("PROPFIND", "/dav/calendars/bob/", headers={"Depth": "1"}, data=PROPFIND_ETAGS)
    assert home.status_code == 207, home.text
    return home.text, bob.snapshot(calendar), bob.request("GET", calendar + BOB_OBJECT).content


def spellings(rest):
    """bob's path `/dav/<area>/bob/<rest>` spelt every way that must still not reach him (or
    anyone): (target, whether the target itself names bob's secret segments)."""
    yield from (
        "/dav/{area}/bob/" + rest,
        "/dav/{area}/alice/%2e%2e/bob/" + rest,
        "/dav/{area}/alice/%2E%2E/bob/" + rest,
        "/dav/{area}/alice/../bob/" + rest,
        "/dav/{area}/./bob/./" + rest,
        "/dav//{area}//bob//" + rest,
        "//dav/{area}/bob/" + rest,
        "/dav/{area}/BOB/" + rest,
        "/dav/{area}/Bob/" + rest,
        "/dav/{area}/alice%2f..%2fbob/" + rest,
        "/dav/{area}/alice%2F%2E%2E%2Fbob/" + rest,
        "/dav/{area}%2fbob/" + rest,
        # Fullwidth `ｂｏｂ` and `bᵒb` are `bob` under NFKC.
        "/dav/{area}/" + urllib.parse.quote("ｂｏｂ") + "/" + rest,
        "/dav/{area}/" + urllib.parse.quote("bᵒb") + "/" + rest,
        "/dav/{area}/bob./" + rest,
        "/dav/{area}/bob../" + rest,
        "/dav/{area}/bob%2e/" + rest,
    )


def targets():
    """(label, path template, the segments alice names in it) for each of bob's resources."""
    return [
        ("principal", "principals", ""),
        ("home", "calendars", ""),
        ("calendar", "calendars", f"{BOB_CALENDAR}/"),
        ("object", "calendars", f"{BOB_CALENDAR}/{BOB_OBJECT}"),
        ("calendar.", "calendars", f"{BOB_CALENDAR}./"),
        ("object.", "calendars", f"{BOB_CALENDAR}/{BOB_OBJECT}."),
    ]


def attempts(path, alices, base):
    """Every method alice can try on `path` (one of bob's, however spelt)."""
    _, intrusion = event("alice was here")
    yield "GET", path, None, {}
    yield "HEAD", path, None, {}
    yield "PUT", path, intrusion, {"Content-Type": "text/calendar; charset=utf-8"}
    yield "PUT", path.rstrip("/") + "/new.ics", intrusion, {"Content-Type": "text/calendar; charset=utf-8"}
    yield "PROPFIND", path, PROPFIND_ALL, {"Depth": "0"}
    yield "PROPFIND", path, PROPFIND_ALL, {"Depth": "1"}
    yield "PROPPATCH", path, PROPPATCH, {}
    yield "MKCALENDAR", path.rstrip("/") + "/intruder/", MKCALENDAR.format(name="intruder"), {}
    yield "MKCOL", path.rstrip("/") + "/intruder/", None, {}
    yield "MKCALENDAR", path, MKCALENDAR.format(name="intruder"), {}
    yield "MKCOL", path, None, {}
    for report in (CALENDAR_QUERY, SYNC_COLLECTION, FREE_BUSY, multiget(path)):
        yield "REPORT", path, report, {"Depth": "1"}
    yield "OPTIONS", path, None, {}
    yield "POST", path, "x", {"Content-Type": "text/plain"}
    # bob's resource as source, alice's home as destination, and the other way round.
    for method in ("COPY", "MOVE"):
        yield method, path, None, {"Destination": base + f"/dav/calendars/alice/calendar/stolen{MARK}.ics",
                                   "Overwrite": "T"}
        yield method, path, None, {"Destination": base + f"/dav/calendars/alice/stolen{MARK}/", "Overwrite": "T"}
        yield method, alices, None, {"Destination": base + path, "Overwrite": "T"}
    yield "DELETE", path, None, {}


def _comparable(headers):
    return sorted((k.lower(), v) for k, v in headers if k.lower() not in ("date", "x-request-id"))


def test_alice_cannot_reach_bobs_data_by_any_method_or_spelling(gateway, bobs_data):
    bob, calendar, ics, alices = bobs_data
    before = bob_snapshot(bob, calendar)
    base = gateway.url.rstrip("/")
    raw = RawHttp(gateway, "alice")
    failures = []
    tried = 0
    try:
        for label, area, rest in targets():
            for spelling in spellings(rest):
                path = spelling.format(area=area)
                # Segments of bob's that alice did not write herself must not come back either.
                secrets = ALWAYS_SECRET + [s for s in (BOB_CALENDAR, BOB_OBJECT) if s not in path]
                for method, target, body, headers in attempts(path, alices, base):
                    status, answer_headers, text = raw.request(method, target, body, headers)
                    tried += 1
                    allowed = REFUSED if spelling == "/dav/{area}/bob/" + rest else REFUSED_OR_MALFORMED
                    if target == alices:
                        # alice's own event as source: the refusal is for the destination.
                        allowed = REFUSED_OR_MALFORMED
                    if method == "OPTIONS":
                        # OPTIONS is answered before authentication and alike for every path
                        # (CORS preflights carry no credentials, RFC 9110 §9.3.7): it is enough
                        # that the answer is the one a path of nobody's gets, so it tells nothing.
                        nobodys = (target.replace(MARK, "0" * len(MARK)).replace("bob", "nobody")
                                   .replace("Bob", "Nobody").replace("BOB", "NOBODY"))
                        nobody = raw.request("OPTIONS", nobodys)
                        if (status, _comparable(answer_headers), text) == (nobody[0], _comparable(nobody[1]), nobody[2]):
                            allowed = {status}
                    seen = text + "\n" + "\n".join(f"{k}: {v}" for k, v in answer_headers)
                    leaked = [s for s in secrets if s in seen]
                    if status not in allowed or leaked:
                        failures.append(f"{label}: {method} {target} {headers.get('Destination', '')} -> {status}"
                                        f"{' leaks ' + str(leaked) if leaked else ''} {text[:120]!r}")
    finally:
        raw.close()
    assert tried > 1000
    assert not failures, f"{len(failures)} of {tried} attempts were not refused cleanly:\n" + "\n".join(failures[:60])
    assert bob_snapshot(bob, calendar) == before
    assert before[2] == ics.encode()


def test_alices_reports_on_her_own_calendar_do_not_follow_hrefs_into_bobs(gateway, bobs_data):
    _, calendar, _, _ = bobs_data
    raw = RawHttp(gateway, "alice")
    try:
        for href in (calendar + BOB_OBJECT, f"/dav/calendars/alice/%2e%2e/bob/{BOB_CALENDAR}/{BOB_OBJECT}",
                     f"/dav/calendars/alice/../bob/{BOB_CALENDAR}/{BOB_OBJECT}",
                     f"/dav/calendars/BOB/{BOB_CALENDAR}/{BOB_OBJECT}"):
            status, headers, text = raw.request("REPORT", "/dav/calendars/alice/calendar/", multiget(href),
                                                {"Depth": "1"})
            assert status in (207, 400, 403), (href, status, text[:300])
            assert not any(s in text for s in ALWAYS_SECRET), (href, text[:500])
    finally:
        raw.close()


# Found by the soak on Cyrus 3.6: concurrent HTTP/2 streams of two users on one connection ran
# as one of them. The JMAP backend keeps one connection pool per user since.
def test_concurrent_users_each_get_their_own_answers(gateway):
    import concurrent.futures

    def user_loop(user, worker):
        http = Http(gateway, user)
        calendar = f"/dav/calendars/{user}/calendar/"
        problems = []
        for i in range(12):
            href = f"{calendar}concurrent-{MARK}-{worker}-{i}.ics"
            put = put_event(http, href, event(f"{user} concurrent")[1])
            listing = http.request("PROPFIND", calendar, headers={"Depth": "1"}, data=PROPFIND_ETAGS)
            if put.status_code != 201 or listing.status_code != 207:
                problems.append(f"{user}: PUT {put.status_code}, PROPFIND {listing.status_code}")
            elif any(f"/dav/calendars/{other}/" in listing.text for other in ("alice", "bob") if other != user):
                problems.append(f"{user}: another user's href in {listing.text[:300]}")
            http.request("DELETE", href)
        return problems

    # tester is left alone: the outside suites run as tester later in the session.
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda args: user_loop(*args), [(u, w) for u in ("alice", "bob") for w in range(4)])
        problems = [p for result in results for p in result]
    assert not problems, f"{len(problems)} failures:\n" + "\n".join(problems[:20])
