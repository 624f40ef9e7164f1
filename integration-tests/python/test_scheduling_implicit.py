"""Implicit scheduling between users of one store (RFC 6638 §3.2): an organizer's PUT or
DELETE invites, reschedules and cancels; an attendee's PUT or DELETE answers; the server
delivers into the other user's schedule inbox and calendar at once (DAVx5 and Windows
Calendar never read an inbox), and writes SCHEDULE-STATUS into the organizer's copy.

Users: alice (organizer), bob and tester (attendees), all @example.com (conftest.py).
Runs on a gateway of its own (`module_gateway`), so other test files never see these meetings.
"""

import datetime
import re
import uuid

import icalendar
import pytest

from conftest import DIRECTORY
from test_http_semantics import Http, put_event

pytestmark = pytest.mark.skipif(
    not DIRECTORY, reason="JMAP without service account schedules through iMIP (test_scheduling_imip.py)"
)

LIST = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'


@pytest.fixture(scope="module")
def users(module_gateway):
    return {name: Http(module_gateway, name) for name in ("alice", "bob", "tester")}


def meeting(uid, summary="Planning", start="20261201T100000", end="20261201T110000", attendees=("bob", "tester"),
            sequence=0, extra="", agent=None):
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//integration//scheduling//EN",
        "BEGIN:VTIMEZONE", "TZID:Europe/Berlin",
        "BEGIN:STANDARD", "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "END:STANDARD",
        "BEGIN:DAYLIGHT", "DTSTART:19700329T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "END:DAYLIGHT", "END:VTIMEZONE",
        "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261120T100000Z",
        f"DTSTART;TZID=Europe/Berlin:{start}", f"DTEND;TZID=Europe/Berlin:{end}",
        f"SEQUENCE:{sequence}", f"SUMMARY:{summary}",
        "ORGANIZER;CN=Alice:mailto:alice@example.com",
        "ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.com",
    ]
    for name in attendees:
        agent_param = f";SCHEDULE-AGENT={agent}" if agent else ""
        lines.append(f"ATTENDEE;CN={name};PARTSTAT=NEEDS-ACTION;RSVP=TRUE{agent_param}:mailto:{name}@example.com")
    if extra:
        lines.extend(extra.strip().splitlines())
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def new_uid():
    return f"{uuid.uuid4()}@example.com"


def members(http, user, collection):
    response = http.request("PROPFIND", f"/dav/calendars/{user}/{collection}/", headers={"Depth": "1"}, data=LIST)
    if response.status_code == 404:
        return []
    assert response.status_code == 207, response.text
    return re.findall(r"<(?:\w+:)?href>([^<]+\.ics)</", response.text)


def copies(http, user, collection, uid):
    """(href, calendar, response) of each object in the collection with this UID."""
    found = []
    for href in members(http, user, collection):
        response = http.request("GET", href)
        if response.status_code != 200:
            continue
        calendar = icalendar.Calendar.from_ical(response.content)
        if any(str(c.get("UID")) == uid for c in calendar.walk("VEVENT")):
            found.append((href, calendar, response))
    return found


def the_copy(http, user, uid):
    found = copies(http, user, "calendar", uid)
    assert len(found) == 1, f"{user} has {len(found)} copies of {uid}"
    return found[0]


def inbox_methods(http, user, uid):
    return sorted(str(calendar.get("METHOD")) for _, calendar, _ in copies(http, user, "inbox", uid))


def attendee(component, user):
    values = component.get("ATTENDEE", [])
    for value in values if isinstance(values, list) else [values]:
        if str(value).lower() == f"mailto:{user}@example.com":
            return value
    raise AssertionError(f"{user} is not an attendee of {component.get('UID')}")


def events(calendar):
    return list(calendar.walk("VEVENT"))


def master(calendar):
    return next(c for c in events(calendar) if c.get("RECURRENCE-ID") is None)


def instance(calendar, rid):
    return next(c for c in events(calendar) if c.get("RECURRENCE-ID") is not None
                and c.get("RECURRENCE-ID").dt.strftime("%Y%m%dT%H%M%S") == rid)


