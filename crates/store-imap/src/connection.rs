//! One authenticated IMAP connection: connect (plain on loopback, STARTTLS, or IMAPS, RFC
//! 8314), log in, check the extensions the backend needs, run tagged commands.

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::StoreError;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

use crate::wire::{self, Command, Kind, Part, Response, WireError};

/// Where the mail server is and how to talk to it.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub tls: Arc<rustls::ClientConfig>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub max_response_bytes: usize,
    /// Commands sent to the server (logins included), for operators and the bench's round
    /// trips per client request.
    pub commands: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// `imaps://`: TLS from the first byte (RFC 8314 §3.2).
    Tls,
    /// `imap://` on a host other than loopback: STARTTLS (RFC 3501 §6.2.1) or no connection.
    StartTls,
    /// `imap://` on loopback: no TLS (the mail server on the same machine).
    Plain,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// What the server offers after login (RFC 3501 §6.1.1), upper case.
#[derive(Clone, Debug, Default)]
pub(crate) struct Capabilities(Vec<String>);

impl Capabilities {
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    fn from_tokens(tokens: &[wire::Value]) -> Capabilities {
        Capabilities(tokens.iter().filter_map(|t| t.atom()).map(str::to_ascii_uppercase).collect())
    }
}

/// The answer to one command: the untagged responses that came with it and the tagged one.
#[derive(Debug)]
pub(crate) struct Answer {
    pub untagged: Vec<Response>,
    pub done: Response,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.done.status().as_deref() == Some("OK")
    }
}

pub(crate) struct Connection {
    stream: BufStream<Box<dyn Stream>>,
    next_tag: u64,
    pub capabilities: Capabilities,
    /// The mailbox selected now, and whether read-write.
    pub selected: Option<String>,
    pub last_used: Instant,
    /// Broken (I/O error, timeout, garbage): never returned to the pool.
    pub broken: bool,
    max_response_bytes: usize,
    command_timeout: Duration,
    commands: Arc<std::sync::atomic::AtomicU64>,
}

/// The extensions every session needs (RFC 7162 CONDSTORE and QRESYNC: versions from the
/// server's change tracking; RFC 3516 BINARY: the exact bytes of a part; RFC 4315 UIDPLUS:
/// the UID of an appended message and UID EXPUNGE).
pub(crate) const REQUIRED: [&str; 4] = ["CONDSTORE", "QRESYNC", "BINARY", "UIDPLUS"];

pub(crate) fn unavailable(what: impl Into<String>) -> StoreError {
    StoreError::Unavailable { retry_after: Some(Duration::from_secs(5)), source: what.into().into() }
}

fn wire_error(error: WireError) -> StoreError {
    match error {
        WireError::Io(e) => unavailable(format!("IMAP connection: {e}")),
        WireError::Closed => unavailable("the mail server closed the IMAP connection"),
        WireError::TooLong(limit) => StoreError::BadGateway(format!("an IMAP response longer than {limit} bytes")),
        WireError::Garbage(what) => StoreError::BadGateway(format!("unreadable IMAP response: {what}")),
    }
}

impl Connection {
    /// Connects and logs in. Wrong credentials are `Unauthenticated`; a server without the
    /// extensions in [`REQUIRED`] is refused with a message that names them.
    pub async fn open(endpoint: &Endpoint, username: &str, password: &str) -> Result<Connection, StoreError> {
        let mut connection = Connection::connect_within(endpoint).await?;
        let login = Command::new("LOGIN").string(username).string(password);
        let answer = connection.run(login).await?;
        if !answer.ok() {
            if answer.done.has_code("UNAVAILABLE") || answer.done.status().as_deref() == Some("BAD") {
                return Err(unavailable(format!("IMAP LOGIN refused: {}", answer.done.text)));
            }
            return Err(StoreError::Unauthenticated);
        }
        // The capabilities after login (RFC 3501 §6.2.3 lets them change), from the tagged
        // OK's code when the server sends them there (Dovecot, Cyrus), else asked for.
        match answer.done.code().filter(|c| c.first().is_some_and(|w| w.is("CAPABILITY"))) {
            Some(code) => connection.capabilities = Capabilities::from_tokens(&code[1..]),
            None => connection.ask_capabilities().await?,
        }
        let missing: Vec<&str> = REQUIRED.into_iter().filter(|c| !connection.capabilities.has(c)).collect();
        if !missing.is_empty() {
            return Err(StoreError::Unavailable {
                retry_after: None,
                source: format!(
                    "the IMAP server lacks {} (the IMAP backend needs RFC 7162 CONDSTORE and QRESYNC, RFC 3516 \
                     BINARY and RFC 4315 UIDPLUS); it cannot serve calendars",
                    missing.join(", ")
                )
                .into(),
            });
        }
        // RFC 7162 §3.2.3: QRESYNC is enabled per connection before it is used.
        connection.run(Command::new("ENABLE QRESYNC")).await?;
        Ok(connection)
    }

