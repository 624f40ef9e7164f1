//! Mailbox names on the wire: modified UTF-7 (RFC 3501 §5.1.3), which every IMAP4rev1
//! server speaks (UTF8=ACCEPT, RFC 6855, is not on Dovecot 2.3).

use base64::Engine;

const ALPHABET: base64::alphabet::Alphabet =
    match base64::alphabet::Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,") {
        Ok(alphabet) => alphabet,
        Err(_) => base64::alphabet::IMAP_MUTF7,
    };

fn engine() -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        &ALPHABET,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    )
}

/// `name` in modified UTF-7: printable ASCII as it is (`&` as `&-`), everything else as
/// base64 of its UTF-16 between `&` and `-`.
pub fn encode(name: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&engine().encode(bytes));
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// The name a server sent; `None` when it is not valid modified UTF-7.
pub fn decode(wire: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = wire;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('-')?;
        if end == 0 {
            out.push('&');
        } else {
            let bytes = engine().decode(&after[..end]).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
            out.push_str(&String::from_utf16(&units).ok()?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_round_trip_through_modified_utf7() {
        // RFC 3501 §5.1.3's example.
        assert_eq!(encode("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(), "~peter/mail/台北/日本語");
        for name in ["Calendars/Büro & Haus", "a&b", "😀 emoji", "plain"] {
            assert_eq!(decode(&encode(name)).unwrap(), name);
        }
        assert_eq!(encode("a&b"), "a&-b");
        assert_eq!(decode("&Jjo"), None);
    }
}
