//! The static ceiling of `make bench` (integration-tests/bench/compare.py): how fast this
//! machine answers a CalDAV request when answering costs nothing but HTTP.
//!
//! `bench-ceiling LISTEN RECORDINGS` listens on LISTEN (loopback, HTTP/1.1 with keep-alive) and
//! answers each request whose method, path and body were recorded with the exact status,
//! headers and body the gateway answered it with, from memory. A recording whose path is `*`
//! answers that method on any path whatever the body (the PUTs of new objects, each to a new
//! href). Anything else is answered 404, so a workload that is not recorded cannot look fast:
//! the harness checks every answer's status first.
//!
//! RECORDINGS is a JSON array of `{"method", "path", "body", "status", "headers": [[name,
//! value]], "response"}`, bodies as UTF-8 strings (CalDAV bodies are XML and iCalendar).
//!
//! Not a workspace member anyone else depends on, and never part of the gateway binary: it
//! exists so the benchmark's "how far from the machine's limit" ratio is measured against a
//! server built on the same HTTP stack (hyper, tokio) as the gateway.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;

#[derive(Deserialize)]
struct Recording {
    method: String,
    path: String,
    body: String,
    status: u16,
    headers: Vec<(String, String)>,
    response: String,
}

/// One recorded answer, ready to clone into a response.
struct Answer {
    body: Bytes,
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    response: Bytes,
}

/// Answers by "METHOD path", then by request body; "METHOD *" answers any path.
type Answers = HashMap<String, Vec<Answer>>;

/// Headers that describe the connection or the framing of the recorded answer, not the
/// answer: hyper writes its own.
const NOT_REPLAYED: [&str; 4] = ["connection", "content-length", "transfer-encoding", "keep-alive"];

fn load(path: &str) -> anyhow::Result<Answers> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let recordings: Vec<Recording> = serde_json::from_str(&text).with_context(|| format!("parsing {path}"))?;
    let mut answers = Answers::new();
    for recording in recordings {
        let mut headers = Vec::new();
        for (name, value) in &recording.headers {
            if NOT_REPLAYED.contains(&name.to_ascii_lowercase().as_str()) {
                continue;
            }
            headers.push((HeaderName::try_from(name.as_str())?, HeaderValue::try_from(value.as_str())?));
        }
        answers.entry(format!("{} {}", recording.method, recording.path)).or_default().push(Answer {
            body: Bytes::from(recording.body),
            status: StatusCode::from_u16(recording.status)?,
            headers,
            response: Bytes::from(recording.response),
        });
    }
    Ok(answers)
}

fn find<'a>(answers: &'a Answers, method: &str, path: &str, body: &[u8]) -> Option<&'a Answer> {
    if let Some(found) = answers.get(&format!("{method} {path}")).and_then(|list| list.iter().find(|a| a.body == body))
    {
        return Some(found);
    }
    answers.get(&format!("{method} *")).and_then(|list| list.first())
}

async fn answer(answers: Arc<Answers>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    // The body is read whole, as the gateway reads it, before the answer is chosen.
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let response = match find(&answers, &method, &path, &body) {
        Some(found) => {
            let mut response = Response::new(Full::new(found.response.clone()));
            *response.status_mut() = found.status;
            for (name, value) in &found.headers {
                response.headers_mut().append(name.clone(), value.clone());
            }
            response
        }
        None => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"not recorded\n")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    Ok(response)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, recordings] = args.as_slice() else {
        anyhow::bail!("usage: bench-ceiling LISTEN RECORDINGS");
    };
    let address: SocketAddr = listen.parse().with_context(|| format!("LISTEN {listen}"))?;
    let answers = Arc::new(load(recordings)?);
    let listener = TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let answers = answers.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(answers.clone(), request));
            let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(recordings: &str) -> Answers {
        let dir = std::env::temp_dir().join(format!("bench-ceiling-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("recordings.json");
        std::fs::write(&path, recordings).unwrap();
        load(path.to_str().unwrap()).unwrap()
    }

    const RECORDINGS: &str = r#"[
        {"method": "REPORT", "path": "/cal/", "body": "<a/>", "status": 207,
         "headers": [["Content-Type", "application/xml"], ["Content-Length", "3"]], "response": "one"},
        {"method": "REPORT", "path": "/cal/", "body": "<b/>", "status": 207, "headers": [], "response": "two"},
        {"method": "PUT", "path": "*", "body": "", "status": 201, "headers": [["ETag", "\"1\""]], "response": ""}
    ]"#;

    #[test]
    fn a_recorded_request_is_found_by_method_path_and_body() {
        let answers = answers(RECORDINGS);
        assert_eq!(find(&answers, "REPORT", "/cal/", b"<b/>").map(|a| a.response.clone()), Some(Bytes::from("two")));
        assert!(find(&answers, "REPORT", "/cal/", b"<c/>").is_none());
        assert!(find(&answers, "PROPFIND", "/cal/", b"<a/>").is_none());
    }

    #[test]
    fn a_star_recording_answers_its_method_on_any_path_and_framing_headers_are_not_replayed() {
        let answers = answers(RECORDINGS);
        let put = find(&answers, "PUT", "/cal/new-1.ics", b"BEGIN:VCALENDAR").map(|a| a.status);
        assert_eq!(put, Some(StatusCode::CREATED));
        let first = find(&answers, "REPORT", "/cal/", b"<a/>").map(|a| a.headers.len());
        assert_eq!(first, Some(1));
    }
}
