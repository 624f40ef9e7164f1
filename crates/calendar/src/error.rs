/// Which RFC 4791 §5.3.2.1 precondition a failed check maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Not iCalendar at all, or broken iCalendar.
    ValidCalendarData,
    /// iCalendar, but not one calendar object resource (RFC 4791 §4.1).
    ValidCalendarObjectResource,
    /// No component type a calendar collection can hold.
    SupportedCalendarComponent,
}

/// Why a body is not a valid calendar object resource.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCalendar {
    #[error("not UTF-8")]
    NotUtf8,
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("expected exactly one VCALENDAR")]
    NotOneCalendar,
    #[error("VERSION must be 2.0, found {0}")]
    Version(String),
    #[error("no VEVENT, VTODO, VJOURNAL or VFREEBUSY")]
    NoComponent,
    #[error("only {0}, which a calendar collection cannot hold")]
    UnsupportedComponent(String),
    #[error("more than one component type ({0} and {1})")]
    MixedComponents(String, String),
    #[error("a {0} without UID")]
    MissingUid(String),
    #[error("different UIDs in one resource ({0} and {1})")]
    MultipleUids(String, String),
    #[error("METHOD is not allowed in a calendar object resource")]
    MethodPresent,
    #[error("more than one {0} without RECURRENCE-ID")]
    SeveralMasters(String),
    #[error("RECURRENCE-ID {0} appears twice")]
    DuplicateRecurrenceId(String),
    #[error("{component} needs {property}")]
    MissingProperty { component: String, property: &'static str },
    #[error("{component} cannot have {property}")]
    NotAllowedIn { component: String, property: &'static str },
    #[error("{component} has both {first} and {second}")]
    ExclusiveProperties { component: String, first: &'static str, second: &'static str },
    #[error("line {line}: {property} {reason}")]
    BadValue { line: usize, property: String, reason: String },
    #[error("calendar-timezone must hold exactly one VTIMEZONE")]
    NotOneTimezone,
}

impl InvalidCalendar {
    pub fn precondition(&self) -> Violation {
        use InvalidCalendar::*;
        match self {
            NotUtf8
            | Syntax { .. }
            | NotOneCalendar
            | Version(_)
            | MissingProperty { .. }
            | ExclusiveProperties { .. }
            | NotAllowedIn { .. }
            | BadValue { .. }
            | NotOneTimezone => Violation::ValidCalendarData,
            NoComponent | UnsupportedComponent(_) => Violation::SupportedCalendarComponent,
            MixedComponents(..)
            | MissingUid(_)
            | MultipleUids(..)
            | MethodPresent
            | SeveralMasters(_)
            | DuplicateRecurrenceId(_) => Violation::ValidCalendarObjectResource,
        }
    }
}
