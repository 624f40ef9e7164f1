//! Sending iMIP mail as the user: through the user's own mail system when the backend sends
//! mail (JMAP `EmailSubmission`), else through the SMTP submission server of `[mail.submission]`
//! (the embedded store has no mail system of its own). Every user's outgoing scheduling
//! messages are counted per hour, so a compromised account cannot turn the gateway into a
//! spam relay.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use store::{OutgoingMail, Session, StoreError};

use crate::config::{SubmissionConfig, SubmissionSecurity};

/// Why a mail was not sent. The caller records it as the recipient's `SCHEDULE-STATUS`.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Neither the mail store nor `[mail.submission]` can send mail.
    #[error("no way to send mail is configured ([mail.submission] host)")]
    NoRoute,
    #[error("an address is not usable: {0}")]
    Address(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("SMTP submission failed: {0}")]
    Smtp(String),
}

/// The configured SMTP submission server, if any.
pub struct Mailer {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Mailer {
    /// `config.host` was checked when the configuration was loaded; a host that still makes
    /// no TLS server name leaves the gateway without submission, said in the log.
    pub fn new(config: &SubmissionConfig) -> Self {
        if config.host.is_empty() {
            return Mailer { smtp: None };
        }
        let tls = || TlsParameters::new(config.host.clone());
        let tls = match config.security {
            SubmissionSecurity::None => Ok(Tls::None),
            SubmissionSecurity::Starttls => tls().map(Tls::Required),
            SubmissionSecurity::Tls => tls().map(Tls::Wrapper),
        };
        let tls = match tls {
            Ok(tls) => tls,
            Err(error) => {
                tracing::error!(host = %config.host, %error, "mail.submission: no TLS for this host; invitations by mail are off");
                return Mailer { smtp: None };
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(config.timeout_secs)));
        if !config.username.is_empty() {
            builder = builder.credentials(Credentials::new(config.username.clone(), config.password.clone()));
        }
        Mailer { smtp: Some(builder.build()) }
    }

    /// Sends `message` (complete RFC 5322 bytes) from `from` to `recipients` (bare addresses).
    pub async fn send(
        &self,
        session: &dyn Session,
        from: &str,
        recipients: &[String],
        message: Vec<u8>,
    ) -> Result<(), SendError> {
        let mail =
            OutgoingMail { from: from.to_owned(), recipients: recipients.to_vec(), message: Bytes::from(message) };
        if session.submit(&mail).await? {
            return Ok(());
        }
        let Some(smtp) = &self.smtp else { return Err(SendError::NoRoute) };
        let address = |a: &str| a.parse().map_err(|_| SendError::Address(a.to_owned()));
        let envelope =
            Envelope::new(Some(address(from)?), recipients.iter().map(|r| address(r)).collect::<Result<Vec<_>, _>>()?)
                .map_err(|e| SendError::Address(e.to_string()))?;
        smtp.send_raw(&envelope, &mail.message).await.map_err(|e| SendError::Smtp(e.to_string()))?;
        Ok(())
    }
}

/// At most `per_hour` scheduling messages (one per recipient) per user in any window of an
/// hour that starts with the user's first message.
pub struct HourlyLimit {
    per_hour: u32,
    windows: moka::future::Cache<String, Arc<Window>>,
}

struct Window {
    started: Instant,
    used: AtomicU32,
}

const HOUR: Duration = Duration::from_secs(3600);

impl HourlyLimit {
    pub fn new(per_hour: u32) -> Self {
        HourlyLimit {
            per_hour,
            // A window is forgotten an hour after it began; the cache is bounded so that
            // many users cannot grow it without end.
            windows: moka::future::Cache::builder().time_to_live(HOUR).max_capacity(100_000).build(),
        }
    }

    /// Counts `messages` for `user`, or says how long until the window allows them.
    pub async fn take(&self, user: &str, messages: u32) -> Result<(), Duration> {
        if messages == 0 {
            return Ok(());
        }
        let window = self
            .windows
            .get_with(user.to_owned(), async { Arc::new(Window { started: Instant::now(), used: 0.into() }) })
            .await;
        let allowed = window
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(messages).filter(|total| *total <= self.per_hour)
            })
            .is_ok();
        if allowed {
            Ok(())
        } else {
            Err(HOUR.saturating_sub(window.started.elapsed()).max(Duration::from_secs(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limit_counts_messages_per_user_and_names_the_wait() {
        let limit = HourlyLimit::new(5);
        assert!(limit.take("alice", 3).await.is_ok());
        assert!(limit.take("alice", 2).await.is_ok());
        let wait = limit.take("alice", 1).await.unwrap_err();
        assert!(wait > Duration::from_secs(3500) && wait <= HOUR, "{wait:?}");
        // Refused messages are not counted, and other users have their own window.
        assert!(limit.take("bob", 5).await.is_ok());
        assert!(limit.take("alice", 0).await.is_ok());
    }

    #[tokio::test]
    async fn one_meeting_larger_than_the_limit_is_refused_whole() {
        let limit = HourlyLimit::new(5);
        assert!(limit.take("alice", 6).await.is_err());
        assert!(limit.take("alice", 5).await.is_ok(), "the refused attempt used nothing");
    }

    #[test]
    fn no_host_means_no_smtp_route() {
        let mailer = Mailer::new(&SubmissionConfig::default());
        assert!(mailer.smtp.is_none());
    }
}
