//! TZIDs to real time zones.
//!
//! Clients name zones in many ways: IANA names (iOS, DAVx5, Google), IANA names behind a
//! vendor prefix (`/mozilla.org/20070129_1/Europe/Berlin`, older Thunderbird), Windows names
//! with or without a VTIMEZONE (Outlook, Exchange), or a custom VTIMEZONE with an
//! `X-LIC-LOCATION` (Evolution, Thunderbird). The IANA database (chrono-tz) gives exact DST
//! rules for all of these; a VTIMEZONE naming no known zone falls back to its standard
//! offset, which loses DST but never the event.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};

use crate::component::Component;

/// A zone that turns local times into instants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Zone {
    Iana(chrono_tz::Tz),
    Fixed(FixedOffset),
}

impl Zone {
    pub fn utc() -> Zone {
        Zone::Iana(chrono_tz::UTC)
    }

    /// RFC 5545 §3.3.5: a local time in a DST gap means the time after the gap; an ambiguous
    /// one (the repeated hour) means the first occurrence.
    pub fn local_to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Zone::Iana(tz) => match tz.from_local_datetime(&local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                LocalResult::None => {
                    let later = local.checked_add_signed(chrono::Duration::hours(1)).unwrap_or(local);
                    match tz.from_local_datetime(&later) {
                        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                        LocalResult::None => Utc.from_utc_datetime(&local),
                    }
                }
            },
            Zone::Fixed(offset) => Utc.from_utc_datetime(&local.checked_sub_offset(offset.fix()).unwrap_or(local)),
        }
    }

    /// The local time of an instant in this zone.
    pub fn to_local(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Iana(tz) => instant.with_timezone(tz).naive_local(),
            Zone::Fixed(offset) => instant.with_timezone(offset).naive_local(),
        }
    }
}

/// The zones one calendar object (or query) can refer to.
#[derive(Clone, Debug)]
pub struct Zones {
    by_tzid: HashMap<String, Zone>,
    floating: Zone,
}

impl Zones {
    /// Zones of the VTIMEZONEs in `calendar`; floating times in `floating`.
    pub fn new(calendar: &Component, floating: Zone) -> Zones {
        let by_tzid = calendar
            .components_named("VTIMEZONE")
            .filter_map(|vtimezone| {
                let tzid = vtimezone.property("TZID")?.value.trim().to_owned();
                let zone = resolve_name(&tzid).or_else(|| from_vtimezone(vtimezone))?;
                Some((tzid, zone))
            })
            .collect();
        Zones { by_tzid, floating }
    }

    /// Only a floating zone (for values outside any calendar object).
    pub fn floating_only(floating: Zone) -> Zones {
        Zones { by_tzid: HashMap::new(), floating }
    }

    pub fn floating(&self) -> Zone {
        self.floating
    }

    /// The zone of a TZID: the object's VTIMEZONE, else the name itself; UTC when unknown.
    pub fn resolve(&self, tzid: &str) -> Zone {
        self.by_tzid.get(tzid).copied().or_else(|| resolve_name(tzid)).unwrap_or_else(Zone::utc)
    }
}

/// The zone a `calendar-timezone` property (a VCALENDAR with one VTIMEZONE) describes.
pub fn zone_of_timezone_property(text: &str) -> Option<Zone> {
    let calendar = crate::parse_calendar(text).ok()?;
    let vtimezone = calendar.components_named("VTIMEZONE").next()?;
    let tzid = vtimezone.property("TZID")?.value.trim().to_owned();
    resolve_name(&tzid).or_else(|| from_vtimezone(vtimezone))
}

fn resolve_name(tzid: &str) -> Option<Zone> {
    let tzid = tzid.trim().trim_matches('"');
    if let Ok(tz) = chrono_tz::Tz::from_str(tzid) {
        return Some(Zone::Iana(tz));
    }
    // Vendor prefixes: keep the last one, two or three path segments.
    let segments: Vec<&str> = tzid.split('/').filter(|s| !s.is_empty()).collect();
    for take in [3, 2, 1] {
        if segments.len() >= take {
            let candidate = segments[segments.len() - take..].join("/");
            if let Ok(tz) = chrono_tz::Tz::from_str(&candidate) {
                return Some(Zone::Iana(tz));
            }
        }
    }
    windows_zone(tzid).map(Zone::Iana)
}

/// A custom VTIMEZONE: its `X-LIC-LOCATION`, else its standard offset.
fn from_vtimezone(vtimezone: &Component) -> Option<Zone> {
    if let Some(location) = vtimezone.property("X-LIC-LOCATION") {
        if let Ok(tz) = chrono_tz::Tz::from_str(location.value.trim()) {
            return Some(Zone::Iana(tz));
        }
    }
    let standard = vtimezone.components_named("STANDARD").next().or_else(|| vtimezone.components.first())?;
    let offset = parse_utc_offset(&standard.property("TZOFFSETTO")?.value)?;
    Some(Zone::Fixed(offset))
}

