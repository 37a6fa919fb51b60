//! What the Codex backend (providers of kind `chatgpt`) takes that the public Responses API
//! does not: it only streams (`"stream": true`), only with `"store": false`, and refuses
//! `max_output_tokens`, `temperature` and `top_p` with 400 "Unsupported parameter".
//! Codex CLI's own requests comply and are relayed untouched (`relayable`); any other request
//! for a `chatgpt` provider is translated and `shape`d, and when its client wanted one answer
//! rather than a stream, `translate::respond` collects the stream into one.
//! Must never: drop a parameter silently (each one is a `Loss`, named in `x-crossbar-dropped`).

use super::{Endpoint, Inbound};
use crate::config::ProviderKind;
use crossbar_protocol::canonical::{Loss, Protocol, Request};

/// May this request go to `kind` byte for byte (same protocol)?
pub fn relayable(inbound: &Inbound, kind: ProviderKind) -> bool {
    kind != ProviderKind::Chatgpt || inbound.codex_ready || inbound.endpoint != Endpoint::Generate
}

/// Make a canonical request one the Codex backend takes (for `upstream` = Responses).
pub fn shape(kind: ProviderKind, upstream: Protocol, req: &mut Request, losses: &mut Vec<Loss>) {
    if kind != ProviderKind::Chatgpt || upstream != Protocol::OpenaiResponses {
        return;
    }
    req.stream = true;
    let s = &mut req.sampling;
    let why = "the Codex backend (ChatGPT account) does not accept it";
    if s.max_tokens.take().is_some() {
        losses.push(Loss::new("max_output_tokens", why));
    }
    if s.temperature.take().is_some() {
        losses.push(Loss::new("temperature", why));
    }
    if s.top_p.take().is_some() {
        losses.push(Loss::new("top_p", why));
    }
}
