//! RFC 6578 §3.2 sync tokens: a URI wrapping the folder's opaque state.
//!
//! The state is percent-encoded so any backend's state string (JMAP states are arbitrary)
//! makes a valid URI, and decoding gives back exactly the state that was handed out.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use store::State;

const PREFIX: &str = "urn:x-caldav-gateway:sync:";
const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn to_uri(state: &State) -> String {
    format!("{PREFIX}{}", utf8_percent_encode(state.as_str(), KEEP))
}

/// The state inside a token this gateway issued; `None` for anything else, which the
/// caller answers with `DAV:valid-sync-token`.
pub fn from_uri(token: &str) -> Option<State> {
    let encoded = token.trim().strip_prefix(PREFIX)?;
    let state = percent_decode_str(encoded).decode_utf8().ok()?;
    (!state.is_empty()).then(|| State::new(state.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_any_state_string() {
        for raw in ["a1b2-17", "J/42:x y", "ünïcode"] {
            let state = State::new(raw);
            assert_eq!(from_uri(&to_uri(&state)), Some(state));
        }
    }

    #[test]
    fn foreign_or_empty_tokens_are_refused() {
        assert_eq!(from_uri("http://example.com/sync/1"), None);
        assert_eq!(from_uri(PREFIX), None);
        assert_eq!(from_uri(""), None);
    }
}
