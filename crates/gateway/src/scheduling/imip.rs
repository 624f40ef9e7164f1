//! iMIP (RFC 6047): a scheduling message written as a mail that both a person and a calendar
//! program can read: `multipart/alternative` of a short text and the iTIP object as
//! `text/calendar; method=...` (RFC 6047 §2.4 requires the `method` parameter, and mail
//! clients such as Thunderbird, Outlook and Gmail show their invitation buttons only for it).

use calendar::{unescape_text, write_component, Component};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;

/// Why a mail could not be written; each names the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("not a mail address: {0}")]
    Address(String),
    #[error("no recipients")]
    NoRecipients,
    #[error("the iTIP object has no VEVENT, VTODO or VJOURNAL")]
    NoComponent,
    #[error("the mail could not be built: {0}")]
    Build(String),
}

/// The sender of a scheduling mail: the organizer (REQUEST, CANCEL) or the replying attendee.
#[derive(Clone, Debug)]
pub struct Sender<'a> {
    pub name: &'a str,
    pub address: &'a str,
}

/// The complete RFC 5322 message (CRLF line ends) carrying `itip`, a VCALENDAR whose METHOD
/// is `method`, from `sender` to `recipients` (bare addresses).
pub fn compose(
    sender: &Sender,
    recipients: &[String],
    method: &str,
    itip: &Component,
) -> Result<Vec<u8>, ComposeError> {
    if recipients.is_empty() {
        return Err(ComposeError::NoRecipients);
    }
    let facts = Facts::of(itip).ok_or(ComposeError::NoComponent)?;
    let mut builder = Message::builder().from(mailbox(sender.name, sender.address)?).subject(facts.subject(method));
    for recipient in recipients {
        builder = builder.to(mailbox("", recipient)?);
    }
    let calendar_type = format!("text/calendar; charset=utf-8; method={}", method.to_ascii_uppercase());
    let calendar_type = ContentType::parse(&calendar_type).map_err(|e| ComposeError::Build(e.to_string()))?;
    let body = MultiPart::alternative()
        .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(facts.text(method, sender)))
        .singlepart(SinglePart::builder().header(calendar_type).body(write_component(itip)));
    let message = builder.multipart(body).map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(message.formatted())
}

fn mailbox(name: &str, address: &str) -> Result<Mailbox, ComposeError> {
    let parsed = address.parse().map_err(|_| ComposeError::Address(address.to_owned()))?;
    let name = name.trim();
    Ok(Mailbox::new((!name.is_empty()).then(|| name.to_owned()), parsed))
}

/// What a person needs to see of the scheduling object: taken from the master component, or
/// the first one when the message is about single instances only.
struct Facts {
    summary: String,
    start: Option<String>,
    end: Option<String>,
    location: Option<String>,
    organizer: Option<String>,
    sequence: u32,
    /// The replying attendee's PARTSTAT (REPLY carries exactly one ATTENDEE, RFC 5546 §3.2.3).
    partstat: Option<String>,
    instance: bool,
}

impl Facts {
    fn of(itip: &Component) -> Option<Facts> {
        let scheduled: Vec<&Component> =
            itip.components.iter().filter(|c| matches!(c.name.as_str(), "VEVENT" | "VTODO" | "VJOURNAL")).collect();
        let main =
            scheduled.iter().find(|c| c.property("RECURRENCE-ID").is_none()).or_else(|| scheduled.first()).copied()?;
        let text = |name: &str| main.property(name).map(|p| unescape_text(&p.value)).filter(|v| !v.trim().is_empty());
        Some(Facts {
            summary: text("SUMMARY").unwrap_or_else(|| "(no title)".to_owned()),
            start: main.property("DTSTART").map(readable_time),
            end: main.property("DTEND").or_else(|| main.property("DUE")).map(readable_time),
            location: text("LOCATION"),
            organizer: main.property("ORGANIZER").map(|p| person(p.param("CN"), &p.value)),
            sequence: main.property("SEQUENCE").and_then(|p| p.value.trim().parse().ok()).unwrap_or(0),
            partstat: main.property("ATTENDEE").and_then(|p| p.param("PARTSTAT")).map(str::to_ascii_uppercase),
            instance: main.property("RECURRENCE-ID").is_some(),
        })
    }

    fn subject(&self, method: &str) -> String {
        let what = match (method.to_ascii_uppercase().as_str(), self.partstat.as_deref()) {
            ("REQUEST", _) if self.sequence > 0 || self.instance => "Updated invitation",
            ("REQUEST", _) => "Invitation",
            ("CANCEL", _) => "Cancelled",
            ("REPLY", Some("ACCEPTED")) => "Accepted",
            ("REPLY", Some("DECLINED")) => "Declined",
            ("REPLY", Some("TENTATIVE")) => "Tentatively accepted",
            ("REPLY", _) => "Reply",
            _ => "Calendar",
        };
        // A subject is one line: a summary with line breaks would end the header early.
        let summary: String = self.summary.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        format!("{what}: {summary}")
    }

    fn text(&self, method: &str, sender: &Sender) -> String {
        let who = person(Some(sender.name).filter(|n| !n.trim().is_empty()), sender.address);
        let mut text = match (method.to_ascii_uppercase().as_str(), self.partstat.as_deref()) {
            ("REQUEST", _) => format!("{who} invites you to \"{}\".\n", self.summary),
            ("CANCEL", _) => format!("{who} has cancelled \"{}\".\n", self.summary),
            ("REPLY", Some(partstat)) => format!("{who} answered \"{}\": {}.\n", self.summary, partstat.to_lowercase()),
            _ => format!("{who} sent an update of \"{}\".\n", self.summary),
        };
        text.push('\n');
        for (label, value) in [
            (
                "When",
                self.start.as_ref().map(|s| match &self.end {
                    Some(e) => format!("{s} - {e}"),
                    None => s.clone(),
                }),
            ),
            ("Where", self.location.clone()),
            ("Organizer", self.organizer.clone()),
        ] {
            if let Some(value) = value {
                text.push_str(&format!("{label}: {value}\n"));
            }
        }
        text.push_str("\nYour calendar program shows this message as an invitation it can answer.\n");
        text
    }
}

