//! DAV request headers and the one place ETags get their quotes.

use crate::error::ParseError;

/// RFC 4918 §10.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    Zero,
    One,
    Infinity,
}

/// Parses a `Depth` header value (`0`, `1`, `infinity`, case-insensitive, surrounding
/// whitespace ignored). `None` input gives `Ok(None)`; anything else is `ParseError::Header("Depth")`.
pub fn parse_depth(value: Option<&str>) -> Result<Option<Depth>, ParseError> {
    let Some(value) = value else { return Ok(None) };
    match value.trim().to_ascii_lowercase().as_str() {
        "0" => Ok(Some(Depth::Zero)),
        "1" => Ok(Some(Depth::One)),
        "infinity" => Ok(Some(Depth::Infinity)),
        _ => Err(ParseError::Header("Depth")),
    }
}

/// If-Match / If-None-Match as a condition (RFC 7232 §3.1, §3.2). Entity tags are kept bare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conditional {
    None,
    /// `If-Match: *`
    Exists,
    /// `If-None-Match: *`
    NotExists,
    /// `If-Match: "a", "b"` (weak tags never match a strong comparison, so they are dropped;
    /// an all-weak list stays an empty `Matches` that nothing satisfies).
    Matches(Vec<String>),
    /// `If-None-Match: "a", "b"`
    NoneMatch(Vec<String>),
}

/// Combines both headers. Both present at once is `ParseError::Header("If-Match")`; a
/// malformed list (unquoted tag, garbage) is an error too.
pub fn parse_conditional(if_match: Option<&str>, if_none_match: Option<&str>) -> Result<Conditional, ParseError> {
    match (if_match, if_none_match) {
        (None, None) => Ok(Conditional::None),
        (Some(_), Some(_)) => Err(ParseError::Header("If-Match")),
        (Some(value), None) => match entity_tags(value, "If-Match")? {
            None => Ok(Conditional::Exists),
            Some(tags) => Ok(Conditional::Matches(tags)),
        },
        (None, Some(value)) => match entity_tags(value, "If-None-Match")? {
            None => Ok(Conditional::NotExists),
            Some(tags) => Ok(Conditional::NoneMatch(tags)),
        },
    }
}

/// `*` is `None`; otherwise the strong tags of a comma-separated list, unquoted.
fn entity_tags(value: &str, header: &'static str) -> Result<Option<Vec<String>>, ParseError> {
    let value = value.trim();
    if value == "*" {
        return Ok(None);
    }
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start();
        // strip_prefix/split_once rather than byte offsets: no slicing that a multi-byte
        // character could straddle.
        let (weak, tag) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let inner = tag.strip_prefix('"').ok_or(ParseError::Header(header))?;
        let (value, after) = inner.split_once('"').ok_or(ParseError::Header(header))?;
        if !weak {
            tags.push(value.to_owned());
        }
        rest = after.trim_start();
        if rest.is_empty() {
            return Ok(Some(tags));
        }
        rest = rest.strip_prefix(',').ok_or(ParseError::Header(header))?;
    }
}

/// `abc` -> `"abc"`
pub fn quote_etag(etag: &str) -> String {
    let mut quoted = String::with_capacity(etag.len() + 2);
    quoted.push('"');
    quoted.push_str(etag);
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_values() {
        assert_eq!(parse_depth(None), Ok(None));
        assert_eq!(parse_depth(Some(" 1 ")), Ok(Some(Depth::One)));
        assert_eq!(parse_depth(Some("Infinity")), Ok(Some(Depth::Infinity)));
        assert_eq!(parse_depth(Some("2")), Err(ParseError::Header("Depth")));
    }

    #[test]
    fn conditionals() {
        assert_eq!(parse_conditional(None, None), Ok(Conditional::None));
        assert_eq!(parse_conditional(Some("*"), None), Ok(Conditional::Exists));
        assert_eq!(parse_conditional(None, Some(" * ")), Ok(Conditional::NotExists));
        assert_eq!(
            parse_conditional(Some(r#""a", W/"b","c""#), None),
            Ok(Conditional::Matches(vec!["a".into(), "c".into()]))
        );
        assert_eq!(parse_conditional(None, Some(r#""x""#)), Ok(Conditional::NoneMatch(vec!["x".into()])));
        assert_eq!(parse_conditional(Some("abc"), None), Err(ParseError::Header("If-Match")));
        assert_eq!(parse_conditional(Some(r#""a" "b""#), None), Err(ParseError::Header("If-Match")));
        assert_eq!(parse_conditional(Some("*"), Some("*")), Err(ParseError::Header("If-Match")));
        assert_eq!(parse_conditional(Some(r#""é€", W/"ü""#), None), Ok(Conditional::Matches(vec!["é€".into()])));
        assert_eq!(parse_conditional(Some("W/é"), None), Err(ParseError::Header("If-Match")));
        assert_eq!(parse_conditional(Some(r#""é"é"#), None), Err(ParseError::Header("If-Match")));
    }
}
