//! The URL space, parsed purely (no lookups): `/dav/` and below.
//!
//! ```text
//! /dav/                                   Root
//! /dav/principals/                        Principals
//! /dav/principals/{user}/                 Principal
//! /dav/calendars/                         Calendars
//! /dav/calendars/{user}/                  CalendarHome
//! /dav/calendars/{user}/{calendar}/       Calendar
//! /dav/calendars/{user}/{calendar}/{item} Object
//! /dav/calendars/{user}/{a}/{b}/          Calendar "a/b": a collection nested in plain collections
//! /dav/calendars/{user}/{a}/{b}/{file}    Object in collection "a/b"
//! /dav/calendars/{user}/outbox/           ScheduleOutbox (RFC 6638 §2.1)
//! ```
//! The schedule inbox (RFC 6638 §2.2) is a stored folder, so `/dav/calendars/{user}/inbox/`
//! parses as a `Calendar` named [`SCHEDULE_INBOX`] and its messages as objects in it; the
//! outbox is no folder (nothing is ever stored in it), so it has a path of its own. Both names
//! are reserved at the top of a home ([`is_reserved_folder`]).
//! Below the home, a path ending in `/` names a collection; one without names an object in
//! the collection above it, except that one segment always names a collection (clients drop
//! the slash of a calendar). The gateway corrects the rest when the name turns out to be a
//! collection. Collections nest at most [`MAX_DEPTH`] deep.
//! Segments are percent-decoded on parse and encoded again by the `*_href` builders, so a
//! user `a@b.example` or an item `x y.ics` round-trip. A segment that is empty, `.`, `..`,
//! contains `/` (after decoding), a NUL or control character, or is longer than 255 bytes
//! is refused.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The mount point of the DAV tree.
pub const DAV_ROOT: &str = "/dav/";

/// URL segment of a user's schedule inbox (RFC 6638 §2.2), a folder of the home.
pub const SCHEDULE_INBOX: &str = "inbox";
/// URL segment of a user's schedule outbox (RFC 6638 §2.1), which only takes POSTs.
pub const SCHEDULE_OUTBOX: &str = "outbox";

