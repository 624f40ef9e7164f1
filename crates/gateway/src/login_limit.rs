//! Password guessing: refused logins are counted per user name and per client address, and
//! past a limit further logins that would reach the mail system are answered 429 until the
//! window ends.
//!
//! Only logins the mail system refused count: a request without credentials is every client's
//! first, and a backend outage is not the client's doing. A client whose session is cached
//! never reaches this check, so a user already signed in keeps working while someone guesses
//! their password. The per-address limit is higher than the per-user one, so people behind one
//! NAT address are not locked out by one of them mistyping.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;
use moka::sync::Cache;

use crate::config::AuthConfig;

/// The TCP peer of a request, put into its extensions by the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub IpAddr);

/// Failures since `start`; the window ends `window` after the first one.
struct Window {
    start: Instant,
    failures: AtomicU32,
}

pub struct LoginLimiter {
    per_user: Cache<String, Arc<Window>>,
    per_address: Cache<IpAddr, Arc<Window>>,
    max_per_user: u32,
    max_per_address: u32,
    window: Duration,
    trusted_proxies: Vec<IpAddr>,
}

impl LoginLimiter {
    pub fn new(config: &AuthConfig) -> Self {
        let window = Duration::from_secs(config.failure_window_secs.max(1));
        // Bounded: a flood of made-up user names evicts old windows instead of growing memory.
        LoginLimiter {
            per_user: Cache::builder().max_capacity(100_000).time_to_live(window).build(),
            per_address: Cache::builder().max_capacity(100_000).time_to_live(window).build(),
            max_per_user: config.max_failures_per_user,
            max_per_address: config.max_failures_per_address,
            window,
            trusted_proxies: config.trusted_proxies.clone(),
        }
    }

    /// `Err(retry_after)` when `user` or `address` used up its refused logins.
    pub fn check(&self, user: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let user_wait = self.exhausted(self.per_user.get(user), self.max_per_user);
        let address_wait = address.and_then(|a| self.exhausted(self.per_address.get(&a), self.max_per_address));
        match user_wait.into_iter().chain(address_wait).max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// The mail system refused `user`'s password.
    pub fn failed(&self, user: &str, address: Option<IpAddr>) {
        let count = bump(&self.per_user, user.to_owned());
        if count == self.max_per_user {
            tracing::warn!(user, address = ?address, window_secs = self.window.as_secs(),
                "refused logins: limit per user reached; further logins of this user get 429 until the window ends");
        }
        if let Some(address) = address {
            if bump(&self.per_address, address) == self.max_per_address {
                tracing::warn!(%address, window_secs = self.window.as_secs(),
                    "refused logins: limit per client address reached; further logins from it get 429 until the window ends");
            }
        }
    }

    /// The user logged in: their own count starts again (the address's does not, so one good
    /// account cannot be used to reset guessing at others).
    pub fn succeeded(&self, user: &str) {
        self.per_user.invalidate(user);
    }

    /// The address to count a request against: the TCP peer, or, when the peer is a trusted
    /// proxy, the last address it appended to `X-Forwarded-For` (the client it talked to).
    pub fn client_address(&self, peer: Option<PeerAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.0;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let last = forwarded.flat_map(|v| v.split(',')).map(str::trim).rfind(|a| !a.is_empty());
        Some(last.and_then(|a| a.parse().ok()).unwrap_or(peer))
    }

    fn exhausted(&self, window: Option<Arc<Window>>, max: u32) -> Option<Duration> {
        let window = window?;
        if max == 0 || window.failures.load(Ordering::Relaxed) < max {
            return None;
        }
        // At least a second: `Retry-After: 0` would invite an immediate retry.
        Some(self.window.saturating_sub(window.start.elapsed()).max(Duration::from_secs(1)))
    }
}

fn bump<K>(cache: &Cache<K, Arc<Window>>, key: K) -> u32
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    let window = cache.get_with(key, || Arc::new(Window { start: Instant::now(), failures: AtomicU32::new(0) }));
    window.failures.fetch_add(1, Ordering::Relaxed) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_user: u32, per_address: u32) -> LoginLimiter {
        LoginLimiter::new(&AuthConfig {
            max_failures_per_user: per_user,
            max_failures_per_address: per_address,
            failure_window_secs: 600,
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
            ..AuthConfig::default()
        })
    }

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));

    #[test]
    fn a_user_is_refused_after_the_limit_others_from_the_same_address_are_not() {
        let limiter = limiter(3, 10);
        for _ in 0..2 {
            limiter.failed("alice", A);
        }
        assert!(limiter.check("alice", A).is_ok());
        limiter.failed("alice", A);
        let wait = limiter.check("alice", A).unwrap_err();
        assert!(wait > Duration::from_secs(590) && wait <= Duration::from_secs(600), "{wait:?}");
        assert!(limiter.check("alice", None).is_err(), "the user's limit holds from any address");
        assert!(limiter.check("bob", A).is_ok());
    }

    #[test]
    fn an_address_is_refused_after_its_limit_whatever_user_it_tries() {
        let limiter = limiter(100, 4);
        for user in ["a", "b", "c", "d"] {
            limiter.failed(user, A);
        }
        assert!(limiter.check("e", A).is_err());
        assert!(limiter.check("e", Some("192.0.2.2".parse().unwrap())).is_ok());
    }

    #[test]
    fn success_resets_the_user_but_not_the_address() {
        let limiter = limiter(2, 3);
        limiter.failed("alice", A);
        limiter.failed("alice", A);
        limiter.succeeded("alice");
        assert!(limiter.check("alice", None).is_ok());
        limiter.failed("bob", A);
        assert!(limiter.check("carol", A).is_err());
    }

    #[test]
    fn the_forwarded_address_counts_only_behind_a_trusted_proxy() {
        let limiter = limiter(1, 1);
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        let proxy = Some(PeerAddr("10.0.0.1".parse().unwrap()));
        assert_eq!(limiter.client_address(proxy, &headers), Some("198.51.100.7".parse().unwrap()));
        let stranger = Some(PeerAddr("192.0.2.1".parse().unwrap()));
        assert_eq!(limiter.client_address(stranger, &headers), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(limiter.client_address(None, &headers), None);
    }
}
