//! Namespaces and the closed set of property names the gateway knows.

use std::fmt;

pub const NS_DAV: &str = "DAV:";
pub const NS_CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// CalendarServer extensions: getctag (draft-daboo-webdav-ctag).
pub const NS_CALENDARSERVER: &str = "http://calendarserver.org/ns/";
/// Apple iCal extensions: calendar-color, calendar-order.
pub const NS_APPLE_ICAL: &str = "http://apple.com/ns/ical/";

/// A namespaced XML name. `ns` is empty for names in no namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QName {
    pub ns: String,
    pub local: String,
}

impl QName {
    pub fn new(ns: impl Into<String>, local: impl Into<String>) -> Self {
        QName { ns: ns.into(), local: local.into() }
    }
    pub fn dav(local: impl Into<String>) -> Self {
        QName::new(NS_DAV, local)
    }
    pub fn caldav(local: impl Into<String>) -> Self {
        QName::new(NS_CALDAV, local)
    }
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }
}

impl fmt::Display for QName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}{}", self.ns, self.local)
    }
}

macro_rules! prop_names {
    ($($variant:ident => ($ns:expr, $local:literal),)*) => {
        /// Properties the gateway knows by name. Anything else is `Unknown` and answered 404
        /// in PROPFIND (RFC 4918 §9.1) or 403 in PROPPATCH.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum PropName {
            $($variant,)*
            Unknown(QName),
        }

        impl PropName {
            pub fn from_qname(ns: &str, local: &str) -> PropName {
                $(if ns == $ns && local == $local { return PropName::$variant; })*
                PropName::Unknown(QName::new(ns, local))
            }

            /// Namespace and local name.
            pub fn qname(&self) -> (&str, &str) {
                match self {
                    $(PropName::$variant => ($ns, $local),)*
                    PropName::Unknown(q) => (&q.ns, &q.local),
                }
            }
        }
    };
}

prop_names! {
    // RFC 4918 §15
    CreationDate => (NS_DAV, "creationdate"),
    DisplayName => (NS_DAV, "displayname"),
    GetContentLanguage => (NS_DAV, "getcontentlanguage"),
    GetContentLength => (NS_DAV, "getcontentlength"),
    GetContentType => (NS_DAV, "getcontenttype"),
    GetETag => (NS_DAV, "getetag"),
    GetLastModified => (NS_DAV, "getlastmodified"),
    LockDiscovery => (NS_DAV, "lockdiscovery"),
    ResourceType => (NS_DAV, "resourcetype"),
    SupportedLock => (NS_DAV, "supportedlock"),
    // RFC 5397
    CurrentUserPrincipal => (NS_DAV, "current-user-principal"),
    // RFC 3744
    Owner => (NS_DAV, "owner"),
    PrincipalUrl => (NS_DAV, "principal-URL"),
    PrincipalCollectionSet => (NS_DAV, "principal-collection-set"),
    CurrentUserPrivilegeSet => (NS_DAV, "current-user-privilege-set"),
    Acl => (NS_DAV, "acl"),
    GroupMembership => (NS_DAV, "group-membership"),
    AlternateUriSet => (NS_DAV, "alternate-URI-set"),
    // RFC 3253 §3.1.5
    SupportedReportSet => (NS_DAV, "supported-report-set"),
    // RFC 6578 §4
    SyncToken => (NS_DAV, "sync-token"),
    // RFC 4331
    QuotaAvailableBytes => (NS_DAV, "quota-available-bytes"),
    QuotaUsedBytes => (NS_DAV, "quota-used-bytes"),
    // RFC 4791 §5.2, §6.2, §9.6
    CalendarDescription => (NS_CALDAV, "calendar-description"),
    CalendarTimezone => (NS_CALDAV, "calendar-timezone"),
    SupportedCalendarComponentSet => (NS_CALDAV, "supported-calendar-component-set"),
    SupportedCalendarData => (NS_CALDAV, "supported-calendar-data"),
    MaxResourceSize => (NS_CALDAV, "max-resource-size"),
    MinDateTime => (NS_CALDAV, "min-date-time"),
    MaxDateTime => (NS_CALDAV, "max-date-time"),
    MaxInstances => (NS_CALDAV, "max-instances"),
    MaxAttendeesPerInstance => (NS_CALDAV, "max-attendees-per-instance"),
    // RFC 8607 §6.1, §6.2
    MaxAttachmentSize => (NS_CALDAV, "max-attachment-size"),
    MaxAttachmentsPerResource => (NS_CALDAV, "max-attachments-per-resource"),
    CalendarHomeSet => (NS_CALDAV, "calendar-home-set"),
    CalendarData => (NS_CALDAV, "calendar-data"),
    // RFC 6638 §2.4.1
    CalendarUserAddressSet => (NS_CALDAV, "calendar-user-address-set"),
    CalendarUserType => (NS_CALDAV, "calendar-user-type"),
    ScheduleInboxUrl => (NS_CALDAV, "schedule-inbox-URL"),
    ScheduleOutboxUrl => (NS_CALDAV, "schedule-outbox-URL"),
    // RFC 6638 §9.2, §9.1
    ScheduleDefaultCalendarUrl => (NS_CALDAV, "schedule-default-calendar-URL"),
    ScheduleCalendarTransp => (NS_CALDAV, "schedule-calendar-transp"),
    // RFC 6638 §3.2.10, §9.3
    ScheduleTag => (NS_CALDAV, "schedule-tag"),
    // CalendarServer
    GetCtag => (NS_CALENDARSERVER, "getctag"),
    // Apple iCal
    CalendarColor => (NS_APPLE_ICAL, "calendar-color"),
    CalendarOrder => (NS_APPLE_ICAL, "calendar-order"),
}

impl PropName {
    pub fn to_qname(&self) -> QName {
        let (ns, local) = self.qname();
        QName::new(ns, local)
    }
}
