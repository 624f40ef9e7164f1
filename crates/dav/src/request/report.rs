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
        let hrefs: Vec<String> =
            root.elements().filter(|e| e.is(NS_DAV, "href")).map(|e| e.text().trim().to_owned()).collect();
        // RFC 4791 §9.10: `DAV:href+`; an empty multiget is a malformed request, not an empty answer.
        if hrefs.is_empty() || hrefs.iter().any(String::is_empty) {
            return Err(ParseError::Invalid("calendar-multiget needs at least one non-empty href".into()));
        }
        let calendar_data = super::calendar_data::request(&root)?;
        return Ok(Report::CalendarMultiget { props, hrefs, calendar_data });
    }
    if root.is(NS_DAV, "sync-collection") {
        // RFC 6578 §6.1: DAV:sync-token is required, empty for an initial sync. A request without
        // it is malformed; taking it for an initial sync would answer something never asked.
        let token = root
            .child(NS_DAV, "sync-token")
            .ok_or_else(|| ParseError::Invalid("sync-collection needs a DAV:sync-token element".into()))?;
        let sync_token = Some(token.text().trim().to_owned()).filter(|t| !t.is_empty());
        // A missing sync-level is taken as 1, as sabre/dav does: clients written against the
        // drafts before RFC 6578 (which had no sync-level) still sync.
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
        let timezone = root.child(NS_CALDAV, "timezone").map(super::calendar_query::timezone).transpose()?;
        let calendar_data = super::calendar_data::request(&root)?;
        return Ok(Report::CalendarQuery { props, filter, timezone, calendar_data });
    }
    if root.is(NS_CALDAV, "free-busy-query") {
        // RFC 4791 §9.11: exactly one time-range and nothing else.
        if root.elements().count() != 1 {
            return Err(ParseError::Condition(crate::Precondition::ValidFilter));
        }
        let range = root
            .child(NS_CALDAV, "time-range")
            .ok_or(ParseError::Condition(crate::Precondition::ValidFilter))
            .and_then(super::calendar_query::time_range)?;
        return Ok(Report::FreeBusyQuery { range });
    }
    if root.is(NS_DAV, "principal-property-search") {
        // RFC 3744 §9.4: `property-search (prop, match)`; without either the search would
        // silently match everything.
        let searches = root
            .elements()
            .filter(|e| e.is(NS_DAV, "property-search"))
            .map(|search| match (search.child(NS_DAV, "prop"), search.child(NS_DAV, "match")) {
                (Some(prop), Some(text)) => {
                    Ok(PropertySearch { props: super::propfind::prop_names(prop), text: text.text() })
                }
                _ => Err(ParseError::Invalid("property-search needs prop and match".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
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

    fn query_with_filter(inner: &str) -> String {
        format!(
            r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:X="urn:x"><C:filter>{inner}</C:filter></C:calendar-query>"#
        )
    }

    #[test]
    fn filters_with_elements_the_dtd_does_not_allow_are_valid_filter_errors() {
        for bad in [
            // Unknown elements in filter, comp-filter, prop-filter, param-filter, text-match.
            r#"<C:comp-filter name="VCALENDAR"/><C:bogus/>"#,
            r#"<X:other/><C:comp-filter name="VCALENDAR"/>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:bogus/></C:comp-filter></C:comp-filter>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><X:time-range start="20260101T000000Z"/></C:comp-filter></C:comp-filter>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:prop-filter name="UID"><C:bogus>x</C:bogus></C:prop-filter></C:comp-filter>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:prop-filter name="UID"><C:param-filter name="X"><C:bogus/></C:param-filter></C:prop-filter></C:comp-filter>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:prop-filter name="UID"><C:text-match>x<C:b/></C:text-match></C:prop-filter></C:comp-filter>"#,
            // text-match directly on a comp-filter (RFC 4791 §9.7.1).
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:text-match>x</C:text-match></C:comp-filter></C:comp-filter>"#,
            // Two time-ranges, two text-matches, time-range with text-match, is-not-defined with tests.
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260101T000000Z"/><C:time-range end="20270101T000000Z"/></C:comp-filter></C:comp-filter>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:prop-filter name="UID"><C:text-match>a</C:text-match><C:text-match>b</C:text-match></C:prop-filter></C:comp-filter>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:prop-filter name="DTSTART"><C:time-range start="20260101T000000Z"/><C:text-match>b</C:text-match></C:prop-filter></C:comp-filter>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:is-not-defined/><C:prop-filter name="UID"/></C:comp-filter></C:comp-filter>"#,
            // Two top-level comp-filters, a wrong or missing top-level name.
            r#"<C:comp-filter name="VCALENDAR"/><C:comp-filter name="VCALENDAR"/>"#,
            r#"<C:comp-filter name="VTODO"/>"#,
            r#"<C:comp-filter/>"#,
            // Time ranges without bounds, with bad values, or ending before they start.
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="" end=""/></C:comp-filter></C:comp-filter>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range end="tomorrow"/></C:comp-filter></C:comp-filter>"#,
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20270101T000000Z" end="20260101T000000Z"/></C:comp-filter></C:comp-filter>"#,
        ] {
            assert_eq!(
                parse_report(query_with_filter(bad).as_bytes()),
                Err(ParseError::Condition(crate::Precondition::ValidFilter)),
                "{bad}"
            );
        }
        let collation = r#"<C:comp-filter name="VCALENDAR"><C:prop-filter name="UID"><C:param-filter name="X"><C:text-match collation="i;basic">x</C:text-match></C:param-filter></C:prop-filter></C:comp-filter>"#;
        assert_eq!(
            parse_report(query_with_filter(collation).as_bytes()),
            Err(ParseError::Condition(crate::Precondition::SupportedCollation))
        );
        let fine = r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="UID"><C:is-not-defined/></C:prop-filter><C:prop-filter name="ATTENDEE"><C:param-filter name="PARTSTAT"><C:text-match>ACCEPTED</C:text-match></C:param-filter></C:prop-filter></C:comp-filter></C:comp-filter>"#;
        assert!(parse_report(query_with_filter(fine).as_bytes()).is_ok());
    }

    fn query_with_prop_and_timezone(prop: &str, timezone: &str) -> String {
        format!(
            r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>{prop}</D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter>{timezone}</C:calendar-query>"#
        )
    }

    #[test]
    fn calendar_data_other_than_icalendar_2_is_unsupported() {
        for bad in [
            r#"<C:calendar-data content-type="application/calendar+json"/>"#,
            r#"<C:calendar-data content-type="text/calendar" version="1.0"/>"#,
            r#"<C:calendar-data version="3.0"/>"#,
        ] {
            assert_eq!(
                parse_report(query_with_prop_and_timezone(bad, "").as_bytes()),
                Err(ParseError::Condition(crate::Precondition::SupportedCalendarData)),
                "{bad}"
            );
        }
        for fine in [
            r#"<C:calendar-data content-type="text/calendar" version="2.0"/>"#,
            r#"<C:calendar-data content-type="TEXT/Calendar; charset=utf-8"/>"#,
        ] {
            assert!(parse_report(query_with_prop_and_timezone(fine, "").as_bytes()).is_ok(), "{fine}");
        }
    }

    #[test]
    fn calendar_data_expand_and_limits_need_valid_bounds() {
        for bad in [
            r#"<C:calendar-data><C:expand/></C:calendar-data>"#,
            r#"<C:calendar-data><C:expand start="20260101T000000Z"/></C:calendar-data>"#,
            r#"<C:calendar-data><C:limit-recurrence-set end="20260101T000000Z"/></C:calendar-data>"#,
            r#"<C:calendar-data><C:expand start="2026-01-01" end="20270101T000000Z"/></C:calendar-data>"#,
            r#"<C:calendar-data><C:limit-freebusy-set start="20270101T000000Z" end="20260101T000000Z"/></C:calendar-data>"#,
        ] {
            assert_eq!(
                parse_report(query_with_prop_and_timezone(bad, "").as_bytes()),
                Err(ParseError::Condition(crate::Precondition::ValidFilter)),
                "{bad}"
            );
        }
        for malformed in [
            r#"<C:calendar-data><C:expand start="20260101T000000Z" end="20270101T000000Z"/><C:limit-recurrence-set start="20260101T000000Z" end="20270101T000000Z"/></C:calendar-data>"#,
            r#"<C:calendar-data><C:bogus/></C:calendar-data>"#,
            r#"<C:calendar-data><C:comp name="VCALENDAR"/><C:comp name="VCALENDAR"/></C:calendar-data>"#,
        ] {
            assert!(
                matches!(
                    parse_report(query_with_prop_and_timezone(malformed, "").as_bytes()),
                    Err(ParseError::Invalid(_))
                ),
                "{malformed}"
            );
        }
    }

    #[test]
    fn calendar_query_timezone_must_be_one_vtimezone() {
        let zone = "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nEND:VTIMEZONE\r\n";
        let wrap = |inner: &str| {
            format!("<C:timezone>BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{inner}END:VCALENDAR\r\n</C:timezone>")
        };
        for bad in [
            "<C:timezone>Europe/Paris</C:timezone>".to_owned(),
            "<C:timezone/>".to_owned(),
            wrap(""),
            wrap(&format!("{zone}{zone}")),
            wrap(&format!("{zone}BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n")),
            wrap("BEGIN:VTIMEZONE\r\nEND:VTIMEZONE\r\n"),
        ] {
            assert_eq!(
                parse_report(query_with_prop_and_timezone("<D:getetag/>", &bad).as_bytes()),
                Err(ParseError::Condition(crate::Precondition::ValidCalendarData)),
                "{bad}"
            );
        }
        let Ok(Report::CalendarQuery { timezone: Some(text), .. }) =
            parse_report(query_with_prop_and_timezone("<D:getetag/>", &wrap(zone)).as_bytes())
        else {
            panic!()
        };
        assert!(text.contains("TZID:Europe/Paris"));
    }

    #[test]
    fn multiget_without_hrefs_and_free_busy_with_extra_elements_are_refused() {
        let empty = br#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop></C:calendar-multiget>"#;
        assert!(matches!(parse_report(empty), Err(ParseError::Invalid(_))));
        let blank = br#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:href> </D:href></C:calendar-multiget>"#;
        assert!(matches!(parse_report(blank), Err(ParseError::Invalid(_))));
        for bad in [
            r#"<C:time-range start="20260101T000000Z" end="20270101T000000Z"/><C:time-range start="20280101T000000Z" end="20290101T000000Z"/>"#,
            r#"<C:time-range start="20260101T000000Z" end="20270101T000000Z"/><C:comp-filter name="VEVENT"/>"#,
        ] {
            let body =
                format!(r#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">{bad}</C:free-busy-query>"#);
            assert_eq!(
                parse_report(body.as_bytes()),
                Err(ParseError::Condition(crate::Precondition::ValidFilter)),
                "{bad}"
            );
        }
    }

    #[test]
    fn report_property_selection_is_one_of_prop_allprop_propname() {
        let body = br#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:allprop/><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"#;
        assert!(matches!(parse_report(body), Err(ParseError::Invalid(_))));
    }

    #[test]
    fn bad_sync_level_and_limit_are_invalid() {
        let level =
            br#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>2</D:sync-level></D:sync-collection>"#;
        assert!(parse_report(level).is_err());
        let limit = br#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:limit><D:nresults>x</D:nresults></D:limit></D:sync-collection>"#;
        assert!(parse_report(limit).is_err());
    }

    #[test]
    fn sync_collection_without_a_sync_token_element_is_malformed_not_an_initial_sync() {
        let missing = br#"<D:sync-collection xmlns:D="DAV:"><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#;
        assert!(matches!(parse_report(missing), Err(ParseError::Invalid(_))));
        let empty =
            br#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:prop><D:getetag/></D:prop></D:sync-collection>"#;
        assert!(matches!(parse_report(empty), Ok(Report::SyncCollection { sync_token: None, .. })));
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
    fn principal_property_search_without_prop_or_match_is_invalid() {
        for search in ["<D:prop><D:displayname/></D:prop>", "<D:match>Ali</D:match>"] {
            let body = format!(
                r#"<D:principal-property-search xmlns:D="DAV:"><D:property-search>{search}</D:property-search><D:prop><D:displayname/></D:prop></D:principal-property-search>"#
            );
            assert!(matches!(parse_report(body.as_bytes()), Err(ParseError::Invalid(_))), "{search}");
        }
    }

    #[test]
    fn principal_property_search_takes_sibling_properties_of_an_empty_prop() {
        let body = br#"<D:principal-property-search xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop/><C:calendar-home-set/><D:displayname/></D:principal-property-search>"#;
        let Ok(Report::PrincipalPropertySearch { searches, props, .. }) = parse_report(body) else { panic!() };
        assert!(searches.is_empty());
        assert_eq!(props, PropFind::Prop(vec![PropName::CalendarHomeSet, PropName::DisplayName]));
    }
}
