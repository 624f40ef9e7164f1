//! WebDAV and CalDAV on the wire: typed requests parsed from XML bodies and headers, and
//! multistatus / error bodies written back.
//!
//! Pure: no async, no I/O, no server, no store. Covered so far: RFC 4918 PROPFIND,
//! PROPPATCH, MKCOL bodies and multistatus; RFC 4791 MKCALENDAR, calendar-multiget;
//! RFC 5689 extended MKCOL; RFC 6578 sync-collection.

pub mod error;
pub mod headers;
pub mod names;
pub mod path;
pub mod precondition;
pub mod request;
pub mod response;
mod xml;

pub use error::ParseError;
pub use names::{PropName, QName};
pub use precondition::Precondition;
