//! `calendar-color` (CalendarServer extension, namespace `http://apple.com/ns/ical/`) as the
//! clients write it: Apple Calendar (iOS, macOS) writes `#RRGGBBAA`; DAVx5 4.5 writes
//! `#RRGGBB` (`DavUtils.argbToHexColor`) and reads both; some web clients send a CSS colour
//! name. Hex is kept as written, since the client that wrote it reads it back; a name is stored
//! as its hex value because iOS and DAVx5 parse only the hex forms. What each client reads
//! back: docs/clients/.

/// The value to store for what a client sent, or None when it is no colour at all.
pub fn accept(text: &str) -> Option<String> {
    let text = text.trim();
    let hex = text.strip_prefix('#').unwrap_or("");
    if (hex.len() == 6 || hex.len() == 8) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(text.to_owned());
    }
    css_color(text).map(str::to_owned)
}

/// The CSS basic colours and the common extended ones.
fn css_color(name: &str) -> Option<&'static str> {
    const NAMES: &[(&str, &str)] = &[
        ("black", "#000000"),
        ("white", "#FFFFFF"),
        ("red", "#FF0000"),
        ("green", "#008000"),
        ("blue", "#0000FF"),
        ("yellow", "#FFFF00"),
        ("orange", "#FFA500"),
        ("purple", "#800080"),
        ("pink", "#FFC0CB"),
        ("brown", "#A52A2A"),
        ("gray", "#808080"),
        ("grey", "#808080"),
        ("silver", "#C0C0C0"),
        ("navy", "#000080"),
        ("teal", "#008080"),
        ("olive", "#808000"),
        ("maroon", "#800000"),
        ("lime", "#00FF00"),
        ("aqua", "#00FFFF"),
        ("cyan", "#00FFFF"),
        ("fuchsia", "#FF00FF"),
        ("magenta", "#FF00FF"),
        ("violet", "#EE82EE"),
        ("indigo", "#4B0082"),
        ("gold", "#FFD700"),
        ("coral", "#FF7F50"),
        ("turquoise", "#40E0D0"),
    ];
    NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, hex)| *hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_with_and_without_alpha_is_kept_and_names_become_hex() {
        assert_eq!(accept("#FF000080").as_deref(), Some("#FF000080"));
        assert_eq!(accept(" #a1b2c3 ").as_deref(), Some("#a1b2c3"));
        assert_eq!(accept("Blue").as_deref(), Some("#0000FF"));
        for bad in ["#12", "reddish", "#GGGGGG", "", "#"] {
            assert_eq!(accept(bad), None, "{bad}");
        }
    }
}
