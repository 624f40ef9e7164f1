//! What a mailbox holds as of one HIGHESTMODSEQ, kept per user and mailbox and brought up
//! to date with one `SELECT` (and, when it moved, the flags and MODSEQ of every message
//! plus the headers of messages not seen yet). A message's headers never change (messages
//! are immutable), so they are read once per UID.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use store::{Component, DeadProperty, ETag, ItemMeta, ItemName, State, StoreError, TimeSpan};

use crate::connection::Connection;
use crate::message::{self, Headers};
use crate::wire::{Command, Value};

/// A name's message while it is being replaced: the writer that won the compare-and-swap
/// set it (see `writes.rs`).
pub const REPLACED_KEYWORD: &str = "$CalDAVReplaced";

/// Most UIDs remembered per mailbox for naming removed items; past it the memory starts
/// over, and deltas over forgotten UIDs become `Resync`.
const KNOWN_UIDS: usize = 200_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub uidnext: u32,
    pub exists: u64,
}

impl Status {
    pub fn state(&self) -> State {
        State::new(format!("{}.{}.{}", self.uidvalidity, self.modseq, self.uidnext))
    }

    /// `(uidvalidity, modseq, uidnext)` of a state [`Status::state`] made.
    pub fn parse_state(state: &State) -> Option<(u32, u64, u32)> {
        let mut parts = state.as_str().split('.');
        let parsed = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
        parts.next().is_none().then_some(parsed)
    }
}

/// One message as the view knows it.
#[derive(Clone, Debug)]
pub struct Message {
    pub modseq: u64,
    pub deleted: bool,
    pub replaced: bool,
    pub kind: Kind,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Item(Arc<ItemData>),
    /// The folder's properties message.
    Properties,
    /// Mail without a calendar part: not shown.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemData {
    pub name: ItemName,
    pub etag: ETag,
    pub size: u64,
    pub received: SystemTime,
    /// `None` for a calendar object.
    pub content_type: Option<String>,
    pub ical_uid: Option<String>,
    pub properties: Vec<DeadProperty>,
    pub index: Option<(Component, TimeSpan)>,
    /// The body part holding the object (`1` for ours).
    pub part: String,
}

impl ItemData {
    pub fn meta(&self) -> ItemMeta {
        ItemMeta {
            name: self.name.clone(),
            etag: self.etag.clone(),
            size: self.size,
            last_modified: self.received,
            content_type: self.content_type.clone(),
        }
    }
}

/// A mailbox's messages as of `status`.
#[derive(Clone, Debug)]
pub struct View {
    pub status: Status,
    pub messages: BTreeMap<u32, Message>,
    /// Every UID seen under this UIDVALIDITY and the item name it had (`None`: not an item),
    /// expunged ones included: what names a removal in a delta.
    pub known: HashMap<u32, Option<ItemName>>,
}

/// One item of the folder: its current message.
#[derive(Clone, Debug)]
pub struct Current {
    pub uid: u32,
    pub modseq: u64,
    pub replaced: bool,
    pub data: Arc<ItemData>,
}

impl View {
    /// The items of the folder: per name the live message with the highest UID (while a
    /// replace has appended the new message and not yet expunged the old one, the new one).
    pub fn items(&self) -> Vec<Current> {
        let mut by_name: BTreeMap<&ItemName, Current> = BTreeMap::new();
        for (uid, message) in &self.messages {
            if message.deleted {
                continue;
            }
            if let Kind::Item(data) = &message.kind {
                // Ascending UIDs: a later one replaces an earlier one of the same name.
                by_name.insert(
                    &data.name,
                    Current { uid: *uid, modseq: message.modseq, replaced: message.replaced, data: data.clone() },
                );
            }
        }
        by_name.into_values().collect()
    }

    pub fn item(&self, name: &ItemName) -> Option<Current> {
        self.items().into_iter().find(|c| c.data.name == *name)
    }

    /// Live messages named `name`, by UID.
    pub fn uids_named(&self, name: &ItemName) -> Vec<u32> {
        self.messages
            .iter()
            .filter(|(_, m)| !m.deleted && matches!(&m.kind, Kind::Item(d) if d.name == *name))
            .map(|(uid, _)| *uid)
            .collect()
    }

    /// Live properties messages, lowest UID first (two after a race of two PROPPATCHes:
    /// the lowest wins, as on the JMAP backend).
    pub fn properties_uids(&self) -> Vec<u32> {
        self.messages
            .iter()
            .filter(|(_, m)| !m.deleted && matches!(m.kind, Kind::Properties))
            .map(|(uid, _)| *uid)
            .collect()
    }

