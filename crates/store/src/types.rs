use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;

/// One counter a backend exposes to operators (the gateway serves them at `/metrics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// Prometheus-style name without prefix, e.g. `jmap_snapshot_validated_total`.
    pub name: &'static str,
    pub help: &'static str,
    pub value: u64,
}

/// User name and password as the client sent them (HTTP Basic). Never logged.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The authenticated user as the DAV layer shows it (RFC 5397 current-user-principal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Login name; also the URL segment of the principal and calendar home.
    pub user: String,
    pub display_name: String,
    /// Mail address, shown as `mailto:` in `calendar-user-address-set` (RFC 6638 §2.4.1).
    /// Both backends always set it ([`crate::mail_address`]); `None` only when no valid
    /// address can be made (a configured mail domain that is no host name).
    pub email: Option<String>,
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// Opaque, stable identifier of a folder, chosen by the backend; survives renames.
    FolderId
);
string_newtype!(
    /// Opaque version of a folder: equal states mean nothing changed. Used as getctag and as
    /// the RFC 6578 sync token, so it must change on every change of the folder's items or
    /// properties, and only then. A state may recur only when the folder's content returns
    /// exactly to what it was under that state (a backend that derives the state from the
    /// content, like JMAP's, does this); the delta since such a state is then still right.
    State
);
string_newtype!(
    /// A strong entity tag, bare (without the quotes of the HTTP header).
    ETag
);
string_newtype!(
    /// Last path segment of a calendar object resource, e.g. `4f0a...c3.ics`. Validated by
    /// the DAV layer before it reaches a store.
    ItemName
);

/// The iCalendar component type a calendar object resource holds (RFC 4791 §4.1: one type per resource).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    Event,
    Todo,
    Journal,
    /// Published busy time (RFC 5545 §3.6.4), in calendars that accept it (RFC 4791 §4.1).
    FreeBusy,
}

impl Component {
    pub const ALL: [Component; 4] = [Component::Event, Component::Todo, Component::Journal, Component::FreeBusy];

    /// The iCalendar name, e.g. `VEVENT`.
    pub fn ical_name(self) -> &'static str {
        match self {
            Component::Event => "VEVENT",
            Component::Todo => "VTODO",
            Component::Journal => "VJOURNAL",
            Component::FreeBusy => "VFREEBUSY",
        }
    }

    pub fn from_ical_name(name: &str) -> Option<Self> {
        Component::ALL.into_iter().find(|c| c.ical_name().eq_ignore_ascii_case(name))
    }
}

/// Which components a calendar accepts (RFC 4791 §5.2.3 supported-calendar-component-set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ComponentSet {
    pub event: bool,
    pub todo: bool,
    pub journal: bool,
    pub freebusy: bool,
}

impl ComponentSet {
    /// What a calendar created without a supported-calendar-component-set takes. VFREEBUSY
    /// is only in a set that names it: no client stores busy time in an ordinary calendar.
    pub const ALL: ComponentSet = ComponentSet { event: true, todo: true, journal: true, freebusy: false };
    pub const EVENTS: ComponentSet = ComponentSet { event: true, todo: false, journal: false, freebusy: false };
    pub const TASKS: ComponentSet = ComponentSet { event: false, todo: true, journal: false, freebusy: false };

    pub fn contains(self, component: Component) -> bool {
        match component {
            Component::Event => self.event,
            Component::Todo => self.todo,
            Component::Journal => self.journal,
            Component::FreeBusy => self.freebusy,
        }
    }

    pub fn insert(&mut self, component: Component) {
        match component {
            Component::Event => self.event = true,
            Component::Todo => self.todo = true,
            Component::Journal => self.journal = true,
            Component::FreeBusy => self.freebusy = true,
        }
    }

    pub fn is_empty(self) -> bool {
        !(self.event || self.todo || self.journal || self.freebusy)
    }

