//! HTTP Basic credentials → a backend session, through a short-lived cache.
//!
//! A phone's sync burst is a dozen requests in a second; logging in to the mail system for
//! each would be slow and can trip its brute-force protection. Sessions are cached under a
//! keyed hash of user *and* password, so a wrong password never hits a cached session and a
//! changed password takes effect when the entry expires (`auth.session_ttl_secs`).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use moka::future::Cache;
use sha2::{Digest, Sha256};
use store::{Backend, Credentials, Session, StoreError};

use crate::config::{AuthConfig, CaldavConfig};
use crate::login_limit::{LoginLimiter, PeerAddr, Throttled};
use crate::metrics::Metrics;
use crate::provision;
use crate::scheduling::policy::SchedulingPolicy;

/// Why a request carries no usable identity.
#[derive(Debug)]
pub enum AuthFailure {
    /// No credentials, undecodable ones, or ones the backend rejected: 401 + challenge.
    Unauthenticated,
    /// The backend could not answer: 503, never 401 (a phone would ask for a new password).
    Backend(StoreError),
    /// Too many refused logins of this user or from this address: 429 with Retry-After.
    Throttled(Duration),
}

pub struct Authenticator {
    backend: Arc<dyn Backend>,
    sessions: Cache<[u8; 32], Arc<dyn Session>>,
    /// Random per process, so cache keys reveal nothing about passwords even in a memory dump.
    key_secret: [u8; 32],
    caldav: CaldavConfig,
    scheduling: SchedulingPolicy,
    challenge: HeaderValue,
    metrics: Metrics,
    limiter: LoginLimiter,
}

impl Authenticator {
    pub fn new(
        backend: Arc<dyn Backend>,
        config: &AuthConfig,
        caldav: &CaldavConfig,
        scheduling: SchedulingPolicy,
        metrics: Metrics,
    ) -> Self {
        let left = metrics.clone();
        let sessions = Cache::builder()
            .max_capacity(config.max_sessions)
            .time_to_live(Duration::from_secs(config.session_ttl_secs))
            .eviction_listener(move |_, _, _| left.sessions_changed(-1))
            .build();
        let challenge = HeaderValue::from_str(&format!("Basic realm=\"{}\", charset=\"UTF-8\"", config.realm))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic realm=\"CalDAV\""));
        Authenticator {
            backend,
            sessions,
            key_secret: rand::random(),
            caldav: caldav.clone(),
            scheduling,
            challenge,
            metrics,
            limiter: LoginLimiter::new(config),
        }
    }

    /// `WWW-Authenticate` value for 401 responses.
    pub fn challenge(&self) -> HeaderValue {
        self.challenge.clone()
    }

    /// The session of the request's credentials. `peer` is the TCP peer (None in process).
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<PeerAddr>,
    ) -> Result<Arc<dyn Session>, AuthFailure> {
        let credentials = basic_credentials(headers).ok_or(AuthFailure::Unauthenticated)?;
        let key = self.cache_key(&credentials);
        if let Some(session) = self.sessions.get(&key).await {
            return Ok(session);
        }
        let address = self.limiter.client_address(peer, headers);
        let user = credentials.username.clone();
        self.limiter.attempt(&user, address, key).map_err(|Throttled(wait)| AuthFailure::Throttled(wait))?;
        let backend = self.backend.clone();
        let caldav = self.caldav.clone();
        let scheduling = self.scheduling.clone();
        let metrics = self.metrics.clone();
        // `try_get_with` coalesces concurrent logins of the same user into one backend call.
        let outcome = self
            .sessions
            .try_get_with(key, async move {
                metrics.backend_login();
                let session = backend.login(&credentials).await?;
                let schedules = scheduling.allows(session.principal());
                provision::provision(session.as_ref(), &caldav, schedules).await?;
                metrics.sessions_changed(1);
                Ok::<_, StoreError>(session)
            })
            .await;
        match outcome {
            Ok(session) => {
                self.limiter.succeeded(&user, address, key);
                Ok(session)
            }
            Err(error) => match error.as_ref() {
                // The reservation stays: it is the refused login's count.
                StoreError::Unauthenticated => {
                    self.metrics.failed_login();
                    Err(AuthFailure::Unauthenticated)
                }
                _ => {
                    self.limiter.released(&user, address, key);
                    Err(AuthFailure::Backend(unwrap_shared(error)))
                }
            },
        }
    }

    fn cache_key(&self, credentials: &Credentials) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.key_secret);
        hasher.update((credentials.username.len() as u64).to_be_bytes());
        hasher.update(credentials.username.as_bytes());
        hasher.update(credentials.password.as_bytes());
        hasher.finalize().into()
    }
}

