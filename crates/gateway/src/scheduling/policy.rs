//! Who may schedule (`[scheduling]` in the config): on for everyone unless turned off as a
//! whole, for a mail domain, or for a user. The product this gateway reproduces sells
//! scheduling and free-busy as a tier, so the switch hides all of it, not just the sending:
//! for a user without scheduling OPTIONS does not advertise `calendar-auto-schedule`, no
//! scheduling property, inbox or outbox exists, and an outbox POST is refused with a message.

use std::collections::HashSet;

use store::Principal;

use crate::config::SchedulingConfig;

#[derive(Clone, Debug)]
pub struct SchedulingPolicy {
    enabled: bool,
    /// Lower-cased.
    disabled_domains: HashSet<String>,
    /// Lower-cased login names and mail addresses.
    disabled_users: HashSet<String>,
}

impl SchedulingPolicy {
    pub fn new(config: &SchedulingConfig) -> Self {
        let lower = |list: &[String]| list.iter().map(|entry| entry.trim().to_lowercase()).collect();
        SchedulingPolicy {
            enabled: config.enabled,
            disabled_domains: lower(&config.disabled_domains),
            disabled_users: lower(&config.disabled_users),
        }
    }

    /// Whether `principal` may schedule: only with a calendar user address to schedule as
    /// (RFC 6638 §2.4.1; Thunderbird and iOS offer nothing without one either), and then
    /// unless the configuration says otherwise. Mail addresses and domains compare without case
    /// (RFC 5321 §2.4 leaves local parts to the mail server; every server this gateway
    /// fronts treats them without case), and so do login names, which mail servers match so.
    pub fn allows(&self, principal: &Principal) -> bool {
        if !self.enabled || self.disabled_users.contains(&principal.user.to_lowercase()) {
            return false;
        }
        let Some(address) = principal.email.as_deref().map(str::to_lowercase) else { return false };
        if self.disabled_users.contains(&address) {
            return false;
        }
        let domain = address.rsplit_once('@').map_or("", |(_, domain)| domain);
        !self.disabled_domains.contains(domain)
    }

    /// What an OPTIONS without credentials advertises: the deployment's setting, since no
    /// user is known (an authenticated OPTIONS gets the user's own answer).
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(enabled: bool, domains: &[&str], users: &[&str]) -> SchedulingPolicy {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        SchedulingPolicy::new(&SchedulingConfig {
            enabled,
            disabled_domains: owned(domains),
            disabled_users: owned(users),
            ..SchedulingConfig::default()
        })
    }

    fn principal(user: &str, email: Option<&str>) -> Principal {
        Principal { user: user.into(), display_name: user.into(), email: email.map(str::to_owned) }
    }

    #[test]
    fn on_for_everyone_by_default() {
        let policy = policy(true, &[], &[]);
        assert!(policy.allows(&principal("alice", Some("alice@example.com"))));
        assert!(!policy.allows(&principal("nomail", None)), "no address to schedule as");
    }

    #[test]
    fn off_as_a_whole_is_off_for_everyone() {
        let policy = policy(false, &[], &[]);
        assert!(!policy.allows(&principal("alice", Some("alice@example.com"))));
        assert!(!policy.enabled());
    }

    #[test]
    fn a_disabled_domain_is_the_part_after_the_at_of_the_address_in_any_case() {
        let policy = policy(true, &["Free.Example"], &[]);
        assert!(!policy.allows(&principal("bob", Some("Bob@FREE.example"))));
        assert!(policy.allows(&principal("bob", Some("bob@paid.example"))));
        // A subdomain is another domain.
        assert!(policy.allows(&principal("bob", Some("bob@sub.free.example"))));
        assert!(policy.enabled());
    }

    #[test]
    fn a_disabled_user_is_named_by_login_or_address() {
        let policy = policy(true, &[], &["Carol", "dave@example.com"]);
        assert!(!policy.allows(&principal("carol", Some("c@example.com"))));
        assert!(!policy.allows(&principal("d", Some("DAVE@example.com"))));
        assert!(policy.allows(&principal("erin", Some("erin@example.com"))));
    }
}
