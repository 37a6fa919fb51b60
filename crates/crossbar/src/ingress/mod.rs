//! The HTTP surface: one handler per client protocol, plus models, health and metrics.
//!
//! A handler reads the body (size-limited, decompressed), looks only at what routing needs
//! (`pipeline::body::inspect`), and calls `pipeline::handle`. Every rejection is written in
//! the client protocol's own error shape.

mod anthropic;
mod codex_models;
mod gemini;
mod health;
mod models;
mod openai;
pub mod reply;
pub mod websocket;

use crate::app::AppState;
use crate::pipeline::{self, Endpoint, Inbound};
use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use crossbar_protocol::canonical::{ErrorKind, Protocol};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Instant;

pub fn routes() -> Router<Arc<AppState>> {
    let responses = || post(openai::responses).get(websocket::upgrade);
    Router::new()
        .route("/v1/chat/completions", post(openai::chat))
        .route("/chat/completions", post(openai::chat))
        .route("/v1/responses", responses())
        .route("/responses", responses())
        .route("/backend-api/codex/responses", responses())
        .route("/backend-api/codex/models", get(codex_models::catalog))
        .route("/v1/responses/compact", post(openai::responses_compact))
        .route("/responses/compact", post(openai::responses_compact))
        .route("/backend-api/codex/responses/compact", post(openai::responses_compact))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1beta/models/{*tail}", post(gemini::generate).get(models::gemini_one))
        .route("/v1/models/{*tail}", post(gemini::generate).get(models::openai_one))
        .route("/v1/models", get(models::list))
        .route("/models", get(models::list))
        .route("/v1beta/models", get(models::gemini_list))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
}

/// Read a request body up to the configured limit; the error is a ready response.
pub async fn read_body(state: &AppState, p: Protocol, body: Body) -> Result<Bytes, Response> {
    let limit = state.config.server.max_body_bytes;
    let deadline = state.config.server.client_body_timeout;
    let read = tokio::time::timeout(deadline, http_body_util::Limited::new(body, limit).collect()).await;
    let Ok(read) = read else {
        return Err(reply::error_msg(
            p,
            ErrorKind::RequestTimeout,
            format!("the request body did not arrive within {} seconds", deadline.as_secs()),
        ));
    };
    match read {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(reply::error_msg(
            p,
            ErrorKind::PayloadTooLarge,
            format!("the request body is larger than the {} MiB limit", limit / (1024 * 1024)),
        )),
        Err(e) => Err(reply::error_msg(p, ErrorKind::InvalidRequest, format!("cannot read the request body: {e}"))),
    }
}

/// A query string without any `key=` parameter (a client's crossbar key never goes upstream).
fn without_key(q: &str) -> Option<String> {
    let kept: Vec<&str> = q.split('&').filter(|kv| !kv.starts_with("key=") && !kv.is_empty()).collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// The shared path of the JSON protocols (Chat, Responses, Anthropic): model and stream
/// come from the body.
pub async fn json_endpoint(
    state: Arc<AppState>,
    p: Protocol,
    endpoint: Endpoint,
    parts: Parts,
    body: Body,
) -> Response {
    let started = Instant::now();
    let body = match read_body(&state, p, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let shallow = match pipeline::body::inspect(&body) {
        Ok(s) => s,
        Err(msg) => return reply::error_msg(p, ErrorKind::InvalidRequest, msg),
    };
    let Some(model) = shallow.model else {
        return reply::error_msg(p, ErrorKind::InvalidRequest, "`model` is required");
    };
    let inbound = Inbound {
        protocol: p,
        endpoint,
        model,
        model_span: shallow.model_span,
        stream: shallow.stream && endpoint == Endpoint::Generate,
        body,
        forward_query: parts.uri.query().filter(|_| p == Protocol::Anthropic).and_then(without_key),
        include_usage: shallow.include_usage,
        stream_options_span: shallow.stream_options_span,
        sse: true,
        codex_ready: shallow.stream && shallow.store_false && !shallow.codex_refused,
        started,
        key: parts.extensions.get::<crate::auth::Authed>().map(|a| a.0.clone()),
        headers: parts.headers,
        prompt: Some(shallow.prompt),
        conversation_memo: Default::default(),
        socket: None,
    };
    pipeline::handle(state, inbound).await
}