def answer(http, user, uid, partstat, rid=None):
    """The attendee's client sets PARTSTAT on the master (or on an override it makes)."""
    href, calendar, response = the_copy(http, user, uid)
    if rid is None:
        attendee(master(calendar), user).params["PARTSTAT"] = partstat
    else:
        base = master(calendar)
        override = icalendar.Event.from_ical(base.to_ical())
        start, end = base.get("DTSTART").dt, base.get("DTEND").dt
        when = datetime.datetime.strptime(rid, "%Y%m%dT%H%M%S").replace(tzinfo=start.tzinfo)
        for name in ("RRULE", "EXDATE", "RDATE", "DTSTART", "DTEND"):
            override.pop(name, None)
        override.add("DTSTART", when)
        override.add("DTEND", when + (end - start))
        override.add("RECURRENCE-ID", when)
        attendee(override, user).params["PARTSTAT"] = partstat
        calendar.add_component(override)
    tag = response.headers["Schedule-Tag"]
    written = http.request("PUT", href, data=calendar.to_ical(),
                           headers={"Content-Type": "text/calendar", "If-Schedule-Tag-Match": tag})
    assert written.status_code == 204, written.text
    return written


def organizer_put(users, uid, ics, created=False):
    response = put_event(users["alice"], f"/dav/calendars/alice/calendar/{uid}.ics", ics)
    assert response.status_code == (201 if created else 204), response.text
    return response


def test_invite_lands_in_each_attendees_calendar_and_inbox(users):
    uid = new_uid()
    response = organizer_put(users, uid, meeting(uid), created=True)
    # The stored copy now carries SCHEDULE-STATUS, so it is not the body PUT: no ETag.
    assert "ETag" not in response.headers
    assert response.headers["Schedule-Tag"].startswith('"')

    _, organizer_copy, got = the_copy(users["alice"], "alice", uid)
    assert got.headers["Schedule-Tag"] == response.headers["Schedule-Tag"]
    for name in ("bob", "tester"):
        assert attendee(master(organizer_copy), name).params["SCHEDULE-STATUS"] == "1.2"
        _, copy, _ = the_copy(users[name], name, uid)
        assert attendee(master(copy), name).params["PARTSTAT"] == "NEEDS-ACTION"
        assert str(master(copy).get("SUMMARY")) == "Planning"
        assert copy.get("METHOD") is None
        assert inbox_methods(users[name], name, uid) == ["REQUEST"]
    assert inbox_methods(users["alice"], "alice", uid) == []


@pytest.mark.parametrize("partstat", ["ACCEPTED", "DECLINED", "TENTATIVE"])
def test_an_answer_updates_the_organizers_copy(users, partstat):
    uid = new_uid()
    organizer_put(users, uid, meeting(uid), created=True)
    _, before, before_response = the_copy(users["alice"], "alice", uid)

    answer(users["bob"], "bob", uid, partstat)

    _, after, after_response = the_copy(users["alice"], "alice", uid)
    bob = attendee(master(after), "bob")
    assert bob.params["PARTSTAT"] == partstat
    assert bob.params["SCHEDULE-STATUS"] == "2.0"
    assert attendee(master(after), "tester").params["PARTSTAT"] == "NEEDS-ACTION"
    assert inbox_methods(users["alice"], "alice", uid) == ["REPLY"]
    # RFC 6638 §3.2.10: merging a reply changes the ETag, never the Schedule-Tag.
    assert after_response.headers["ETag"] != before_response.headers["ETag"]
    assert after_response.headers["Schedule-Tag"] == before_response.headers["Schedule-Tag"]


def test_reschedule_asks_again_and_a_minor_change_does_not(users):
    uid = new_uid()
    organizer_put(users, uid, meeting(uid), created=True)
    answer(users["bob"], "bob", uid, "ACCEPTED")

    organizer_put(users, uid, meeting(uid, summary="Planning (room 2)", sequence=1))
    _, copy, _ = the_copy(users["bob"], "bob", uid)
    assert str(master(copy).get("SUMMARY")) == "Planning (room 2)"
    assert attendee(master(copy), "bob").params["PARTSTAT"] == "ACCEPTED"

    organizer_put(users, uid, meeting(uid, summary="Planning (room 2)", start="20261202T140000",
                                      end="20261202T150000", sequence=2))
    _, copy, _ = the_copy(users["bob"], "bob", uid)
    assert master(copy).get("DTSTART").dt.strftime("%Y%m%dT%H%M") == "20261202T1400"
    assert attendee(master(copy), "bob").params["PARTSTAT"] == "NEEDS-ACTION"
    assert inbox_methods(users["bob"], "bob", uid) == ["REQUEST", "REQUEST", "REQUEST"]


