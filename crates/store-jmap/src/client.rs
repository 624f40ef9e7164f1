//! JMAP over HTTP (RFC 8620 §2, §3, §6): the session resource, method calls, blob upload and
//! download. Knows nothing of calendars.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use reqwest::{header, StatusCode, Url};
use serde_json::{json, Value};
use store::StoreError;

use crate::JmapOptions;

const CAPABILITIES: [&str; 2] = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"];

/// Users whose connection pools are kept at once; an evicted user's next request opens a new one.
const POOLS: u64 = 10_000;
/// How long an idle user's pool is kept (the pools' own idle connections time out alike).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// The HTTP side of the backend: one connection pool per user, never shared between users.
///
/// Measured on Cyrus 3.6 (Debian): over one HTTP/2 connection, concurrent requests of two
/// users run as whichever user the connection authenticated last, so half of them fail with
/// `accountNotFound` (and a server with the same flaw and looser checks would answer one user
/// with another's data). A connection therefore only ever carries one user's requests.
pub(crate) struct Client {
    pools: moka::future::Cache<String, reqwest::Client>,
    connect_timeout: Duration,
    request_timeout: Duration,
    pool_max_idle: usize,
    http2: bool,
    session_url: Url,
    /// Largest JSON answer read (session resource, API responses, upload receipts).
    max_response_bytes: u64,
    /// Largest blob downloaded: nothing larger can have been stored through the gateway.
    max_blob_bytes: u64,
    /// Every HTTP request sent, for the calls-per-client-request measurement.
    requests: std::sync::atomic::AtomicU64,
    /// Requests that failed for another reason than the answer itself (refused login, missing
    /// blob): transport errors, 5xx, garbage, timeouts.
    failures: std::sync::atomic::AtomicU64,
    latency: store::LatencyRecorder,
}

/// Whose credentials a request carries and which JMAP account it addresses (RFC 8620 §2):
/// a user's own login, where the two coincide, or the gateway's service account working in
/// an account the mail operator shared with it ([`Account::delegate`]).
#[derive(Clone)]
pub(crate) struct Account {
    /// The login whose credentials every request carries.
    pub username: String,
    /// `Basic ...` for every request of this login. Never logged.
    pub authorization: String,
    pub account_id: String,
    /// The user whose account `account_id` is: `username` for a user's own login.
    pub owner: String,
    pub api_url: Url,
    /// RFC 6570 templates as the server sent them, resolved against `base` once filled in.
    download_template: String,
    upload_template: String,
    /// RFC 8620 §7.3 `eventSourceUrl`, when the server names one.
    event_source_template: Option<String>,
    base: Url,
    /// Whether the server offers JMAP submission (and so `Identity/get`, RFC 8621 §6) in
    /// this account.
    pub submission: bool,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("account_id", &self.account_id)
            .field("owner", &self.owner)
            .finish()
    }
}

/// An account other than its own that a login's session resource lists (RFC 8620 §2
/// `accounts`, `isPersonal: false`): Cyrus lists every user who shared a mailbox with the
/// login (imap/jmap_api.c `findaccounts_cb`), named by their login.
#[derive(Clone, Debug)]
pub(crate) struct SharedAccount {
    pub id: String,
    pub name: String,
}

impl Account {
    /// The same login working in another account it can address. Submission stays off:
    /// mail is only ever sent from a user's own login, as that user.
    pub fn delegate(&self, shared: &SharedAccount) -> Account {
        Account { account_id: shared.id.clone(), owner: shared.name.clone(), submission: false, ..self.clone() }
    }
}

/// One method response: its name and arguments (`error` for a method-level error).
pub(crate) type Invocation = (String, Value);

impl Client {
    pub fn new(options: &JmapOptions) -> Result<Client, StoreError> {
        let session_url = Url::parse(&options.url)
            .map_err(|e| StoreError::internal(format!("backend.jmap.url {:?}: {e}", options.url)))?;
        let client = Client {
            pools: moka::future::Cache::builder().max_capacity(POOLS).time_to_idle(POOL_IDLE).build(),
            connect_timeout: options.connect_timeout,
            request_timeout: options.request_timeout,
            pool_max_idle: options.pool_max_idle,
            http2: options.http2,
            session_url,
            max_response_bytes: options.max_response_bytes,
            max_blob_bytes: options.max_blob_bytes,
            requests: std::sync::atomic::AtomicU64::new(0),
            failures: std::sync::atomic::AtomicU64::new(0),
            latency: store::LatencyRecorder::default(),
        };
        // A configuration the HTTP stack refuses is a start-up error, not a 503 at first login.
        client.build_pool()?;
        Ok(client)
    }

