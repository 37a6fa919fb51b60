//! Anthropic's cache diagnostics on an attempt (`usage::cache_diagnostics`): ask for them when
//! the provider says `cache_diagnostics = true`, and read the answer off the response body as it
//! goes by, whoever asked (crossbar, or a client on a relay).

use crate::pipeline::finish::record::{self, Ticket};
use crate::pipeline::{Endpoint, Inbound};
use crate::routing::Target;
use crate::upstream::{BodyStream, UpstreamError, UpstreamRequest};
use crate::usage::cache_diagnostics::{self, Scan};
use bytes::Bytes;
use crossbar_protocol::canonical::Protocol;
use futures_util::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Ask for diagnostics when the provider opts in; whether the response will carry them.
pub fn prepare(inbound: &Inbound, target: &Target, upstream: Protocol, request: &mut UpstreamRequest) -> bool {
    if upstream != Protocol::Anthropic || inbound.endpoint != Endpoint::Generate {
        return false;
    }
    if target.provider.config.cache_diagnostics {
        let previous = record::current().and_then(|t| t.previous_message_id());
        if let Some(body) = cache_diagnostics::prepare(&mut request.headers, &request.body, previous.as_deref()) {
            request.body = body;
        }
        return true;
    }
    // A client asking by itself (its request is relayed as sent).
    inbound.protocol == Protocol::Anthropic && cache_diagnostics::has_diagnostics(&inbound.body)
}

/// The body, read for the response's id and the provider's reason on the way.
pub fn tap(body: BodyStream) -> BodyStream {
    match record::current() {
        Some(ticket) => Box::pin(Tapped { inner: body, scan: Scan::default(), ticket: Some(ticket) }),
        None => body,
    }
}

struct Tapped {
    inner: BodyStream,
    scan: Scan,
    /// Until it has been told (once, at the end of the body).
    ticket: Option<Arc<Ticket>>,
}

impl Tapped {
    fn tell(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.scan.finish();
            t.set_diagnosis(self.scan.message_id.take(), self.scan.reason.take());
        }
    }
}

impl Stream for Tapped {
    type Item = Result<Bytes, UpstreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.inner.as_mut().poll_next(cx);
        match &item {
            Poll::Ready(Some(Ok(chunk))) => {
                self.scan.push(chunk);
                if self.scan.message_id.is_some() && self.scan.reason.is_some() {
                    self.tell();
                }
            }
            Poll::Ready(_) => self.tell(),
            Poll::Pending => {}
        }
        item
    }
}

impl Drop for Tapped {
    fn drop(&mut self) {
        self.tell();
    }
}
