//! A folder's `State`: `{incarnation}-{modseq}`.
//!
//! The incarnation is random per folder, so a folder deleted and re-created under the same
//! name never hands out a state an old sync token could be mistaken for.

use store::State;

pub(crate) fn encode(incarnation: &str, modseq: i64) -> State {
    State::new(format!("{incarnation}-{modseq}"))
}

/// `(incarnation, modseq)`, or `None` for a state this store never issued.
pub(crate) fn decode(state: &State) -> Option<(&str, i64)> {
    let (incarnation, modseq) = state.as_str().rsplit_once('-')?;
    let modseq = modseq.parse().ok()?;
    let hex = !incarnation.is_empty() && incarnation.bytes().all(|b| b.is_ascii_hexdigit());
    (modseq >= 0 && hex).then_some((incarnation, modseq))
}

pub(crate) fn new_incarnation() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_garbage_is_refused() {
        let state = encode("ab12", 42);
        assert_eq!(decode(&state), Some(("ab12", 42)));
        assert_eq!(decode(&State::new("nonsense")), None);
        assert_eq!(decode(&State::new("-5")), None);
        assert_eq!(decode(&State::new("x--1")), None);
    }
}
