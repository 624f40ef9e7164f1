//! PUT of an item: the new message is written with its precondition checked in the same
//! `Email/set` (see `writes.rs`). Calendar text goes in that `Email/set` itself; other bytes
//! are uploaded first.
//!
//! Why inline: Cyrus 3.6 moves the account's state with every blob upload (the blob is kept
//! as a message of a hidden mailbox), so an upload made the write that followed it fail its
//! own `ifInState` and read the account again; inline, a PUT is the one request. Cyrus stores
//! a text part given by value exactly, CRLF line ends, UTF-8 and lines over 998 octets
//! included (it picks quoted-printable where needed, and the part's blob is the decoded
//! bytes); a bare LF would come back as CRLF, so such bodies are uploaded.

use std::time::SystemTime;

use sha1::{Digest, Sha1};
use store::{Expected, FolderId, ItemMeta, NewItem, StoreError, Stored};

use crate::model::Entry;
use crate::session::JmapSession;
use crate::writes::{busy, Body, Part};

impl JmapSession {
    pub(crate) async fn put_item(
        &self,
        folder: &FolderId,
        item: NewItem,
        expected: Expected,
    ) -> Result<Stored, StoreError> {
        let mailbox = self.writable_mailbox(folder).await?;
        let content_type = item.content_type.clone().unwrap_or_else(|| "text/calendar".into());
        let text = inline_text(&item);
        let uploaded = match text {
            Some(_) => None,
            None => Some(self.shared.client.upload(&self.account, item.body.clone(), &content_type).await?),
        };
        // What the part's blob id will be: the upload's, or Cyrus's name for these bytes.
        let blob = uploaded.clone().unwrap_or_else(|| content_blob_id(&item.body));
        let body = match (text, &uploaded) {
            (Some(text), _) => Body::Text(text),
            (None, Some(uploaded)) => Body::Blob(uploaded),
            (None, None) => return Err(StoreError::internal("neither inline nor uploaded")),
        };
        let mut attempts = self.begin_write(uploaded.is_some()).await;
        while let Some(read) = attempts.next(self, &mailbox).await {
            let read = read?;
            let current = read.listed.items.iter().find(|i| i.name == item.name);
            if attempts.settle(expected.check(current.map(|c| store::ETag::new(c.blob.clone()))))?.is_none() {
                continue;
            }
            if let Some(current) = current {
                if current.blob == blob && current.content_type == item.content_type {
                    // The same bytes again: nothing changes (the contract's rule), and Cyrus
                    // would refuse the twin.
                    return Ok(Stored { meta: current.meta(), created: false, verbatim: true });
                }
            }
            let mut conflict = None;
            if item.component.is_some() {
                for other in read.listed.items.iter().filter(|i| i.name != item.name) {
                    // A schedule inbox keeps every iTIP message of a meeting (RFC 6638
                    // §2.2); its kind is read only when a UID repeats, so a PUT elsewhere
                    // costs nothing more.
                    if self.uid_of(other).await?.as_deref() == Some(item.uid.as_str()) {
                        if self.props(read.listed.properties.as_deref()).await?.schedule_inbox {
                            break;
                        }
                        conflict =
                            Some(StoreError::UidConflict { uid: item.uid.clone(), existing: other.name.clone() });
                        break;
                    }
                }
            }
            if attempts.settle(conflict.map_or(Ok(()), Err))?.is_none() {
                continue;
            }
            let uid = item.component.is_some().then_some(item.uid.as_str());
            // A replaced resource keeps its dead properties, as on the embedded store.
            let properties = current.map(|c| c.properties.clone()).unwrap_or_default();
            // receivedAt has whole seconds; the reported Last-Modified must equal a later read.
            let received = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap_or_default();
            let index = item.component.zip(item.span);
            let part = Part { body, content_type: &content_type, uid, properties: &properties, index };
            let message = self.message(&mailbox, item.name.as_str(), &part, received);
            let destroy = current.map(|c| vec![c.email_id.clone()]).unwrap_or_default();
            let Some(committed) = attempts.commit(self, &read, &mailbox, Some(message), destroy).await? else {
                continue;
            };
            let created = committed.created.as_ref().map(|(_, entry)| entry.as_ref());
            let Some(Entry::Item(stored)) = created else {
                return Err(crate::client::garbage("the created message is no item"));
            };
            // RFC 4791 §5.3.4: an ETag only when a GET returns exactly the bytes PUT.
            let verbatim = stored.blob == blob || self.stored_verbatim(&stored.blob, &item.body).await?;
            if verbatim {
                self.shared.cache.put_blob(self.id(), &stored.blob, item.body.clone()).await;
            }
            let meta = ItemMeta {
                name: item.name.clone(),
                etag: store::ETag::new(stored.blob.clone()),
                size: stored.size,
                last_modified: if stored.received == SystemTime::UNIX_EPOCH {
                    received.into()
                } else {
                    stored.received
                },
                content_type: item.content_type.clone(),
            };
            return Ok(Stored { meta, created: current.is_none(), verbatim });
        }
        Err(busy())
    }

