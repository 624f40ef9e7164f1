"""A refused COPY, MOVE or PUT changes nothing (issue 8: an overwriting COPY that was then
refused used to delete its destination). Runs on both backends.

RFC 4918 §9.8.4 describes Overwrite: T as a DELETE of the destination before the copy; the
gateway does both in one replacing write so that a copy the destination refuses (here a
CALDAV:no-uid-conflict, RFC 4791 §5.3.2.1) leaves the destination as it was.
"""

import os
import subprocess
import sys
import uuid

import pytest

from conftest import BACKEND
from icalendar_samples import event
from test_http_semantics import Http, put_event


@pytest.fixture
def alice(gateway):
    return Http(gateway, "alice")


def calendar(alice):
    """A fresh calendar of alice's, so the tests do not see each other's UIDs."""
    path = f"/dav/calendars/alice/ow-{uuid.uuid4().hex[:10]}/"
    assert alice.request("MKCALENDAR", path).status_code == 201
    return path


def test_refused_overwriting_copy_leaves_the_destination(alice):
    home = calendar(alice)
    _, a = event("A")
    _, b = event("B")
    assert put_event(alice, home + "a.ics", a).status_code == 201
    assert put_event(alice, home + "b.ics", b).status_code == 201
    before = alice.snapshot(home)

    response = alice.request("COPY", home + "a.ics", headers={"Destination": home + "b.ics", "Overwrite": "T"})

    assert response.status_code == 403 and "no-uid-conflict" in response.text
    assert alice.request("GET", home + "b.ics").content == b.encode()
    assert alice.snapshot(home) == before


def test_refused_overwriting_move_to_another_calendar_leaves_both(alice):
    source, target = calendar(alice), calendar(alice)
    uid, a = event("A")
    _, c = event("C")
    assert put_event(alice, source + "a.ics", a).status_code == 201
    assert put_event(alice, target + "c.ics", c).status_code == 201
    # The target calendar already holds A's UID under another name.
    assert put_event(alice, target + "twin.ics", event("twin", uid=uid)[1]).status_code == 201
    before = (alice.snapshot(source), alice.snapshot(target))

    response = alice.request("MOVE", source + "a.ics", headers={"Destination": target + "c.ics"})

    assert response.status_code == 403 and "no-uid-conflict" in response.text
    assert alice.request("GET", source + "a.ics").content == a.encode()
    assert alice.request("GET", target + "c.ics").content == c.encode()
    assert (alice.snapshot(source), alice.snapshot(target)) == before


def test_put_that_changes_the_uid_of_a_resource_is_refused(alice):
    home = calendar(alice)
    _, original = event("original")
    assert put_event(alice, home + "x.ics", original).status_code == 201
    before = alice.snapshot(home)

    response = put_event(alice, home + "x.ics", event("another uid")[1])

    assert response.status_code == 403
    assert "no-uid-conflict" in response.text and home + "x.ics" in response.text
    assert alice.request("GET", home + "x.ics").content == original.encode()
    assert alice.snapshot(home) == before


def test_overwriting_copy_replaces_the_destination_and_its_dead_properties(alice):
    source, target = calendar(alice), calendar(alice)
    _, a = event("A")
    _, b = event("B")
    assert put_event(alice, source + "a.ics", a).status_code == 201
    assert put_event(alice, target + "b.ics", b).status_code == 201
    patch = (
        '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:example:ow">'
        "<d:set><d:prop><x:note>of b</x:note></d:prop></d:set></d:propertyupdate>"
    )
    assert alice.request("PROPPATCH", target + "b.ics", data=patch).status_code == 207

    response = alice.request("COPY", source + "a.ics", headers={"Destination": target + "b.ics"})

    assert response.status_code == 204
    assert response.headers["Location"].endswith(target + "b.ics")
    assert alice.request("GET", target + "b.ics").content == a.encode()
    found = alice.request(
        "PROPFIND",
        target + "b.ics",
        headers={"Depth": "0"},
        data='<d:propfind xmlns:d="DAV:" xmlns:x="urn:example:ow"><d:prop><x:note/></d:prop></d:propfind>',
    )
    assert "of b" not in found.text and "404" in found.text


def test_copy_and_move_answer_location_of_the_new_resource(alice):
    source, target = calendar(alice), calendar(alice)
    assert put_event(alice, source + "a.ics", event("A")[1]).status_code == 201

    moved = alice.request("MOVE", source + "a.ics", headers={"Destination": target + "moved.ics"})
    copied = alice.request("COPY", target + "moved.ics", headers={"Destination": source + "back.ics"})

    assert moved.status_code == 201 and moved.headers["Location"].endswith(target + "moved.ics")
    assert copied.status_code == 201 and copied.headers["Location"].endswith(source + "back.ics")


@pytest.mark.skipif(BACKEND != "jmap", reason="a quota is set on the Cyrus account")
def test_put_refused_over_quota_leaves_the_old_object(alice):
    """Cyrus refuses the new message over quota: 507 (RFC 4918 §11.5), and the replaced event
    stays (the store once destroyed it beside the failed create)."""
    home = calendar(alice)
    uid, old = event("old")
    assert put_event(alice, home + "x.ics", old).status_code == 201
    etag = alice.request("GET", home + "x.ics").headers["ETag"]
    before = alice.snapshot(home)
    script = os.path.join(os.path.dirname(__file__), "..", "cyrus", "cyrus.py")
    quota = [sys.executable, script, "quota", os.environ["CYRUS_DIR"], "alice"]
    subprocess.run(quota + ["1"], check=True, timeout=60)
    try:
        _, new = event("new " * 600, uid=uid)
        response = put_event(alice, home + "x.ics", new, **{"If-Match": etag})
    finally:
        subprocess.run(quota + [""], check=True, timeout=60)

    assert response.status_code == 507, response.text
    got = alice.request("GET", home + "x.ics")
    assert (got.content, got.headers["ETag"]) == (old.encode(), etag)
    assert alice.snapshot(home) == before
