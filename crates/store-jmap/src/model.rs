//! How mailboxes and messages read as folders and items (see the crate docs for the mapping).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use store::mail_layout::parse_index;
use store::mail_layout::StoredProperty;
pub use store::mail_layout::{
    format_index, scan_uid, to_dead, to_stored, FolderProps, COLLECTION_HEADER, FOLDER_HEADER, INDEX_HEADER,
    PROPERTIES_HEADER, RESOURCE_HEADER, UID_HEADER,
};
use store::{CandidateQuery, Component, DeadProperty, ETag, ItemMeta, ItemName, TimeSpan};

/// The properties asked of every message: enough to name it and find its part.
pub fn email_properties() -> Value {
    json!([
        "id",
        "receivedAt",
        format!("header:{RESOURCE_HEADER}:asText"),
        format!("header:{UID_HEADER}:asText"),
        format!("header:{FOLDER_HEADER}:asText"),
        format!("header:{PROPERTIES_HEADER}:asText"),
        format!("header:{INDEX_HEADER}:asText"),
        format!("header:{COLLECTION_HEADER}:asText"),
        "bodyStructure"
    ])
}

pub fn body_properties() -> Value {
    json!(["partId", "blobId", "size", "type", "subParts"])
}

/// What a message of a calendar folder is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Item(ItemEntry),
    /// The folder's properties message; `blob` holds the JSON.
    Properties {
        blob: String,
        /// The mailbox it was written to (`X-CalDAV-Collection`).
        collection: Option<String>,
    },
    /// Mail without a calendar part: not shown.
    Other,
}

impl Entry {
    /// The mailbox the message was written to, when it carries our collection header: what a
    /// sync delta knows of a destroyed message's place (see `changes.rs`).
    pub fn collection(&self) -> Option<&str> {
        match self {
            Entry::Item(item) => item.collection.as_deref(),
            Entry::Properties { collection, .. } => collection.as_deref(),
            Entry::Other => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemEntry {
    pub email_id: String,
    pub name: ItemName,
    /// Blob id of the part: the ETag.
    pub blob: String,
    pub size: u64,
    pub received: SystemTime,
    /// `None` for `text/calendar` (a calendar object).
    pub content_type: Option<String>,
    /// From our header; `None` for messages other clients put there.
    pub uid: Option<String>,
    pub properties: Vec<DeadProperty>,
    /// From our index header; `None` (messages of other clients) is always a candidate.
    pub index: Option<(Component, TimeSpan)>,
    /// The mailbox it was written to, from our collection header; `None` for messages of
    /// other clients.
    pub collection: Option<String>,
}

impl ItemEntry {
    /// Whether the item may match `query` (a superset: unknown means yes).
    pub fn may_match(&self, query: &CandidateQuery) -> bool {
        store::mail_layout::may_match(self.content_type.is_some(), self.index, query)
    }

    pub fn meta(&self) -> ItemMeta {
        ItemMeta {
            name: self.name.clone(),
            etag: ETag::new(self.blob.clone()),
            size: self.size,
            last_modified: self.received,
            content_type: self.content_type.clone(),
        }
    }
}

/// Reads one `Email/get` list element.
pub fn entry(email: &Value) -> Option<(String, Entry)> {
    let id = email.get("id")?.as_str()?.to_owned();
    let header =
        |name: &str| email.get(format!("header:{name}:asText")).and_then(Value::as_str).map(|s| s.trim().to_owned());
    let structure = email.get("bodyStructure")?;
    if header(FOLDER_HEADER).as_deref() == Some("properties") {
        let blob = structure.get("blobId")?.as_str()?.to_owned();
        return Some((id, Entry::Properties { blob, collection: header(COLLECTION_HEADER) }));
    }
    let received = email
        .get("receivedAt")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64))
        .unwrap_or(UNIX_EPOCH);
    let (part, name) = match header(RESOURCE_HEADER).filter(|n| !n.is_empty()) {
        // Ours: the single part is the resource, whatever its type.
        Some(name) => (structure, name),
        None => (calendar_part(structure)?, format!("{id}.ics")),
    };
    let media_type =
        part.get("type").and_then(Value::as_str).unwrap_or("application/octet-stream").to_ascii_lowercase();
    let item = ItemEntry {
        email_id: id.clone(),
        name: ItemName::new(name),
        blob: part.get("blobId")?.as_str()?.to_owned(),
        size: part.get("size").and_then(Value::as_u64).unwrap_or(0),
        received,
        content_type: if media_type == "text/calendar" { None } else { Some(media_type) },
        uid: header(UID_HEADER).filter(|u| !u.is_empty()),
        properties: header(PROPERTIES_HEADER)
            .and_then(|json| serde_json::from_str::<Vec<StoredProperty>>(&json).ok())
            .map(|list| to_dead(&list))
            .unwrap_or_default(),
        index: header(INDEX_HEADER).and_then(|text| parse_index(&text)),
        collection: header(COLLECTION_HEADER).filter(|c| !c.is_empty()),
    };
    Some((id, Entry::Item(item)))
}

/// The first `text/calendar` leaf, depth first (an invitation is often multipart/alternative).
fn calendar_part(part: &Value) -> Option<&Value> {
    // Cyrus lists `subParts: []` on leaves too.
    if let Some(children) = part.get("subParts").and_then(Value::as_array).filter(|c| !c.is_empty()) {
        return children.iter().find_map(calendar_part);
    }
    let media_type = part.get("type").and_then(Value::as_str)?;
    media_type.eq_ignore_ascii_case("text/calendar").then_some(part)
}

/// One mailbox as `Mailbox/get` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    /// Whether the user may change the calendar: a PUT creates a message and destroys the
    /// one it replaces, so it needs both `mayAddItems` and `mayRemoveItems` (RFC 8621 §2).
    /// A server that sends no `myRights` is taken at its word later, when it refuses.
    pub writable: bool,
    /// `mayCreateChild`: whether a folder may be made below it (the schedule inbox the
    /// gateway's service account creates for a user, docs/scheduling.md).
    pub may_create_child: bool,
}

