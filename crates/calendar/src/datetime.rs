//! DATE and DATE-TIME values (RFC 5545 §3.3.4, §3.3.5) and their instant in UTC.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::component::Property;
use crate::zones::{Zone, Zones};

/// A date or date-time as written, before a zone is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DateValue {
    /// `VALUE=DATE`: a whole day, in the floating zone.
    Date(NaiveDate),
    /// Local time without TZID: floating.
    Floating(NaiveDateTime),
    /// `...Z`
    Utc(DateTime<Utc>),
    /// Local time with a TZID parameter.
    Zoned(NaiveDateTime, String),
}

impl DateValue {
    /// Reads a property's value; `None` when it is not a date or date-time.
    pub fn of(property: &Property) -> Option<DateValue> {
        parse(property.value.trim(), property.param("TZID"))
    }

    pub fn is_date(&self) -> bool {
        matches!(self, DateValue::Date(_))
    }

    /// The instant, with `zones` resolving TZIDs and giving the zone of floating values
    /// (RFC 4791 §7.3: the calendar's or the query's timezone, else UTC).
    pub fn to_utc(&self, zones: &Zones) -> DateTime<Utc> {
        match self {
            DateValue::Utc(instant) => *instant,
            DateValue::Date(date) => zones.floating().local_to_utc(date.and_hms_opt(0, 0, 0).unwrap_or_default()),
            DateValue::Floating(local) => zones.floating().local_to_utc(*local),
            DateValue::Zoned(local, tzid) => zones.resolve(tzid).local_to_utc(*local),
        }
    }

    /// The zone the value lives in, for recurrence expansion in local time.
    pub fn zone(&self, zones: &Zones) -> Zone {
        match self {
            DateValue::Utc(_) => Zone::utc(),
            DateValue::Date(_) | DateValue::Floating(_) => zones.floating(),
            DateValue::Zoned(_, tzid) => zones.resolve(tzid),
        }
    }
}

/// `YYYYMMDD`, `YYYYMMDDTHHMMSS`, `YYYYMMDDTHHMMSSZ`.
pub fn parse(value: &str, tzid: Option<&str>) -> Option<DateValue> {
    if value.len() == 8 {
        return digits_date(value.as_bytes())
            .or_else(|| NaiveDate::parse_from_str(value, "%Y%m%d").ok())
            .map(DateValue::Date);
    }
    if let Some(utc) = value.strip_suffix('Z') {
        let local = local_date_time(utc)?;
        return Some(DateValue::Utc(Utc.from_utc_datetime(&local)));
    }
    let local = local_date_time(value)?;
    Some(match tzid {
        Some(tzid) => DateValue::Zoned(local, tzid.to_owned()),
        None => DateValue::Floating(local),
    })
}

/// `YYYYMMDDTHHMMSS`. Queries read several of these per object, and chrono's format-driven
/// parser was a visible share of a query's profile, so the form every client writes (all
/// digits) is read directly; anything else goes through chrono as before, so what is
/// accepted does not change.
fn local_date_time(value: &str) -> Option<NaiveDateTime> {
    digits_date_time(value.as_bytes()).or_else(|| NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").ok())
}

/// The number written by `digits`, all ASCII digits; `None` otherwise.
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
}

