//! Different protocols in and out: decode → canonical → encode.
//!
//! Request: the client's body is decoded into the canonical request, the upstream model is
//! set, and the upstream protocol's encoder writes the upstream body and path. Response: a
//! non-streamed body is decoded and re-encoded whole; a stream runs through
//! `stream::TranslateStream` (SSE decoder → upstream `stream_in` → client `stream_out`), one
//! upstream frame at a time. Upstream HTTP errors are re-shaped into the client's error format
//! with the upstream's status kept.
//!
//! A `chatgpt` upstream only streams (`codex_backend.rs`): for a client that asked for one
//! answer, the stream is read whole and collected (`canonical::Collector`) before encoding.
//!
//! An OpenAI upstream (Responses or Chat) gets a `prompt_cache_key` when the client sent none:
//! the conversation key stickiness uses, so every turn of a conversation shares one cache.
//!
//! Whatever a translation dropped is named in the `x-crossbar-dropped` response header.

pub(crate) mod codex_backend;
pub(crate) mod compaction;
pub(crate) mod count_tokens;
pub mod media;

use crate::app::AppState;
use crate::ingress::reply;
use crate::pipeline::finish::outcome::Outcome;
use crate::pipeline::stream::{self, TranslateStream};
use crate::pipeline::{forward_headers, Inbound};
use crate::routing::Target;
use crate::upstream::{UpstreamRequest, UpstreamResponse};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use crossbar_protocol::canonical::{Cx, Loss, Protocol, ToolIndex};
use crossbar_protocol::{StreamDecoder, StreamEncoder};
use futures_util::StreamExt;
use std::sync::Arc;

/// Largest upstream body (non-streamed reply or error) read whole for translation.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// A request translated for one target, and what its response needs to be translated back.
pub struct Prepared {
    upstream: Protocol,
    cx: Cx,
    losses: Vec<Loss>,
    /// The upstream streams but the client wants one answer: collect the stream.
    collect: bool,
}

/// Decode the client's request and encode it for `target` in `upstream`'s protocol. An `Err`
/// is the client's error response (the request itself is at fault: no other target helps).
pub async fn prepare(
    state: &AppState,
    inbound: &Inbound,
    target: &Target,
    upstream: Protocol,
) -> Result<(UpstreamRequest, Prepared), Box<Response>> {
    let client = inbound.protocol;
    let mut cx = Cx::new(state.codec.clone());
    cx.include_usage = inbound.include_usage;
    cx.sse = inbound.sse;
    cx.created = crate::pipeline::unix_now();
    cx.id = uuid::Uuid::new_v4().simple().to_string();

    let mut req = crossbar_protocol::decode_request(client, &inbound.body, &cx)
        .map_err(|e| Box::new(reply::error(client, &e.to_info())))?;
    req.model = target.model.clone();
    req.stream = inbound.stream;
    let kind = target.provider.kind();
    if matches!(upstream, Protocol::OpenaiResponses | Protocol::OpenaiChat) && req.metadata.prompt_cache_key.is_none() {
        // OpenAI routes a prompt to a cache by this key: one per conversation, the same every turn.
        req.metadata.prompt_cache_key = inbound.conversation().map(codex_backend::conversation_id);
    }
    let mut losses = Vec::new();
    codex_backend::shape(kind, upstream, &mut req, &mut losses);
    if req.sampling.max_tokens.is_none() && kind != crate::config::ProviderKind::Chatgpt {
        // Providers that require a limit (Anthropic) get the model's own output limit.
        if let Some(max) = state.catalog.lookup(&target.model).and_then(|i| i.max_output_tokens) {
            req.sampling.max_tokens = u32::try_from(max).ok();
        }
    }
    if upstream == Protocol::Gemini {
        // Gemini cannot read remote URLs: fetch and inline them (bounded, never internal).
        let policy = media::MediaPolicy { allow_private: state.config.server.allow_private_media_fetch };
        if let Err(e) = media::inline_remote_media(&mut req, policy).await {
            return Err(Box::new(reply::error(client, &e)));
        }
    }
    cx.tools = Arc::new(ToolIndex::new(&req.tools));
    let encoded = crossbar_protocol::encode_request(upstream, &req, &cx)
        .map_err(|e| Box::new(reply::error(client, &e.to_info())))?;
    losses.extend(req.losses.iter().cloned());
    losses.extend(encoded.losses.iter().cloned());
    let collect = req.stream && !inbound.stream;

    let request = UpstreamRequest {
        protocol: upstream,
        path: encoded.path,
        headers: forward_headers(upstream, &inbound.headers, false),
        body: Bytes::from(encoded.body),
    };
    Ok((request, Prepared { upstream, cx, losses, collect }))
}

