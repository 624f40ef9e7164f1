//! The component tree of an iCalendar text.

use crate::content_line::{parse_line, unfold};
use crate::error::InvalidCalendar;

/// Deeper than any real calendar (VCALENDAR > VEVENT > VALARM is 3), shallow enough that
/// hostile input cannot build a huge stack of open components.
const MAX_DEPTH: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    /// Upper-cased, e.g. `VEVENT`.
    pub name: String,
    pub properties: Vec<Property>,
    pub components: Vec<Component>,
}

#[derive(Clone, Debug)]
pub struct Property {
    /// Upper-cased, e.g. `DTSTART`.
    pub name: String,
    pub params: Vec<Parameter>,
    /// The raw value text, unescaped only by unfolding.
    pub value: String,
    /// The physical line it starts on, for error messages; 0 when it was not parsed from text.
    pub line: usize,
}

/// Equal name, parameters and value: where a property stood in a text is not part of it.
impl PartialEq for Property {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.params == other.params && self.value == other.value
    }
}

impl Eq for Property {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    /// Upper-cased, e.g. `TZID`.
    pub name: String,
    pub values: Vec<String>,
}

impl Component {
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    pub fn properties_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Property> + 'a {
        self.properties.iter().filter(move |p| p.name == name)
    }

    pub fn components_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Component> + 'a {
        self.components.iter().filter(move |c| c.name == name)
    }

    /// Bytes the tree takes in memory (its own struct included), so a cache of parsed objects
    /// can be bounded by what it holds rather than by a count.
    pub fn memory_size(&self) -> usize {
        std::mem::size_of::<Component>() + self.heap_size()
    }

    fn heap_size(&self) -> usize {
        let properties: usize = self
            .properties
            .iter()
            .map(|p| {
                let params: usize = p
                    .params
                    .iter()
                    .map(|param| {
                        param.name.capacity()
                            + param.values.capacity() * std::mem::size_of::<String>()
                            + param.values.iter().map(String::capacity).sum::<usize>()
                    })
                    .sum();
                p.name.capacity() + p.value.capacity() + p.params.capacity() * std::mem::size_of::<Parameter>() + params
            })
            .sum();
        let components: usize = self.components.iter().map(Component::heap_size).sum();
        self.name.capacity()
            + self.properties.capacity() * std::mem::size_of::<Property>()
            + properties
            + self.components.capacity() * std::mem::size_of::<Component>()
            + components
    }
}

impl Property {
    /// First value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|p| p.name == name).and_then(|p| p.values.first()).map(String::as_str)
    }
}

/// Parses a text that must be exactly one VCALENDAR (blank lines around it are tolerated).
pub fn parse_calendar(text: &str) -> Result<Component, InvalidCalendar> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Each open component with the line of its BEGIN, to name it when it is never closed.
    let mut stack: Vec<(Component, usize)> = Vec::new();
    let mut done: Option<Component> = None;
    for (number, raw) in unfold(text)? {
        let line = parse_line(number, &raw)?;
        let fail = |reason: String| InvalidCalendar::Syntax { line: number, reason };
        if done.is_some() {
            return Err(InvalidCalendar::NotOneCalendar);
        }
        match line.name.as_str() {
            "BEGIN" => {
                let name = line.value.trim().to_ascii_uppercase();
                if name.is_empty() {
                    return Err(fail("BEGIN without a component name".into()));
                }
                if stack.is_empty() && name != "VCALENDAR" {
                    return Err(InvalidCalendar::NotOneCalendar);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(fail("components nested too deeply".into()));
                }
                stack.push((Component { name, properties: Vec::new(), components: Vec::new() }, number));
            }
            "END" => {
                let name = line.value.trim().to_ascii_uppercase();
                let (open, _) = stack.pop().ok_or_else(|| fail(format!("END:{name} without BEGIN")))?;
                if open.name != name {
                    return Err(fail(format!("END:{name} closes BEGIN:{}", open.name)));
                }
                match stack.last_mut() {
                    Some((parent, _)) => parent.components.push(open),
                    None => done = Some(open),
                }
            }
            _ => {
                let (current, _) = stack.last_mut().ok_or(InvalidCalendar::NotOneCalendar)?;
                current.properties.push(Property {
                    name: line.name,
                    params: line.params,
                    value: line.value,
                    line: number,
                });
            }
        }
    }
    if let Some((open, line)) = stack.last() {
        return Err(InvalidCalendar::Syntax { line: *line, reason: format!("BEGIN:{} is never closed", open.name) });
    }
    done.ok_or(InvalidCalendar::NotOneCalendar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_components_are_built_in_order() {
        let cal = parse_calendar(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        )
        .unwrap();
        assert_eq!(cal.name, "VCALENDAR");
        let event = &cal.components[0];
        assert_eq!(event.property("UID").map(|p| p.value.as_str()), Some("1"));
        assert_eq!(event.components[0].name, "VALARM");
    }

    #[test]
    fn memory_size_grows_with_the_text_it_holds() {
        let small =
            parse_calendar("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").unwrap();
        let description = "x".repeat(10_000);
        let large = parse_calendar(&format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nDESCRIPTION:{description}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        ))
        .unwrap();
        assert!(small.memory_size() > std::mem::size_of::<Component>());
        assert!(large.memory_size() >= small.memory_size() + 10_000);
    }

    #[test]
    fn mismatched_or_missing_ends_are_refused() {
        assert!(parse_calendar("BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VTODO\nEND:VCALENDAR\n").is_err());
        assert!(parse_calendar("BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VEVENT\n").is_err());
        assert!(parse_calendar("BEGIN:VCALENDAR\nEND:VCALENDAR\nBEGIN:VCALENDAR\nEND:VCALENDAR\n").is_err());
        assert!(parse_calendar("").is_err());
        assert!(parse_calendar("UID:x\nBEGIN:VCALENDAR\nEND:VCALENDAR\n").is_err());
    }
}
