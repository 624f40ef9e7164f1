use crate::error::ParseError;
use crate::names::{PropName, QName, NS_DAV};
use crate::xml::language::{with_language, NS_XML};
use crate::xml::writer::{element, escape_text};
use crate::xml::{parse, reader::XmlNode, XmlElement};

/// A PROPPATCH body (RFC 4918 §14.19): set and remove instructions in document order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyUpdate {
    pub operations: Vec<PropOp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropOp {
    Set(PropName, PropValue),
    Remove(PropName),
}

/// The value of a property being set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropValue {
    /// Character content of a text property (displayname, calendar-description,
    /// calendar-color, calendar-order, calendar-timezone, and unknown properties with only
    /// text). Whitespace is kept as sent except for calendar-color and calendar-order,
    /// which are trimmed.
    Text(String),
    /// `supported-calendar-component-set`: the `name` attributes of `<C:comp>`.
    Components(Vec<String>),
    /// `resourcetype` in an extended MKCOL: the child element names.
    ResourceType(Vec<QName>),
    /// Any other content with child elements, as the raw inner XML.
    Xml(String),
}

impl PropValue {
    /// The value as XML content: text escaped, elements as re-serialised. This is how a dead
    /// property is stored, and `response::Value::Xml` writes it back unchanged.
    pub fn to_xml(&self) -> String {
        match self {
            PropValue::Text(text) => escape_text(text),
            PropValue::Xml(xml) => xml.clone(),
            PropValue::Components(names) => names
                .iter()
                .map(|n| format!(r#"<C:comp xmlns:C="urn:ietf:params:xml:ns:caldav" name="{}"/>"#, escape_text(n)))
                .collect(),
            PropValue::ResourceType(names) => names
                .iter()
                .map(|n| {
                    let mut out = String::new();
                    element(&mut out, n, &[], |_| {});
                    out
                })
                .collect(),
        }
    }
}

pub fn parse_propertyupdate(body: &[u8]) -> Result<PropertyUpdate, ParseError> {
    let root = parse(body)?;
    if !root.is(NS_DAV, "propertyupdate") {
        return Err(ParseError::UnexpectedRoot(root.name.to_string()));
    }
    let mut operations = Vec::new();
    // xml:lang is inherited (XML 1.0 §2.12): the innermost one from the root down to the
    // property element is the property's language (RFC 4918 §4.3).
    let root_language = root.language();
    for instruction in root.elements() {
        let set = if instruction.is(NS_DAV, "set") {
            true
        } else if instruction.is(NS_DAV, "remove") {
            false
        } else if instruction.name.ns == NS_DAV {
            // RFC 4918 §14.19: `(remove | set)+`. A DAV: element is no extension to skip (§17).
            return Err(ParseError::Invalid(format!("{} inside propertyupdate", instruction.name)));
        } else {
            continue;
        };
        let instruction_language = instruction.language().or(root_language);
        let prop = instruction_prop(instruction)?;
        let prop_language = prop.language().or(instruction_language);
        for property in prop.elements() {
            let name = PropName::from_qname(&property.name.ns, &property.name.local);
            operations.push(if set {
                let mut set_value = value(&name, property);
                if let (PropName::Unknown(_), Some(language)) = (&name, property.language().or(prop_language)) {
                    // Only a dead property keeps its language; live ones are not stored as XML.
                    set_value = PropValue::Xml(with_language(Some(language), set_value.to_xml()));
                }
                PropOp::Set(name.clone(), set_value)
            } else {
                PropOp::Remove(name)
            });
        }
    }
    if operations.is_empty() {
        return Err(ParseError::Invalid("propertyupdate without set or remove".into()));
    }
    Ok(PropertyUpdate { operations })
}

/// The one `<D:prop>` of a `<D:set>` or `<D:remove>` (RFC 4918 §14.26, §14.23: `(prop)`):
/// without one the instruction would silently do nothing.
pub(crate) fn instruction_prop(instruction: &XmlElement) -> Result<&XmlElement, ParseError> {
    let mut props = instruction.elements().filter(|e| e.name.ns == NS_DAV);
    match (props.next(), props.next()) {
        (Some(prop), None) if prop.is(NS_DAV, "prop") => Ok(prop),
        _ => Err(ParseError::Invalid(format!("{} needs exactly one DAV:prop", instruction.name))),
    }
}

/// The value of a `<prop>` child being set (shared with MKCALENDAR and extended MKCOL).
pub(crate) fn value(name: &PropName, element: &XmlElement) -> PropValue {
    match name {
        PropName::SupportedCalendarComponentSet => PropValue::Components(
            element
                .elements()
                .filter(|e| e.is(crate::names::NS_CALDAV, "comp"))
                .filter_map(|e| e.attribute("name").map(str::to_owned))
                .collect(),
        ),
        PropName::ResourceType => PropValue::ResourceType(element.elements().map(|e| e.name.clone()).collect()),
        PropName::CalendarColor | PropName::CalendarOrder => PropValue::Text(element.text().trim().to_owned()),
        _ if element.has_element_children() => PropValue::Xml(inner_xml(element)),
        _ => PropValue::Text(element.text()),
    }
}

/// Re-serialises the content of `element`, each namespace declared where it is used, so the
/// fragment can be stored and written back inside any document.
fn inner_xml(element: &XmlElement) -> String {
    let mut out = String::new();
    write_children(&mut out, element);
    out
}

fn write_children(out: &mut String, parent: &XmlElement) {
    for child in &parent.children {
        match child {
            XmlNode::Text(text) => out.push_str(&escape_text(text)),
            XmlNode::Element(e) => {
                let attributes: Vec<(String, String)> = e
                    .attributes
                    .iter()
                    .filter(|(n, _)| n.ns.is_empty() || n.ns == NS_XML)
                    .map(|(n, v)| {
                        (if n.ns.is_empty() { n.local.clone() } else { format!("xml:{}", n.local) }, v.clone())
                    })
                    .collect();
                element(out, &e.name, &attributes, |o| write_children(o, e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_remove_in_document_order() {
        let body = br#"<D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop><D:displayname> Work </D:displayname><A:calendar-color> #FF0000 </A:calendar-color></D:prop></D:set><D:remove><D:prop><D:displayname/></D:prop></D:remove></D:propertyupdate>"#;
        let update = parse_propertyupdate(body).unwrap();
        assert_eq!(
            update.operations,
            vec![
                PropOp::Set(PropName::DisplayName, PropValue::Text(" Work ".into())),
                PropOp::Set(PropName::CalendarColor, PropValue::Text("#FF0000".into())),
                PropOp::Remove(PropName::DisplayName),
            ]
        );
    }

    #[test]
    fn structured_unknown_values_keep_their_namespaces() {
        let body = br#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:p xmlns:Z="urn:z"><Z:a x="1">t</Z:a></Z:p></D:prop></D:set></D:propertyupdate>"#;
        let update = parse_propertyupdate(body).unwrap();
        let PropOp::Set(_, PropValue::Xml(xml)) = &update.operations[0] else { panic!("{update:?}") };
        assert_eq!(xml, r#"<X:a xmlns:X="urn:z" x="1">t</X:a>"#);
    }

    #[test]
    fn dead_properties_keep_their_language_own_or_inherited() {
        let body = br#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z" xml:lang="de"><D:set><D:prop xml:lang="en-US"><Z:author>Jim &amp; Roy</Z:author><Z:title xml:lang="fr">Le <Z:b xml:lang="it">x</Z:b></Z:title><D:displayname>Arbeit</D:displayname></D:prop></D:set><D:set><D:prop><Z:note>Hallo</Z:note><Z:plain xml:lang="">none</Z:plain></D:prop></D:set></D:propertyupdate>"#;
        let update = parse_propertyupdate(body).unwrap();
        let xml: Vec<String> = update
            .operations
            .iter()
            .map(|op| match op {
                PropOp::Set(_, value) => value.to_xml(),
                PropOp::Remove(_) => String::new(),
            })
            .collect();
        assert_eq!(
            xml,
            vec![
                "<?dav-xml-lang en-US?>Jim &amp; Roy".to_owned(),
                r#"<?dav-xml-lang fr?>Le <X:b xmlns:X="urn:z" xml:lang="it">x</X:b>"#.to_owned(),
                // displayname is live: stored as text, not as XML.
                "Arbeit".to_owned(),
                "<?dav-xml-lang de?>Hallo".to_owned(),
                "<?dav-xml-lang ?>none".to_owned(),
            ]
        );
    }

    #[test]
    fn instructions_without_exactly_one_prop_or_unknown_dav_elements_are_invalid() {
        for body in [
            &br#"<D:propertyupdate xmlns:D="DAV:"><D:set/></D:propertyupdate>"#[..],
            br#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:displayname>x</D:displayname></D:set></D:propertyupdate>"#,
            br#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname></D:prop><D:prop/></D:set></D:propertyupdate>"#,
            br#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname></D:prop></D:set><D:delete><D:prop><D:displayname/></D:prop></D:delete></D:propertyupdate>"#,
            br#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname></D:prop></D:set><D:remove/></D:propertyupdate>"#,
        ] {
            assert!(
                matches!(parse_propertyupdate(body), Err(ParseError::Invalid(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // An element of another namespace is an extension and is skipped (RFC 4918 §17).
        let body = br#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><Z:hint/><D:set><D:prop><D:displayname>x</D:displayname></D:prop><Z:extra/></D:set></D:propertyupdate>"#;
        assert_eq!(parse_propertyupdate(body).unwrap().operations.len(), 1);
    }

    #[test]
    fn empty_update_is_invalid() {
        assert!(parse_propertyupdate(br#"<D:propertyupdate xmlns:D="DAV:"/>"#).is_err());
    }
}
