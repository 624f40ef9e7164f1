//! Pre- and postcondition codes that go inside `<D:error>` (RFC 4918 §16, RFC 4791 §5.3.2.1,
//! §7.7, §9, RFC 6578 §3.2, RFC 5689 §3, RFC 6638 §3.2.2.1, §3.2.4, §5.1, §9.2).

/// A closed vocabulary of the condition elements the gateway emits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    // RFC 4918 §16
    PropfindFiniteDepth,
    ResourceMustBeNull,
    // RFC 3744 §7.1.1
    NeedPrivileges,
    // RFC 6578 §3.2 / §6.3
    ValidSyncToken,
    NumberOfMatchesWithinLimits,
    // RFC 5689 §3.3
    ValidResourceType,
    // RFC 4791 §5.3.2.1 (PUT/COPY/MOVE)
    SupportedCalendarData,
    ValidCalendarData,
    ValidCalendarObjectResource,
    SupportedCalendarComponent,
    /// Carries the href of the resource that already uses the UID.
    NoUidConflict(String),
    MaxResourceSize,
    MinDateTime,
    MaxDateTime,
    MaxInstances,
    MaxAttendeesPerInstance,
    // RFC 8607 (managed attachments), also checked on PUT
    MaxAttachmentSize,
    MaxAttachmentsPerResource,
    // RFC 4791 §5.3.1.1 (MKCALENDAR)
    CalendarCollectionLocationOk,
    // RFC 4791 §7.7 / §9 (REPORT)
    ValidFilter,
    SupportedFilter,
    SupportedCollation,
    // RFC 3253 §3.6
    SupportedReport,
    // RFC 6638 §3.2.2.1, §3.2.4.1-§3.2.4.3 (PUT/COPY/MOVE/DELETE of scheduling object resources)
    /// Carries the href of the scheduling object resource that already has the UID.
    UniqueSchedulingObjectResource(String),
    SameOrganizerInAllComponents,
    AllowedOrganizerSchedulingObjectChange,
    AllowedAttendeeSchedulingObjectChange,
    DefaultCalendarNeeded,
    // RFC 6638 §9.2 (PROPPATCH of schedule-default-calendar-URL)
    ValidScheduleDefaultCalendarUrl,
    // RFC 6638 §3.2.4, §5.1 (the scheduling message itself, POST to the outbox)
    ValidSchedulingMessage,
    ValidOrganizer,
    OriginatorSpecified,
    OriginatorAllowed,
    OrganizerAllowed,
    RecipientSpecified,
    RecipientPermissions,
    MaxRecipients,
}

impl Precondition {
    /// Namespace and local name of the element.
    pub fn qname(&self) -> (&'static str, &'static str) {
        use crate::names::{NS_CALDAV as C, NS_DAV as D};
        match self {
            Precondition::PropfindFiniteDepth => (D, "propfind-finite-depth"),
            Precondition::ResourceMustBeNull => (D, "resource-must-be-null"),
            Precondition::NeedPrivileges => (D, "need-privileges"),
            Precondition::ValidSyncToken => (D, "valid-sync-token"),
            Precondition::NumberOfMatchesWithinLimits => (D, "number-of-matches-within-limits"),
            Precondition::ValidResourceType => (D, "valid-resourcetype"),
            Precondition::SupportedCalendarData => (C, "supported-calendar-data"),
            Precondition::ValidCalendarData => (C, "valid-calendar-data"),
            Precondition::ValidCalendarObjectResource => (C, "valid-calendar-object-resource"),
            Precondition::SupportedCalendarComponent => (C, "supported-calendar-component"),
            Precondition::NoUidConflict(_) => (C, "no-uid-conflict"),
            Precondition::MaxResourceSize => (C, "max-resource-size"),
            Precondition::MinDateTime => (C, "min-date-time"),
            Precondition::MaxDateTime => (C, "max-date-time"),
            Precondition::MaxInstances => (C, "max-instances"),
            Precondition::MaxAttendeesPerInstance => (C, "max-attendees-per-instance"),
            Precondition::MaxAttachmentSize => (C, "max-attachment-size"),
            Precondition::MaxAttachmentsPerResource => (C, "max-attachments-per-resource"),
            Precondition::CalendarCollectionLocationOk => (C, "calendar-collection-location-ok"),
            Precondition::ValidFilter => (C, "valid-filter"),
            Precondition::SupportedFilter => (C, "supported-filter"),
            Precondition::SupportedCollation => (C, "supported-collation"),
            Precondition::SupportedReport => (D, "supported-report"),
            Precondition::UniqueSchedulingObjectResource(_) => (C, "unique-scheduling-object-resource"),
            Precondition::SameOrganizerInAllComponents => (C, "same-organizer-in-all-components"),
            Precondition::AllowedOrganizerSchedulingObjectChange => (C, "allowed-organizer-scheduling-object-change"),
            Precondition::AllowedAttendeeSchedulingObjectChange => (C, "allowed-attendee-scheduling-object-change"),
            Precondition::DefaultCalendarNeeded => (C, "default-calendar-needed"),
            Precondition::ValidScheduleDefaultCalendarUrl => (C, "valid-schedule-default-calendar-URL"),
            Precondition::ValidSchedulingMessage => (C, "valid-scheduling-message"),
            Precondition::ValidOrganizer => (C, "valid-organizer"),
            Precondition::OriginatorSpecified => (C, "originator-specified"),
            Precondition::OriginatorAllowed => (C, "originator-allowed"),
            Precondition::OrganizerAllowed => (C, "organizer-allowed"),
            Precondition::RecipientSpecified => (C, "recipient-specified"),
            Precondition::RecipientPermissions => (C, "recipient-permissions"),
            Precondition::MaxRecipients => (C, "max-recipients"),
        }
    }
}
