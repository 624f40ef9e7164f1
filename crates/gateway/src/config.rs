//! `config/gateway.toml`, overridden by `GATEWAY__SECTION__KEY` environment variables.
//!
//! Loading takes the file text and the environment as arguments, so tests need neither
//! files nor real environment variables. Every field has a default, so an empty file is a
//! working configuration; unknown keys are errors, so a typo never silently does nothing.

use serde::Deserialize;

mod access;
mod admin;
mod auth;
mod backend;
mod mail;
mod server;

pub use access::AccessConfig;
pub use admin::AdminConfig;
pub use auth::AuthConfig;
pub use backend::{BackendConfig, BackendKind, EmbeddedConfig, ImapConfig, JmapConfig};
pub use mail::{MailConfig, SchedulingConfig, SubmissionConfig, SubmissionSecurity};
pub use server::{ServerConfig, TlsConfig};

/// The prefix of environment overrides: `GATEWAY__LIMITS__MAX_REQUEST_BODY=2097152`.
pub const ENV_PREFIX: &str = "GATEWAY__";

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub admin: AdminConfig,
    pub access: AccessConfig,
    pub tls: TlsConfig,
    pub backend: BackendConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub caldav: CaldavConfig,
    pub mail: MailConfig,
    pub scheduling: SchedulingConfig,
    pub log: LogConfig,
    pub demo: DemoConfig,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body in bytes; larger ones get 413.
    pub max_request_body: u64,
    /// Largest calendar object resource in bytes (RFC 4791 §5.2.5 max-resource-size).
    pub max_resource_size: u64,
    /// Seconds a request may take; a slower one is answered 503 with Retry-After, since the
    /// cause is a slow backend, not the client.
    pub request_timeout_secs: u64,
    /// Seconds a client gets to send the whole request body; a slower one is answered 408 and
    /// its connection closed, so a trickled body cannot hold a connection for ever.
    pub request_body_timeout_secs: u64,
    /// Most hrefs in one calendar-multiget.
    pub max_multiget_hrefs: usize,
    /// Most instances one recurring event is expanded into while answering a query; beyond
    /// it the query is refused with CALDAV:max-instances instead of running unbounded.
    pub max_instances: usize,
    /// Most ATTENDEEs of one instance of an event or task (RFC 4791 §5.2.9); a PUT over it
    /// is refused with CALDAV:max-attendees-per-instance.
    pub max_attendees_per_instance: usize,
    /// Most ATTACH properties in one calendar object, alarm sounds not counted (RFC 8607).
    pub max_attachments_per_resource: usize,
    /// Largest inline (base64) attachment in octets, decoded (RFC 8607). Inline
    /// attachments also count towards max_resource_size.
    pub max_attachment_size: u64,
    /// Milliseconds of CPU one calendar-query may spend parsing and testing objects; beyond
    /// it the query is refused with 507 DAV:number-of-matches-within-limits.
    pub max_query_cpu_ms: u64,
    /// Most members one sync-collection answer reports; a larger answer is sent in pages
    /// (RFC 6578 §3.6: truncated, the collection answered 507, a token to continue from).
    pub max_sync_results: usize,
    /// MiB of parsed calendar objects kept between requests (`parsed_objects`); 0 turns the
    /// cache off.
    pub parsed_object_cache_mib: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_request_body: 10 * 1024 * 1024,
            max_resource_size: 1024 * 1024,
            request_timeout_secs: 60,
            request_body_timeout_secs: 30,
            max_multiget_hrefs: 5_000,
            max_instances: 100_000,
            max_attendees_per_instance: 1_000,
            max_attachments_per_resource: 100,
            max_attachment_size: 1024 * 1024,
            max_query_cpu_ms: 5_000,
            max_sync_results: 1000,
            parsed_object_cache_mib: 32,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CaldavConfig {
    /// Give a user who has no calendar folder at all a calendar and a task list at login.
    pub provision_defaults: bool,
    /// URL segment and display name of the default calendar.
    pub default_calendar: String,
    pub default_calendar_name: String,
    /// URL segment and display name of the default task list.
    pub default_tasks: String,
    pub default_tasks_name: String,
}

