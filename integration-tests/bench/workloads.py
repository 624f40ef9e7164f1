"""The requests compare.py times: the same semantic request for every server, URLs adapted.

Each is what a client sends constantly (DAVx5, iOS, Thunderbird): the calendar-home poll,
sync-collection (initial, and after 10 changes), the Depth:1 listing, a 100-href multiget, the
one-month VEVENT query, the VTODO query, GET of one object, PUT of a new object and an
If-Match update. `setup` makes the state two of them need (a sync token taken before 10
edits; an object to update and its ETag) on each server before anything is timed.
"""

import random
import re
from dataclasses import dataclass, field

import data

XML = "application/xml; charset=utf-8"
ICS = "text/calendar; charset=utf-8"
MONTH = ("20270301T000000Z", "20270401T000000Z")
CHANGES = 10
MULTIGET_HREFS = 100


@dataclass
class Workload:
    key: str
    title: str
    method: str
    path: str
    body: str = ""
    headers: dict = field(default_factory=dict)
    expect: tuple = (207,)
    # "static": the same request every time; "put-new": a new href and UID each time (wrk
    # builds them); "put-update": If-Match with the ETag the previous answer gave.
    kind: str = "static"
    only_clients: tuple = ()  # when set, the client counts this workload runs at


TITLES = {
    "poll": "calendar-home Depth:1 poll (getctag, sync-token)",
    "sync-initial": "sync-collection, initial (empty token)",
    "sync-changes": f"sync-collection after {CHANGES} changes",
    "listing": "Depth:1 PROPFIND of the calendar (getetag, resourcetype)",
    "multiget": f"{MULTIGET_HREFS}-href calendar-multiget with calendar-data",
    "month": "one-month VEVENT calendar-query (getetag)",
    "vtodo": "VTODO calendar-query (getetag)",
    "get": "GET of one object",
    "put-new": "PUT of a new object",
    "put-update": "PUT If-Match update of one object",
}


def sync_body(token):
    token_element = f"<D:sync-token>{token}</D:sync-token>" if token else "<D:sync-token/>"
    return (f'<D:sync-collection xmlns:D="DAV:">{token_element}<D:sync-level>1</D:sync-level>'
            "<D:prop><D:getetag/></D:prop></D:sync-collection>")


def sync_token_of(text):
    found = re.search(r"sync-token>([^<]+)</", text)
    if not found:
        raise RuntimeError(f"no sync-token in {text[-300:]}")
    return found.group(1).strip()


def full_sync(peer, session):
    """The token of a complete sync. A server may answer sync-collection in pages (RFC 6578
    §3.6: a 507 for the collection and a token to go on from; the gateway sends 1,000 members
    a page): the token is taken once no page is truncated, as a client syncs, so that "after
    10 changes" asks for 10 changes on every server."""
    token = None
    for _ in range(1000):
        r = session.request("REPORT", peer.base + peer.calendar, data=sync_body(token).encode(),
                            headers={"Content-Type": XML, "Depth": "0"}, timeout=600)
        if r.status_code != 207:
            raise RuntimeError(f"{peer.key}: sync-collection: {r.status_code} {r.text[:300]}")
        token = sync_token_of(r.text)
        if not re.search(r"<(?:[\w-]+:)?status>HTTP/1\.1 507", r.text):
            return token
    raise RuntimeError(f"{peer.key}: sync-collection still truncated after 1000 pages")


def sample(objects):
    """The objects read by name: the same 100 events (and the first for GET) on every server."""
    names = [name for name, _ in objects if name.startswith("bench-")]
    return random.Random(1).sample(names, min(MULTIGET_HREFS, len(names)))


def setup(peer, objects):
    """On one started, loaded server: the token before 10 edits, the edits, and an object to
    update. Returns the state `build` needs."""
    session = peer.session()
    token = full_sync(peer, session)
    by_name = dict(objects)
    # Edits of events the multiget does not read, so its answer stays the loaded one.
    read = set(sample(objects))
    edited = [name for name in by_name if name.startswith("bench-") and name not in read][:CHANGES]
    for name in edited:
        r = session.put(peer.base + peer.calendar + name, data=data.changed(by_name[name], "Edited").encode(),
                        headers={"Content-Type": ICS}, timeout=120)
        if r.status_code not in (200, 201, 204):
            raise RuntimeError(f"{peer.key}: edit PUT {name}: {r.status_code} {r.text[:300]}")
    target = peer.put_calendar + "update-target.ics"
    r = session.put(peer.base + target, data=data.new_event("update-target@example.com", "Update 0").encode(),
                    headers={"Content-Type": ICS, "If-None-Match": "*"}, timeout=120)
    if r.status_code not in (200, 201, 204):
        raise RuntimeError(f"{peer.key}: PUT update-target: {r.status_code} {r.text[:300]}")
    return {"token": token, "update_target": target, "update_etag": r.headers.get("ETag")}


def build(peer, objects, state):
    names = sample(objects)
    cal = peer.calendar
    prop_depth1 = {"Content-Type": XML, "Depth": "1"}
    poll = ('<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><D:resourcetype/>'
            "<D:displayname/><CS:getctag/><D:sync-token/></D:prop></D:propfind>")
    listing = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>'
    hrefs = "".join(f"<D:href>{cal}{name}</D:href>" for name in names)
    multiget = ('<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
                f"<C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>")
    month = ('<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
             '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
             f'<C:time-range start="{MONTH[0]}" end="{MONTH[1]}"/></C:comp-filter></C:comp-filter>'
             "</C:filter></C:calendar-query>")
    vtodo = ('<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
             '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter>'
             "</C:filter></C:calendar-query>")
    sync = {"Content-Type": XML, "Depth": "0"}
    workloads = [
        Workload("poll", TITLES["poll"], "PROPFIND", peer.home, poll, prop_depth1),
        Workload("sync-initial", TITLES["sync-initial"], "REPORT", cal, sync_body(None), sync),
        Workload("sync-changes", TITLES["sync-changes"], "REPORT", cal, sync_body(state["token"]), sync),
        Workload("listing", TITLES["listing"], "PROPFIND", cal, listing, prop_depth1),
        Workload("multiget", TITLES["multiget"], "REPORT", cal, multiget, prop_depth1),
        Workload("month", TITLES["month"], "REPORT", cal, month, prop_depth1),
        Workload("vtodo", TITLES["vtodo"], "REPORT", cal, vtodo, prop_depth1),
        Workload("get", TITLES["get"], "GET", cal + names[0], expect=(200,)),
        Workload("put-new", TITLES["put-new"], "PUT", peer.put_calendar, data.new_event("@UID@"),
                 {"Content-Type": ICS}, expect=(201,), kind="put-new"),
    ]
    if state.get("update_etag"):
        workloads.append(Workload("put-update", TITLES["put-update"], "PUT", state["update_target"],
                                  data.new_event("update-target@example.com", "Update @N@"),
                                  {"Content-Type": ICS, "If-Match": state["update_etag"]}, expect=(200, 204),
                                  kind="put-update", only_clients=(1,)))
    return workloads


def responses_in(text):
    """How many <response> elements a multistatus holds, whatever prefix the server uses."""
    return len(re.findall(r"<(?:[\w-]+:)?response[\s>]", text))
