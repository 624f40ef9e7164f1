//! The message that holds one calendar object (or a folder's properties), as appended and
//! as read back: headers, the single base64 part, and what a FETCH says of a message.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use sha1::{Digest, Sha1};
use store::mail_layout::{
    self, COLLECTION_HEADER, FOLDER_HEADER, INDEX_HEADER, PROPERTIES_HEADER, RESOURCE_HEADER, UID_HEADER,
};
use store::{Component, DeadProperty, ETag, ItemName, TimeSpan};

use crate::wire::Value;

/// The ETag of an item, `G` and the SHA-1 of its bytes (see the crate docs).
pub const ETAG_HEADER: &str = "X-CalDAV-ETag";

/// The headers asked of every message.
pub fn header_fields() -> String {
    [RESOURCE_HEADER, UID_HEADER, FOLDER_HEADER, PROPERTIES_HEADER, INDEX_HEADER, COLLECTION_HEADER, ETAG_HEADER]
        .join(" ")
}

/// `G` + SHA-1 of the bytes: the JMAP backend's blob id of the same part on Cyrus.
pub fn etag_of(body: &[u8]) -> ETag {
    ETag::new(format!("G{}", hex::encode(Sha1::digest(body))))
}

/// What a new item message says besides its bytes.
pub struct Part<'a> {
    pub name: &'a str,
    pub body: &'a [u8],
    /// `text/calendar`, or a file's media type.
    pub content_type: &'a str,
    pub uid: Option<&'a str>,
    pub properties: &'a [DeadProperty],
    pub index: Option<(Component, TimeSpan)>,
}

/// The RFC 5322 message of an item: our headers, one base64 part.
pub fn item_message(part: &Part<'_>, date: &str) -> Bytes {
    let mut headers = vec![
        ("Date", date.to_owned()),
        ("Subject", part.name.to_owned()),
        (RESOURCE_HEADER, part.name.to_owned()),
        (ETAG_HEADER, etag_of(part.body).as_str().to_owned()),
    ];
    if let Some(uid) = part.uid {
        headers.push((UID_HEADER, uid.to_owned()));
    }
    if let Some((component, span)) = part.index {
        headers.push((INDEX_HEADER, mail_layout::format_index(component, span)));
    }
    if !part.properties.is_empty() {
        let stored = serde_json::to_string(&mail_layout::to_stored(part.properties)).unwrap_or_default();
        headers.push((PROPERTIES_HEADER, stored));
    }
    message(&headers, part.content_type, part.body)
}

/// The folder's properties message.
pub fn properties_message(json: &[u8], date: &str) -> Bytes {
    let headers = vec![
        ("Date", date.to_owned()),
        ("Subject", "calendar properties".to_owned()),
        (FOLDER_HEADER, "properties".to_owned()),
    ];
    message(&headers, "application/json", json)
}

fn message(headers: &[(&str, String)], content_type: &str, body: &[u8]) -> Bytes {
    let mut out = String::new();
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(&header_value(value));
        out.push_str("\r\n");
    }
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(&format!("Content-Type: {}\r\n", header_value(content_type)));
    out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    let encoded = base64::engine::general_purpose::STANDARD.encode(body);
    // RFC 2045 §6.8: lines of at most 76 characters.
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    Bytes::from(out)
}

/// A header value as written: as it is when it is short printable ASCII, else RFC 2047
/// encoded words of UTF-8, folded (what a JMAP server's `asText` reads back too).
fn header_value(value: &str) -> String {
    if value.len() < 900 && value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return value.to_owned();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in value.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(w)))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// The fields of a header block (`BODY[HEADER.FIELDS (...)]`), unfolded and decoded, names
/// lower case.
pub fn parse_headers(block: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(block);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.to_owned()));
        }
    }
    fields.into_iter().map(|(name, value)| (name, decode_words(value.trim()))).collect()
}