/// How many segments a path below a calendar home may have.
pub const MAX_DEPTH: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourcePath {
    Root,
    Principals,
    Principal {
        user: String,
    },
    Calendars,
    CalendarHome {
        user: String,
    },
    /// A collection in the home; `calendar` is its folder name, segments joined by `/`.
    Calendar {
        user: String,
        calendar: String,
    },
    Object {
        user: String,
        calendar: String,
        item: String,
    },
    /// The user's schedule outbox: free-busy requests are POSTed here (RFC 6638 §5).
    ScheduleOutbox {
        user: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Outside `/dav/`, or deeper than an object: 404.
    #[error("no such resource")]
    NotFound,
    /// A segment that can never name a resource: 400.
    #[error("invalid path segment")]
    InvalidSegment,
}

impl ResourcePath {
    /// Parses an absolute request path (percent-encoded as on the wire, without query).
    /// An href in a request body may be a full URL (`https://host/dav/...`): `parse_href`.
    pub fn parse(path: &str) -> Result<ResourcePath, PathError> {
        let path = path.split('?').next().unwrap_or("");
        // A request target has no fragment (RFC 9112 §3.2); guessing what `coll/#frag` meant
        // could delete the collection.
        if path.contains('#') {
            return Err(PathError::InvalidSegment);
        }
        let collection = path.ends_with('/');
        let mut segments = Vec::new();
        for raw in path.split('/').filter(|s| !s.is_empty()) {
            segments.push(decode_segment(raw)?);
        }
        let mut rest = segments.iter().map(String::as_str);
        if rest.next() != Some("dav") {
            return Err(PathError::NotFound);
        }
        let owned = |s: &str| s.to_owned();
        if segments.len() > 4 {
            // Nested: /dav/calendars/{user}/{a}/{b}/...
            if segments[1] != "calendars" || segments.len() > 3 + MAX_DEPTH {
                return Err(PathError::NotFound);
            }
            let user = segments[2].clone();
            let below = &segments[3..];
            return Ok(if collection {
                ResourcePath::Calendar { user, calendar: below.join("/") }
            } else {
                let (item, parent) = below.split_last().ok_or(PathError::NotFound)?;
                ResourcePath::Object { user, calendar: parent.join("/"), item: item.clone() }
            });
        }
        let parsed = match (rest.next(), rest.next(), rest.next(), rest.next(), rest.next()) {
            (None, ..) => ResourcePath::Root,
            (Some("principals"), None, ..) => ResourcePath::Principals,
            (Some("principals"), Some(user), None, ..) => ResourcePath::Principal { user: owned(user) },
            (Some("calendars"), None, ..) => ResourcePath::Calendars,
            (Some("calendars"), Some(user), None, ..) => ResourcePath::CalendarHome { user: owned(user) },
            (Some("calendars"), Some(user), Some(SCHEDULE_OUTBOX), None, _) => {
                ResourcePath::ScheduleOutbox { user: owned(user) }
            }
            (Some("calendars"), Some(user), Some(calendar), None, _) => {
                ResourcePath::Calendar { user: owned(user), calendar: owned(calendar) }
            }
            (Some("calendars"), Some(user), Some(calendar), Some(item), None) if collection => {
                ResourcePath::Calendar { user: owned(user), calendar: format!("{calendar}/{item}") }
            }
            (Some("calendars"), Some(user), Some(calendar), Some(item), None) => {
                ResourcePath::Object { user: owned(user), calendar: owned(calendar), item: owned(item) }
            }
            _ => return Err(PathError::NotFound),
        };
        Ok(parsed)
    }

    /// Like `parse`, but also accepts an absolute URL and keeps only its path (RFC 4918 §8.3).
    pub fn parse_href(href: &str) -> Result<ResourcePath, PathError> {
        let href = href.trim();
        for scheme in ["https://", "http://"] {
            // `get` rather than slicing: an href like `/dav/cé` has no char boundary at the
            // scheme's length, and slicing there panicked (a 500 for a client's typo).
            if let Some(after) = href
                .get(..scheme.len())
                .filter(|p| p.eq_ignore_ascii_case(scheme))
                .and_then(|_| href.get(scheme.len()..))
            {
                let path = after.find('/').and_then(|i| after.get(i..)).unwrap_or("/");
                return ResourcePath::parse(path);
            }
        }
        if href.starts_with('/') {
            ResourcePath::parse(href)
        } else {
            Err(PathError::NotFound)
        }
    }

    /// The canonical percent-encoded href; collections end with `/`.
    pub fn href(&self) -> String {
        let e = encode_segment;
        match self {
            ResourcePath::Root => DAV_ROOT.to_owned(),
            ResourcePath::Principals => format!("{DAV_ROOT}principals/"),
            ResourcePath::Principal { user } => format!("{DAV_ROOT}principals/{}/", e(user)),
            ResourcePath::Calendars => format!("{DAV_ROOT}calendars/"),
            ResourcePath::CalendarHome { user } => format!("{DAV_ROOT}calendars/{}/", e(user)),
            ResourcePath::Calendar { user, calendar } => calendar_href(user, calendar),
            ResourcePath::Object { user, calendar, item } => object_href(user, calendar, item),
            ResourcePath::ScheduleOutbox { user } => format!("{DAV_ROOT}calendars/{}/{SCHEDULE_OUTBOX}/", e(user)),
        }
    }

    /// The user the path belongs to, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            ResourcePath::Principal { user }
            | ResourcePath::CalendarHome { user }
            | ResourcePath::Calendar { user, .. }
            | ResourcePath::Object { user, .. }
            | ResourcePath::ScheduleOutbox { user } => Some(user),
            ResourcePath::Root | ResourcePath::Principals | ResourcePath::Calendars => None,
        }
    }
}

/// Characters kept literal in a segment: RFC 3986 unreserved and the sub-delims and `@`/`:`
/// that are legal in a path segment and common in user names (`a@b.example`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'+')
    .remove(b':')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

fn push_segment(out: &mut String, segment: &str) {
    out.extend(utf8_percent_encode(segment, SEGMENT));
}

/// A folder name, `/`-joined segments, each encoded.
fn push_folder(out: &mut String, name: &str) {
    for (index, segment) in name.split('/').enumerate() {
        if index > 0 {
            out.push('/');
        }
        push_segment(out, segment);
    }
}

