//! vdirsyncer (every release up to 0.21.0, the one `make test` runs) asks for all the new and
//! changed items of a calendar in ONE calendar-multiget and never splits it
//! (pimutils/vdirsyncer `vdirsyncer/storage/dav.py` `DAVStorage.get_multi`; splitting is asked
//! for in its issues #687 and #993, both open). A refused multiget fails that calendar's sync,
//! and the next sync sends the same request again (issue #761, against CalendarServer's
//! 5000-href limit), so a calendar with more items than `limits.max_multiget_hrefs` could never
//! be synced at all. For vdirsyncer the limit becomes the calendar's own size: hrefs naming the
//! same object in different spellings count once, and more distinct hrefs than the calendar
//! holds objects (plus the configured limit, for the 404s of items deleted meanwhile) are still
//! refused, so the answer holds no more than the calendar itself, as an unfiltered
//! calendar-query's would, whatever a client claiming this User-Agent sends. Facts and test:
//! docs/clients/vdirsyncer.md.

use http::header::USER_AGENT;
use http::HeaderMap;

/// How many hrefs one calendar-multiget may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HrefLimit {
    /// `limits.max_multiget_hrefs`.
    Fixed(usize),
    /// Beyond `limits.max_multiget_hrefs` (the value held), as many distinct objects as the
    /// calendar holds, plus that many again for the 404s.
    CalendarSize(usize),
}

/// The limit for the client that sent `headers`.
pub fn multiget_href_limit(headers: &HeaderMap, configured: usize) -> HrefLimit {
    if sends_unchunked_multigets(headers) {
        HrefLimit::CalendarSize(configured)
    } else {
        HrefLimit::Fixed(configured)
    }
}

/// vdirsyncer's User-Agent is `vdirsyncer/<version>` (`vdirsyncer/http.py` `USERAGENT`).
fn sends_unchunked_multigets(headers: &HeaderMap) -> bool {
    headers.get(USER_AGENT).and_then(|value| value.to_str().ok()).is_some_and(|agent| agent.starts_with("vdirsyncer/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn agent(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn vdirsyncer_multigets_are_bounded_by_the_calendar_size() {
        assert_eq!(multiget_href_limit(&agent("vdirsyncer/0.21.0"), 5000), HrefLimit::CalendarSize(5000));
        assert_eq!(multiget_href_limit(&agent("vdirsyncer/0.16.7"), 3), HrefLimit::CalendarSize(3));
    }

    #[test]
    fn other_clients_keep_the_configured_limit() {
        assert_eq!(
            multiget_href_limit(&agent("DAVx5/4.4.3.2-ose (2024/10/23; dav4jvm; okhttp/4.12.0) Android/14"), 5000),
            HrefLimit::Fixed(5000)
        );
        assert_eq!(
            multiget_href_limit(&agent("python-requests/2.34.2 vdirsyncer/0.21.0"), 5000),
            HrefLimit::Fixed(5000)
        );
        assert_eq!(multiget_href_limit(&HeaderMap::new(), 5000), HrefLimit::Fixed(5000));
    }
}