    fn build_pool(&self) -> Result<reqwest::Client, StoreError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .pool_max_idle_per_host(self.pool_max_idle)
            .pool_idle_timeout(Some(POOL_IDLE))
            .user_agent(concat!("caldav-gateway/", env!("CARGO_PKG_VERSION")));
        // Cyrus answers 4 KB and larger bodies ~42 ms late over a reused HTTP/1.1 connection;
        // over HTTP/2 the same calls take a few ms. Plain http:// gets HTTP/2 by prior
        // knowledge (h2c), https:// negotiates it by ALPN.
        if self.http2 && self.session_url.scheme() == "http" {
            builder = builder.http2_prior_knowledge();
        }
        builder.build().map_err(StoreError::internal)
    }

    /// The connection pool of `username` alone.
    async fn http(&self, username: &str) -> Result<reqwest::Client, StoreError> {
        self.pools
            .try_get_with(username.to_owned(), async { self.build_pool().map_err(|e| e.to_string()) })
            .await
            .map_err(|e| StoreError::internal(e.to_string()))
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn latency(&self) -> store::Latency {
        self.latency.snapshot("jmap_request_duration_seconds", "Time of each HTTP request to the mail server")
    }

    fn count(&self) {
        self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs one request to the mail server, recording its time and whether it failed.
    async fn timed<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.count();
        let started = std::time::Instant::now();
        let outcome = request.await;
        self.latency.record(started.elapsed());
        if let Err(error) = &outcome {
            if !matches!(error, StoreError::Unauthenticated | StoreError::NotFound) {
                self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        outcome
    }

    /// Fetches the session resource with the user's credentials: the mail server itself
    /// decides whether they are right.
    /// Whether the mail server answers: the session resource without credentials, which a JMAP
    /// server answers 401 (Cyrus, Stalwart) or 200. No login is tried, so a
    /// readiness probe every few seconds never fills the mail server's log with failed logins
    /// (which fail2ban-style protection would count against the gateway's address).
    pub async fn probe(&self) -> Result<(), StoreError> {
        let response = self.http("").await?.get(self.session_url.clone()).send().await.map_err(transport)?;
        let status = response.status();
        // 401/403: a JMAP server asking for credentials. Anything else that is no success (a
        // 404 from a wrong `backend.jmap.url`, a proxy's 502) means phones would get errors.
        if status.is_success() || status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Ok(());
        }
        Err(status_error(status))
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<Account, StoreError> {
        Ok(self.login_with_shared(username, password).await?.0)
    }

    /// As [`Client::login`], with the other accounts the session resource lists.
    pub async fn login_with_shared(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Account, Vec<SharedAccount>), StoreError> {
        self.timed(self.login_untimed(username, password)).await
    }

    async fn login_untimed(&self, username: &str, password: &str) -> Result<(Account, Vec<SharedAccount>), StoreError> {
        let authorization =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")));
        let response = self
            .http(username)
            .await?
            .get(self.session_url.clone())
            .header(header::AUTHORIZATION, &authorization)
            .send()
            .await
            .map_err(transport)?;
        let base = response.url().clone();
        let session: Value = self.json_body(response).await?;
        let account_id = session
            .pointer("/primaryAccounts/urn:ietf:params:jmap:mail")
            .and_then(Value::as_str)
            .ok_or_else(|| garbage("session resource without a JMAP Mail account"))?
            .to_owned();
        let url = |key: &str| -> Result<String, StoreError> {
            session.get(key).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| garbage(key))
        };
        let resolve = |text: String| base.join(&text).map_err(|_| garbage("relative URL in the session"));
        let submission = session.pointer("/capabilities/urn:ietf:params:jmap:submission").is_some();
        let shared = session
            .get("accounts")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(id, account)| {
                **id != account_id
                    && account.get("isPersonal").and_then(Value::as_bool) != Some(true)
                    && account.pointer("/accountCapabilities/urn:ietf:params:jmap:mail").is_some()
            })
            .filter_map(|(id, account)| {
                let name = account.get("name").and_then(Value::as_str)?;
                Some(SharedAccount { id: id.clone(), name: name.to_owned() })
            })
            .collect();
        let account = Account {
            username: username.to_owned(),
            authorization,
            api_url: resolve(url("apiUrl")?)?,
            download_template: url("downloadUrl")?,
            upload_template: url("uploadUrl")?,
            event_source_template: session.get("eventSourceUrl").and_then(Value::as_str).map(str::to_owned),
            base,
            submission,
            owner: username.to_owned(),
            account_id,
        };
        // Resolved once here, so a session resource with a bad template fails the login.
        account.upload_url()?;
        Ok((account, shared))
    }

    /// One JMAP request; method-level errors stay in the result for the caller to judge.
    pub async fn call(&self, account: &Account, calls: Vec<(&str, Value)>) -> Result<Vec<Invocation>, StoreError> {
        self.call_using(account, &CAPABILITIES, calls).await
    }

    pub async fn call_using(
        &self,
        account: &Account,
        using: &[&str],
        calls: Vec<(&str, Value)>,
    ) -> Result<Vec<Invocation>, StoreError> {
        let method_calls: Vec<Value> =
            calls.into_iter().enumerate().map(|(i, (name, args))| json!([name, args, i.to_string()])).collect();
        let body = json!({ "using": using, "methodCalls": method_calls });
        self.timed(self.call_untimed(account, body)).await
    }

    async fn call_untimed(&self, account: &Account, body: Value) -> Result<Vec<Invocation>, StoreError> {
        let response = self
            .http(&account.username)
            .await?
            .post(account.api_url.clone())
            .header(header::AUTHORIZATION, &account.authorization)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let value: Value = self.json_body(response).await?;
        let responses = value
            .get("methodResponses")
            .and_then(Value::as_array)
            .ok_or_else(|| garbage("response without methodResponses"))?;
        responses
            .iter()
            .map(|r| match r.as_array().map(Vec::as_slice) {
                Some([Value::String(name), args, _]) => Ok((name.clone(), args.clone())),
                _ => Err(garbage("malformed method response")),
            })
            .collect()
    }

    /// Uploads bytes; returns the blob id (RFC 8620 §6.1).
    pub async fn upload(&self, account: &Account, body: Bytes, content_type: &str) -> Result<String, StoreError> {
        self.timed(self.upload_untimed(account, body, content_type)).await
    }

    async fn upload_untimed(&self, account: &Account, body: Bytes, content_type: &str) -> Result<String, StoreError> {
        let response = self
            .http(&account.username)
            .await?
            .post(account.upload_url()?)
            .header(header::AUTHORIZATION, &account.authorization)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let value: Value = self.json_body(response).await?;
        value.get("blobId").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| garbage("upload without blobId"))
    }

    /// The exact bytes of a blob (RFC 8620 §6.2).
    pub async fn download(&self, account: &Account, blob_id: &str) -> Result<Bytes, StoreError> {
        self.timed(self.download_untimed(account, blob_id)).await
    }

    async fn download_untimed(&self, account: &Account, blob_id: &str) -> Result<Bytes, StoreError> {
        let filled = account
            .download_template
            .replace("{accountId}", &account.account_id)
            .replace("{blobId}", blob_id)
            .replace("{name}", "item")
            .replace("{type}", "application%2Foctet-stream");
        let url = account.base.join(&filled).map_err(|_| garbage("downloadUrl"))?;
        let response = self
            .http(&account.username)
            .await?
            .get(url)
            .header(header::AUTHORIZATION, &account.authorization)
            .send()
            .await
            .map_err(transport)?;
        match response.status() {
            StatusCode::OK => read_bounded(response, self.max_blob_bytes).await,
            StatusCode::NOT_FOUND => Err(StoreError::NotFound),
            other => Err(status_error(other)),
        }
    }

    async fn json_body(&self, response: reqwest::Response) -> Result<Value, StoreError> {
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status));
        }
        let bytes = read_bounded(response, self.max_response_bytes).await?;
        serde_json::from_slice(&bytes).map_err(|e| garbage(&format!("not JSON: {e}")))
    }
}

