use crate::names::QName;
use crate::precondition::Precondition;
use crate::xml::writer::{element, escape_text, ROOT_NAMESPACES};

/// The body of an error response: `<D:error><C:valid-calendar-data/></D:error>`
/// (RFC 4918 §16). `NoUidConflict` and `UniqueSchedulingObjectResource` carry their
/// `<D:href>` (RFC 4791 §5.3.2.1, RFC 6638 §3.2.4.1).
pub fn error_body(condition: &Precondition) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str(&format!("<D:error {ROOT_NAMESPACES}>"));
    write_condition(&mut out, condition);
    out.push_str("</D:error>\n");
    out
}

pub(crate) fn write_condition(out: &mut String, condition: &Precondition) {
    let (ns, local) = condition.qname();
    element(out, &QName::new(ns, local), &[], |o| {
        if let Precondition::NoUidConflict(href) | Precondition::UniqueSchedulingObjectResource(href) = condition {
            element(o, &QName::dav("href"), &[], |o| o.push_str(&escape_text(href)));
        }
    });
}