fn digits_date(value: &[u8]) -> Option<NaiveDate> {
    if value.len() != 8 {
        return None;
    }
    let year = i32::try_from(number(&value[..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&value[4..6])?, number(&value[6..8])?)
}

fn digits_date_time(value: &[u8]) -> Option<NaiveDateTime> {
    if value.len() != 15 || value[8] != b'T' {
        return None;
    }
    let date = digits_date(&value[..8])?;
    date.and_hms_opt(number(&value[9..11])?, number(&value[11..13])?, number(&value[13..15])?)
}

/// A UTC date-time as CalDAV time-range attributes carry it (`20261201T000000Z`).
pub fn parse_utc(value: &str) -> Option<DateTime<Utc>> {
    match parse(value.trim(), None)? {
        DateValue::Utc(instant) => Some(instant),
        _ => None,
    }
}

/// `instant + duration`, saturating at the ends of chrono's range instead of panicking.
///
/// Validation refuses objects whose spans leave the years an iCalendar DATE-TIME can write
/// (see [`within_icalendar_years`]); this keeps computations on anything stored before, or
/// on query windows widened near those ends, from ending a request in a panic. Saturating
/// makes such a span last to the end of time, which only ever widens a match.
pub(crate) fn plus(instant: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    instant.checked_add_signed(duration).unwrap_or(if duration < Duration::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// `instant - duration`, saturating like [`plus`].
pub(crate) fn minus(instant: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    // A TimeDelta's range is symmetric, so the negation cannot overflow.
    plus(instant, -duration)
}

/// `duration * times`, saturating at the ends of the duration range.
pub(crate) fn times(duration: Duration, times: i32) -> Duration {
    duration.checked_mul(times).unwrap_or(if (duration < Duration::zero()) != (times < 0) {
        Duration::MIN
    } else {
        Duration::MAX
    })
}

/// `a + b`, saturating at the ends of the duration range.
pub(crate) fn sum(a: Duration, b: Duration) -> Duration {
    a.checked_add(&b).unwrap_or(if b < Duration::zero() { Duration::MIN } else { Duration::MAX })
}

/// `instant + duration` when the result is a time an iCalendar DATE-TIME can name (years
/// 0000-9999, RFC 5545 §3.3.4); `None` otherwise, which validation refuses.
pub(crate) fn within_icalendar_years(instant: DateTime<Utc>, duration: Duration) -> Option<DateTime<Utc>> {
    instant.checked_add_signed(duration).filter(|end| (0..=9999).contains(&end.year()))
}

/// RFC 5545 §3.3.6 DURATION: `[+-]P[nW]` or `[+-]P[nD][T[nH][nM][nS]]`.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let (negative, rest) = match value.as_bytes().first()? {
        b'-' => (true, &value[1..]),
        b'+' => (false, &value[1..]),
        _ => (false, value),
    };
    let mut rest = rest.strip_prefix('P')?;
    let mut total = Duration::zero();
    let mut in_time = false;
    let mut seen = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('T') {
            in_time = true;
            rest = after;
            continue;
        }
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let number: i64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let part = match (unit, in_time) {
            ('W', false) => Duration::try_weeks(number)?,
            ('D', false) => Duration::try_days(number)?,
            ('H', true) => Duration::try_hours(number)?,
            ('M', true) => Duration::try_minutes(number)?,
            ('S', true) => Duration::try_seconds(number)?,
            _ => return None,
        };
        // `P999999999999DT999999999999H`: each part fits, the sum may not.
        total = total.checked_add(&part)?;
        seen = true;
        rest = &rest[digits + 1..];
    }
    seen.then_some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_forms_read_as_chrono_reads_them() {
        for value in ["20261201", "00010101", "99991231", "20240229", "20230229", "20261301", "20261200", "2026120a"] {
            assert_eq!(digits_date(value.as_bytes()), NaiveDate::parse_from_str(value, "%Y%m%d").ok(), "{value}");
        }
        for value in [
            "20261201T093000",
            "20261201T235959",
            "20261201T240000",
            "20261201T236000",
            "20261201T235960",
            "20261201 093000",
            "20261201T09300x",
        ] {
            let chrono = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").ok();
            assert_eq!(local_date_time(value), chrono, "{value}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("-PT15M"), Some(Duration::minutes(-15)));
        assert_eq!(parse_duration("P1W"), Some(Duration::days(7)));
        assert_eq!(parse_duration("P1DT12H"), Some(Duration::hours(36)));
        assert_eq!(parse_duration("PT0S"), Some(Duration::zero()));
        for bad in ["P", "1H", "PT", "P1H", "PTXS", "", "P999999999999DT999999999999H", "P99999999999999999999W"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn value_forms() {
        assert!(matches!(parse("20261201", None), Some(DateValue::Date(_))));
        assert!(matches!(parse("20261201T090000", None), Some(DateValue::Floating(_))));
        assert!(matches!(parse("20261201T090000", Some("Europe/Berlin")), Some(DateValue::Zoned(_, _))));
        assert!(matches!(parse("20261201T090000Z", Some("Europe/Berlin")), Some(DateValue::Utc(_))));
        assert_eq!(parse("2026-12-01", None), None);
        assert_eq!(parse_utc("20261201T090000"), None);
    }
}
