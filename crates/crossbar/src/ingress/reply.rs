//! Building responses: errors in the client's own protocol shape, and the common headers.

use crate::routing::Target;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind, Protocol};

/// An error the way `p`'s clients expect it (OpenAI `{"error":{…}}`, Anthropic
/// `{"type":"error",…}`, Gemini `{"error":{"code","status",…}}`), with `info.status`.
pub fn error(p: Protocol, info: &ErrorInfo) -> Response {
    let body = crossbar_protocol::encode_error(p, info);
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if info.kind == ErrorKind::RateLimited {
        headers.insert("retry-after", HeaderValue::from_static("1"));
    }
    build(info.status, headers, Body::from(body))
}

pub fn error_msg(p: Protocol, kind: ErrorKind, message: impl Into<String>) -> Response {
    error(p, &ErrorInfo::new(kind, message))
}

/// A response from an upstream target, naming the provider that served it.
pub fn with_headers(status: u16, mut headers: HeaderMap, body: Body, target: &Target) -> Response {
    if let Ok(v) = HeaderValue::from_str(target.provider.name()) {
        headers.insert("x-crossbar-provider", v);
    }
    build(status, headers, body)
}

pub fn plain(status: u16, headers: HeaderMap, body: impl Into<Body>) -> Response {
    build(status, headers, body.into())
}

fn build(status: u16, headers: HeaderMap, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    *resp.headers_mut() = headers;
    resp
}
