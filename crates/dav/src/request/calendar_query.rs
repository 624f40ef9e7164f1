//! The `<C:filter>` of calendar-query (RFC 4791 §9.7) into `calendar::filter` values.

use calendar::filter::{
    Collation, CompFilter, CompTest, ParamFilter, ParamTest, PropFilter, PropTest, TextMatch, TimeRange,
};

use crate::error::ParseError;
use crate::names::NS_CALDAV;
use crate::precondition::Precondition;
use crate::xml::XmlElement;

fn invalid() -> ParseError {
    ParseError::Condition(Precondition::ValidFilter)
}

/// Refuses a child element the RFC 4791 §9.7 DTD does not allow in `element`, and more than
/// `max` of one that it does: silently skipping a test the client asked for would answer a
/// different query than the one sent (Cyrus refuses these with valid-filter too).
fn children_allowed(element: &XmlElement, allowed: &[(&str, usize)]) -> Result<(), ParseError> {
    for (local, max) in allowed {
        if element.elements().filter(|e| e.is(NS_CALDAV, local)).count() > *max {
            return Err(invalid());
        }
    }
    let known = |e: &XmlElement| allowed.iter().any(|(local, _)| e.is(NS_CALDAV, local));
    if element.elements().all(known) {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// `is-not-defined` stands alone (RFC 4791 §9.7.4).
fn is_not_defined(element: &XmlElement) -> Result<bool, ParseError> {
    match element.child(NS_CALDAV, "is-not-defined") {
        None => Ok(false),
        Some(_) if element.elements().count() == 1 => Ok(true),
        Some(_) => Err(invalid()),
    }
}

/// RFC 4791 §9.7: exactly one comp-filter, on VCALENDAR.
pub(crate) fn filter(filter: &XmlElement) -> Result<CompFilter, ParseError> {
    children_allowed(filter, &[("comp-filter", 1)])?;
    let mut comps = filter.elements().filter(|e| e.is(NS_CALDAV, "comp-filter"));
    let (Some(top), None) = (comps.next(), comps.next()) else { return Err(invalid()) };
    let parsed = comp_filter(top)?;
    if parsed.name != "VCALENDAR" {
        return Err(invalid());
    }
    Ok(parsed)
}

fn name_of(element: &XmlElement) -> Result<String, ParseError> {
    element.attribute("name").map(|n| n.trim().to_ascii_uppercase()).filter(|n| !n.is_empty()).ok_or_else(invalid)
}

fn comp_filter(element: &XmlElement) -> Result<CompFilter, ParseError> {
    let name = name_of(element)?;
    children_allowed(
        element,
        &[("is-not-defined", 1), ("time-range", 1), ("prop-filter", usize::MAX), ("comp-filter", usize::MAX)],
    )?;
    if is_not_defined(element)? {
        return Ok(CompFilter { name, test: CompTest::IsNotDefined });
    }
    let time_range = element.child(NS_CALDAV, "time-range").map(time_range).transpose()?;
    let props =
        element.elements().filter(|e| e.is(NS_CALDAV, "prop-filter")).map(prop_filter).collect::<Result<_, _>>()?;
    let comps =
        element.elements().filter(|e| e.is(NS_CALDAV, "comp-filter")).map(comp_filter).collect::<Result<_, _>>()?;
    Ok(CompFilter { name, test: CompTest::Matches { time_range, props, comps } })
}

fn prop_filter(element: &XmlElement) -> Result<PropFilter, ParseError> {
    let name = name_of(element)?;
    children_allowed(
        element,
        &[("is-not-defined", 1), ("time-range", 1), ("text-match", 1), ("param-filter", usize::MAX)],
    )?;
    if is_not_defined(element)? {
        return Ok(PropFilter { name, test: PropTest::IsNotDefined });
    }
    // RFC 4791 §9.7.2: a time-range or a text-match, not both.
    if element.child(NS_CALDAV, "time-range").is_some() && element.child(NS_CALDAV, "text-match").is_some() {
        return Err(invalid());
    }
    let time_range = element.child(NS_CALDAV, "time-range").map(time_range).transpose()?;
    let text = element.child(NS_CALDAV, "text-match").map(text_match).transpose()?;
    let params =
        element.elements().filter(|e| e.is(NS_CALDAV, "param-filter")).map(param_filter).collect::<Result<_, _>>()?;
    Ok(PropFilter { name, test: PropTest::Matches { time_range, text, params } })
}

fn param_filter(element: &XmlElement) -> Result<ParamFilter, ParseError> {
    let name = name_of(element)?;
    children_allowed(element, &[("is-not-defined", 1), ("text-match", 1)])?;
    if is_not_defined(element)? {
        return Ok(ParamFilter { name, test: ParamTest::IsNotDefined });
    }
    let text = element.child(NS_CALDAV, "text-match").map(text_match).transpose()?;
    Ok(ParamFilter { name, test: ParamTest::Matches { text } })
}

/// RFC 4791 §9.7.5; the default collation is i;ascii-casemap.
fn text_match(element: &XmlElement) -> Result<TextMatch, ParseError> {
    children_allowed(element, &[])?;
    let collation = match element.attribute("collation") {
        None => Collation::AsciiCasemap,
        Some(name) => {
            Collation::from_name(name.trim()).ok_or(ParseError::Condition(Precondition::SupportedCollation))?
        }
    };
    let negate = match element.attribute("negate-condition").map(str::trim) {
        None | Some("no") => false,
        Some("yes") => true,
        Some(_) => return Err(invalid()),
    };
    Ok(TextMatch { text: element.text(), collation, negate })
}

/// RFC 4791 §9.9: UTC date-times, at least one of start and end, start before end.
pub(crate) fn time_range(element: &XmlElement) -> Result<TimeRange, ParseError> {
    let bound = |name: &str| element.attribute(name).map(|v| calendar::parse_utc(v).ok_or_else(invalid)).transpose();
    let range = TimeRange { start: bound("start")?, end: bound("end")? };
    match (range.start, range.end) {
        (None, None) => Err(invalid()),
        (Some(start), Some(end)) if end <= start => Err(invalid()),
        _ => Ok(range),
    }
}

/// RFC 4791 §9.8: the `<C:timezone>` of a calendar-query is an iCalendar object holding
/// exactly one VTIMEZONE (with its TZID); anything else is `CALDAV:valid-calendar-data`
/// (RFC 4791 §7.8).
pub(crate) fn timezone(element: &XmlElement) -> Result<String, ParseError> {
    let text = element.text();
    let refused = ParseError::Condition(Precondition::ValidCalendarData);
    let calendar = calendar::parse_calendar(&text).map_err(|_| refused.clone())?;
    let valid = calendar.name == "VCALENDAR"
        && matches!(calendar.components.as_slice(), [only] if only.name == "VTIMEZONE" && only.property("TZID").is_some());
    if valid {
        Ok(text)
    } else {
        Err(refused)
    }
}
