//! iMIP (RFC 6047) through the user's own mail account: scheduling messages go out with
//! JMAP submission (RFC 8621 §7) and come in through the INBOX.
//!
//! Out, as verified on Cyrus 3.6 (docs/scheduling.md §2): the gateway's MIME bytes are
//! uploaded, `Email/import`ed into a mailbox of the account and handed to
//! `EmailSubmission/set` in the same request, which destroys the message once the relay took
//! it. Building the message with `Email/set` `bodyStructure` cannot work there: Cyrus refuses
//! the `method=` parameter iMIP needs on the `text/calendar` part.
//!
//! In: INBOX messages without the keyword [`TAKEN_KEYWORD`] that carry a `text/calendar` part
//! with a `method` parameter (RFC 6047 §2.4). Taking one sets the keyword, so each is applied
//! once and the mail stays, unchanged otherwise, for the user's mail client.

use std::sync::Arc;

use serde_json::{json, Value};
use store::{IncomingItip, OutgoingMail, StoreError};

use crate::client::{self, garbage};
use crate::session::JmapSession;

/// Marks an INBOX message the gateway has applied (RFC 8621 keywords are IMAP flags, so a
/// mail client shows nothing for it; `$` because it is no user tag).
pub(crate) const TAKEN_KEYWORD: &str = "$caldav-imip";

/// Untaken INBOX messages looked at per call, newest first. JMAP cannot filter by the media
/// type of a part (Cyrus's `attachmentType` needs a Xapian index, `hasAttachment` a flag set
/// only with `mailbox_initial_flags`), so ordinary mail is looked at too (once: see
/// [`InboxCache`]). The gateway asks every few seconds while the user is active, so an
/// invitation is among the newest this many mails unless that many arrived after it while
/// the user's clients were away.
const INBOX_WINDOW: usize = 256;

const SUBMISSION_USING: [&str; 3] =
    ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"];

/// INBOX messages already looked at, per (account, message id), so each is asked about
/// once. About 100 bytes each: the bound keeps this under ~20 MB.
const INBOX_MESSAGES_KEPT: u64 = 200_000;

/// What an INBOX message is for the gateway; `itip` is `None` for ordinary mail.
#[derive(Debug)]
pub(crate) struct InboxMessage {
    itip: Option<Itip>,
}

#[derive(Clone, Debug)]
pub(crate) struct Itip {
    /// `receivedAt` (RFC 3339 UTC, so its text orders by time).
    received: String,
    from: Option<String>,
    /// The decoded `text/calendar` part.
    blob: String,
}

pub(crate) type InboxCache = moka::future::Cache<(String, String), Arc<InboxMessage>>;

pub(crate) fn inbox_cache() -> InboxCache {
    moka::future::Cache::builder()
        .max_capacity(INBOX_MESSAGES_KEPT)
        .time_to_idle(std::time::Duration::from_secs(24 * 3600))
        .build()
}

/// The account's mailboxes by role, looked up once per session (roles are set up when an
/// account is made and hardly ever move).
#[derive(Clone, Debug, Default)]
pub(crate) struct Roles {
    pub inbox: Option<String>,
    pub drafts: Option<String>,
}

impl JmapSession {
    async fn roles(&self) -> Result<Arc<Roles>, StoreError> {
        if let Some(roles) = self.roles.get() {
            return Ok(roles.clone());
        }
        let r = self.call(vec![("Mailbox/get", json!({"accountId": self.id(), "properties": ["id", "role"]}))]).await?;
        let list = client::response(&r, 0, "Mailbox/get")?
            .get("list")
            .and_then(Value::as_array)
            .ok_or_else(|| garbage("Mailbox/get list"))?;
        let with_role = |role: &str| {
            list.iter()
                .find(|m| m.get("role").and_then(Value::as_str) == Some(role))
                .and_then(|m| m.get("id").and_then(Value::as_str))
                .map(str::to_owned)
        };
        let roles = Arc::new(Roles { inbox: with_role("inbox"), drafts: with_role("drafts") });
        Ok(self.roles.get_or_init(|| roles).clone())
    }

    /// Where the message waits for the relay: Drafts, as a mail client would, or else the
    /// gateway's own calendar root mailbox, which no calendar listing shows.
    async fn outgoing_mailbox(&self) -> Result<String, StoreError> {
        if let Some(drafts) = self.roles().await?.drafts.clone() {
            return Ok(drafts);
        }
        self.snapshot().await?.root.clone().ok_or_else(|| {
            StoreError::Rejected("the mail account has neither a Drafts mailbox nor the calendar mailbox".into())
        })
    }

