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

/// The tag name to write and, for a namespace without a fixed prefix, the declaration to add.
pub(crate) fn tag(name: &QName) -> (String, Option<String>) {
    if let Some(prefix) = fixed_prefix(&name.ns) {
        return (format!("{prefix}:{}", name.local), None);
    }
    if name.ns.is_empty() {
        // The root binds no default namespace, so an unprefixed name is in no namespace.
        return (name.local.clone(), None);
    }
    (format!("X:{}", name.local), Some(format!(r#" xmlns:X="{}""#, escape_attribute(&name.ns))))
}

/// Writes `<name attrs>content</name>` (or `<name attrs/>` when `content` is empty) to `out`.
pub(crate) fn element(
    out: &mut String,
    name: &QName,
    attributes: &[(String, String)],
    content: impl FnOnce(&mut String),
) {
    let (tag, declaration) = tag(name);
    out.push('<');
    out.push_str(&tag);
    if let Some(declaration) = declaration {
        out.push_str(&declaration);
    }
    for (key, value) in attributes {
        out.push(' ');
        out.push_str(key);
        out.push_str("=\"");
        out.push_str(&escape_attribute(value));
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
        out.push_str(&tag);
        out.push('>');
    }
}

pub(crate) fn escape_text(text: &str) -> String {
    escape(text, false)
}

pub(crate) fn escape_attribute(text: &str) -> String {
    escape(text, true)
}

/// Escapes markup characters and drops characters XML 1.0 cannot carry at all (control
/// characters other than tab, newline and carriage return; U+FFFE, U+FFFF), which could come
/// from a stored iCalendar body and would make the whole response unparsable.
fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_invalid_characters_dropped() {
        assert_eq!(escape_text("a<b & c>d\u{1}\u{FFFF}"), "a&lt;b &amp; c&gt;d");
        assert_eq!(escape_attribute("say \"hi\""), "say &quot;hi&quot;");
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
