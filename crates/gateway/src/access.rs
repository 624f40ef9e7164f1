//! The operator's CalDAV switch (`[access]`): off for the whole service, a mail domain or a
//! user, without a restart. The file's lists come in at start and on SIGHUP; the admin API
//! changes them in between (until the next reload, which the log says). A user who is switched
//! off gets 403 with a sentence saying so on every authenticated request but OPTIONS (which
//! only says what the server can do), from the next request on (cached sessions included);
//! others are not affected.

use std::collections::BTreeSet;
use std::sync::RwLock;

use store::Principal;

use crate::config::AccessConfig;

/// Why a user may not use CalDAV, for the 403's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    Service,
    Domain(String),
    User,
}

impl Closed {
    pub fn message(&self) -> String {
        match self {
            Closed::Service => "Calendar access (CalDAV) is turned off on this server.".into(),
            Closed::Domain(domain) => format!("Calendar access (CalDAV) is turned off for {domain}."),
            Closed::User => "Calendar access (CalDAV) is turned off for this account.".into(),
        }
    }
}

/// What a change names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Service,
    Domain(&'a str),
    User(&'a str),
}

pub struct AccessSwitch {
    state: RwLock<State>,
}

/// Entries lower-cased: mail domains, addresses and (as mail servers match them) login names
/// compare without case.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    enabled: bool,
    disabled_domains: BTreeSet<String>,
    disabled_users: BTreeSet<String>,
}

impl State {
    fn from_config(config: &AccessConfig) -> State {
        let lower = |list: &[String]| list.iter().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()).collect();
        State {
            enabled: config.enabled,
            disabled_domains: lower(&config.disabled_domains),
            disabled_users: lower(&config.disabled_users),
        }
    }
}

impl AccessSwitch {
    pub fn new(config: &AccessConfig) -> Self {
        AccessSwitch { state: RwLock::new(State::from_config(config)) }
    }

    /// Whether `principal` may use CalDAV now.
    pub fn check(&self, principal: &Principal) -> Result<(), Closed> {
        let state = self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !state.enabled {
            return Err(Closed::Service);
        }
        let login = principal.user.to_lowercase();
        let address = principal.email.as_deref().map(str::to_lowercase);
        if state.disabled_users.contains(&login) || address.as_ref().is_some_and(|a| state.disabled_users.contains(a)) {
            return Err(Closed::User);
        }
        // The address's domain, or the login's when it is an address (JMAP logins often are).
        for candidate in [address.as_deref(), Some(login.as_str())].into_iter().flatten() {
            if let Some((_, domain)) = candidate.rsplit_once('@') {
                if state.disabled_domains.contains(domain) {
                    return Err(Closed::Domain(domain.to_owned()));
                }
            }
        }
        Ok(())
    }

    /// Turns CalDAV on or off for `scope`; `by` names who asked, for the log.
    pub fn set(&self, scope: Scope<'_>, on: bool, by: &str) {
        let mut state = self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let switch = |set: &mut BTreeSet<String>, name: &str| {
            let name = name.trim().to_lowercase();
            if on {
                set.remove(&name);
            } else {
                set.insert(name);
            }
        };
        match scope {
            Scope::Service => state.enabled = on,
            Scope::Domain(domain) => switch(&mut state.disabled_domains, domain),
            Scope::User(user) => switch(&mut state.disabled_users, user),
        }
        drop(state);
        let (scope, name) = match scope {
            Scope::Service => ("service", ""),
            Scope::Domain(domain) => ("domain", domain),
            Scope::User(user) => ("user", user),
        };
        tracing::warn!(scope, name, caldav = if on { "on" } else { "off" }, by, "CalDAV access changed");
    }

    /// Replaces every setting with the configuration's (SIGHUP), logging what changed.
    pub fn replace(&self, config: &AccessConfig, by: &str) {
        let new = State::from_config(config);
        let mut state = self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if *state == new {
            tracing::info!(by, "CalDAV access unchanged by the reloaded configuration");
            return;
        }
        *state = new;
        drop(state);
        tracing::warn!(
            by,
            enabled = config.enabled,
            disabled_domains = ?config.disabled_domains,
            disabled_users = ?config.disabled_users,
            "CalDAV access replaced by the reloaded configuration (changes made through the admin API are gone)"
        );
    }

    /// The settings in force, in the configuration's shape.
    pub fn current(&self) -> AccessConfig {
        let state = self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        AccessConfig {
            enabled: state.enabled,
            disabled_domains: state.disabled_domains.iter().cloned().collect(),
            disabled_users: state.disabled_users.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(user: &str, email: Option<&str>) -> Principal {
        Principal { user: user.into(), display_name: user.into(), email: email.map(str::to_owned) }
    }

    #[test]
    fn users_domains_and_the_service_switch_independently() {
        let switch = AccessSwitch::new(&AccessConfig::default());
        let alice = principal("alice", Some("Alice@Example.com"));
        let bob = principal("bob@other.org", None);
        assert_eq!(switch.check(&alice), Ok(()));

        switch.set(Scope::User("ALICE@example.com"), false, "test");
        assert_eq!(switch.check(&alice), Err(Closed::User));
        assert_eq!(switch.check(&bob), Ok(()));
        switch.set(Scope::User("alice@example.com"), true, "test");
        assert_eq!(switch.check(&alice), Ok(()));

        switch.set(Scope::Domain("other.org"), false, "test");
        assert_eq!(switch.check(&bob), Err(Closed::Domain("other.org".into())), "domain of an address-shaped login");
        assert_eq!(switch.check(&alice), Ok(()));

        switch.set(Scope::Service, false, "test");
        assert_eq!(switch.check(&alice), Err(Closed::Service));
        switch.set(Scope::Service, true, "test");
        assert_eq!(switch.current().disabled_domains, vec!["other.org".to_string()]);
    }

    #[test]
    fn a_reload_replaces_changes_made_at_run_time() {
        let switch = AccessSwitch::new(&AccessConfig { disabled_users: vec!["bob".into()], ..AccessConfig::default() });
        switch.set(Scope::User("carol"), false, "test");
        switch.replace(&AccessConfig::default(), "test");
        assert_eq!(switch.current(), AccessConfig::default());
        assert_eq!(switch.check(&principal("carol", None)), Ok(()));
    }
}
