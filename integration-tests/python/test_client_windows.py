"""Windows Calendar (Mail and Calendar app, "iCloud" account with its CalDAV server changed under
advanced settings), replayed as far as public sources show it (docs/clients/windows.md).

Closed source, and no request body of it is public. What this file sends rests on:
- User-Agents: `MSFT-WIN-3/10.0.19041` (Windows 10 desktop, nextcloud/server#27488),
  `MSFT-WIN-4/10.0.10586 (gzip)` (Windows 10 Mobile, sabre-io/dav#737), `MSFT-WP/10.0.10240
  (gzip)` (Windows 10 build 10240, sabre-io/Baikal#388);
- discovery: the nginx log of sabre-io/Baikal#388: `PROPFIND /.well-known/caldav/` (with the
  trailing slash) answered by a redirect, then PROPFIND of the target first without
  credentials (401), i.e. it waits for the challenge; Basic only (sabre-io/Baikal#173);
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


@pytest.mark.parametrize("user_agent", [UA_WINDOWS_10, UA_WINDOWS_10_10240])
def test_windows_well_known_with_trailing_slash_redirects_then_challenges(module_gateway, user_agent):
    # Baikal#388: "PROPFIND /.well-known/caldav/ ... 302", then the target, first without
    # credentials ("401"), then with them.
    with Replay(module_gateway, client="windows", user_agent=user_agent, preemptive=False,
                challenge_per_path=True) as r:
        resp = r.request("PROPFIND", "/.well-known/caldav/", auth=False)
        assert resp.status_code in (301, 302, 303, 307, 308), r.transcript()
        target = r.follow(resp)
        assert target.startswith("/"), r.transcript()

        resp = r.request("PROPFIND", target)
        # The first request of the path got the Basic challenge (Baikal#173: Windows speaks
        # Basic only), the retry with credentials a multistatus.
        challenges = [e for e in r.exchanges if "\n< 401 " in e]
        assert challenges and "www-authenticate: Basic" in challenges[0], r.transcript()
        assert resp.status_code == 207, r.transcript()
        ms = multistatus(resp)
        assert any(h.rstrip("/") == target.rstrip("/") for h in ms), r.transcript()


def test_windows_without_trailing_slash_reaches_the_same_place(module_gateway):
    with Replay(module_gateway, client="windows", user_agent=UA_WINDOWS_10, preemptive=False) as r:
        with_slash = r.follow(r.request("PROPFIND", "/.well-known/caldav/", auth=False))
        without = r.follow(r.request("PROPFIND", "/.well-known/caldav", auth=False))
        assert with_slash == without, r.transcript()


@pytest.mark.parametrize("user_agent", [UA_WINDOWS_10, UA_WINDOWS_10_MOBILE, UA_WINDOWS_10_10240])
def test_windows_calendar_query_with_depth_0_returns_the_events(module_gateway, user_agent):
    # sabre/dav answers "A calendar-query REPORT on a calendar with a Depth: 0 is undefined"
    # with 400 to everyone but `MSFT-*`, for whom it takes Depth 1. The gateway needs no
    # User-Agent: on a calendar it answers the objects whatever the Depth
    # (crates/gateway/src/methods/report/scope.rs), so all Windows versions get their events.
    with Replay(module_gateway, client="windows", user_agent=user_agent, preemptive=False) as r:
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
