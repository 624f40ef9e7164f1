//! The other users of the mail server, reached through a service account the mail operator
//! shared their mailboxes with (RFC 6638 §3 delivery, §5 free-busy).
//!
//! JMAP has no directory of users, and Cyrus lets no login address another user's account
//! (`accountNotFound`, docs/scheduling.md §2) until that user's mailboxes are shared with it
//! (IMAP `SETACL`). Then the login's session resource lists the account, named by the user's
//! login, and every JMAP call may name it as `accountId`. So the directory is what the
//! service account's session lists; a user the operator did not share is not on it, and the
//! gateway schedules with them through mail.
//!
//! A user's address is derived from the login exactly as at their own login when the mail
//! server names none ([`store::mail_address::login_address`]): `Identity/get` belongs to the
//! account's owner and is not readable by the service account.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use store::{Directory, Principal, Session, StoreError};

use crate::client::{Account, SharedAccount};
use crate::session::{principal, JmapSession, Shared};
use crate::ServiceAccount;

/// How long a session resource of the service account answers lookups that find a user; a
/// lookup that finds nobody always asks again, so a user shared a moment ago is found.
const LISTING_TTL: Duration = Duration::from_secs(60);

struct Listing {
    account: Account,
    shared: Vec<SharedAccount>,
    read: Instant,
}

pub(crate) struct ServiceDirectory {
    shared: Arc<Shared>,
    service: ServiceAccount,
    listing: tokio::sync::Mutex<Option<Arc<Listing>>>,
}

impl ServiceDirectory {
    pub fn new(shared: Arc<Shared>, service: ServiceAccount) -> Self {
        ServiceDirectory { shared, service, listing: tokio::sync::Mutex::new(None) }
    }

    fn address(&self, login: &str) -> Option<String> {
        store::mail_address::login_address(login, &self.shared.options.mail_domain)
    }

    /// The service account's session resource, from within [`LISTING_TTL`] or read anew
    /// (`fresh`). Wrong service credentials are an outage of scheduling, not the caller's
    /// wrong password: `Unavailable`, so no client is asked to log in again.
    async fn listing(&self, fresh: bool) -> Result<Arc<Listing>, StoreError> {
        let mut held = self.listing.lock().await;
        if let Some(listing) = held.as_ref().filter(|l| !fresh && l.read.elapsed() < LISTING_TTL) {
            return Ok(listing.clone());
        }
        let (account, shared) =
            match self.shared.client.login_with_shared(&self.service.username, &self.service.password).await {
                Err(StoreError::Unauthenticated) => {
                    return Err(StoreError::unavailable("the mail server refused the service account's credentials"))
                }
                other => other?,
            };
        let listing = Arc::new(Listing { account, shared, read: Instant::now() });
        *held = Some(listing.clone());
        Ok(listing)
    }

    /// The first shared account `wanted` accepts, asking the mail server again when the
    /// remembered listing has none.
    async fn find(
        &self,
        wanted: impl Fn(&SharedAccount) -> bool,
    ) -> Result<Option<(Arc<Listing>, SharedAccount)>, StoreError> {
        for fresh in [false, true] {
            let listing = self.listing(fresh).await?;
            if let Some(found) = listing.shared.iter().find(|a| wanted(a)).cloned() {
                return Ok(Some((listing, found)));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Directory for ServiceDirectory {
    async fn resolve(&self, address: &str) -> Result<Option<Principal>, StoreError> {
        let address = address.trim();
        if address.is_empty() {
            return Ok(None);
        }
        let matches = |a: &SharedAccount| self.address(&a.name).is_some_and(|own| own.eq_ignore_ascii_case(address));
        Ok(self.find(matches).await?.map(|(_, account)| principal(&account.name, self.address(&account.name))))
    }

    async fn open(&self, user: &str) -> Result<Arc<dyn Session>, StoreError> {
        let (listing, shared) = self.find(|a| a.name == user).await?.ok_or(StoreError::NotFound)?;
        let account = listing.account.delegate(&shared);
        Ok(Arc::new(JmapSession::new(self.shared.clone(), account, self.address(&shared.name), None)))
    }
}
