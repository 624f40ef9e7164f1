"""Calendar objects the tests store; each call gives a fresh UID unless one is passed."""

import uuid


def event(summary="Meeting", uid=None, start="20261201T090000Z", end="20261201T100000Z"):
    uid = uid or f"{uuid.uuid4()}@example.com"
    return uid, (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//integration//tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T120000Z\r\n"
        f"DTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def todo(summary="Task", uid=None, due="20261205T170000Z"):
    uid = uid or f"{uuid.uuid4()}@example.com"
    return uid, (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//integration//tests//EN\r\n"
        f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20261101T120000Z\r\nDUE:{due}\r\n"
        f"SUMMARY:{summary}\r\nSTATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
