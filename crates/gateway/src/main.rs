//! caldav-gateway: load config → logging → open the store → serve → drain.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::time::Duration;

use gateway::config::{BackendKind, Config, LogFormat};
use rand::distributions::{Alphanumeric, DistString};
use store_embedded::EmbeddedBackend;
use store_imap::{ImapBackend, ImapOptions};
use store_jmap::{JmapBackend, JmapOptions, ServiceAccount};

/// sysexits.h EX_USAGE/EX_CONFIG style: a bad configuration is not a crash.
const EXIT_CONFIG: u8 = 64;
/// sysexits.h EX_DATAERR: a malformed argument of a subcommand.
const EXIT_USAGE: u8 = 65;
const DEFAULT_CONFIG: &str = "config/gateway.toml";

/// jemalloc with its background thread (the crate's `background_threads` feature) returns
/// freed pages to the system within seconds of a load ending, even while the threads that
/// freed them sleep; glibc's malloc kept every thread arena's peak (338 MiB resident at rest
/// after three minutes of 32 clients on 10,000 events, from 13 MiB at start: BENCHMARKS.md,
/// "memory"). It also stands in for `malloc` itself (the `unprefixed_malloc_on_supported_platforms`
/// feature), so the C code linked in allocates from it too: SQLite's page caches, one per read
/// connection, sat in glibc's arenas, which kept them after the connections closed (86 MiB at
/// rest after a 32-client load on 10,000 events, against 32 MiB with SQLite on jemalloc).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "caldav-gateway", version, about = "CalDAV endpoint in front of a mail server")]
struct Cli {
    /// Configuration file (default: config/gateway.toml when it exists, else built-in defaults).
    #[arg(long, global = true, env = "GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Manage users of the embedded store.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Check the configuration and exit.
    CheckConfig,
    /// Ask the admin listener of the running gateway: exit 0 when /healthz (or /readyz) answers
    /// 200. For a container HEALTHCHECK in an image without curl.
    Health {
        /// Ask /readyz (the backend answers too) instead of /healthz.
        #[arg(long)]
        ready: bool,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
    /// Print the DNS records (RFC 6764) that let clients find the gateway from a mail address.
    Dns {
        /// The mail domain: the part after @ of the users' addresses.
        domain: String,
        /// Host name clients connect to [default: caldav.<domain>].
        #[arg(long)]
        host: Option<String>,
        /// TLS port on that host.
        #[arg(long, default_value_t = 443)]
        port: u16,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user; without --password a random one is generated and printed.
    Add {
        name: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Set a user's password; without --password a random one is generated and printed.
    Passwd {
        name: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Delete a user and all their calendars.
    Del { name: String },
    /// List users.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Needs no configuration: it describes where clients should connect, not this process.
    if let Some(Command::Dns { domain, host, port }) = &cli.command {
        return match print_dns_records(domain, host.as_deref(), *port) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("caldav-gateway dns: {error}");
                ExitCode::from(EXIT_USAGE)
            }
        };
    }
    let config = match load_config(cli.config.as_ref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("caldav-gateway: invalid configuration: {error:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Plain blocking I/O, no runtime and no log lines: a probe runs every few seconds.
    if let Some(Command::Health { ready, timeout_secs }) = &cli.command {
        return match health(&config, *ready, *timeout_secs) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("caldav-gateway health: {error}");
                ExitCode::FAILURE
            }
        };
    }
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("caldav-gateway: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config, cli.config).await,
            Command::User { action } => user(&config, action).await,
            Command::CheckConfig => {
                println!("configuration is valid");
                Ok(())
            }
            Command::Dns { domain, host, port } => print_dns_records(&domain, host.as_deref(), port),
            Command::Health { ready, timeout_secs } => health(&config, ready, timeout_secs),
        }
    });
    // Dropping the runtime would wait without bound for blocking work still running (a SQLite
    // read of a request cut off when the grace period ended); a stopped process must exit.
    // An unfinished write is rolled back by SQLite's journal at the next start.
    runtime.shutdown_timeout(Duration::from_secs(5));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("caldav-gateway: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn health(config: &Config, ready: bool, timeout_secs: u64) -> anyhow::Result<()> {
    use gateway::health_probe::{check, Probe};
    let probe = if ready { Probe::Ready } else { Probe::Alive };
    check(config.admin.listen, probe, Duration::from_secs(timeout_secs.max(1)))?;
    println!("{} ok", probe.path());
    Ok(())
}

fn print_dns_records(domain: &str, host: Option<&str>, port: u16) -> anyhow::Result<()> {
    let service = gateway::dns_records::CaldavService::new(domain, host, port)?;
    print!("{}", service.zone_file());
    Ok(())
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        None => std::fs::read_to_string(DEFAULT_CONFIG).unwrap_or_default(),
    };
    Ok(Config::load(&text, std::env::vars())?)
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal; journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn open_backend(config: &Config) -> anyhow::Result<EmbeddedBackend> {
    if config.backend.kind != BackendKind::Embedded {
        anyhow::bail!("users live in the mail server with backend.kind = \"jmap\" or \"imap\"; manage them there");
    }
    let dir = &config.backend.embedded.data_dir;
    let backend =
        EmbeddedBackend::open(dir).await.with_context(|| format!("opening the embedded store in {}", dir.display()))?;
    Ok(backend.with_mail_domain(&mail_domain(config)))
}

/// `mail.domain`, or this machine's host name when that is empty (Linux: the kernel's
/// `hostname`, else /etc/hostname), or `localhost`.
fn mail_domain(config: &Config) -> String {
    let host_name = ["/proc/sys/kernel/hostname", "/etc/hostname"].iter().find_map(|p| std::fs::read_to_string(p).ok());
    let domain = config.mail.effective_domain(host_name.as_deref());
    tracing::debug!(domain, "mail domain of users without an address");
    domain
}

fn jmap_backend(config: &Config) -> anyhow::Result<JmapBackend> {
    let c = &config.backend.jmap;
    let options = JmapOptions {
        url: c.url.clone(),
        calendar_folder: c.calendar_folder.clone(),
        freshness: Duration::from_millis(c.freshness_ms),
        push: c.push,
        max_push_streams: c.max_push_streams,
        push_idle: Duration::from_secs(c.push_idle_secs),
        connect_timeout: Duration::from_millis(c.connect_timeout_ms),
        request_timeout: Duration::from_millis(c.request_timeout_ms),
        pool_max_idle: c.pool_max_idle,
        http2: c.http2,
        blob_cache_bytes: c.blob_cache_mib.saturating_mul(1024 * 1024),
        metadata_cache_bytes: c.metadata_cache_mib.saturating_mul(1024 * 1024),
        max_response_bytes: c.max_response_mib.saturating_mul(1024 * 1024),
        // Nothing larger than a request body was stored through the gateway.
        max_blob_bytes: config.limits.max_request_body,
        mail_domain: mail_domain(config),
        service: (!c.service_user.is_empty())
            .then(|| ServiceAccount { username: c.service_user.clone(), password: c.service_password.clone() }),
    };
    JmapBackend::new(options).map_err(|e| anyhow::anyhow!("backend.jmap: {e}"))
}

fn imap_backend(config: &Config) -> anyhow::Result<ImapBackend> {
    let c = &config.backend.imap;
    let options = ImapOptions {
        url: c.url.clone(),
        ca_file: (!c.ca_file.is_empty()).then(|| c.ca_file.clone()),
        starttls_on_loopback: false,
        calendar_folder: c.calendar_folder.clone(),
        connect_timeout: Duration::from_millis(c.connect_timeout_ms),
        command_timeout: Duration::from_millis(c.command_timeout_ms),
        max_connections: c.max_connections,
        idle_timeout: Duration::from_secs(c.idle_timeout_secs),
        max_response_bytes: usize::try_from(c.max_response_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX),
        mail_domain: mail_domain(config),
    };
    ImapBackend::new(options).map_err(|e| anyhow::anyhow!("backend.imap: {e}"))
}

async fn serve(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    // Held until serving ends.
    let _one_process = match config.backend.kind {
        BackendKind::Embedded => Some(lock_data_dir(&config.backend.embedded.data_dir)?),
        BackendKind::Jmap | BackendKind::Imap => None,
    };
    let backend: Arc<dyn store::Backend> = match config.backend.kind {
        BackendKind::Embedded => {
            let backend = open_backend(&config).await?;
            if config.demo.enabled && backend.list_users().await?.is_empty() {
                create_demo_user(&backend, &config.demo.user).await?;
            }
            Arc::new(backend)
        }
        BackendKind::Jmap => Arc::new(jmap_backend(&config)?),
        BackendKind::Imap => Arc::new(imap_backend(&config)?),
    };
    let state = gateway::AppState::new(backend, &config);
    reload_on_sighup(state.clone(), config_path);
    gateway::serve::run(&config, gateway::app(state.clone()), gateway::admin_app(state)).await
}

/// The embedded store is served by one process: its caches hold the truth between requests, so
/// a second gateway on the same directory would hand out stale ETags. An exclusive lock on
/// `<data_dir>/serve.lock`, held while serving, refuses the second one at start. (`user`
/// commands do not take it: adding a user while the gateway runs is fine.)
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another caldav-gateway already serves the embedded store in {}: the embedded store is one process \
             (for several replicas use the JMAP backend in front of a mail server)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => Err(error).with_context(|| format!("locking {}", path.display())),
    }
}

