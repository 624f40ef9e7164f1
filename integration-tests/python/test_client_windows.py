"""Windows Calendar (Mail and Calendar app, "iCloud" account with its CalDAV server changed under
advanced settings), replayed as far as public sources show it (docs/clients/windows.md).

Closed source, and no request body of it is public. What this file sends rests on:
- User-Agents: `MSFT-WIN-3/10.0.19041` (Windows 10 desktop, nextcloud/server#27488),
  `MSFT-WIN-3/10.0.10586 (gzip)` (Windows 10 1511, sabre-io/Baikal#489),
  `MSFT-WIN-4/10.0.10586 (gzip)` (Windows 10 Mobile, sabre-io/dav#737), `MSFT-WP/10.0.10240
  (gzip)` (Windows 10 build 10240, sabre-io/Baikal#388);
- discovery: the nginx logs of sabre-io/Baikal#388 and #489: `PROPFIND /.well-known/caldav/`
  (with the trailing slash) answered by a redirect, PROPFIND of the target, then PROPFINDs of
  `/principals/`, `/caldav/v2/`, `/calendar/dav/`, `/`; the user name is on every log line, so
  Basic credentials go with the first request; Basic only (sabre-io/Baikal#173);
- `Depth: 0` on its calendar-query REPORT against a calendar, which it expects answered like
  Depth 1 (sabre-io/dav lib/CalDAV/Plugin.php, sabre-io/dav#727, owncloud-archive/3rdparty#231);
  a server that answers it with nothing shows the calendars without events (sabre-io/dav#1263,
  owncloud-archive/calendar#966).

The discovery PROPFINDs are sent without a body (none is public); the checks use only what the
log shows and what does not depend on the body. The calendar-query fixture is not Windows's own
body (see clients/windows/README.md). Event data is put in by test setup, not as Windows writes
it: that is not public either.
"""

import uuid

import pytest

from client_replay import Replay, multistatus, prop_text

UA_WINDOWS_10 = "MSFT-WIN-3/10.0.19041"
UA_WINDOWS_10_1511 = "MSFT-WIN-3/10.0.10586 (gzip)"
UA_WINDOWS_10_MOBILE = "MSFT-WIN-4/10.0.10586 (gzip)"
UA_WINDOWS_10_10240 = "MSFT-WP/10.0.10240 (gzip)"

SETUP_EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//caldav-gateway tests//setup//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20261129T090000Z\r
DTSTART:20270112T090000Z\r
DTEND:20270112T100000Z\r
SUMMARY:set up by the test\r
END:VEVENT\r
END:VCALENDAR\r
"""


def setup_calendar_with_events(r, count):
    """Test setup, not a Windows request: a calendar of the test's own holding `count` events."""
    calendar = f"/dav/calendars/{r.user}/windows-{uuid.uuid4().hex[:8]}/"
    resp = r.request("MKCALENDAR", calendar)
    assert resp.status_code == 201, r.transcript()
    hrefs = []
    for _ in range(count):
        uid = f"windows-{uuid.uuid4()}"
        href = f"{calendar}{uid}.ics"
        resp = r.request("PUT", href, body=SETUP_EVENT.format(uid=uid), headers={"Content-Type": "text/calendar"})
        assert resp.status_code == 201, r.transcript()
        hrefs.append(href)
    return calendar, hrefs


@pytest.mark.parametrize("user_agent", [UA_WINDOWS_10, UA_WINDOWS_10_1511, UA_WINDOWS_10_10240])
def test_windows_well_known_with_trailing_slash_leads_to_the_dav_root(module_gateway, user_agent):
    # Baikal#388 and #489: the user typed only the host; "PROPFIND /.well-known/caldav/ ... 302",
    # then PROPFIND of the redirect target. Every line of those logs carries the user name
    # (nginx's $remote_user), so Windows sends Basic credentials from the first request on.
    with Replay(module_gateway, client="windows", user_agent=user_agent, preemptive=True) as r:
        resp = r.request("PROPFIND", "/.well-known/caldav/")
        assert resp.status_code in (301, 302, 303, 307, 308), r.transcript()
        target = r.follow(resp)
        assert target.startswith("/"), r.transcript()
        resp = r.request("PROPFIND", target)
        assert resp.status_code == 207, r.transcript()
        ms = multistatus(resp)
        assert any(h.rstrip("/") == target.rstrip("/") for h in ms), r.transcript()


