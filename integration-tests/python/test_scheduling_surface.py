"""The RFC 6638 surface (issue 9): OPTIONS, principal and collection properties, the schedule
inbox and outbox, free-busy through the outbox (RFC 6638 §5) for oneself, for a colleague on the
same store and for an unknown address, and the `[scheduling]` policy turning all of it off for a
user or a domain while plain calendar access keeps working. Both backends; a colleague's busy
time needs a backend directory (the embedded store has one; JMAP through the service account
cyrus.py shares the test users with, and 3.7 without one, docs/scheduling.md).
"""

import uuid
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import BACKEND, DIRECTORY, WITHOUT_SERVICE_ACCOUNT

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
XML = {"Content-Type": "application/xml; charset=utf-8"}


def request(gateway, method, path, user="alice", body=None, headers=None):
    return requests.request(
        method,
        f"{gateway.url.rstrip('/')}{path}",
        data=body.encode() if isinstance(body, str) else body,
        headers=headers or {},
        auth=gateway.auth(user),
        timeout=30,
        verify=gateway.ca,
    )


def propfind(gateway, path, props, user="alice", depth="0"):
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
            f'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>{props}</D:prop></D:propfind>')
    response = request(gateway, "PROPFIND", path, user, body, dict(XML, Depth=depth))
    assert response.status_code == 207, response.text
    return ET.fromstring(response.content)


def found(tree, href_suffix, name):
    """The element `name` in the 200 propstat of the response whose href ends with `href_suffix`."""
    for response in tree.findall(f"{DAV}response"):
        if not response.findtext(f"{DAV}href").endswith(href_suffix):
            continue
        for propstat in response.findall(f"{DAV}propstat"):
            if " 200 " in propstat.findtext(f"{DAV}status"):
                element = propstat.find(f"{DAV}prop/{name}")
                if element is not None:
                    return element
    return None


def own_address(gateway, user):
    tree = propfind(gateway, f"/dav/principals/{user}/", "<C:calendar-user-address-set/>", user)
    hrefs = [h.text for h in tree.iter(f"{DAV}href") if h.text.startswith("mailto:")]
    assert hrefs, ET.tostring(tree)
    return hrefs[0]


def put_event(gateway, user, start, end, summary="Secret planning", calendar="calendar"):
    uid = f"{uuid.uuid4()}@example.com"
    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
            f"SUMMARY:{summary}\r\nLOCATION:Room 42\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    response = request(gateway, "PUT", f"/dav/calendars/{user}/{calendar}/{uid}.ics", user, body,
                       {"Content-Type": "text/calendar; charset=utf-8"})
    assert response.status_code == 201, response.text


def free_busy_request(organizer, attendees, start="20270301T000000Z", end="20270302T000000Z"):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "METHOD:REQUEST", "BEGIN:VFREEBUSY",
             f"UID:{uuid.uuid4()}", "DTSTAMP:20261129T000000Z", f"ORGANIZER:{organizer}",
             f"DTSTART:{start}", f"DTEND:{end}"]
    lines += [f"ATTENDEE;CUTYPE=INDIVIDUAL:{a}" for a in attendees]
    lines += ["END:VFREEBUSY", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def post_outbox(gateway, user, body, originator=None):
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    if originator:
        headers["Originator"] = originator
    return request(gateway, "POST", f"/dav/calendars/{user}/outbox/", user, body, headers)


def schedule_response(response):
    """{recipient href: (request-status, calendar-data)} of a CALDAV:schedule-response."""
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.content)
    assert root.tag == f"{CALDAV}schedule-response"
    return {
        r.findtext(f"{CALDAV}recipient/{DAV}href"): (r.findtext(f"{CALDAV}request-status"),
                                                       r.findtext(f"{CALDAV}calendar-data"))
        for r in root.findall(f"{CALDAV}response")
    }


def test_options_advertises_calendar_auto_schedule_to_a_user_who_may_schedule(gateway):
    response = request(gateway, "OPTIONS", "/dav/calendars/alice/")
    assert "calendar-auto-schedule" in response.headers["DAV"]
    assert "POST" in request(gateway, "OPTIONS", "/dav/calendars/alice/outbox/").headers["Allow"]


