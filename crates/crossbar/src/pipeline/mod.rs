//! THE request path, read top to bottom in `handle`:
//! (the key was authenticated by `auth::layer`) → admit (model allow-list, budget, rate
//! limits) → route (model name → deployments) → `attempt` (choose a deployment, send, fail
//! over before the commit point) → relay (same protocol) or translate → record (one usage
//! record and the limit settlement, when the body ends).

mod admit;
pub(crate) mod attempt;
pub mod body;
pub mod finish;
pub mod relay;
mod stream;
pub mod translate;

use crate::app::AppState;
use crate::ingress::reply;
use crate::routing::{self, Target};
use crate::upstream::UpstreamError;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use crossbar_protocol::canonical::Protocol;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

/// What an ingress handler hands the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Generate,
    CountTokens,
    /// Codex's legacy unary compaction (`POST …/responses/compact`).
    Compact,
}

#[derive(Debug, Clone)]
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
    /// OpenAI Chat: where `stream_options`' value sits in `body`, if present.
    pub stream_options_span: Option<Range<usize>>,
    /// Gemini: the client asked for SSE (`alt=sse`).
    pub sse: bool,
    /// The body already meets the Codex backend's rules (`codex_backend.rs`): it may be
    /// relayed to a `chatgpt` provider untouched.
    pub codex_ready: bool,
    pub started: Instant,
    /// The client's crossbar key (`None` in no-auth mode).
    pub key: Option<Arc<crate::store::KeyRecord>>,
    /// Where the body's prompt members sit (`body::inspect` noted them), so the conversation
    /// key and the prompt fingerprint need not parse the body again. `None`: parse it.
    pub prompt: Option<crate::usage::cache_prompt::TopSpans>,
    /// The conversation key, read from the body at most once: use `conversation()`.
    pub conversation_memo: std::sync::OnceLock<Option<u64>>,
    /// A turn of a client's Responses socket: its upstream socket, for a provider with
    /// `websocket` on (`upstream/websocket/`). `None` for everything else.
    pub socket: Option<crate::upstream::websocket::Turn>,
}

impl Inbound {
    /// The conversation key (`routing::sticky::session_key`): the cache verdict, stickiness,
    /// the Codex session headers and `prompt_cache_key` all ask, the body is parsed once.
    pub fn conversation(&self) -> Option<u64> {
        *self
            .conversation_memo
            .get_or_init(|| routing::sticky::session_key(&self.headers, &self.body, self.prompt.as_ref()))
    }
}

/// The pipeline's future is several KB (the attempt loop, relay and translation inline), so it
/// lives on the heap: the handler, the middleware and axum's route futures then move a pointer
/// instead of copying it at each layer (those copies were ~15 % of a relayed request's
/// instructions under callgrind, see docs/benchmarks.md).
pub fn handle(state: Arc<AppState>, inbound: Inbound) -> Pin<Box<dyn Future<Output = Response> + Send>> {
    Box::pin(handle_request(state, inbound))
}

async fn handle_request(state: Arc<AppState>, inbound: Inbound) -> Response {
    let ticket = finish::record::Ticket::open(
        state.clone(),
        inbound.key.clone(),
        &inbound.model,
        inbound.protocol,
        inbound.started,
    );
    if inbound.endpoint != Endpoint::CountTokens {
        ticket.set_request(inbound.body.clone(), inbound.prompt.clone());
    }
    if inbound.endpoint == Endpoint::Generate {
        if let Some(k) = inbound.conversation() {
            ticket.set_conversation(k);
            ticket.load_shared_turns().await;
        }
    }
    ticket.set_client(crate::usage::client::classify(&inbound.headers));
    ticket.capture_request(&inbound.body);
    let mut response = match admit::admit(&state, &inbound, &ticket).await {
        Ok(()) if inbound.stream => ticket.scope(Box::pin(route_and_send(state, inbound))).await,
        Ok(()) => {
            // A non-streamed answer is complete when `route_and_send` returns (the attempt
            // loop holds it until its body is whole), so this bounds the whole request.
            let deadline = state.config.server.request_timeout;
            let protocol = inbound.protocol;
            match tokio::time::timeout(deadline, ticket.scope(Box::pin(route_and_send(state, inbound)))).await {
                Ok(r) => r,
                Err(_) => request_timed_out(protocol, deadline),
            }
        }
        Err(refused) => refused,
    };
    ticket.finish_unclaimed(response.status().as_u16());
    if let Ok(v) = HeaderValue::from_str(&ticket.request_id) {
        response.headers_mut().insert("x-crossbar-request-id", v);
    }
    response
}

/// 408 in the client's shape: a non-streamed request outlived `[server] request_timeout_secs`.
fn request_timed_out(p: Protocol, deadline: std::time::Duration) -> Response {
    let message = format!(
        "Request timed out after {} seconds. For long-running requests, we recommend using streaming mode \
         (stream: true) for better reliability.",
        deadline.as_secs()
    );
    let mut info =
        crossbar_protocol::canonical::ErrorInfo::new(crossbar_protocol::canonical::ErrorKind::RequestTimeout, message);
    info.code = Some("timeout".to_string());
    reply::error(p, &info)
}

