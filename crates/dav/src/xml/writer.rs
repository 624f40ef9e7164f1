//! Writing XML: escaping and namespace prefixes.
//!
//! The four namespaces every response uses are declared once on the root with fixed prefixes
//! (D, C, CS, ICAL), which also keeps golden files readable. Any other namespace (a client's
//! dead property) gets a generated prefix declared on the element that uses it.

use crate::names::{QName, NS_APPLE_ICAL, NS_CALDAV, NS_CALENDARSERVER, NS_DAV};

pub(crate) const ROOT_NAMESPACES: &str = concat!(
    r#"xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" "#,
    r#"xmlns:CS="http://calendarserver.org/ns/" xmlns:ICAL="http://apple.com/ns/ical/""#
);

fn fixed_prefix(ns: &str) -> Option<&'static str> {
    match ns {
        NS_DAV => Some("D"),
        NS_CALDAV => Some("C"),
        NS_CALENDARSERVER => Some("CS"),
        NS_APPLE_ICAL => Some("ICAL"),
        _ => None,
    }
}

/// Writes the tag name of `{ns}local`; `true` when it needs the `X` prefix declared.
fn push_tag(out: &mut String, ns: &str, local: &str) -> bool {
    if let Some(prefix) = fixed_prefix(ns) {
        out.push_str(prefix);
        out.push(':');
        out.push_str(local);
        return false;
    }
    if ns.is_empty() {
        // The root binds no default namespace, so an unprefixed name is in no namespace.
        out.push_str(local);
        return false;
    }
    out.push_str("X:");
    out.push_str(local);
    true
}

/// Writes `<name attrs>content</name>` (or `<name attrs/>` when `content` is empty) to `out`.
pub(crate) fn element(
    out: &mut String,
    name: &QName,
    attributes: &[(String, String)],
    content: impl FnOnce(&mut String),
) {
    element_named(out, &name.ns, &name.local, attributes, content)
}

/// [`element`] for a name given as its parts, so writing a fixed name allocates nothing
/// (a multistatus of 10,000 members writes about twelve elements for each).
pub(crate) fn element_named(
    out: &mut String,
    ns: &str,
    local: &str,
    attributes: &[(String, String)],
    content: impl FnOnce(&mut String),
) {
    out.push('<');
    if push_tag(out, ns, local) {
        out.push_str(r#" xmlns:X=""#);
        push_escaped(out, ns, true);
        out.push('"');
    }
    for (key, value) in attributes {
        out.push(' ');
        out.push_str(key);
        out.push_str("=\"");
        push_escaped(out, value, true);
        out.push('"');
    }
    let start = out.len();
    out.push('>');
    content(out);
    if out.len() == start + 1 {
        // Nothing was written inside: use the short form.
        out.truncate(start);
        out.push_str("/>");
    } else {
        out.push_str("</");
        push_tag(out, ns, local);
        out.push('>');
    }
}

pub(crate) fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text, false);
    out
}

/// Appends `text` as character data (see [`push_escaped`]).
pub(crate) fn push_escaped_text(out: &mut String, text: &str) {
    push_escaped(out, text, false)
}

/// Appends `text` with markup characters escaped and the characters XML 1.0 cannot carry at
/// all dropped (control characters other than tab, newline and carriage return; U+FFFE,
/// U+FFFF), which could come from a stored iCalendar body and would make the whole response
/// unparsable.
///
/// Works on bytes and copies the runs between special characters whole: every byte that
/// needs attention is ASCII or the lead byte 0xEF of U+FFFE/U+FFFF, so runs always end on a
/// character boundary. (Calendar data is most of a multiget and has a CR on every line.)
fn push_escaped(out: &mut String, text: &str, attribute: bool) {
    let bytes = text.as_bytes();
    out.reserve(text.len());
    let mut run_start = 0;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let replacement: Option<&str> = match byte {
            b'&' => Some("&amp;"),
            b'<' => Some("&lt;"),
            b'>' => Some("&gt;"),
            b'"' if attribute => Some("&quot;"),
            b'\r' => Some("&#13;"),
            b'\t' | b'\n' => None,
            0x00..=0x1f => Some(""),
            0xef if bytes.get(index + 1) == Some(&0xbf) && matches!(bytes.get(index + 2), Some(0xbe | 0xbf)) => {
                out.push_str(&text[run_start..index]);
                index += 3;
                run_start = index;
                continue;
            }
            _ => None,
        };
        if let Some(replacement) = replacement {
            out.push_str(&text[run_start..index]);
            out.push_str(replacement);
            run_start = index + 1;
        }
        index += 1;
    }
    out.push_str(&text[run_start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_invalid_characters_dropped() {
        assert_eq!(escape_text("a<b & c>d\u{1}\u{FFFF}"), "a&lt;b &amp; c&gt;d");
        let mut attribute = String::new();
        push_escaped(&mut attribute, "say \"hi\"", true);
        assert_eq!(attribute, "say &quot;hi&quot;");
    }

    #[test]
    fn escaping_keeps_every_other_character_whole() {
        let text = "Müller \u{1F600} \u{FFFD}\u{FFFE}x\u{FFFF}\u{EFBF} a\tb\nc \u{7F}";
        assert_eq!(escape_text(text), "Müller \u{1F600} \u{FFFD}x\u{EFBF} a\tb\nc \u{7F}");
        assert_eq!(escape_text(""), "");
        assert_eq!(escape_text("&"), "&amp;");
        assert_eq!(escape_text("\u{FFFF}"), "");
    }

    #[test]
    fn carriage_returns_survive_a_round_trip() {
        // iCalendar bodies use CRLF; a raw CR would be normalised away by XML parsers.
        assert_eq!(escape_text("A\r\nB"), "A&#13;\nB");
    }

    #[test]
    fn unknown_namespaces_are_declared_where_used() {
        let mut out = String::new();
        element(&mut out, &QName::new("urn:x", "color"), &[], |o| o.push_str("red"));
        assert_eq!(out, r#"<X:color xmlns:X="urn:x">red</X:color>"#);
        let mut out = String::new();
        element(&mut out, &QName::dav("href"), &[], |_| {});
        assert_eq!(out, "<D:href/>");
    }
}