    pub fn iter(self) -> impl Iterator<Item = Component> {
        Component::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

/// What a folder is shown as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FolderKind {
    /// A calendar collection (RFC 4791 §4.2) holding calendar object resources.
    #[default]
    Calendar,
    /// A plain WebDAV collection (RFC 4918 §5.2) holding any files and further plain
    /// collections; created by MKCOL, e.g. by generic WebDAV clients and litmus.
    Collection,
    /// The user's scheduling inbox (RFC 6638 §2.2): iTIP messages delivered to the user,
    /// one calendar object each (any component type, several may share a UID), which the
    /// user's clients list, read and delete. At most one per user, at the top level; the
    /// gateway names it and creates it when scheduling is on.
    ScheduleInbox,
}

/// One folder of the mail store: a calendar collection, or a plain WebDAV collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    pub id: FolderId,
    /// Path of the collection below the calendar home: one URL segment for a top-level
    /// folder, segments joined by `/` for a collection nested in plain collections
    /// (`docs/2026`). The gateway keeps the tree whole (a parent exists before its children;
    /// calendars only at the top), so a store treats the name as an opaque unique key.
    pub name: String,
    pub kind: FolderKind,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// `#RRGGBB` or `#RRGGBBAA` as Apple clients write it.
    pub color: Option<String>,
    /// Apple `calendar-order`, the position in the client's list.
    pub order: Option<i64>,
    /// A VCALENDAR with one VTIMEZONE (RFC 4791 §5.2.2), used for floating times.
    pub timezone: Option<String>,
    pub components: ComponentSet,
    pub state: State,
    pub read_only: bool,
    /// Properties clients set that the gateway does not interpret (RFC 4918 §4 dead
    /// properties), kept and returned as they were set.
    pub properties: Vec<DeadProperty>,
}

/// A dead property: its name and its content as XML (character data escaped, child elements
/// with their namespaces declared), so it can be written back inside any response.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeadProperty {
    pub namespace: String,
    pub name: String,
    pub xml: String,
}

/// Setting (`xml: Some`) or removing (`None`) one dead property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadPropertyChange {
    pub namespace: String,
    pub name: String,
    pub xml: Option<String>,
}

/// What MKCALENDAR / extended MKCOL asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFolder {
    pub name: String,
    pub kind: FolderKind,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub color: Option<String>,
    pub order: Option<i64>,
    pub timezone: Option<String>,
    pub components: ComponentSet,
    pub properties: Vec<DeadProperty>,
}

impl NewFolder {
    pub fn named(name: impl Into<String>, components: ComponentSet) -> Self {
        NewFolder {
            name: name.into(),
            kind: FolderKind::Calendar,
            display_name: None,
            description: None,
            color: None,
            order: None,
            timezone: None,
            components,
            properties: Vec::new(),
        }
    }

    /// A plain WebDAV collection (MKCOL).
    pub fn collection(name: impl Into<String>) -> Self {
        NewFolder { kind: FolderKind::Collection, ..NewFolder::named(name, ComponentSet::default()) }
    }
}

/// One property change of a PROPPATCH.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Change<T> {
    #[default]
    Keep,
    Set(T),
    Remove,
}

impl<T: Clone> Change<T> {
    /// The value after applying this change to `current`.
    pub fn apply(&self, current: Option<T>) -> Option<T> {
        match self {
            Change::Keep => current,
            Change::Set(value) => Some(value.clone()),
            Change::Remove => None,
        }
    }
}

/// What PROPPATCH changes on a folder; applied all or nothing (RFC 4918 §9.2).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FolderPatch {
    pub display_name: Change<String>,
    pub description: Change<String>,
    pub color: Change<String>,
    pub order: Change<i64>,
    pub timezone: Change<String>,
    pub properties: Vec<DeadPropertyChange>,
}

impl FolderPatch {
    pub fn is_empty(&self) -> bool {
        *self == FolderPatch::default()
    }
}

/// What a listing or a change report says of one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemMeta {
    pub name: ItemName,
    pub etag: ETag,
    pub size: u64,
    pub last_modified: SystemTime,
    /// Media type of a file in a plain collection; `None` for a calendar object
    /// (`text/calendar`, with the component the gateway knows from the body).
    pub content_type: Option<String>,
}

/// Every item of a folder, as of `state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub state: State,
    pub items: Vec<ItemMeta>,
}

/// One stored calendar object: its metadata and the exact bytes that were PUT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub meta: ItemMeta,
    pub body: Bytes,
    /// Dead properties set by PROPPATCH on the resource (RFC 4918 §4), by name.
    pub properties: Vec<DeadProperty>,
}

