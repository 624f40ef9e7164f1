//! Golden file of `CALDAV:schedule-response` (RFC 6638 §10.2), shaped like the free-busy
//! answer of RFC 6638 Appendix B.5: one recipient with busy time, one unknown (3.7), one
//! refused with a precondition. `UPDATE_GOLDEN=1` rewrites the fixture; review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::Path;

use dav::response::{RecipientResponse, ScheduleResponse};
use dav::Precondition;

#[test]
fn schedule_response_matches_its_golden_file() {
    let reply = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REPLY\r\nBEGIN:VFREEBUSY\r\n\
                 UID:4FD3AD926350\r\nORGANIZER:mailto:cyrus@example.com\r\n\
                 ATTENDEE:mailto:wilfredo@example.com\r\nDTSTART:20090602T000000Z\r\n\
                 DTEND:20090604T000000Z\r\nFREEBUSY;FBTYPE=BUSY:20090602T110000Z/20090602T120000Z\r\n\
                 END:VFREEBUSY\r\nEND:VCALENDAR\r\n";
    let mut busy = RecipientResponse::new("mailto:wilfredo@example.com", "2.0;Success");
    busy.calendar_data = Some(reply.to_owned());
    let unknown = RecipientResponse::new("mailto:mike@example.org", "3.7;Invalid calendar user");
    let mut refused = RecipientResponse::new("mailto:b<c>&d@example.com", "3.8;No authority");
    refused.error = Some(Precondition::RecipientPermissions);
    refused.description = Some("no free-busy for this recipient".into());
    let xml = ScheduleResponse { responses: vec![busy, unknown, refused] }.to_xml();

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schedule-response.xml");
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&fixture, &xml).unwrap();
    }
    let expected = std::fs::read_to_string(&fixture).expect("fixture (run make golden)");
    assert_eq!(xml, expected);
}

#[test]
fn an_empty_schedule_response_is_a_bare_root() {
    let xml = ScheduleResponse::default().to_xml();
    assert!(xml.ends_with("<C:schedule-response xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:ICAL=\"http://apple.com/ns/ical/\">\n</C:schedule-response>\n"), "{xml}");
}
