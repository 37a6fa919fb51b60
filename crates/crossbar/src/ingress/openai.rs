//! OpenAI Chat Completions and Responses (also Codex's `/backend-api/codex/responses`).

use crate::app::AppState;
use crate::pipeline::Endpoint;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use crossbar_protocol::canonical::Protocol;
use std::sync::Arc;

pub async fn chat(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    super::json_endpoint(state, Protocol::OpenaiChat, Endpoint::Generate, parts, body).await
}

pub async fn responses(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let turn_state = codex_turn_state(&parts.headers);
    let mut resp = super::json_endpoint(state, Protocol::OpenaiResponses, Endpoint::Generate, parts, body).await;
    if let Some(v) = turn_state {
        resp.headers_mut().insert("x-codex-turn-state", v);
    }
    resp
}

/// Codex's legacy unary compaction (`POST …/responses/compact`, Codex ≤ 0.125).
pub async fn responses_compact(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    super::json_endpoint(state, Protocol::OpenaiResponses, Endpoint::Compact, parts, body).await
}

/// `x-codex-turn-state` to answer with: Codex echoes the server's value on later requests of
/// the same turn (sticky routing). The client's value is echoed; a Codex request without one
/// (any `x-codex-*` header) gets a fresh one.
pub(super) fn codex_turn_state(headers: &HeaderMap) -> Option<HeaderValue> {
    if let Some(v) = headers.get("x-codex-turn-state") {
        return Some(v.clone());
    }
    let codex = headers.keys().any(|k| k.as_str().starts_with("x-codex-"));
    codex.then(|| HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string()).ok()).flatten()
}
