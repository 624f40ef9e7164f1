//! The calendar new invitations go to (RFC 6638 §9.2 `schedule-default-calendar-URL`).

use store::{Component, Folder, FolderKind};

/// The configured default calendar (`caldav.default_calendar`) when the user still has it
/// and it takes events, else the first calendar by name that takes events and may be
/// written; `None` when the user has none (RFC 6638 §9.2 then has no default).
pub fn default_calendar<'a>(folders: &'a [Folder], configured: &str) -> Option<&'a Folder> {
    let usable =
        |f: &&Folder| f.kind == FolderKind::Calendar && f.components.contains(Component::Event) && !f.read_only;
    if let Some(folder) = folders.iter().filter(usable).find(|f| f.name == configured) {
        return Some(folder);
    }
    folders.iter().filter(usable).min_by(|a, b| a.name.cmp(&b.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::ComponentSet;

    fn folder(name: &str, kind: FolderKind, components: ComponentSet, read_only: bool) -> Folder {
        Folder { read_only, ..crate::scheduling::test_folder(name, kind, components) }
    }

    #[test]
    fn the_configured_calendar_wins_when_it_takes_events() {
        let folders = vec![
            folder("a-events", FolderKind::Calendar, ComponentSet::EVENTS, false),
            folder("calendar", FolderKind::Calendar, ComponentSet::ALL, false),
        ];
        assert_eq!(default_calendar(&folders, "calendar").map(|f| f.name.as_str()), Some("calendar"));
    }

    #[test]
    fn otherwise_the_first_writable_event_calendar_by_name() {
        let folders = vec![
            folder("zz", FolderKind::Calendar, ComponentSet::EVENTS, false),
            folder("calendar", FolderKind::Calendar, ComponentSet::TASKS, false),
            folder("aa-shared", FolderKind::Calendar, ComponentSet::EVENTS, true),
            folder("inbox", FolderKind::ScheduleInbox, ComponentSet::ALL, false),
            folder("b", FolderKind::Collection, ComponentSet::ALL, false),
            folder("m", FolderKind::Calendar, ComponentSet::EVENTS, false),
        ];
        assert_eq!(default_calendar(&folders, "calendar").map(|f| f.name.as_str()), Some("m"));
        assert_eq!(default_calendar(&folders[1..4], "calendar"), None);
    }
}
