//! Multistatus answers sent while they are written (issue 12).
//!
//! Built whole, a Depth:1 listing of 10,000 members held every `<D:response>` value and then
//! about 3 MB of XML at once, per request: with 32 clients listing, the gateway peaked near
//! 280 MiB. Here the members are turned into XML one at a time, a chunk at a time, when hyper
//! asks for more of the body: a slow reader holds one chunk and hyper's write buffer, not the
//! document, and nothing is produced that the connection cannot take (backpressure).
//!
//! Errors keep their status: the handlers do everything that can fail (loading, evaluating a
//! filter, shaping calendar data) before they hand over their resources, and what is left,
//! writing properties of loaded resources, cannot fail, so a 207 never turns into an error
//! after its first byte. An answer that fits in one chunk is sent whole with its
//! Content-Length, as before.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::{IntoResponse, Response};
use dav::response::MultiStatusWriter;
use http::{header, HeaderValue, StatusCode};
use hyper::body::{Frame, SizeHint};

/// Text gathered before it is handed to hyper: large enough that a chunk's framing and
/// write call are small beside it, small enough that 32 clients' chunks are a megabyte.
const CHUNK: usize = 32 * 1024;

/// 207 with a multistatus of `responses`, closed by `sync_token` when there is one (RFC 6578).
pub fn streamed_multistatus<I>(responses: I, sync_token: Option<String>) -> Response
where
    I: Iterator<Item = dav::response::Response> + Send + 'static,
{
    let mut members =
        Members { writer: Some(MultiStatusWriter::with_capacity(CHUNK + CHUNK / 4)), responses, sync_token };
    let body = match members.next_chunk() {
        // Everything fitted: one body with a length, as a document built whole is sent.
        Some(first) if members.writer.is_none() => Body::from(first),
        first => Body::new(Streamed { first, members }),
    };
    (
        StatusCode::MULTI_STATUS,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"))],
        body,
    )
        .into_response()
}

/// The members still to write; `writer` is `None` once the document is finished.
struct Members<I> {
    writer: Option<MultiStatusWriter>,
    responses: I,
    sync_token: Option<String>,
}

impl<I: Iterator<Item = dav::response::Response>> Members<I> {
    /// The next `CHUNK` or so of the document (the last one ends it); `None` after the end.
    fn next_chunk(&mut self) -> Option<Bytes> {
        let writer = self.writer.as_mut()?;
        while writer.buffered() < CHUNK {
            match self.responses.next() {
                Some(response) => writer.push(&response),
                None => {
                    let rest = self.writer.take()?.finish(self.sync_token.as_deref());
                    return Some(Bytes::from(rest));
                }
            }
        }
        Some(Bytes::from(writer.take()))
    }
}

struct Streamed<I> {
    /// Written while the handler ran; sent first.
    first: Option<Bytes>,
    members: Members<I>,
}

// Nothing is pinned: the body holds plain values and is polled through `&mut`.
impl<I> Unpin for Streamed<I> {}

impl<I: Iterator<Item = dav::response::Response>> HttpBody for Streamed<I> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let chunk = this.first.take().or_else(|| this.members.next_chunk());
        Poll::Ready(chunk.map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.members.writer.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dav::response::{MultiStatus, PropStat, Property, ResponseBody, Value};
    use http_body_util::BodyExt;

    fn member(n: usize) -> dav::response::Response {
        let etag = Property::new(dav::PropName::GetETag, Value::Text(format!("\"etag-{n}\"")));
        dav::response::Response {
            href: format!("/dav/calendars/alice/work/{n}.ics"),
            body: ResponseBody::PropStats(vec![PropStat { status: StatusCode::OK, props: vec![etag] }]),
            error: None,
        }
    }

    async fn answer(count: usize, sync_token: Option<&str>) -> (Response, String) {
        let response = streamed_multistatus((0..count).map(member), sync_token.map(str::to_owned));
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("infallible").to_bytes();
        (Response::from_parts(parts, Body::empty()), String::from_utf8(bytes.to_vec()).expect("utf-8"))
    }

    fn whole(count: usize, sync_token: Option<&str>) -> String {
        MultiStatus { responses: (0..count).map(member).collect(), sync_token: sync_token.map(str::to_owned) }.to_xml()
    }

    #[tokio::test]
    async fn a_long_answer_streams_the_same_document_as_one_built_whole() {
        for count in [300, 2_000] {
            let (response, text) = answer(count, Some("http://example.com/sync/7")).await;
            assert_eq!(response.status(), StatusCode::MULTI_STATUS);
            assert_eq!(text.len(), whole(count, Some("http://example.com/sync/7")).len());
            assert_eq!(text, whole(count, Some("http://example.com/sync/7")), "{count} members");
        }
    }

    #[tokio::test]
    async fn a_short_answer_is_sent_whole_with_its_length() {
        let response = streamed_multistatus((0..3).map(member), None);
        assert_eq!(response.body().size_hint().exact(), Some(whole(3, None).len() as u64));
        let (_, text) = answer(3, None).await;
        assert_eq!(text, whole(3, None));
        let (_, empty) = answer(0, None).await;
        assert_eq!(empty, whole(0, None));
    }

    #[tokio::test]
    async fn a_long_answer_goes_out_in_chunks_without_a_length() {
        let response = streamed_multistatus((0..2_000).map(member), None);
        assert_eq!(response.body().size_hint().exact(), None);
        let mut body = response.into_body();
        let mut chunks = 0;
        while let Some(frame) = body.frame().await {
            let data = frame.expect("infallible").into_data().expect("data frames only");
            assert!(data.len() < 2 * CHUNK, "a chunk of {} bytes", data.len());
            chunks += 1;
        }
        assert!(chunks > 2, "{chunks} chunks");
    }
}