def test_windows_probes_of_fixed_paths_get_plain_answers(module_gateway):
    # Baikal#388 (MSFT-WP/10.0.10240) and #489 (MSFT-WIN-3/10.0.10586): after the well-known
    # redirect Windows PROPFINDs /principals/, /caldav/v2/, /calendar/dav/ and / (Baikal
    # answered 405 and Windows went on). The gateway answers the bare host as a DAV resource
    # (current-user-principal, for clients that start there) and the others with a plain 4xx:
    # no redirect loop and no server error to stop the account set-up.
    with Replay(module_gateway, client="windows", user_agent=UA_WINDOWS_10_1511, preemptive=True) as r:
        for path in ("/principals/", "/caldav/v2/", "/calendar/dav/"):
            resp = r.request("PROPFIND", path)
            assert 400 <= resp.status_code < 500 and resp.status_code != 401, r.transcript()
        resp = r.request("PROPFIND", "/")
        assert resp.status_code == 207, r.transcript()


def test_windows_without_credentials_gets_a_basic_challenge(module_gateway):
    # Baikal#173: Windows speaks Basic only ("cannot be changed"); Baikal#388: with Baikal's
    # Digest default it got 401 for good. The gateway's challenge is Basic.
    with Replay(module_gateway, client="windows", user_agent=UA_WINDOWS_10, preemptive=False) as r:
        target = r.follow(r.request("PROPFIND", "/.well-known/caldav/", auth=False))
        resp = r.request("PROPFIND", target)
        challenges = [e for e in r.exchanges if "\n< 401 " in e]
        assert challenges and "www-authenticate: Basic" in challenges[0], r.transcript()
        assert resp.status_code == 207, r.transcript()


def test_windows_without_trailing_slash_reaches_the_same_place(module_gateway):
    with Replay(module_gateway, client="windows", user_agent=UA_WINDOWS_10) as r:
        with_slash = r.follow(r.request("PROPFIND", "/.well-known/caldav/"))
        without = r.follow(r.request("PROPFIND", "/.well-known/caldav"))
        assert with_slash == without, r.transcript()


@pytest.mark.parametrize("user_agent", [UA_WINDOWS_10, UA_WINDOWS_10_MOBILE, UA_WINDOWS_10_10240])
def test_windows_calendar_query_with_depth_0_returns_the_events(module_gateway, user_agent):
    # sabre/dav answers "A calendar-query REPORT on a calendar with a Depth: 0 is undefined"
    # with 400 to everyone but `MSFT-*`, for whom it takes Depth 1. The gateway needs no
    # User-Agent: on a calendar it answers the objects whatever the Depth
    # (crates/gateway/src/methods/report/scope.rs), so all Windows versions get their events.
    with Replay(module_gateway, client="windows", user_agent=user_agent) as r:
        calendar, hrefs = setup_calendar_with_events(r, 2)
        answers = {}
        for depth in ("0", "1"):
            resp = r.request("REPORT", calendar, body=r.body("calendar-query-depth0.xml"),
                             headers={"Depth": depth, "Content-Type": "text/xml; charset=utf-8"})
            ms = multistatus(resp)
            answers[depth] = {h: prop_text(ms, h, "{DAV:}getetag") for h in ms}
        assert sorted(answers["0"]) == sorted(hrefs), r.transcript()
        assert all(answers["0"].values()), r.transcript()
        assert answers["0"] == answers["1"], r.transcript()
