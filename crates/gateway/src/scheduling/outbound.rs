//! iMIP out: a scheduling message for people who are not users of this store, sent as mail
//! from the session's user (the organizer, or the attendee answering). RFC 6638 §3.2.9
//! status codes record the outcome in the organizer's copy: `1.1` sent, `5.1` not delivered.

use calendar::Component;
use store::Session;

use super::imip::{compose, Sender};
use crate::AppState;

/// RFC 6638 `SCHEDULE-STATUS` (RFC 5546 §3.6): handed to the mail system.
pub const SENT: &str = "1.1";
/// RFC 6638 `SCHEDULE-STATUS`: the message could not be delivered.
pub const NOT_DELIVERED: &str = "5.1";

/// Mails `itip` (a VCALENDAR with `METHOD:method`) to `recipients` (bare addresses) in one
/// message, and answers each recipient's status. The gateway never sends as anyone but the
/// session's own user: the sender is the principal's address, whatever the object says.
pub async fn send_by_mail(
    app: &AppState,
    session: &dyn Session,
    method: &str,
    itip: &Component,
    recipients: &[String],
) -> Vec<(String, &'static str)> {
    let principal = session.principal();
    let outcome = match &principal.email {
        None => Err("the user has no mail address".to_owned()),
        Some(address) => {
            let sender = Sender { name: &principal.display_name, address };
            match compose(&sender, recipients, method, itip) {
                Err(error) => Err(error.to_string()),
                Ok(message) => {
                    app.mailer().send(session, address, recipients, message).await.map_err(|e| e.to_string())
                }
            }
        }
    };
    let status = match outcome {
        Ok(()) => {
            tracing::info!(user = %principal.user, method, recipients = recipients.len(), "iMIP sent");
            SENT
        }
        Err(error) => {
            tracing::warn!(user = %principal.user, method, %error, "iMIP not sent");
            NOT_DELIVERED
        }
    };
    recipients.iter().map(|r| (r.clone(), status)).collect()
}
