//! THE request path, read top to bottom in `handle`:
//! (the key was authenticated by `auth::layer`) → admit (model allow-list, budget, rate
//! limits) → route (model name → targets) → pick the target → relay (same protocol) or
//! translate → record (one usage record and the limit settlement, when the body ends).
//!
//! Failover across targets (issue: routing) slots in here as a step of `handle`.

mod admit;
pub mod body;
mod count_tokens;
mod outcome;
pub mod record;
pub mod relay;
mod relay_error;
mod stream;
pub mod translate;

use crate::app::AppState;
use crate::ingress::reply;
use crate::routing::Target;
use crate::upstream::UpstreamError;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use crossbar_protocol::canonical::Protocol;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

/// What an ingress handler hands the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Generate,
    CountTokens,
}

#[derive(Debug)]
pub struct Inbound {
    pub protocol: Protocol,
    pub endpoint: Endpoint,
    /// The model as the client named it.
    pub model: String,
    /// Where `model`'s value sits in `body` (absent for Gemini, whose model is in the path).
    pub model_span: Option<Range<usize>>,
    pub stream: bool,
    pub body: Bytes,
    pub headers: HeaderMap,
    /// Query string to forward on a same-protocol relay (Anthropic `beta=true`), if any.
    pub forward_query: Option<String>,
    /// OpenAI Chat: `stream_options.include_usage`.
    pub include_usage: bool,
    /// Gemini: the client asked for SSE (`alt=sse`).
    pub sse: bool,
    pub started: Instant,
    /// The client's crossbar key (`None` in no-auth mode).
    pub key: Option<Arc<crate::store::KeyRecord>>,
}

pub async fn handle(state: Arc<AppState>, inbound: Inbound) -> Response {
    let ticket = record::Ticket::open(state.clone(), inbound.key.clone(), &inbound.model, inbound.protocol, inbound.started);
    let response = match admit::admit(&state, &inbound, &ticket).await {
        Ok(()) => ticket.scope(route_and_send(state, inbound, &ticket)).await,
        Err(refused) => refused,
    };
    ticket.finish_unclaimed(response.status().as_u16());
    response
}

async fn route_and_send(state: Arc<AppState>, inbound: Inbound, ticket: &record::Ticket) -> Response {
    let targets = match state.routes.resolve(&inbound.model) {
        Ok(t) => t,
        Err(e) => return reply::error(inbound.protocol, &e),
    };
    // One attempt on the first target; failover across the rest is the routing issue's.
    let Some(target) = targets.into_iter().next() else {
        let e = crossbar_protocol::canonical::ErrorInfo::new(
            crossbar_protocol::canonical::ErrorKind::NotFound,
            format!("model {:?} has no usable target", inbound.model),
        );
        return reply::error(inbound.protocol, &e);
    };
    let upstream = target.provider.kind().upstream_protocol(inbound.protocol);
    ticket.set_route(target.provider.name(), &target.model, upstream);
    match inbound.endpoint {
        Endpoint::CountTokens if upstream != inbound.protocol => count_tokens::estimate(&inbound),
        _ if upstream == inbound.protocol => relay::run(state, inbound, target).await,
        _ => translate::run(state, inbound, target, upstream).await,
    }
}

/// The upstream path for a same-protocol relay.
pub fn upstream_path(p: Protocol, inbound: &Inbound, model: &str) -> String {
    let query = inbound.forward_query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
    match (p, inbound.endpoint) {
        (Protocol::OpenaiChat, _) => "/chat/completions".to_string(),
        (Protocol::OpenaiResponses, _) => "/responses".to_string(),
        (Protocol::Anthropic, Endpoint::Generate) => format!("/v1/messages{query}"),
        (Protocol::Anthropic, Endpoint::CountTokens) => format!("/v1/messages/count_tokens{query}"),
        (Protocol::Gemini, Endpoint::Generate) if inbound.stream => {
            let alt = if inbound.sse { "?alt=sse" } else { "" };
            format!("/v1beta/models/{model}:streamGenerateContent{alt}")
        }
        (Protocol::Gemini, Endpoint::Generate) => format!("/v1beta/models/{model}:generateContent"),
        (Protocol::Gemini, Endpoint::CountTokens) => format!("/v1beta/models/{model}:countTokens"),
    }
}

/// Client headers that may go upstream. Never credentials: the provider's own key is added
/// by `upstream`. Protocol headers (`anthropic-beta`, …) only on a same-protocol relay,
/// where they mean what the client meant.
pub fn forward_headers(p: Protocol, client: &HeaderMap, same_protocol: bool) -> HeaderMap {
    let mut out = HeaderMap::new();
    out.insert("content-type", HeaderValue::from_static("application/json"));
    let allowed: &[&str] = match (p, same_protocol) {
        (Protocol::Anthropic, true) => &["anthropic-version", "anthropic-beta"],
        (Protocol::OpenaiChat | Protocol::OpenaiResponses, true) => &["openai-beta"],
        _ => &[],
    };
    for name in allowed {
        for v in client.get_all(*name) {
            out.append(HeaderName::from_static(name), v.clone());
        }
    }
    if let Some(v) = client.get("x-mock") {
        // The mock upstream's directive header (harmless to real providers, which ignore it).
        out.insert("x-mock", v.clone());
    }
    out
}

/// The upstream could not be reached or did not answer in time: a 502/504 in the client's shape.
pub fn upstream_failure(state: &AppState, inbound: &Inbound, target: &Target, e: &UpstreamError) -> Response {
    state
        .metrics
        .upstream_errors
        .get_or_create(&crate::telemetry::UpstreamErrorLabels { provider: target.provider.name().to_string(), kind: e.label() })
        .inc();
    tracing::warn!(provider = target.provider.name(), error = %e, "upstream request failed");
    reply::error(inbound.protocol, &e.info())
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
