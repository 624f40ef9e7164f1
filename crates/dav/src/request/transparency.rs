//! `CALDAV:schedule-calendar-transp` (RFC 6638 §9.1): whether a calendar's events count as
//! busy time. The gateway keeps it as the client set it (a stored XML fragment) and reads it
//! back with [`Transparency::from_stored`] when it computes free-busy.

use super::PropValue;
use crate::names::NS_CALDAV;
use crate::xml::reader::parse;
use crate::xml::writer::ROOT_NAMESPACES;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transparency {
    /// The calendar's events block time (the default when the property is absent).
    #[default]
    Opaque,
    Transparent,
}

impl Transparency {
    /// The value of a PROPPATCH: exactly one `<C:opaque/>` or `<C:transparent/>`.
    pub fn from_value(value: &PropValue) -> Option<Transparency> {
        match value {
            PropValue::Xml(xml) => Transparency::from_stored(xml),
            _ => None,
        }
    }

    /// The value from the fragment kept for the property. Fragments are written with the
    /// fixed prefixes of every response (`C:` for CalDAV) undeclared, so they are declared here.
    pub fn from_stored(xml: &str) -> Option<Transparency> {
        let root = parse(format!("<D:prop {ROOT_NAMESPACES}>{xml}</D:prop>").as_bytes()).ok()?;
        let mut children = root.elements();
        let (Some(only), None) = (children.next(), children.next()) else { return None };
        if only.is(NS_CALDAV, "opaque") {
            Some(Transparency::Opaque)
        } else if only.is(NS_CALDAV, "transparent") {
            Some(Transparency::Transparent)
        } else {
            None
        }
    }

    /// The element's local name in the CalDAV namespace.
    pub fn local_name(self) -> &'static str {
        match self {
            Transparency::Opaque => "opaque",
            Transparency::Transparent => "transparent",
        }
    }

    /// The fragment to keep: the one element with its namespace declared.
    pub fn to_xml(self) -> String {
        format!("<C:{} xmlns:C=\"{NS_CALDAV}\"/>", self.local_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_and_transparent_round_trip_through_the_stored_fragment() {
        for value in [Transparency::Opaque, Transparency::Transparent] {
            assert_eq!(Transparency::from_stored(&value.to_xml()), Some(value));
        }
        let other_prefix = "<x:transparent xmlns:x=\"urn:ietf:params:xml:ns:caldav\"/>";
        assert_eq!(Transparency::from_value(&PropValue::Xml(other_prefix.into())), Some(Transparency::Transparent));
        // As a PROPPATCH body's value is re-serialised: with the response's fixed prefix.
        assert_eq!(
            Transparency::from_value(&PropValue::Xml("<C:transparent/>".into())),
            Some(Transparency::Transparent)
        );
    }

    #[test]
    fn text_other_elements_and_two_elements_are_no_transparency() {
        assert_eq!(Transparency::from_value(&PropValue::Text("opaque".into())), None);
        assert_eq!(Transparency::from_stored("<D:opaque xmlns:D=\"DAV:\"/>"), None);
        let both = format!("{}{}", Transparency::Opaque.to_xml(), Transparency::Transparent.to_xml());
        assert_eq!(Transparency::from_stored(&both), None);
        assert_eq!(Transparency::from_stored("<unclosed"), None);
    }
}
