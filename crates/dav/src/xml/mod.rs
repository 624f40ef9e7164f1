//! The quick-xml reader with limits and the writer; the only code touching XML syntax.

pub(crate) mod language;
pub(crate) mod reader;
pub(crate) mod writer;

pub(crate) use reader::{parse, XmlElement};
