//! `xml:lang` of a dead property (RFC 4918 §4.3, §4.4: the language a property value was set
//! in is part of it and must come back from PROPFIND).
//!
//! A dead property is stored as its inner XML only (`store::DeadProperty::xml`), so the
//! language travels in front of that content as a processing instruction,
//! `<?dav-xml-lang en-US?>`. The request reader drops every processing instruction, so no
//! stored value written before this can start with one, and the string stays well-formed
//! XML content for a backend that looks at it. The multistatus writer takes it off again and
//! puts `xml:lang` on the property element.

/// The namespace the `xml` prefix is bound to (Namespaces in XML 1.0 §3).
pub(crate) const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

const OPEN: &str = "<?dav-xml-lang ";
const CLOSE: &str = "?>";

/// `content` with `language` carried in front of it; unchanged without one.
pub(crate) fn with_language(language: Option<&str>, content: String) -> String {
    match language.map(str::trim).filter(|l| is_language_tag(l)) {
        Some(language) => format!("{OPEN}{language}{CLOSE}{content}"),
        None => content,
    }
}

/// The language a stored value carries, and its content without it.
pub(crate) fn split_language(stored: &str) -> (Option<&str>, &str) {
    let Some(rest) = stored.strip_prefix(OPEN) else { return (None, stored) };
    match rest.split_once(CLOSE) {
        Some((language, content)) if is_language_tag(language) => (Some(language), content),
        _ => (None, stored),
    }
}

/// RFC 5646 tags are letters, digits and `-`; the empty value (XML 1.0 §2.12: "no
/// language") is kept too, as the explicit un-setting of an inherited one.
fn is_language_tag(text: &str) -> bool {
    text.len() <= 64 && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_round_trips_and_plain_values_are_untouched() {
        let stored = with_language(Some("en-US"), "Jim &amp; Roy".into());
        assert_eq!(stored, "<?dav-xml-lang en-US?>Jim &amp; Roy");
        assert_eq!(split_language(&stored), (Some("en-US"), "Jim &amp; Roy"));
        assert_eq!(split_language("<X:a xmlns:X=\"urn:x\"/>"), (None, "<X:a xmlns:X=\"urn:x\"/>"));
        assert_eq!(with_language(None, "x".into()), "x");
        assert_eq!(with_language(Some("en\"><evil"), "x".into()), "x");
        assert_eq!(split_language("<?dav-xml-lang \"?>x"), (None, "<?dav-xml-lang \"?>x"));
    }
}