/// SIGHUP reads the configuration again (file and environment, as at start) and applies what
/// can change without a restart: the CalDAV switch `[access]`. A configuration that no longer
/// loads is logged and changes nothing.
fn reload_on_sighup(state: gateway::AppState, path: Option<PathBuf>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; configuration reload is unavailable");
            return;
        };
        while hangups.recv().await.is_some() {
            match load_config(path.as_ref()) {
                Ok(config) => state.access().replace(&config.access, "SIGHUP"),
                Err(error) => tracing::error!("SIGHUP: configuration not reloaded, keeping the running one: {error:#}"),
            }
        }
    });
}

/// The password goes to a person at a terminal only: when stdout is a pipe or the journal it
/// would end up in a log, so the user is created without showing it and the way to set one is
/// printed instead.
async fn create_demo_user(backend: &EmbeddedBackend, name: &str) -> anyhow::Result<()> {
    let password = random_password();
    backend.add_user(name, &password, Some("Demo User"), None).await?;
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        println!("Created demo user '{name}' with password: {password}");
        println!("(shown once; change it with: caldav-gateway user passwd {name})");
    } else {
        println!("Created demo user '{name}'; stdout is no terminal, so its password is not shown.");
        println!("Set one with: caldav-gateway user passwd {name}");
    }
    Ok(())
}

async fn user(config: &Config, action: UserAction) -> anyhow::Result<()> {
    let backend = open_backend(config).await?;
    match action {
        UserAction::Add { name, password, email, display_name } => {
            let (password, generated) = password_or_random(password);
            backend.add_user(&name, &password, display_name.as_deref(), email.as_deref()).await?;
            println!("added user {name}");
            if generated {
                println!("password: {password}");
            }
        }
        UserAction::Passwd { name, password } => {
            let (password, generated) = password_or_random(password);
            backend.set_password(&name, &password).await?;
            println!("password of {name} changed");
            if generated {
                println!("password: {password}");
            }
        }
        UserAction::Del { name } => {
            backend.delete_user(&name).await?;
            println!("deleted user {name}");
        }
        UserAction::List => {
            for user in backend.list_users().await? {
                println!("{}", user.name);
            }
        }
    }
    Ok(())
}

fn password_or_random(password: Option<String>) -> (String, bool) {
    match password {
        Some(password) => (password, false),
        None => (random_password(), true),
    }
}

fn random_password() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}