impl Account {
    /// A login `account_id` of a server at `url` (tests of this crate talk to local servers).
    #[cfg(test)]
    pub fn on_test_server(url: &str, account_id: &str, event_source: Option<&str>) -> Account {
        #[allow(clippy::unwrap_used)]
        let base = Url::parse(url).unwrap();
        Account {
            username: account_id.into(),
            authorization: "Basic x".into(),
            account_id: account_id.into(),
            owner: account_id.into(),
            api_url: base.clone(),
            download_template: "/download/{accountId}/{blobId}".into(),
            upload_template: "/upload/{accountId}/".into(),
            event_source_template: event_source.map(str::to_owned),
            base,
            submission: false,
        }
    }

    /// RFC 8620 §7.3: the event source URL for `types` (comma-separated) pinged every `ping`
    /// seconds, never closed after a state event; `None` when the server names none.
    pub fn event_source_url(&self, types: &str, ping: u64) -> Option<Url> {
        let filled = self
            .event_source_template
            .as_ref()?
            .replace("{types}", types)
            .replace("{closeafter}", "no")
            .replace("{ping}", &ping.to_string());
        self.base.join(&filled).ok()
    }

    /// RFC 8620 §6.1: the upload URL of the account addressed.
    fn upload_url(&self) -> Result<Url, StoreError> {
        self.base
            .join(&self.upload_template.replace("{accountId}", &self.account_id))
            .map_err(|_| garbage("relative URL in the session"))
    }
}

