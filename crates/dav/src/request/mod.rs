//! Request bodies parsed into typed values. Every parser takes the raw body and returns a
//! value or a [`ParseError`]; none allocate without bound (see `xml::reader` limits).

mod calendar_data;
mod calendar_query;
mod mkcalendar;
mod propfind;
mod proppatch;
mod report;
mod transparency;

pub use mkcalendar::{parse_mkcalendar, parse_mkcol, MkCollection};
pub use propfind::{parse_propfind, PropFind};
pub use proppatch::{parse_propertyupdate, PropOp, PropValue, PropertyUpdate};
pub use report::{parse_report, PropertySearch, Report, SyncLevel};
pub use transparency::Transparency;
