//! How a mail store holds calendars, shared by the backends that keep them in mail folders
//! (JMAP, IMAP), so an operator can switch between them over one mail store: the header
//! names of a calendar object's message, the query index it carries, and the JSON of a
//! folder's properties message. Each backend's crate docs describe the rest of its mapping.

use serde::{Deserialize, Serialize};

use crate::{CandidateQuery, Component, ComponentSet, DeadProperty, DeadPropertyChange, FolderKind, TimeSpan};

pub const RESOURCE_HEADER: &str = "X-CalDAV-Resource";
pub const UID_HEADER: &str = "X-CalDAV-UID";
pub const COLLECTION_HEADER: &str = "X-CalDAV-Collection";
pub const FOLDER_HEADER: &str = "X-CalDAV-Folder";
/// Dead properties of an item (RFC 4918 §4), JSON: messages are immutable, so setting one
/// rewrites the message with the same body part (same ETag).
pub const PROPERTIES_HEADER: &str = "X-CalDAV-Properties";
/// The query index of an object (RFC 4791 queries narrow by it before parsing): its
/// component type and the span of its instances in Unix seconds, `-` for unbounded.
pub const INDEX_HEADER: &str = "X-CalDAV-Index";

/// `VEVENT 1767348000 1767351600`, `-` for an unbounded side.
pub fn format_index(component: Component, span: TimeSpan) -> String {
    let side = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    format!("{} {} {}", component.ical_name(), side(span.start), side(span.end))
}

pub fn parse_index(text: &str) -> Option<(Component, TimeSpan)> {
    let mut parts = text.split_whitespace();
    let component = Component::from_ical_name(parts.next()?)?;
    let side = |v: &str| if v == "-" { Some(None) } else { v.parse().ok().map(Some) };
    let start = side(parts.next()?)?;
    let end = side(parts.next()?)?;
    Some((component, TimeSpan { start, end }))
}

/// Whether an item may match `query` (a superset: unknown means yes): a file of a plain
/// collection (`is_file`) has no component and no span; an item without an index (written
/// by another mail client) is always a candidate.
pub fn may_match(is_file: bool, index: Option<(Component, TimeSpan)>, query: &CandidateQuery) -> bool {
    if is_file {
        return query.component.is_none();
    }
    let Some((component, span)) = index else { return true };
    let kind = query.component.is_none_or(|c| c == component);
    let overlaps = query.range.is_none_or(|range| {
        range.end.is_none_or(|end| span.start.is_none_or(|start| start < end))
            && range.start.is_none_or(|start| span.end.is_none_or(|end| end > start))
    });
    kind && overlaps
}

/// The folder's properties message body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FolderProps {
    pub collection: bool,
    /// The user's RFC 6638 schedule inbox. Written only when set, so the properties of
    /// every other folder stay the bytes they were.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub schedule_inbox: bool,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub color: Option<String>,
    pub order: Option<i64>,
    pub timezone: Option<String>,
    /// Component names; empty means every type.
    pub components: Vec<String>,
    pub properties: Vec<StoredProperty>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredProperty {
    pub namespace: String,
    pub name: String,
    pub xml: String,
}

impl FolderProps {
    pub fn kind(&self) -> FolderKind {
        if self.collection {
            FolderKind::Collection
        } else if self.schedule_inbox {
            FolderKind::ScheduleInbox
        } else {
            FolderKind::Calendar
        }
    }

    /// The properties of a folder of `kind`, with the rest left empty.
    pub fn of_kind(kind: FolderKind, components: ComponentSet) -> FolderProps {
        FolderProps {
            collection: kind == FolderKind::Collection,
            schedule_inbox: kind == FolderKind::ScheduleInbox,
            components: if kind == FolderKind::Collection {
                Vec::new()
            } else {
                FolderProps::components_from(components)
            },
            ..FolderProps::default()
        }
    }