/// `/dav/calendars/{user}/{folder}/`, the start of every href in a calendar, written into a
/// buffer with room for `rest` more bytes (one href per member of a listing).
fn folder_href(user: &str, calendar: &str, rest: usize) -> String {
    let mut out = String::with_capacity(DAV_ROOT.len() + "calendars///".len() + user.len() + calendar.len() + rest);
    out.push_str(DAV_ROOT);
    out.push_str("calendars/");
    push_segment(&mut out, user);
    out.push('/');
    push_folder(&mut out, calendar);
    out.push('/');
    out
}

/// Whether `name` is a folder name only scheduling may use: `inbox` and `outbox` at the top
/// of a home (MKCALENDAR, MKCOL, COPY and MOVE to them are refused, whether or not scheduling
/// is on for the user, so turning it on later never finds a calendar in their place).
pub fn is_reserved_folder(name: &str) -> bool {
    name == SCHEDULE_INBOX || name == SCHEDULE_OUTBOX
}

/// The folder a nested folder lives in, `None` for one at the top of the home.
pub fn parent_folder(name: &str) -> Option<&str> {
    name.rsplit_once('/').map(|(parent, _)| parent)
}

fn decode_segment(raw: &str) -> Result<String, PathError> {
    let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| PathError::InvalidSegment)?;
    let valid = !decoded.is_empty()
        && decoded != "."
        && decoded != ".."
        && decoded.len() <= 255
        && !decoded.contains('/')
        && !decoded.chars().any(char::is_control);
    if valid {
        Ok(decoded.into_owned())
    } else {
        Err(PathError::InvalidSegment)
    }
}

pub fn principal_href(user: &str) -> String {
    ResourcePath::Principal { user: user.to_owned() }.href()
}

pub fn calendar_home_href(user: &str) -> String {
    ResourcePath::CalendarHome { user: user.to_owned() }.href()
}

pub fn calendar_href(user: &str, calendar: &str) -> String {
    folder_href(user, calendar, 0)
}

pub fn schedule_inbox_href(user: &str) -> String {
    calendar_href(user, SCHEDULE_INBOX)
}

pub fn schedule_outbox_href(user: &str) -> String {
    ResourcePath::ScheduleOutbox { user: user.to_owned() }.href()
}

