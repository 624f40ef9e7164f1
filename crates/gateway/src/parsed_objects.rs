//! Parsed calendar objects kept between requests (issue 12): a calendar-query parses each
//! candidate, and parsing was about 80% of a query's evaluation, so an object is parsed once
//! per version instead of once per query.
//!
//! Entries are keyed by the object's identity (user, folder, name) *and* its ETag. Both
//! backends derive the ETag from the bytes (a content digest on the embedded store, the blob
//! id on JMAP), and the body handed in always comes with the ETag read alongside it, so a
//! changed object gets a new key: an entry is never served for bytes it was not parsed from,
//! and the old version's entry simply ages out. The cache is bounded by bytes
//! (`limits.parsed_object_cache_mib`, each entry weighed by `Component::memory_size`).

use std::sync::Arc;

use calendar::Component;
use moka::sync::Cache;
use store::{ETag, FolderId, ItemMeta, ItemName};

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Key {
    user: String,
    folder: FolderId,
    name: ItemName,
    etag: ETag,
}

/// Shared by every request (one per process).
pub struct ParsedObjects {
    /// `None` when the budget is 0: every call parses.
    cache: Option<Cache<Key, Arc<Component>>>,
}

impl ParsedObjects {
    /// A cache holding at most `budget_bytes` of parsed trees.
    pub fn new(budget_bytes: u64) -> Self {
        let cache = (budget_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(budget_bytes)
                .weigher(|key: &Key, value: &Arc<Component>| {
                    let size = value.memory_size()
                        + key.user.len()
                        + key.folder.as_str().len()
                        + key.name.as_str().len()
                        + key.etag.as_str().len();
                    u32::try_from(size).unwrap_or(u32::MAX)
                })
                .build()
        });
        ParsedObjects { cache }
    }

    /// The parsed VCALENDAR of the version `meta` describes, if it is kept: a caller that
    /// needs nothing else of the object then need not read its body.
    pub fn cached(&self, user: &str, folder: &FolderId, meta: &ItemMeta) -> Option<Arc<Component>> {
        self.cache.as_ref()?.get(&key(user, folder, meta))
    }

    /// The parsed VCALENDAR of `body`, the bytes `meta` describes; `None` when they do not
    /// parse (a body another mail client stored), which is not remembered.
    pub fn parsed(&self, user: &str, folder: &FolderId, meta: &ItemMeta, body: &[u8]) -> Option<Arc<Component>> {
        let Some(cache) = &self.cache else { return parse(body).map(Arc::new) };
        let key = key(user, folder, meta);
        if let Some(hit) = cache.get(&key) {
            return Some(hit);
        }
        let parsed = Arc::new(parse(body)?);
        cache.insert(key, parsed.clone());
        Some(parsed)
    }

    /// Bytes held now (the weighed sizes; pending maintenance is run first).
    pub fn weighed_size(&self) -> u64 {
        self.cache.as_ref().map_or(0, |cache| {
            cache.run_pending_tasks();
            cache.weighted_size()
        })
    }
}

fn key(user: &str, folder: &FolderId, meta: &ItemMeta) -> Key {
    Key { user: user.to_owned(), folder: folder.clone(), name: meta.name.clone(), etag: meta.etag.clone() }
}