/// RFC 2047 encoded words (`B` and `Q`) of UTF-8 decoded; whitespace between two encoded
/// words dropped (§6.2). Anything else stays as it is.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        let decoded = decode_word(candidate);
        match decoded {
            Some((text, used)) => {
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &candidate[used..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `text`: its text and its length.
fn decode_word(text: &str) -> Option<(String, usize)> {
    let inner = text.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let payload = &inner[..end];
    if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
        return None;
    }
    let bytes = if encoding.eq_ignore_ascii_case("B") {
        base64::engine::general_purpose::STANDARD.decode(payload).ok()?
    } else if encoding.eq_ignore_ascii_case("Q") {
        let mut bytes = Vec::new();
        let mut chars = payload.bytes();
        while let Some(b) = chars.next() {
            match b {
                b'_' => bytes.push(b' '),
                b'=' => {
                    let hex = [chars.next()?, chars.next()?];
                    bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                }
                _ => bytes.push(b),
            }
        }
        bytes
    } else {
        return None;
    };
    let used = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    Some((String::from_utf8(bytes).ok()?, used))
}

/// IMAP `date-time` (RFC 3501 §9), whole seconds in UTC, for APPEND.
pub fn imap_date(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%d-%b-%Y %H:%M:%S +0000").to_string()
}

/// RFC 5322 `Date` header.
pub fn mail_date(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// An INTERNALDATE as a time; `UNIX_EPOCH` when unreadable.
pub fn parse_imap_date(text: &str) -> SystemTime {
    chrono::DateTime::parse_from_str(text.trim(), "%d-%b-%Y %H:%M:%S %z")
        .map(|t| UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64))
        .unwrap_or(UNIX_EPOCH)
}

/// The path (`1`, `2.1`) and media type of the first `text/calendar` leaf of a
/// BODYSTRUCTURE, depth first (an invitation is often multipart/alternative).
pub fn calendar_part(structure: &Value) -> Option<String> {
    fn walk(part: &[Value], path: &str) -> Option<String> {
        if matches!(part.first(), Some(Value::List(_))) {
            let mut n = 0;
            for child in part {
                let Value::List(child) = child else { break };
                n += 1;
                let child_path = if path.is_empty() { n.to_string() } else { format!("{path}.{n}") };
                if let Some(found) = walk(child, &child_path) {
                    return Some(found);
                }
            }
            return None;
        }
        let media = part.first()?.text()?.to_ascii_lowercase();
        let sub = part.get(1)?.text()?.to_ascii_lowercase();
        (media == "text" && sub == "calendar").then(|| if path.is_empty() { "1".to_owned() } else { path.to_owned() })
    }
    walk(structure.list()?, "")
}

/// The media type of a single-part BODYSTRUCTURE, lower case.
pub fn media_type(structure: &Value) -> Option<String> {
    let part = structure.list()?;
    let media = part.first()?.text()?;
    let sub = part.get(1)?.text()?;
    Some(format!("{media}/{sub}").to_ascii_lowercase())
}

/// What is known of an item message from its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    pub resource: Option<ItemName>,
    pub uid: Option<String>,
    pub folder_properties: bool,
    pub properties: Vec<DeadProperty>,
    pub index: Option<(Component, TimeSpan)>,
    pub etag: Option<ETag>,
}

impl Headers {
    pub fn read(block: &[u8]) -> Headers {
        let fields = parse_headers(block);
        let get = |name: &str| {
            let name = name.to_ascii_lowercase();
            fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
        };
        Headers {
            resource: get(RESOURCE_HEADER).map(ItemName::new),
            uid: get(UID_HEADER),
            folder_properties: get(FOLDER_HEADER).as_deref() == Some("properties"),
            properties: get(PROPERTIES_HEADER)
                .and_then(|json| serde_json::from_str::<Vec<mail_layout::StoredProperty>>(&json).ok())
                .map(|list| mail_layout::to_dead(&list))
                .unwrap_or_default(),
            index: get(INDEX_HEADER).and_then(|text| mail_layout::parse_index(&text)),
            etag: get(ETAG_HEADER).map(ETag::new),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_item_message_carries_its_headers_and_base64_bytes() {
        let properties =
            vec![DeadProperty { namespace: "urn:x".into(), name: "a".into(), xml: "Ünïcødé ".repeat(20) }];
        let part = Part {
            name: "a.ics",
            body: b"BEGIN:VCALENDAR\nEND:VCALENDAR\n\0",
            content_type: "text/calendar",
            uid: Some("u-1"),
            properties: &properties,
            index: Some((Component::Event, TimeSpan { start: Some(1), end: None })),
        };
        let message = item_message(&part, "Sun, 29 Nov 2026 15:00:00 +0000");
        let text = std::str::from_utf8(&message).unwrap();
        assert!(text.lines().all(|l| l.len() <= 998));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let headers = Headers::read(head.as_bytes());
        assert_eq!(headers.resource, Some(ItemName::new("a.ics")));
        assert_eq!(headers.uid.as_deref(), Some("u-1"));
        assert_eq!(headers.properties, properties);
        assert_eq!(headers.index, part.index);
        assert_eq!(headers.etag, Some(etag_of(part.body)));
        let decoded = base64::engine::general_purpose::STANDARD.decode(body.replace("\r\n", "")).unwrap();
        assert_eq!(decoded, part.body);
    }

    #[test]
    fn encoded_words_of_other_writers_are_read() {
        let fields = parse_headers(b"X-CalDAV-UID: =?utf-8?q?caf=C3=A9_1?=\r\nSubject: plain =?x\r\n");
        assert_eq!(fields[0].1, "caf\u{e9} 1");
        assert_eq!(fields[1].1, "plain =?x");
    }

    #[test]
    fn dates_read_back_as_written() {
        let time = chrono::DateTime::from_timestamp(1_767_348_000, 0).unwrap();
        assert_eq!(parse_imap_date(&imap_date(time)), UNIX_EPOCH + Duration::from_secs(1_767_348_000));
        assert_eq!(parse_imap_date(" 2-Jan-2026 10:00:00 +0000"), UNIX_EPOCH + Duration::from_secs(1_767_348_000));
    }

    #[test]
    fn the_calendar_part_of_an_invitation_is_found() {
        let leaf = |t: &'static str, s: &'static str| Value::List(vec![Value::Text(t.into()), Value::Text(s.into())]);
        let alternative =
            Value::List(vec![leaf("TEXT", "PLAIN"), leaf("TEXT", "CALENDAR"), Value::Text("ALTERNATIVE".into())]);
        assert_eq!(calendar_part(&alternative).as_deref(), Some("2"));
        assert_eq!(calendar_part(&leaf("text", "calendar")).as_deref(), Some("1"));
        assert_eq!(calendar_part(&leaf("text", "plain")), None);
    }
}