    pub(crate) async fn submit_mail(&self, mail: &OutgoingMail) -> Result<bool, StoreError> {
        if !self.account.submission {
            return Ok(false);
        }
        let mailbox = self.outgoing_mailbox().await?;
        let blob = self.shared.client.upload(&self.account, mail.message.clone(), "message/rfc822").await?;
        let envelope = json!({
            "mailFrom": {"email": mail.from},
            "rcptTo": mail.recipients.iter().map(|r| json!({"email": r})).collect::<Vec<_>>(),
        });
        let calls = vec![
            (
                "Email/import",
                json!({"accountId": self.id(), "emails": {"m": {
                    "blobId": blob, "mailboxIds": {mailbox: true}, "keywords": {"$seen": true, "$draft": true}}}}),
            ),
            (
                "EmailSubmission/set",
                json!({"accountId": self.id(),
                       "create": {"s": {"identityId": self.identity, "emailId": "#m", "envelope": envelope}},
                       "onSuccessDestroyEmail": ["#s"]}),
            ),
        ];
        let r = self.shared.client.call_using(&self.account, &SUBMISSION_USING, calls).await?;
        let imported = client::response(&r, 0, "Email/import")?;
        if let Some(failed) = imported.pointer("/notCreated/m") {
            return Err(crate::writes::set_error(failed));
        }
        let email = imported.pointer("/created/m/id").and_then(Value::as_str).map(str::to_owned);
        let failure = match r.get(1) {
            Some((name, args)) if name == "EmailSubmission/set" => args.pointer("/notCreated/s").map(submission_error),
            // Cyrus 3.6 drops the account's submission capability while its relay does not
            // answer EHLO (`jmap_emailsubmission_capabilities` computes it per connection
            // until it once succeeds): an outage of the relay, not a refusal of this mail.
            Some((name, args))
                if name == "error"
                    && args.get("type").and_then(Value::as_str) == Some("accountNotSupportedByMethod") =>
            {
                Some(StoreError::unavailable("the mail server cannot submit mail now (its relay does not answer)"))
            }
            _ => client::response(&r, 1, "EmailSubmission/set").err(),
        };
        let Some(failure) = failure else { return Ok(true) };
        // The relay refused it, so onSuccessDestroyEmail did nothing: the draft goes now, or
        // it would wait in the mailbox for ever. Should that fail too, the refusal is still
        // what the caller must hear; the draft then stays where the user can see it.
        if let Some(email) = email {
            let destroy = json!({"accountId": self.id(), "destroy": [email]});
            let _ = self.call(vec![("Email/set", destroy)]).await;
        }
        Err(failure)
    }

    pub(crate) async fn incoming(&self, limit: usize) -> Result<Vec<IncomingItip>, StoreError> {
        let Some(inbox) = self.roles().await?.inbox.clone() else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let filter = json!({"operator": "AND", "conditions": [{"inMailbox": inbox}, {"notKeyword": TAKEN_KEYWORD}]});
        let r = self
            .call(vec![(
                "Email/query",
                json!({"accountId": self.id(), "filter": filter,
                       "sort": [{"property": "receivedAt", "isAscending": false}], "limit": INBOX_WINDOW}),
            )])
            .await?;
        let ids = client::query_ids(client::response(&r, 0, "Email/query")?)?;
        let mut found = Vec::new();
        let mut unknown = Vec::new();
        for id in ids {
            match self.shared.inbox.get(&(self.id().to_owned(), id.clone())).await {
                Some(known) => found.extend(known.itip.clone().map(|itip| (itip, id))),
                None => unknown.push(id),
            }
        }
        if !unknown.is_empty() {
            found.extend(self.inspect(unknown).await?);
        }
        // Oldest first, as the contract says: a REQUEST is applied before its update.
        found.sort_by(|a, b| (&a.0.received, &a.1).cmp(&(&b.0.received, &b.1)));
        found.truncate(limit);
        let mut incoming = Vec::with_capacity(found.len());
        for (itip, id) in found {
            match self.blob(&itip.blob).await {
                Ok(calendar) => incoming.push(IncomingItip { id, from: itip.from, calendar }),
                // Expunged since the query: simply not there any more.
                Err(StoreError::NotFound) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(incoming)
    }

    /// What the messages `ids` are, asked once: a message never changes, so the answer is
    /// kept and the next poll of the INBOX costs only its `Email/query`.
    async fn inspect(&self, ids: Vec<String>) -> Result<Vec<(Itip, String)>, StoreError> {
        let r = self
            .call(vec![(
                "Email/get",
                json!({"accountId": self.id(), "ids": ids,
                       "properties": ["id", "from", "receivedAt", "bodyStructure"],
                       "bodyProperties": ["partId", "blobId", "type", "header:Content-Type:asRaw", "subParts"]}),
            )])
            .await?;
        let list = client::response(&r, 0, "Email/get")?
            .get("list")
            .and_then(Value::as_array)
            .ok_or_else(|| garbage("Email/get list"))?;
        let mut found = Vec::new();
        for email in list {
            let Some(id) = email.get("id").and_then(Value::as_str) else { continue };
            let itip = email.get("bodyStructure").and_then(itip_part).map(|blob| Itip {
                received: email.get("receivedAt").and_then(Value::as_str).unwrap_or_default().to_owned(),
                from: email
                    .pointer("/from/0/email")
                    .and_then(Value::as_str)
                    .filter(|a| !a.is_empty())
                    .map(str::to_ascii_lowercase),
                blob: blob.to_owned(),
            });
            found.extend(itip.clone().map(|itip| (itip, id.to_owned())));
            self.shared.inbox.insert((self.id().to_owned(), id.to_owned()), Arc::new(InboxMessage { itip })).await;
        }
        Ok(found)
    }

    pub(crate) async fn take(&self, id: &str) -> Result<(), StoreError> {
        let patch = json!({"accountId": self.id(), "update": {id: {format!("keywords/{TAKEN_KEYWORD}"): true}}});
        let r = self.call(vec![("Email/set", patch)]).await?;
        let args = client::response(&r, 0, "Email/set")?;
        match args.pointer(&format!("/notUpdated/{}", json_pointer_escape(id))) {
            None => Ok(()),
            Some(failed) => Err(crate::writes::set_error(failed)),
        }
    }
}

/// The blob of the first `text/calendar` part that has a `method` parameter (RFC 6047 §2.4:
/// an iMIP part always has one; a plain `.ics` attachment is no scheduling message).
fn itip_part(part: &Value) -> Option<&str> {
    if let Some(children) = part.get("subParts").and_then(Value::as_array).filter(|c| !c.is_empty()) {
        return children.iter().find_map(itip_part);
    }
    let media_type = part.get("type").and_then(Value::as_str)?;
    let header = part.get("header:Content-Type:asRaw").and_then(Value::as_str).unwrap_or_default();
    (media_type.eq_ignore_ascii_case("text/calendar") && has_method_parameter(header))
        .then(|| part.get("blobId").and_then(Value::as_str))
        .flatten()
}

/// Whether a raw `Content-Type` field value has a `method` parameter (RFC 2045 §5.1:
/// parameter names are case-insensitive; the field may be folded).
fn has_method_parameter(raw: &str) -> bool {
    raw.split(';').skip(1).any(|parameter| {
        parameter.split_once('=').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("method") && !value.trim().trim_matches('"').is_empty()
        })
    })
}

