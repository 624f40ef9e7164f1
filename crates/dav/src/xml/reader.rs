//! Request bodies into a small owned tree, with limits against hostile input.
//!
//! A DTD is refused outright: no CalDAV client sends one, and entity declarations are the way
//! to billion-laughs and external-entity attacks. Depth and element count are bounded so a
//! crafted body cannot exhaust the stack or memory. A character XML 1.0 §2.2 does not allow
//! (NUL, most C0 controls, U+FFFE/U+FFFF), raw or as a character reference, makes the body
//! malformed: quick-xml does not check for them, and they must never reach a stored property.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use crate::error::ParseError;
use crate::names::QName;

const MAX_DEPTH: usize = 64;
const MAX_ELEMENTS: usize = 100_000;

/// An element of a parsed request body, namespaces resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct XmlElement {
    pub name: QName,
    pub attributes: Vec<(QName, String)>,
    pub children: Vec<XmlNode>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum XmlNode {
    Element(XmlElement),
    Text(String),
}

impl XmlElement {
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.name.is(ns, local)
    }

    /// Child elements, skipping text.
    pub fn elements(&self) -> impl Iterator<Item = &XmlElement> {
        self.children.iter().filter_map(|c| match c {
            XmlNode::Element(e) => Some(e),
            XmlNode::Text(_) => None,
        })
    }

    pub fn child(&self, ns: &str, local: &str) -> Option<&XmlElement> {
        self.elements().find(|e| e.is(ns, local))
    }

    /// All character content directly inside, concatenated.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|c| match c {
                XmlNode::Text(t) => Some(t.as_str()),
                XmlNode::Element(_) => None,
            })
            .collect()
    }

    /// An attribute in no namespace, as CalDAV uses them (`<C:comp name="VEVENT"/>`).
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n.ns.is_empty() && n.local == local).map(|(_, v)| v.as_str())
    }

    /// Its own `xml:lang`, if it has one (XML 1.0 §2.12).
    pub fn language(&self) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n.ns == super::language::NS_XML && n.local == "lang")
            .map(|(_, v)| v.as_str())
    }

    pub fn has_element_children(&self) -> bool {
        self.elements().next().is_some()
    }
}

/// Parses a whole document into its root element.
pub(crate) fn parse(body: &[u8]) -> Result<XmlElement, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::Xml("body is not UTF-8".into()))?;
    allowed_chars(text)?;
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut stack: Vec<XmlElement> = Vec::new();
    let mut root: Option<XmlElement> = None;
    let mut count = 0usize;
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(|e| ParseError::Xml(e.to_string()))?;
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(ParseError::Xml("content after the root element".into()));
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(ParseError::TooComplex);
                }
                let ns = namespace(&resolved)?;
                let local = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                let mut attributes = Vec::new();
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|e| ParseError::Xml(e.to_string()))?;
                    let key = attribute.key;
                    if key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (attr_ns, attr_local) = reader.resolve_attribute(key);
                    let value = attribute.unescape_value().map_err(|e| ParseError::Xml(e.to_string()))?;
                    allowed_chars(&value)?;
                    attributes.push((
                        QName::new(namespace(&attr_ns)?, String::from_utf8_lossy(attr_local.as_ref()).into_owned()),
                        value.into_owned(),
                    ));
                }
                let element = XmlElement { name: QName::new(ns, local), attributes, children: Vec::new() };
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut root, element);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| ParseError::Xml("unbalanced end tag".into()))?;
                attach(&mut stack, &mut root, element);
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(|e| ParseError::Xml(e.to_string()))?;
                allowed_chars(&text)?;
                push_text(&mut stack, &root, &text)?;
            }
            Event::CData(data) => {
                let text = String::from_utf8_lossy(&data).into_owned();
                push_text(&mut stack, &root, &text)?;
            }
            Event::DocType(_) => return Err(ParseError::TooComplex),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(ParseError::Xml("unclosed element".into()));
    }
    root.ok_or_else(|| ParseError::Xml("no root element".into()))
}

/// XML 1.0 §2.2 `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
/// (a Rust `char` is never a surrogate).
fn allowed_chars(text: &str) -> Result<(), ParseError> {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}');
    match text.chars().find(|&c| !allowed(c)) {
        None => Ok(()),
        Some(c) => Err(ParseError::Xml(format!("character U+{:04X} is not allowed in XML", u32::from(c)))),
    }
}

