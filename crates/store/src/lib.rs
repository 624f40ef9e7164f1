//! The backend contract between the CalDAV gateway and a mail store.
//!
//! A backend is a mail system whose users own calendar folders: the embedded SQLite store,
//! a JMAP server, later IMAP. The gateway only ever talks to [`Backend`] and [`Session`], so
//! a backend never sees XML or HTTP and the DAV layer never sees a backend's storage.
//!
//! Conventions that hold for every type here:
//! - ETags are strong and bare (no quotes); quoting happens only at the HTTP edge.
//! - A [`State`] is opaque: compare two for equality, never parse one. Equal states of a
//!   folder mean nothing in it changed; the gateway uses the state as getctag and as the
//!   RFC 6578 sync token.
//! - Conditional writes carry their precondition ([`Expected`]) *into* the store, which
//!   checks it atomically with the write. Checking in the caller would race.

mod error;
mod latency;
pub mod mail_address;
pub mod mail_layout;
pub mod scope;
mod types;

#[cfg(feature = "testkit")]
pub mod testkit;

use std::sync::Arc;

use async_trait::async_trait;

pub use error::{BoxError, StoreError};
pub use latency::{Latency, LatencyRecorder};
pub use types::*;

/// A mail system whose users own calendar folders. One per deployment, shared by all requests.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Checks credentials against the mail system and opens a session for that user.
    ///
    /// Wrong credentials are `Err(Unauthenticated)`; a mail system that cannot answer is
    /// `Err(Unavailable)`. The gateway answers 401 and 503 respectively, so the two must never
    /// be merged: a backend outage must not look like a wrong password to a phone, which would
    /// then prompt its user for a new one.
    async fn login(&self, credentials: &Credentials) -> Result<Arc<dyn Session>, StoreError>;

    /// Cheap reachability probe for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Counters for operators (cache hits and misses, backend calls); none by default.
    fn metrics(&self) -> Vec<Metric> {
        Vec::new()
    }

    /// How long calls to the mail system took, for operators; none by default.
    fn latencies(&self) -> Vec<Latency> {
        Vec::new()
    }

    /// The other users of this mail system, for scheduling between them (RFC 6638 §3
    /// delivery, §5 free-busy). `None` when the backend cannot reach another user's account
    /// on its own authority: the gateway then schedules with such users only through mail
    /// (iMIP), and answers their free-busy with `3.7;Invalid calendar user`.
    fn directory(&self) -> Option<&dyn Directory> {
        None
    }
}

/// Lookup of, and access to, the other users of the mail system, for scheduling.
#[async_trait]
pub trait Directory: Send + Sync {
    /// The user of this mail system whose calendar user address is `address` (a bare mail
    /// address without `mailto:`, compared case-insensitively), if there is one.
    async fn resolve(&self, address: &str) -> Result<Option<Principal>, StoreError>;

    /// A session of `user` opened on the gateway's own authority, without their password.
    /// The gateway uses it only to deliver scheduling messages (into the user's schedule
    /// inbox and default calendar, and onto an organizer's copy) and to read busy time.
    /// `Err(NotFound)` when there is no such user.
    async fn open(&self, user: &str) -> Result<Arc<dyn Session>, StoreError>;
}

/// What one authenticated user can see and change.
///
/// The gateway caches sessions for a short while (a sync burst of a phone is one login), so a
/// session must stay usable for at least that long.
#[async_trait]
pub trait Session: Send + Sync {
    fn principal(&self) -> &Principal;

    /// The user's calendar folders, each with its current [`State`].
    ///
    /// A Depth:1 PROPFIND on the calendar home (the iOS/macOS "anything changed?" poll) costs
    /// exactly this one call, so it must not load items.
    async fn folders(&self) -> Result<Vec<Folder>, StoreError>;

    /// One folder by its URL segment. `Err(NotFound)` when there is none.
    async fn folder(&self, name: &str) -> Result<Folder, StoreError>;

    /// Creates a folder whose URL segment is `spec.name`.
    /// `Err(AlreadyExists)` when the name is taken (MKCALENDAR then answers 405).
    async fn create_folder(&self, spec: &NewFolder) -> Result<Folder, StoreError>;

    /// Changes the folder's properties. A property change is a change of the collection, so
    /// it advances the folder's state (clients re-read displayname and color on a new ctag).
    async fn update_folder(&self, folder: &FolderId, patch: &FolderPatch) -> Result<Folder, StoreError>;

    /// Deletes the folder and every item in it.
    async fn delete_folder(&self, folder: &FolderId) -> Result<(), StoreError>;