/// RFC 6901 escaping of one reference token.
fn json_pointer_escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// What the relay's refusal means for the caller (RFC 8621 §7.5 SetError types).
fn submission_error(failed: &Value) -> StoreError {
    let kind = failed.get("type").and_then(Value::as_str).unwrap_or("unknown");
    let description = failed.get("description").and_then(Value::as_str).unwrap_or("");
    match kind {
        "forbiddenFrom" | "forbiddenMailFrom" | "forbiddenToSend" | "notPermittedFrom" | "forbidden" => {
            StoreError::Forbidden(format!("the mail server refuses to send this: {kind} {description}"))
        }
        "tooManyRecipients" | "noRecipients" | "invalidRecipients" | "tooLarge" | "invalidEmail" => {
            let detail = failed.get("invalidRecipients").map(Value::to_string).unwrap_or_default();
            StoreError::Rejected(format!("the mail server refuses this message: {kind} {description} {detail}"))
        }
        // The relay is down or answered nonsense: worth trying again later.
        "smtpProtocolError" | "serverFail" | "serverUnavailable" => {
            StoreError::unavailable(format!("mail submission failed: {kind} {description}"))
        }
        _ => StoreError::BadGateway(format!("EmailSubmission/set refused: {kind} {description}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_calendar_parts_with_a_method_are_itip() {
        let part = |media: &str, raw: &str, blob: &str| json!({"type": media, "header:Content-Type:asRaw": raw, "blobId": blob});
        let mail = json!({"type": "multipart/mixed", "subParts": [
            {"type": "multipart/alternative", "subParts": [
                part("text/plain", " text/plain; charset=utf-8", "Gtext"),
                part("text/calendar", " text/calendar; charset=utf-8", "Gnomethod"),
                part("text/calendar", " text/calendar; charset=utf-8;\r\n\tMETHOD=\"REQUEST\"", "Gitip"),
            ]},
        ]});
        assert_eq!(itip_part(&mail), Some("Gitip"));
        assert_eq!(itip_part(&part("text/calendar", " text/calendar; method=", "G")), None);
        assert_eq!(itip_part(&part("application/ics", " application/ics; method=REQUEST", "G")), None);
        assert_eq!(itip_part(&part("TEXT/Calendar", " TEXT/Calendar; Method=CANCEL", "G")), Some("G"));
    }

    #[test]
    fn refusals_of_the_relay_map_to_store_errors() {
        let error = |kind: &str| submission_error(&json!({"type": kind, "description": "no"}));
        assert!(matches!(error("forbiddenFrom"), StoreError::Forbidden(_)));
        assert!(matches!(error("forbiddenToSend"), StoreError::Forbidden(_)));
        assert!(matches!(error("tooManyRecipients"), StoreError::Rejected(_)));
        assert!(matches!(error("invalidRecipients"), StoreError::Rejected(_)));
        assert!(matches!(error("smtpProtocolError"), StoreError::Unavailable { .. }));
        assert!(matches!(error("invalidProperties"), StoreError::BadGateway(_)));
    }

    #[test]
    fn ids_are_escaped_in_json_pointers() {
        assert_eq!(json_pointer_escape("M1/a~b"), "M1~1a~0b");
    }
}