pub fn object_href(user: &str, calendar: &str, item: &str) -> String {
    let mut out = folder_href(user, calendar, item.len());
    push_segment(&mut out, item);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_with_and_without_trailing_slash() {
        assert_eq!(ResourcePath::parse("/dav"), Ok(ResourcePath::Root));
        assert_eq!(ResourcePath::parse("/dav/"), Ok(ResourcePath::Root));
        assert_eq!(
            ResourcePath::parse("/dav/calendars/alice"),
            Ok(ResourcePath::CalendarHome { user: "alice".into() })
        );
        assert_eq!(
            ResourcePath::parse("//dav//calendars/alice/work"),
            Ok(ResourcePath::Calendar { user: "alice".into(), calendar: "work".into() })
        );
    }

    #[test]
    fn segments_round_trip_through_href() {
        let path =
            ResourcePath::Object { user: "a@b.example".into(), calendar: "my cal".into(), item: "ü%1.ics".into() };
        let href = path.href();
        assert_eq!(href, "/dav/calendars/a@b.example/my%20cal/%C3%BC%251.ics");
        assert_eq!(ResourcePath::parse(&href), Ok(path));
    }

    #[test]
    fn traversal_and_control_characters_are_refused() {
        assert_eq!(ResourcePath::parse("/dav/calendars/alice/../bob/"), Err(PathError::InvalidSegment));
        assert_eq!(ResourcePath::parse("/dav/calendars/alice/%2e%2e/"), Err(PathError::InvalidSegment));
        assert_eq!(ResourcePath::parse("/dav/calendars/a%2Fb/"), Err(PathError::InvalidSegment));
        assert_eq!(ResourcePath::parse("/dav/calendars/a%00/"), Err(PathError::InvalidSegment));
        assert_eq!(ResourcePath::parse("/dav/calendars/%FF/"), Err(PathError::InvalidSegment));
    }

    #[test]
    fn other_trees_and_deeper_paths_are_not_found() {
        assert_eq!(ResourcePath::parse("/other/"), Err(PathError::NotFound));
        assert_eq!(ResourcePath::parse("/dav/files/"), Err(PathError::NotFound));
        assert_eq!(ResourcePath::parse("/dav/principals/a/b/c/d"), Err(PathError::NotFound));
        let deep = format!("/dav/calendars/a/{}", "x/".repeat(MAX_DEPTH + 1));
        assert_eq!(ResourcePath::parse(&deep), Err(PathError::NotFound));
    }

    #[test]
    fn outbox_has_its_own_path_and_inbox_is_a_folder() {
        let outbox = ResourcePath::ScheduleOutbox { user: "a@b.example".into() };
        assert_eq!(ResourcePath::parse("/dav/calendars/a@b.example/outbox/"), Ok(outbox.clone()));
        assert_eq!(ResourcePath::parse("/dav/calendars/a@b.example/outbox"), Ok(outbox.clone()));
        assert_eq!(outbox.href(), "/dav/calendars/a@b.example/outbox/");
        assert_eq!(schedule_outbox_href("a"), "/dav/calendars/a/outbox/");
        assert_eq!(
            ResourcePath::parse(&schedule_inbox_href("a")),
            Ok(ResourcePath::Calendar { user: "a".into(), calendar: "inbox".into() })
        );
        // Nothing lives in the outbox; a member path names an object of a folder that is not there.
        assert_eq!(
            ResourcePath::parse("/dav/calendars/a/outbox/x.ics"),
            Ok(ResourcePath::Object { user: "a".into(), calendar: "outbox".into(), item: "x.ics".into() })
        );
        assert!(is_reserved_folder("inbox") && is_reserved_folder("outbox"));
        assert!(!is_reserved_folder("docs/inbox") && !is_reserved_folder("Inbox"));
    }

    #[test]
    fn fragments_are_refused() {
        assert_eq!(ResourcePath::parse("/dav/calendars/a/frag/#ment"), Err(PathError::InvalidSegment));
    }

    #[test]
    fn nested_collections_and_their_files() {
        assert_eq!(
            ResourcePath::parse("/dav/calendars/a/litmus/coll/"),
            Ok(ResourcePath::Calendar { user: "a".into(), calendar: "litmus/coll".into() })
        );
        let file = ResourcePath::parse("/dav/calendars/a/litmus/c%20d/res-%e2%82%ac").unwrap();
        assert_eq!(
            file,
            ResourcePath::Object { user: "a".into(), calendar: "litmus/c d".into(), item: "res-€".into() }
        );
        assert_eq!(file.href(), "/dav/calendars/a/litmus/c%20d/res-%E2%82%AC");
        assert_eq!(parent_folder("litmus/c d"), Some("litmus"));
        assert_eq!(parent_folder("litmus"), None);
    }

    #[test]
    fn hrefs_may_be_absolute_urls() {
        assert_eq!(
            ResourcePath::parse_href("https://cal.example:8443/dav/calendars/alice/work/1.ics"),
            Ok(ResourcePath::Object { user: "alice".into(), calendar: "work".into(), item: "1.ics".into() })
        );
        assert_eq!(ResourcePath::parse_href("relative/1.ics"), Err(PathError::NotFound));
    }

    #[test]
    fn hrefs_with_non_ascii_characters_at_any_byte_offset_do_not_panic() {
        // `é` straddles byte 7 (the length of `http://`) or byte 8 (`https://`).
        assert_eq!(ResourcePath::parse_href("/dav/cé"), Err(PathError::NotFound));
        assert_eq!(ResourcePath::parse_href("/davé"), Err(PathError::NotFound));
        assert_eq!(
            ResourcePath::parse_href("/dav/calendars/é/ü/ö.ics"),
            Ok(ResourcePath::Object { user: "é".into(), calendar: "ü".into(), item: "ö.ics".into() })
        );
        assert_eq!(
            ResourcePath::parse_href("https://cé.example/dav/calendars/a/c%C3%A9/"),
            Ok(ResourcePath::Calendar { user: "a".into(), calendar: "cé".into() })
        );
        for prefix in ["", "h", "ht", "htt", "http", "http:", "http:/", "http://", "https://"] {
            for tail in ["é", "€", "😀", "é/dav/", "€x"] {
                let _ = ResourcePath::parse_href(&format!("{prefix}{tail}"));
            }
        }
    }
}
