//! What the backend remembers between requests (see the crate docs): account snapshots,
//! validated before use; message entries and blobs, immutable and never validated; per
//! folder the Email state its current content was first read at (the second half of its
//! `State`, see the crate docs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::future::Cache as Moka;

use crate::folder_entries::FolderEntries;
use crate::model::{Entry, FolderProps, ItemEntry, Mailbox};
use crate::push::{Mark, Stream};
use crate::JmapOptions;

/// One account as last read from the server.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub mailbox_state: String,
    pub email_state: String,
    pub mailboxes: Vec<Mailbox>,
    pub root: Option<String>,
    /// Calendar folders: mailbox id and folder name, by name.
    pub folders: Vec<(String, String)>,
    /// Sorted message ids of each folder's mailbox.
    pub ids: HashMap<String, Arc<Vec<String>>>,
    pub validated: Instant,
    /// The client request (`store::scope`) that last read or validated it: later calls of
    /// the same request use it as it is, one view of the account per request.
    pub request: Option<u64>,
    /// The account's push stream as it was before the states were read (`push.rs`): while
    /// it announces no other state, the snapshot is served without asking.
    pub push: Option<Mark>,
}

/// Counters exposed for operators: a warm "anything changed?" poll should be a validation
/// hit (one cheap request) or a fresh hit (none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Snapshot served without asking the server (inside the freshness window).
    pub snapshot_fresh: u64,
    /// Snapshot served without asking the server while its push stream announced no change.
    pub snapshot_pushed: u64,
    /// Snapshot reused by a later call of the request that validated it.
    pub snapshot_reused: u64,
    /// Snapshot confirmed by one state request.
    pub snapshot_validated: u64,
    /// Snapshot rebuilt (cold, or the account changed).
    pub snapshot_rebuilt: u64,
    pub entry_hits: u64,
    pub entry_misses: u64,
    pub blob_hits: u64,
    pub blob_misses: u64,
}

#[derive(Default)]
struct Counters {
    snapshot_fresh: AtomicU64,
    snapshot_pushed: AtomicU64,
    snapshot_reused: AtomicU64,
    snapshot_validated: AtomicU64,
    snapshot_rebuilt: AtomicU64,
    entry_hits: AtomicU64,
    entry_misses: AtomicU64,
    blob_hits: AtomicU64,
    blob_misses: AtomicU64,
}

pub(crate) struct Cache {
    pub snapshots: Moka<String, Arc<Snapshot>>,
    entries: Moka<(String, String), Arc<Entry>>,
    blobs: Moka<(String, String), Bytes>,
    props: Moka<(String, String), Arc<FolderProps>>,
    /// (account, mailbox) -> (content digest, Email state it was first read at): keeps the
    /// folder's state string the same while its content is, whatever else in the account
    /// moves the Email state. Losing it only makes the next read hand out a newer (still
    /// valid) state for the same content.
    origins: Moka<(String, String), Arc<(String, String)>>,
    /// (account, mailbox, folder state) -> the folder as read in that state: the state names
    /// the content, properties message included, so only the name (from the mailbox) can differ.
    folders: Moka<(String, String, String), Arc<store::Folder>>,
    /// (account, mailbox) -> the folder's messages as last described (`folder_entries.rs`):
    /// a pure function of the ids it names, so never validated.
    folder_entries: Moka<(String, String), Arc<FolderEntries>>,
    freshness: Duration,
    counters: Counters,
}

pub(crate) enum Freshness {
    Fresh(Arc<Snapshot>),
    Stale(Option<Arc<Snapshot>>),
}

