//! free-busy-query on the user's own principal URL: evolution-data-server's free/busy fallback
//! (Evolution and GNOME Calendar; read in EDS 3.60.2 and 3.61.2,
//! `src/calendar/backends/caldav/e-cal-backend-caldav.c`, `ecb_caldav_get_free_busy_from_principal_sync`).
//!
//! EDS asks the schedule outbox only when OPTIONS names `calendar-schedule` or
//! `calendar-auto-schedule`; here that is when scheduling is on for the user
//! (`scheduling::policy`). Otherwise, and when the outbox answered nothing, it finds the
//! attendee's principal by principal-property-search on `calendar-user-address-set` and sends
//! a free-busy-query REPORT, Depth infinity, to that principal URL, keeping the answer only when
//! it is `text/calendar`. RFC 4791 §7.10 targets calendars and collections holding them; on
//! servers where principal and calendar home are one URL that is the home. Here principals and
//! homes are apart, so the query on the user's own principal is answered for the calendars that
//! make up their busy time: the same ones the schedule outbox uses (`schedule-calendar-transp`
//! opaque, RFC 6638 §9.1). Another user's principal stays refused: nobody's schedule is shown
//! through this path that the outbox would not show.

use dav::path::ResourcePath;
use store::{Principal, Session};

use crate::error::GatewayError;
use crate::methods::report::scope::Target;
use crate::scheduling::busy_time::counts_as_busy;

/// Whether a free-busy-query on `path` is this fallback: the principal of the session's user.
pub fn applies(path: &ResourcePath, principal: &Principal) -> bool {
    matches!(path, ResourcePath::Principal { user } if *user == principal.user)
}

/// The calendars the query runs over, whatever Depth the client sent (EDS sends infinity).
pub async fn targets(session: &dyn Session) -> Result<Vec<Target>, GatewayError> {
    let mut folders: Vec<_> = session.folders().await?.into_iter().filter(counts_as_busy).collect();
    folders.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(folders.into_iter().map(Target::whole).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal { user: "alice".into(), display_name: "Alice".into(), email: Some("alice@example.com".into()) }
    }

    #[test]
    fn only_the_users_own_principal_is_answered() {
        assert!(applies(&ResourcePath::Principal { user: "alice".into() }, &alice()));
        assert!(!applies(&ResourcePath::Principal { user: "bob".into() }, &alice()));
        assert!(!applies(&ResourcePath::Principals, &alice()));
        assert!(!applies(&ResourcePath::CalendarHome { user: "alice".into() }, &alice()));
    }
}
