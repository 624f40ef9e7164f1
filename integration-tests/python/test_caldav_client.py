"""The python `caldav` library against the gateway: what a syncing client does."""

import uuid

import caldav
import pytest
from caldav.lib import error

from conftest import BACKEND
from icalendar_samples import event, todo


@pytest.fixture
def client(gateway):
    user, password = gateway.auth("alice")
    with caldav.DAVClient(url=gateway.url, username=user, password=password, ssl_verify_cert=gateway.ca) as c:
        yield c


@pytest.fixture
def principal(client):
    return client.principal()


def by_path(principal, segment):
    for calendar in principal.calendars():
        if str(calendar.url).rstrip("/").endswith("/" + segment):
            return calendar
    raise AssertionError(f"no calendar {segment!r} in {[str(c.url) for c in principal.calendars()]}")


@pytest.fixture
def fresh_calendar(principal):
    name = f"it-{uuid.uuid4().hex[:8]}"
    calendar = principal.make_calendar(name=f"Test {name}", cal_id=name)
    yield calendar
    try:
        calendar.delete()
    except error.NotFoundError:
        pass


def test_discovery_from_the_bare_host_finds_the_default_calendar_and_task_list(principal):
    assert str(principal.url).endswith("/dav/principals/alice/")
    home = principal.calendar_home_set
    assert str(home.url).endswith("/dav/calendars/alice/")
    names = {c.get_display_name() for c in principal.calendars()}
    assert {"Calendar", "Tasks"} <= names
    assert by_path(principal, "tasks").get_supported_components() == ["VTODO"]
    assert by_path(principal, "calendar").get_supported_components() == ["VEVENT"]


def test_calendar_user_address_is_the_users_mail_address(principal):
    addresses = [str(a) for a in principal.calendar_user_address_set()]
    if BACKEND == "embedded":
        # `user add --email alice@example.com` in conftest.
        assert addresses[0] == "mailto:alice@example.com"
    else:
        # The test Cyrus knows no address for a plain login (its JMAP identity's email is
        # ""), so the address is alice@<mail.domain>, here the host's name (test_identity.py).
        assert addresses[0].startswith("mailto:alice@"), addresses
        assert addresses[1:] == ["/dav/principals/alice/"], addresses


def test_created_calendar_is_listed_with_its_name_and_deleted(principal):
    name = f"made-{uuid.uuid4().hex[:8]}"
    created = principal.make_calendar(name="Holidays 🎄", cal_id=name, supported_calendar_component_set=["VEVENT", "VTODO"])
    listed = by_path(principal, name)
    assert listed.get_display_name() == "Holidays 🎄"
    assert sorted(listed.get_supported_components()) == ["VEVENT", "VTODO"]
    created.delete()
    with pytest.raises(AssertionError):
        by_path(principal, name)


def test_event_is_saved_fetched_modified_with_etag_and_deleted(principal):
    calendar = by_path(principal, "calendar")
    uid, ics = event("Planning")
    saved = calendar.add_event(ics)
    fetched = calendar.event_by_url(saved.url)
    fetched.load()
    assert fetched.data == saved.data  # the client re-serialises before PUT; bytes must round-trip
    assert fetched.icalendar_component["UID"] == uid
    etag_before = fetched.props.get("{DAV:}getetag")
    assert etag_before

    fetched.icalendar_component["SUMMARY"] = "Planning (moved)"
    fetched.save()
    again = calendar.event_by_url(saved.url)
    again.load()
    assert str(again.icalendar_component["SUMMARY"]) == "Planning (moved)"

    # The first copy still carries the old ETag: its save must be refused, not lost silently.
    stale = calendar.event_by_url(saved.url)
    stale.load()
    stale.props["{DAV:}getetag"] = etag_before
    stale.icalendar_component["SUMMARY"] = "lost update"
    with pytest.raises(error.DAVError):
        stale.save(precondition="etag")

    again.delete()
    with pytest.raises(error.NotFoundError):
        calendar.event_by_url(saved.url).load()


def test_task_is_saved_fetched_modified_and_deleted(principal):
    tasks = by_path(principal, "tasks")
    uid, ics = todo("Write report")
    saved = tasks.add_todo(ics)
    fetched = tasks.event_by_url(saved.url)
    fetched.load()
    assert fetched.data == saved.data
    assert fetched.icalendar_component["UID"] == uid
    fetched.icalendar_component["STATUS"] = "COMPLETED"
    fetched.save()
    reloaded = tasks.event_by_url(saved.url)
    reloaded.load()
    assert str(reloaded.icalendar_component["STATUS"]) == "COMPLETED"
    reloaded.delete()
    with pytest.raises(error.NotFoundError):
        tasks.event_by_url(saved.url).load()


def test_an_event_is_refused_by_a_task_list(principal):
    tasks = by_path(principal, "tasks")
    _, ics = event("Not a task")
    with pytest.raises(error.DAVError):
        tasks.add_event(ics)


def test_sync_collection_reports_creations_changes_and_deletions(fresh_calendar):
    synced = fresh_calendar.objects(load_objects=True)
    assert len(synced) == 0
    first_token = synced.sync_token

    _, ics_a = event("A")
    _, ics_b = event("B")
    a = fresh_calendar.add_event(ics_a)
    b = fresh_calendar.add_event(ics_b)
    updated, deleted = synced.sync()
    assert sorted(str(o.url) for o in updated) == sorted([str(a.url), str(b.url)])
    assert list(deleted) == []
    assert synced.sync_token != first_token

    a.load()
    a.icalendar_component["SUMMARY"] = "A changed"
    a.save()
    b.delete()
    updated, deleted = synced.sync()
    assert [str(o.url) for o in updated] == [str(a.url)]
    assert [str(o.url) for o in deleted] == [str(b.url)]
    assert "A changed" in next(iter(updated)).data

    updated, deleted = synced.sync()
    assert (list(updated), list(deleted)) == ([], [])


def test_ctag_changes_on_every_change_and_only_then(principal, fresh_calendar):
    from caldav.elements.base import ValuedBaseElement

    class GetCtag(ValuedBaseElement):
        tag = "{http://calendarserver.org/ns/}getctag"

    def read_ctag():
        return fresh_calendar.get_property(GetCtag(), use_cached=False)

    c0 = read_ctag()
    assert c0
    assert read_ctag() == c0, "reading must not change the ctag"
    saved = fresh_calendar.add_event(event("ctag")[1])
    c1 = read_ctag()
    assert c1 != c0
    assert read_ctag() == c1
    saved.load()
    saved.icalendar_component["SUMMARY"] = "ctag changed"
    saved.save()
    c2 = read_ctag()
    assert c2 not in (c0, c1)
    # A change in another calendar of the same user is not a change of this one.
    other = by_path(principal, "calendar").add_event(event("elsewhere")[1])
    other.delete()
    assert read_ctag() == c2
    saved.delete()
    c3 = read_ctag()
    if BACKEND == "embedded":
        assert c3 not in (c0, c1, c2)
    else:
        # The JMAP backend's state names the calendar's content (its message ids): empty
        # again is c0 again, and a client holding c0 indeed has nothing to fetch.
        assert c3 not in (c1, c2)
