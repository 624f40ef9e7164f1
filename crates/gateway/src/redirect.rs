//! The optional plain-HTTP listener (`tls.redirect_listen`, usually port 80): it serves
//! nothing, it only sends a client that typed `http://` to the same place over HTTPS, so no
//! password ever travels unencrypted past the first request.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, Method, StatusCode};

/// Every request answered with a redirect to `https://<host>[:https_port]<path>`.
pub fn app(https_port: u16) -> Router {
    Router::new().fallback(redirect).with_state(https_port)
}

async fn redirect(State(https_port): State<u16>, request: Request) -> Response {
    let Some(host) = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).and_then(host_name) else {
        return (StatusCode::BAD_REQUEST, "a Host header is required\n").into_response();
    };
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    // 301 for what a browser sends; 308 keeps the method and body of PROPFIND, PUT and the like.
    let status = if matches!(*request.method(), Method::GET | Method::HEAD) {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    (status, [(header::LOCATION, format!("https://{host}{port}{path}"))]).into_response()
}

/// The host of a Host header without its port, when it is a plain DNS name or IP literal
/// (nothing that could smuggle another URL into Location).
fn host_name(value: &str) -> Option<&str> {
    let host = if value.starts_with('[') {
        &value[..=value.find(']')?]
    } else {
        value.rsplit_once(':').map_or(value, |(host, _)| host)
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    (!host.is_empty() && host.chars().all(allowed)).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port_and_odd_ones_are_refused() {
        assert_eq!(host_name("cal.example.com"), Some("cal.example.com"));
        assert_eq!(host_name("cal.example.com:80"), Some("cal.example.com"));
        assert_eq!(host_name("[::1]:80"), Some("[::1]"));
        assert_eq!(host_name("evil.com/@x"), None);
        assert_eq!(host_name(""), None);
    }
}
