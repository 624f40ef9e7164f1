//! Which calendar properties a client may set (PROPPATCH, MKCALENDAR, extended MKCOL) and how
//! their values are checked, shared so all three accept exactly the same values.

use dav::names::NS_CALDAV;
use dav::request::{PropValue, Transparency};
use dav::PropName;
use http::StatusCode;
use store::{Change, Component, ComponentSet, DeadProperty, DeadPropertyChange, FolderPatch, NewFolder};

/// Why one property could not be set; the status goes into its propstat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A live property the server computes (RFC 4918 §16 cannot-modify-protected-property).
    Protected,
    /// A property this gateway does not store (no dead properties yet).
    Unsupported,
    /// A value the property cannot take.
    InvalidValue(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Protected => f.write_str("protected property"),
            Refusal::Unsupported => f.write_str("property not supported"),
            Refusal::InvalidValue(reason) => f.write_str(reason),
        }
    }
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Protected | Refusal::Unsupported => StatusCode::FORBIDDEN,
            Refusal::InvalidValue(_) => StatusCode::CONFLICT,
        }
    }
}

/// Applies one set (`Some(value)`) or remove (`None`) to `patch`.
pub fn apply(patch: &mut FolderPatch, name: &PropName, value: Option<&PropValue>) -> Result<(), Refusal> {
    match name {
        PropName::DisplayName => patch.display_name = change(value, |t| Ok(t.to_owned()))?,
        PropName::CalendarDescription => patch.description = change(value, |t| Ok(t.to_owned()))?,
        PropName::CalendarColor => patch.color = change(value, color)?,
        PropName::CalendarOrder => patch.order = change(value, order)?,
        PropName::CalendarTimezone => patch.timezone = change(value, timezone)?,
        PropName::ScheduleCalendarTransp => patch.properties.push(DeadPropertyChange {
            namespace: NS_CALDAV.into(),
            name: "schedule-calendar-transp".into(),
            xml: value.map(schedule_calendar_transp).transpose()?,
        }),
        PropName::Unknown(name) => patch.properties.push(DeadPropertyChange {
            namespace: name.ns.clone(),
            name: name.local.clone(),
            xml: value.map(dead_value).transpose()?,
        }),
        _ => return Err(Refusal::Protected),
    }
    Ok(())
}

/// Applies one set or remove to a plain collection: its display name and dead properties.
pub fn apply_collection(patch: &mut FolderPatch, name: &PropName, value: Option<&PropValue>) -> Result<(), Refusal> {
    match name {
        PropName::DisplayName | PropName::Unknown(_) => apply(patch, name, value),
        _ => Err(Refusal::Protected),
    }
}

/// Applies one set or remove to an object or file: only dead properties are writable.
pub fn apply_item(
    changes: &mut Vec<DeadPropertyChange>,
    name: &PropName,
    value: Option<&PropValue>,
) -> Result<(), Refusal> {
    let PropName::Unknown(name) = name else { return Err(Refusal::Protected) };
    changes.push(DeadPropertyChange {
        namespace: name.ns.clone(),
        name: name.local.clone(),
        xml: value.map(dead_value).transpose()?,
    });
    Ok(())
}

/// Builds the plain collection of a MKCOL, with the properties an extended MKCOL sets.
pub fn new_collection(name: &str, properties: &[(PropName, PropValue)]) -> Result<NewFolder, Vec<(PropName, Refusal)>> {
    let mut spec = NewFolder::collection(name);
    let mut patch = FolderPatch::default();
    let mut refusals = Vec::new();
    for (prop, value) in properties {
        let outcome = match prop {
            PropName::ResourceType => Ok(()),
            PropName::Unknown(name) => dead_value(value).map(|xml| {
                spec.properties.push(DeadProperty { namespace: name.ns.clone(), name: name.local.clone(), xml })
            }),
            _ => apply_collection(&mut patch, prop, Some(value)),
        };
        if let Err(refusal) = outcome {
            refusals.push((prop.clone(), refusal));
        }
    }
    if !refusals.is_empty() {
        return Err(refusals);
    }
    spec.display_name = patch.display_name.apply(None);
    Ok(spec)
}

