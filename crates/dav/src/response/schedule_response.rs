//! `CALDAV:schedule-response` (RFC 6638 §10.2): the answer to a POST to the schedule outbox,
//! one `C:response` per recipient.
//!
//! ```text
//! <!ELEMENT schedule-response (response*)>
//! <!ELEMENT response (recipient, request-status, calendar-data?, DAV:error?, DAV:responsedescription?)>
//! <!ELEMENT recipient (DAV:href)>
//! ```

use crate::names::QName;
use crate::precondition::Precondition;
use crate::xml::writer::{element, escape_text, ROOT_NAMESPACES};

/// The whole answer, in the order the recipients were named.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScheduleResponse {
    pub responses: Vec<RecipientResponse>,
}

/// What happened for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientResponse {
    /// The recipient's calendar user address as the request named it, e.g. `mailto:bob@example.com`.
    pub recipient: String,
    /// An RFC 5545 §3.8.8.3 status with its description, e.g. `2.0;Success`.
    pub request_status: String,
    /// The iCalendar answer (for free-busy: a VFREEBUSY with METHOD:REPLY).
    pub calendar_data: Option<String>,
    pub error: Option<Precondition>,
    pub description: Option<String>,
}

impl RecipientResponse {
    pub fn new(recipient: impl Into<String>, request_status: impl Into<String>) -> Self {
        RecipientResponse {
            recipient: recipient.into(),
            request_status: request_status.into(),
            calendar_data: None,
            error: None,
            description: None,
        }
    }
}

impl ScheduleResponse {
    /// The complete XML document, with the same root namespace prefixes as a multistatus.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        out.push_str(&format!("<C:schedule-response {ROOT_NAMESPACES}>\n"));
        for response in &self.responses {
            write_response(&mut out, response);
            out.push('\n');
        }
        out.push_str("</C:schedule-response>\n");
        out
    }
}

fn write_response(out: &mut String, response: &RecipientResponse) {
    let text = |o: &mut String, name: QName, value: &str| element(o, &name, &[], |o| o.push_str(&escape_text(value)));
    element(out, &QName::caldav("response"), &[], |o| {
        element(o, &QName::caldav("recipient"), &[], |o| text(o, QName::dav("href"), &response.recipient));
        text(o, QName::caldav("request-status"), &response.request_status);
        if let Some(data) = &response.calendar_data {
            text(o, QName::caldav("calendar-data"), data);
        }
        if let Some(condition) = &response.error {
            element(o, &QName::dav("error"), &[], |o| super::error::write_condition(o, condition));
        }
        if let Some(description) = &response.description {
            text(o, QName::dav("responsedescription"), description);
        }
    });
}
