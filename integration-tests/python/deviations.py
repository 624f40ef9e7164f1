"""Every deviation the outside suites may report, in one place, each with its reason.

The runners (test_litmus.py, test_caldav_server_tester.py, test_python_caldav_suite.py) fail
on anything a suite reports that is not listed here for the backend under test, and also on a
listing that the suite no longer reports (a stale entry hides the next regression). A reason
names the RFC section, the issue, or the client whose behaviour it matches.

`backends` in an entry restricts it to the backends it was observed on; without it the entry
holds for every backend (the gateway's own behaviour, whatever stores the calendars).
"""

from dataclasses import dataclass

EVERY_BACKEND = frozenset({"embedded", "jmap", "imap"})


@dataclass(frozen=True)
class Deviation:
    reason: str
    backends: frozenset = EVERY_BACKEND


# litmus 0.13 (Debian). Warnings are matched on their text after "WARNING: ".
LITMUS_WARNINGS = {
    "server does not claim Class 2 compliance": Deviation(
        "LOCK is optional for CalDAV (RFC 4791 §2) and none of the promised clients locks; "
        "the gateway does not advertise DAV class 2"
    ),
    # litmus sends `DELETE /litmus/frag/#ment`. A request target cannot carry a fragment
    # (RFC 9112 §3.2) and the `http` crate's URI parser drops it before any handler runs, so the
    # gateway sees `DELETE /litmus/frag/` and cannot tell; a real client never sends one.
    "DELETE removed collection resource with Request-URI including fragment; unsafe": Deviation(
        "RFC 9112 §3.2: no fragment in a request target; the URI parser drops it before the gateway"
    ),
}

# litmus tests it skips itself, as "<suite>.<test>".
LITMUS_SKIPS = {
    "locks.precond": Deviation(
        "litmus skips the lock tests after `options` because the gateway does not claim class 2 "
        "(LOCK is optional for CalDAV, RFC 4791 §2)"
    ),
}

# caldav-server-tester 1.7.0: every feature whose support it reports as anything but "full",
# with the support level it reports. "unknown" means the tester could not decide.
CALDAV_SERVER_TESTER = {
    "scheduling.freebusy-query": ("unknown", Deviation(
        "the tester probes it only with a second user, and runs with one here; "
        "test_scheduling_surface.py and the python caldav suite's testFreeBusy cover it")),
    "scheduling.mailbox.inbox-delivery": ("unknown", Deviation(
        "the tester probes it only with a second user, and runs with one here")),
    "scheduling.schedule-tag.stable-partstat": ("unknown", Deviation(
        "the tester probes it only with a second user, and runs with one here")),
    "scheduling.auto-schedule": ("unknown", Deviation(
        "the tester probes it only with a second user, and runs with one here")),
    "search.time-range.comp-type-optional": ("unsupported", Deviation(
        "RFC 4791 §9.7.1: a time-range filter applies to the component it sits in; under the bare "
        "VCALENDAR comp-filter it matches no VCALENDAR property, so the query returns nothing")),
    "search.text.comp-type-optional": ("unsupported", Deviation(
        "RFC 4791 §9.7.2: a prop-filter under the bare VCALENDAR comp-filter tests VCALENDAR's own "
        "properties, not those of the components inside")),
    "url.encode-at.identity": ("unsupported", Deviation(
        "RFC 3986 §2.2/§6.2.2.2: '@' and '%40' are the same path character, so both spellings reach "
        "one resource; the tester wants them told apart")),
    "url.encode-at.literal.principal": ("unknown", Deviation(
        "the tester cannot decide: principal URLs carry no '@' (user names are plain)")),
    "well-known": ("unknown", Deviation(
        "the tester does not probe /.well-known/caldav on localhost ('not applicable'); "
        "test_http_semantics.py checks its 301 to /dav/ (RFC 6764 §5)")),
}

# The python caldav library's own suite (tests/test_caldav.py of its sdist, caldav 3.6.0).
# Limitations declared to the suite, as it reads them from caldav_test_servers.yaml.
PYTHON_CALDAV_DECLARED = {}

# Tests of that suite allowed to be skipped (or xfailed), by test name without parameters.
PYTHON_CALDAV_SKIPS = {
    "testChangeAttendeeStatusWithEmptyAddressSet": Deviation(
        "the gateway populates calendar-user-address-set with a mailto: first (RFC 6638 §2.4.1), so "
        "the suite's fallback for an empty address set does not apply"),
    "testIssue399ChangeAttendeeStatusUsernameEmailFallback": Deviation(
        "the test user's login is no mail address; the suite skips the username-as-address fallback"),
    "testAcceptInviteUsernameEmailFallback": Deviation(
        "the attendee's login (bob) is no mail address, so the suite skips its username-as-address case"),
}

# Tests of that suite not run at all (deselected with -k): each fails, and declaring the feature
# unsupported is no way out when another test of the suite observes it working.
PYTHON_CALDAV_DESELECTED = {
}