impl Cache {
    pub fn new(options: &JmapOptions) -> Cache {
        // Every cache is weighed in bytes against its share of the budget (see
        // `JmapOptions::metadata_cache_bytes`): a folder may carry any number of dead
        // properties and a snapshot any number of ids, so counting entries bounds nothing.
        let budget = options.metadata_cache_bytes;
        Cache {
            snapshots: Moka::builder()
                .max_capacity(budget / 4)
                .weigher(|k: &String, v: &Arc<Snapshot>| weight(k.len() + snapshot_size(v)))
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            entries: Moka::builder()
                .max_capacity(budget * 3 / 8)
                .weigher(|k: &(String, String), v: &Arc<Entry>| weight(k.0.len() + k.1.len() + entry_size(v)))
                .build(),
            blobs: Moka::builder()
                .max_capacity(options.blob_cache_bytes)
                .weigher(|k: &(String, String), v: &Bytes| weight(k.0.len() + k.1.len() + v.len()))
                .build(),
            props: Moka::builder()
                .max_capacity(budget / 16)
                .weigher(|k: &(String, String), v: &Arc<FolderProps>| weight(k.0.len() + k.1.len() + props_size(v)))
                .build(),
            origins: Moka::builder()
                .max_capacity(budget / 16)
                .weigher(|k: &(String, String), v: &Arc<(String, String)>| {
                    weight(k.0.len() + k.1.len() + v.0.len() + v.1.len())
                })
                .time_to_idle(Duration::from_secs(7 * 24 * 3600))
                .build(),
            folders: Moka::builder()
                .max_capacity(budget / 8)
                .weigher(|k: &(String, String, String), v: &Arc<store::Folder>| {
                    weight(k.0.len() + k.1.len() + k.2.len() + folder_size(v))
                })
                .time_to_idle(Duration::from_secs(24 * 3600))
                .build(),
            folder_entries: Moka::builder()
                .max_capacity(budget / 8)
                .weigher(|k: &(String, String), v: &Arc<FolderEntries>| weight(k.0.len() + k.1.len() + v.size()))
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            freshness: options.freshness,
            counters: Counters::default(),
        }
    }

    /// The account's snapshot when it may be served without asking the server: read in this
    /// client request, or, when `unconfirmed`, unchanged according to the account's push
    /// stream or within the freshness window.
    pub async fn snapshot(&self, account: &str, push: Option<&Stream>, unconfirmed: bool) -> Freshness {
        match self.snapshots.get(account).await {
            Some(s) if s.request.is_some() && s.request == store::scope::current() => {
                self.counters.snapshot_reused.fetch_add(1, Ordering::Relaxed);
                Freshness::Fresh(s)
            }
            other if !unconfirmed => Freshness::Stale(other),
            Some(s)
                if push
                    .zip(s.push)
                    .is_some_and(|(stream, mark)| stream.unchanged_since(mark, &s.mailbox_state, &s.email_state)) =>
            {
                self.counters.snapshot_pushed.fetch_add(1, Ordering::Relaxed);
                Freshness::Fresh(s)
            }
            Some(s) if s.validated.elapsed() < self.freshness => {
                self.counters.snapshot_fresh.fetch_add(1, Ordering::Relaxed);
                Freshness::Fresh(s)
            }
            other => Freshness::Stale(other),
        }
    }

