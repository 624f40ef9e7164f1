"""calendar-query through the python caldav library: what Thunderbird, Evolution and the
sync windows of iOS and DAVx5 ask the server."""

import re
import uuid
from urllib.parse import unquote
from datetime import datetime, timezone

import caldav
import pytest
import requests

from icalendar_samples import event, todo


@pytest.fixture
def calendar(gateway):
    user, password = gateway.auth("alice")
    with caldav.DAVClient(url=gateway.url, username=user, password=password, ssl_verify_cert=gateway.ca) as client:
        name = f"q-{uuid.uuid4().hex[:8]}"
        cal = client.principal().make_calendar(name=name, cal_id=name, supported_calendar_component_set=["VEVENT", "VTODO"])
        yield cal
        cal.delete()


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def uids(objects):
    return sorted(str(o.icalendar_component["UID"]) for o in objects)


def test_time_range_search_returns_only_overlapping_events(calendar):
    december = calendar.add_event(event("December", uid="dec@x", start="20261210T090000Z", end="20261210T100000Z")[1])
    calendar.add_event(event("January", uid="jan@x", start="20270110T090000Z", end="20270110T100000Z")[1])
    found = calendar.search(start=utc(2026, 12, 1), end=utc(2027, 1, 1), event=True)
    assert uids(found) == ["dec@x"]
    assert str(found[0].url) == str(december.url)


def test_recurring_event_matches_a_range_that_only_a_later_instance_touches(calendar):
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//it//EN\r\nBEGIN:VEVENT\r\nUID:weekly@x\r\n"
        "DTSTAMP:20261101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20261102T090000\r\n"
        "DTEND;TZID=Europe/Berlin:20261102T100000\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\n"
        "EXDATE;TZID=Europe/Berlin:20261214T090000\r\nSUMMARY:Weekly\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    calendar.add_event(ics)
    assert uids(calendar.search(start=utc(2026, 12, 7), end=utc(2026, 12, 8), event=True)) == ["weekly@x"]
    # The excluded date and the time after COUNT run out match nothing.
    assert uids(calendar.search(start=utc(2026, 12, 14), end=utc(2026, 12, 15), event=True)) == []
    assert uids(calendar.search(start=utc(2027, 2, 1), end=utc(2027, 3, 1), event=True)) == []


def test_events_and_todos_are_told_apart(calendar):
    calendar.add_event(event("An event", uid="e@x")[1])
    calendar.add_todo(todo("A task", uid="t@x")[1])
    assert uids(calendar.events()) == ["e@x"]
    assert uids(calendar.todos(include_completed=True)) == ["t@x"]


def test_event_by_uid_finds_the_resource(calendar):
    saved = calendar.add_event(event("Find me", uid="find-me@x")[1])
    found = calendar.event_by_uid("find-me@x")
    assert str(found.url) == str(saved.url)


def test_text_search_is_a_substring_match_case_sensitive_under_i_octet(calendar):
    # The library sends i;octet unless told otherwise.
    calendar.add_event(event("Quarterly REVIEW", uid="review@x")[1])
    calendar.add_event(event("Lunch", uid="lunch@x")[1])
    assert uids(calendar.search(summary="REVIEW", event=True)) == ["review@x"]
    assert uids(calendar.search(summary="review", event=True)) == []


def report(gateway, calendar, text_match):
    body = (
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:prop-filter name="SUMMARY">{text_match}</C:prop-filter>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )
    response = requests.request(
        "REPORT", str(calendar.url), data=body.encode(), headers={"Depth": "1", "Content-Type": "application/xml"},
        auth=gateway.auth("alice"), verify=gateway.ca, timeout=30,
    )
    response.decoded = unquote(response.text)
    return response