    /// The properties of a folder MKCALENDAR / extended MKCOL asks for.
    pub fn of_new(spec: &crate::NewFolder) -> FolderProps {
        let mut props = FolderProps {
            display_name: spec.display_name.clone(),
            description: spec.description.clone(),
            color: spec.color.clone(),
            order: spec.order,
            timezone: spec.timezone.clone(),
            ..FolderProps::of_kind(spec.kind, spec.components)
        };
        props.set_dead_properties(&spec.properties);
        props
    }

    /// The properties of `current` after `patch` (PROPPATCH, all of it).
    pub fn patched(current: &crate::Folder, patch: &crate::FolderPatch) -> FolderProps {
        let mut properties = current.properties.clone();
        DeadPropertyChange::apply_all(&mut properties, &patch.properties);
        let mut props = FolderProps {
            display_name: patch.display_name.apply(current.display_name.clone()),
            description: patch.description.apply(current.description.clone()),
            color: patch.color.apply(current.color.clone()),
            order: patch.order.apply(current.order),
            timezone: patch.timezone.apply(current.timezone.clone()),
            ..FolderProps::of_kind(current.kind, current.components)
        };
        props.set_dead_properties(&properties);
        props
    }

    /// The folder these properties describe, with what the mail store says of it besides.
    pub fn folder(&self, id: crate::FolderId, name: &str, state: crate::State, read_only: bool) -> crate::Folder {
        crate::Folder {
            id,
            name: name.to_owned(),
            kind: self.kind(),
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            color: self.color.clone(),
            order: self.order,
            timezone: self.timezone.clone(),
            components: self.component_set(),
            state,
            read_only,
            properties: self.dead_properties(),
        }
    }

    pub fn component_set(&self) -> ComponentSet {
        if self.collection {
            return ComponentSet::default();
        }
        let mut set = ComponentSet::default();
        for name in &self.components {
            if let Some(c) = Component::from_ical_name(name) {
                set.insert(c);
            }
        }
        if set.is_empty() {
            ComponentSet::ALL
        } else {
            set
        }
    }

    pub fn dead_properties(&self) -> Vec<DeadProperty> {
        to_dead(&self.properties)
    }

    pub fn set_dead_properties(&mut self, properties: &[DeadProperty]) {
        self.properties = to_stored(properties);
    }

    pub fn components_from(set: ComponentSet) -> Vec<String> {
        if set == ComponentSet::ALL {
            Vec::new()
        } else {
            set.iter().map(|c| c.ical_name().to_owned()).collect()
        }
    }
}

/// Sorted by name, as the contract returns them.
pub fn to_dead(stored: &[StoredProperty]) -> Vec<DeadProperty> {
    let mut list: Vec<DeadProperty> = stored
        .iter()
        .map(|p| DeadProperty { namespace: p.namespace.clone(), name: p.name.clone(), xml: p.xml.clone() })
        .collect();
    list.sort();
    list
}

pub fn to_stored(properties: &[DeadProperty]) -> Vec<StoredProperty> {
    properties
        .iter()
        .map(|p| StoredProperty { namespace: p.namespace.clone(), name: p.name.clone(), xml: p.xml.clone() })
        .collect()
}

/// The UID of an iCalendar body, for messages other clients put there (no UID header).
pub fn scan_uid(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let unfolded = text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "");
    unfolded.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.split(';').next()?;
        name.eq_ignore_ascii_case("UID").then(|| value.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn index_header_round_trips() {
        let span = TimeSpan { start: Some(100), end: None };
        let text = format_index(Component::Todo, span);
        assert_eq!(text, "VTODO 100 -");
        assert_eq!(parse_index(&text), Some((Component::Todo, span)));
        assert_eq!(parse_index("VCARD 1 2"), None);
    }

    #[test]
    fn files_match_only_queries_without_a_component() {
        let query = CandidateQuery { component: Some(Component::Event), range: None };
        assert!(!may_match(true, None, &query));
        assert!(may_match(true, None, &CandidateQuery::default()));
        assert!(may_match(false, None, &query));
    }

    #[test]
    fn uid_is_found_in_folded_lines() {
        assert_eq!(scan_uid(b"BEGIN:VEVENT\r\nUID:ab\r\n c\r\nEND:VEVENT\r\n").as_deref(), Some("abc"));
    }
}