    pub fn remember(&mut self, uid: u32, name: Option<ItemName>) {
        if self.known.len() >= KNOWN_UIDS {
            self.known.clear();
        }
        self.known.insert(uid, name);
    }
}

/// `SELECT`s the mailbox and reads its status from the answer; `NotFound` when there is no
/// such mailbox. `qresync`: `(uidvalidity, modseq)` to ask what vanished since (RFC 7162
/// §3.2.5), returned as UIDs.
pub async fn select(
    connection: &mut Connection,
    wire_name: &str,
    qresync: Option<(u32, u64)>,
) -> Result<(Status, Vec<u32>), StoreError> {
    let mut command = Command::new("SELECT").string(wire_name);
    if let Some((uidvalidity, modseq)) = qresync {
        command = command.raw(&format!("(QRESYNC ({uidvalidity} {modseq}))"));
    }
    connection.selected = None;
    let answer = connection.run(command).await?;
    if !answer.ok() {
        // Only a mailbox that is not there is a 404: a client drops a calendar it gets a
        // 404 for, so a server's other refusals must not read as one.
        let text = answer.done.text.to_ascii_lowercase();
        if answer.done.has_code("NONEXISTENT") || text.contains("exist") || text.contains("not found") {
            return Err(StoreError::NotFound);
        }
        return Err(StoreError::BadGateway(format!("SELECT refused: {}", answer.done.text)));
    }
    connection.selected = Some(wire_name.to_owned());
    let (mut uidvalidity, mut modseq, mut uidnext, mut exists) = (None, None, None, 0);
    let mut vanished = Vec::new();
    for response in &answer.untagged {
        let code = response.code().unwrap_or_default();
        let number = |i: usize| code.get(i).and_then(Value::number);
        match code.first().and_then(Value::atom).map(str::to_ascii_uppercase).as_deref() {
            Some("UIDVALIDITY") => uidvalidity = number(1),
            Some("HIGHESTMODSEQ") => modseq = number(1),
            Some("UIDNEXT") => uidnext = number(1),
            // RFC 7162 §3.1.2.2: a mailbox without persistent modseqs; never ours to use.
            Some("NOMODSEQ") => {
                return Err(StoreError::BadGateway("the mail server keeps no MODSEQ for this mailbox".into()))
            }
            _ => {}
        }
        if response.tokens.get(1).is_some_and(|t| t.is("EXISTS")) {
            exists = response.tokens[0].number().unwrap_or(0);
        }
        if response.tokens.first().is_some_and(|t| t.is("VANISHED")) {
            if let Some(set) = response.tokens.last().and_then(Value::atom) {
                vanished.extend(uid_set(set)?);
            }
        }
    }
    let status = Status {
        uidvalidity: uidvalidity
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| StoreError::BadGateway("SELECT without UIDVALIDITY".into()))?,
        modseq: modseq.ok_or_else(|| StoreError::BadGateway("SELECT without HIGHESTMODSEQ".into()))?,
        uidnext: uidnext.and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
        exists,
    };
    Ok((status, vanished))
}

/// A status from the items of a `STATUS` response (RFC 3501 §7.2.4, RFC 7162 §3.1.1):
/// `None` when one the state is made of is missing.
pub fn status_items(items: &[Value]) -> Option<Status> {
    let get =
        |name: &str| items.chunks(2).find(|pair| pair[0].is(name)).and_then(|pair| pair.get(1)).and_then(Value::number);
    Some(Status {
        uidvalidity: u32::try_from(get("UIDVALIDITY")?).ok()?,
        modseq: get("HIGHESTMODSEQ")?,
        uidnext: u32::try_from(get("UIDNEXT")?).ok()?,
        exists: get("MESSAGES")?,
    })
}

/// The UIDs of a sequence set (`1:3,7`), bounded so that garbage cannot allocate without end.
pub fn uid_set(set: &str) -> Result<Vec<u32>, StoreError> {
    let bad = || StoreError::BadGateway(format!("unreadable UID set {set:?}"));
    let mut uids = Vec::new();
    for range in set.split(',') {
        let (low, high) = match range.split_once(':') {
            Some((a, b)) => (a.parse::<u32>().map_err(|_| bad())?, b.parse::<u32>().map_err(|_| bad())?),
            None => {
                let one = range.parse::<u32>().map_err(|_| bad())?;
                (one, one)
            }
        };
        let (low, high) = (low.min(high), low.max(high));
        if uids.len() as u64 + u64::from(high - low) > 1_000_000 {
            return Err(bad());
        }
        uids.extend(low..=high);
    }
    Ok(uids)
}

