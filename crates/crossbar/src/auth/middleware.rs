//! The layer in front of every client route: with `[auth]` configured, a request without a
//! usable key is answered 401 in its protocol's error shape; a good key's record rides along
//! in the request extensions (`Authed`) for `pipeline::handle` to admit against.
//! Without `[auth]` it lets everything through (the loopback-only no-auth mode).

use super::Rejection;
use crate::app::AppState;
use crate::ingress::reply;
use crate::store::KeyRecord;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind, Protocol};
use std::sync::Arc;

/// The authenticated key of a request.
#[derive(Clone, Debug)]
pub struct Authed(pub Arc<KeyRecord>);

/// Paths that never need a key.
fn is_open(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The protocol a client route speaks, so its errors can be shaped for it.
pub fn protocol_of_path(path: &str, headers: &axum::http::HeaderMap) -> Protocol {
    if path.starts_with("/v1/messages") {
        Protocol::Anthropic
    } else if path.starts_with("/v1beta/") || (path.starts_with("/v1/models/") && path.contains(':')) {
        Protocol::Gemini
    } else if path.ends_with("/responses") {
        Protocol::OpenaiResponses
    } else if path.ends_with("/models") && headers.contains_key("anthropic-version") {
        Protocol::Anthropic
    } else {
        Protocol::OpenaiChat
    }
}

pub async fn layer(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let Some(auth) = state.auth.as_ref() else { return next.run(req).await };
    if is_open(req.uri().path()) {
        return next.run(req).await;
    }
    let p = protocol_of_path(req.uri().path(), req.headers());
    let addr = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let result = match super::presented(req.headers(), req.uri().query()) {
        None | Some("") => Err(Rejection::Missing),
        Some(k) => auth.check_from(k, addr).await,
    };
    match result {
        Ok(record) => {
            req.extensions_mut().insert(Authed(record));
            next.run(req).await
        }
        Err(r) => {
            state.metrics.auth_failures.get_or_create(&crate::telemetry::ReasonLabels { reason: reason(&r) }).inc();
            let kind = match r {
                Rejection::Unavailable => ErrorKind::Overloaded,
                Rejection::TooManyFailures => ErrorKind::RateLimited,
                _ => ErrorKind::Authentication,
            };
            let mut resp = reply::error(p, &ErrorInfo::new(kind, r.message()));
            if r == Rejection::TooManyFailures {
                resp.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("60"));
            }
            resp
        }
    }
}

fn reason(r: &Rejection) -> &'static str {
    match r {
        Rejection::Missing => "missing",
        Rejection::Invalid => "invalid",
        Rejection::Revoked => "revoked",
        Rejection::Expired => "expired",
        Rejection::Unavailable => "unavailable",
        Rejection::TooManyFailures => "too_many_failures",
    }
}
