//! iCalendar (RFC 5545) as CalDAV needs it. Pure: no I/O, no clock, no async.
//!
//! - [`parse_calendar`] reads text into a [`Component`] tree, exactly: unfolding per RFC 5545
//!   §3.1 keeps every character, BEGIN/END must match by name. (The `ical` crate was tried
//!   first; its line reader trims whitespace at fold boundaries and its parser accepts an END
//!   of the wrong name, which is fine for display and wrong for validation and text-match;
//!   docs/architecture.md says why this lexer is the only one.)
//! - [`validate_object`] applies RFC 4791 §4.1 and §5.3.2.1 to a PUT body.
//! - [`validate_timezone`] checks a `calendar-timezone` property value (RFC 4791 §5.2.2).

mod collation;
mod component;
mod content_line;
mod datetime;
mod error;
pub mod filter;
pub mod freebusy;
pub mod freebusy_request;
pub mod itip;
mod limits;
mod property_values;
pub mod query;
pub mod recurrence;
pub mod retrieval;
mod span;
mod validate;
mod writer;
pub mod zones;

pub use component::{parse_calendar, Component, Parameter, Property};
pub use datetime::{parse_duration, parse_utc, DateValue};
pub use error::{InvalidCalendar, Violation};
pub use limits::{resource_counts, ResourceCounts};
pub use query::unescape_text;
pub use span::{instance_span, InstanceSpan};
pub use validate::{validate_object, validate_timezone, CalendarObject, ComponentKind};
pub use writer::write_component;
