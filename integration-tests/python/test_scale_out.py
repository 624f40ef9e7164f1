"""Replicas share nothing: two gateway processes in front of the same JMAP mail server, and a
client that alternates between them on every request, never sees a stale ETag, never loses an
update, and gets the same ctag and sync tokens from either. The embedded store is one process,
and a second gateway on its data directory is refused."""

import re
import subprocess
import threading
import uuid

import pytest

from conftest import BACKEND, _binary, _env, stop_gateway
from icalendar_samples import event, todo
from test_http_semantics import Http, put_event
from test_sync_paging import Client, follow

POLL = (
    '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
    "<d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>"
)


def ctag_and_token(client, calendar):
    response = client.request("PROPFIND", calendar, data=POLL, headers={"Depth": "0"})
    assert response.status_code == 207, response.text
    ctag = re.search(r"<CS:getctag>([^<]*)</CS:getctag>", response.text).group(1)
    token = re.search(r"<D:sync-token>([^<]*)</D:sync-token>", response.text).group(1)
    return ctag, token


@pytest.mark.skipif(BACKEND != "jmap", reason="replicas need a shared mail server (JMAP); the embedded store is one process")
def test_a_client_alternating_between_two_replicas_sees_one_consistent_calendar(start_dedicated_gateway):
    replicas = [Client(start_dedicated_gateway()), Client(start_dedicated_gateway())]
    calendar = replicas[0].new_calendar()
    assert ctag_and_token(replicas[0], calendar) == ctag_and_token(replicas[1], calendar)
    _, start_token = ctag_and_token(replicas[0], calendar)

    path = f"{calendar}{uuid.uuid4().hex}.ics"
    uid, ics = event("replicated")
    created = put_event(replicas[0], path, ics, **{"If-None-Match": "*"})
    assert created.status_code == 201, created.text
    etag = created.headers["ETag"]
    # Twenty updates, each on the other replica with the ETag the previous one answered: a
    # stale view anywhere would answer 412 or hand out an old ETag.
    for round_ in range(20):
        http = replicas[(round_ + 1) % 2]
        got = http.request("GET", path)
        assert got.status_code == 200 and got.headers["ETag"] == etag, (round_, got.headers, etag)
        _, changed = event(f"replicated {round_}", uid=uid)
        updated = put_event(http, path, changed, **{"If-Match": etag})
        assert updated.status_code == 204, (round_, updated.status_code, updated.text)
        assert updated.headers["ETag"] != etag
        etag = updated.headers["ETag"]
        assert f"replicated {round_}" in replicas[round_ % 2].request("GET", path).text

    # The same state on either: equal ctags and tokens, and a token from one accepted by the other.
    assert ctag_and_token(replicas[0], calendar) == ctag_and_token(replicas[1], calendar)
    from_first, from_second = replicas[1].sync(calendar, start_token), replicas[0].sync(calendar, start_token)
    assert from_first == from_second and from_first[0][path] == etag

    # A lost update cannot happen across replicas either: two If-Match writers, one wins.
    outcomes = []
    _, mine = event("writer A", uid=uid)
    _, theirs = event("writer B", uid=uid)

    def write(http, body):
        outcomes.append(put_event(http, path, body, **{"If-Match": etag}).status_code)

    writers = [threading.Thread(target=write, args=(replicas[0], mine)),
               threading.Thread(target=write, args=(replicas[1], theirs))]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert sorted(outcomes) == [204, 412], outcomes

    deleted = replicas[0].request("DELETE", path)
    assert deleted.status_code == 204
    assert replicas[1].request("GET", path).status_code == 404
    changed, removed, _, _ = replicas[1].sync(calendar, start_token)
    assert path not in changed
    replicas[1].request("DELETE", calendar)


