//! The calendar-query filter (RFC 4791 §9.7) as plain data. The `dav` crate parses XML into
//! it; [`crate::query`] evaluates it.

use chrono::{DateTime, Utc};

/// `<C:comp-filter name="...">`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompFilter {
    /// Upper-cased component name.
    pub name: String,
    pub test: CompTest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompTest {
    /// `<C:is-not-defined/>`: no such component.
    IsNotDefined,
    /// The component exists and matches all of these (none: exists at all).
    Matches { time_range: Option<TimeRange>, props: Vec<PropFilter>, comps: Vec<CompFilter> },
}

/// `<C:prop-filter name="...">`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropFilter {
    pub name: String,
    pub test: PropTest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropTest {
    IsNotDefined,
    /// A property of this name exists; then, if given, its value is in the range or
    /// matches the text, and every param-filter holds.
    Matches {
        time_range: Option<TimeRange>,
        text: Option<TextMatch>,
        params: Vec<ParamFilter>,
    },
}

/// `<C:param-filter name="...">`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamFilter {
    pub name: String,
    pub test: ParamTest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamTest {
    IsNotDefined,
    Matches { text: Option<TextMatch> },
}

/// `<C:text-match collation="..." negate-condition="...">` (RFC 4791 §9.7.5): a substring test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextMatch {
    pub text: String,
    pub collation: Collation,
    pub negate: bool,
}

/// RFC 4790 collations (RFC 4791 §7.5.1 requires the first two; RFC 5051 adds the third).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collation {
    AsciiCasemap,
    Octet,
    UnicodeCasemap,
}

impl Collation {
    pub fn from_name(name: &str) -> Option<Collation> {
        match name {
            "i;ascii-casemap" => Some(Collation::AsciiCasemap),
            "i;octet" => Some(Collation::Octet),
            "i;unicode-casemap" => Some(Collation::UnicodeCasemap),
            _ => None,
        }
    }
}

/// `<C:time-range start= end=>`, half-open; a missing side is unbounded (RFC 4791 §9.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}
