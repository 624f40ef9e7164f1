//! The IMAP wire format (RFC 3501 §4, §7, §9): one server response read into a tree of
//! values, and command arguments written as quoted strings or literals. Knows nothing of
//! calendars or of which command was sent.
//!
//! Why a tree: every answer the backend reads (FETCH with `MODSEQ`, `BINARY[1]` and header
//! fields, `VANISHED (EARLIER)`, `STATUS`, `LIST`, `METADATA`, response codes such as
//! `[APPENDUID ...]` and `[MODIFIED ...]`) is atoms, strings and parenthesised lists, so one
//! reader covers the extensions without a parser per extension.

use bytes::Bytes;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// One token of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An atom or number; a fetch item name keeps its section (`BINARY[1]`,
    /// `BODY[HEADER.FIELDS (X-A)]`) in one atom.
    Atom(String),
    /// A quoted string or a literal (`{n}`, `~{n}` for RFC 3516 binary content).
    Text(Bytes),
    List(Vec<Value>),
    Nil,
    /// A response code in brackets (`[HIGHESTMODSEQ 7]`).
    Code(Vec<Value>),
}

impl Value {
    pub fn atom(&self) -> Option<&str> {
        match self {
            Value::Atom(a) => Some(a),
            _ => None,
        }
    }

    pub fn number(&self) -> Option<u64> {
        self.atom()?.parse().ok()
    }

    /// An atom or a string as text (mailbox names, header values).
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Atom(a) => Some(a.clone()),
            Value::Text(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    pub fn bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Text(b) => Some(b),
            _ => None,
        }
    }

    pub fn list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) | Value::Code(l) => Some(l),
            _ => None,
        }
    }

    pub fn is(&self, word: &str) -> bool {
        self.atom().is_some_and(|a| a.eq_ignore_ascii_case(word))
    }
}

/// Who a response is from the point of view of the command that is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Tagged(String),
    Untagged,
    /// `+`: the server waits for a literal's bytes.
    Continuation,
}

/// One response: for a status response (`OK`, `NO`, `BAD`, `BYE`, `PREAUTH`) the status
/// word and its code as tokens and the human-readable rest as `text`; otherwise every token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub kind: Kind,
    pub tokens: Vec<Value>,
    pub text: String,
}

impl Response {
    /// The status word of a status response, upper case.
    pub fn status(&self) -> Option<String> {
        let word = self.tokens.first()?.atom()?.to_ascii_uppercase();
        matches!(word.as_str(), "OK" | "NO" | "BAD" | "BYE" | "PREAUTH").then_some(word)
    }

    /// The response code of a status response, if any.
    pub fn code(&self) -> Option<&[Value]> {
        match self.tokens.get(1) {
            Some(Value::Code(code)) => Some(code),
            _ => None,
        }
    }

    /// Whether the code's first word is `name`.
    pub fn has_code(&self, name: &str) -> bool {
        self.code().and_then(|c| c.first()).is_some_and(|w| w.is(name))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("a response longer than {0} bytes")]
    TooLong(usize),
    #[error("unreadable response: {0}")]
    Garbage(String),
}

/// Reads one whole response (its line and the literals it announces), at most `limit` bytes.
pub async fn read_response<R: AsyncBufRead + Unpin>(reader: &mut R, limit: usize) -> Result<Response, WireError> {
    let mut raw = Vec::new();
    // Bounded: every round consumes a line of at least two bytes within `limit`.
    loop {
        let before = raw.len();
        let read = (&mut *reader).take((limit + 2 - raw.len().min(limit)) as u64).read_until(b'\n', &mut raw).await?;
        if read == 0 {
            return Err(WireError::Closed);
        }
        if !raw.ends_with(b"\n") {
            return Err(WireError::TooLong(limit));
        }
        match literal_length(&raw[before..]) {
            Some(length) => {
                if raw.len() + length > limit {
                    return Err(WireError::TooLong(limit));
                }
                let start = raw.len();
                raw.resize(start + length, 0);
                reader.read_exact(&mut raw[start..]).await?;
            }
            None => break,
        }
    }
    parse(&raw)
}