/// A UID set for a command, ranges collapsed.
pub fn format_uids(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        out.push(if start == end { start.to_string() } else { format!("{start}:{end}") });
        i += 1;
    }
    out.join(",")
}

/// Brings `cached` (a view of this mailbox, if any) up to `status`, the mailbox being
/// selected on `connection`.
pub async fn refresh(connection: &mut Connection, status: Status, cached: Option<&View>) -> Result<View, StoreError> {
    let cached = cached.filter(|v| v.status.uidvalidity == status.uidvalidity);
    if let Some(view) = cached {
        if view.status == status {
            return Ok(view.clone());
        }
    }
    let mut view = View {
        status: status.clone(),
        messages: BTreeMap::new(),
        known: cached.map(|v| v.known.clone()).unwrap_or_default(),
    };
    if status.exists == 0 {
        return Ok(view);
    }
    let answer = connection.run(Command::new("UID FETCH 1:* (UID FLAGS MODSEQ)")).await?;
    if !answer.ok() {
        return Err(StoreError::BadGateway(format!("UID FETCH refused: {}", answer.done.text)));
    }
    let mut flags: Vec<(u32, u64, bool, bool)> = Vec::new();
    for response in &answer.untagged {
        if let Some(items) = fetch_items(response) {
            let uid = items.get("UID").and_then(|v| v.number()).and_then(|v| u32::try_from(v).ok());
            let modseq = items.get("MODSEQ").and_then(|v| v.list()).and_then(|l| l.first()).and_then(Value::number);
            let (deleted, replaced) = flag_state(items.get("FLAGS"));
            if let (Some(uid), Some(modseq)) = (uid, modseq) {
                flags.push((uid, modseq, deleted, replaced));
            }
        }
    }
    let unknown: Vec<u32> =
        flags.iter().map(|f| f.0).filter(|uid| !cached.is_some_and(|v| v.messages.contains_key(uid))).collect();
    let mut kinds: HashMap<u32, Kind> = HashMap::new();
    if let Some(view) = cached {
        for (uid, message) in &view.messages {
            kinds.insert(*uid, message.kind.clone());
        }
    }
    for (uid, kind) in describe(connection, status.uidvalidity, &unknown).await? {
        kinds.insert(uid, kind);
    }
    for (uid, modseq, deleted, replaced) in flags {
        let Some(kind) = kinds.remove(&uid) else { continue };
        let name = match &kind {
            Kind::Item(data) => Some(data.name.clone()),
            _ => None,
        };
        view.remember(uid, name);
        view.messages.insert(uid, Message { modseq, deleted, replaced, kind });
    }
    Ok(view)
}

fn flag_state(flags: Option<&&Value>) -> (bool, bool) {
    let list = flags.and_then(|f| f.list()).unwrap_or_default();
    (list.iter().any(|f| f.is("\\Deleted")), list.iter().any(|f| f.is(REPLACED_KEYWORD)))
}

/// The items of a `* n FETCH (...)` response by name, upper case.
pub fn fetch_items(response: &crate::wire::Response) -> Option<HashMap<String, &Value>> {
    if !response.tokens.get(1).is_some_and(|t| t.is("FETCH")) {
        return None;
    }
    let list = response.tokens.get(2)?.list()?;
    let mut items = HashMap::new();
    for pair in list.chunks(2) {
        if let [Value::Atom(name), value] = pair {
            items.insert(name.to_ascii_uppercase(), value);
        }
    }
    Some(items)
}

