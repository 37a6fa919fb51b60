//! Same protocol in and out: the byte relay.
//!
//! The request body goes upstream as the client sent it, with only the `model` value swapped
//! (Gemini: not even that — its model is in the path). The response goes back frame by frame,
//! as it arrives, unparsed; a per-protocol sniffer reads usage from the frames after they have
//! been forwarded. The only bytes crossbar adds are `: keep-alive` comments between events of
//! an idle SSE stream, and the protocol's own error event if the stream breaks.
//!
//! The one other edit: a streamed Chat request that did not ask for usage gets
//! `stream_options.include_usage: true` (so every token is counted against TPM and budgets),
//! and `openai_chat::usage_strip` removes what that adds from the stream the client receives
//! (the usage-only chunk, `"usage": null` on the others), so the client gets what it asked for.

pub(crate) mod ending;

use crate::app::AppState;
use crate::ingress::reply;
use crate::pipeline::finish::outcome::Outcome;
use crate::pipeline::stream::{self, RelayStream};
use crate::pipeline::{forward_headers, Inbound};
use crate::routing::Target;
use crate::upstream::{UpstreamRequest, UpstreamResponse};
use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind, Protocol};
use crossbar_protocol::openai_chat::usage_strip::UsageStrip;
use crossbar_protocol::Sniffer;
use futures_util::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The upstream request for `target`: the client's body with only the model swapped.
pub fn request(inbound: &Inbound, target: &Target) -> UpstreamRequest {
    let p = inbound.protocol;
    let body = match (&inbound.model_span, p) {
        _ if asks_usage(inbound) => crate::pipeline::body::with_usage_asked(
            &inbound.body,
            inbound.model_span.as_ref(),
            &target.model,
            inbound.stream_options_span.as_ref(),
        ),
        (_, Protocol::Gemini) => inbound.body.clone(),
        (Some(span), _) => crate::pipeline::body::with_model(&inbound.body, span, &target.model),
        (None, _) => inbound.body.clone(),
    };
    UpstreamRequest {
        protocol: p,
        path: crate::pipeline::upstream_path(p, inbound, &target.model),
        headers: forward_headers(p, &inbound.headers, true),
        body,
    }
}

/// A streamed Chat request without `include_usage`: crossbar asks for usage on its behalf.
fn asks_usage(inbound: &Inbound) -> bool {
    inbound.protocol == Protocol::OpenaiChat && inbound.stream && !inbound.include_usage
}

/// The client's response: the upstream's status, headers and body, forwarded as they come.
pub fn respond(state: Arc<AppState>, inbound: &Inbound, target: &Target, resp: UpstreamResponse) -> Response {
    let is_sse = resp
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    let ok = (200..300).contains(&resp.status);
    let outcome = Outcome::new(
        state.clone(),
        inbound.protocol,
        target.provider.name(),
        inbound.started,
        resp.status,
        is_sse && ok,
    );
    let sniffer = Sniffer::new(inbound.protocol, is_sse);
    let mut headers = HeaderMap::new();
    copy_response_headers(&resp.headers, &mut headers);
    let body = if is_sse && ok {
        Body::from_stream(RelayStream::new(
            resp.body,
            sniffer,
            outcome,
            inbound.protocol,
            stream::Timing::from(&state.config.server),
            asks_usage(inbound).then(UsageStrip::default),
        ))
    } else {
        // Forwarded byte for byte, so the upstream's length holds (a body held whole has its
        // own, `attempt::set_length`): the client gets a Content-Length answer, not chunks.
        let length = resp.headers.get(axum::http::header::CONTENT_LENGTH).cloned();
        let expected = length.as_ref().and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if let (Some(v), Some(_)) = (length, expected) {
            headers.insert(axum::http::header::CONTENT_LENGTH, v);
        }
        Body::from_stream(PlainBody { inner: resp.body, sniffer, outcome, done: false, sent: 0, expected })
    };
    reply::with_headers(resp.status, headers, body, target)
}

/// Upstream response headers a client may see: the content type, request ids, rate limits.
fn copy_response_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let n = name.as_str();
        if n == "content-type"
            || n == "retry-after"
            || n == "x-request-id"
            || n == "request-id"
            || n == "openai-processing-ms"
            || n.starts_with("x-ratelimit-")
            || n.starts_with("anthropic-ratelimit-")
            || n.starts_with("x-codex-")
        {
            to.append(name.clone(), value.clone());
        }
    }
}

/// A non-SSE body: forwarded chunk by chunk, sniffed for usage at the end.
struct PlainBody {
    inner: crate::upstream::BodyStream,
    sniffer: Sniffer,
    outcome: Outcome,
    done: bool,
    /// Bytes forwarded.
    sent: u64,
    /// The body's length, when known: hyper stops polling a body once that much is written,
    /// so the body is finished (usage read) as its last byte goes, not at a `None` that never
    /// comes.
    expected: Option<u64>,
}

impl PlainBody {
    fn finish(&mut self) {
        self.done = true;
        self.sniffer.finish();
        self.settle();
    }

    /// The body's last bytes have gone: read usage from them (not copied when they are the
    /// whole body) and settle.
    fn finish_with(&mut self, last: &[u8]) {
        self.done = true;
        self.sniffer.finish_with(last);
        self.settle();
    }

    fn settle(&mut self) {
        let usage = self.sniffer.usage();
        self.outcome.set_usage(usage);
        // A body without usage: about four bytes a token (an estimate, so marked).
        let estimate = self.sent.div_ceil(4);
        self.outcome.set_output_estimate(estimate);
    }
}

impl Stream for PlainBody {
    type Item = Result<bytes::Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.outcome.sent_bytes(&chunk);
                self.sent = self.sent.saturating_add(chunk.len() as u64);
                if self.expected.is_some_and(|n| self.sent >= n) {
                    self.finish_with(&chunk);
                } else {
                    self.sniffer.push(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                self.outcome.failed_midstream(e.label());
                Poll::Ready(Some(Err(std::io::Error::other(e.to_string()))))
            }
            Poll::Ready(None) => {
                self.finish();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error a broken relayed stream ends with.
pub fn midstream_error(e: &crate::upstream::UpstreamError) -> ErrorInfo {
    let mut info = e.info();
    if info.kind == ErrorKind::Internal {
        info.kind = ErrorKind::UpstreamUnavailable;
    }
    info
}
