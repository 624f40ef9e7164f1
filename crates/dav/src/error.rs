/// Why a request body or header could not be understood. The gateway answers 400 (or 415
/// when the body is not XML at all), with the message in the log, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("unexpected root element {0}")]
    UnexpectedRoot(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("XML too deep or too large")]
    TooComplex,
    #[error("invalid header {0}")]
    Header(&'static str),
    /// Understood, but breaks a named pre-condition (e.g. `CALDAV:valid-filter`,
    /// `CALDAV:supported-collation`): the gateway answers 403 with that element.
    #[error("precondition {0:?}")]
    Condition(crate::Precondition),
}