/// The length of the literal a line announces at its end (`{12}`, `~{12}`).
fn literal_length(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n").or_else(|| line.strip_suffix(b"\n"))?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = &line[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Parses one framed response.
pub fn parse(raw: &[u8]) -> Result<Response, WireError> {
    let mut p = Parser { raw, at: 0 };
    let kind = match p.peek() {
        Some(b'+') => {
            p.at += 1;
            let text = p.rest_of_line();
            return Ok(Response { kind: Kind::Continuation, tokens: Vec::new(), text });
        }
        Some(b'*') => {
            p.at += 1;
            Kind::Untagged
        }
        _ => Kind::Tagged(p.atom_text()),
    };
    p.space();
    let mut tokens = Vec::new();
    let first = p.token()?;
    let status = first
        .atom()
        .map(|w| matches!(w.to_ascii_uppercase().as_str(), "OK" | "NO" | "BAD" | "BYE" | "PREAUTH"))
        .unwrap_or(false);
    tokens.push(first);
    if status {
        p.space();
        if p.peek() == Some(b'[') {
            tokens.push(p.token()?);
            p.space();
        }
        let text = p.rest_of_line();
        return Ok(Response { kind, tokens, text });
    }
    // Bounded: each round consumes at least one byte or ends.
    loop {
        p.space();
        match p.peek() {
            None | Some(b'\r') | Some(b'\n') => break,
            _ => tokens.push(p.token()?),
        }
    }
    Ok(Response { kind, tokens, text: String::new() })
}

struct Parser<'a> {
    raw: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.raw.get(self.at).copied()
    }

    fn space(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn rest_of_line(&mut self) -> String {
        let start = self.at;
        while !matches!(self.peek(), None | Some(b'\r') | Some(b'\n')) {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.raw[start..self.at]).trim().to_owned()
    }

    fn garbage(&self, what: &str) -> WireError {
        let context =
            String::from_utf8_lossy(&self.raw[self.at.saturating_sub(20)..(self.at + 20).min(self.raw.len())])
                .into_owned();
        WireError::Garbage(format!("{what} near {context:?}"))
    }

    fn token(&mut self) -> Result<Value, WireError> {
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                Ok(Value::List(self.sequence(b')')?))
            }
            Some(b'[') => {
                self.at += 1;
                Ok(Value::Code(self.sequence(b']')?))
            }
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            Some(b'~') if self.raw.get(self.at + 1) == Some(&b'{') => {
                self.at += 1;
                self.literal()
            }
            Some(_) => {
                let atom = self.atom_text();
                if atom.is_empty() {
                    return Err(self.garbage("an empty atom"));
                }
                Ok(if atom.eq_ignore_ascii_case("NIL") { Value::Nil } else { Value::Atom(atom) })
            }
            None => Err(self.garbage("the end of the response")),
        }
    }

    fn sequence(&mut self, close: u8) -> Result<Vec<Value>, WireError> {
        let mut items = Vec::new();
        loop {
            self.space();
            match self.peek() {
                Some(b) if b == close => {
                    self.at += 1;
                    return Ok(items);
                }
                None | Some(b'\r') | Some(b'\n') => return Err(self.garbage("an unclosed list")),
                _ => items.push(self.token()?),
            }
        }
    }

    /// An atom; a `[` inside it (a fetch item's section) runs to its matching `]`, spaces
    /// and parentheses included.
    fn atom_text(&mut self) -> String {
        let start = self.at;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'(' | b')' | b']' | b'\r' | b'\n' | b'"' | b'{' => break,
                b'[' if self.at > start => {
                    let mut depth = 0usize;
                    while let Some(b) = self.peek() {
                        self.at += 1;
                        match b {
                            b'[' => depth += 1,
                            b']' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            b'\r' | b'\n' => break,
                            _ => {}
                        }
                    }
                }
                b'[' => break,
                _ => self.at += 1,
            }
        }
        String::from_utf8_lossy(&self.raw[start..self.at]).into_owned()
    }

    fn quoted(&mut self) -> Result<Value, WireError> {
        self.at += 1;
        let mut text = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Value::Text(Bytes::from(text)));
                }
                Some(b'\\') => {
                    let escaped = self.raw.get(self.at + 1).copied().ok_or_else(|| self.garbage("a bare backslash"))?;
                    text.push(escaped);
                    self.at += 2;
                }
                Some(b'\r') | Some(b'\n') | None => return Err(self.garbage("an unclosed quoted string")),
                Some(b) => {
                    text.push(b);
                    self.at += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Value, WireError> {
        let close = self.raw[self.at..].iter().position(|&b| b == b'}').ok_or_else(|| self.garbage("a literal"))?;
        let digits = &self.raw[self.at + 1..self.at + close];
        let digits = digits.strip_suffix(b"+").unwrap_or(digits);
        let length: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| self.garbage("a literal's length"))?;
        self.at += close + 1;
        if self.raw[self.at..].starts_with(b"\r\n") {
            self.at += 2;
        } else if self.peek() == Some(b'\n') {
            self.at += 1;
        } else {
            return Err(self.garbage("a literal without its line end"));
        }
        let end = self.at + length;
        let content = self.raw.get(self.at..end).ok_or_else(|| self.garbage("a short literal"))?;
        self.at = end;
        Ok(Value::Text(Bytes::copy_from_slice(content)))
    }
}

/// One piece of a command as sent.
#[derive(Clone, Debug)]
pub enum Part {
    /// Written as it is (the tag and a space are added in front of the first piece).
    Raw(String),
    /// A literal (RFC 3501 §4.3): `{n}` or, with LITERAL+ (RFC 7888), `{n+}`, then the bytes.
    Literal(Bytes),
}

/// A command under construction: raw words, strings quoted where they can be, literals
/// where they must be.
#[derive(Clone, Debug, Default)]
pub struct Command {
    pub parts: Vec<Part>,
}