    /// Connects, reads the greeting and logs out: whether the server answers.
    pub async fn greet(endpoint: &Endpoint) -> Result<(), StoreError> {
        Connection::connect_within(endpoint).await?.logout().await;
        Ok(())
    }

    /// [`Connection::connect`] within the connect timeout (TCP, TLS and the greeting).
    async fn connect_within(endpoint: &Endpoint) -> Result<Connection, StoreError> {
        tokio::time::timeout(endpoint.connect_timeout, Connection::connect(endpoint))
            .await
            .map_err(|_| StoreError::Timeout(format!("connecting to {}:{}", endpoint.host, endpoint.port).into()))?
    }

    async fn connect(endpoint: &Endpoint) -> Result<Connection, StoreError> {
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| unavailable(format!("connecting to {}:{}: {e}", endpoint.host, endpoint.port)))?;
        let _ = tcp.set_nodelay(true);
        let mut tcp = tcp;
        let stream: Box<dyn Stream> = match endpoint.security {
            Security::Tls => Box::new(handshake(endpoint, tcp).await?),
            Security::StartTls => {
                start_tls(endpoint, &mut tcp).await?;
                Box::new(handshake(endpoint, tcp).await?)
            }
            Security::Plain => Box::new(tcp),
        };
        let mut connection = Connection {
            stream: BufStream::new(stream),
            next_tag: 0,
            capabilities: Capabilities::default(),
            selected: None,
            last_used: Instant::now(),
            broken: false,
            max_response_bytes: endpoint.max_response_bytes,
            command_timeout: endpoint.command_timeout,
            commands: endpoint.commands.clone(),
        };
        if endpoint.security != Security::StartTls {
            let greeting = connection.read().await?;
            match greeting.status().as_deref() {
                Some("OK") => {}
                Some("PREAUTH") => {
                    return Err(StoreError::BadGateway("the IMAP server pre-authenticated the connection".into()))
                }
                _ => return Err(unavailable(format!("the IMAP server refused the connection: {}", greeting.text))),
            }
        }
        Ok(connection)
    }

    async fn ask_capabilities(&mut self) -> Result<(), StoreError> {
        let answer = self.run(Command::new("CAPABILITY")).await?;
        if let Some(line) = answer.untagged.iter().find(|r| r.tokens.first().is_some_and(|t| t.is("CAPABILITY"))) {
            self.capabilities = Capabilities::from_tokens(&line.tokens[1..]);
        }
        Ok(())
    }

    async fn read(&mut self) -> Result<Response, StoreError> {
        wire::read_response(&mut self.stream, self.max_response_bytes).await.map_err(|e| {
            self.broken = true;
            wire_error(e)
        })
    }

    /// Runs one command, within the command timeout; a connection that timed out or failed
    /// is marked broken. A `NO` or `BAD` is an `Ok` answer for the caller to judge.
    pub async fn run(&mut self, command: Command) -> Result<Answer, StoreError> {
        self.last_used = Instant::now();
        self.commands.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let timeout = self.command_timeout;
        match tokio::time::timeout(timeout, self.exchange(&command)).await {
            Ok(result) => result,
            Err(_) => {
                self.broken = true;
                Err(StoreError::Timeout(format!("IMAP {}", first_word(&command)).into()))
            }
        }
    }

    async fn exchange(&mut self, command: &Command) -> Result<Answer, StoreError> {
        self.next_tag += 1;
        let tag = format!("c{}", self.next_tag);
        let non_synchronizing = self.capabilities.has("LITERAL+");
        let mut untagged = Vec::new();
        let mut first = true;
        for part in &command.parts {
            match part {
                Part::Raw(text) => {
                    if first {
                        self.write(format!("{tag} ").as_bytes()).await?;
                        first = false;
                    }
                    self.write(text.as_bytes()).await?;
                }
                Part::Literal(bytes) => {
                    if non_synchronizing {
                        self.write(format!("{{{}+}}\r\n", bytes.len()).as_bytes()).await?;
                    } else {
                        self.write(format!("{{{}}}\r\n", bytes.len()).as_bytes()).await?;
                        self.flush().await?;
                        // RFC 3501 §7.5: the server says `+` before it takes the bytes, or
                        // refuses the command with a tagged response.
                        loop {
                            let response = self.read().await?;
                            match &response.kind {
                                Kind::Continuation => break,
                                Kind::Tagged(t) if *t == tag => return Ok(Answer { untagged, done: response }),
                                _ => untagged.push(response),
                            }
                        }
                    }
                    self.write(bytes).await?;
                }
            }
        }
        self.write(b"\r\n").await?;
        self.flush().await?;
        // Bounded by the command timeout around this call.
        loop {
            let response = self.read().await?;
            match &response.kind {
                Kind::Tagged(t) if *t == tag => return Ok(Answer { untagged, done: response }),
                Kind::Tagged(other) => {
                    self.broken = true;
                    return Err(StoreError::BadGateway(format!("IMAP answer to an unknown tag {other}")));
                }
                Kind::Continuation => {
                    self.broken = true;
                    return Err(StoreError::BadGateway("IMAP continuation where none was asked".into()));
                }
                Kind::Untagged => {
                    if response.status().as_deref() == Some("BYE") {
                        self.broken = true;
                    }
                    untagged.push(response)
                }
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.stream.write_all(bytes).await.map_err(|e| {
            self.broken = true;
            unavailable(format!("IMAP connection: {e}"))
        })
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        self.stream.flush().await.map_err(|e| {
            self.broken = true;
            unavailable(format!("IMAP connection: {e}"))
        })
    }

    /// Sends LOGOUT without waiting long; the connection is dropped either way.
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.exchange(&Command::new("LOGOUT"))).await;
    }
}