async fn route_and_send(state: Arc<AppState>, inbound: Inbound) -> Response {
    let route = match state.routes().resolve(&inbound.model) {
        Ok(r) => r,
        Err(e) => return reply::error(inbound.protocol, &e),
    };
    if route.deployments.is_empty() {
        let e = crossbar_protocol::canonical::ErrorInfo::new(
            crossbar_protocol::canonical::ErrorKind::NotFound,
            format!("model {:?} has no usable target", inbound.model),
        );
        return reply::error(inbound.protocol, &e);
    }
    if let Some(r) = codex_only_paths(&state, &inbound, &route).await {
        return r;
    }
    // Choose a deployment, send, fail over before the commit point (see attempt.rs).
    attempt::run(state, inbound, route).await
}

/// Codex requests a non-OpenAI upstream cannot serve as they are: remote compaction (crossbar
/// summarises with the same model) and responses-lite (refused with a clear error). Judged on
/// the route's first deployment; compaction is one attempt, without failover.
async fn codex_only_paths(state: &Arc<AppState>, inbound: &Inbound, route: &routing::Route) -> Option<Response> {
    if inbound.protocol != Protocol::OpenaiResponses {
        return None;
    }
    let target = route.deployments.first()?.target.clone();
    let upstream = target.provider.kind().upstream_protocol(inbound.protocol);
    if upstream == inbound.protocol {
        return None;
    }
    if inbound.endpoint == Endpoint::Compact || translate::compaction::is_triggered(&inbound.body) {
        let inbound = inbound.clone();
        finish::record::set_route(&target.provider, &target.model, upstream);
        return Some(translate::compaction::run(state.clone(), inbound, target, upstream).await);
    }
    if translate::compaction::is_responses_lite(&inbound.headers) {
        let e = crossbar_protocol::canonical::ErrorInfo::new(
            crossbar_protocol::canonical::ErrorKind::InvalidRequest,
            format!(
                "this is a Codex responses-lite request (`additional_tools`, `configuration_update`), which only OpenAI can serve; \
                 model {:?} goes to provider {:?} ({}). Pick a model Codex does not run in lite mode, or an OpenAI provider",
                inbound.model,
                target.provider.name(),
                target.provider.kind().name()
            ),
        );
        return Some(reply::error(inbound.protocol, &e));
    }
    None
}

/// The upstream path for a same-protocol relay.
pub fn upstream_path(p: Protocol, inbound: &Inbound, model: &str) -> String {
    let query = inbound.forward_query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
    match (p, inbound.endpoint) {
        (Protocol::OpenaiChat, _) => "/chat/completions".to_string(),
        (Protocol::OpenaiResponses, Endpoint::Compact) => "/responses/compact".to_string(),
        (Protocol::OpenaiResponses, _) => "/responses".to_string(),
        (Protocol::Anthropic, Endpoint::Generate | Endpoint::Compact) => format!("/v1/messages{query}"),
        (Protocol::Anthropic, Endpoint::CountTokens) => format!("/v1/messages/count_tokens{query}"),
        (Protocol::Gemini, Endpoint::Generate) if inbound.stream => {
            let alt = if inbound.sse { "?alt=sse" } else { "" };
            format!("/v1beta/models/{model}:streamGenerateContent{alt}")
        }
        (Protocol::Gemini, Endpoint::Generate | Endpoint::Compact) => format!("/v1beta/models/{model}:generateContent"),
        (Protocol::Gemini, Endpoint::CountTokens) => format!("/v1beta/models/{model}:countTokens"),
    }
}

/// Client headers that may go upstream. Never credentials: the provider's own key is added
/// by `upstream`. Protocol headers (`anthropic-beta`, …) only on a same-protocol relay,
/// where they mean what the client meant.
pub fn forward_headers(p: Protocol, client: &HeaderMap, same_protocol: bool) -> HeaderMap {
    // Names built once (a `&str` lookup parses the name each time).
    static ANTHROPIC: [HeaderName; 2] =
        [HeaderName::from_static("anthropic-version"), HeaderName::from_static("anthropic-beta")];
    static OPENAI_BETA: HeaderName = HeaderName::from_static("openai-beta");
    static RESPONSES: [HeaderName; 2] =
        [HeaderName::from_static("openai-beta"), HeaderName::from_static("x-openai-internal-codex-responses-lite")];
    static MOCK: HeaderName = HeaderName::from_static("x-mock");
    let mut out = HeaderMap::new();
    out.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let allowed: &[HeaderName] = match (p, same_protocol) {
        (Protocol::Anthropic, true) => &ANTHROPIC,
        (Protocol::OpenaiChat, true) => std::slice::from_ref(&OPENAI_BETA),
        // Codex's responses-lite marker means something only to OpenAI's Responses API.
        (Protocol::OpenaiResponses, true) => &RESPONSES,
        _ => &[],
    };
    for name in allowed {
        for v in client.get_all(name) {
            out.append(name.clone(), v.clone());
        }
    }
    if let Some(v) = client.get(&MOCK) {
        // The mock upstream's directive header (harmless to real providers, which ignore it).
        out.insert(MOCK.clone(), v.clone());
    }
    out
}

/// The upstream could not be reached or did not answer in time: a 502/504 in the client's shape.
pub fn upstream_failure(state: &AppState, inbound: &Inbound, target: &Target, e: &UpstreamError) -> Response {
    state
        .metrics
        .upstream_errors
        .get_or_create(&crate::telemetry::UpstreamErrorLabels {
            provider: target.provider.name().to_string(),
            kind: e.label(),
        })
        .inc();
    tracing::warn!(provider = target.provider.name(), error = %e, "upstream request failed");
    reply::error(inbound.protocol, &e.info())
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