impl Default for CaldavConfig {
    fn default() -> Self {
        CaldavConfig {
            provision_defaults: true,
            default_calendar: "calendar".into(),
            default_calendar_name: "Calendar".into(),
            default_tasks: "tasks".into(),
            default_tasks_name: "Tasks".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `gateway=debug,info`. `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: LogFormat::Text }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// On an embedded store without users, create this user and print its password once, to
    /// a terminal only. Off by default: under a service manager stdout is a log (the journal),
    /// so only `make run` turns it on.
    pub enabled: bool,
    pub user: String,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig { enabled: false, user: "demo".into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Syntax(String),
    #[error("environment variable {name}: {reason}")]
    Env { name: String, reason: String },
    #[error("setting {setting}: {reason}")]
    Invalid { setting: &'static str, reason: String },
}

impl Config {
    /// Parses the file text, applies `GATEWAY__*` overrides from `env`, and checks the result.
    pub fn load(toml_text: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(toml_text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let mut overridden = Vec::new();
        for (name, value) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else { continue };
            apply_override(&mut table, path, &value)
                .map_err(|reason| ConfigError::Env { name: name.clone(), reason })?;
            overridden.push(name);
        }
        // Re-serialising gives serde's errors a line to point at, so a bad value is reported
        // with the key it belongs to, from the file or from the environment alike.
        let merged = toml::to_string(&table).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let config: Config = toml::from_str(&merged).map_err(|e| {
            let origin = if overridden.is_empty() {
                String::new()
            } else {
                format!("\n(environment overrides in effect: {})", overridden.join(", "))
            };
            ConfigError::Syntax(format!("{e}{origin}"))
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.tls.redirect_listen.is_some() && !self.tls.enabled {
            return Err(ConfigError::Invalid {
                setting: "tls.redirect_listen",
                reason: "redirects to HTTPS need tls.enabled = true (behind a proxy, let the proxy redirect)".into(),
            });
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            let setting = if self.tls.cert.is_some() { "tls.key" } else { "tls.cert" };
            return Err(ConfigError::Invalid { setting, reason: "tls.cert and tls.key go together".into() });
        }
        if self.backend.kind == BackendKind::Jmap {
            let jmap = &self.backend.jmap;
            if !(jmap.url.starts_with("http://") || jmap.url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    setting: "backend.jmap.url",
                    reason: "an http:// or https:// URL of the JMAP session resource is required".into(),
                });
            }
            if jmap.freshness_ms > 5000 {
                return Err(ConfigError::Invalid {
                    setting: "backend.jmap.freshness_ms",
                    reason: "at most 5000".into(),
                });
            }
            if jmap.max_push_streams > 100_000 {
                return Err(ConfigError::Invalid {
                    setting: "backend.jmap.max_push_streams",
                    reason: "at most 100000 (each stream is a connection, and a process of Cyrus)".into(),
                });
            }
            if jmap.push_idle_secs == 0 || jmap.push_idle_secs > 86_400 {
                return Err(ConfigError::Invalid {
                    setting: "backend.jmap.push_idle_secs",
                    reason: "between 1 and 86400".into(),
                });
            }
            if jmap.connect_timeout_ms == 0 || jmap.request_timeout_ms == 0 {
                return Err(ConfigError::Invalid {
                    setting: "backend.jmap.request_timeout_ms",
                    reason: "timeouts must be > 0".into(),
                });
            }
            if jmap.max_response_mib == 0 {
                return Err(ConfigError::Invalid {
                    setting: "backend.jmap.max_response_mib",
                    reason: "at least 1: every answer of the mail server is read".into(),
                });
            }
            if jmap.calendar_folder.is_empty() || jmap.calendar_folder.contains('/') {
                return Err(ConfigError::Invalid {
                    setting: "backend.jmap.calendar_folder",
                    reason: "a top-level mailbox name".into(),
                });
            }
            if !jmap.service_user.is_empty() && jmap.service_password.is_empty() {
                return Err(ConfigError::Invalid {
                    setting: "backend.jmap.service_password",
                    reason: "backend.jmap.service_user needs its password".into(),
                });
            }
        }
        if self.backend.kind == BackendKind::Imap {
            self.backend.imap.check()?;
        }
        if self.limits.max_request_body == 0 {
            return Err(ConfigError::Invalid { setting: "limits.max_request_body", reason: "must be > 0".into() });
        }
        if self.limits.max_resource_size == 0 || self.limits.max_resource_size > self.limits.max_request_body {
            return Err(ConfigError::Invalid {
                setting: "limits.max_resource_size",
                reason: "must be > 0 and at most limits.max_request_body".into(),
            });
        }
        if self.limits.max_instances == 0 {
            return Err(ConfigError::Invalid { setting: "limits.max_instances", reason: "must be > 0".into() });
        }
        if self.limits.max_query_cpu_ms == 0 {
            return Err(ConfigError::Invalid { setting: "limits.max_query_cpu_ms", reason: "must be > 0".into() });
        }
        if self.limits.max_sync_results == 0 {
            return Err(ConfigError::Invalid { setting: "limits.max_sync_results", reason: "must be > 0".into() });
        }
        if self.limits.request_body_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                setting: "limits.request_body_timeout_secs",
                reason: "must be > 0".into(),
            });
        }
        if self.server.max_connections == 0 || self.server.max_connections > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(ConfigError::Invalid {
                setting: "server.max_connections",
                reason: "must be > 0 (and fit a semaphore)".into(),
            });
        }
        if self.server.header_read_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                setting: "server.header_read_timeout_secs",
                reason: "must be > 0".into(),
            });
        }
        if self.limits.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid { setting: "limits.request_timeout_secs", reason: "must be > 0".into() });
        }
        if self.auth.realm.contains('"') || self.auth.realm.chars().any(char::is_control) {
            return Err(ConfigError::Invalid {
                setting: "auth.realm",
                reason: "no quotes or control characters".into(),
            });
        }
        for (setting, segment) in [
            ("caldav.default_calendar", &self.caldav.default_calendar),
            ("caldav.default_tasks", &self.caldav.default_tasks),
        ] {
            if segment.is_empty() || segment.contains('/') || segment.starts_with('.') {
                return Err(ConfigError::Invalid { setting, reason: "must be a plain URL segment".into() });
            }
        }
        if !self.mail.domain.is_empty() && !store::mail_address::is_mail_domain(&self.mail.domain) {
            return Err(ConfigError::Invalid {
                setting: "mail.domain",
                reason: "a host name such as mail.example.org (letters, digits, hyphens, dots), or empty".into(),
            });
        }
        for domain in &self.scheduling.disabled_domains {
            if !store::mail_address::is_mail_domain(domain) {
                return Err(ConfigError::Invalid {
                    setting: "scheduling.disabled_domains",
                    reason: format!("{domain:?} is no mail domain (such as mail.example.org)"),
                });
            }
        }
        if self.scheduling.disabled_users.iter().any(|u| u.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                setting: "scheduling.disabled_users",
                reason: "an empty name matches nobody".into(),
            });
        }
        for (setting, segment) in [
            ("caldav.default_calendar", &self.caldav.default_calendar),
            ("caldav.default_tasks", &self.caldav.default_tasks),
        ] {
            if dav::path::is_reserved_folder(segment) {
                return Err(ConfigError::Invalid {
                    setting,
                    reason: "inbox and outbox are the scheduling collections".into(),
                });
            }
        }
        let submission = &self.mail.submission;
        let host_ok = submission.host.parse::<std::net::IpAddr>().is_ok()
            || store::mail_address::is_mail_domain(&submission.host);
        if !submission.host.is_empty() && !host_ok {
            return Err(ConfigError::Invalid {
                setting: "mail.submission.host",
                reason: "a host name or IP address of an SMTP submission server, or empty".into(),
            });
        }
        if self.caldav.default_calendar == self.caldav.default_tasks {
            return Err(ConfigError::Invalid {
                setting: "caldav.default_tasks",
                reason: "must differ from caldav.default_calendar".into(),
            });
        }
        Ok(())
    }
}

/// Sets `a__b__c` in `table` (keys lower-cased). The value is read as a TOML value when it is
/// one (`false`, `42`, `"x"`), else taken as a string, so `127.0.0.1:0` needs no quoting.
fn apply_override(table: &mut toml::Table, path: &str, raw: &str) -> Result<(), String> {
    let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    if keys.iter().any(String::is_empty) {
        return Err("empty key segment".into());
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let (last, parents) = keys.split_last().ok_or("empty name")?;
    let mut current = table;
    for key in parents {
        let entry = current.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| format!("{key} is not a section"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = Config::load("", env(&[])).unwrap();
        assert_eq!(config, Config::default());
        assert!(config.tls.enabled);
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8443");
    }

    #[test]
    fn demo_user_is_off_unless_asked_for() {
        assert!(!Config::default().demo.enabled);
        let config = Config::load("", env(&[("GATEWAY__DEMO__ENABLED", "true")])).unwrap();
        assert!(config.demo.enabled);
    }

    #[test]
    fn shipped_config_file_is_valid_and_equals_the_defaults() {
        let text = include_str!("../../../config/gateway.toml");
        assert_eq!(Config::load(text, env(&[])).unwrap(), Config::default());
    }

    #[test]
    fn environment_overrides_file_values_with_typed_values() {
        let config = Config::load(
            "[limits]\nmax_request_body = 100\nmax_resource_size = 50\n",
            env(&[
                ("GATEWAY__LIMITS__MAX_REQUEST_BODY", "2000"),
                ("GATEWAY__SERVER__LISTEN", "127.0.0.1:0"),
                ("GATEWAY__TLS__ENABLED", "false"),
                ("GATEWAY__BACKEND__EMBEDDED__DATA_DIR", "/tmp/x y"),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(config.limits.max_request_body, 2000);
        assert_eq!(config.limits.max_resource_size, 50);
        assert_eq!(config.server.listen.port(), 0);
        assert!(!config.tls.enabled);
        assert_eq!(config.backend.embedded.data_dir, PathBuf::from("/tmp/x y"));
    }

    #[test]
    fn unknown_setting_is_an_error_naming_it() {
        let err = Config::load("[limits]\nmax_reqest_body = 5\n", env(&[])).unwrap_err();
        assert!(err.to_string().contains("max_reqest_body"), "{err}");
    }

    #[test]
    fn wrong_type_from_environment_names_the_setting_and_the_variable() {
        let err = Config::load("", env(&[("GATEWAY__LIMITS__MAX_REQUEST_BODY", "lots")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("max_request_body"), "{text}");
        assert!(text.contains("GATEWAY__LIMITS__MAX_REQUEST_BODY"), "{text}");
    }

    #[test]
    fn push_settings_out_of_range_are_refused_by_name() {
        let jmap = "[backend]\nkind = \"jmap\"\n[backend.jmap]\nurl = \"http://127.0.0.1:1/\"\n";
        let config = Config::load(jmap, env(&[])).unwrap();
        assert!(config.backend.jmap.push);
        assert_eq!(config.backend.jmap.freshness_ms, backend::DEFAULT_FRESHNESS_MS);
        for (setting, value) in [("max_push_streams", "100001"), ("push_idle_secs", "0"), ("push_idle_secs", "86401")] {
            let err = Config::load(&format!("{jmap}{setting} = {value}\n"), env(&[])).unwrap_err();
            assert!(err.to_string().contains(&format!("backend.jmap.{setting}")), "{err}");
        }
        let off = Config::load(jmap, env(&[("GATEWAY__BACKEND__JMAP__PUSH", "false")])).unwrap();
        assert!(!off.backend.jmap.push);
    }

    #[test]
    fn imap_settings_are_read_and_checked_by_name() {
        let imap = "[backend]\nkind = \"imap\"\n[backend.imap]\nurl = \"imaps://mail.example\"\n";
        let config = Config::load(imap, env(&[])).unwrap();
        assert_eq!(config.backend.kind, BackendKind::Imap);
        assert_eq!(config.backend.imap.max_connections, 4);
        let err = Config::load("[backend]\nkind = \"imap\"\n", env(&[])).unwrap_err();
        assert!(err.to_string().contains("backend.imap.url"), "{err}");
        for (setting, value) in [("max_connections", "0"), ("command_timeout_ms", "0"), ("calendar_folder", "\"a/b\"")]
        {
            let err = Config::load(&format!("{imap}{setting} = {value}\n"), env(&[])).unwrap_err();
            assert!(err.to_string().contains("backend.imap."), "{err}");
        }
    }

    #[test]
    fn cert_without_key_is_refused() {
        let err = Config::load("[tls]\ncert = \"/x.pem\"\n", env(&[])).unwrap_err();
        assert!(err.to_string().contains("tls.key"), "{err}");
    }

    #[test]
    fn resource_size_above_request_body_is_refused() {
        let err = Config::load("[limits]\nmax_request_body = 10\nmax_resource_size = 20\n", env(&[])).unwrap_err();
        assert!(err.to_string().contains("limits.max_resource_size"), "{err}");
    }

    #[test]
    fn mail_domain_is_the_setting_else_a_valid_host_name_else_localhost() {
        let config = Config::load("", env(&[])).unwrap();
        assert_eq!(config.mail.effective_domain(Some("box1.example.org\n")), "box1.example.org");
        assert_eq!(config.mail.effective_domain(Some("bad_host\n")), "localhost");
        assert_eq!(config.mail.effective_domain(None), "localhost");
        let config = Config::load("[mail]\ndomain = \"mail.example\"", env(&[])).unwrap();
        assert_eq!(config.mail.effective_domain(Some("box1")), "mail.example");
    }

    #[test]
    fn scheduling_is_on_by_default_and_its_lists_come_from_file_or_environment() {
        let config = Config::load("", env(&[])).unwrap();
        assert!(config.scheduling.enabled);
        assert!(config.scheduling.disabled_domains.is_empty() && config.scheduling.disabled_users.is_empty());
        let config = Config::load(
            "[scheduling]\ndisabled_domains = [\"free.example\"]\n",
            env(&[("GATEWAY__SCHEDULING__DISABLED_USERS", "[\"bob\", \"Carol@Example.org\"]")]),
        )
        .unwrap();
        assert_eq!(config.scheduling.disabled_domains, vec!["free.example".to_owned()]);
        assert_eq!(config.scheduling.disabled_users, vec!["bob".to_owned(), "Carol@Example.org".to_owned()]);
        let config = Config::load("", env(&[("GATEWAY__SCHEDULING__ENABLED", "false")])).unwrap();
        assert!(!config.scheduling.enabled);
    }

    #[test]
    fn scheduling_lists_with_unusable_entries_are_refused() {
        let error = Config::load("[scheduling]\ndisabled_domains = [\"@example.org\"]", env(&[])).unwrap_err();
        assert!(error.to_string().contains("scheduling.disabled_domains"), "{error}");
        let error = Config::load("[scheduling]\ndisabled_users = [\" \"]", env(&[])).unwrap_err();
        assert!(error.to_string().contains("scheduling.disabled_users"), "{error}");
        let error = Config::load("[caldav]\ndefault_calendar = \"inbox\"", env(&[])).unwrap_err();
        assert!(error.to_string().contains("caldav.default_calendar"), "{error}");
    }

    #[test]
    fn submission_server_from_environment_and_password_never_in_debug() {
        let config = Config::load(
            "",
            env(&[
                ("GATEWAY__MAIL__SUBMISSION__HOST", "smtp.example.org"),
                ("GATEWAY__MAIL__SUBMISSION__SECURITY", "tls"),
                ("GATEWAY__MAIL__SUBMISSION__PORT", "465"),
                ("GATEWAY__MAIL__SUBMISSION__PASSWORD", "s3cret"),
            ]),
        )
        .unwrap();
        assert_eq!(config.mail.submission.host, "smtp.example.org");
        assert_eq!(config.mail.submission.security, SubmissionSecurity::Tls);
        assert_eq!(config.mail.submission.port, 465);
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn jmap_service_account_from_environment_and_password_never_in_debug() {
        let jmap = [("GATEWAY__BACKEND__KIND", "jmap"), ("GATEWAY__BACKEND__JMAP__URL", "http://127.0.0.1:1/jmap")];
        let config = Config::load(
            "",
            env(&[
                jmap[0],
                jmap[1],
                ("GATEWAY__BACKEND__JMAP__SERVICE_USER", "caldav-service"),
                ("GATEWAY__BACKEND__JMAP__SERVICE_PASSWORD", "s3cret"),
            ]),
        )
        .unwrap();
        assert_eq!(config.backend.jmap.service_user, "caldav-service");
        assert_eq!(config.backend.jmap.service_password, "s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(format!("{config:?}").contains("caldav-service"));
        let error =
            Config::load("", env(&[jmap[0], jmap[1], ("GATEWAY__BACKEND__JMAP__SERVICE_USER", "caldav-service")]))
                .unwrap_err();
        assert!(error.to_string().contains("backend.jmap.service_password"), "{error}");
    }

    #[test]
    fn submission_host_that_is_no_host_name_is_refused() {
        let error = Config::load("", env(&[("GATEWAY__MAIL__SUBMISSION__HOST", "smtp example")])).unwrap_err();
        assert!(error.to_string().contains("mail.submission.host"), "{error}");
        assert!(Config::load("", env(&[("GATEWAY__MAIL__SUBMISSION__HOST", "127.0.0.1")])).is_ok());
    }

    #[test]
    fn mail_domain_that_is_no_host_name_is_refused() {
        let error = Config::load("", env(&[("GATEWAY__MAIL__DOMAIN", "example..org")])).unwrap_err();
        assert!(error.to_string().contains("mail.domain"), "{error}");
    }
}