def test_casemap_collations_and_negation_over_raw_reports(gateway, calendar):
    # Hrefs may encode '@' or not; compare decoded.
    a = unquote(calendar.add_event(event("Quarterly REVIEW", uid="review@x")[1]).url.path)
    b = unquote(calendar.add_event(event("Café Lunch", uid="lunch@x")[1]).url.path)
    ascii_casemap = report(gateway, calendar, '<C:text-match collation="i;ascii-casemap">review</C:text-match>')
    assert ascii_casemap.status_code == 207
    assert a in ascii_casemap.decoded and b not in ascii_casemap.decoded
    unicode_casemap = report(gateway, calendar, '<C:text-match collation="i;unicode-casemap">CAFÉ</C:text-match>')
    assert b in unicode_casemap.decoded and a not in unicode_casemap.decoded
    negated = report(gateway, calendar, '<C:text-match negate-condition="yes">review</C:text-match>')
    assert b in negated.decoded and a not in negated.decoded
    unsupported = report(gateway, calendar, '<C:text-match collation="i;klingon">x</C:text-match>')
    assert unsupported.status_code == 403 and "supported-collation" in unsupported.text


def test_free_busy_query_honours_transparency_status_and_fbtype(calendar):
    def add(uid, start, end, extra=""):
        calendar.add_event(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//it//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n{extra}"
            "SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )

    add("busy@x", "20261201T090000Z", "20261201T100000Z")
    add("overlap@x", "20261201T093000Z", "20261201T110000Z")
    add("free@x", "20261201T120000Z", "20261201T130000Z", "TRANSP:TRANSPARENT\r\n")
    add("cancelled@x", "20261201T140000Z", "20261201T150000Z", "STATUS:CANCELLED\r\n")
    add("maybe@x", "20261201T160000Z", "20261201T170000Z", "STATUS:TENTATIVE\r\n")
    add("outside@x", "20261205T090000Z", "20261205T100000Z")
    answer = calendar.freebusy_request(utc(2026, 12, 1), utc(2026, 12, 2))
    lines = [line for line in answer.data.replace("\r\n ", "").splitlines() if line.startswith("FREEBUSY")]
    assert lines == [
        "FREEBUSY;FBTYPE=BUSY:20261201T090000Z/20261201T110000Z",
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261201T160000Z/20261201T170000Z",
    ]


WEEKLY_WITH_OVERRIDE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//it//EN\r\nBEGIN:VEVENT\r\nUID:exp@x\r\n"
    "DTSTAMP:20261101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20261102T090000\r\n"
    "DTEND;TZID=Europe/Berlin:20261102T100000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Weekly\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:exp@x\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261109T090000\r\n"
    "DTSTART;TZID=Europe/Berlin:20261109T150000\r\nDTEND;TZID=Europe/Berlin:20261109T160000\r\n"
    "SUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_expand_returns_each_instance_in_utc_with_its_recurrence_id(gateway, calendar):
    calendar.add_event(WEEKLY_WITH_OVERRIDE)
    body = (
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
        '<C:calendar-data><C:expand start="20261101T000000Z" end="20261117T000000Z"/></C:calendar-data></D:prop>'
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        '<C:time-range start="20261101T000000Z" end="20261117T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
        "</C:calendar-query>"
    )
    response = requests.request(
        "REPORT", str(calendar.url), data=body, headers={"Depth": "1", "Content-Type": "application/xml"},
        auth=gateway.auth("alice"), verify=gateway.ca, timeout=30,
    )
    assert response.status_code == 207
    text = response.text.replace("&#13;", "").replace("\r", "")
    assert "RRULE" not in text and "TZID" not in text
    assert re.findall(r"DTSTART:(\S+)", text) == ["20261102T080000Z", "20261109T140000Z", "20261116T080000Z"]
    assert re.findall(r"RECURRENCE-ID:(\S+)", text) == ["20261102T080000Z", "20261109T080000Z", "20261116T080000Z"]


def test_library_server_side_expansion_gives_one_object_per_instance(calendar):
    calendar.add_event(WEEKLY_WITH_OVERRIDE)
    found = calendar.search(start=utc(2026, 11, 1), end=utc(2026, 11, 17), event=True, expand=True, server_expand=True)
    summaries = sorted(str(o.icalendar_component["SUMMARY"]) for o in found)
    assert summaries == ["Moved", "Weekly", "Weekly"]
