//! OpenAI Chat Completions and Responses (also Codex's `/backend-api/codex/responses`).

use crate::app::AppState;
use crate::pipeline::Endpoint;
use axum::extract::{Request, State};
use axum::response::Response;
use crossbar_protocol::canonical::Protocol;
use std::sync::Arc;

pub async fn chat(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    super::json_endpoint(state, Protocol::OpenaiChat, Endpoint::Generate, parts, body).await
}

pub async fn responses(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    super::json_endpoint(state, Protocol::OpenaiResponses, Endpoint::Generate, parts, body).await
}
