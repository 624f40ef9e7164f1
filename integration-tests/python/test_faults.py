"""Crashes and outages: what a client was told stays true.

Embedded store: the gateway is killed with SIGKILL in the middle of concurrent PUTs, DELETEs
and PROPPATCHes, then started again on the same data directory, many times over. Every
acknowledged write must be there and every acknowledged delete gone; a write in flight at the
kill may have happened or not, but nothing is half-written: every object parses, its ETag is
the one PROPFIND and sync-collection give, and a sync-collection from the empty token lists
exactly the objects GET finds.

JMAP backend: Cyrus itself is stopped mid-run; the gateway answers 503 with Retry-After while
it is down, and recovers by itself (no gateway restart) once Cyrus is back.
"""

import random
import re
import sys
import threading
import time
import pathlib

import icalendar
import pytest
import requests

from conftest import BACKEND, kill_gateway, start_gateway, stop_gateway
from icalendar_samples import event
from test_http_semantics import Http, put_event

ROUNDS = 15
WRITERS = 4
NAMES_PER_WRITER = 6
CALENDAR = "/dav/calendars/alice/calendar/"
PROPPATCH = (
    '<?xml version="1.0" encoding="utf-8"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop>'
    "<d:displayname>{name}</d:displayname></d:prop></d:set></d:propertyupdate>"
)
ETAGS = (
    '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:">'
    "<d:prop><d:getetag/><d:displayname/></d:prop></d:propfind>"
)
SYNC = (
    '<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/>'
    "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
)
RESPONSE = re.compile(r"<D:response>(.*?)</D:response>", re.S)
HREF = re.compile(r"<D:href>([^<]+)</D:href>")
ETAG = re.compile(r"<D:getetag>([^<]+)</D:getetag>")


class Ledger:
    """What the clients were told. `state[href]` is the body the last acknowledged write left
    (None: deleted or never made); `maybe[href]` the outcome of a write cut off by the kill."""

    def __init__(self):
        self.state = {}
        self.maybe = {}
        self.displayname = None
        self.displayname_maybe = None
        self.lock = threading.Lock()
        self.errors = []
        self.acknowledged = 0


def writer(http, ledger, hrefs, uids, stop):
    rng = random.Random()
    while not stop.is_set():
        href = rng.choice(hrefs)
        current = ledger.state.get(href)
        if current is not None and rng.random() < 0.35:
            method, body = "DELETE", None
        else:
            method = "PUT"
            body = event(f"{href.rsplit('/', 1)[1]} v{rng.randrange(10**9)}", uid=uids[href])[1]
        ledger.maybe[href] = body
        try:
            response = (http.request("DELETE", href) if method == "DELETE" else put_event(http, href, body))
        except requests.RequestException:
            return  # the gateway is gone: this write stays in `maybe`
        del ledger.maybe[href]
        if response.status_code not in (200, 201, 204):
            with ledger.lock:
                ledger.errors.append(f"{method} {href} -> {response.status_code} {response.text[:200]}")
            return
        ledger.state[href] = body
        with ledger.lock:
            ledger.acknowledged += 1


def renamer(http, ledger, stop):
    n = 0
    while not stop.is_set():
        n += 1
        name = f"faults {n}"
        ledger.displayname_maybe = name
        try:
            response = http.request("PROPPATCH", CALENDAR, data=PROPPATCH.format(name=name))
        except requests.RequestException:
            return
        ledger.displayname_maybe = None
        if response.status_code != 207 or "200 OK" not in response.text:
            with ledger.lock:
                ledger.errors.append(f"PROPPATCH -> {response.status_code} {response.text[:200]}")
            return
        ledger.displayname = name


def members(http, body, depth):
    response = http.request("PROPFIND" if "propfind" in body else "REPORT", CALENDAR,
                            headers={"Depth": depth}, data=body)
    assert response.status_code == 207, response.text[:2000]
    return response.text


def displayname_in(listing):
    found = re.search(r"<D:href>" + re.escape(CALENDAR) + r"</D:href>.*?<D:displayname>([^<]*)<", listing, re.S)
    assert found, listing[:2000]
    return found.group(1)