impl Command {
    pub fn new(words: &str) -> Command {
        Command { parts: vec![Part::Raw(words.to_owned())] }
    }

    /// Appends raw words, after a space.
    pub fn raw(mut self, words: &str) -> Command {
        self.push_raw(" ");
        self.push_raw(words);
        self
    }

    /// Appends a string argument, after a space: quoted when it is short 7-bit text without
    /// line ends, else a literal.
    pub fn string(mut self, text: &str) -> Command {
        self.push_raw(" ");
        if text.len() < 1000 && text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
            self.push_raw(&format!("\"{quoted}\""));
        } else {
            self.parts.push(Part::Literal(Bytes::copy_from_slice(text.as_bytes())));
        }
        self
    }

    /// Appends a literal, after a space.
    pub fn literal(mut self, bytes: Bytes) -> Command {
        self.push_raw(" ");
        self.parts.push(Part::Literal(bytes));
        self
    }

    fn push_raw(&mut self, text: &str) {
        match self.parts.last_mut() {
            Some(Part::Raw(last)) => last.push_str(text),
            _ => self.parts.push(Part::Raw(text.to_owned())),
        }
    }

    /// The command as logged: literals by length only (an APPEND carries a user's data).
    pub fn describe(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Raw(text) => text.clone(),
                Part::Literal(bytes) => format!("{{{} bytes}}", bytes.len()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_fetch_with_literals_and_sections_reads_as_a_tree() {
        let wire: &[u8] = b"* 3 FETCH (UID 7 MODSEQ (12) BINARY[1] ~{5}\r\na\0b\r\n \
BODY[HEADER.FIELDS (X-CALDAV-RESOURCE)] {26}\r\nX-CalDAV-Resource: a.ics\r\n FLAGS (\\Seen))\r\n* OK x\r\n";
        let mut reader = tokio::io::BufReader::new(wire);
        let r = read_response(&mut reader, 1 << 20).await.unwrap();
        assert_eq!(r.kind, Kind::Untagged);
        assert_eq!(r.tokens[0], Value::Atom("3".into()));
        let items = r.tokens[2].list().unwrap();
        assert_eq!(items[0], Value::Atom("UID".into()));
        assert_eq!(items[3], Value::List(vec![Value::Atom("12".into())]));
        assert_eq!(items[4], Value::Atom("BINARY[1]".into()));
        assert_eq!(items[5], Value::Text(Bytes::from_static(b"a\0b\r\n")));
        assert_eq!(items[6], Value::Atom("BODY[HEADER.FIELDS (X-CALDAV-RESOURCE)]".into()));
        assert_eq!(items[7].bytes().unwrap().as_ref(), b"X-CalDAV-Resource: a.ics\r\n");
        assert_eq!(items[9], Value::List(vec![Value::Atom("\\Seen".into())]));
        let next = read_response(&mut reader, 1 << 20).await.unwrap();
        assert_eq!(next.status().as_deref(), Some("OK"));
    }

    #[test]
    fn status_responses_keep_their_code_and_text() {
        let r = parse(b"a12 NO [ALREADYEXISTS] Mailbox \"x\" exists\r\n").unwrap();
        assert_eq!(r.kind, Kind::Tagged("a12".into()));
        assert_eq!(r.status().as_deref(), Some("NO"));
        assert!(r.has_code("ALREADYEXISTS"));
        assert_eq!(r.text, "Mailbox \"x\" exists");
        let r = parse(b"a3 OK [MODIFIED 7,9:11] Conditional store failed\r\n").unwrap();
        assert_eq!(r.code().unwrap()[1], Value::Atom("7,9:11".into()));
        let r = parse(b"* VANISHED (EARLIER) 1:3,5\r\n").unwrap();
        assert_eq!(r.tokens[1], Value::List(vec![Value::Atom("EARLIER".into())]));
        let r = parse(b"+ go ahead\r\n").unwrap();
        assert_eq!(r.kind, Kind::Continuation);
    }

    #[tokio::test]
    async fn an_answer_past_the_limit_is_refused() {
        let wire: &[u8] = b"* 1 FETCH (BINARY[1] {100}\r\n";
        let mut reader = tokio::io::BufReader::new(wire);
        assert!(matches!(read_response(&mut reader, 50).await, Err(WireError::TooLong(50))));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for raw in [&b"* 1 FETCH (UID\r\n"[..], b"* X \"open\r\n", b"* X {9}\r\nab", b"* X ~{z}\r\n", b""] {
            let _ = parse(raw);
        }
        assert!(parse(b"* 1 FETCH (UID\r\n").is_err());
    }

    #[test]
    fn strings_are_quoted_or_sent_as_literals() {
        let c = Command::new("SELECT").string("Calendars/a \"b\"").string("caf\u{e9}");
        assert_eq!(c.describe(), "SELECT \"Calendars/a \\\"b\\\"\" {5 bytes}");
    }
}
