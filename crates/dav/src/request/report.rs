use calendar::filter::{CompFilter, TimeRange};
use calendar::retrieval::CalendarDataRequest;

use crate::error::ParseError;
use crate::names::{QName, NS_CALDAV, NS_DAV};
use crate::xml::parse;

use super::propfind::selection;
use super::PropFind;

/// RFC 6578 §6.3: `1` or `infinite`; calendars have no sub-collections, so both mean members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncLevel {
    One,
    Infinite,
}

/// One `<D:property-search>`: a caseless substring `match` against any of `props`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertySearch {
    pub props: Vec<crate::PropName>,
    pub text: String,
}

/// A REPORT body, by its root element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// RFC 4791 §7.9
    CalendarMultiget { props: PropFind, hrefs: Vec<String>, calendar_data: CalendarDataRequest },
    /// RFC 6578 §3.2. `sync_token` is `None` for an empty `<D:sync-token/>` (initial sync).
    SyncCollection {
        sync_token: Option<String>,
        level: SyncLevel,
        limit: Option<u64>,
        props: PropFind,
        calendar_data: CalendarDataRequest,
    },
    /// RFC 4791 §7.8. `timezone` is the `<C:timezone>` VCALENDAR text, for floating times.
    CalendarQuery { props: PropFind, filter: CompFilter, timezone: Option<String>, calendar_data: CalendarDataRequest },
    /// RFC 4791 §7.10
    FreeBusyQuery { range: TimeRange },
    /// RFC 3744 §9.4: principals whose properties contain the match strings.
    PrincipalPropertySearch { searches: Vec<PropertySearch>, any_of: bool, props: PropFind },
    /// RFC 3744 §9.5: which properties principal-property-search can match.
    PrincipalSearchPropertySet,
    /// A report the gateway does not implement (yet), by root element name: answered 403 with
    /// `DAV:supported-report` (RFC 3253 §3.6).
    Unsupported(QName),
}