/// `Name <address>` from a CN parameter and a `mailto:` value.
fn person(name: Option<&str>, value: &str) -> String {
    let address = value.strip_prefix("mailto:").or_else(|| value.strip_prefix("MAILTO:")).unwrap_or(value);
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!("{name} <{address}>"),
        None => address.to_owned(),
    }
}

/// `20261201T100000Z` as `2026-12-01 10:00 UTC`, with the TZID when the time is local there;
/// a value that is no date is shown as it is.
fn readable_time(property: &calendar::Property) -> String {
    let value = property.value.trim();
    let digits = |range: std::ops::Range<usize>| value.get(range).filter(|s| s.bytes().all(|b| b.is_ascii_digit()));
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(4..6), digits(6..8)) else {
        return value.to_owned();
    };
    let date = format!("{year}-{month}-{day}");
    let (Some(hour), Some(minute)) = (digits(9..11), digits(11..13)) else {
        return date;
    };
    let zone = if value.ends_with('Z') {
        " UTC".to_owned()
    } else {
        property.param("TZID").map(|tz| format!(" ({tz})")).unwrap_or_default()
    };
    format!("{date} {hour}:{minute}{zone}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\n\
        BEGIN:VEVENT\r\nUID:abc-1\r\nDTSTAMP:20261129T080000Z\r\nSEQUENCE:0\r\n\
        DTSTART;TZID=Europe/Berlin:20261201T100000\r\nDTEND;TZID=Europe/Berlin:20261201T110000\r\n\
        SUMMARY:Budget\\, Q1\r\nLOCATION:Room 4\r\n\
        ORGANIZER;CN=Alice Example:mailto:alice@example.org\r\n\
        ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.net\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn sender() -> Sender<'static> {
        Sender { name: "Alice Example", address: "alice@example.org" }
    }

    fn composed(method: &str, text: &str) -> String {
        let itip = calendar::parse_calendar(text).unwrap();
        let bytes = compose(&sender(), &["bob@example.net".to_owned()], method, &itip).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn request_is_multipart_alternative_with_method_parameter() {
        let mail = composed("REQUEST", REQUEST);
        assert!(
            mail.contains("From: \"Alice Example\" <alice@example.org>")
                || mail.contains("From: Alice Example <alice@example.org>"),
            "{mail}"
        );
        assert!(mail.contains("To: bob@example.net"), "{mail}");
        assert!(mail.contains("Subject: Invitation: Budget, Q1"), "{mail}");
        assert!(mail.contains("multipart/alternative"), "{mail}");
        assert!(mail.contains("Content-Type: text/calendar; charset=utf-8; method=REQUEST"), "{mail}");
        assert!(mail.contains("When: 2026-12-01 10:00 (Europe/Berlin) - 2026-12-01 11:00 (Europe/Berlin)"), "{mail}");
        assert!(mail.contains("Where: Room 4"), "{mail}");
        assert!(mail.contains("UID:abc-1"), "{mail}");
        assert!(mail.lines().all(|l| l.len() <= 998), "RFC 5322 line length");
    }

    #[test]
    fn reply_subject_names_the_answer() {
        let reply =
            REQUEST.replace("METHOD:REQUEST", "METHOD:REPLY").replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=TENTATIVE");
        let mail = composed("REPLY", &reply);
        assert!(mail.contains("Subject: Tentatively accepted: Budget, Q1"), "{mail}");
        assert!(mail.contains("method=REPLY"), "{mail}");
    }

    #[test]
    fn later_sequence_is_an_update_and_cancel_says_so() {
        assert!(
            composed("REQUEST", &REQUEST.replace("SEQUENCE:0", "SEQUENCE:2")).contains("Subject: Updated invitation: ")
        );
        assert!(
            composed("CANCEL", &REQUEST.replace("METHOD:REQUEST", "METHOD:CANCEL")).contains("Subject: Cancelled: ")
        );
    }

    #[test]
    fn bad_addresses_and_empty_objects_are_errors_not_panics() {
        let itip = calendar::parse_calendar(REQUEST).unwrap();
        let bad = compose(&sender(), &["not an address".to_owned()], "REQUEST", &itip);
        assert!(matches!(bad, Err(ComposeError::Address(_))));
        assert!(matches!(compose(&sender(), &[], "REQUEST", &itip), Err(ComposeError::NoRecipients)));
        let empty = calendar::parse_calendar("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n").unwrap();
        let none = compose(&sender(), &["bob@example.net".to_owned()], "REQUEST", &empty);
        assert!(matches!(none, Err(ComposeError::NoComponent)));
    }

    #[test]
    fn summary_with_line_break_stays_one_header_line() {
        let mail = composed("REQUEST", &REQUEST.replace("SUMMARY:Budget\\, Q1", "SUMMARY:Budget\\nBcc: eve@evil.test"));
        let headers = mail.split("\r\n\r\n").next().unwrap();
        assert!(headers.contains("Subject: Invitation: Budget Bcc: eve@evil.test"), "{mail}");
        assert!(!headers.lines().any(|l| l.starts_with("Bcc:")), "{mail}");
    }
}