/// One right of RFC 8621 §2 `myRights`; a server that sends none is taken at its word later.
fn may(rights: Option<&Value>, right: &str) -> bool {
    rights.and_then(|r| r.get(right)).and_then(Value::as_bool).unwrap_or(true)
}

/// RFC 8621 §2 `myRights`: what writing into a calendar mailbox takes.
fn writable(rights: Option<&Value>) -> bool {
    may(rights, "mayAddItems") && may(rights, "mayRemoveItems")
}

pub fn mailboxes(list: &[Value]) -> Vec<Mailbox> {
    list.iter()
        .filter_map(|m| {
            Some(Mailbox {
                id: m.get("id")?.as_str()?.to_owned(),
                name: m.get("name")?.as_str()?.to_owned(),
                parent: m.get("parentId").and_then(Value::as_str).map(str::to_owned),
                writable: writable(m.get("myRights")),
                may_create_child: may(m.get("myRights"), "mayCreateChild"),
            })
        })
        .collect()
}

/// The calendar root and the folder name (path below the root) of every mailbox under it.
pub fn folder_names(mailboxes: &[Mailbox], root_name: &str) -> (Option<String>, Vec<(String, String)>) {
    let Some(root) = mailboxes.iter().find(|m| m.parent.is_none() && m.name == root_name) else {
        return (None, Vec::new());
    };
    let by_id: HashMap<&str, &Mailbox> = mailboxes.iter().map(|m| (m.id.as_str(), m)).collect();
    let mut names = Vec::new();
    for mailbox in mailboxes {
        let mut path = vec![mailbox.name.as_str()];
        let mut parent = mailbox.parent.as_deref();
        // Bounded: a malformed tree with a cycle must not hang a request.
        let mut hops = 0;
        let under_root = loop {
            match parent {
                Some(id) if id == root.id => break true,
                Some(id) if hops < 64 => match by_id.get(id) {
                    Some(m) => {
                        path.push(m.name.as_str());
                        parent = m.parent.as_deref();
                        hops += 1;
                    }
                    None => break false,
                },
                _ => break false,
            }
        };
        // A name with `/` cannot be a path segment of ours.
        if under_root && path.iter().all(|segment| !segment.contains('/') && !segment.is_empty()) {
            path.reverse();
            names.push((mailbox.id.clone(), path.join("/")));
        }
    }
    names.sort_by(|a, b| a.1.cmp(&b.1));
    (Some(root.id.clone()), names)
}

/// Hex digits of a [`digest_of`].
const DIGEST_LEN: usize = 24;

/// What a folder holds, in a few bytes: a digest of its mailbox id and the ids of the
/// messages in it (messages are immutable, so the ids name the content).
pub fn digest_of(mailbox: &str, sorted_ids: &[String]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(mailbox.as_bytes());
    for id in sorted_ids {
        hasher.update(b"\n");
        hasher.update(id.as_bytes());
    }
    hex::encode(&hasher.finalize()[..DIGEST_LEN / 2])
}