def test_deleting_the_meeting_cancels_it_for_everyone(users):
    uid = new_uid()
    organizer_put(users, uid, meeting(uid), created=True)
    assert users["alice"].request("DELETE", f"/dav/calendars/alice/calendar/{uid}.ics").status_code == 204
    for name in ("bob", "tester"):
        _, copy, _ = the_copy(users[name], name, uid)
        assert str(master(copy).get("STATUS")) == "CANCELLED"
        assert inbox_methods(users[name], name, uid) == ["CANCEL", "REQUEST"]


def test_removed_attendee_gets_a_cancel_and_an_added_one_an_invitation(users):
    uid = new_uid()
    organizer_put(users, uid, meeting(uid, attendees=("bob",)), created=True)
    assert copies(users["tester"], "tester", "calendar", uid) == []
    organizer_put(users, uid, meeting(uid, attendees=("tester",), sequence=1))
    _, bobs, _ = the_copy(users["bob"], "bob", uid)
    assert str(master(bobs).get("STATUS")) == "CANCELLED"
    _, testers, _ = the_copy(users["tester"], "tester", uid)
    assert attendee(master(testers), "tester").params["PARTSTAT"] == "NEEDS-ACTION"


def test_an_attendee_deleting_the_event_declines_it(users):
    uid = new_uid()
    organizer_put(users, uid, meeting(uid), created=True)
    href, _, _ = the_copy(users["tester"], "tester", uid)
    assert users["tester"].request("DELETE", href).status_code == 204
    _, organizer_copy, _ = the_copy(users["alice"], "alice", uid)
    assert attendee(master(organizer_copy), "tester").params["PARTSTAT"] == "DECLINED"


def test_recurring_meeting_with_one_instance_changed_and_one_declined(users):
    uid = new_uid()
    weekly = "RRULE:FREQ=WEEKLY;COUNT=6\r\n"
    organizer_put(users, uid, meeting(uid, start="20261202T090000", end="20261202T093000", extra=weekly), created=True)
    answer(users["bob"], "bob", uid, "ACCEPTED")
    # tester declines only the third instance, through an override their client writes.
    answer(users["tester"], "tester", uid, "DECLINED", rid="20261216T090000")
    _, organizer_copy, _ = the_copy(users["alice"], "alice", uid)
    declined = instance(organizer_copy, "20261216T090000")
    assert attendee(declined, "tester").params["PARTSTAT"] == "DECLINED"
    assert attendee(master(organizer_copy), "tester").params["PARTSTAT"] == "NEEDS-ACTION"

    # alice's client changes what it read: moves the second instance to 11:00, drops the fifth.
    href, series, _ = the_copy(users["alice"], "alice", uid)
    start = master(series).get("DTSTART").dt
    moved = icalendar.Event.from_ical(master(series).to_ical())
    for name in ("RRULE", "DTSTART", "DTEND", "SUMMARY"):
        moved.pop(name, None)
    original = start.replace(day=9)
    moved.add("RECURRENCE-ID", original)
    moved.add("DTSTART", original.replace(hour=11))
    moved.add("DTEND", original.replace(hour=11, minute=30))
    moved.add("SUMMARY", "Planning (moved)")
    series.add_component(moved)
    master(series).add("EXDATE", start.replace(day=30))
    written = users["alice"].request("PUT", href, data=series.to_ical(), headers={"Content-Type": "text/calendar"})
    assert written.status_code == 204, written.text

    _, bobs, _ = the_copy(users["bob"], "bob", uid)
    assert attendee(master(bobs), "bob").params["PARTSTAT"] == "ACCEPTED", "the series answer stands"
    moved_copy = instance(bobs, "20261209T090000")
    assert moved_copy.get("DTSTART").dt.strftime("%H%M") == "1100"
    assert attendee(moved_copy, "bob").params["PARTSTAT"] == "NEEDS-ACTION"
    assert str(instance(bobs, "20261230T090000").get("STATUS")) == "CANCELLED"
    assert inbox_methods(users["bob"], "bob", uid) == ["CANCEL", "REQUEST", "REQUEST"]


def test_schedule_agent_client_sends_nothing(users):
    uid = new_uid()
    organizer_put(users, uid, meeting(uid, attendees=("bob",), agent="CLIENT"), created=True)
    assert copies(users["bob"], "bob", "calendar", uid) == []
    assert inbox_methods(users["bob"], "bob", uid) == []
    _, organizer_copy, _ = the_copy(users["alice"], "alice", uid)
    assert "SCHEDULE-STATUS" not in attendee(master(organizer_copy), "bob").params


