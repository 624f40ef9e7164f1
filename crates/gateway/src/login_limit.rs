//! Password guessing: distinct refused credentials are counted per user name and per client
//! address, and past a limit further logins that would reach the mail system are answered 429
//! until the window ends.
//!
//! Only logins the mail system refused count: a request without credentials is every client's
//! first, and a backend outage is not the client's doing. A credential that logged in within
//! the window is never held back, so a signed-in phone keeps working while someone guesses its
//! user's password, and its success resets nothing for the guesser. The per-address limit is
//! higher than the per-user one, so people behind one NAT address are not locked out by one of
//! them mistyping.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderMap;
use moka::sync::Cache;

use crate::config::AuthConfig;

/// The TCP peer of a request, put into its extensions by the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub IpAddr);

/// A credential: a keyed hash of user name and password (the session cache's key), so nothing
/// here can give a password back.
pub type CredentialKey = [u8; 32];

/// The distinct refused credentials since `start`; the window ends `window` after it. Distinct,
/// so a phone retrying its stale password on every request counts once, not once a request.
struct Window {
    start: Instant,
    refused: Mutex<HashSet<CredentialKey>>,
}

/// Why a login may not be tried now: the time until the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled(pub Duration);

pub struct LoginLimiter {
    per_user: Cache<String, Arc<Window>>,
    per_address: Cache<IpAddr, Arc<Window>>,
    /// Credentials that logged in within the window: their logins are never held back, so a
    /// signed-in phone (which logs in again whenever its cached session expires) keeps working
    /// while someone guesses its user's password.
    known_good: Cache<CredentialKey, ()>,
    max_per_user: usize,
    max_per_address: usize,
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
            known_good: Cache::builder().max_capacity(100_000).time_to_live(window).build(),
            max_per_user: config.max_failures_per_user as usize,
            max_per_address: config.max_failures_per_address as usize,
            window,
            trusted_proxies: config.trusted_proxies.iter().map(IpAddr::to_canonical).collect(),
        }
    }

    /// Reserves a login attempt of `key` before it goes to the mail system; refused when `user`
    /// or `address` has used up its distinct refused credentials. The reservation counts as a
    /// refusal until `succeeded` or `released` takes it back, so guesses sent in parallel cannot
    /// all pass the check before any of them is counted.
    pub fn attempt(&self, user: &str, address: Option<IpAddr>, key: CredentialKey) -> Result<(), Throttled> {
        if self.known_good.contains_key(&key) {
            return Ok(());
        }
        let user = user_key(user);
        let address = address.map(address_key);
        if self.max_per_user > 0 {
            let window = self.per_user.get_with(user.clone(), new_window);
            if !reserve(&window, key, self.max_per_user) {
                return Err(Throttled(self.remaining(&window)));
            }
            if count(&window) == self.max_per_user {
                tracing::warn!(user, address = ?address, window_secs = self.window.as_secs(),
                    "refused logins: limit per user reached; further logins of this user get 429 until the window ends");
            }
        }
        if let (Some(address), true) = (address, self.max_per_address > 0) {
            let window = self.per_address.get_with(address, new_window);
            if !reserve(&window, key, self.max_per_address) {
                self.release_user(&user, key);
                return Err(Throttled(self.remaining(&window)));
            }
            if count(&window) == self.max_per_address {
                tracing::warn!(%address, window_secs = self.window.as_secs(),
                    "refused logins: limit per client address reached; further logins from it get 429 until the window ends");
            }
        }
        Ok(())
    }

    /// The attempt logged in: not a refusal, and this credential is known good for the window.
    pub fn succeeded(&self, user: &str, address: Option<IpAddr>, key: CredentialKey) {
        self.released(user, address, key);
        self.known_good.insert(key, ());
    }

    /// The attempt ended without an answer on the password (mail system unreachable).
    pub fn released(&self, user: &str, address: Option<IpAddr>, key: CredentialKey) {
        self.release_user(&user_key(user), key);
        if let Some(window) = address.and_then(|a| self.per_address.get(&address_key(a))) {
            lock(&window).remove(&key);
        }
    }

    /// The address to count a request against: the TCP peer, or, when the peer is a trusted
    /// proxy, the last address it appended to `X-Forwarded-For` (the client it talked to).
    pub fn client_address(&self, peer: Option<PeerAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.0.to_canonical();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let last = forwarded.flat_map(|v| v.split(',')).map(str::trim).rfind(|a| !a.is_empty());
        Some(last.and_then(parse_forwarded).map_or(peer, |a| a.to_canonical()))
    }

    fn release_user(&self, user: &str, key: CredentialKey) {
        if let Some(window) = self.per_user.get(user) {
            lock(&window).remove(&key);
        }
    }

    fn remaining(&self, window: &Window) -> Duration {
        // At least a second: `Retry-After: 0` would invite an immediate retry.
        self.window.saturating_sub(window.start.elapsed()).max(Duration::from_secs(1))
    }
}

