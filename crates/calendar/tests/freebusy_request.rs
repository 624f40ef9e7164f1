//! Free-busy requests as clients POST them to the schedule outbox (RFC 6638 §5), from
//! `tests/fixtures/freebusy/`, and the REPLY written for one attendee.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::Path;

use calendar::freebusy::{BusyKind, BusyPeriod};
use calendar::freebusy_request::{freebusy_reply, mail_address, parse_freebusy_request, RequestViolation};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/freebusy").join(name)).unwrap()
}

fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    calendar::parse_utc(text).unwrap()
}

fn violation(body: &str) -> RequestViolation {
    parse_freebusy_request(body.replace('\n', "\r\n").as_bytes()).unwrap_err().violation()
}

const VALID: &str = "BEGIN:VCALENDAR\nVERSION:2.0\nMETHOD:REQUEST\nBEGIN:VFREEBUSY\nUID:x\n\
                     DTSTART:20261201T000000Z\nDTEND:20261202T000000Z\nORGANIZER:mailto:a@example.com\n\
                     ATTENDEE:mailto:b@example.com\nEND:VFREEBUSY\nEND:VCALENDAR\n";

#[test]
fn thunderbird_request_gives_organizer_range_and_distinct_attendees() {
    let request = parse_freebusy_request(&fixture("thunderbird-request.ics")).unwrap();
    assert_eq!(request.organizer_address, "alice@example.com");
    assert_eq!(request.range.start, Some(utc("20261201T000000Z")));
    assert_eq!(request.range.end, Some(utc("20261203T000000Z")));
    assert_eq!(request.uid.as_deref(), Some("cf1a9c52-0ae3-4a8b-9ad6-6e3d1c0d6c4a"));
    let addresses: Vec<Option<&str>> = request.attendees.iter().map(|a| a.address.as_deref()).collect();
    // The second bob (upper-case scheme and local part) is the same calendar user.
    assert_eq!(addresses, vec![Some("bob@example.com"), None, Some("carol+work@example.org")]);
}

#[test]
fn a_zoned_range_is_read_in_its_zone() {
    let request = parse_freebusy_request(&fixture("zoned-range.ics")).unwrap();
    assert_eq!(request.range.start, Some(utc("20261201T070000Z")));
    assert_eq!(request.range.end, Some(utc("20261201T170000Z")));
}

#[test]
fn reply_names_the_parties_as_written_and_carries_only_busy_time() {
    let request = parse_freebusy_request(&fixture("thunderbird-request.ics")).unwrap();
    let busy = [BusyPeriod { start: utc("20261201T090000Z"), end: utc("20261201T100000Z"), kind: BusyKind::Busy }];
    let reply = freebusy_reply(&request, &request.attendees[0], &busy, utc("20261129T080000Z"));
    let expected = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//caldav-gateway//free-busy//EN\r\nMETHOD:REPLY\r\n\
                    BEGIN:VFREEBUSY\r\nDTSTAMP:20261129T080000Z\r\nUID:cf1a9c52-0ae3-4a8b-9ad6-6e3d1c0d6c4a\r\n\
                    ORGANIZER:mailto:Alice@Example.com\r\n\
                    ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;CUTYPE=INDIVIDUAL:mailt\r\n o:bob@example.com\r\n\
                    DTSTART:20261201T000000Z\r\nDTEND:20261203T000000Z\r\n\
                    FREEBUSY;FBTYPE=BUSY:20261201T090000Z/20261201T100000Z\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n";
    assert_eq!(reply, expected);
}

#[test]
fn broken_requests_name_the_rfc_6638_precondition() {
    assert_eq!(violation("not a calendar"), RequestViolation::ValidCalendarData);
    assert_eq!(violation(&VALID.replace("METHOD:REQUEST", "METHOD:PUBLISH")), RequestViolation::ValidSchedulingMessage);
    assert_eq!(violation(&VALID.replace("VFREEBUSY", "VEVENT")), RequestViolation::ValidSchedulingMessage);
    assert_eq!(violation(&VALID.replace("DTEND:20261202", "DTEND:20261101")), RequestViolation::ValidSchedulingMessage);
    assert_eq!(violation(&VALID.replace("DTSTART:20261201T000000Z\n", "")), RequestViolation::ValidSchedulingMessage);
    assert_eq!(
        violation(&VALID.replace("DTSTART:20261201T000000Z", "DTSTART;VALUE=DATE:20261201")),
        RequestViolation::ValidSchedulingMessage
    );
    assert_eq!(violation(&VALID.replace("ORGANIZER:mailto:a@example.com\n", "")), RequestViolation::ValidOrganizer);
    assert_eq!(violation(&VALID.replace("ORGANIZER:mailto:", "ORGANIZER:urn:x:")), RequestViolation::ValidOrganizer);
    assert_eq!(violation(&VALID.replace("ATTENDEE:mailto:b@example.com\n", "")), RequestViolation::RecipientSpecified);
    assert!(parse_freebusy_request(VALID.replace('\n', "\r\n").as_bytes()).is_ok());
}

#[test]
fn mail_addresses_come_from_mailto_uris_only() {
    assert_eq!(mail_address(" MailTo:Bob@Example.COM "), Some("bob@example.com".into()));
    assert_eq!(mail_address("mailto:%22ann%20lee%22@example.org"), Some("\"ann lee\"@example.org".into()));
    assert_eq!(mail_address("mailto:bob@example.com?subject=x"), Some("bob@example.com".into()));
    assert_eq!(mail_address("urn:uuid:1"), None);
    assert_eq!(mail_address("mailto:"), None);
    assert_eq!(mail_address("mailto:nobody"), None);
    assert_eq!(mail_address("mailto:a%0A@example.com"), None);
    assert_eq!(mail_address("mailté"), None);
}
