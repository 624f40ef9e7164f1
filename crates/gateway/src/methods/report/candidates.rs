//! Loading only the objects a query can match, through the store's index when it has one,
//! and of those only the ones whose parsed tree is not kept already (issue 12: a month query
//! read the body of every candidate, then found each parsed in `parsed_objects`).

use std::sync::Arc;

use calendar::filter::{CompFilter, CompTest, TimeRange};
use store::{CandidateQuery, Component, Folder, Item, ItemMeta, Session, TimeSpan};

use crate::error::GatewayError;

/// What the filter says before any body is read: the component type and time range of its
/// single top-level comp-filter (RFC 4791 §9.7.1), if it has exactly one.
pub fn narrowing(filter: &CompFilter) -> CandidateQuery {
    let CompTest::Matches { comps, .. } = &filter.test else { return CandidateQuery::default() };
    let [only] = comps.as_slice() else { return CandidateQuery::default() };
    let CompTest::Matches { time_range, .. } = &only.test else { return CandidateQuery::default() };
    CandidateQuery { component: Component::from_ical_name(&only.name), range: time_range.as_ref().map(span) }
}

pub fn span(range: &TimeRange) -> TimeSpan {
    TimeSpan { start: range.start.map(|t| t.timestamp()), end: range.end.map(|t| t.timestamp()) }
}

/// One object a query tests.
pub enum Candidate {
    /// Read from the store, body and all.
    Loaded(Item),
    /// Not read: the request needs no body, and the parsed tree of this very version (same
    /// ETag) was kept from an earlier request.
    Parsed { meta: ItemMeta, parsed: Arc<calendar::Component> },
}

impl Candidate {
    pub fn meta(&self) -> &ItemMeta {
        match self {
            Candidate::Loaded(item) => &item.meta,
            Candidate::Parsed { meta, .. } => meta,
        }
    }
}

/// Where a query finds parsed trees it need not read again: by the version a listing
/// describes.
pub type Kept<'a> = &'a (dyn Fn(&ItemMeta) -> Option<Arc<calendar::Component>> + Sync);

/// The candidates (all items when the backend keeps no index), in name order. With `kept`,
/// only those whose parsed tree it does not hold are read; without it, all are.
pub async fn load(
    session: &dyn Session,
    folder: &Folder,
    query: &CandidateQuery,
    kept: Option<Kept<'_>>,
) -> Result<Vec<Candidate>, GatewayError> {
    let metas = match session.candidates(&folder.id, query).await? {
        Some(metas) => metas,
        None => session.list(&folder.id).await?.items,
    };
    let mut found = Vec::with_capacity(metas.len());
    let mut unread = Vec::new();
    for meta in metas {
        match kept.and_then(|kept| kept(&meta)) {
            Some(parsed) => found.push(Candidate::Parsed { meta, parsed }),
            None => unread.push(meta.name),
        }
    }
    if !unread.is_empty() {
        // An item removed since the candidates were listed is simply not returned.
        found.extend(session.get(&folder.id, &unread).await?.into_iter().map(Candidate::Loaded));
        found.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use calendar::filter::PropFilter;

    fn comp(name: &str, time_range: Option<TimeRange>, comps: Vec<CompFilter>) -> CompFilter {
        CompFilter { name: name.into(), test: CompTest::Matches { time_range, props: Vec::<PropFilter>::new(), comps } }
    }

    #[test]
    fn one_component_with_a_range_narrows_by_type_and_span() {
        let range = TimeRange { start: calendar::parse_utc("20261201T000000Z"), end: None };
        let query = narrowing(&comp("VCALENDAR", None, vec![comp("VTODO", Some(range), vec![])]));
        assert_eq!(query.component, Some(Component::Todo));
        assert_eq!(query.range, Some(TimeSpan { start: Some(1_796_083_200), end: None }));
    }

    #[test]
    fn several_or_negated_components_do_not_narrow() {
        let two = comp("VCALENDAR", None, vec![comp("VEVENT", None, vec![]), comp("VTODO", None, vec![])]);
        assert_eq!(narrowing(&two), CandidateQuery::default());
        let negated = CompFilter {
            name: "VCALENDAR".into(),
            test: CompTest::Matches {
                time_range: None,
                props: vec![],
                comps: vec![CompFilter { name: "VEVENT".into(), test: CompTest::IsNotDefined }],
            },
        };
        assert_eq!(narrowing(&negated), CandidateQuery::default());
    }
}
