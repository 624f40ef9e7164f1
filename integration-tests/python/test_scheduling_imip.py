"""Scheduling carried by the mail system (RFC 6047 iMIP), with real mail servers on loopback.

On JMAP (Cyrus) without a service account: an invitation to a colleague leaves through
Cyrus's EmailSubmission, passes the test MTA (integration-tests/cyrus/mail_relay.py, an
aiosmtpd server that keeps a copy and delivers to Cyrus over LMTP), lands in the attendee's
INBOX, and the gateway applies it at the attendee's next request; the answer goes back the
same way. With the service account (the default test gateway when cyrus.py made one), the
same invitation and answer are delivered directly and no mail leaves. Mail from outside, appended by LMTP as an
MTA would, reaches the CalDAV inbox and the calendar exactly once, and only from its author.

On the embedded store (no mail system of its own): invitations to people outside the store
go to the configured SMTP submission server, here a mail_relay.py the test starts.
"""

import email
import email.policy
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
import uuid

import icalendar
import pytest

from conftest import BACKEND, WITHOUT_SERVICE_ACCOUNT
from test_http_semantics import Http, put_event

RELAY = pathlib.Path(__file__).resolve().parents[1] / "cyrus" / "mail_relay.py"
CYRUS = pathlib.Path(__file__).resolve().parents[1] / "cyrus" / "cyrus.py"
# The gateway looks at a user's INBOX at most every 10 s; the mail itself takes well under
# a second on loopback.
ARRIVAL_S = 40
QUERY_ALL = (
    '<c:calendar-query xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:d="DAV:"><d:prop><d:getetag/>'
    '<c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>'
)
ADDRESS_SET = (
    '<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>'
    "<c:calendar-user-address-set/></d:prop></d:propfind>"
)


def address_of(http, user):
    response = http.request("PROPFIND", f"/dav/principals/{user}/", headers={"Depth": "0"}, data=ADDRESS_SET)
    assert response.status_code == 207, response.text
    found = re.search(r"<D:href>mailto:([^<]+)</D:href>", response.text, re.I)
    assert found, response.text
    return found.group(1)