/// A folder's state as handed out (getctag, sync token): `{digest}-{email state}`, the digest
/// of its content and the account's JMAP Email state at which that content was read (see the
/// crate docs, "Versions").
pub fn folder_state(digest: &str, email_state: &str) -> String {
    format!("{digest}-{email_state}")
}

/// `(digest, email state)` of a state [`folder_state`] made; `None` for anything else.
pub fn split_state(state: &str) -> Option<(&str, &str)> {
    let (digest, email_state) = state.split_once('-')?;
    let well_formed = digest.len() == DIGEST_LEN && digest.bytes().all(|b| b.is_ascii_hexdigit());
    (well_formed && !email_state.is_empty()).then_some((digest, email_state))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use store::{ComponentSet, FolderKind};

    #[test]
    fn the_schedule_inbox_flag_is_written_only_for_the_inbox() {
        let calendar = FolderProps::of_kind(FolderKind::Calendar, ComponentSet::ALL);
        // Properties messages written before the flag existed stay byte for byte the same.
        assert!(!serde_json::to_string(&calendar).unwrap().contains("schedule_inbox"));
        let inbox = FolderProps::of_kind(FolderKind::ScheduleInbox, ComponentSet::ALL);
        let json = serde_json::to_string(&inbox).unwrap();
        let read: FolderProps = serde_json::from_str(&json).unwrap();
        assert_eq!((read.kind(), read.component_set()), (FolderKind::ScheduleInbox, ComponentSet::ALL));
        let old: FolderProps = serde_json::from_str(r#"{"collection":false,"components":["VEVENT"]}"#).unwrap();
        assert_eq!(old.kind(), FolderKind::Calendar);
    }

    #[test]
    fn foreign_invitations_use_their_calendar_part_and_their_id() {
        let email = json!({
            "id": "M1", "receivedAt": "2026-01-01T00:00:00Z",
            "bodyStructure": {"type": "multipart/alternative", "subParts": [
                {"type": "text/plain", "blobId": "Gp", "size": 3, "subParts": []},
                {"type": "TEXT/CALENDAR", "blobId": "Gc", "size": 10, "subParts": []}
            ]}
        });
        let (_, Entry::Item(item)) = entry(&email).unwrap() else { panic!("not an item") };
        assert_eq!((item.name.as_str(), item.blob.as_str(), item.content_type), ("M1.ics", "Gc", None));
        let plain = json!({"id": "M2", "bodyStructure": {"type": "text/plain", "blobId": "Gp", "size": 3}});
        assert!(entry(&plain).is_none());
    }

    #[test]
    fn folder_names_are_paths_below_the_root() {
        let list = mailboxes(&[
            json!({"id": "r", "name": "Calendars", "parentId": null}),
            json!({"id": "w", "name": "work", "parentId": "r"}),
            json!({"id": "n", "name": "2026", "parentId": "w"}),
            json!({"id": "i", "name": "Inbox", "parentId": null}),
        ]);
        let (root, names) = folder_names(&list, "Calendars");
        assert_eq!(root.as_deref(), Some("r"));
        assert_eq!(names, vec![("w".into(), "work".into()), ("n".into(), "work/2026".into())]);
    }

    #[test]
    fn a_mailbox_is_writable_only_with_rights_to_add_and_remove() {
        let rights = |add: bool, remove: bool| {
            json!({"id": "m", "name": "c", "parentId": "r", "myRights": {
                "mayReadItems": true, "mayAddItems": add, "mayRemoveItems": remove, "maySetSeen": true,
                "maySetKeywords": true, "mayCreateChild": false, "mayRename": false, "mayDelete": false,
                "maySubmit": false}})
        };
        let list = mailboxes(&[rights(true, true), rights(false, true), rights(true, false)]);
        assert_eq!(list.iter().map(|m| m.writable).collect::<Vec<_>>(), [true, false, false]);
        assert!(list.iter().all(|m| !m.may_create_child));
        let silent = mailboxes(&[json!({"id": "m", "name": "c", "parentId": null})]);
        assert!(silent[0].writable && silent[0].may_create_child);
    }

    #[test]
    fn folder_states_split_into_digest_and_email_state() {
        let digest = digest_of("m1", &["a".into(), "b".into()]);
        let state = folder_state(&digest, "J-42");
        assert_eq!(split_state(&state), Some((digest.as_str(), "J-42")));
        assert_eq!(split_state("certainly-not-a-state-of-this-folder"), None);
        assert_eq!(split_state(&format!("{digest}-")), None);
        assert_eq!(split_state(&digest), None);
    }
}
