//! Response bodies: RFC 4918 §13 multistatus and §16 `<D:error>`, RFC 6638 §10.2
//! schedule-response.
//!
//! Values are built by the gateway as plain data and written to XML here, so the gateway never
//! touches XML syntax or escaping.

mod error;
mod multistatus;
mod schedule_response;

pub use error::error_body;
pub use multistatus::{document, propstat_document, MultiStatus, MultiStatusWriter};
pub use schedule_response::{RecipientResponse, ScheduleResponse};

use http::StatusCode;

use crate::names::{PropName, QName};
use crate::precondition::Precondition;

/// One `<D:response>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Already percent-encoded absolute path, e.g. `/dav/calendars/alice/work/`.
    pub href: String,
    pub body: ResponseBody,
    /// `<D:error>` inside the response (RFC 4918 §14.5).
    pub error: Option<Precondition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseBody {
    /// Properties grouped by status (PROPFIND, PROPPATCH, REPORT).
    PropStats(Vec<PropStat>),
    /// A bare status: a removed member in sync-collection (404), a missing href in multiget.
    Status(StatusCode),
}

/// One `<D:propstat>`: properties sharing a status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropStat {
    pub status: StatusCode,
    pub props: Vec<Property>,
}

/// One property in a propstat; `Value::Empty` writes `<name/>`, as propname and 404s need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    pub name: PropName,
    pub value: Value,
}

impl Property {
    pub fn new(name: PropName, value: Value) -> Self {
        Property { name, value }
    }
    pub fn empty(name: PropName) -> Self {
        Property { name, value: Value::Empty }
    }
}

/// The content of a property element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Empty,
    /// Escaped character data (also used for calendar-data, whose text is the iCalendar body).
    Text(String),
    /// One `<D:href>`.
    Href(String),
    /// Zero or more `<D:href>` elements.
    Hrefs(Vec<String>),
    /// Child elements.
    Elements(Vec<Element>),
    /// Content that is already XML (a dead property as the client set it, re-serialised by
    /// `request::PropValue::to_xml`), written as it is.
    Xml(String),
}

/// A generic child element: name, attributes, content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub name: QName,
    pub attributes: Vec<(String, String)>,
    pub content: Value,
}

impl Element {
    /// `<name/>`
    pub fn empty(name: QName) -> Self {
        Element { name, attributes: Vec::new(), content: Value::Empty }
    }
    pub fn with(name: QName, content: Value) -> Self {
        Element { name, attributes: Vec::new(), content }
    }
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }
}
