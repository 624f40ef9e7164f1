//! `<C:calendar-data>` inside a REPORT's `<D:prop>` (RFC 4791 §9.6).

use calendar::retrieval::{CalendarDataRequest, CompSelection};

use crate::error::ParseError;
use crate::names::{NS_CALDAV, NS_DAV};
use crate::xml::XmlElement;

/// The calendar-data request of a REPORT body; the default (verbatim) when none is given.
pub(crate) fn request(report: &XmlElement) -> Result<CalendarDataRequest, ParseError> {
    let Some(element) = report.child(NS_DAV, "prop").and_then(|p| p.child(NS_CALDAV, "calendar-data")) else {
        return Ok(CalendarDataRequest::default());
    };
    // RFC 4791 §9.6: the media type asked for; only iCalendar 2.0 is offered
    // (supported-calendar-data, RFC 4791 §5.2.4), so anything else is that precondition.
    let content_type = element.attribute("content-type").map(str::trim);
    let version = element.attribute("version").map(str::trim);
    let media_type_ok = content_type.is_none_or(|t| {
        t.split(';').next().is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/calendar"))
    });
    if !media_type_ok || version.is_some_and(|v| v != "2.0") {
        return Err(ParseError::Condition(crate::Precondition::SupportedCalendarData));
    }
    // RFC 4791 §9.6: `(comp?, (expand | limit-recurrence-set)?, limit-freebusy-set?)`.
    let known = ["comp", "expand", "limit-recurrence-set", "limit-freebusy-set"];
    if element.elements().any(|e| !known.iter().any(|k| e.is(NS_CALDAV, k)))
        || known.iter().any(|k| element.elements().filter(|e| e.is(NS_CALDAV, k)).count() > 1)
        || (element.child(NS_CALDAV, "expand").is_some() && element.child(NS_CALDAV, "limit-recurrence-set").is_some())
    {
        return Err(ParseError::Invalid("calendar-data with elements RFC 4791 §9.6 does not allow".into()));
    }
    let bounded = |name: &str| -> Result<_, ParseError> {
        match element.child(NS_CALDAV, name) {
            None => Ok(None),
            Some(e) => {
                let range = super::calendar_query::time_range(e)?;
                // RFC 4791 §9.6.5/§9.6.6: both bounds are required here.
                if range.start.is_none() || range.end.is_none() {
                    return Err(ParseError::Condition(crate::Precondition::ValidFilter));
                }
                Ok(Some(range))
            }
        }
    };
    Ok(CalendarDataRequest {
        comp: element.child(NS_CALDAV, "comp").map(selection).transpose()?,
        expand: bounded("expand")?,
        limit_recurrence_set: bounded("limit-recurrence-set")?,
        limit_freebusy_set: bounded("limit-freebusy-set")?,
    })
}

/// `<C:comp name>`: with neither `<C:prop>` nor `<C:allprop>` every property is kept, and
/// likewise for sub-components, which is what clients sending a bare `<C:comp>` expect.
fn selection(element: &XmlElement) -> Result<CompSelection, ParseError> {
    let name = element
        .attribute("name")
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ParseError::Invalid("comp without name".into()))?;
    let named: Vec<String> = element
        .elements()
        .filter(|e| e.is(NS_CALDAV, "prop"))
        .filter_map(|e| e.attribute("name"))
        .map(str::to_ascii_uppercase)
        .collect();
    let props = if element.child(NS_CALDAV, "allprop").is_some() || named.is_empty() { None } else { Some(named) };
    let children: Vec<CompSelection> =
        element.elements().filter(|e| e.is(NS_CALDAV, "comp")).map(selection).collect::<Result<_, _>>()?;
    let comps =
        if element.child(NS_CALDAV, "allcomp").is_some() || children.is_empty() { None } else { Some(children) };
    Ok(CompSelection { name, props, comps })
}
