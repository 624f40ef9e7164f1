//! The CalDAV gateway: the only crate that wires the protocol crates (`dav`, `calendar`) to a
//! backend (`store`). `app` builds the whole HTTP service; tests drive it in process.

pub mod access;
mod admin;
pub mod auth;
pub mod cert_reload;
pub mod config;
pub mod connections;
pub mod dispatch;
pub mod dns_records;
pub mod error;
pub mod health_probe;
pub mod layers;
pub mod login_limit;
pub mod methods;
pub mod metrics;
pub mod parsed_objects;
pub mod properties;
pub mod provision;
pub mod quirks;
pub mod redirect;
pub mod resources;
pub mod scheduling;
pub mod serve;
pub mod sync_token;
pub mod tls;
pub mod unread_body;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use dav::path::ResourcePath;
use dav::Precondition;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use store::Backend;

pub use crate::admin::app as admin_app;
use crate::auth::{AuthFailure, Authenticator};
use crate::config::{CaldavConfig, Config, LimitsConfig};
use crate::error::GatewayError;
use crate::resources::RequestContext;
use crate::scheduling::policy::SchedulingPolicy;

/// Shared by every request.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

struct AppInner {
    auth: Authenticator,
    limits: LimitsConfig,
    backend: Arc<dyn Backend>,
    metrics: metrics::Metrics,
    readiness_timeout: Duration,
    access: access::AccessSwitch,
    admin_token: String,
    /// `Strict-Transport-Security` of every answer, when served over TLS.
    hsts: Option<http::HeaderValue>,
    scheduling: SchedulingPolicy,
    mailer: scheduling::mailer::Mailer,
    invitations: scheduling::mailer::HourlyLimit,
    max_invitations_per_hour: u32,
    /// Users whose INBOX was looked at for iMIP mail within the check interval.
    inbound_checked: moka::future::Cache<String, ()>,
    /// Where scheduling delivers invitations to users who never logged in (default folders).
    caldav: CaldavConfig,
    parsed_objects: parsed_objects::ParsedObjects,
}

impl AppState {
    pub fn new(backend: Arc<dyn Backend>, config: &Config) -> Self {
        let scheduling = SchedulingPolicy::new(&config.scheduling);
        let metrics = metrics::Metrics::new(backend.clone());
        AppState(Arc::new(AppInner {
            auth: Authenticator::new(
                backend.clone(),
                &config.auth,
                &config.caldav,
                scheduling.clone(),
                metrics.clone(),
            ),
            limits: config.limits.clone(),
            backend,
            metrics,
            readiness_timeout: Duration::from_secs(config.admin.readiness_timeout_secs),
            access: access::AccessSwitch::new(&config.access),
            admin_token: config.admin.token.clone(),
            hsts: (config.tls.enabled && config.tls.hsts_max_age_secs > 0)
                .then(|| http::HeaderValue::from_str(&format!("max-age={}", config.tls.hsts_max_age_secs)).ok())
                .flatten(),
            scheduling,
            mailer: scheduling::mailer::Mailer::new(&config.mail.submission),
            invitations: scheduling::mailer::HourlyLimit::new(config.scheduling.max_invitations_per_hour),
            max_invitations_per_hour: config.scheduling.max_invitations_per_hour,
            inbound_checked: moka::future::Cache::builder()
                .time_to_live(scheduling::inbound::check_interval(config.scheduling.inbound_check_secs))
                .max_capacity(config.auth.max_sessions)
                .build(),
            caldav: config.caldav.clone(),
            parsed_objects: parsed_objects::ParsedObjects::new(
                config.limits.parsed_object_cache_mib.saturating_mul(1024 * 1024),
            ),
        }))
    }

    /// Whether `user`'s INBOX is due to be looked at for iMIP mail; at most one request per
    /// interval gets `true`, even when several arrive at once.
    pub async fn inbound_check_due(&self, user: &str) -> bool {
        self.0.inbound_checked.entry(user.to_owned()).or_insert(()).await.is_fresh()
    }

    /// Each user's scheduling messages of the last hour (`scheduling.max_invitations_per_hour`).
    pub fn invitations(&self) -> &scheduling::mailer::HourlyLimit {
        &self.0.invitations
    }