def meeting(uid, organizer, attendees, summary="Planning", sequence=0):
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//gateway tests//EN", "BEGIN:VEVENT", f"UID:{uid}",
        "DTSTAMP:20261129T080000Z", f"SEQUENCE:{sequence}", "DTSTART:20261214T100000Z", "DTEND:20261214T110000Z",
        f"SUMMARY:{summary}", f"ORGANIZER;CN=Organizer:mailto:{organizer}",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{organizer}",
    ]
    lines += [f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{a}" for a in attendees]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"



def accept_in_calendar(bob, b, uid):
    """Bob accepts the invitation in his calendar as a client does: finds it by listing, then
    PUTs his PARTSTAT with If-Schedule-Tag-Match; the answer must be 204."""
    listing = bob.request("PROPFIND", "/dav/calendars/bob/calendar/", headers={"Depth": "1"})
    href = next(h for h in re.findall(r"<D:href>([^<]+\.ics)</D:href>", listing.text)
                if uid in bob.request("GET", h).text)
    current = bob.request("GET", href)
    accepted = current.text.replace(f"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{b}", f"PARTSTAT=ACCEPTED:mailto:{b}")
    assert accepted != current.text
    answer = put_event(bob, href, accepted, **{"If-Schedule-Tag-Match": current.headers["Schedule-Tag"]})
    assert answer.status_code == 204, answer.text

def calendar_objects(http, user, collection="calendar"):
    response = http.request("REPORT", f"/dav/calendars/{user}/{collection}/", headers={"Depth": "1"}, data=QUERY_ALL)
    assert response.status_code == 207, response.text
    datas = re.findall(r"<C:calendar-data[^>]*>(.*?)</C:calendar-data>", response.text, re.S | re.I)
    return [icalendar.Calendar.from_ical(d.replace("&#13;", "\r").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")) for d in datas]


def inbox_objects(http, user):
    """The scheduling messages in the user's inbox, read as a client that lists and GETs."""
    listing = http.request("PROPFIND", f"/dav/calendars/{user}/inbox/", headers={"Depth": "1"})
    assert listing.status_code == 207, listing.text
    hrefs = re.findall(r"<D:href>([^<]+\.ics)</D:href>", listing.text, re.I)
    return [icalendar.Calendar.from_ical(http.request("GET", h).text) for h in hrefs]


def events_with_uid(http, user, uid, collection="calendar"):
    objects = inbox_objects(http, user) if collection == "inbox" else calendar_objects(http, user, collection)
    return [c for c in objects for e in c.walk("VEVENT") if str(e["UID"]) == uid]


def partstat(cal, address):
    for event in cal.walk("VEVENT"):
        for attendee in event.get("ATTENDEE", []) if isinstance(event.get("ATTENDEE"), list) else [event.get("ATTENDEE")]:
            if attendee is not None and str(attendee).lower() == f"mailto:{address}".lower():
                return attendee.params.get("PARTSTAT"), attendee.params.get("SCHEDULE-STATUS")
    return None


def wait_for(check, seconds=ARRIVAL_S):
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(1)


def spooled(spool, since=0):
    """(envelope, parsed message) of every mail the relay kept, in arrival order."""
    mails = []
    for meta in sorted(pathlib.Path(spool).glob("*.json"))[since:]:
        envelope = json.loads(meta.read_text())
        message = email.message_from_bytes(meta.with_suffix(".eml").read_bytes(), policy=email.policy.default)
        mails.append((envelope, message))
    return mails


def itip_of(message):
    """The text/calendar part of an iMIP mail, parsed, and its method parameter."""
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return part.get_param("method"), icalendar.Calendar.from_ical(part.get_content())
    return None, None


def check_imip_mail(envelope, message, method, sender, recipient, uid):
    assert envelope["from"] == sender and envelope["to"] == [recipient], envelope
    assert message.get_content_type() == "multipart/alternative", message
    assert sender in message["From"]
    param, cal = itip_of(message)
    assert param == method, message
    assert str(cal["METHOD"]) == method
    assert any(str(e["UID"]) == uid for e in cal.walk("VEVENT"))
    assert any(p.get_content_type() == "text/plain" for p in message.walk()), "a readable part for people"


@pytest.mark.skipif(BACKEND != "jmap", reason="needs a mail server behind the gateway (CALDAV_TEST_BACKEND=jmap)")
class TestThroughTheMailServer:
    @pytest.fixture(autouse=True)
    def spool(self):
        spool = os.environ.get("MAIL_SPOOL")
        if not spool:
            pytest.fail("Cyrus was started without its mail relay (cyrus.py start DIR --smtp 0 --relay PYTHON)")
        return spool

    def test_without_a_service_account_invitation_and_answer_travel_as_mail_between_two_colleagues(
        self, start_dedicated_gateway, spool
    ):
        gateway = start_dedicated_gateway(**WITHOUT_SERVICE_ACCOUNT)
        alice, bob = Http(gateway, "alice"), Http(gateway, "bob")
        a, b = address_of(alice, "alice"), address_of(bob, "bob")
        before = len(spooled(spool))
        uid = str(uuid.uuid4())
        path = f"/dav/calendars/alice/calendar/{uid}.ics"
        assert put_event(alice, path, meeting(uid, a, [b])).status_code == 201
        sent = wait_for(lambda: spooled(spool, before), 10)
        assert len(sent) == 1, sent
        check_imip_mail(*sent[0], "REQUEST", a, b, uid)
        organizer_copy = events_with_uid(alice, "alice", uid)[0]
        assert partstat(organizer_copy, b) == ("NEEDS-ACTION", "1.1"), organizer_copy.to_ical()

        invited = wait_for(lambda: events_with_uid(bob, "bob", uid))
        assert len(invited) == 1, "the invitation is in bob's calendar once"
        assert partstat(invited[0], b)[0] == "NEEDS-ACTION"
        assert len(events_with_uid(bob, "bob", uid, "inbox")) == 1, "and once in his scheduling inbox"

        # Bob accepts with his calendar client; the REPLY goes back as mail.
        accept_in_calendar(bob, b, uid)
        replies = wait_for(lambda: spooled(spool, before + 1), 10)
        assert len(replies) == 1, replies
        check_imip_mail(*replies[0], "REPLY", b, a, uid)

        def accepted_in_alices_copy():
            copy = events_with_uid(alice, "alice", uid)[0]
            return partstat(copy, b)[0] == "ACCEPTED"

        assert wait_for(accepted_in_alices_copy), events_with_uid(alice, "alice", uid)[0].to_ical()

    @pytest.mark.skipif(not os.environ.get("CYRUS_SERVICE_USER"), reason="Cyrus without the service account")
    def test_with_the_service_account_colleagues_are_scheduled_directly_and_no_mail_leaves(self, gateway, spool):
        alice, bob = Http(gateway, "alice"), Http(gateway, "bob")
        a, b = address_of(alice, "alice"), address_of(bob, "bob")
        before = len(spooled(spool))
        uid = str(uuid.uuid4())
        path = f"/dav/calendars/alice/calendar/{uid}.ics"
        assert put_event(alice, path, meeting(uid, a, [b])).status_code == 201
        organizer_copy = events_with_uid(alice, "alice", uid)[0]
        assert partstat(organizer_copy, b) == ("NEEDS-ACTION", "1.2"), organizer_copy.to_ical()
        # At once, without waiting for a look at the INBOX.
        invited = events_with_uid(bob, "bob", uid)
        assert len(invited) == 1 and partstat(invited[0], b)[0] == "NEEDS-ACTION"
        assert len(events_with_uid(bob, "bob", uid, "inbox")) == 1

        accept_in_calendar(bob, b, uid)
        assert partstat(events_with_uid(alice, "alice", uid)[0], b)[0] == "ACCEPTED"
        time.sleep(2)  # a mail handed to the relay would be spooled by now
        assert spooled(spool, before) == [], "colleagues reached through the service account get no mail"

    @pytest.mark.skipif(not os.environ.get("CYRUS_SERVICE_USER"), reason="Cyrus without the service account")
    def test_a_service_account_the_mail_server_refuses_falls_back_to_mail(self, start_dedicated_gateway, spool):
        gateway = start_dedicated_gateway(GATEWAY__BACKEND__JMAP__SERVICE_PASSWORD="not-the-password")
        alice, bob = Http(gateway, "alice"), Http(gateway, "bob")
        a, b = address_of(alice, "alice"), address_of(bob, "bob")
        before = len(spooled(spool))
        uid = str(uuid.uuid4())
        assert put_event(alice, f"/dav/calendars/alice/calendar/{uid}.ics", meeting(uid, a, [b])).status_code == 201
        assert partstat(events_with_uid(alice, "alice", uid)[0], b) == ("NEEDS-ACTION", "1.1")
        sent = wait_for(lambda: spooled(spool, before), 10)
        assert len(sent) == 1, sent
        check_imip_mail(*sent[0], "REQUEST", a, b, uid)

    def test_invitation_from_outside_reaches_inbox_and_calendar_once_and_forged_answers_do_not(self, gateway):
        bob = Http(gateway, "bob")
        b = address_of(bob, "bob")
        uid = str(uuid.uuid4())
        outsider = "planner@outside.example"
        itip = meeting(uid, outsider, [b]).replace("VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST")
        deliver(b, outsider, imip_mail(outsider, b, "REQUEST", itip))
        assert wait_for(lambda: events_with_uid(bob, "bob", uid)), "the invitation reached the calendar"
        for _ in range(2):  # later requests must not apply it again
            assert len(events_with_uid(bob, "bob", uid)) == 1
            assert len(events_with_uid(bob, "bob", uid, "inbox")) == 1
        # A CANCEL that does not come from the organizer is mail, nothing more.
        cancel = itip.replace("METHOD:REQUEST", "METHOD:CANCEL").replace("SEQUENCE:0", "SEQUENCE:1")
        deliver(b, "mallory@outside.example", imip_mail("mallory@outside.example", b, "CANCEL", cancel))
        time.sleep(12)  # past the gateway's interval between two looks at the INBOX
        assert len(events_with_uid(bob, "bob", uid, "inbox")) == 1
        status = [str(e.get("STATUS", "")) for c in events_with_uid(bob, "bob", uid) for e in c.walk("VEVENT")]
        assert "CANCELLED" not in status, status
        # The organizer's own CANCEL is applied.
        deliver(b, outsider, imip_mail(outsider, b, "CANCEL", cancel))

        def cancelled():
            return any(str(e.get("STATUS", "")) == "CANCELLED" for c in events_with_uid(bob, "bob", uid) for e in c.walk("VEVENT"))

        assert wait_for(cancelled)

    def test_an_invitation_accepted_from_its_mail_is_written_onto_the_delivered_copy(self, gateway, spool):
        """Thunderbird accepts from the mail by PUTting `<UID>.ics` with If-None-Match: * while the
        gateway has filed the same invitation under its delivery name (docs/clients/thunderbird.md,
        quirks/accepted_from_mail.rs)."""
        bob = Http(gateway, "bob")
        b = address_of(bob, "bob")
        uid = str(uuid.uuid4())
        outsider = "chair@outside.example"
        invitation = meeting(uid, outsider, [b])
        deliver(b, outsider, imip_mail(outsider, b, "REQUEST", invitation.replace("VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST")))
        assert wait_for(lambda: events_with_uid(bob, "bob", uid)), "the invitation reached the calendar"
        before = len(spooled(spool))
        # As Thunderbird writes the answer it sends by mail itself: SCHEDULE-AGENT=CLIENT.
        answered = invitation.replace(f"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{b}", f"PARTSTAT=ACCEPTED:mailto:{b}")
        answered = answered.replace("ORGANIZER;CN=Organizer:", "ORGANIZER;CN=Organizer;SCHEDULE-AGENT=CLIENT:")
        put = put_event(bob, f"/dav/calendars/bob/calendar/{uid}.ics", answered, **{"If-None-Match": "*"})
        assert put.status_code == 204, put.text
        copies = events_with_uid(bob, "bob", uid)
        assert len(copies) == 1 and partstat(copies[0], b)[0] == "ACCEPTED", [c.to_ical() for c in copies]
        # Another organizer's event under the same UID is a conflict, as RFC 4791 says.
        stranger = meeting(uid, "someone@else.example", [b])
        refused = put_event(bob, f"/dav/calendars/bob/calendar/{uuid.uuid4()}.ics", stranger, **{"If-None-Match": "*"})
        assert refused.status_code == 403 and "no-uid-conflict" in refused.text, refused.text
        time.sleep(2)
        assert spooled(spool, before) == [], "the client sends its answer itself (SCHEDULE-AGENT=CLIENT)"


def imip_mail(sender, recipient, method, itip):
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, recipient, f"{method}: Planning"
    message["Message-ID"] = f"<{uuid.uuid4()}@outside.example>"
    message.set_content("An invitation.\n")
    message.add_alternative(itip, subtype="calendar", params={"method": method})
    return message.as_bytes(policy=email.policy.SMTP)


def deliver(recipient, sender, data):
    """Into the recipient's INBOX over Cyrus's LMTP, as the mail server's MTA does."""
    run = subprocess.run([sys.executable, str(CYRUS), "deliver", os.environ["CYRUS_DIR"], recipient, sender],
                         input=data, capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr


@pytest.fixture
def relay():
    """A mail_relay.py of this test: the SMTP submission server the embedded gateway uses."""
    spool = tempfile.mkdtemp(prefix="relay-spool-")
    port_file = pathlib.Path(spool) / "port"
    process = subprocess.Popen([sys.executable, str(RELAY), "--spool", f"{spool}/mail", "--port-file", str(port_file)])
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert process.poll() is None and time.monotonic() < deadline, "mail_relay.py did not start"
            time.sleep(0.1)
        yield int(port_file.read_text()), f"{spool}/mail"
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.skipif(BACKEND != "embedded", reason="JMAP backends send through the mail server itself")
def test_embedded_store_mails_outside_attendees_through_the_submission_server(start_dedicated_gateway, relay):
    port, spool = relay
    gw = start_dedicated_gateway(
        GATEWAY__MAIL__SUBMISSION__HOST="127.0.0.1", GATEWAY__MAIL__SUBMISSION__PORT=str(port),
        GATEWAY__MAIL__SUBMISSION__SECURITY="none",
    )
    alice = Http(gw, "alice")
    a = address_of(alice, "alice")
    uid = str(uuid.uuid4())
    outsider = "guest@outside.example"
    assert put_event(alice, f"/dav/calendars/alice/calendar/{uid}.ics", meeting(uid, a, [outsider])).status_code == 201
    sent = wait_for(lambda: spooled(spool), 10)
    assert len(sent) == 1, sent
    check_imip_mail(*sent[0], "REQUEST", a, outsider, uid)
    assert partstat(events_with_uid(alice, "alice", uid)[0], outsider) == ("NEEDS-ACTION", "1.1")


@pytest.mark.skipif(BACKEND != "embedded", reason="JMAP backends send through the mail server itself")
def test_without_a_submission_server_outside_attendees_show_not_delivered(gateway):
    alice = Http(gateway, "alice")
    a = address_of(alice, "alice")
    uid = str(uuid.uuid4())
    outsider = "guest@outside.example"
    assert put_event(alice, f"/dav/calendars/alice/calendar/{uid}.ics", meeting(uid, a, [outsider])).status_code == 201
    assert partstat(events_with_uid(alice, "alice", uid)[0], outsider) == ("NEEDS-ACTION", "5.1")