/// `+0100`, `-053000`
fn parse_utc_offset(value: &str) -> Option<FixedOffset> {
    let value = value.trim();
    let sign = match value.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = &value[1..];
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[0..2].parse().ok()?;
    let minutes: i32 = digits[2..4].parse().ok()?;
    let seconds: i32 = if digits.len() == 6 { digits[4..6].parse().ok()? } else { 0 };
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60 + seconds))
}

/// The Windows zone names Outlook and Exchange send most (CLDR windowsZones, territory 001).
fn windows_zone(name: &str) -> Option<chrono_tz::Tz> {
    use chrono_tz::*;
    Some(match name {
        "UTC" | "Coordinated Universal Time" | "GMT Standard Time" => Europe::London,
        "W. Europe Standard Time" => Europe::Berlin,
        "Central Europe Standard Time" => Europe::Budapest,
        "Romance Standard Time" => Europe::Paris,
        "Central European Standard Time" => Europe::Warsaw,
        "E. Europe Standard Time" => Europe::Chisinau,
        "FLE Standard Time" => Europe::Kiev,
        "GTB Standard Time" => Europe::Bucharest,
        "Russian Standard Time" => Europe::Moscow,
        "Eastern Standard Time" => America::New_York,
        "Central Standard Time" => America::Chicago,
        "Mountain Standard Time" => America::Denver,
        "US Mountain Standard Time" => America::Phoenix,
        "Pacific Standard Time" => America::Los_Angeles,
        "Alaskan Standard Time" => America::Anchorage,
        "Hawaiian Standard Time" => Pacific::Honolulu,
        "Atlantic Standard Time" => America::Halifax,
        "E. South America Standard Time" => America::Sao_Paulo,
        "India Standard Time" => Asia::Kolkata,
        "China Standard Time" => Asia::Shanghai,
        "Tokyo Standard Time" => Asia::Tokyo,
        "Korea Standard Time" => Asia::Seoul,
        "Singapore Standard Time" => Asia::Singapore,
        "AUS Eastern Standard Time" => Australia::Sydney,
        "New Zealand Standard Time" => Pacific::Auckland,
        "Israel Standard Time" => Asia::Jerusalem,
        "Arabian Standard Time" => Asia::Dubai,
        "South Africa Standard Time" => Africa::Johannesburg,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, 0, 0).unwrap()
    }

    #[test]
    fn names_resolve_through_prefixes_and_windows_names() {
        for name in ["Europe/Berlin", "/mozilla.org/20070129_1/Europe/Berlin", "W. Europe Standard Time"] {
            assert_eq!(resolve_name(name), Some(Zone::Iana(chrono_tz::Europe::Berlin)), "{name}");
        }
        assert_eq!(resolve_name("Mars/Olympus_Mons"), None);
    }

    #[test]
    fn dst_is_applied_and_gaps_move_forward() {
        let berlin = Zone::Iana(chrono_tz::Europe::Berlin);
        assert_eq!(berlin.local_to_utc(local(2026, 1, 15, 9)).to_rfc3339(), "2026-01-15T08:00:00+00:00");
        assert_eq!(berlin.local_to_utc(local(2026, 7, 15, 9)).to_rfc3339(), "2026-07-15T07:00:00+00:00");
        // 2026-03-29 02:30 does not exist in Berlin.
        assert_eq!(berlin.local_to_utc(local(2026, 3, 29, 2)).to_rfc3339(), "2026-03-29T01:00:00+00:00");
    }

    #[test]
    fn custom_vtimezone_uses_x_lic_location_or_standard_offset() {
        let cal = crate::parse_calendar(
            "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:My Zone\nX-LIC-LOCATION:America/New_York\nEND:VTIMEZONE\n\
             BEGIN:VTIMEZONE\nTZID:Odd\nBEGIN:STANDARD\nTZOFFSETTO:+0530\nEND:STANDARD\nEND:VTIMEZONE\nEND:VCALENDAR\n",
        )
        .unwrap();
        let zones = Zones::new(&cal, Zone::utc());
        assert_eq!(zones.resolve("My Zone"), Zone::Iana(chrono_tz::America::New_York));
        assert_eq!(zones.resolve("Odd"), Zone::Fixed(FixedOffset::east_opt(5 * 3600 + 1800).unwrap()));
        assert_eq!(zones.resolve("Unknown/Zone"), Zone::utc());
    }
}
