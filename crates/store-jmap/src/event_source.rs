//! The `text/event-stream` format (the HTML standard's server-sent events, which RFC 8620 §7.3
//! uses for JMAP push), read incrementally from the chunks of an HTTP body, and the two JMAP
//! events carried in it (`state` with a StateChange, `ping`). Pure: no I/O, no clock.

use std::collections::HashMap;

use serde_json::Value;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field; `message` when the event named none.
    pub kind: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
    /// The `retry:` field of this event: the server's reconnection delay in milliseconds.
    pub retry: Option<u64>,
}

/// An event (or a line of one) longer than the bound: the stream is not what it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooLarge;

/// Reads events out of a byte stream cut at arbitrary places.
pub(crate) struct EventStream {
    /// The current line so far (without its end).
    line: Vec<u8>,
    /// The previous chunk ended in CR: an LF starting this one ends no further line.
    after_cr: bool,
    kind: String,
    data: String,
    has_data: bool,
    retry: Option<u64>,
    max_event_bytes: usize,
}

impl EventStream {
    pub fn new(max_event_bytes: usize) -> EventStream {
        EventStream {
            line: Vec::new(),
            after_cr: false,
            kind: String::new(),
            data: String::new(),
            has_data: false,
            retry: None,
            max_event_bytes,
        }
    }

    /// The events completed by `chunk`; what is left of an unfinished one waits for more.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, TooLarge> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match byte {
                // CRLF is one line end, whether or not a chunk boundary falls between.
                b'\n' if after_cr => {}
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_ended(&line) {
                        events.push(event);
                    }
                }
                _ => {
                    self.line.push(byte);
                    if self.line.len() + self.data.len() > self.max_event_bytes {
                        return Err(TooLarge);
                    }
                }
            }
        }
        Ok(events)
    }

    /// One complete line: a field, a comment, or the empty line that dispatches the event.
    fn line_ended(&mut self, line: &[u8]) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        // A leading colon is a comment (servers send them to keep a connection open).
        if line[0] == b':' {
            return None;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => self.kind = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // Only ASCII digits count; anything else leaves the delay as it was.
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            // `id` (Last-Event-ID) is not used: a reconnection starts from a fresh validation.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        let kind = std::mem::take(&mut self.kind);
        let data = std::mem::take(&mut self.data);
        let retry = self.retry.take();
        let has_data = std::mem::replace(&mut self.has_data, false);
        // An event without data is not dispatched, but its retry still applies.
        if !has_data {
            return retry.map(|retry| Event { kind: "retry".into(), data: String::new(), retry: Some(retry) });
        }
        let kind = if kind.is_empty() { "message".to_owned() } else { kind };
        Some(Event { kind, data, retry })
    }
}

/// The new states of `account` in a `state` event's StateChange (RFC 8620 §7.1), by type name;
/// `None` when the data is no StateChange.
pub(crate) fn state_change(data: &str, account: &str) -> Option<HashMap<String, String>> {
    let value: Value = serde_json::from_str(data).ok()?;
    if value.get("@type").and_then(Value::as_str).is_some_and(|t| t != "StateChange") {
        return None;
    }
    let changed = value.get("changed")?.as_object()?;
    let states = match changed.get(account) {
        Some(types) => types
            .as_object()?
            .iter()
            .filter_map(|(kind, state)| Some((kind.clone(), state.as_str()?.to_owned())))
            .collect(),
        None => HashMap::new(),
    };
    Some(states)
}

/// The interval a `ping` event announces (RFC 8620 §7.3: the server may choose a longer one
/// than asked for), in seconds.
pub(crate) fn ping_interval(data: &str) -> Option<u64> {
    serde_json::from_str::<Value>(data).ok()?.get("interval")?.as_u64()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn events(chunks: &[&str]) -> Vec<Event> {
        let mut stream = EventStream::new(64 * 1024);
        chunks.iter().flat_map(|c| stream.feed(c.as_bytes()).unwrap()).collect()
    }

    fn event(kind: &str, data: &str) -> Event {
        Event { kind: kind.into(), data: data.into(), retry: None }
    }

    #[test]
    fn cyrus_state_and_ping_events_are_read_as_sent() {
        // The bytes Cyrus 3.6 writes (imap/http_jmap.c, es_push): an id line, then event and data.
        let state =
            "id: 1234\nevent: state\ndata: {\"@type\":\"StateChange\",\"changed\":{\"bob\":{\"Email\":\"1234\"}}}\n\n";
        let ping = "event: ping\ndata: {\"interval\":5}\n\n";
        let got = events(&[state, ping]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].kind, "state");
        let states = state_change(&got[0].data, "bob").unwrap();
        assert_eq!(states.get("Email").map(String::as_str), Some("1234"));
        assert_eq!(got[1], event("ping", "{\"interval\":5}"));
        assert_eq!(ping_interval(&got[1].data), Some(5));
    }

    #[test]
    fn an_event_split_anywhere_across_chunks_is_read_once_complete() {
        let whole = "event: state\r\ndata: {\"changed\":{}}\r\n\r\n";
        for cut in 0..whole.len() {
            let got = events(&[&whole[..cut], &whole[cut..]]);
            assert_eq!(got, vec![event("state", "{\"changed\":{}}")], "cut at {cut}");
        }
    }

    #[test]
    fn comments_are_ignored_and_data_lines_are_joined() {
        let got = events(&[": keep-alive\n\ndata: one\ndata:two\n: between\ndata\n\n"]);
        assert_eq!(got, vec![event("message", "one\ntwo\n")]);
    }

    #[test]
    fn a_bare_cr_ends_a_line_too() {
        let got = events(&["event: ping\rdata: {}\r\r"]);
        assert_eq!(got, vec![event("ping", "{}")]);
    }

    #[test]
    fn retry_is_read_only_from_digits_and_kept_without_data() {
        let got = events(&["retry: 2500\n\n", "retry: soon\nevent: ping\ndata: {}\nretry: 700\n\n"]);
        assert_eq!(got[0].retry, Some(2500));
        assert_eq!(got[1], Event { kind: "ping".into(), data: "{}".into(), retry: Some(700) });
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        assert_eq!(events(&["event: state\n\nevent: ping\n\n"]), vec![]);
    }

    #[test]
    fn an_endless_line_is_refused_at_the_bound() {
        let mut stream = EventStream::new(100);
        assert_eq!(stream.feed(b"data: "), Ok(vec![]));
        assert_eq!(stream.feed(&[b'x'; 200]), Err(TooLarge));
        let mut stream = EventStream::new(100);
        let many_lines = "data: xxxxxxxxxx\n".repeat(20);
        assert_eq!(stream.feed(many_lines.as_bytes()), Err(TooLarge));
    }

    #[test]
    fn a_state_change_of_another_account_names_no_state_of_this_one() {
        let data = r#"{"@type":"StateChange","changed":{"alice":{"Email":"9"}}}"#;
        assert_eq!(state_change(data, "bob"), Some(HashMap::new()));
        assert_eq!(state_change("not json", "bob"), None);
        assert_eq!(state_change(r#"{"@type":"Other","changed":{}}"#, "bob"), None);
    }
}
