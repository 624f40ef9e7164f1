use crate::error::ParseError;
use crate::names::{PropName, NS_CALDAV, NS_DAV};
use crate::xml::parse;

use super::proppatch::value;
use super::PropValue;

/// The properties to set on a new collection: `<C:mkcalendar>` (RFC 4791 §5.3.1) or
/// extended `<D:mkcol>` (RFC 5689 §3), whose `<D:set><D:prop>` are flattened in order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MkCollection {
    pub properties: Vec<(PropName, PropValue)>,
}

/// An empty body is allowed and sets nothing.
pub fn parse_mkcalendar(body: &[u8]) -> Result<MkCollection, ParseError> {
    parse_collection(body, NS_CALDAV, "mkcalendar")
}

/// Extended MKCOL; an empty body is a plain MKCOL (the caller then refuses it for a calendar home).
pub fn parse_mkcol(body: &[u8]) -> Result<MkCollection, ParseError> {
    parse_collection(body, NS_DAV, "mkcol")
}

fn parse_collection(body: &[u8], ns: &str, local: &str) -> Result<MkCollection, ParseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(MkCollection::default());
    }
    let root = parse(body)?;
    if !root.is(ns, local) {
        return Err(ParseError::UnexpectedRoot(root.name.to_string()));
    }
    let mut properties = Vec::new();
    for set in root.elements().filter(|e| e.is(NS_DAV, "set")) {
        let prop = super::proppatch::instruction_prop(set)?;
        for property in prop.elements() {
            let name = PropName::from_qname(&property.name.ns, &property.name.local);
            let value = value(&name, property);
            properties.push((name, value));
        }
    }
    Ok(MkCollection { properties })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkcalendar_flattens_set_props() {
        let body = br#"<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Lisa's Events</D:displayname><C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"#;
        let request = parse_mkcalendar(body).unwrap();
        assert_eq!(
            request.properties,
            vec![
                (PropName::DisplayName, PropValue::Text("Lisa's Events".into())),
                (PropName::SupportedCalendarComponentSet, PropValue::Components(vec!["VEVENT".into()])),
            ]
        );
    }

    #[test]
    fn empty_body_sets_nothing_and_wrong_root_fails() {
        assert_eq!(parse_mkcalendar(b""), Ok(MkCollection::default()));
        assert!(parse_mkcol(br#"<C:mkcalendar xmlns:C="urn:ietf:params:xml:ns:caldav"/>"#).is_err());
    }
}