/// Builds the folder of MKCALENDAR / extended MKCOL; the component set may only be chosen here
/// (RFC 4791 §5.2.3: it is protected afterwards).
pub fn new_folder(name: &str, properties: &[(PropName, PropValue)]) -> Result<NewFolder, Vec<(PropName, Refusal)>> {
    // RFC 4791 §5.2.3: without the property a calendar takes every component type.
    let mut spec = NewFolder::named(name, ComponentSet::ALL);
    let mut patch = FolderPatch::default();
    let mut refusals = Vec::new();
    for (prop, value) in properties {
        let outcome = match prop {
            PropName::SupportedCalendarComponentSet => components(value).map(|set| spec.components = set),
            // Checked by the caller (extended MKCOL); MKCALENDAR implies it.
            PropName::ResourceType => Ok(()),
            PropName::Unknown(name) => dead_value(value).map(|xml| {
                spec.properties.push(DeadProperty { namespace: name.ns.clone(), name: name.local.clone(), xml })
            }),
            PropName::ScheduleCalendarTransp => schedule_calendar_transp(value).map(|xml| {
                spec.properties.push(DeadProperty {
                    namespace: NS_CALDAV.into(),
                    name: "schedule-calendar-transp".into(),
                    xml,
                })
            }),
            _ => apply(&mut patch, prop, Some(value)),
        };
        if let Err(refusal) = outcome {
            refusals.push((prop.clone(), refusal));
        }
    }
    if !refusals.is_empty() {
        return Err(refusals);
    }
    spec.display_name = patch.display_name.apply(None);
    spec.description = patch.description.apply(None);
    spec.color = patch.color.apply(None);
    spec.order = patch.order.apply(None);
    spec.timezone = patch.timezone.apply(None);
    Ok(spec)
}

/// RFC 6638 §9.1: `<C:opaque/>` or `<C:transparent/>`. Kept as a dead property in its
/// canonical form (every store keeps those); `scheduling::busy_time` reads it back.
fn schedule_calendar_transp(value: &PropValue) -> Result<String, Refusal> {
    Transparency::from_value(value)
        .map(Transparency::to_xml)
        .ok_or_else(|| Refusal::InvalidValue("schedule-calendar-transp takes <C:opaque/> or <C:transparent/>".into()))
}

/// Most bytes one dead property may hold: enough for any client's metadata, not a file store.
const MAX_DEAD_PROPERTY: usize = 16 * 1024;

fn dead_value(value: &PropValue) -> Result<String, Refusal> {
    let xml = value.to_xml();
    if xml.len() > MAX_DEAD_PROPERTY {
        return Err(Refusal::InvalidValue(format!("dead property over {MAX_DEAD_PROPERTY} bytes")));
    }
    Ok(xml)
}

fn change<T>(value: Option<&PropValue>, parse: impl Fn(&str) -> Result<T, Refusal>) -> Result<Change<T>, Refusal> {
    match value {
        None => Ok(Change::Remove),
        Some(PropValue::Text(text)) => parse(text).map(Change::Set),
        Some(_) => Err(Refusal::InvalidValue("expected text".into())),
    }
}

fn color(text: &str) -> Result<String, Refusal> {
    crate::quirks::calendar_color::accept(text).ok_or_else(|| {
        Refusal::InvalidValue(format!("calendar-color {:?} is neither #RRGGBB[AA] nor a colour name", text.trim()))
    })
}

fn order(text: &str) -> Result<i64, Refusal> {
    text.trim().parse().map_err(|_| Refusal::InvalidValue(format!("calendar-order {text:?} is not an integer")))
}