    pub fn validated(&self) {
        self.counters.snapshot_validated.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rebuilt(&self) {
        self.counters.snapshot_rebuilt.fetch_add(1, Ordering::Relaxed);
    }

    pub async fn entry(&self, account: &str, id: &str) -> Option<Arc<Entry>> {
        let found = self.entries.get(&(account.to_owned(), id.to_owned())).await;
        let counter = if found.is_some() { &self.counters.entry_hits } else { &self.counters.entry_misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub async fn put_entry(&self, account: &str, id: &str, entry: Entry) -> Arc<Entry> {
        let entry = Arc::new(entry);
        self.entries.insert((account.to_owned(), id.to_owned()), entry.clone()).await;
        entry
    }

    pub async fn blob(&self, account: &str, blob: &str) -> Option<Bytes> {
        let found = self.blobs.get(&(account.to_owned(), blob.to_owned())).await;
        let counter = if found.is_some() { &self.counters.blob_hits } else { &self.counters.blob_misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub async fn put_blob(&self, account: &str, blob: &str, bytes: Bytes) {
        self.blobs.insert((account.to_owned(), blob.to_owned()), bytes).await;
    }

    pub async fn props(&self, account: &str, blob: &str) -> Option<Arc<FolderProps>> {
        self.props.get(&(account.to_owned(), blob.to_owned())).await
    }

    pub async fn put_props(&self, account: &str, blob: &str, props: FolderProps) -> Arc<FolderProps> {
        let props = Arc::new(props);
        self.props.insert((account.to_owned(), blob.to_owned()), props.clone()).await;
        props
    }

    pub async fn folder(&self, account: &str, mailbox: &str, state: &str) -> Option<Arc<store::Folder>> {
        self.folders.get(&(account.to_owned(), mailbox.to_owned(), state.to_owned())).await
    }

    pub async fn put_folder(&self, account: &str, mailbox: &str, state: &str, folder: store::Folder) {
        self.folders.insert((account.to_owned(), mailbox.to_owned(), state.to_owned()), Arc::new(folder)).await;
    }

    pub async fn folder_entries(&self, account: &str, mailbox: &str) -> Option<Arc<FolderEntries>> {
        self.folder_entries.get(&(account.to_owned(), mailbox.to_owned())).await
    }

    pub async fn put_folder_entries(&self, account: &str, mailbox: &str, described: Arc<FolderEntries>) {
        self.folder_entries.insert((account.to_owned(), mailbox.to_owned()), described).await;
    }

    /// The Email state to pair with `digest`, the folder's content now: the one recorded
    /// when this content was first read, else `email_state` (the state the caller read the
    /// content at, which becomes the record).
    pub async fn origin(&self, account: &str, mailbox: &str, digest: &str, email_state: &str) -> String {
        let key = (account.to_owned(), mailbox.to_owned());
        if let Some(known) = self.origins.get(&key).await {
            if known.0 == digest {
                return known.1.clone();
            }
        }
        self.origins.insert(key, Arc::new((digest.to_owned(), email_state.to_owned()))).await;
        email_state.to_owned()
    }

    /// The Email state recorded for the folder's content, whatever that content is.
    pub async fn origin_state(&self, account: &str, mailbox: &str) -> Option<String> {
        self.origins.get(&(account.to_owned(), mailbox.to_owned())).await.map(|known| known.1.clone())
    }

    /// Drops the folder's record when it still pairs its content with `email_state`, one the
    /// server no longer computes changes from (see `snapshot.rs`): the next read pairs the
    /// content with a state it does.
    pub async fn forget_origin(&self, account: &str, mailbox: &str, email_state: &str) {
        let key = (account.to_owned(), mailbox.to_owned());
        if self.origins.get(&key).await.is_some_and(|known| known.1 == email_state) {
            self.origins.invalidate(&key).await;
        }
    }

    /// Records `email_state` as the one paired with `digest`, the folder's content now (a
    /// client's token of another instance named this content so).
    pub async fn adopt(&self, account: &str, mailbox: &str, digest: &str, email_state: &str) {
        let key = (account.to_owned(), mailbox.to_owned());
        self.origins.insert(key, Arc::new((digest.to_owned(), email_state.to_owned()))).await;
    }

    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            snapshot_fresh: load(&c.snapshot_fresh),
            snapshot_pushed: load(&c.snapshot_pushed),
            snapshot_reused: load(&c.snapshot_reused),
            snapshot_validated: load(&c.snapshot_validated),
            snapshot_rebuilt: load(&c.snapshot_rebuilt),
            entry_hits: load(&c.entry_hits),
            entry_misses: load(&c.entry_misses),
            blob_hits: load(&c.blob_hits),
            blob_misses: load(&c.blob_misses),
        }
    }
}

/// Bookkeeping of one cached value beyond its bytes (moka's node, `Arc`s, `Vec` and `String`
/// headers): a rough constant, so that many tiny entries are not free.
const OVERHEAD: usize = 96;

/// A moka weight: bytes plus overhead, saturating (one entry over 4 GiB weighs 4 GiB).
fn weight(bytes: usize) -> u32 {
    u32::try_from(bytes.saturating_add(OVERHEAD)).unwrap_or(u32::MAX)
}

fn option_size(value: &Option<String>) -> usize {
    value.as_ref().map_or(0, String::len)
}

fn dead_size(properties: &[store::DeadProperty]) -> usize {
    properties.iter().map(|p| p.namespace.len() + p.name.len() + p.xml.len() + OVERHEAD).sum()
}

fn snapshot_size(snapshot: &Snapshot) -> usize {
    let mailboxes: usize =
        snapshot.mailboxes.iter().map(|m| m.id.len() + m.name.len() + option_size(&m.parent) + OVERHEAD).sum();
    let folders: usize = snapshot.folders.iter().map(|(id, name)| id.len() + name.len() + OVERHEAD).sum();
    let ids: usize = snapshot
        .ids
        .iter()
        .map(|(mailbox, ids)| mailbox.len() + OVERHEAD + ids.iter().map(|id| id.len() + 24).sum::<usize>())
        .sum();
    snapshot.mailbox_state.len() + snapshot.email_state.len() + option_size(&snapshot.root) + mailboxes + folders + ids
}

fn entry_size(entry: &Entry) -> usize {
    match entry {
        Entry::Item(item) => item_size(item),
        Entry::Properties { blob, collection } => blob.len() + option_size(collection),
        Entry::Other => 0,
    }
}

pub(crate) fn item_size(item: &ItemEntry) -> usize {
    item.email_id.len()
        + item.name.as_str().len()
        + item.blob.len()
        + option_size(&item.content_type)
        + option_size(&item.uid)
        + option_size(&item.collection)
        + dead_size(&item.properties)
}

fn props_size(props: &FolderProps) -> usize {
    option_size(&props.display_name)
        + option_size(&props.description)
        + option_size(&props.color)
        + option_size(&props.timezone)
        + props.components.iter().map(String::len).sum::<usize>()
        + props.properties.iter().map(|p| p.namespace.len() + p.name.len() + p.xml.len() + OVERHEAD).sum::<usize>()
}

fn folder_size(folder: &store::Folder) -> usize {
    folder.id.as_str().len()
        + folder.name.len()
        + option_size(&folder.display_name)
        + option_size(&folder.description)
        + option_size(&folder.color)
        + option_size(&folder.timezone)
        + folder.state.as_str().len()
        + dead_size(&folder.properties)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn folder_with_a_large_dead_property(bytes: usize) -> store::Folder {
        store::Folder {
            id: store::FolderId::new("m1"),
            name: "c".into(),
            kind: store::FolderKind::Calendar,
            display_name: None,
            description: None,
            color: None,
            order: None,
            timezone: None,
            components: store::ComponentSet::ALL,
            state: store::State::new("s"),
            read_only: false,
            properties: vec![store::DeadProperty {
                namespace: "urn:x".into(),
                name: "big".into(),
                xml: "x".repeat(bytes),
            }],
        }
    }

    #[test]
    fn weights_count_the_bytes_of_dead_properties() {
        let folder = folder_with_a_large_dead_property(100_000);
        assert!(folder_size(&folder) >= 100_000);
        assert_eq!(weight(usize::MAX), u32::MAX);
    }

    #[tokio::test]
    async fn folders_with_large_properties_are_evicted_by_their_bytes() {
        let budget = 8 * 1024 * 1024;
        let cache = Cache::new(&JmapOptions { metadata_cache_bytes: budget, ..JmapOptions::default() });
        // A 1 MiB share; 100 folders of 100 kB each would be 10 MB.
        for n in 0..100 {
            cache.put_folder("a", &format!("m{n}"), "s", folder_with_a_large_dead_property(100_000)).await;
        }
        cache.folders.run_pending_tasks().await;
        assert!(cache.folders.weighted_size() <= budget / 8, "{}", cache.folders.weighted_size());
        assert!(cache.folders.entry_count() <= 11, "{}", cache.folders.entry_count());
    }

    #[tokio::test]
    async fn message_descriptions_are_evicted_by_their_bytes() {
        let budget = 2 * 1024 * 1024;
        let cache = Cache::new(&JmapOptions { metadata_cache_bytes: budget, ..JmapOptions::default() });
        let item = |n: usize| crate::model::ItemEntry {
            email_id: format!("M{n}"),
            name: store::ItemName::new(format!("{n}.ics")),
            blob: "G1".into(),
            size: 1,
            received: std::time::UNIX_EPOCH,
            content_type: None,
            uid: None,
            properties: vec![store::DeadProperty {
                namespace: "urn:x".into(),
                name: "p".into(),
                xml: "y".repeat(50_000),
            }],
            index: None,
            collection: None,
        };
        for n in 0..100 {
            cache.put_entry("a", &format!("M{n}"), Entry::Item(item(n))).await;
        }
        cache.entries.run_pending_tasks().await;
        assert!(cache.entries.weighted_size() <= budget * 3 / 8, "{}", cache.entries.weighted_size());
        assert!(cache.entries.entry_count() <= 16, "{}", cache.entries.entry_count());
    }
}
