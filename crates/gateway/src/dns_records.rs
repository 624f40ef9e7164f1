//! The DNS records of RFC 6764 that let a client find the gateway from a mail address alone,
//! in zone-file syntax, printed by `caldav-gateway dns <domain>`.
//!
//! The records are those of `docs/client-setup.md` section 4 (a test keeps the two equal):
//! an SRV record for CalDAV over TLS (RFC 6764 §3), a TXT record beside it naming the context
//! path (§4), and an SRV record with the target "." saying that CalDAV without TLS is
//! "decidedly not available" (RFC 2782). The `/.well-known/caldav` redirect on the domain's own
//! web server (§5) is not DNS; the output says what to put there.

use dav::path::DAV_ROOT;

/// Time to live of the records, in seconds: an hour, as in the worked example of the guide.
const TTL_SECS: u32 = 3600;

/// Where the gateway is reached for one mail domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaldavService {
    /// The mail domain: the part after `@` of the users' addresses.
    pub domain: String,
    /// The host name clients connect to (the gateway, or the proxy in front of it).
    pub host: String,
    /// The TLS port on `host`.
    pub port: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsNameError {
    #[error("{0:?} is not a DNS name: labels of letters, digits and '-' separated by dots, at most 253 characters")]
    InvalidName(String),
    #[error("port 0 cannot be published: give the TLS port clients connect to")]
    ZeroPort,
}

impl CaldavService {
    /// `host` defaults to `caldav.<domain>`; a trailing dot on either name is accepted.
    pub fn new(domain: &str, host: Option<&str>, port: u16) -> Result<Self, DnsNameError> {
        let domain = dns_name(domain)?;
        let host = match host {
            Some(host) => dns_name(host)?,
            None => format!("caldav.{domain}"),
        };
        if port == 0 {
            return Err(DnsNameError::ZeroPort);
        }
        Ok(CaldavService { domain, host, port })
    }

    /// `https://host`, with the port unless it is 443.
    pub fn origin(&self) -> String {
        match self.port {
            443 => format!("https://{}", self.host),
            port => format!("https://{}:{port}", self.host),
        }
    }

    /// The URL the well-known redirect of the domain's web server points at.
    pub fn dav_url(&self) -> String {
        format!("{}{DAV_ROOT}", self.origin())
    }

    /// The records with comments, ready to paste into the zone of `domain`.
    pub fn zone_file(&self) -> String {
        let CaldavService { domain, host, port } = self;
        let secure = format!("_caldavs._tcp.{domain}.");
        let plain = format!("_caldav._tcp.{domain}.");
        let width = secure.len().max(plain.len());
        let mut zone = String::new();
        let mut line = |text: String| {
            zone.push_str(&text);
            zone.push('\n');
        };
        line(format!("; RFC 6764 DNS records for CalDAV at {domain} (caldav-gateway dns)"));
        line(format!("; RFC 6764 §3: CalDAV over TLS for {domain} is at {host}:{port}"));
        line(format!("{secure:<width$}  {TTL_SECS} IN SRV  0 1 {port} {host}."));
        line(format!("; RFC 6764 §4: the context path; the gateway's DAV tree is {DAV_ROOT}"));
        line(format!("{secure:<width$}  {TTL_SECS} IN TXT  \"path={DAV_ROOT}\""));
        line("; No CalDAV without TLS: a target of \".\" means \"decidedly not available\" (RFC 2782)".into());
        line(format!("{plain:<width$}  {TTL_SECS} IN SRV  0 0 0 ."));
        line(format!("; {host} itself needs A and/or AAAA records: the gateway, or the proxy in front of it."));
        if !host.ends_with(&format!(".{domain}")) {
            // docs/client-setup.md section 4: python caldav 3.6.0 (`caldav/discovery.py`)
            // refuses an SRV target outside the e-mail domain.
            line(format!("; Note: {host} is not under {domain}; some clients (python caldav) refuse such a target."));
        }
        line(";".into());
        line(format!("; RFC 6764 §5, not DNS: the web server of {domain} redirects /.well-known/caldav, e.g. nginx:"));
        line(format!(";   location = /.well-known/caldav {{ return 301 {}; }}", self.dav_url()));
        line(format!("; (the gateway answers its own {}/.well-known/caldav already)", self.origin()));
        zone
    }
}

/// A host or domain name in the letters-digits-hyphen syntax (RFC 1123 §2.1), lower-cased,
/// without a trailing dot.
fn dns_name(name: &str) -> Result<String, DnsNameError> {
    let trimmed = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if trimmed.is_empty() || trimmed.len() > 253 || !trimmed.split('.').all(label_ok) {
        return Err(DnsNameError::InvalidName(name.to_owned()));
    }
    Ok(trimmed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The record lines (no comments) of a zone text, with runs of blanks made one space.
    fn records(zone: &str) -> Vec<String> {
        zone.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with(';'))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[test]
    fn records_are_the_worked_example_of_the_client_setup_guide() {
        let guide = include_str!("../../../docs/client-setup.md");
        let start = guide.find("### Worked example for example.com").unwrap();
        let block = &guide[start..];
        let block = &block[block.find("```zone").unwrap() + "```zone".len()..];
        let block = &block[..block.find("```").unwrap()];
        let in_guide: Vec<String> = records(block).into_iter().filter(|r| r.starts_with('_')).collect();
        let printed = records(&CaldavService::new("example.com", None, 443).unwrap().zone_file());
        assert_eq!(printed, in_guide);
    }

    #[test]
    fn another_port_goes_into_the_srv_record_and_the_redirect() {
        let service = CaldavService::new("example.com", Some("caldav.example.com"), 8443).unwrap();
        let zone = service.zone_file();
        assert!(records(&zone).contains(&"_caldavs._tcp.example.com. 3600 IN SRV 0 1 8443 caldav.example.com.".into()));
        assert!(zone.contains("return 301 https://caldav.example.com:8443/dav/;"), "{zone}");
    }

    #[test]
    fn names_are_lower_cased_and_a_trailing_dot_is_accepted() {
        let service = CaldavService::new("Example.COM.", Some("Mail.Example.com."), 443).unwrap();
        assert_eq!(service.domain, "example.com");
        assert_eq!(service.host, "mail.example.com");
        assert_eq!(service.dav_url(), "https://mail.example.com/dav/");
    }

    #[test]
    fn a_target_outside_the_domain_is_printed_with_a_warning() {
        let zone = CaldavService::new("example.com", Some("calendar.example.net"), 443).unwrap().zone_file();
        assert!(zone.contains("calendar.example.net is not under example.com"), "{zone}");
        let zone = CaldavService::new("example.com", None, 443).unwrap().zone_file();
        assert!(!zone.contains("is not under"), "{zone}");
    }

    #[test]
    fn malformed_names_and_port_zero_are_refused() {
        for bad in ["", ".", "exa mple.com", "-x.com", "a..b", "x_y.com", &"a".repeat(64)] {
            assert!(matches!(CaldavService::new(bad, None, 443), Err(DnsNameError::InvalidName(_))), "{bad:?}");
        }
        assert_eq!(
            CaldavService::new("example.com", Some("caldav/x"), 443),
            Err(DnsNameError::InvalidName("caldav/x".into()))
        );
        assert_eq!(CaldavService::new("example.com", None, 0), Err(DnsNameError::ZeroPort));
    }
}