def test_principal_names_inbox_outbox_and_user_type(gateway):
    tree = propfind(gateway, "/dav/principals/alice/",
                    "<C:schedule-inbox-URL/><C:schedule-outbox-URL/><C:calendar-user-type/>")
    assert found(tree, "/alice/", f"{CALDAV}schedule-inbox-URL").findtext(f"{DAV}href") == "/dav/calendars/alice/inbox/"
    assert found(tree, "/alice/", f"{CALDAV}schedule-outbox-URL").findtext(f"{DAV}href") == "/dav/calendars/alice/outbox/"
    assert found(tree, "/alice/", f"{CALDAV}calendar-user-type").text == "INDIVIDUAL"


def test_inbox_and_outbox_are_collections_of_their_kind_in_the_home(gateway):
    tree = propfind(gateway, "/dav/calendars/alice/", "<D:resourcetype/><C:schedule-default-calendar-URL/>", depth="1")
    assert found(tree, "/alice/inbox/", f"{DAV}resourcetype").find(f"{CALDAV}schedule-inbox") is not None
    assert found(tree, "/alice/outbox/", f"{DAV}resourcetype").find(f"{CALDAV}schedule-outbox") is not None
    default = found(tree, "/dav/calendars/alice/", f"{CALDAV}schedule-default-calendar-URL")
    assert default.findtext(f"{DAV}href") == "/dav/calendars/alice/calendar/"
    # The inbox lists (empty so far: no delivery yet), answers sync-collection, refuses PUT.
    propfind(gateway, "/dav/calendars/alice/inbox/", "<D:getetag/>", depth="1")
    sync = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token/>'
            '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>')
    assert request(gateway, "REPORT", "/dav/calendars/alice/inbox/", body=sync, headers=XML).status_code == 207
    put = request(gateway, "PUT", "/dav/calendars/alice/inbox/x.ics", body=free_busy_request("mailto:a@b.c", ["mailto:d@e.f"]),
                  headers={"Content-Type": "text/calendar"})
    assert put.status_code == 403
    assert request(gateway, "DELETE", "/dav/calendars/alice/inbox/").status_code == 403
    assert request(gateway, "MKCALENDAR", "/dav/calendars/alice/outbox/").status_code == 405


def test_schedule_calendar_transp_is_opaque_until_set_and_then_kept(gateway):
    assert request(gateway, "MKCALENDAR", "/dav/calendars/alice/transp-test/").status_code == 201
    tree = propfind(gateway, "/dav/calendars/alice/transp-test/", "<C:schedule-calendar-transp/>")
    assert found(tree, "/transp-test/", f"{CALDAV}schedule-calendar-transp").find(f"{CALDAV}opaque") is not None
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:set><D:prop><C:schedule-calendar-transp><C:transparent/></C:schedule-calendar-transp></D:prop></D:set>'
            '</D:propertyupdate>')
    response = request(gateway, "PROPPATCH", "/dav/calendars/alice/transp-test/", body=body, headers=XML)
    assert response.status_code == 207 and " 200 " in response.text, response.text
    tree = propfind(gateway, "/dav/calendars/alice/transp-test/", "<C:schedule-calendar-transp/>")
    assert found(tree, "/transp-test/", f"{CALDAV}schedule-calendar-transp").find(f"{CALDAV}transparent") is not None
    assert request(gateway, "DELETE", "/dav/calendars/alice/transp-test/").status_code == 204


def test_free_busy_of_oneself_is_busy_time_only_and_skips_transparent_calendars(gateway):
    me = own_address(gateway, "alice")
    put_event(gateway, "alice", "20270301T090000Z", "20270301T100000Z")
    assert request(gateway, "MKCALENDAR", "/dav/calendars/alice/fb-holidays/").status_code == 201
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:set><D:prop><C:schedule-calendar-transp><C:transparent/></C:schedule-calendar-transp></D:prop></D:set>'
            '</D:propertyupdate>')
    assert request(gateway, "PROPPATCH", "/dav/calendars/alice/fb-holidays/", body=body, headers=XML).status_code == 207
    put_event(gateway, "alice", "20270301T140000Z", "20270301T150000Z", calendar="fb-holidays")
    answers = schedule_response(post_outbox(gateway, "alice", free_busy_request(me, [me]), originator=me))
    status, data = answers[me]
    assert status == "2.0;Success"
    assert "METHOD:REPLY" in data and f"ATTENDEE;CUTYPE=INDIVIDUAL:{me}" in data.replace("\r\n ", "")
    assert "FREEBUSY;FBTYPE=BUSY:20270301T090000Z/20270301T100000Z" in data
    assert "20270301T140000Z" not in data
    assert "Secret" not in data and "Room 42" not in data
    request(gateway, "DELETE", "/dav/calendars/alice/fb-holidays/")


