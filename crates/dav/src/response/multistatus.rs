use http::StatusCode;

use super::{Element, PropStat, Response, ResponseBody, Value};
use crate::names::QName;
use crate::names::NS_DAV;
use crate::xml::writer::{element, element_named, push_escaped_text, ROOT_NAMESPACES};

/// `<D:multistatus>`, optionally closed by a `<D:sync-token>` (RFC 6578 §6.4).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MultiStatus {
    pub responses: Vec<Response>,
    pub sync_token: Option<String>,
}

impl MultiStatus {
    /// The complete XML document, with an XML declaration and namespace prefixes D (DAV:),
    /// C (CalDAV), CS (CalendarServer), ICAL (Apple) declared on the root; other namespaces
    /// get generated prefixes where they are used.
    pub fn to_xml(&self) -> String {
        // About what a member with a few short properties takes, so a listing of thousands
        // grows the buffer a few times rather than a dozen.
        let mut writer = MultiStatusWriter::with_capacity(512 + 320 * self.responses.len());
        self.responses.iter().for_each(|response| writer.push(response));
        writer.finish(self.sync_token.as_deref())
    }
}

/// The same document as [`MultiStatus::to_xml`], written one `<D:response>` at a time, so a
/// caller can send what is written while the rest is still to come instead of holding every
/// response and the whole text at once (a Depth:1 listing of 10,000 members is megabytes).
#[derive(Debug)]
pub struct MultiStatusWriter {
    out: String,
}

impl Default for MultiStatusWriter {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl MultiStatusWriter {
    /// A writer holding the document's start; `capacity` is a hint for the text to buffer.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut out = String::with_capacity(capacity);
        out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus ");
        out.push_str(ROOT_NAMESPACES);
        out.push_str(">\n");
        MultiStatusWriter { out }
    }

    /// Appends one `<D:response>`.
    pub fn push(&mut self, response: &Response) {
        write_response(&mut self.out, response);
        self.out.push('\n');
    }

    /// Bytes written and not yet taken.
    pub fn buffered(&self) -> usize {
        self.out.len()
    }

    /// The text written since the last take; the writer goes on with an empty buffer of the
    /// same capacity.
    pub fn take(&mut self) -> String {
        let capacity = self.out.capacity();
        std::mem::replace(&mut self.out, String::with_capacity(capacity))
    }

    /// The rest of the document: what is not taken yet, the sync-token if any, and the end.
    pub fn finish(mut self, sync_token: Option<&str>) -> String {
        if let Some(token) = sync_token {
            element_named(&mut self.out, NS_DAV, "sync-token", &[], |o| push_escaped_text(o, token));
            self.out.push('\n');
        }
        self.out.push_str("</D:multistatus>\n");
        self.out
    }
}

/// A whole document whose root is `root` (for reports that answer something other than a
/// multistatus, e.g. RFC 3744 §9.5 principal-search-property-set).
pub fn document(root: &super::Element) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let mut attributes = root_namespaces();
    attributes.extend(root.attributes.iter().cloned());
    write_value(&mut out, &root.name.ns, &root.name.local, &attributes, &root.content);
    out.push('\n');
    out
}

/// A document whose root holds only propstats: RFC 4791 §5.3.1.2 `mkcalendar-response` and
/// RFC 5689 §3.3 `mkcol-response`, saying which properties a failed creation could not set.
pub fn propstat_document(root: &QName, propstats: &[PropStat]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    element(&mut out, root, &root_namespaces(), |o| propstats.iter().for_each(|p| write_propstat(o, p)));
    out.push('\n');
    out
}

/// The fixed prefixes (D, C, CS, ICAL) declared on a root element, as `MultiStatus` does:
/// properties inside use them without declaring them again.
fn root_namespaces() -> Vec<(String, String)> {
    use crate::names::{NS_APPLE_ICAL, NS_CALDAV, NS_CALENDARSERVER, NS_DAV};
    [("D", NS_DAV), ("C", NS_CALDAV), ("CS", NS_CALENDARSERVER), ("ICAL", NS_APPLE_ICAL)]
        .into_iter()
        .map(|(prefix, ns)| (format!("xmlns:{prefix}"), ns.to_owned()))
        .collect()
}

/// RFC 4918 §14.24: href, then propstats or a status, then the optional error.
fn write_response(out: &mut String, response: &Response) {
    element_named(out, NS_DAV, "response", &[], |o| {
        element_named(o, NS_DAV, "href", &[], |o| push_escaped_text(o, &response.href));
        match &response.body {
            ResponseBody::PropStats(propstats) => propstats.iter().for_each(|p| write_propstat(o, p)),
            ResponseBody::Status(status) => write_status(o, *status),
        }
        if let Some(condition) = &response.error {
            element(o, &QName::dav("error"), &[], |o| super::error::write_condition(o, condition));
        }
    });
}

fn write_propstat(out: &mut String, propstat: &PropStat) {
    element_named(out, NS_DAV, "propstat", &[], |o| {
        element_named(o, NS_DAV, "prop", &[], |o| {
            for property in &propstat.props {
                let (ns, local) = property.name.qname();
                write_value(o, ns, local, &[], &property.value);
            }
        });
        write_status(o, propstat.status);
    });
}

pub(crate) fn write_status(out: &mut String, status: StatusCode) {
    element_named(out, NS_DAV, "status", &[], |o| {
        o.push_str("HTTP/1.1 ");
        o.push_str(status.as_str());
        o.push(' ');
        o.push_str(status.canonical_reason().unwrap_or(""));
    });
}

fn write_value(out: &mut String, ns: &str, local: &str, attributes: &[(String, String)], value: &Value) {
    // A dead property set with a language gets its xml:lang back (RFC 4918 §4.4).
    if let Value::Xml(stored) = value {
        if let (Some(language), content) = crate::xml::language::split_language(stored) {
            let mut attributes = attributes.to_vec();
            attributes.push(("xml:lang".to_owned(), language.to_owned()));
            element_named(out, ns, local, &attributes, |o| o.push_str(content));
            return;
        }
    }
    element_named(out, ns, local, attributes, |o| match value {
        Value::Empty => {}
        Value::Text(text) => push_escaped_text(o, text),
        Value::Href(href) => write_href(o, href),
        Value::Hrefs(hrefs) => hrefs.iter().for_each(|h| write_href(o, h)),
        Value::Elements(children) => children.iter().for_each(|c| write_element(o, c)),
        Value::Xml(xml) => o.push_str(xml),
    });
}

fn write_element(out: &mut String, element: &Element) {
    write_value(out, &element.name.ns, &element.name.local, &element.attributes, &element.content);
}

fn write_href(out: &mut String, href: &str) {
    element_named(out, NS_DAV, "href", &[], |o| push_escaped_text(o, href));
}
