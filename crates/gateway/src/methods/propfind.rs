//! PROPFIND (RFC 4918 §9.1).

use axum::response::Response;
use dav::headers::Depth;
use dav::path::ResourcePath;
use dav::response::MultiStatus;
use dav::Precondition;
use http::HeaderMap;

use super::{depth, multistatus, property_context};
use crate::error::GatewayError;
use crate::properties;
use crate::resources::{self, RequestContext};

pub async fn propfind(
    cx: &RequestContext,
    path: &ResourcePath,
    root_href: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GatewayError> {
    // A missing Depth means infinity (RFC 4918 §9.1), which no client of a calendar server
    // means; like sabre/dav we read it as 1. An explicit infinity is refused.
    let depth = depth(headers, Depth::One)?;
    if depth == Depth::Infinity {
        return Err(GatewayError::forbidden(Precondition::PropfindFiniteDepth));
    }
    let selection = dav::request::parse_propfind(body)?;
    let loaded = resources::load(cx, path, root_href, depth, properties::needs_bodies(&selection)).await?;
    let pcx = property_context(cx);
    let responses = loaded.iter().map(|r| properties::response(&pcx, r, &selection)).collect();
    Ok(multistatus(&MultiStatus { responses, sync_token: None }))
}
