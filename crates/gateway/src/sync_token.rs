//! RFC 6578 §3.2 sync tokens: opaque URIs naming the point a client has synchronised to.
//!
//! Two kinds exist. A complete token wraps the folder's opaque state: everything up to that
//! state was reported. A page token is handed out when an answer was truncated (RFC 6578
//! §3.6) and names a point *inside* an answer, which an opaque state cannot express:
//!
//! - `base`: the point the truncated answer started from (`None`: an initial sync),
//! - `after`: the last item name sent (an answer is sent in item-name order),
//! - `page_state`: the folder's state when that page was served.
//!
//! The next request reports the changes since `base` of names after `after` (what the
//! truncated answer had not sent yet) plus the changes since `page_state` of all names (what
//! changed while the client was paging), so nothing is skipped even when the folder changes
//! between pages.
//!
//! Every part is percent-encoded, so any backend's state string (JMAP states are arbitrary)
//! makes a valid URI, `:` separates the parts unambiguously, and decoding gives back exactly
//! what was handed out. Complete tokens keep the format they had before page tokens existed,
//! so tokens clients already hold stay valid.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use store::{ItemName, State};

const PREFIX: &str = "urn:x-caldav-gateway:sync:";
const PAGE_PREFIX: &str = "urn:x-caldav-gateway:sync-page:";
const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Where a client stands, as named by a token this gateway issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncPoint {
    /// Every change up to this state was reported.
    Complete(State),
    /// Part of a truncated answer was reported.
    Page(Continuation),
}

/// The rest of a truncated answer (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continuation {
    pub base: Option<State>,
    pub after: ItemName,
    pub page_state: State,
}

/// The token of a complete answer (also the `DAV:sync-token` property).
pub fn to_uri(state: &State) -> String {
    format!("{PREFIX}{}", encode(state.as_str()))
}

/// The token of a truncated answer.
pub fn page_to_uri(page: &Continuation) -> String {
    let base = page.base.as_ref().map(State::as_str).unwrap_or("");
    format!("{PAGE_PREFIX}{}:{}:{}", encode(base), encode(page.after.as_str()), encode(page.page_state.as_str()))
}

/// The point inside a token this gateway issued; `None` for anything else, which the caller
/// answers with `DAV:valid-sync-token`. Pure, so it can be fuzzed on its own.
pub fn from_uri(token: &str) -> Option<SyncPoint> {
    let token = token.trim();
    if let Some(encoded) = token.strip_prefix(PREFIX) {
        return decode_nonempty(encoded).map(|state| SyncPoint::Complete(State::new(state)));
    }
    let encoded = token.strip_prefix(PAGE_PREFIX)?;
    let mut parts = encoded.split(':');
    let (base, after, page_state) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let base = if base.is_empty() { None } else { Some(State::new(decode_nonempty(base)?)) };
    Some(SyncPoint::Page(Continuation {
        base,
        after: ItemName::new(decode_nonempty(after)?),
        page_state: State::new(decode_nonempty(page_state)?),
    }))
}

fn encode(raw: &str) -> String {
    utf8_percent_encode(raw, KEEP).to_string()
}

fn decode_nonempty(encoded: &str) -> Option<String> {
    let decoded = percent_decode_str(encoded).decode_utf8().ok()?;
    (!decoded.is_empty()).then(|| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_any_state_string() {
        for raw in ["a1b2-17", "J/42:x y", "ünïcode"] {
            let state = State::new(raw);
            assert_eq!(from_uri(&to_uri(&state)), Some(SyncPoint::Complete(state)));
        }
    }

    #[test]
    fn complete_tokens_keep_the_format_issued_before_page_tokens() {
        assert_eq!(to_uri(&State::new("J/42:x")), "urn:x-caldav-gateway:sync:J%2F42%3Ax");
        assert_eq!(from_uri("urn:x-caldav-gateway:sync:17"), Some(SyncPoint::Complete(State::new("17"))));
    }

    #[test]
    fn page_token_round_trips_parts_containing_the_separator() {
        for base in [None, Some(State::new("a:b:c")), Some(State::new("ünï/code"))] {
            let page = Continuation { base, after: ItemName::new("x:y z.ics"), page_state: State::new("J:9%") };
            let uri = page_to_uri(&page);
            assert!(uri.starts_with(PAGE_PREFIX) && uri.matches(':').count() == 5, "{uri}");
            assert_eq!(from_uri(&uri), Some(SyncPoint::Page(page)));
        }
    }

    #[test]
    fn foreign_empty_or_malformed_tokens_are_refused() {
        for token in [
            "http://example.com/sync/1",
            PREFIX,
            "",
            PAGE_PREFIX,
            "urn:x-caldav-gateway:sync-page:a:b",
            "urn:x-caldav-gateway:sync-page:a:b:c:d",
            "urn:x-caldav-gateway:sync-page:a::c",
            "urn:x-caldav-gateway:sync-page:a:b:",
            "urn:x-caldav-gateway:sync-page:a:%FF:c",
        ] {
            assert_eq!(from_uri(token), None, "{token:?}");
        }
    }
}