/// What PUT hands to the store, after the gateway validated the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewItem {
    pub name: ItemName,
    /// The iCalendar UID, unique in the folder; for a file in a plain collection, which has
    /// none, its name.
    pub uid: String,
    /// `None` for a file in a plain collection.
    pub component: Option<Component>,
    /// `None` for a calendar object; a file's media type as the client sent it.
    pub content_type: Option<String>,
    pub body: Bytes,
    /// Where the item's instances lie in time; `None` when unknown (never narrowed out).
    pub span: Option<TimeSpan>,
}

/// A span of time in Unix seconds (UTC); `None` is unbounded on that side. Spans handed to a
/// store are already generous (see `calendar::instance_span`), so comparing them is enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TimeSpan {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// What a calendar-query can be narrowed by before any body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CandidateQuery {
    /// Only items of this component type.
    pub component: Option<Component>,
    /// Only items whose span overlaps this one.
    pub range: Option<TimeSpan>,
}

/// The outcome of a successful write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub meta: ItemMeta,
    /// `true` when the item did not exist before (201), `false` when it was replaced (204).
    pub created: bool,
    /// `false` when the store rewrote the body, so a later GET differs from what was PUT and
    /// the PUT response must not carry an ETag (RFC 4791 §5.3.4).
    pub verbatim: bool,
}

/// The condition a write must meet, from If-Match / If-None-Match (RFC 7232).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// No condition.
    Anything,
    /// `If-None-Match: *`: the item must not exist.
    Absent,
    /// `If-Match: *`: the item must exist.
    Present,
    /// `If-Match: "etag"`: the item must exist with this ETag.
    ETag(ETag),
}

impl Expected {
    /// Whether a write may go ahead on an item whose ETag is `current` (`None`: absent).
    pub fn check(&self, current: Option<ETag>) -> Result<(), crate::StoreError> {
        let holds = match (self, &current) {
            (Expected::Anything, _) | (Expected::Absent, None) | (Expected::Present, Some(_)) => true,
            (Expected::ETag(wanted), Some(actual)) => wanted == actual,
            _ => false,
        };
        if holds {
            Ok(())
        } else {
            Err(crate::StoreError::PreconditionFailed { current })
        }
    }
}

impl DeadPropertyChange {
    /// Applies `changes` in order to `properties` (a set replaces, a remove drops).
    pub fn apply_all(properties: &mut Vec<DeadProperty>, changes: &[DeadPropertyChange]) {
        for change in changes {
            properties.retain(|p| !(p.namespace == change.namespace && p.name == change.name));
            if let Some(xml) = &change.xml {
                properties.push(DeadProperty {
                    namespace: change.namespace.clone(),
                    name: change.name.clone(),
                    xml: xml.clone(),
                });
            }
        }
    }
}

/// What changed in a folder since a given state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changes {
    Delta {
        /// The folder's state now; the next sync token.
        state: State,
        /// Items created or modified since, with their current metadata.
        changed: Vec<ItemMeta>,
        /// Items removed since.
        removed: Vec<ItemName>,
    },
    /// The backend cannot tell what changed since that state.
    Resync,
}

/// A complete mail message the gateway hands to the mail system to send as the session's
/// user (an iMIP message, RFC 6047).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Envelope sender: the user's own address (the gateway sends only as the organizer or
    /// the replying attendee).
    pub from: String,
    /// Envelope recipients, bare addresses without `mailto:`.
    pub recipients: Vec<String>,
    /// The RFC 5322 message, headers and body, CRLF line ends.
    pub message: Bytes,
}

/// A scheduling message (iMIP, RFC 6047) found in the user's mail INBOX and not yet taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingItip {
    /// The backend's handle for [`crate::Session::take_itip`]; opaque to the gateway.
    pub id: String,
    /// The address in the message's `From` header (bare, without display name), if any: a
    /// REPLY is applied only when it comes from the attendee it speaks for.
    pub from: Option<String>,
    /// The decoded `text/calendar` part (the one with a `method` parameter, RFC 6047 §2.4).
    pub calendar: Bytes,
}