/// One translated attempt on one target, without failover (used by compaction, which makes
/// its own summary request).
pub async fn run(state: Arc<AppState>, inbound: Inbound, target: Target, upstream: Protocol) -> Response {
    let (request, prepared) = match prepare(&state, &inbound, &target, upstream).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match target.provider.send(request).await {
        Ok(resp) => respond(state, &inbound, &target, prepared, resp).await,
        Err(e) => crate::pipeline::upstream_failure(&state, &inbound, &target, &e),
    }
}

/// The client's response, translated from the upstream's.
pub async fn respond(
    state: Arc<AppState>,
    inbound: &Inbound,
    target: &Target,
    prepared: Prepared,
    resp: UpstreamResponse,
) -> Response {
    let client = inbound.protocol;
    let Prepared { upstream, cx, losses, collect } = prepared;
    if !(200..300).contains(&resp.status) {
        let _outcome = Outcome::new(state.clone(), client, target.provider.name(), inbound.started, resp.status, false);
        let body = read_all(resp.body).await;
        let mut info = crossbar_protocol::decode_error(upstream, resp.status, &body);
        info.status = resp.status;
        let mut r = reply::error(client, &info);
        copy_retry_after(&resp.headers, r.headers_mut());
        return r;
    }

    if inbound.stream {
        let outcome = Outcome::new(state.clone(), client, target.provider.name(), inbound.started, 200, true);
        let decoder = StreamDecoder::new(upstream, &cx);
        let encoder = StreamEncoder::new(client, &cx);
        let sse_out = client != Protocol::Gemini || inbound.sse;
        let body = TranslateStream::new(
            resp.body,
            decoder,
            encoder,
            outcome,
            stream::Timing::from(&state.config.server),
            sse_out,
        );
        let content_type = if sse_out { "text/event-stream" } else { "application/json" };
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        headers.insert("cache-control", HeaderValue::from_static("no-cache"));
        set_dropped(&mut headers, &losses);
        return reply::with_headers(200, headers, Body::from_stream(body), target);
    }

    let mut outcome = Outcome::new(state.clone(), client, target.provider.name(), inbound.started, 200, false);
    let body = read_all(resp.body).await;
    let decoded = if collect {
        match collect_stream(upstream, &cx, &body) {
            Ok(r) => r,
            Err(info) => return reply::error(client, &info),
        }
    } else {
        match crossbar_protocol::decode_response(upstream, &body, &cx) {
            Ok(r) => r,
            Err(e) => return reply::error(client, &e.to_info()),
        }
    };
    outcome.usage = decoded.usage;
    match crossbar_protocol::encode_response(client, &decoded, &cx) {
        Ok(json) => {
            outcome.sent_bytes(&json);
            outcome.set_output_estimate((json.len() as u64).div_ceil(4));
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            set_dropped(&mut headers, &losses);
            reply::with_headers(200, headers, Body::from(json), target)
        }
        Err(e) => reply::error(client, &e.to_info()),
    }
}

/// A whole streamed answer (SSE) as one response, or the error the stream ended with.
fn collect_stream(
    upstream: Protocol,
    cx: &Cx,
    body: &[u8],
) -> Result<crossbar_protocol::canonical::Response, crossbar_protocol::canonical::ErrorInfo> {
    let mut sse = crossbar_protocol::sse::Decoder::default();
    let mut frames = Vec::new();
    sse.push(body, &mut frames);
    sse.finish(&mut frames);
    let mut decoder = StreamDecoder::new(upstream, cx);
    let mut events = Vec::new();
    for f in &frames {
        decoder.push(f, &mut events);
    }
    decoder.finish(&mut events);
    let mut collector = crossbar_protocol::canonical::Collector::default();
    for ev in events {
        collector.push(ev);
    }
    collector.finish()
}

async fn read_all(mut body: crate::upstream::BodyStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        if out.len() + chunk.len() > MAX_UPSTREAM_BODY {
            break;
        }
        out.extend_from_slice(&chunk);
    }
    out
}

fn copy_retry_after(from: &HeaderMap, to: &mut HeaderMap) {
    if let Some(v) = from.get("retry-after") {
        to.insert("retry-after", v.clone());
    }
}

/// `x-crossbar-dropped: field1, field2` — what the translation could not carry.
fn set_dropped(headers: &mut HeaderMap, losses: &[Loss]) {
    if losses.is_empty() {
        return;
    }
    let mut fields: Vec<&str> = losses.iter().map(|l| l.field.as_str()).collect();
    fields.sort_unstable();
    fields.dedup();
    crate::pipeline::finish::record::set_dropped(&fields.join(", "));
    if let Ok(v) = HeaderValue::from_str(&fields.join(", ")) {
        headers.insert("x-crossbar-dropped", v);
    }
}