fn timezone(text: &str) -> Result<String, Refusal> {
    calendar::validate_timezone(text)
        .map(|()| text.to_owned())
        .map_err(|e| Refusal::InvalidValue(format!("calendar-timezone: {e}")))
}

fn components(value: &PropValue) -> Result<ComponentSet, Refusal> {
    let PropValue::Components(names) = value else {
        return Err(Refusal::InvalidValue("expected <C:comp> elements".into()));
    };
    let mut set = ComponentSet::default();
    for name in names {
        let component = Component::from_ical_name(name)
            .ok_or_else(|| Refusal::InvalidValue(format!("component {name} is not supported")))?;
        set.insert(component);
    }
    if set.is_empty() {
        return Err(Refusal::InvalidValue("no component".into()));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> PropValue {
        PropValue::Text(s.into())
    }

    #[test]
    fn colors_in_hex_with_or_without_alpha_and_css_names_are_accepted_others_refused() {
        let mut patch = FolderPatch::default();
        assert_eq!(apply(&mut patch, &PropName::CalendarColor, Some(&text("#FF000080"))), Ok(()));
        assert_eq!(patch.color, Change::Set("#FF000080".into()));
        assert!(apply(&mut patch, &PropName::CalendarColor, Some(&text(" #a1b2c3 "))).is_ok());
        assert_eq!(apply(&mut patch, &PropName::CalendarColor, Some(&text("Blue"))), Ok(()));
        assert_eq!(patch.color, Change::Set("#0000FF".into()));
        for bad in ["#12", "reddish", "#GGGGGG"] {
            assert!(matches!(
                apply(&mut patch, &PropName::CalendarColor, Some(&text(bad))),
                Err(Refusal::InvalidValue(_))
            ));
        }
    }

    #[test]
    fn protected_properties_are_refused() {
        let mut patch = FolderPatch::default();
        assert_eq!(apply(&mut patch, &PropName::GetCtag, Some(&text("x"))), Err(Refusal::Protected));
        assert!(patch.is_empty());
    }

    #[test]
    fn new_folder_takes_components_and_defaults_to_all() {
        let spec = new_folder("work", &[]).unwrap();
        assert_eq!(spec.components, ComponentSet::ALL);
        let spec = new_folder(
            "tasks",
            &[
                (PropName::SupportedCalendarComponentSet, PropValue::Components(vec!["VTODO".into()])),
                (PropName::DisplayName, text("My tasks")),
            ],
        )
        .unwrap();
        assert_eq!(spec.components, ComponentSet::TASKS);
        assert_eq!(spec.display_name.as_deref(), Some("My tasks"));
    }

    #[test]
    fn new_folder_reports_every_refused_property() {
        let refusals = new_folder(
            "x",
            &[
                (PropName::SupportedCalendarComponentSet, PropValue::Components(vec!["VCARD".into()])),
                (PropName::CalendarOrder, text("first")),
            ],
        )
        .unwrap_err();
        assert_eq!(refusals.len(), 2);
    }

    #[test]
    fn unknown_properties_become_dead_properties_and_oversized_ones_are_refused() {
        let mut patch = FolderPatch::default();
        let unknown = PropName::Unknown(dav::QName::new("urn:x", "y"));
        assert_eq!(apply(&mut patch, &unknown, Some(&text("a < b"))), Ok(()));
        assert_eq!(apply(&mut patch, &unknown, None), Ok(()));
        assert_eq!(
            patch.properties,
            vec![
                DeadPropertyChange { namespace: "urn:x".into(), name: "y".into(), xml: Some("a &lt; b".into()) },
                DeadPropertyChange { namespace: "urn:x".into(), name: "y".into(), xml: None },
            ]
        );
        let huge = text(&"x".repeat(MAX_DEAD_PROPERTY + 1));
        assert!(matches!(apply(&mut patch, &unknown, Some(&huge)), Err(Refusal::InvalidValue(_))));
    }
}