def test_free_busy_of_two_colleagues_and_of_an_unknown_address(gateway):
    me = own_address(gateway, "alice")
    colleague = own_address(gateway, "bob")
    second = own_address(gateway, "tester")
    put_event(gateway, "bob", "20270302T110000Z", "20270302T113000Z", summary="Bob's secret")
    put_event(gateway, "tester", "20270302T140000Z", "20270302T150000Z", summary="Tester's secret")
    unknown = "mailto:nobody-here@unknown.example"
    body = free_busy_request(me, [colleague, second, unknown], start="20270302T000000Z", end="20270303T000000Z")
    answers = schedule_response(post_outbox(gateway, "alice", body))
    assert answers[unknown] == ("3.7;Invalid calendar user", None)
    for address, busy in [(colleague, "20270302T110000Z/20270302T113000Z"), (second, "20270302T140000Z/20270302T150000Z")]:
        status, data = answers[address]
        if DIRECTORY:
            assert status == "2.0;Success", answers
            assert f"FREEBUSY;FBTYPE=BUSY:{busy}" in data, data
            assert "secret" not in data and "Room 42" not in data
        else:
            # No directory on JMAP without a service account: another account cannot be read.
            assert status == "3.7;Invalid calendar user", answers


@pytest.mark.skipif(BACKEND != "jmap", reason="the embedded store always reads its own users")
def test_without_a_service_account_a_colleagues_free_busy_is_an_invalid_user(start_dedicated_gateway):
    gateway = start_dedicated_gateway(**WITHOUT_SERVICE_ACCOUNT)
    me, colleague = own_address(gateway, "alice"), own_address(gateway, "bob")
    put_event(gateway, "bob", "20270302T140000Z", "20270302T143000Z")
    body = free_busy_request(me, [me, colleague], start="20270302T000000Z", end="20270303T000000Z")
    answers = schedule_response(post_outbox(gateway, "alice", body))
    assert answers[colleague] == ("3.7;Invalid calendar user", None), answers
    assert answers[me][0] == "2.0;Success", answers


def test_outbox_refuses_requests_not_from_the_user(gateway):
    me = own_address(gateway, "alice")
    bob = own_address(gateway, "bob")
    refused = post_outbox(gateway, "alice", free_busy_request(bob, [me]))
    assert refused.status_code == 403 and "organizer-allowed" in refused.text
    refused = post_outbox(gateway, "alice", free_busy_request(me, [me]), originator=bob)
    assert refused.status_code == 403 and "originator-allowed" in refused.text
    refused = post_outbox(gateway, "alice", free_busy_request(me, []))
    assert refused.status_code == 403 and "recipient-specified" in refused.text
    too_many = [f"mailto:person{i}@unknown.example" for i in range(101)]
    refused = post_outbox(gateway, "alice", free_busy_request(me, too_many))
    assert refused.status_code == 403 and "max-recipients" in refused.text


def assert_no_scheduling_for(gateway, user, colleague):
    assert "calendar-auto-schedule" not in request(gateway, "OPTIONS", f"/dav/calendars/{user}/", user).headers["DAV"]
    tree = propfind(gateway, f"/dav/principals/{user}/", "<C:schedule-inbox-URL/><C:schedule-outbox-URL/>", user)
    assert found(tree, f"/{user}/", f"{CALDAV}schedule-inbox-URL") is None
    assert request(gateway, "PROPFIND", f"/dav/calendars/{user}/inbox/", user, headers={"Depth": "0"}).status_code == 404
    assert request(gateway, "PROPFIND", f"/dav/calendars/{user}/outbox/", user, headers={"Depth": "0"}).status_code == 404
    me = own_address(gateway, user)
    refused = post_outbox(gateway, user, free_busy_request(me, [me]))
    assert refused.status_code == 403 and "not available" in refused.text
    # Plain calendar access is unchanged.
    put_event(gateway, user, "20270305T090000Z", "20270305T100000Z")
    tree = propfind(gateway, f"/dav/calendars/{user}/calendar/", "<D:getetag/>", user, depth="1")
    assert len(tree.findall(f"{DAV}response")) >= 2
    # A colleague who may schedule sees this user as no calendar user for scheduling.
    other = own_address(gateway, colleague)
    answers = schedule_response(post_outbox(gateway, colleague, free_busy_request(other, [me])))
    assert answers[me][0] == "3.7;Invalid calendar user"
    # And this user's meetings schedule nothing: the colleague's inbox gets no invitation.
    inbox = f"/dav/calendars/{colleague}/inbox/"
    before = len(propfind(gateway, inbox, "<D:getetag/>", colleague, depth="1").findall(f"{DAV}response"))
    uid = f"{uuid.uuid4()}@example.com"
    meeting = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
               f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20270307T090000Z\r\n"
               f"DTEND:20270307T100000Z\r\nSUMMARY:Invitation\r\nORGANIZER:{me}\r\n"
               f"ATTENDEE;PARTSTAT=ACCEPTED:{me}\r\nATTENDEE;RSVP=TRUE:{other}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    put = request(gateway, "PUT", f"/dav/calendars/{user}/calendar/{uid}.ics", user, meeting,
                  {"Content-Type": "text/calendar; charset=utf-8"})
    assert put.status_code == 201, put.text
    assert "Schedule-Tag" not in put.headers
    after = len(propfind(gateway, inbox, "<D:getetag/>", colleague, depth="1").findall(f"{DAV}response"))
    assert after == before