fn new_window() -> Arc<Window> {
    Arc::new(Window { start: Instant::now(), refused: Mutex::new(HashSet::new()) })
}

fn lock(window: &Window) -> std::sync::MutexGuard<'_, HashSet<CredentialKey>> {
    window.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn count(window: &Window) -> usize {
    lock(window).len()
}

/// Adds `key` unless the window already holds `max` other credentials; a credential already
/// counted may always try again (it is no new guess).
fn reserve(window: &Window, key: CredentialKey, max: usize) -> bool {
    let mut refused = lock(window);
    if refused.contains(&key) {
        return true;
    }
    if refused.len() >= max {
        return false;
    }
    refused.insert(key);
    true
}

/// Mail servers match logins without case, so `Alice` and `alice` share one count.
fn user_key(user: &str) -> String {
    user.trim().to_lowercase()
}

/// One IPv6 host usually owns a whole /64, so that is what is counted; IPv4 per address.
fn address_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
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

    fn key(n: u8) -> CredentialKey {
        [n; 32]
    }

    /// A refused login: reserved, then left counted.
    fn refuse(limiter: &LoginLimiter, user: &str, address: Option<IpAddr>, n: u8) -> Result<(), Throttled> {
        limiter.attempt(user, address, key(n))
    }

    #[test]
    fn a_user_is_refused_after_distinct_wrong_passwords_others_from_the_same_address_are_not() {
        let limiter = limiter(3, 10);
        for n in 1..=3 {
            refuse(&limiter, "alice", A, n).unwrap();
        }
        // The same wrong password again is no new guess.
        assert!(refuse(&limiter, "alice", A, 3).is_ok());
        let Throttled(wait) = refuse(&limiter, "Alice", None, 4).unwrap_err();
        assert!(wait > Duration::from_secs(590) && wait <= Duration::from_secs(600), "{wait:?}");
        assert!(refuse(&limiter, "bob", A, 5).is_ok());
    }

    #[test]
    fn a_credential_that_logged_in_is_never_held_back_and_success_does_not_reset_the_count() {
        let limiter = limiter(2, 10);
        limiter.attempt("alice", A, key(9)).unwrap();
        limiter.succeeded("alice", A, key(9));
        refuse(&limiter, "alice", A, 1).unwrap();
        refuse(&limiter, "alice", A, 2).unwrap();
        assert!(refuse(&limiter, "alice", A, 3).is_err(), "the guesser is stopped");
        assert!(limiter.attempt("alice", A, key(9)).is_ok(), "the signed-in phone is not");
        limiter.succeeded("alice", A, key(9));
        assert!(refuse(&limiter, "alice", A, 4).is_err(), "its success gave the guesser nothing");
    }

    #[test]
    fn an_outage_gives_the_reservation_back() {
        let limiter = limiter(1, 10);
        limiter.attempt("alice", A, key(1)).unwrap();
        limiter.released("alice", A, key(1));
        assert!(refuse(&limiter, "alice", A, 2).is_ok());
    }

    #[test]
    fn an_address_is_refused_after_its_limit_whatever_user_it_tries_and_ipv6_counts_per_64() {
        let limiter = limiter(100, 4);
        for (n, user) in ["a", "b", "c", "d"].into_iter().enumerate() {
            refuse(&limiter, user, A, n as u8).unwrap();
        }
        assert!(refuse(&limiter, "e", A, 10).is_err());
        assert!(refuse(&limiter, "e", Some("192.0.2.2".parse().unwrap()), 10).is_ok());
        for n in 0..4u8 {
            let host: IpAddr = format!("2001:db8::{n}").parse().unwrap();
            refuse(&limiter, "x", Some(host), 20 + n).unwrap();
        }
        assert!(refuse(&limiter, "x", Some("2001:db8::ffff:1".parse().unwrap()), 30).is_err());
    }

    #[test]
    fn the_forwarded_address_counts_only_behind_a_trusted_proxy() {
        let limiter = limiter(1, 1);
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7:5678".parse().unwrap());
        let proxy = Some(PeerAddr("10.0.0.1".parse().unwrap()));
        assert_eq!(limiter.client_address(proxy, &headers), Some("198.51.100.7".parse().unwrap()));
        let mapped = Some(PeerAddr("::ffff:10.0.0.1".parse().unwrap()));
        assert_eq!(limiter.client_address(mapped, &headers), Some("198.51.100.7".parse().unwrap()));
        let stranger = Some(PeerAddr("192.0.2.1".parse().unwrap()));
        assert_eq!(limiter.client_address(stranger, &headers), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(limiter.client_address(None, &headers), None);
    }
}