    pub fn max_invitations_per_hour(&self) -> u32 {
        self.0.max_invitations_per_hour
    }

    /// The SMTP submission server for iMIP mail, when the backend sends none itself.
    pub fn mailer(&self) -> &scheduling::mailer::Mailer {
        &self.0.mailer
    }

    pub fn limits(&self) -> &LimitsConfig {
        &self.0.limits
    }

    pub fn caldav(&self) -> &CaldavConfig {
        &self.0.caldav
    }

    /// Calendar objects parsed by earlier requests (`limits.parsed_object_cache_mib`).
    pub fn parsed_objects(&self) -> &parsed_objects::ParsedObjects {
        &self.0.parsed_objects
    }

    pub fn scheduling(&self) -> &SchedulingPolicy {
        &self.0.scheduling
    }

    /// The other users of the mail system, when the backend can reach them (scheduling).
    pub fn directory(&self) -> Option<&dyn store::Directory> {
        self.0.backend.directory()
    }

    /// The operator's CalDAV switch (`[access]`).
    pub fn access(&self) -> &access::AccessSwitch {
        &self.0.access
    }

    pub fn backend(&self) -> &dyn Backend {
        self.0.backend.as_ref()
    }
}

/// The whole HTTP service. RFC 6764 §5: `/.well-known/caldav` points at the DAV root.
pub fn app(state: AppState) -> Router {
    let limits = state.limits().clone();
    let metrics = state.0.metrics.clone();
    let hsts = state.0.hsts.clone();
    let mut router = Router::new()
        .route("/.well-known/caldav", any(well_known))
        .route("/.well-known/caldav/", any(well_known))
        .route("/", any(dav_entry))
        .route("/dav", any(dav_entry))
        .route("/dav/", any(dav_entry))
        .route("/dav/{*path}", any(dav_entry))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::record));
    if let Some(hsts) = hsts {
        router = router.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            http::header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ));
    }
    layers::apply(router, &limits)
}

/// 301 rather than 308: older iOS and Android clients follow 301 for PROPFIND, and RFC 6764
/// §5 leaves the code open.
async fn well_known(State(state): State<AppState>, request: Request) -> Response {
    let redirect = (StatusCode::MOVED_PERMANENTLY, [(http::header::LOCATION, dav::path::DAV_ROOT)]).into_response();
    answer_unread(&state, request, redirect).await
}

/// Paths outside the DAV tree, such as the ones iOS account set-up probes (`/principals/`).
async fn not_found(State(state): State<AppState>, request: Request) -> Response {
    answer_unread(&state, request, StatusCode::NOT_FOUND.into_response()).await
}

async fn answer_unread(state: &AppState, request: Request, response: Response) -> Response {
    unread_body::answer_after_draining(response, request, body_timeout(state)).await
}

/// The path and session of a request, or the answer that refuses it, decided before its body
/// is read.
async fn admit(
    state: &AppState,
    headers: &http::HeaderMap,
    peer: Option<login_limit::PeerAddr>,
    path: Result<ResourcePath, dav::path::PathError>,
) -> Result<(ResourcePath, Arc<dyn store::Session>), Response> {
    let path = path.map_err(|error| GatewayError::from(error).into_response())?;
    let session = match state.0.auth.authenticate(headers, peer).await {
        Ok(session) => session,
        // iOS and others always try without credentials first, so this is not worth a warning.
        Err(AuthFailure::Unauthenticated) => return Err(auth::unauthorized(state.0.auth.challenge())),
        Err(AuthFailure::Backend(error)) => return Err(GatewayError::Store(error).into_response()),
        // No challenge: asking the user for a password again would only add a refused login.
        Err(AuthFailure::Throttled(wait)) => {
            let seconds = wait.as_secs().max(1);
            let message = format!("Too many refused logins; try again in {seconds} seconds.");
            return Err(GatewayError::TooMany { retry_after: wait, message }.into_response());
        }
    };
    tracing::Span::current().record("user", session.principal().user.as_str());
    if let Err(closed) = state.0.access.check(session.principal()) {
        return Err((StatusCode::FORBIDDEN, format!("{}\n", closed.message())).into_response());
    }
    // Every path below a user belongs to that user alone; sharing will widen this.
    if path.user().is_some_and(|owner| owner != session.principal().user) {
        return Err(GatewayError::forbidden(Precondition::NeedPrivileges).into_response());
    }
    Ok((path, session))
}