/// Reads what the messages `uids` are: headers, structure, date and size.
async fn describe(connection: &mut Connection, uidvalidity: u32, uids: &[u32]) -> Result<Vec<(u32, Kind)>, StoreError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let fields = message::header_fields();
    let command = Command::new(&format!(
        "UID FETCH {} (UID INTERNALDATE BODYSTRUCTURE BINARY.SIZE[1] BODY.PEEK[HEADER.FIELDS ({fields})])",
        format_uids(uids)
    ));
    let answer = connection.run(command).await?;
    if !answer.ok() {
        return Err(StoreError::BadGateway(format!("UID FETCH refused: {}", answer.done.text)));
    }
    let mut described = Vec::new();
    let mut foreign_parts: Vec<(u32, String)> = Vec::new();
    for response in &answer.untagged {
        let Some(items) = fetch_items(response) else { continue };
        let Some(uid) = items.get("UID").and_then(|v| v.number()).and_then(|v| u32::try_from(v).ok()) else {
            continue;
        };
        let header_block = items.iter().find(|(k, _)| k.starts_with("BODY[HEADER")).and_then(|(_, v)| v.bytes());
        let headers = Headers::read(header_block.map(|b| b.as_ref()).unwrap_or_default());
        let structure = items.get("BODYSTRUCTURE").copied();
        if headers.folder_properties {
            described.push((uid, Kind::Properties));
            continue;
        }
        let received = items.get("INTERNALDATE").and_then(|v| v.text()).map(|t| message::parse_imap_date(&t));
        let received = received.unwrap_or(SystemTime::UNIX_EPOCH);
        let size = items.get("BINARY.SIZE[1]").and_then(|v| v.number()).unwrap_or(0);
        let kind = match headers.resource.clone() {
            // Ours: the single part is the resource, whatever its type.
            Some(name) => {
                let media = structure.and_then(message::media_type).unwrap_or_else(|| "text/calendar".into());
                Kind::Item(Arc::new(ItemData {
                    name,
                    etag: headers.etag.clone().unwrap_or_else(|| ETag::new(format!("i{uidvalidity}-{uid}"))),
                    size,
                    received,
                    content_type: (media != "text/calendar").then_some(media),
                    ical_uid: headers.uid.clone(),
                    properties: headers.properties.clone(),
                    index: headers.index,
                    part: "1".into(),
                }))
            }
            None => match structure.and_then(message::calendar_part) {
                Some(part) => {
                    if part != "1" {
                        foreign_parts.push((uid, part.clone()));
                    }
                    Kind::Item(Arc::new(ItemData {
                        name: ItemName::new(format!("imap-{uid}.ics")),
                        etag: ETag::new(format!("i{uidvalidity}-{uid}")),
                        size,
                        received,
                        content_type: None,
                        ical_uid: None,
                        properties: Vec::new(),
                        index: None,
                        part,
                    }))
                }
                None => Kind::Other,
            },
        };
        described.push((uid, kind));
    }
    // Another client's invitation whose calendar is not its first part: that part's size.
    for (uid, part) in foreign_parts {
        let answer = connection.run(Command::new(&format!("UID FETCH {uid} (UID BINARY.SIZE[{part}])"))).await?;
        let size = answer
            .untagged
            .iter()
            .filter_map(fetch_items)
            .find_map(|items| items.get(&format!("BINARY.SIZE[{part}]")).and_then(|v| v.number()));
        if let Some((_, Kind::Item(data))) = described.iter_mut().find(|(u, _)| *u == uid) {
            let mut updated = (**data).clone();
            updated.size = size.unwrap_or(updated.size);
            *data = Arc::new(updated);
        }
    }
    Ok(described)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn uid_sets_round_trip() {
        assert_eq!(uid_set("1:3,7").unwrap(), vec![1, 2, 3, 7]);
        assert_eq!(format_uids(&[7, 1, 2, 3, 9, 10]), "1:3,7,9:10");
        assert!(uid_set("1:4000000000").is_err());
        assert!(uid_set("x").is_err());
    }

    #[test]
    fn a_list_status_answer_reads_as_a_state() {
        let r =
            crate::wire::parse(b"* STATUS \"Calendars/a\" (UIDVALIDITY 7 HIGHESTMODSEQ 9 UIDNEXT 3 MESSAGES 2)\r\n")
                .unwrap();
        let status = status_items(r.tokens[2].list().unwrap()).unwrap();
        assert_eq!(status, Status { uidvalidity: 7, modseq: 9, uidnext: 3, exists: 2 });
        let r = crate::wire::parse(b"* STATUS x (UIDVALIDITY 7 UIDNEXT 3 MESSAGES 2)\r\n").unwrap();
        assert_eq!(status_items(r.tokens[2].list().unwrap()), None);
    }

    #[test]
    fn states_round_trip_and_reject_strangers() {
        let status = Status { uidvalidity: 17, modseq: 42, uidnext: 5, exists: 3 };
        assert_eq!(Status::parse_state(&status.state()), Some((17, 42, 5)));
        assert_eq!(Status::parse_state(&State::new("certainly-not-a-state-of-this-folder")), None);
        assert_eq!(Status::parse_state(&State::new("1.2.3.4")), None);
    }
}
