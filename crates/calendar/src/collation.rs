//! RFC 5051 `i;unicode-casemap`: strings compared after mapping every character to its simple
//! titlecase form and decomposing the result (NFKD), so case, compatibility forms (full-width
//! letters) and precomposed vs. combining accents all compare equal.

use unicode_normalization::UnicodeNormalization;

/// The canonical form both sides of an `i;unicode-casemap` comparison are brought into.
pub fn unicode_casemap(text: &str) -> String {
    text.chars().map(simple_titlecase).nfkd().collect()
}

/// The simple (one character to one character) titlecase mapping of UnicodeData.txt. It is
/// the simple uppercase mapping except for the Latin digraphs, whose three case forms share a
/// distinct titlecase letter. Characters whose only uppercase is several characters (`ß`,
/// `ŉ`) have no simple mapping and stay as they are, as RFC 5051 §2 specifies.
fn simple_titlecase(c: char) -> char {
    match c {
        '\u{01C4}'..='\u{01C6}' => '\u{01C5}',
        '\u{01C7}'..='\u{01C9}' => '\u{01C8}',
        '\u{01CA}'..='\u{01CC}' => '\u{01CB}',
        '\u{01F1}'..='\u{01F3}' => '\u{01F2}',
        _ => {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(single), None) => single,
                _ => c,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        unicode_casemap(a) == unicode_casemap(b)
    }

    #[test]
    fn case_accents_and_compatibility_forms_fold_together() {
        assert!(same("École", "ÉCOLE"));
        assert!(same("e\u{0301}cole", "École"), "combining accent equals precomposed");
        assert!(same("ＡＢＣ", "abc"), "full-width letters");
        assert!(same("ǆ", "ǅ") && same("Ǆ", "ǅ"), "digraph case forms");
        assert!(same("Ωmega", "ωMEGA"));
        assert!(same("Ꭰ", "ꭰ"), "Cherokee");
    }

    #[test]
    fn distinct_letters_stay_distinct() {
        assert!(!same("Straße", "STRASSE"), "ß has no simple titlecase");
        assert!(!same("résumé", "resume"), "accents are kept, only decomposed");
        // The ligature decomposes only after the case mapping (RFC 5051 §2 order), so its
        // letters keep their lower case and match neither spelling.
        assert!(!same("\u{FB01}le", "FILE") && !same("\u{FB01}le", "file"));
    }
}
