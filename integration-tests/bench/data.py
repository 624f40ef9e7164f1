"""The realistic calendar every benchmark loads: the same events for every server.

Events: timed in Europe/Berlin with an organizer, an attendee and an alarm, 15% weekly recurring
with COUNT, 5% all-day, spread over two years from 2026-01-01 (fixed seed: the same objects in
every run). Tasks: one VTODO for every ten events, in the same calendar, because that is where
DAVx5 (jtx Board/OpenTasks), Thunderbird and Apple Reminders find them on servers that mix
components, and it makes the VEVENT queries skip them as they would in a real mixed calendar.
"""

import random
from datetime import datetime, timedelta

TZ = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
    "TZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
)
WORDS = "planning review sync budget design hiring offsite retro launch demo customer call lunch dentist".split()
HEADER = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"


def events(count):
    """(file name, iCalendar text) of `count` events; the same ones as every earlier run."""
    rng = random.Random(4711)
    base = datetime(2026, 1, 1)
    for n in range(count):
        uid = f"bench-{n:05d}@example.com"
        day = base + timedelta(days=rng.randrange(730))
        kind = rng.random()
        summary = " ".join(rng.choice(WORDS) for _ in range(3)).capitalize()
        lines = [f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"SUMMARY:{summary}",
                 f"DESCRIPTION:{' '.join(rng.choice(WORDS) for _ in range(30))}", "LOCATION:Room 4.11"]
        if kind < 0.05:
            lines += [f"DTSTART;VALUE=DATE:{day:%Y%m%d}", f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}", "TRANSP:TRANSPARENT"]
        else:
            start = day.replace(hour=rng.randrange(7, 19), minute=rng.choice([0, 15, 30, 45]))
            end = start + timedelta(minutes=rng.choice([15, 30, 60, 90]))
            lines += [f"DTSTART;TZID=Europe/Berlin:{start:%Y%m%dT%H%M%S}", f"DTEND;TZID=Europe/Berlin:{end:%Y%m%dT%H%M%S}"]
            if kind < 0.20:
                lines.append(f"RRULE:FREQ=WEEKLY;COUNT={rng.randrange(4, 30)}")
            lines += ["ORGANIZER;CN=Alice:mailto:alice@example.com",
                      "ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.com"]
        body = "\r\n".join(lines)
        alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
        ics = HEADER + TZ + f"BEGIN:VEVENT\r\n{body}\r\n{alarm}END:VEVENT\r\nEND:VCALENDAR\r\n"
        yield f"{uid.split('@')[0]}.ics", ics


def tasks(count):
    """(file name, iCalendar text) of `count` tasks: a third done, most with a due date in
    the same two years, some with a priority, as a task app writes them."""
    rng = random.Random(815)
    base = datetime(2026, 1, 1)
    for n in range(count):
        uid = f"task-{n:05d}@example.com"
        due = base + timedelta(days=rng.randrange(730), hours=rng.randrange(8, 18))
        lines = [f"UID:{uid}", "DTSTAMP:20260101T000000Z",
                 f"SUMMARY:{' '.join(rng.choice(WORDS) for _ in range(3)).capitalize()}",
                 f"DESCRIPTION:{' '.join(rng.choice(WORDS) for _ in range(12))}"]
        if rng.random() < 0.8:
            lines.append(f"DUE;TZID=Europe/Berlin:{due:%Y%m%dT%H%M%S}")
        if rng.random() < 0.3:
            lines.append(f"PRIORITY:{rng.choice([1, 5, 9])}")
        if rng.random() < 0.33:
            lines += ["STATUS:COMPLETED", f"COMPLETED:{due + timedelta(hours=1):%Y%m%dT%H%M%SZ}", "PERCENT-COMPLETE:100"]
        else:
            lines.append("STATUS:NEEDS-ACTION")
        body = "\r\n".join(lines)
        yield f"{uid.split('@')[0]}.ics", HEADER + TZ + f"BEGIN:VTODO\r\n{body}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"


def calendar(event_count):
    """The events and one task for every ten events, tasks last."""
    return list(events(event_count)) + list(tasks(event_count // 10))


def changed(ics, mark):
    """The same object with another SUMMARY: an edit as a client makes it."""
    head, _, tail = ics.partition("SUMMARY:")
    return head + f"SUMMARY:{mark} " + tail


def new_event(uid, summary="Bench write"):
    """A small new event for the PUT workloads (a client creating one appointment)."""
    return (HEADER + TZ + f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:{summary}\r\n"
            "DTSTART;TZID=Europe/Berlin:20270315T100000\r\nDTEND;TZID=Europe/Berlin:20270315T110000\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
