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

use crate::model::{Entry, FolderProps, Mailbox};
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
}

/// Counters exposed for operators: a warm "anything changed?" poll should be a validation
/// hit (one cheap request) or a fresh hit (none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Snapshot served without asking the server (inside the freshness window).
    pub snapshot_fresh: u64,
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
    freshness: Duration,
    counters: Counters,
}

pub(crate) enum Freshness {
    Fresh(Arc<Snapshot>),
    Stale(Option<Arc<Snapshot>>),
}

impl Cache {
    pub fn new(options: &JmapOptions) -> Cache {
        Cache {
            snapshots: Moka::builder().max_capacity(100_000).time_to_idle(Duration::from_secs(3600)).build(),
            entries: Moka::builder().max_capacity(2_000_000).build(),
            blobs: Moka::builder()
                .max_capacity(options.blob_cache_bytes)
                .weigher(|_, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .build(),
            props: Moka::builder().max_capacity(100_000).build(),
            origins: Moka::builder().max_capacity(1_000_000).time_to_idle(Duration::from_secs(7 * 24 * 3600)).build(),
            folders: Moka::builder().max_capacity(100_000).time_to_idle(Duration::from_secs(24 * 3600)).build(),
            freshness: options.freshness,
            counters: Counters::default(),
        }
    }

    /// The account's snapshot when it may be served without asking the server.
    pub async fn snapshot(&self, account: &str) -> Freshness {
        match self.snapshots.get(account).await {
            Some(s) if s.request.is_some() && s.request == store::scope::current() => {
                self.counters.snapshot_reused.fetch_add(1, Ordering::Relaxed);
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

    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            snapshot_fresh: load(&c.snapshot_fresh),
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
