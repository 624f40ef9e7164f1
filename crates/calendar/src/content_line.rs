//! RFC 5545 §3.1 content lines: unfolding and `NAME;PARAM=a,"b":value`.

use crate::component::Parameter;
use crate::error::InvalidCalendar;

/// One logical line, unfolded, with the number of its first physical line.
pub(crate) struct ContentLine {
    /// Upper-cased (names are case-insensitive, RFC 5545 §2).
    pub name: String,
    pub params: Vec<Parameter>,
    pub value: String,
}

/// Logical lines: a physical line starting with a space or tab continues the previous one,
/// minus that one character and nothing else. CRLF and bare LF both end a line (many
/// generators write LF only); blank lines are skipped.
///
/// A CR not followed by LF, and every other control character RFC 5545 §3.1 / §3.3.11 forbid
/// in a content line (CONTROL = %x00-08 / %x0A-1F / %x7F; HTAB is allowed), is refused: a
/// stored bare CR would be served back, and a client that splits lines on CR would then read
/// properties or components nobody validated.
pub(crate) fn unfold(text: &str) -> Result<Vec<(usize, String)>, InvalidCalendar> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (index, physical) in text.split('\n').enumerate() {
        let number = index + 1;
        let physical = physical.strip_suffix('\r').unwrap_or(physical);
        if let Some(control) = physical.chars().find(|c| is_forbidden_control(*c)) {
            let what = if control == '\r' {
                "a CR not followed by LF".to_owned()
            } else {
                format!("control character U+{:04X}", control as u32)
            };
            return Err(InvalidCalendar::Syntax { line: number, reason: what });
        }
        if let Some(continuation) = physical.strip_prefix([' ', '\t']) {
            if let Some((_, last)) = lines.last_mut() {
                last.push_str(continuation);
                continue;
            }
        }
        if !physical.is_empty() {
            lines.push((number, physical.to_owned()));
        }
    }
    // `split` leaves a final CR (text ending in "...\r" without LF) on the last piece, where
    // `strip_suffix` took it for a CRLF: it is a bare CR all the same.
    if text.ends_with('\r') {
        return Err(InvalidCalendar::Syntax {
            line: text.split('\n').count(),
            reason: "a CR not followed by LF".into(),
        });
    }
    Ok(lines)
}

/// RFC 5545 §3.1 CONTROL, which no content line may hold (LF never reaches here: it ends lines).
fn is_forbidden_control(c: char) -> bool {
    matches!(c, '\u{00}'..='\u{08}' | '\u{0A}'..='\u{1F}' | '\u{7F}')
}

pub(crate) fn parse_line(number: usize, line: &str) -> Result<ContentLine, InvalidCalendar> {
    let fail = |reason: &str| InvalidCalendar::Syntax { line: number, reason: reason.to_owned() };
    let name_end = line.find([';', ':']).ok_or_else(|| fail("no ':' in content line"))?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(fail("invalid property name"));
    }
    let mut rest = &line[name_end..];
    let mut params = Vec::new();
    while let Some(after) = rest.strip_prefix(';') {
        let eq = after.find('=').ok_or_else(|| fail("parameter without '='"))?;
        let param_name = &after[..eq];
        if param_name.is_empty() || !param_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(fail("invalid parameter name"));
        }
        let mut values = Vec::new();
        let mut cursor = &after[eq + 1..];
        loop {
            let (value, remainder) = if let Some(quoted) = cursor.strip_prefix('"') {
                let close = quoted.find('"').ok_or_else(|| fail("unterminated quoted parameter value"))?;
                (&quoted[..close], &quoted[close + 1..])
            } else {
                let end = cursor.find([',', ';', ':']).ok_or_else(|| fail("no ':' after parameters"))?;
                (&cursor[..end], &cursor[end..])
            };
            values.push(value.to_owned());
            match remainder.strip_prefix(',') {
                Some(next) => cursor = next,
                None => {
                    cursor = remainder;
                    break;
                }
            }
        }
        params.push(Parameter { name: param_name.to_ascii_uppercase(), values });
        rest = cursor;
    }
    let value = rest.strip_prefix(':').ok_or_else(|| fail("no ':' after parameters"))?;
    Ok(ContentLine { name: name.to_ascii_uppercase(), params, value: value.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolding_keeps_every_character_but_the_fold() {
        let lines = unfold("DESCRIPTION:hello \r\n world\r\n\tagain\r\nX:1\n").unwrap();
        assert_eq!(lines, vec![(1, "DESCRIPTION:hello worldagain".to_string()), (4, "X:1".to_string())]);
    }

    #[test]
    fn bare_cr_inside_a_value_is_refused_with_its_line() {
        let text = "BEGIN:VCALENDAR\r\nSUMMARY:a\rBEGIN:VEVENT\r\nEND:VCALENDAR\r\n";
        let error = unfold(text).unwrap_err();
        assert_eq!(error, InvalidCalendar::Syntax { line: 2, reason: "a CR not followed by LF".into() });
        assert!(error.to_string().contains("line 2"), "{error}");
        assert!(unfold("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r").is_err(), "a final CR without LF");
    }

    #[test]
    fn control_characters_are_refused_but_htab_and_lf_endings_are_not() {
        for control in ['\u{0}', '\u{7}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}', '\u{7f}'] {
            let text = format!("BEGIN:VCALENDAR\nX-A:1\nSUMMARY:a{control}b\nEND:VCALENDAR\n");
            match unfold(&text) {
                Err(InvalidCalendar::Syntax { line: 3, .. }) => {}
                other => panic!("U+{:04X}: {other:?}", control as u32),
            }
        }
        assert!(unfold("SUMMARY:a\tb\nX:1\n").is_ok());
        assert!(unfold("SUMMARY:a\r\nX:1\nY:2\r\n").is_ok(), "mixed CRLF and LF endings");
    }

    #[test]
    fn parameters_quoted_and_multi_valued() {
        let line =
            parse_line(1, r#"attendee;ROLE=REQ-PARTICIPANT;DELEGATED-TO="mailto:a@x","mailto:b@x";CN=A:mailto:c@x"#)
                .unwrap();
        assert_eq!(line.name, "ATTENDEE");
        assert_eq!(line.params.len(), 3);
        assert_eq!(line.params[1].values, vec!["mailto:a@x", "mailto:b@x"]);
        assert_eq!(line.value, "mailto:c@x");
    }

    #[test]
    fn value_may_contain_colons_and_semicolons() {
        let line = parse_line(1, "DESCRIPTION:a;b:c").unwrap();
        assert_eq!(line.value, "a;b:c");
    }

    #[test]
    fn broken_lines_are_syntax_errors() {
        for bad in ["NOCOLON", ":value", "X;P:v", "X;P=\"open:v", "B@D:v"] {
            assert!(parse_line(1, bad).is_err(), "{bad}");
        }
    }
}