def test_policy_turns_scheduling_off_for_a_listed_user(start_dedicated_gateway):
    gateway = start_dedicated_gateway(GATEWAY__SCHEDULING__DISABLED_USERS='["bob"]')
    assert_no_scheduling_for(gateway, "bob", "alice")
    assert "calendar-auto-schedule" in request(gateway, "OPTIONS", "/dav/calendars/alice/").headers["DAV"]


def test_policy_turns_scheduling_off_for_a_domain(start_dedicated_gateway):
    probe = start_dedicated_gateway(GATEWAY__MAIL__DOMAIN="mail.test")
    domain = own_address(probe, "bob").rsplit("@", 1)[1]
    gateway = start_dedicated_gateway(GATEWAY__MAIL__DOMAIN="mail.test",
                                      GATEWAY__SCHEDULING__DISABLED_DOMAINS=f'["{domain}"]')
    # Every test user shares the domain, so alice, who asks, is off too: only bob's side is checked.
    assert "calendar-auto-schedule" not in request(gateway, "OPTIONS", "/dav/calendars/bob/", "bob").headers["DAV"]
    assert request(gateway, "PROPFIND", "/dav/calendars/bob/outbox/", "bob", headers={"Depth": "0"}).status_code == 404
    put_event(gateway, "bob", "20270306T090000Z", "20270306T100000Z")


@pytest.mark.skipif(not DIRECTORY, reason="delivery to a colleague needs the backend directory")
def test_inbox_messages_can_be_listed_read_multigot_and_deleted(gateway):
    organizer, attendee = own_address(gateway, "alice"), own_address(gateway, "bob")
    inbox = "/dav/calendars/bob/inbox/"
    before = {r.findtext(f"{DAV}href") for r in propfind(gateway, inbox, "<D:getetag/>", "bob", "1").findall(f"{DAV}response")}
    uid = f"{uuid.uuid4()}@example.com"
    meeting = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
               f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20270308T090000Z\r\n"
               f"DTEND:20270308T100000Z\r\nSUMMARY:Review\r\nORGANIZER:{organizer}\r\n"
               f"ATTENDEE;PARTSTAT=ACCEPTED:{organizer}\r\nATTENDEE;RSVP=TRUE:{attendee}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    put = request(gateway, "PUT", f"/dav/calendars/alice/calendar/{uid}.ics", "alice", meeting,
                  {"Content-Type": "text/calendar; charset=utf-8"})
    assert put.status_code == 201, put.text
    listed = propfind(gateway, inbox, "<D:getetag/>", "bob", "1").findall(f"{DAV}response")
    new = [h for h in (r.findtext(f"{DAV}href") for r in listed) if h not in before]
    assert len(new) == 1, new
    message = request(gateway, "GET", new[0], "bob")
    assert message.status_code == 200 and "METHOD:REQUEST" in message.text and uid in message.text
    multiget = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
                f'<D:href>{new[0]}</D:href></C:calendar-multiget>')
    answer = request(gateway, "REPORT", inbox, "bob", multiget, dict(XML, Depth="1"))
    assert answer.status_code == 207 and uid in answer.text, answer.text
    assert request(gateway, "DELETE", new[0], "bob").status_code == 204
    assert request(gateway, "GET", new[0], "bob").status_code == 404
