//! A calendar's messages as one value: what each message id of a folder's content is, and
//! the items they make. Every request that reads or writes a calendar needs them (a listing,
//! a sync delta, the precondition of a write), and looking each id up in the entry cache
//! was most of the gateway's CPU per request (profiled: a sync-collection of a 1,100-object
//! calendar spent half its time in those lookups). Messages never change, so what a set of
//! ids is stays true: the last one per folder is kept, and a folder whose content changed is
//! described again from it, looking up only the ids it did not have.

use std::collections::HashSet;
use std::sync::Arc;

use store::{ItemName, StoreError};

use crate::model::{Entry, ItemEntry};
use crate::session::JmapSession;

/// A folder's content, described.
#[derive(Debug)]
pub(crate) struct FolderEntries {
    /// The sorted message ids this describes.
    pub ids: Vec<String>,
    /// What each message is, by id (ids the server no longer has are absent).
    pub entries: Vec<(String, Arc<Entry>)>,
    /// The items, each name once, by name (see [`FolderEntries::new`]).
    pub items: Vec<ItemEntry>,
    /// Blob of the folder's properties message, if it has one.
    pub properties: Option<String>,
}

impl FolderEntries {
    /// From the entries of `ids`, sorted by id. A name two messages carry is kept by the lowest
    /// id; the others show under their own id. Of two properties messages (a race of two
    /// PROPPATCHes over IMAP) the lowest id wins.
    pub fn new(ids: Vec<String>, entries: Vec<(String, Arc<Entry>)>) -> FolderEntries {
        let mut items: Vec<ItemEntry> = Vec::new();
        let mut names = HashSet::new();
        let mut properties = None;
        for (id, entry) in &entries {
            match entry.as_ref() {
                Entry::Item(item) => {
                    let mut item = item.clone();
                    if !names.insert(item.name.clone()) {
                        item.name = ItemName::new(format!("{id}.ics"));
                        names.insert(item.name.clone());
                    }
                    items.push(item);
                }
                Entry::Properties { blob, .. } => {
                    if properties.is_none() {
                        properties = Some(blob.clone());
                    }
                }
                Entry::Other => {}
            }
        }
        items.sort_by(|a, b| a.name.cmp(&b.name));
        FolderEntries { ids, entries, items, properties }
    }

    fn entry(&self, id: &str) -> Option<&Arc<Entry>> {
        self.entries.binary_search_by(|(known, _)| known.as_str().cmp(id)).ok().map(|i| &self.entries[i].1)
    }

    /// Bytes it holds, for the cache's weigher.
    pub fn size(&self) -> usize {
        let ids: usize = self.ids.iter().map(|id| id.len() + 24).sum();
        let entries: usize = self.entries.iter().map(|(id, _)| id.len() + 32).sum();
        let items: usize = self.items.iter().map(|item| crate::cache::item_size(item) + 96).sum();
        ids + entries + items + self.properties.as_ref().map_or(0, String::len)
    }
}

impl JmapSession {
    /// The messages `ids` of `mailbox` (sorted, as snapshots hold them), described: the last
    /// description of the folder when its ids are these, else one made from it and the entry
    /// cache (and the server for what neither knows).
    pub(crate) async fn folder_entries(&self, mailbox: &str, ids: &[String]) -> Result<Arc<FolderEntries>, StoreError> {
        let cache = &self.shared.cache;
        let last = cache.folder_entries(self.id(), mailbox).await;
        if let Some(last) = last.as_ref().filter(|last| last.ids == ids) {
            return Ok(last.clone());
        }
        let mut entries = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match last.as_ref().and_then(|last| last.entry(id)) {
                Some(entry) => entries.push((id.clone(), entry.clone())),
                None => missing.push(id.clone()),
            }
        }
        entries.extend(self.entries(&missing).await?);
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let described = Arc::new(FolderEntries::new(ids.to_vec(), entries));
        cache.put_folder_entries(self.id(), mailbox, described.clone()).await;
        Ok(described)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn item(id: &str, name: &str) -> (String, Arc<Entry>) {
        let entry = ItemEntry {
            email_id: id.into(),
            name: ItemName::new(name),
            blob: format!("G{id}"),
            size: 1,
            received: std::time::UNIX_EPOCH,
            content_type: None,
            uid: None,
            properties: Vec::new(),
            index: None,
            collection: None,
        };
        (id.to_owned(), Arc::new(Entry::Item(entry)))
    }

    #[test]
    fn a_repeated_name_is_kept_by_the_lowest_id_and_the_others_show_under_their_id() {
        let properties =
            |id: &str, blob: &str| (id.to_owned(), Arc::new(Entry::Properties { blob: blob.into(), collection: None }));
        let entries = vec![item("a", "x.ics"), item("b", "x.ics"), properties("c", "G1"), properties("d", "G2")];
        let ids = entries.iter().map(|(id, _)| id.clone()).collect();
        let described = FolderEntries::new(ids, entries);
        let names: Vec<&str> = described.items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["b.ics", "x.ics"]);
        assert_eq!(described.items[1].email_id, "a");
        assert_eq!(described.properties.as_deref(), Some("G1"));
        assert!(described.entry("c").is_some() && described.entry("e").is_none());
    }
}
