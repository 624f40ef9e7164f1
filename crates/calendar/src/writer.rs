//! Writing iCalendar text: content lines folded at 75 octets with CRLF (RFC 5545 §3.1).

use crate::component::{Component, Property};

/// The component as iCalendar text, properties and sub-components in their order.
pub fn write_component(component: &Component) -> String {
    let mut out = String::new();
    write_into(&mut out, component);
    out
}

fn write_into(out: &mut String, component: &Component) {
    push_line(out, &format!("BEGIN:{}", component.name));
    for property in &component.properties {
        push_line(out, &property_line(property));
    }
    for child in &component.components {
        write_into(out, child);
    }
    push_line(out, &format!("END:{}", component.name));
}

pub(crate) fn property_line(property: &Property) -> String {
    let mut line = property.name.clone();
    for parameter in &property.params {
        line.push(';');
        line.push_str(&parameter.name);
        line.push('=');
        let values: Vec<String> = parameter
            .values
            .iter()
            .map(|v| if v.contains([':', ';', ',']) { format!("\"{v}\"") } else { v.clone() })
            .collect();
        line.push_str(&values.join(","));
    }
    line.push(':');
    line.push_str(&property.value);
    line
}

/// Appends `line` folded so no physical line exceeds 75 octets, never splitting a UTF-8
/// character.
pub(crate) fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        push_line(&mut out, &format!("DESCRIPTION:{}", "ü".repeat(60)));
        for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75, "{physical:?} is {} octets", physical.len());
        }
        let unfolded: String = crate::content_line::unfold(&out).unwrap().into_iter().map(|(_, l)| l).collect();
        assert_eq!(unfolded, format!("DESCRIPTION:{}", "ü".repeat(60)));
    }

    #[test]
    fn a_parsed_calendar_writes_back_to_an_equal_tree() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nATTENDEE;CN=\"Doe, J\";ROLE=CHAIR:mailto:j@x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let parsed = crate::parse_calendar(text).unwrap();
        assert_eq!(crate::parse_calendar(&write_component(&parsed)).unwrap(), parsed);
    }
}