    /// Whether the part stored as `blob` holds exactly `body`: for a server that names its
    /// blobs otherwise than Cyrus, or that changed the text (then the ETag is of its bytes).
    async fn stored_verbatim(&self, blob: &str, body: &[u8]) -> Result<bool, StoreError> {
        let stored = self.shared.client.download(&self.account, blob).await?;
        Ok(stored.as_ref() == body)
    }
}

/// The body as text to send in the `Email/set`, when it is a calendar object whose text the
/// server keeps as it is (see the module docs); `None`: upload it.
fn inline_text(item: &NewItem) -> Option<&str> {
    if item.content_type.is_some() {
        // A file of a plain collection: any bytes, any media type.
        return None;
    }
    let text = std::str::from_utf8(&item.body).ok()?;
    let bytes = text.as_bytes();
    let crlf_only = bytes.iter().enumerate().all(|(i, b)| match b {
        b'\n' => i > 0 && bytes[i - 1] == b'\r',
        b'\r' => bytes.get(i + 1) == Some(&b'\n'),
        b'\0' => false,
        _ => true,
    });
    crlf_only.then_some(text)
}

/// Cyrus's blob id of these bytes: `G` and their SHA-1 (what Cyrus 3.6 answers a Blob/upload
/// with, and names a message part by).
fn content_blob_id(body: &[u8]) -> String {
    format!("G{}", hex::encode(Sha1::digest(body)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::Bytes;

    fn item(body: &'static [u8], content_type: Option<&str>) -> NewItem {
        NewItem {
            name: store::ItemName::new("a.ics"),
            uid: "u".into(),
            component: None,
            content_type: content_type.map(str::to_owned),
            body: Bytes::from_static(body),
            span: None,
        }
    }

    #[test]
    fn calendar_text_with_crlf_line_ends_goes_inline() {
        let body = b"BEGIN:VCALENDAR\r\nSUMMARY:caf\xc3\xa9\r\nEND:VCALENDAR\r\n";
        assert!(inline_text(&item(body, None)).is_some());
        assert!(inline_text(&item(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR", None)).is_some());
    }

    #[test]
    fn bare_line_ends_other_encodings_and_files_are_uploaded() {
        assert!(inline_text(&item(b"BEGIN:VCALENDAR\nEND:VCALENDAR\n", None)).is_none());
        assert!(inline_text(&item(b"BEGIN:VCALENDAR\rEND:VCALENDAR\r\n", None)).is_none());
        assert!(inline_text(&item(b"\nBEGIN:VCALENDAR\r\n", None)).is_none());
        assert!(inline_text(&item(b"SUMMARY:caf\xe9\r\n", None)).is_none());
        assert!(inline_text(&item(b"a\0b\r\n", None)).is_none());
        assert!(inline_text(&item(b"plain text\r\n", Some("text/plain"))).is_none());
    }

    #[test]
    fn the_blob_id_is_cyrus_s_name_for_the_bytes() {
        // Blob/upload of these 42 bytes answered this id (Cyrus 3.6).
        let body = b"BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n";
        assert_eq!(content_blob_id(body), "G6bdffe594b1588db5ba1d0f515dcffce02696ad1");
    }
}
