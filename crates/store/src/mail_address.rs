//! The mail address a user is known by when the mail system names none.
//!
//! RFC 6638 §2.4.1: a principal's `calendar-user-address-set` is how organizers and
//! attendees find each other, and iOS and macOS hide every scheduling feature from a user
//! whose set holds no `mailto:` address. So each user gets one: the address the mail system
//! states (embedded `user add --email`, JMAP `Identity/get`), else the login when it already
//! is an address, else `<login>@<mail domain>`. Both backends use these functions, so the
//! rule is the same whatever stores the calendars.
//!
//! Only syntactically valid addresses (RFC 5322 §3.4.1 addr-spec) come out of here: a login
//! that is no dot-atom becomes a quoted local part, and a domain that is no host name gives
//! no address at all rather than an invalid one.

/// The host name used when nothing better is configured: always a valid domain.
pub const FALLBACK_MAIL_DOMAIN: &str = "localhost";

/// Whether `domain` is a host name usable after the `@` (RFC 1123 §2.1 labels: letters,
/// digits and inner hyphens, 1 to 63 octets each, at most 253 in all).
pub fn is_mail_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// RFC 5322 §3.2.3 atext: what a local part may hold without quotes.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// RFC 5322 §3.2.3 dot-atom-text: atoms of atext joined by single dots.
fn is_dot_atom(text: &str) -> bool {
    !text.is_empty() && text.split('.').all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// Whether `text` already is an address `local@domain` with a dot-atom local part.
pub fn is_mail_address(text: &str) -> bool {
    match text.rsplit_once('@') {
        Some((local, domain)) => is_dot_atom(local) && is_mail_domain(domain),
        None => false,
    }
}

/// The address of a user the mail system names no address for: the login itself when it
/// is an address, else the login at `domain`. `None` only when `domain` is no host name or
/// the login holds characters no address can (control characters, non-ASCII).
pub fn login_address(login: &str, domain: &str) -> Option<String> {
    if is_mail_address(login) {
        return Some(login.to_owned());
    }
    if !is_mail_domain(domain) || login.is_empty() {
        return None;
    }
    if is_dot_atom(login) {
        return Some(format!("{login}@{domain}"));
    }
    // RFC 5322 §3.2.4 quoted-string: printable ASCII and space, `"` and `\` escaped.
    if !login.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return None;
    }
    let quoted: String =
        login.chars().flat_map(|c| if c == '"' || c == '\\' { vec!['\\', c] } else { vec![c] }).collect();
    Some(format!("\"{quoted}\"@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_login_gets_the_mail_domain() {
        assert_eq!(login_address("alice", "mail.example").as_deref(), Some("alice@mail.example"));
        assert_eq!(login_address("a.b+c", "example.org").as_deref(), Some("a.b+c@example.org"));
    }

    #[test]
    fn login_that_is_an_address_is_kept() {
        assert_eq!(login_address("bob@example.org", "other.test").as_deref(), Some("bob@example.org"));
        // Kept even when no domain is usable: the login needs none.
        assert_eq!(login_address("bob@example.org", "").as_deref(), Some("bob@example.org"));
    }

    #[test]
    fn login_with_at_but_no_valid_domain_is_quoted_at_the_mail_domain() {
        assert_eq!(login_address("bob@", "example.org").as_deref(), Some("\"bob@\"@example.org"));
    }

    #[test]
    fn login_that_is_no_dot_atom_becomes_a_quoted_local_part() {
        assert_eq!(login_address("ann lee", "example.org").as_deref(), Some("\"ann lee\"@example.org"));
        assert_eq!(login_address(".x", "example.org").as_deref(), Some("\".x\"@example.org"));
        assert_eq!(login_address("a\"b\\c", "example.org").as_deref(), Some("\"a\\\"b\\\\c\"@example.org"));
    }

    #[test]
    fn invalid_domain_or_unprintable_login_gives_no_address() {
        assert_eq!(login_address("alice", ""), None);
        assert_eq!(login_address("alice", "bad_domain"), None);
        assert_eq!(login_address("alice", "-x.example"), None);
        assert_eq!(login_address("alice", "a..example"), None);
        assert_eq!(login_address("", "example.org"), None);
        assert_eq!(login_address("al\nice", "example.org"), None);
    }

    #[test]
    fn host_names_are_mail_domains() {
        assert!(is_mail_domain(FALLBACK_MAIL_DOMAIN));
        assert!(is_mail_domain("mail-1.example.co.uk"));
        assert!(!is_mail_domain(&"a".repeat(64)));
        assert!(!is_mail_domain("example.org."));
        assert!(!is_mail_domain("exa mple.org"));
    }
}
