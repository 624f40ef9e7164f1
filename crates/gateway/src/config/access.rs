//! `[access]`: the operator's switch for CalDAV itself, for the whole service, a mail domain
//! or a user. Reloaded on SIGHUP and changed at run time through the admin listener.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Off: CalDAV for nobody, whatever the lists say (every signed-in request gets 403).
    pub enabled: bool,
    /// Mail domains (the part after `@` of a user's address or login) without CalDAV.
    pub disabled_domains: Vec<String>,
    /// Users without CalDAV, by login name or mail address.
    pub disabled_users: Vec<String>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig { enabled: true, disabled_domains: Vec::new(), disabled_users: Vec::new() }
    }
}