/// moka shares one error among all waiters; rebuild an owned one for the error mapping.
fn unwrap_shared(error: Arc<StoreError>) -> StoreError {
    match Arc::try_unwrap(error) {
        Ok(owned) => owned,
        Err(shared) => match shared.as_ref() {
            StoreError::Unavailable { retry_after, source } => {
                StoreError::Unavailable { retry_after: *retry_after, source: source.to_string().into() }
            }
            other => StoreError::Internal(other.to_string().into()),
        },
    }
}

/// RFC 7617: `Authorization: Basic base64(user ":" password)`, UTF-8.
///
/// RFC 7617 §2 forbids control characters in both user-id and password. They are refused here
/// rather than passed on: Cyrus IMAP (SASL PLAIN is NUL-separated) logs in with
/// `password\0anything` as if it were `password`, so anything after a NUL would be ignored.
pub fn basic_credentials(headers: &HeaderMap) -> Option<Credentials> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (username, password) = text.split_once(':')?;
    if !acceptable_username(username) || password.chars().any(char::is_control) {
        return None;
    }
    Some(Credentials { username: username.to_owned(), password: password.to_owned() })
}

/// A user name must be usable as the principal's URL segment (`/dav/<user>/`, the same rule
/// as `dav::path` applies to segments), so a name no request path could ever address is
/// refused before it reaches the backend.
fn acceptable_username(username: &str) -> bool {
    !username.is_empty()
        && username != "."
        && username != ".."
        && username.len() <= 255
        && !username.contains('/')
        && !username.chars().any(char::is_control)
}

/// 401 with the challenge.
pub fn unauthorized(challenge: HeaderValue) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn basic_credentials_decode_user_and_password_with_colon() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:pa:ss wörd");
        let credentials = basic_credentials(&headers(&format!("Basic {encoded}"))).unwrap();
        assert_eq!(credentials.username, "alice");
        assert_eq!(credentials.password, "pa:ss wörd");
    }

    #[test]
    fn other_schemes_and_garbage_give_no_credentials() {
        assert!(basic_credentials(&headers("Bearer abc")).is_none());
        assert!(basic_credentials(&headers("Basic !!!")).is_none());
        let no_colon = base64::engine::general_purpose::STANDARD.encode("alice");
        assert!(basic_credentials(&headers(&format!("Basic {no_colon}"))).is_none());
        assert!(basic_credentials(&HeaderMap::new()).is_none());
    }

    fn encoded(user_and_password: &str) -> HeaderMap {
        headers(&format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_and_password)))
    }

    #[test]
    fn control_characters_in_user_or_password_give_no_credentials() {
        for raw in ["alice:secret\0anything", "alice:sec\nret", "alice:secret\u{7f}", "al\0ice:secret", "al\tice:x"] {
            assert!(basic_credentials(&encoded(raw)).is_none(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn user_names_that_are_no_url_segment_give_no_credentials() {
        for raw in [":secret", ".:secret", "..:secret", "a/b:secret"] {
            assert!(basic_credentials(&encoded(raw)).is_none(), "{raw:?} was accepted");
        }
        let long = format!("{}:secret", "a".repeat(256));
        assert!(basic_credentials(&encoded(&long)).is_none());
        assert!(basic_credentials(&encoded("alice@example.com:secret")).is_some());
    }
}
