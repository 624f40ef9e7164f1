//! A calendar user's busy time for scheduling (RFC 6638 §5): from every calendar whose
//! `schedule-calendar-transp` is opaque (RFC 6638 §9.1; absent means opaque), with TRANSP and
//! STATUS of each event honoured by `calendar::freebusy`. Only periods leave this module,
//! never summaries, locations or anything else of the events.

use calendar::filter::TimeRange;
use calendar::freebusy::{merge, BusyPeriod};
use dav::names::NS_CALDAV;
use dav::request::Transparency;
use store::{Folder, FolderKind, Session};

use crate::error::GatewayError;
use crate::methods::report::evaluation_budget::EvaluationBudget;
use crate::methods::report::free_busy_query::busy_periods_of;
use crate::methods::report::scope::Target;

/// Merged busy periods of the user of `session` within `range` (both bounds set).
pub async fn busy_time(
    session: &dyn Session,
    range: &TimeRange,
    max_instances: usize,
    budget: &mut EvaluationBudget,
) -> Result<Vec<BusyPeriod>, GatewayError> {
    let targets: Vec<Target> = session.folders().await?.into_iter().filter(counts_as_busy).map(Target::whole).collect();
    Ok(merge(busy_periods_of(session, &targets, range, max_instances, budget).await?))
}

/// A calendar whose events block the owner's time: the inbox holds messages, not the
/// user's schedule, and a transparent calendar (e.g. holidays, a colleague's shared
/// calendar) blocks nothing.
pub(crate) fn counts_as_busy(folder: &Folder) -> bool {
    folder.kind == FolderKind::Calendar && transparency(folder) == Transparency::Opaque
}

/// The calendar's `schedule-calendar-transp`, kept as the client set it.
pub fn transparency(folder: &Folder) -> Transparency {
    folder
        .properties
        .iter()
        .find(|p| p.namespace == NS_CALDAV && p.name == "schedule-calendar-transp")
        .and_then(|p| Transparency::from_stored(&p.xml))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{ComponentSet, DeadProperty};

    fn calendar(kind: FolderKind, transp: Option<Transparency>) -> Folder {
        let properties = transp
            .map(|t| DeadProperty {
                namespace: NS_CALDAV.into(),
                name: "schedule-calendar-transp".into(),
                xml: t.to_xml(),
            })
            .into_iter()
            .collect();
        Folder { properties, ..crate::scheduling::test_folder("x", kind, ComponentSet::ALL) }
    }

    #[test]
    fn opaque_or_unset_calendars_count_and_transparent_ones_and_the_inbox_do_not() {
        assert!(counts_as_busy(&calendar(FolderKind::Calendar, None)));
        assert!(counts_as_busy(&calendar(FolderKind::Calendar, Some(Transparency::Opaque))));
        assert!(!counts_as_busy(&calendar(FolderKind::Calendar, Some(Transparency::Transparent))));
        assert!(!counts_as_busy(&calendar(FolderKind::ScheduleInbox, None)));
        assert!(!counts_as_busy(&calendar(FolderKind::Collection, None)));
    }
}