def test_an_attendee_cannot_move_the_meeting(users):
    uid = new_uid()
    organizer_put(users, uid, meeting(uid), created=True)
    href, copy, response = the_copy(users["bob"], "bob", uid)
    moved = response.text.replace("DTSTART;TZID=Europe/Berlin:20261201T100000", "DTSTART;TZID=Europe/Berlin:20261201T120000")
    moved = moved.replace("DTEND;TZID=Europe/Berlin:20261201T110000", "DTEND;TZID=Europe/Berlin:20261201T130000")
    assert moved.count("T1[23]0000") == 0 and "20261201T120000" in moved and "20261201T130000" in moved
    refused = put_event(users["bob"], href, moved)
    assert refused.status_code == 403
    assert "allowed-attendee-scheduling-object-change" in refused.text
    assert users["bob"].request("GET", href).content == response.content


def test_if_schedule_tag_match_guards_the_attendees_write(users):
    uid = new_uid()
    organizer_put(users, uid, meeting(uid), created=True)
    href, _, response = the_copy(users["bob"], "bob", uid)
    stale = response.headers["Schedule-Tag"]
    # The organizer changes the meeting: bob's copy gets a new Schedule-Tag.
    organizer_put(users, uid, meeting(uid, summary="Planning (agenda)", sequence=1))
    _, _, fresh = the_copy(users["bob"], "bob", uid)
    assert fresh.headers["Schedule-Tag"] != stale
    accepted = fresh.text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED", 1)
    refused = put_event(users["bob"], href, accepted, **{"If-Schedule-Tag-Match": stale})
    assert refused.status_code == 412
    written = put_event(users["bob"], href, accepted, **{"If-Schedule-Tag-Match": fresh.headers["Schedule-Tag"]})
    assert written.status_code == 204, written.text
    # The organizer's copy changed by bob's reply: alice's tag still holds for her write.
    _, _, alices = the_copy(users["alice"], "alice", uid)
    kept = put_event(users["alice"], f"/dav/calendars/alice/calendar/{uid}.ics", alices.text,
                     **{"If-Schedule-Tag-Match": alices.headers["Schedule-Tag"]})
    assert kept.status_code == 204, kept.text
    assert users["bob"].request("DELETE", href, headers={"If-Schedule-Tag-Match": stale}).status_code == 412


SCHEDULE_TAG_PROPFIND = (
    '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:getetag/><c:schedule-tag/></d:prop></d:propfind>"
)
SCHEDULE_TAG_MULTIGET = (
    '<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:getetag/><c:schedule-tag/></d:prop><d:href>{href}</d:href></c:calendar-multiget>"
)


def schedule_tag_property(text):
    found = re.findall(r"<(?:\w+:)?schedule-tag[^>]*>([^<]*)</", text)
    return found[0] if found else None


def test_schedule_tag_property_in_propfind_and_report(users):
    uid = new_uid()
    organizer_put(users, uid, meeting(uid), created=True)
    href, _, response = the_copy(users["bob"], "bob", uid)
    tag = response.headers["Schedule-Tag"].replace("&quot;", '"')

    found = users["bob"].request("PROPFIND", href, headers={"Depth": "0"}, data=SCHEDULE_TAG_PROPFIND)
    assert found.status_code == 207, found.text
    assert schedule_tag_property(found.text).replace("&quot;", '"') == tag

    report = users["bob"].request("REPORT", "/dav/calendars/bob/calendar/", headers={"Depth": "1"},
                                  data=SCHEDULE_TAG_MULTIGET.format(href=href))
    assert report.status_code == 207, report.text
    assert schedule_tag_property(report.text).replace("&quot;", '"') == tag

    # An object that is no meeting has no Schedule-Tag.
    plain_uid = new_uid()
    plain = meeting(plain_uid, attendees=()).replace("ORGANIZER;CN=Alice:mailto:alice@example.com\r\n", "")
    plain = plain.replace("ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.com\r\n", "")
    organizer_put(users, plain_uid, plain, created=True)
    path = f"/dav/calendars/alice/calendar/{plain_uid}.ics"
    assert "Schedule-Tag" not in users["alice"].request("GET", path).headers
    found = users["alice"].request("PROPFIND", path, headers={"Depth": "0"}, data=SCHEDULE_TAG_PROPFIND)
    assert schedule_tag_property(found.text) in (None, "")
    assert "404" in found.text