/// The body, refused as `BadGateway` once it passes `limit` bytes: a mail server that
/// answers without end (or a proxy in front of it) must not grow this process without end.
/// A declared length over the limit is refused before anything is read.
async fn read_bounded(mut response: reqwest::Response, limit: u64) -> Result<Bytes, StoreError> {
    let too_large = || StoreError::BadGateway(format!("mail server answer larger than {limit} bytes"));
    if response.content_length().is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn status_error(status: StatusCode) -> StoreError {
    match status {
        StatusCode::UNAUTHORIZED => StoreError::Unauthenticated,
        StatusCode::FORBIDDEN => StoreError::Forbidden("the mail server refused the request".into()),
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            StoreError::unavailable(format!("mail server answered {s}"))
        }
        s => StoreError::BadGateway(format!("mail server answered {s}")),
    }
}

fn transport(error: reqwest::Error) -> StoreError {
    if error.is_timeout() {
        StoreError::Timeout(Box::new(error))
    } else {
        StoreError::unavailable(error)
    }
}

pub(crate) fn garbage(what: &str) -> StoreError {
    StoreError::BadGateway(format!("mail server sent an unusable answer: {what}"))
}

/// The arguments of response `index` when it is `name`; a method-level error otherwise.
pub(crate) fn response<'a>(responses: &'a [Invocation], index: usize, name: &str) -> Result<&'a Value, StoreError> {
    match responses.get(index) {
        Some((n, args)) if n == name => Ok(args),
        Some((n, args)) if n == "error" => Err(method_error(args)),
        Some((n, _)) => Err(garbage(&format!("expected {name}, got {n}"))),
        None => Err(garbage(&format!("no response to {name}"))),
    }
}

/// The `ids` of an `Email/query` answer.
pub(crate) fn query_ids(args: &Value) -> Result<Vec<String>, StoreError> {
    let ids = args.get("ids").and_then(Value::as_array).ok_or_else(|| garbage("Email/query ids"))?;
    Ok(ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
}

/// Whether response `index` is a `stateMismatch` error (an `ifInState` that did not hold).
pub(crate) fn is_state_mismatch(responses: &[Invocation], index: usize) -> bool {
    matches!(responses.get(index), Some((n, args)) if n == "error"
        && args.get("type").and_then(Value::as_str) == Some("stateMismatch"))
}

fn method_error(args: &Value) -> StoreError {
    let kind = args.get("type").and_then(Value::as_str).unwrap_or("unknown");
    match kind {
        "accountNotFound" | "forbidden" | "accountReadOnly" => StoreError::Forbidden(kind.into()),
        "serverUnavailable" => StoreError::unavailable(format!("JMAP error {kind}")),
        _ => StoreError::BadGateway(format!("JMAP error {kind}: {}", args.get("description").unwrap_or(&Value::Null))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMIT: u64 = 1024 * 1024;

    /// A mail server on 127.0.0.1 that answers one request with `head` and then `body` bytes
    /// of JSON whitespace, as long as the client keeps reading.
    async fn serve_once(head: String, body: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < body && socket.write_all(&chunk).await.is_ok() {
                sent += chunk.len();
            }
            let _ = socket.shutdown().await;
        });
        url
    }

    fn client(url: &str) -> Client {
        let options = JmapOptions {
            url: url.into(),
            http2: false,
            max_response_bytes: LIMIT,
            max_blob_bytes: LIMIT,
            ..JmapOptions::default()
        };
        Client::new(&options).unwrap()
    }

    fn too_large(result: &Result<impl std::fmt::Debug, StoreError>) -> bool {
        matches!(result, Err(StoreError::BadGateway(message)) if message.contains("larger than"))
    }

    #[tokio::test]
    async fn an_endless_json_answer_is_a_bad_gateway() {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
        let url = serve_once(head.into(), 4 * LIMIT as usize).await;
        let result = client(&url).login("user", "secret").await;
        assert!(too_large(&result), "{result:?}");
    }

    #[tokio::test]
    async fn a_declared_oversized_answer_is_refused_before_it_is_read() {
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", 1u64 << 40);
        let url = serve_once(head, 0).await;
        let result = client(&url).login("user", "secret").await;
        assert!(too_large(&result), "{result:?}");
    }

    #[tokio::test]
    async fn a_blob_larger_than_anything_stored_is_a_bad_gateway() {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nConnection: close\r\n\r\n";
        let url = serve_once(head.into(), 4 * LIMIT as usize).await;
        let account = Account::on_test_server(&url, "a", None);
        let result = client(&url).download(&account, "G1").await;
        assert!(too_large(&result), "{result:?}");
    }
}
