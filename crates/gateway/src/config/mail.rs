//! `[mail]` and `[scheduling]`: users' mail addresses, how iMIP mail leaves the gateway, and
//! who may schedule.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Domain of the mail address of a user the backend names none for (embedded users added
    /// without `--email`, JMAP users whose identity has no address and whose login is none):
    /// `<login>@<domain>`, shown as `mailto:` in `calendar-user-address-set` (RFC 6638
    /// §2.4.1). Empty: the machine's host name, as Postfix's `myorigin` defaults to it.
    pub domain: String,
    /// Where iMIP invitations to people outside this store go when the backend sends no mail
    /// itself (the embedded store; a JMAP backend sends through `EmailSubmission`).
    pub submission: SubmissionConfig,
}

/// An SMTP submission server (RFC 6409), e.g. the mail server's port 587.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SubmissionConfig {
    /// Host name; empty: no submission server (invitations to outside addresses then get
    /// `SCHEDULE-STATUS=5.1`, could not be delivered).
    pub host: String,
    pub port: u16,
    pub security: SubmissionSecurity,
    /// Account to authenticate as; empty: no authentication (a relay that trusts the gateway).
    pub username: String,
    pub password: String,
    pub timeout_secs: u64,
}

impl Default for SubmissionConfig {
    fn default() -> Self {
        SubmissionConfig {
            host: String::new(),
            port: 587,
            security: SubmissionSecurity::Starttls,
            username: String::new(),
            password: String::new(),
            timeout_secs: 30,
        }
    }
}

/// Without the password: configurations end up in logs and panic messages.
impl std::fmt::Debug for SubmissionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubmissionConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("timeout_secs", &self.timeout_secs)
            .finish_non_exhaustive()
    }
}

/// How the connection to the submission server is protected.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionSecurity {
    /// Plain SMTP: only for a relay on the same host or network.
    None,
    /// STARTTLS required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl MailConfig {
    /// The configured domain, else `host_name` when it is a valid domain, else `localhost`:
    /// never a domain that would make an invalid address.
    pub fn effective_domain(&self, host_name: Option<&str>) -> String {
        if !self.domain.is_empty() {
            return self.domain.clone();
        }
        match host_name.map(str::trim) {
            Some(host) if store::mail_address::is_mail_domain(host) => host.to_ascii_lowercase(),
            _ => store::mail_address::FALLBACK_MAIL_DOMAIN.to_owned(),
        }
    }
}

/// Who may schedule (RFC 6638: inbox, outbox, free-busy, invitations). A user for whom it is
/// off keeps plain calendar access and sees none of scheduling (see `scheduling::policy`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulingConfig {
    /// Off: scheduling for nobody, whatever the lists say.
    pub enabled: bool,
    /// Mail domains (the part after `@` of a user's address) without scheduling.
    pub disabled_domains: Vec<String>,
    /// Users without scheduling, by login name or mail address.
    pub disabled_users: Vec<String>,
    /// Scheduling messages (one per recipient: invitations, updates, cancellations, answers)
    /// a user may send in an hour; beyond it a write that would send more is 429.
    pub max_invitations_per_hour: u32,
    /// Seconds between two looks at one user's mail INBOX for iMIP messages (at that
    /// user's requests; 1 or more).
    pub inbound_check_secs: u64,
}

impl Default for SchedulingConfig {
    fn default() -> Self {
        SchedulingConfig {
            enabled: true,
            disabled_domains: Vec::new(),
            disabled_users: Vec::new(),
            max_invitations_per_hour: 500,
            inbound_check_secs: 10,
        }
    }
}
