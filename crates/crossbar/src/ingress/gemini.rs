//! Gemini: `POST /v1beta/models/{model}:{method}` (and the same under `/v1/models/…`, which
//! current google-genai SDKs call). `{model}` may contain `/` (`mock/echo`), so the whole tail
//! is taken and split at its last `:`.

use crate::app::AppState;
use crate::ingress::reply;
use crate::pipeline::{self, Endpoint, Inbound};
use axum::extract::{Path, Request, State};
use axum::response::Response;
use crossbar_protocol::canonical::{ErrorKind, Protocol};
use std::sync::Arc;
use std::time::Instant;

const P: Protocol = Protocol::Gemini;

pub async fn generate(State(state): State<Arc<AppState>>, Path(tail): Path<String>, req: Request) -> Response {
    let started = Instant::now();
    let Some((model, method)) = tail.rsplit_once(':') else {
        return reply::error_msg(
            P,
            ErrorKind::NotFound,
            format!("unknown method in {tail:?}: expected MODEL:generateContent"),
        );
    };
    let model = model.strip_prefix("models/").unwrap_or(model).to_string();
    let (endpoint, stream) = match method {
        "generateContent" => (Endpoint::Generate, false),
        "streamGenerateContent" => (Endpoint::Generate, true),
        "countTokens" => (Endpoint::CountTokens, false),
        other => return reply::error_msg(P, ErrorKind::NotFound, format!("method {other:?} is not supported")),
    };
    let sse = req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
    let (parts, body) = req.into_parts();
    let body = match super::read_body(&state, P, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // Check the body is a JSON object now, so the relay never forwards garbage.
    let shallow = match pipeline::body::inspect(&body) {
        Ok(s) => s,
        Err(msg) => return reply::error_msg(P, ErrorKind::InvalidRequest, msg),
    };
    let inbound = Inbound {
        protocol: P,
        endpoint,
        model,
        model_span: None,
        stream,
        body,
        forward_query: None,
        headers: parts.headers,
        include_usage: false,
        stream_options_span: None,
        sse,
        codex_ready: false,
        started,
        key: parts.extensions.get::<crate::auth::Authed>().map(|a| a.0.clone()),
        prompt: Some(shallow.prompt),
        conversation_memo: Default::default(),
        socket: None,
    };
    pipeline::handle(state, inbound).await
}