fn namespace(resolved: &ResolveResult<'_>) -> Result<String, ParseError> {
    match resolved {
        ResolveResult::Bound(ns) => Ok(String::from_utf8_lossy(ns.as_ref()).into_owned()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(prefix) => {
            Err(ParseError::Xml(format!("undeclared namespace prefix {}", String::from_utf8_lossy(prefix))))
        }
    }
}

fn attach(stack: &mut [XmlElement], root: &mut Option<XmlElement>, element: XmlElement) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(XmlNode::Element(element)),
        None => *root = Some(element),
    }
}

fn push_text(stack: &mut [XmlElement], root: &Option<XmlElement>, text: &str) -> Result<(), ParseError> {
    match stack.last_mut() {
        Some(parent) => {
            if let Some(XmlNode::Text(previous)) = parent.children.last_mut() {
                previous.push_str(text);
            } else {
                parent.children.push(XmlNode::Text(text.to_owned()));
            }
            Ok(())
        }
        // Whitespace around the root is fine; anything else is not XML.
        None if text.trim().is_empty() => Ok(()),
        None if root.is_some() => Err(ParseError::Xml("text after the root element".into())),
        None => Err(ParseError::Xml("text before the root element".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_namespace_and_odd_prefixes_resolve_alike() {
        let a = parse(br#"<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>"#).unwrap();
        let b = parse(br#"<Z:propfind xmlns:Z="DAV:"><Z:prop><Z:getetag/></Z:prop></Z:propfind>"#).unwrap();
        assert_eq!(a, b);
        assert!(a.is("DAV:", "propfind"));
    }

    #[test]
    fn unprefixed_names_without_default_namespace_have_no_namespace() {
        let root = parse(br#"<D:prop xmlns:D="DAV:"><foo/></D:prop>"#).unwrap();
        assert_eq!(root.elements().next().unwrap().name, QName::new("", "foo"));
    }

    #[test]
    fn doctype_with_entities_is_refused() {
        let body = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><D:propfind xmlns:D="DAV:">&lol2;</D:propfind>"#;
        assert_eq!(parse(body), Err(ParseError::TooComplex));
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let mut body = String::from(r#"<D:a xmlns:D="DAV:">"#);
        for _ in 0..10_000 {
            body.push_str("<D:a>");
        }
        assert_eq!(parse(body.as_bytes()), Err(ParseError::TooComplex));
    }

    #[test]
    fn too_many_elements_are_refused_even_when_flat() {
        let body = format!(r#"<D:prop xmlns:D="DAV:">{}</D:prop>"#, "<D:a/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(body.as_bytes()), Err(ParseError::TooComplex));
    }

    #[test]
    fn undeclared_entities_are_malformed_not_expanded() {
        let body = br#"<D:propfind xmlns:D="DAV:"><D:prop>&lol;&xxe;</D:prop></D:propfind>"#;
        assert!(matches!(parse(body), Err(ParseError::Xml(_))));
    }

    #[test]
    fn malformed_documents_are_errors() {
        for body in [
            &b"<D:propfind xmlns:D=\"DAV:\"><D:prop></D:propfind>"[..],
            b"not xml",
            b"",
            b"<a/><b/>",
            b"<X:a/>",
            b"\xff\xfe<a/>",
        ] {
            assert!(matches!(parse(body), Err(ParseError::Xml(_))), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn characters_xml_forbids_are_malformed_raw_or_as_references() {
        for body in [
            "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/>\u{0}</D:prop></D:propfind>",
            "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/></D:prop></D:propfind>\u{0}",
            "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><X:a xmlns:X=\"urn:x\">a&#0;b</X:a></D:prop></D:set></D:propertyupdate>",
            "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><X:a xmlns:X=\"urn:x\">a&#x1F;b</X:a></D:prop></D:set></D:propertyupdate>",
            "<C:comp xmlns:C=\"urn:ietf:params:xml:ns:caldav\" name=\"V&#1;EVENT\"/>",
            "<C:comp xmlns:C=\"urn:ietf:params:xml:ns:caldav\" name=\"V\u{8}EVENT\"/>",
            "<a>\u{FFFF}</a>",
        ] {
            assert!(matches!(parse(body.as_bytes()), Err(ParseError::Xml(_))), "{body:?}");
        }
        assert!(parse("<a>\tü\r\n&#x9;</a>".as_bytes()).is_ok());
    }

    #[test]
    fn text_is_unescaped_and_attributes_read() {
        let root =
            parse(br#"<C:comp xmlns:C="urn:ietf:params:xml:ns:caldav" name="VEVENT">a &amp; b</C:comp>"#).unwrap();
        assert_eq!(root.attribute("name"), Some("VEVENT"));
        assert_eq!(root.text(), "a & b");
    }
}
