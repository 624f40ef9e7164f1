//! RFC 6638 scheduling and RFC 6047 iMIP: the gateway's wiring of `calendar::itip` to the
//! stores and the mail system, one file per concern.
//!
//! - `implicit`: what a PUT or DELETE of a scheduling object resource sends (§3.2), the
//!   attendee's limits (§3.2.2.1), Schedule-Tag and If-Schedule-Tag-Match (§3.2.10, §8.3).
//! - `deliver`: putting a message into a local user's schedule inbox and calendar, or
//!   handing it on for mail (iMIP) when the recipient is not on this store.
//! - `imip`, `mailer`, `outbound`: the mail itself (RFC 6047), how it is sent, and the
//!   per-user limit on sending; `inbound`: iMIP mail from the INBOX applied once each.
//! - `policy`: who may schedule; `mailboxes`: the inbox and outbox among the home's
//!   resources; `outbox` and `busy_time`: free-busy through the outbox (§5);
//!   `default_calendar`: where invitations go (§9.2).

pub mod busy_time;
pub mod default_calendar;
pub mod deliver;
pub mod imip;
pub mod implicit;
pub mod inbound;
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
