//! What a calendar object resource asks of a server's per-resource limits: attendees of each
//! instance (RFC 4791 §5.2.9 CALDAV:max-attendees-per-instance) and attachments
//! (RFC 8607 §6: CALDAV:max-attachments-per-resource, CALDAV:max-attachment-size).

use crate::component::Component;

/// The figures a PUT is checked against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceCounts {
    /// Most ATTENDEE properties in one instance: the master or one override (an override
    /// carries the whole attendee list of its instance, RFC 5545 §3.8.4.4).
    pub attendees_per_instance: usize,
    /// ATTACH properties of the object's components, alarms excepted: an alarm's ATTACH is
    /// the sound or message of the alarm (RFC 5545 §3.6.6), not a file of the event.
    pub attachments: usize,
    /// Decoded size in octets of the largest inline (`VALUE=BINARY`) attachment.
    pub largest_inline_attachment: usize,
}

/// Counts attendees and attachments of the object's instance components (every child of
/// the VCALENDAR other than VTIMEZONE).
pub fn resource_counts(calendar: &Component) -> ResourceCounts {
    let mut counts = ResourceCounts::default();
    for instance in calendar.components.iter().filter(|c| c.name != "VTIMEZONE") {
        counts.attendees_per_instance =
            counts.attendees_per_instance.max(instance.properties_named("ATTENDEE").count());
        for attach in instance.properties_named("ATTACH") {
            counts.attachments += 1;
            if attach.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("BINARY")) {
                counts.largest_inline_attachment =
                    counts.largest_inline_attachment.max(base64_decoded_len(&attach.value));
            }
        }
    }
    counts
}

/// Octets a base64 text decodes to (RFC 4648 §4), without decoding it: every character
/// other than padding and whitespace carries six bits, and a trailing part-octet is dropped.
fn base64_decoded_len(text: &str) -> usize {
    let symbols = text.bytes().filter(|b| *b != b'=' && !b.is_ascii_whitespace()).count();
    symbols / 4 * 3 + symbols % 4 * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_calendar;

    fn counts(body: &str) -> ResourceCounts {
        resource_counts(&parse_calendar(&body.replace('\n', "\r\n")).unwrap())
    }

    #[test]
    fn attendees_are_counted_per_instance_not_per_resource() {
        let body = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20260101T100000Z\nRRULE:FREQ=DAILY\n\
                    ATTENDEE:mailto:a@x\nATTENDEE:mailto:b@x\nEND:VEVENT\nBEGIN:VEVENT\nUID:a\n\
                    RECURRENCE-ID:20260102T100000Z\nDTSTART:20260102T110000Z\nATTENDEE:mailto:a@x\n\
                    ATTENDEE:mailto:b@x\nATTENDEE:mailto:c@x\nEND:VEVENT\nEND:VCALENDAR\n";
        assert_eq!(counts(body).attendees_per_instance, 3);
    }

    #[test]
    fn alarm_sounds_are_not_attachments_but_inline_files_are_measured() {
        let body = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20260101T100000Z\n\
                    ATTACH:https://example.com/agenda.pdf\n\
                    ATTACH;ENCODING=BASE64;VALUE=BINARY:aGVsbG8gd29ybGQ=\n\
                    BEGIN:VALARM\nACTION:AUDIO\nTRIGGER:-PT5M\nATTACH:ftp://example.com/bell.aud\n\
                    END:VALARM\nEND:VEVENT\nEND:VCALENDAR\n";
        let found = counts(body);
        assert_eq!(found.attachments, 2);
        assert_eq!(found.largest_inline_attachment, "hello world".len());
    }

    #[test]
    fn base64_lengths_follow_padding() {
        assert_eq!(base64_decoded_len(""), 0);
        assert_eq!(base64_decoded_len("aGk="), 2);
        assert_eq!(base64_decoded_len("aGVs"), 3);
        assert_eq!(base64_decoded_len("aGVsbA=="), 4);
        assert_eq!(base64_decoded_len("aGVs bA=="), 4);
        // Unpadded input (some encoders drop the padding).
        assert_eq!(base64_decoded_len("aGVsbA"), 4);
        // Hostile padding alone decodes to nothing rather than underflowing.
        assert_eq!(base64_decoded_len("=="), 0);
        assert_eq!(base64_decoded_len("====="), 0);
    }
}