@pytest.mark.skipif(BACKEND != "jmap", reason="replicas need a shared mail server (JMAP); the embedded store is one process")
def test_within_the_freshness_window_no_write_is_refused_on_a_stale_view(start_dedicated_gateway):
    """With a freshness window a replica may serve a view of the account up to 5 s old here
    (1 s by default). A read may lag by that much, but a write it would refuse on that view
    (an If-Match with the ETag the other replica just answered, a DELETE of what the other
    just created, a UID the other just removed) is first checked with the mail server."""
    window = {"GATEWAY__BACKEND__JMAP__FRESHNESS_MS": "5000"}
    replicas = [Client(start_dedicated_gateway(**window)), Client(start_dedicated_gateway(**window))]
    calendar = replicas[0].new_calendar()
    uid, ics = event("windowed")
    path = f"{calendar}{uuid.uuid4().hex}.ics"
    for http in replicas:
        ctag_and_token(http, calendar)  # each replica's view of the account is now in its window
    created = put_event(replicas[0], path, ics, **{"If-None-Match": "*"})
    assert created.status_code == 201, created.text
    etag = created.headers["ETag"]
    for round_ in range(6):
        http = replicas[(round_ + 1) % 2]
        _, changed = event(f"windowed {round_}", uid=uid)
        updated = put_event(http, path, changed, **{"If-Match": etag})
        assert updated.status_code == 204, (round_, updated.status_code, updated.text)
        etag = updated.headers["ETag"]
    # A genuinely stale ETag is still refused, after the check.
    _, late = event("late", uid=uid)
    assert put_event(replicas[0], path, late, **{"If-Match": created.headers["ETag"]}).status_code == 412
    # Deleted on one, the UID is free on the other at once, whatever its window holds.
    assert replicas[1].request("DELETE", path).status_code == 204
    again = put_event(replicas[0], f"{calendar}{uuid.uuid4().hex}.ics", ics, **{"If-None-Match": "*"})
    assert again.status_code == 201, again.text
    replicas[0].request("DELETE", calendar)


@pytest.mark.skipif(BACKEND != "jmap", reason="replicas need a shared mail server (JMAP); the embedded store is one process")
def test_a_token_stays_valid_after_another_replica_deleted_a_calendar(start_dedicated_gateway):
    """The Thunderbird replay's recipe (docs/clients/thunderbird.md): another gateway makes a
    calendar, fills it, syncs it in pages and deletes it. On Cyrus a mailbox deletion makes
    every older Email state useless for Email/changes; the token this gateway hands out
    afterwards must still give the delta, here and on a third gateway."""
    mine = Client(start_dedicated_gateway())
    tasks = f"/dav/calendars/alice/tasks-{uuid.uuid4().hex[:8]}/"
    body = (
        '<?xml version="1.0" encoding="utf-8"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        '<d:set><d:prop><c:supported-calendar-component-set><c:comp name="VTODO"/></c:supported-calendar-component-set>'
        "</d:prop></d:set></c:mkcalendar>"
    )
    assert mine.request("MKCALENDAR", tasks, data=body).status_code == 201
    mine.sync(tasks, None)

    other_gateway = start_dedicated_gateway(GATEWAY__LIMITS__MAX_SYNC_RESULTS="2")
    other = Client(other_gateway)
    doomed = other.new_calendar()
    for n in range(5):
        other.put(f"{doomed}{n}.ics", f"Day {n}")
    state = {}
    _, pages = follow(other, doomed, state, None, None)
    assert len(state) == 5 and pages >= 3, (state, pages)
    other.delete(doomed)
    stop_gateway(other_gateway)

    _, _, _, token = mine.sync(tasks, None)
    path = f"{tasks}{uuid.uuid4().hex}.ics"
    uid, ics = todo("Task")
    created = put_event(mine, path, ics, **{"If-None-Match": "*"})
    assert created.status_code == 201, created.text
    _, done = todo("Task done", uid=uid)
    updated = put_event(mine, path, done, **{"If-Match": created.headers["ETag"]})
    assert updated.status_code == 204, updated.text
    changed, removed, _, _ = mine.sync(tasks, token)
    assert (changed, removed) == ({path: updated.headers["ETag"]}, set())
    third = Client(start_dedicated_gateway())
    assert third.sync(tasks, token)[:2] == (changed, removed)
    mine.delete(tasks)


@pytest.mark.skipif(BACKEND != "embedded", reason="the embedded store's own rule")
def test_a_second_gateway_on_the_same_embedded_store_is_refused(gateway):
    second = subprocess.run(
        [_binary(), "serve"], env=_env(gateway.data_dir, {}), capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert second.returncode != 0
    assert "one process" in second.stderr, second.stderr
    # The first one is unaffected.
    assert Http(gateway, "alice").request("PROPFIND", "/dav/", headers={"Depth": "0"}).status_code == 207
