use crate::error::ParseError;
use crate::names::{PropName, NS_DAV};
use crate::xml::{parse, XmlElement};

/// A PROPFIND body (RFC 4918 §14.20), also the property selection inside REPORTs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropFind {
    /// `<allprop/>`, with the names of `<include>` (RFC 4918 §14.8). An empty body means allprop.
    AllProp { include: Vec<PropName> },
    /// `<propname/>`
    PropName,
    /// `<prop>` with the names asked for, in request order, duplicates removed.
    Prop(Vec<PropName>),
}

/// Parses a PROPFIND body; an empty (or whitespace-only) body is `AllProp` (RFC 4918 §9.1).
pub fn parse_propfind(body: &[u8]) -> Result<PropFind, ParseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PropFind::AllProp { include: Vec::new() });
    }
    let root = parse(body)?;
    if !root.is(NS_DAV, "propfind") {
        return Err(ParseError::UnexpectedRoot(root.name.to_string()));
    }
    selection(&root)?.ok_or_else(|| ParseError::Invalid("propfind needs prop, allprop or propname".into()))
}

/// The `prop` / `allprop` / `propname` child of `parent`, if any (shared with REPORT bodies).
pub(crate) fn selection(parent: &XmlElement) -> Result<Option<PropFind>, ParseError> {
    // RFC 4918 §14.20: `propname | (allprop, include?) | prop`, one of them, once. Answering
    // only one of `<allprop/>` and `<prop>` would silently drop what the other asked for.
    let count = |local: &str| parent.elements().filter(|e| e.is(NS_DAV, local)).count();
    let (prop, allprop, propname, include) = (count("prop"), count("allprop"), count("propname"), count("include"));
    if prop + allprop + propname > 1 || include > allprop {
        return Err(ParseError::Invalid("one of prop, allprop (with include) or propname".into()));
    }
    if let Some(prop) = parent.child(NS_DAV, "prop") {
        return Ok(Some(PropFind::Prop(prop_names(prop))));
    }
    if parent.child(NS_DAV, "allprop").is_some() {
        let include = parent.child(NS_DAV, "include").map(prop_names).unwrap_or_default();
        return Ok(Some(PropFind::AllProp { include }));
    }
    if parent.child(NS_DAV, "propname").is_some() {
        return Ok(Some(PropFind::PropName));
    }
    Ok(None)
}

/// The names of the child elements of a `<prop>`, in order, without duplicates.
pub(crate) fn prop_names(prop: &XmlElement) -> Vec<PropName> {
    let mut names: Vec<PropName> = Vec::new();
    for element in prop.elements() {
        let name = PropName::from_qname(&element.name.ns, &element.name.local);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_is_allprop() {
        assert_eq!(parse_propfind(b"  \r\n"), Ok(PropFind::AllProp { include: vec![] }));
    }

    #[test]
    fn prop_keeps_order_and_drops_duplicates() {
        let body = br#"<propfind xmlns="DAV:" xmlns:CS="http://calendarserver.org/ns/"><prop><CS:getctag/><displayname/><CS:getctag/><x xmlns="urn:y"/></prop></propfind>"#;
        assert_eq!(
            parse_propfind(body),
            Ok(PropFind::Prop(vec![
                PropName::GetCtag,
                PropName::DisplayName,
                PropName::Unknown(crate::QName::new("urn:y", "x"))
            ]))
        );
    }

    #[test]
    fn more_than_one_selection_is_an_error() {
        for body in [
            &br#"<D:propfind xmlns:D="DAV:"><D:allprop/><D:prop><D:getetag/></D:prop></D:propfind>"#[..],
            br#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop><D:propname/></D:propfind>"#,
            br#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop><D:prop><D:displayname/></D:prop></D:propfind>"#,
            br#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop><D:include><D:displayname/></D:include></D:propfind>"#,
        ] {
            assert!(matches!(parse_propfind(body), Err(ParseError::Invalid(_))), "{}", String::from_utf8_lossy(body));
        }
        assert_eq!(
            parse_propfind(
                br#"<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:getetag/></D:include></D:propfind>"#
            ),
            Ok(PropFind::AllProp { include: vec![PropName::GetETag] })
        );
    }

    #[test]
    fn wrong_root_is_an_error() {
        assert!(matches!(parse_propfind(br#"<D:prop xmlns:D="DAV:"/>"#), Err(ParseError::UnexpectedRoot(_))));
        assert!(matches!(parse_propfind(br#"<propfind><prop/></propfind>"#), Err(ParseError::UnexpectedRoot(_))));
    }
}