def test_organizer_write_from_before_a_reply_keeps_the_answer(users):
    """DAVx5 writes with If-Schedule-Tag-Match: the organizer's stale copy, read before bob
    answered, still matches the tag, and bob's answer survives the write."""
    uid = new_uid()
    organizer_put(users, uid, meeting(uid), created=True)
    href, stale, response = the_copy(users["alice"], "alice", uid)
    answer(users["bob"], "bob", uid, "ACCEPTED")

    master(stale)["SUMMARY"] = "Planning (agenda attached)"
    written = users["alice"].request("PUT", href, data=stale.to_ical(), headers={
        "Content-Type": "text/calendar", "If-Schedule-Tag-Match": response.headers["Schedule-Tag"]})
    assert written.status_code == 204, written.text
    assert "ETag" not in written.headers, "the stored copy is the merge, not the bytes sent"

    _, stored, _ = the_copy(users["alice"], "alice", uid)
    assert str(master(stored).get("SUMMARY")) == "Planning (agenda attached)"
    assert attendee(master(stored), "bob").params["PARTSTAT"] == "ACCEPTED"
    _, bobs, _ = the_copy(users["bob"], "bob", uid)
    assert str(master(bobs).get("SUMMARY")) == "Planning (agenda attached)"
    assert attendee(master(bobs), "bob").params["PARTSTAT"] == "ACCEPTED"


def test_moving_the_meeting_to_another_calendar_sends_nothing(users):
    """By MOVE, and as Thunderbird moves events: PUT into the other calendar, DELETE here."""
    alice = users["alice"]
    for way in ("MOVE", "PUT+DELETE"):
        uid = new_uid()
        organizer_put(users, uid, meeting(uid), created=True)
        other = f"/dav/calendars/alice/work-{uuid.uuid4().hex[:8]}/"
        assert alice.request("MKCALENDAR", other).status_code == 201
        source = f"/dav/calendars/alice/calendar/{uid}.ics"
        if way == "MOVE":
            moved = alice.request("MOVE", source, headers={"Destination": other + "moved.ics"})
            assert moved.status_code == 201, moved.text
        else:
            body = alice.request("GET", source).content
            assert alice.request("PUT", other + "moved.ics", data=body,
                                 headers={"Content-Type": "text/calendar"}).status_code == 201
            assert alice.request("DELETE", source).status_code == 204
        for name in ("bob", "tester"):
            _, copy, _ = the_copy(users[name], name, uid)
            assert master(copy).get("STATUS") is None, f"{way}: {name}'s copy was cancelled"
            assert inbox_methods(users[name], name, uid) == ["REQUEST"], way


def test_an_invitation_never_overwrites_someone_elses_event_with_its_uid(users):
    uid = new_uid()
    private = meeting(uid, summary="bob's dentist", attendees=()).replace(
        "ORGANIZER;CN=Alice:mailto:alice@example.com\r\n", "").replace(
        "ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.com\r\n", "")
    own = f"/dav/calendars/bob/calendar/{uuid.uuid4().hex}.ics"
    assert put_event(users["bob"], own, private).status_code == 201

    organizer_put(users, uid, meeting(uid, attendees=("bob",)), created=True)

    assert users["bob"].request("GET", own).content == private.encode()
    assert inbox_methods(users["bob"], "bob", uid) == []
    _, organizer_copy, _ = the_copy(users["alice"], "alice", uid)
    assert attendee(master(organizer_copy), "bob").params["SCHEDULE-STATUS"] == "3.8"


def test_more_invitations_than_the_hourly_limit_are_refused_with_429_and_nothing_changes(start_dedicated_gateway):
    gw = start_dedicated_gateway(GATEWAY__SCHEDULING__MAX_INVITATIONS_PER_HOUR="3")
    alice = Http(gw, "alice")
    uid = new_uid()
    path = f"/dav/calendars/alice/calendar/{uuid.uuid4()}.ics"
    assert put_event(alice, path, meeting(uid)).status_code == 201  # two invitations
    before = alice.request("GET", path)
    # Rescheduling would send two more: over the limit of three.
    refused = put_event(alice, path, meeting(uid, start="20261202T100000", end="20261202T110000", sequence=1))
    assert refused.status_code == 429, refused.text
    assert "max_invitations_per_hour" in refused.text
    assert 3000 <= int(refused.headers["Retry-After"]) <= 3600
    after = alice.request("GET", path)
    assert after.text == before.text and after.headers["ETag"] == before.headers["ETag"], "nothing was written"
    # A change that sends nothing still goes through.
    assert put_event(alice, f"/dav/calendars/alice/calendar/{uuid.uuid4()}.ics", meeting(new_uid(), attendees=())).status_code == 201
