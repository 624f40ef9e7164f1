//! RFC 6638 scheduling, wired to the backend: who may schedule, the schedule inbox and
//! outbox as DAV resources, and free-busy through the outbox. One file per concern.

pub mod busy_time;
pub mod default_calendar;
pub mod mailboxes;
pub mod outbox;
pub mod policy;

/// A folder as a store would return it, for the tests of this module.
#[cfg(test)]
pub(crate) fn test_folder(name: &str, kind: store::FolderKind, components: store::ComponentSet) -> store::Folder {
    store::Folder {
        id: store::FolderId::new(name),
        name: name.into(),
        kind,
        display_name: None,
        description: None,
        color: None,
        order: None,
        timezone: None,
        components,
        state: store::State::new("1"),
        read_only: false,
        properties: Vec::new(),
    }
}