pub fn parse_report(body: &[u8]) -> Result<Report, ParseError> {
    let root = parse(body)?;
    if root.is(NS_CALDAV, "calendar-multiget") {
        let props = selection(&root)?.unwrap_or(PropFind::Prop(Vec::new()));
        let hrefs = root.elements().filter(|e| e.is(NS_DAV, "href")).map(|e| e.text().trim().to_owned()).collect();
        let calendar_data = super::calendar_data::request(&root)?;
        return Ok(Report::CalendarMultiget { props, hrefs, calendar_data });
    }
    if root.is(NS_DAV, "sync-collection") {
        let sync_token = root.child(NS_DAV, "sync-token").map(|e| e.text().trim().to_owned()).filter(|t| !t.is_empty());
        let level = match root.child(NS_DAV, "sync-level").map(|e| e.text()) {
            None => SyncLevel::One,
            Some(text) => match text.trim() {
                "1" => SyncLevel::One,
                "infinite" | "infinity" => SyncLevel::Infinite,
                other => return Err(ParseError::Invalid(format!("sync-level {other:?}"))),
            },
        };
        let limit = match root.child(NS_DAV, "limit").and_then(|l| l.child(NS_DAV, "nresults")) {
            None => None,
            Some(n) => Some(
                n.text().trim().parse::<u64>().map_err(|_| ParseError::Invalid("nresults is not a number".into()))?,
            ),
        };
        // RFC 6578 §6.1 requires DAV:prop; an absent one asks for no properties.
        let props = selection(&root)?.unwrap_or(PropFind::Prop(Vec::new()));
        let calendar_data = super::calendar_data::request(&root)?;
        return Ok(Report::SyncCollection { sync_token, level, limit, props, calendar_data });
    }
    if root.is(NS_CALDAV, "calendar-query") {
        let props = selection(&root)?.unwrap_or(PropFind::AllProp { include: Vec::new() });
        let filter_element =
            root.child(NS_CALDAV, "filter").ok_or(ParseError::Condition(crate::Precondition::ValidFilter))?;
        let filter = super::calendar_query::filter(filter_element)?;
        let timezone = root.child(NS_CALDAV, "timezone").map(|t| t.text());
        let calendar_data = super::calendar_data::request(&root)?;
        return Ok(Report::CalendarQuery { props, filter, timezone, calendar_data });
    }
    if root.is(NS_CALDAV, "free-busy-query") {
        let range = root
            .child(NS_CALDAV, "time-range")
            .ok_or(ParseError::Condition(crate::Precondition::ValidFilter))
            .and_then(super::calendar_query::time_range)?;
        return Ok(Report::FreeBusyQuery { range });
    }
    if root.is(NS_DAV, "principal-property-search") {
        let searches = root
            .elements()
            .filter(|e| e.is(NS_DAV, "property-search"))
            .map(|search| PropertySearch {
                props: search.child(NS_DAV, "prop").map(super::propfind::prop_names).unwrap_or_default(),
                text: search.child(NS_DAV, "match").map(|m| m.text()).unwrap_or_default(),
            })
            .collect();
        let any_of = root.attribute("test").is_some_and(|t| t.trim() == "anyof");
        let mut props = selection(&root)?.unwrap_or(PropFind::Prop(Vec::new()));
        // Quirk, python caldav 3.6.0 (base_client.py `_build_principal_search_query`): it sends
        // an empty <D:prop/> with the wanted properties as its siblings. Take those.
        if props == PropFind::Prop(Vec::new()) {
            let siblings: Vec<crate::PropName> = root
                .elements()
                .filter(|e| !e.is(NS_DAV, "property-search") && !e.is(NS_DAV, "prop"))
                .filter(|e| !e.is(NS_DAV, "apply-to-principal-collection-set"))
                .map(|e| crate::PropName::from_qname(&e.name.ns, &e.name.local))
                .collect();
            props = PropFind::Prop(siblings);
        }
        return Ok(Report::PrincipalPropertySearch { searches, any_of, props });
    }
    if root.is(NS_DAV, "principal-search-property-set") {
        return Ok(Report::PrincipalSearchPropertySet);
    }
    Ok(Report::Unsupported(root.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PropName;

    #[test]
    fn initial_sync_has_no_token() {
        let body = br#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#;
        assert_eq!(
            parse_report(body),
            Ok(Report::SyncCollection {
                sync_token: None,
                level: SyncLevel::One,
                limit: None,
                props: PropFind::Prop(vec![PropName::GetETag]),
                calendar_data: CalendarDataRequest::default(),
            })
        );
    }

    #[test]
    fn multiget_collects_trimmed_hrefs() {
        let body = br#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href> /a/1.ics </D:href><D:href>/a/2.ics</D:href></C:calendar-multiget>"#;
        let Ok(Report::CalendarMultiget { props, hrefs, .. }) = parse_report(body) else { panic!() };
        assert_eq!(hrefs, vec!["/a/1.ics", "/a/2.ics"]);
        assert_eq!(props, PropFind::Prop(vec![PropName::GetETag, PropName::CalendarData]));
    }

    #[test]
    fn other_reports_are_unsupported_by_name() {
        let body = br#"<D:expand-property xmlns:D="DAV:"/>"#;
        assert_eq!(parse_report(body), Ok(Report::Unsupported(QName::dav("expand-property"))));
    }

    #[test]
    fn calendar_query_with_time_range_and_text_match() {
        use calendar::filter::{Collation, CompTest, PropTest};
        let body = br#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
            <D:prop><D:getetag/></D:prop>
            <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="vevent">
              <C:time-range start="20261201T000000Z" end="20270101T000000Z"/>
              <C:prop-filter name="SUMMARY"><C:text-match collation="i;octet" negate-condition="yes">x</C:text-match></C:prop-filter>
            </C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#;
        let Ok(Report::CalendarQuery { filter, .. }) = parse_report(body) else { panic!() };
        let CompTest::Matches { comps, .. } = &filter.test else { panic!() };
        assert_eq!(comps[0].name, "VEVENT");
        let CompTest::Matches { time_range: Some(range), props, .. } = &comps[0].test else { panic!() };
        assert!(range.start.is_some() && range.end.is_some());
        let PropTest::Matches { text: Some(text), .. } = &props[0].test else { panic!() };
        assert_eq!((text.collation, text.negate, text.text.as_str()), (Collation::Octet, true, "x"));
    }

    #[test]
    fn calendar_query_preconditions() {
        let wrap = |inner: &str| {
            format!(
                r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter>{inner}</C:filter></C:calendar-query>"#
            )
        };
        let collation = wrap(
            r#"<C:comp-filter name="VCALENDAR"><C:prop-filter name="UID"><C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:comp-filter>"#,
        );
        assert_eq!(
            parse_report(collation.as_bytes()),
            Err(ParseError::Condition(crate::Precondition::SupportedCollation))
        );
        for bad in [
            r#"<C:comp-filter name="VEVENT"/>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="2026-12-01"/></C:comp-filter></C:comp-filter>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range/></C:comp-filter></C:comp-filter>"#,
            "",
        ] {
            assert_eq!(
                parse_report(wrap(bad).as_bytes()),
                Err(ParseError::Condition(crate::Precondition::ValidFilter)),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_sync_level_and_limit_are_invalid() {
        let level = br#"<D:sync-collection xmlns:D="DAV:"><D:sync-level>2</D:sync-level></D:sync-collection>"#;
        assert!(parse_report(level).is_err());
        let limit =
            br#"<D:sync-collection xmlns:D="DAV:"><D:limit><D:nresults>x</D:nresults></D:limit></D:sync-collection>"#;
        assert!(parse_report(limit).is_err());
    }

    #[test]
    fn principal_property_search_as_the_python_caldav_library_sends_it() {
        let body = br#"<D:principal-property-search xmlns:D="DAV:" test="anyof"><D:property-search><D:prop><D:displayname/></D:prop><D:match>Ali</D:match></D:property-search><D:prop><D:displayname/></D:prop></D:principal-property-search>"#;
        let Ok(Report::PrincipalPropertySearch { searches, any_of, props }) = parse_report(body) else { panic!() };
        assert!(any_of);
        assert_eq!(searches, vec![PropertySearch { props: vec![PropName::DisplayName], text: "Ali".into() }]);
        assert_eq!(props, PropFind::Prop(vec![PropName::DisplayName]));
    }

    #[test]
    fn principal_property_search_takes_sibling_properties_of_an_empty_prop() {
        let body = br#"<D:principal-property-search xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop/><C:calendar-home-set/><D:displayname/></D:principal-property-search>"#;
        let Ok(Report::PrincipalPropertySearch { searches, props, .. }) = parse_report(body) else { panic!() };
        assert!(searches.is_empty());
        assert_eq!(props, PropFind::Prop(vec![PropName::CalendarHomeSet, PropName::DisplayName]));
    }
}
