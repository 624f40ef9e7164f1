//! Shaping returned calendar data as `<C:calendar-data>` asked (RFC 4791 §9.6), and the zone
//! floating times are read in (RFC 4791 §7.3).

use bytes::Bytes;
use calendar::retrieval::{apply, CalendarDataRequest};
use calendar::zones::{zone_of_timezone_property, Zone};
use dav::Precondition;
use store::Folder;

use crate::error::GatewayError;

pub struct Shaper<'a> {
    pub request: &'a CalendarDataRequest,
    pub floating: Zone,
    pub max_instances: usize,
}

impl Shaper<'_> {
    /// The body to return: the stored bytes when nothing is asked of them, else rewritten.
    pub fn shape(&self, body: Bytes) -> Result<Bytes, GatewayError> {
        if self.request.is_verbatim() {
            return Ok(body);
        }
        let Some(parsed) = std::str::from_utf8(&body).ok().and_then(|t| calendar::parse_calendar(t).ok()) else {
            // Not ours to fix: a body another mail client stored is returned as it is.
            return Ok(body);
        };
        let shaped = apply(&parsed, self.request, self.floating, self.max_instances)
            .map_err(|_| GatewayError::forbidden(Precondition::MaxInstances))?;
        Ok(Bytes::from(calendar::write_component(&shaped)))
    }
}

/// The query's timezone, else the calendar's, else UTC.
pub fn floating_zone(folder: &Folder, timezone: Option<&str>) -> Result<Zone, GatewayError> {
    if let Some(text) = timezone {
        return zone_of_timezone_property(text).ok_or_else(|| GatewayError::forbidden(Precondition::ValidCalendarData));
    }
    Ok(folder.timezone.as_deref().and_then(zone_of_timezone_property).unwrap_or_else(Zone::utc))
}