def check(http, ledger, hrefs):
    """The store after a restart against the ledger; settles each cut-off write to what
    actually happened."""
    listing = members(http, ETAGS, "1")
    displayname = displayname_in(listing)
    allowed = {ledger.displayname, ledger.displayname_maybe} - {None}
    assert displayname in allowed, (displayname, allowed)
    ledger.displayname, ledger.displayname_maybe = displayname, None
    propfind_etags = {HREF.search(r).group(1): ETAG.search(r).group(1)
                      for r in RESPONSE.findall(listing) if ETAG.search(r) and not HREF.search(r).group(1).endswith("/")}
    synced = {}
    for r in RESPONSE.findall(members(http, SYNC, "1")):
        if ETAG.search(r):
            synced[HREF.search(r).group(1)] = ETAG.search(r).group(1)
    found = {}
    for href in hrefs:
        got = http.request("GET", href)
        assert got.status_code in (200, 404), (href, got.status_code, got.text[:300])
        if got.status_code == 200:
            # Parses as iCalendar, and is exactly one of the bodies a client sent.
            icalendar.Calendar.from_ical(got.content)
            found[href] = (got.content.decode(), got.headers.get("ETag"))
        outcome = found[href][0] if href in found else None
        expected = {ledger.state.get(href)}
        if href in ledger.maybe:
            expected.add(ledger.maybe.pop(href))
        assert outcome in expected, f"{href}: found {outcome!r}, acknowledged {ledger.state.get(href)!r}"
        ledger.state[href] = outcome
    ours = {h for h in propfind_etags if h in ledger.state}
    assert ours == set(found), ("PROPFIND lists", sorted(ours), "GET finds", sorted(found))
    assert {h for h in synced if h in ledger.state} == set(found), ("sync-collection", sorted(synced), sorted(found))
    for href, (_, etag) in found.items():
        assert etag == propfind_etags[href] == synced[href], (href, etag, propfind_etags[href], synced[href])


@pytest.mark.skipif(BACKEND != "embedded", reason="the embedded store's own durability; JMAP has Cyrus's")
def test_sigkill_during_concurrent_writes_loses_no_acknowledged_write():
    gw = start_gateway()
    data_dir = gw.data_dir
    ledger = Ledger()
    ledger.displayname = displayname_in(members(Http(gw, "alice"), ETAGS, "0"))
    hrefs_of = [[f"{CALENDAR}fault-w{w}-{k}.ics" for k in range(NAMES_PER_WRITER)] for w in range(WRITERS)]
    all_hrefs = [h for hrefs in hrefs_of for h in hrefs]
    uids = {h: event(uid=None)[0] for h in all_hrefs}
    rng = random.Random()
    started = time.monotonic()
    try:
        for round_ in range(ROUNDS):
            stop = threading.Event()
            threads = [threading.Thread(target=writer, args=(Http(gw, "alice"), ledger, hrefs, uids, stop))
                       for hrefs in hrefs_of]
            threads.append(threading.Thread(target=renamer, args=(Http(gw, "alice"), ledger, stop)))
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.2, 0.8))
            kill_gateway(gw)
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            assert not ledger.errors, ledger.errors
            gw = start_gateway(data_dir=data_dir)
            check(Http(gw, "alice"), ledger, all_hrefs)
        # Enough writes to mean something: a few per round at the least.
        assert ledger.acknowledged >= 5 * ROUNDS, ledger.acknowledged
        assert any(body is not None for body in ledger.state.values()), "nothing is left to check"
    finally:
        stop_gateway(gw)  # also removes the data directory
    assert time.monotonic() - started < 120


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "cyrus"))


@pytest.mark.skipif(BACKEND != "jmap", reason="needs the mail server behind the gateway")
def test_mail_server_stopped_gives_503_with_retry_after_and_recovers_without_a_gateway_restart(gateway):
    import os

    import cyrus

    bob = Http(gateway, "bob")
    href = f"/dav/calendars/bob/calendar/fault-{time.monotonic_ns()}.ics"
    uid, ics = event("survives an outage")
    assert put_event(bob, href, ics).status_code == 201
    before = bob.snapshot("/dav/calendars/bob/calendar/")
    directory = os.environ["CYRUS_DIR"]
    cyrus.halt(directory)
    try:
        for method, path, body in [("GET", href, None), ("PUT", href, event("during", uid=uid)[1]),
                                   ("PROPFIND", "/dav/calendars/bob/calendar/", ETAGS)]:
            headers = {"Depth": "1"} if method == "PROPFIND" else {"Content-Type": "text/calendar"}
            response = bob.request(method, path, data=body, headers=headers)
            assert response.status_code == 503, (method, response.status_code, response.text[:300])
            assert response.headers.get("Retry-After", "").isdigit(), response.headers
    finally:
        cyrus.resume(directory)
    deadline = time.monotonic() + 30
    while True:
        response = bob.request("GET", href)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert response.status_code == 200 and response.content == ics.encode(), response.status_code
    assert bob.snapshot("/dav/calendars/bob/calendar/") == before
    _, after = event("after the outage", uid=uid)
    assert put_event(bob, href, after).status_code == 204
    assert bob.request("GET", href).content == after.encode()