fn body_timeout(state: &AppState) -> Duration {
    Duration::from_secs(state.limits().request_body_timeout_secs)
}

async fn dav_entry(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let raw_path = parts.uri.path();
    // Clients given only the host (python caldav, Evolution) PROPFIND `/` for the principal.
    let (path, root_href) = if raw_path == "/" {
        (Ok(ResourcePath::Root), "/")
    } else {
        (ResourcePath::parse(raw_path), dav::path::DAV_ROOT)
    };
    let peer = parts.extensions.get::<login_limit::PeerAddr>().copied();
    if parts.method == Method::OPTIONS {
        let scheduling = options_scheduling(&state, &parts.headers, peer).await;
        return methods::options::options(path.as_ref().ok(), scheduling);
    }
    let (path, session) = match admit(&state, &parts.headers, peer, path).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let request = Request::from_parts(parts, body);
            return unread_body::answer_after_draining(refusal, request, body_timeout(&state)).await;
        }
    };
    // The body is read before the request timeout starts (that one is for the backend), so it
    // gets its own: a client trickling its body must not hold the connection for ever.
    let body_timeout = body_timeout(&state);
    let body = match tokio::time::timeout(body_timeout, read_body(body, state.limits().max_request_body)).await {
        Ok(Ok(body)) => body,
        Ok(Err(response)) => return response,
        Err(_) => {
            tracing::info!(timeout_secs = body_timeout.as_secs(), "request body not received in time");
            return body_timeout_response(parts.version);
        }
    };
    let timeout = Duration::from_secs(state.limits().request_timeout_secs);
    let cx = RequestContext { app: state, session };
    // One scope per request: a backend may then check its mail server once per request.
    let handled = store::scope::scoped(async {
        scheduling::inbound::catch_up(&cx).await;
        dispatch::dispatch(&cx, &parts.method, &path, root_href, &parts.headers, body).await
    });
    match tokio::time::timeout(timeout, handled).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => error.into_response(),
        Err(_) => GatewayError::Timeout.into_response(),
    }
}

/// Whether OPTIONS advertises scheduling: for the user when the request carries valid
/// credentials (Thunderbird's OPTIONS does, after its first PROPFIND), else the deployment's
/// setting. OPTIONS never answers 401, so wrong credentials fall back to the same default.
async fn options_scheduling(state: &AppState, headers: &http::HeaderMap, peer: Option<login_limit::PeerAddr>) -> bool {
    if !state.0.scheduling.enabled() || auth::basic_credentials(headers).is_none() {
        return state.0.scheduling.enabled();
    }
    match state.0.auth.authenticate(headers, peer).await {
        Ok(session) => state.0.scheduling.allows(session.principal()),
        Err(_) => state.0.scheduling.enabled(),
    }
}

/// The body, or 413 when it exceeds the limit (a chunked body has no Content-Length for the
/// limit layer to check up front), or 400 when the client broke off.
async fn read_body(body: Body, limit: u64) -> Result<Bytes, Response> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if exceeds_limit(error.as_ref()) => Err(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
        Err(error) => {
            tracing::info!(%error, "reading the request body failed");
            Err(StatusCode::BAD_REQUEST.into_response())
        }
    }
}

/// 408 (RFC 9110 §15.5.9). HTTP/1.1 says `Connection: close` so the connection, with the rest of
/// the body still unread on it, is not reused (HTTP/2 ends just the stream, which hyper resets).
fn body_timeout_response(version: http::Version) -> Response {
    let mut response = StatusCode::REQUEST_TIMEOUT.into_response();
    if version <= http::Version::HTTP_11 {
        response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    response
}

/// The limit error may arrive wrapped (axum boxes body errors), so look along the chain.
fn exceeds_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}
