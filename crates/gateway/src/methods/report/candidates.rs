//! Loading only the objects a query can match, through the store's index when it has one.

use calendar::filter::{CompFilter, CompTest, TimeRange};
use store::{CandidateQuery, Component, Folder, Item, ItemName, Session, TimeSpan};

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

/// The bodies of the candidates (all items when the backend keeps no index).
pub async fn load(session: &dyn Session, folder: &Folder, query: &CandidateQuery) -> Result<Vec<Item>, GatewayError> {
    let names: Vec<ItemName> = match session.candidates(&folder.id, query).await? {
        Some(names) => names,
        None => session.list(&folder.id).await?.items.into_iter().map(|m| m.name).collect(),
    };
    if names.is_empty() {
        return Ok(Vec::new());
    }
    Ok(session.get(&folder.id, &names).await?)
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