    /// Current state of one folder; cheap.
    async fn state(&self, folder: &FolderId) -> Result<State, StoreError>;

    /// Names and ETags of every item, and the state they belong to, read consistently.
    async fn list(&self, folder: &FolderId) -> Result<Listing, StoreError>;

    /// Bodies of the named items. Names that do not exist are simply absent from the result,
    /// so a multiget of 100 hrefs is one call whatever subset exists.
    async fn get(&self, folder: &FolderId, names: &[ItemName]) -> Result<Vec<Item>, StoreError>;

    /// Stores `item` under `item.name` when `expected` holds, else `Err(PreconditionFailed)`.
    ///
    /// The check happens inside the store, atomically with the write: of twenty concurrent
    /// PUTs with the same `If-Match`, exactly one wins. A UID already used by *another* item
    /// of the folder is `Err(UidConflict)` (RFC 4791 §5.3.2.1 `no-uid-conflict`); the caller
    /// parsed the body, so the store never parses iCalendar to enforce it.
    ///
    /// A PUT of the bytes and media type the item already has changes nothing: the same
    /// ETag, Last-Modified and folder state (`created: false`). A mail store keeps messages
    /// immutable and names content by its hash, so it cannot tell such a PUT from no PUT;
    /// and a state that moves without a change would make every client re-sync for nothing.
    async fn put(&self, folder: &FolderId, item: NewItem, expected: Expected) -> Result<Stored, StoreError>;

    /// Deletes one item when `expected` holds. `Err(NotFound)` when it does not exist.
    /// Leaves a tombstone so that [`Session::changes`] reports the removal.
    async fn delete(&self, folder: &FolderId, name: &ItemName, expected: Expected) -> Result<(), StoreError>;

    /// Sets and removes dead properties of one item (RFC 4918 §9.2), all or nothing.
    /// A property change is a change of the item for [`Session::changes`] (RFC 6578 §3.1
    /// reports members whose dead properties changed), but not of its ETag, which tags the
    /// body only. `Err(NotFound)` when the item does not exist.
    async fn set_item_properties(
        &self,
        folder: &FolderId,
        name: &ItemName,
        changes: &[DeadPropertyChange],
    ) -> Result<(), StoreError> {
        let _ = (folder, name, changes);
        Err(StoreError::Forbidden("this mail store keeps no properties on calendar objects".into()))
    }

    /// The items that may match `query`, as a listing describes them (so a caller holding
    /// the parsed object of that ETag need not fetch its body): a superset of the exact
    /// answer, from an index of component types and time spans kept with the items (RFC 4791
    /// queries then parse only these). `Ok(None)` when the backend keeps no index: every item is a candidate.
    /// Items stored without a span are always candidates.
    async fn candidates(&self, folder: &FolderId, query: &CandidateQuery) -> Result<Option<Vec<ItemMeta>>, StoreError> {
        let _ = (folder, query);
        Ok(None)
    }

    /// What changed in the folder since `since` (a state this folder once had).
    ///
    /// `Changes::Resync` when the backend cannot tell (unknown or expired state, truncated
    /// log): the caller answers `DAV:valid-sync-token` or lists again. An item changed and
    /// then removed is reported only as removed. An item created and removed since `since`
    /// is not reported at all: RFC 6578 §3.5.2 allows either, and a mail server keeps no
    /// tombstones of messages the client never saw. (A name that existed before `since`,
    /// was removed, and came back and went again since is reported as removed.)
    async fn changes(&self, folder: &FolderId, since: &State) -> Result<Changes, StoreError>;

    /// Sends `mail` through the mail system as this user (iMIP out, RFC 6047). `Ok(false)`
    /// when this store sends no mail (the embedded store): the gateway then uses its own
    /// configured SMTP submission server.
    async fn submit(&self, mail: &OutgoingMail) -> Result<bool, StoreError> {
        let _ = mail;
        Ok(false)
    }

    /// Scheduling messages (iMIP) that arrived in the user's mail INBOX and were not taken
    /// yet, oldest first, at most `limit`. None for a store that receives no mail.
    async fn incoming_itip(&self, limit: usize) -> Result<Vec<IncomingItip>, StoreError> {
        let _ = limit;
        Ok(Vec::new())
    }

    /// Marks an incoming message as taken, so [`Session::incoming_itip`] never returns it
    /// again. The mail itself stays where it is, for the user's mail client.
    async fn take_itip(&self, id: &str) -> Result<(), StoreError> {
        let _ = id;
        Ok(())
    }
}
