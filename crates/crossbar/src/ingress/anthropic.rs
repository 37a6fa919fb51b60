//! Anthropic Messages and count_tokens (any query, e.g. Claude Code's `?beta=true`).

use crate::app::AppState;
use crate::pipeline::Endpoint;
use axum::extract::{Request, State};
use axum::response::Response;
use crossbar_protocol::canonical::Protocol;
use std::sync::Arc;

pub async fn messages(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    super::json_endpoint(state, Protocol::Anthropic, Endpoint::Generate, parts, body).await
}

pub async fn count_tokens(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    super::json_endpoint(state, Protocol::Anthropic, Endpoint::CountTokens, parts, body).await
}
