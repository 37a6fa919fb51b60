//! What the Codex backend (providers of kind `chatgpt`) takes that the public Responses API
//! does not: it only streams (`"stream": true`), only with `"store": false`, and refuses
//! `max_output_tokens`, `temperature` and `top_p` with 400 "Unsupported parameter".
//! Codex CLI's own requests comply and are relayed untouched (`relayable`); any other request
//! for a `chatgpt` provider is translated and `shape`d, and when its client wanted one answer
//! rather than a stream, `translate::respond` collects the stream into one.
//! Must never: drop a parameter silently (each one is a `Loss`, named in `x-crossbar-dropped`).

use crate::config::ProviderKind;
use crate::pipeline::{Endpoint, Inbound};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use crossbar_protocol::canonical::{Loss, Protocol, Request};

/// Codex's own request headers the backend uses (session routing and prompt caching, turn
/// state, sub-agents), passed through when the client sent them.
const CODEX_HEADERS: [&str; 13] = [
    "originator",
    "session-id",
    "session_id",
    "conversation_id",
    "thread-id",
    "x-client-request-id",
    "x-codex-window-id",
    "x-codex-turn-metadata",
    "x-codex-beta-features",
    "x-codex-turn-state",
    "x-openai-subagent",
    "x-codex-parent-thread-id",
    "x-codex-installation-id",
];

/// Headers for a request to a `chatgpt` provider: Codex's own when the client is Codex; for
/// any other client, `originator` and a `session-id` derived from the conversation key, so the
/// backend keeps one conversation on one prompt cache. Generation asks for SSE (the backend
/// only streams it); other endpoints (`/responses/compact`) keep the client's `accept`.
pub fn add_headers(
    kind: ProviderKind,
    endpoint: Endpoint,
    client: &HeaderMap,
    conversation: Option<u64>,
    out: &mut HeaderMap,
) {
    if kind != ProviderKind::Chatgpt {
        return;
    }
    for name in CODEX_HEADERS {
        for v in client.get_all(name) {
            out.append(HeaderName::from_static(name), v.clone());
        }
    }
    if !out.contains_key("originator") {
        out.insert("originator", HeaderValue::from_static("codex_cli_rs"));
    }
    let has_session = ["session-id", "session_id", "conversation_id"].iter().any(|h| out.contains_key(*h));
    if let (false, Some(k)) = (has_session, conversation) {
        if let Ok(v) = HeaderValue::from_str(&conversation_id(k)) {
            out.insert("session-id", v);
        }
    }
    if endpoint == Endpoint::Generate {
        out.insert("accept", HeaderValue::from_static("text/event-stream"));
    } else if let Some(accept) = client.get("accept") {
        out.insert("accept", accept.clone());
    }
}

/// The id crossbar gives a conversation upstream (`session-id`, `prompt_cache_key`): the same
/// for every turn, since the key is (`routing::sticky::session_key`).
pub fn conversation_id(key: u64) -> String {
    format!("crossbar-{key:016x}")
}

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
    if req.metadata.cache_retention.take().is_some() {
        losses.push(Loss::new("prompt_cache_retention", why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_headers_pass_others_get_derived_ones_and_only_generation_asks_for_sse() {
        let mut codex = HeaderMap::new();
        codex.insert("session-id", HeaderValue::from_static("thread-1"));
        codex.insert("originator", HeaderValue::from_static("codex_exec"));
        codex.insert("accept", HeaderValue::from_static("application/json"));
        let mut out = HeaderMap::new();
        add_headers(ProviderKind::Chatgpt, Endpoint::Compact, &codex, Some(7), &mut out);
        assert_eq!(
            (out["session-id"].to_str().ok(), out["originator"].to_str().ok()),
            (Some("thread-1"), Some("codex_exec"))
        );
        assert_eq!(out["accept"], "application/json", "compaction keeps the client's accept");

        let mut out = HeaderMap::new();
        add_headers(ProviderKind::Chatgpt, Endpoint::Generate, &HeaderMap::new(), Some(7), &mut out);
        assert_eq!(
            (out["originator"].to_str().ok(), out["accept"].to_str().ok()),
            (Some("codex_cli_rs"), Some("text/event-stream"))
        );
        assert_eq!(out["session-id"], "crossbar-0000000000000007");

        let mut out = HeaderMap::new();
        add_headers(ProviderKind::Anthropic, Endpoint::Generate, &codex, Some(7), &mut out);
        assert!(out.is_empty(), "only chatgpt providers");
    }

    #[test]
    fn the_backend_refuses_cache_retention_so_it_is_dropped_with_a_loss() {
        let mut req = Request::default();
        req.metadata.cache_retention = Some("24h".into());
        req.metadata.prompt_cache_key = Some("k".into());
        let mut losses = Vec::new();
        shape(ProviderKind::Chatgpt, Protocol::OpenaiResponses, &mut req, &mut losses);
        assert_eq!((req.metadata.cache_retention, req.metadata.prompt_cache_key.as_deref()), (None, Some("k")));
        assert_eq!(losses.iter().map(|l| l.field.as_str()).collect::<Vec<_>>(), ["prompt_cache_retention"]);
    }
}