fn parse(body: &[u8]) -> Option<Component> {
    std::str::from_utf8(body).ok().and_then(|text| calendar::parse_calendar(text).ok())
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn meta(name: &str, etag: &str) -> ItemMeta {
        ItemMeta {
            name: ItemName::new(name),
            etag: ETag::new(etag),
            size: 0,
            last_modified: SystemTime::UNIX_EPOCH,
            content_type: None,
        }
    }

    fn event(summary: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    }

    fn summary(parsed: &Component) -> &str {
        &parsed.components[0].property("SUMMARY").unwrap().value
    }

    #[test]
    fn the_same_version_is_parsed_once_and_shared() {
        let objects = ParsedObjects::new(1 << 20);
        let folder = FolderId::new("1");
        let first = objects.parsed("alice", &folder, &meta("a.ics", "e1"), event("one").as_bytes()).unwrap();
        // The same ETag: the stored tree is returned, whatever bytes are handed in.
        let again = objects.parsed("alice", &folder, &meta("a.ics", "e1"), event("one").as_bytes()).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
    }

    #[test]
    fn only_a_kept_version_is_found_without_its_bytes() {
        let objects = ParsedObjects::new(1 << 20);
        let folder = FolderId::new("1");
        assert!(objects.cached("alice", &folder, &meta("a.ics", "e1")).is_none());
        let parsed = objects.parsed("alice", &folder, &meta("a.ics", "e1"), event("one").as_bytes()).unwrap();
        assert!(Arc::ptr_eq(&objects.cached("alice", &folder, &meta("a.ics", "e1")).unwrap(), &parsed));
        assert!(objects.cached("alice", &folder, &meta("a.ics", "e2")).is_none());
        assert!(objects.cached("bob", &folder, &meta("a.ics", "e1")).is_none());
        assert!(ParsedObjects::new(0).cached("alice", &folder, &meta("a.ics", "e1")).is_none());
    }

    #[test]
    fn a_new_etag_is_parsed_from_its_own_bytes() {
        let objects = ParsedObjects::new(1 << 20);
        let folder = FolderId::new("1");
        objects.parsed("alice", &folder, &meta("a.ics", "e1"), event("one").as_bytes()).unwrap();
        let changed = objects.parsed("alice", &folder, &meta("a.ics", "e2"), event("two").as_bytes()).unwrap();
        assert_eq!(summary(&changed), "two");
    }

    #[test]
    fn entries_of_other_users_folders_and_names_are_kept_apart() {
        let objects = ParsedObjects::new(1 << 20);
        let (one, two) = (FolderId::new("1"), FolderId::new("2"));
        objects.parsed("alice", &one, &meta("a.ics", "e"), event("alice").as_bytes()).unwrap();
        let bob = objects.parsed("bob", &one, &meta("a.ics", "e"), event("bob").as_bytes()).unwrap();
        let other_folder = objects.parsed("alice", &two, &meta("a.ics", "e"), event("folder").as_bytes()).unwrap();
        let other_name = objects.parsed("alice", &one, &meta("b.ics", "e"), event("name").as_bytes()).unwrap();
        assert_eq!((summary(&bob), summary(&other_folder), summary(&other_name)), ("bob", "folder", "name"));
    }

    #[test]
    fn bodies_that_do_not_parse_are_none_and_not_kept() {
        let objects = ParsedObjects::new(1 << 20);
        let folder = FolderId::new("1");
        assert!(objects.parsed("alice", &folder, &meta("a.ics", "e"), b"not a calendar").is_none());
        assert_eq!(objects.weighed_size(), 0);
        assert!(objects.parsed("alice", &folder, &meta("a.ics", "e"), &[0xff, 0xfe]).is_none());
    }

    #[test]
    fn the_byte_budget_bounds_what_is_held() {
        let budget = 64 * 1024;
        let objects = ParsedObjects::new(budget);
        let folder = FolderId::new("1");
        let description = "x".repeat(4_000);
        for n in 0..200 {
            let body = event(&format!("{n} {description}"));
            objects.parsed("alice", &folder, &meta(&format!("{n}.ics"), "e"), body.as_bytes()).unwrap();
        }
        let held = objects.weighed_size();
        assert!(held > 0 && held <= budget, "{held} bytes held under a budget of {budget}");
    }

    #[test]
    fn a_budget_of_zero_parses_every_time() {
        let objects = ParsedObjects::new(0);
        let folder = FolderId::new("1");
        let first = objects.parsed("alice", &folder, &meta("a.ics", "e"), event("one").as_bytes()).unwrap();
        let again = objects.parsed("alice", &folder, &meta("a.ics", "e"), event("one").as_bytes()).unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(objects.weighed_size(), 0);
    }
}
