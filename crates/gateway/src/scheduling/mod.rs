//! RFC 6638 scheduling and RFC 6047 iMIP: everything the gateway does beyond calendar access
//! when users invite each other: who may schedule, the schedule inbox and outbox as DAV
//! resources, free-busy through the outbox, and iMIP. One file per concern.

pub mod busy_time;
pub mod default_calendar;
pub mod imip;
pub mod mailboxes;
pub mod mailer;
pub mod outbound;
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