fn first_word(command: &Command) -> String {
    command.describe().split(' ').next().unwrap_or_default().to_owned()
}

/// RFC 3501 §6.2.1: the greeting and STARTTLS in clear text, on the bare TCP stream, so
/// nothing read before the handshake is kept after it.
async fn start_tls(endpoint: &Endpoint, tcp: &mut TcpStream) -> Result<(), StoreError> {
    let (read, mut write) = tcp.split();
    let mut reader = tokio::io::BufReader::new(read);
    let limit = endpoint.max_response_bytes;
    let greeting = wire::read_response(&mut reader, limit).await.map_err(wire_error)?;
    if greeting.status().as_deref() != Some("OK") {
        return Err(unavailable(format!("the IMAP server refused the connection: {}", greeting.text)));
    }
    write.write_all(b"s0 STARTTLS\r\n").await.map_err(|e| unavailable(format!("IMAP connection: {e}")))?;
    // Bounded by the connect timeout around `connect`.
    loop {
        let response = wire::read_response(&mut reader, limit).await.map_err(wire_error)?;
        if response.kind == Kind::Tagged("s0".into()) {
            if response.status().as_deref() != Some("OK") {
                return Err(unavailable(format!("the IMAP server refused STARTTLS: {}", response.text)));
            }
            break;
        }
    }
    if !reader.buffer().is_empty() {
        // Bytes after the OK and before the handshake: an injection attempt (CVE-2011-0411).
        return Err(StoreError::BadGateway("the IMAP server sent data before the TLS handshake".into()));
    }
    Ok(())
}

async fn handshake(
    endpoint: &Endpoint,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, StoreError> {
    let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone())
        .map_err(|e| StoreError::internal(format!("mail server name {}: {e}", endpoint.host)))?;
    tokio_rustls::TlsConnector::from(endpoint.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| unavailable(format!("TLS with {}:{}: {e}", endpoint.host, endpoint.port)))
}
