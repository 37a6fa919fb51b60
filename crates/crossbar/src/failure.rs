//! The one classification of upstream failures. Every consumer — the attempt loop (retry,
//! park, fall back, leave a deployment out), deployment health (cooldown), active health
//! checks and the metrics — reads its verdict from here; nothing else keeps a status or
//! message list of its own.
//!
//! What the upstream said is first decoded by its protocol's `error.rs` into an `ErrorKind`
//! (which knows each provider's spellings: "prompt is too long", "exceed context limit",
//! `context_length_exceeded`, RESOURCE_EXHAUSTED …); the kind then maps to the client's own
//! status and error type through the client protocol's `error.rs`. This table adds, per
//! failure, whose fault it is and what the gateway does about it:
//!
//! | failure                                   | side     | action    | cools |
//! |-------------------------------------------|----------|-----------|-------|
//! | connect error, I/O error, cut or idle stream, first-byte timeout | upstream | retry | yes |
//! | the provider key cannot be had (command, file, account refresh)  | gateway  | retry (elsewhere) | yes |
//! | 408, 500, 502, 503, 504, 529              | upstream | retry     | yes   |
//! | other 5xx                                 | upstream | final     | yes   |
//! | 429 (rate limit, usage limit, quota)      | upstream | park      | no    |
//! | 400/404 "model not served" (a plan without it, a 404 naming the model) | upstream | unserved | no |
//! | context-window overflow (any status, as decoded) | client | fallback | no |
//! | content filter / policy refusal           | client   | fallback  | no    |
//! | 401, 403 (the provider refused our key)   | gateway  | final     | yes   |
//! | other 4xx                                 | client   | final     | no    |
//!
//! `retry`: another deployment first, the same one after a backoff (see `pipeline/attempt.rs`);
//! `park`: the deployment rests until the reset its headers announce and the next one is tried
//! at once; `unserved`: that deployment is left out for this model for a while and the others
//! are tried outside the retry budget; `fallback`: the client's answer unless a `fallbacks`
//! model takes it; `final`: the client's answer.

use crate::upstream::UpstreamError;
use crossbar_protocol::canonical::{ErrorKind, Protocol};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Upstream,
    Gateway,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Retry,
    Park,
    Unserved,
    Fallback,
    Final,
}

/// The verdict on one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    pub kind: ErrorKind,
    pub side: Side,
    pub action: Action,
    /// Counts toward the deployment's cooldown.
    pub cools: bool,
    /// Low-cardinality name for metrics and logs.
    pub label: &'static str,
}

/// A failure before any answer: the upstream could not be reached or did not answer.
pub fn transport(e: &UpstreamError) -> Class {
    let side = if matches!(e, UpstreamError::Key(_)) { Side::Gateway } else { Side::Upstream };
    Class { kind: e.info().kind, side, action: Action::Retry, cools: true, label: e.label() }
}

/// A non-2xx answer from an upstream speaking `upstream`.
pub fn http(upstream: Protocol, status: u16, body: &[u8]) -> Class {
    let kind = crossbar_protocol::decode_error(upstream, status, body).kind;
    let text = lowercase_head(body);
    let class = |side, action, cools, label| Class { kind, side, action, cools, label };
    if model_unserved(status, &text) {
        return class(Side::Upstream, Action::Unserved, false, "model_unserved");
    }
    if status == 429 {
        return class(Side::Upstream, Action::Park, false, "http_429");
    }
    if kind == ErrorKind::ContextLengthExceeded {
        return class(Side::Client, Action::Fallback, false, "context_length");
    }
    if (400..500).contains(&status) && content_filtered(&text) {
        return class(Side::Client, Action::Fallback, false, "content_filter");
    }
    match status {
        408 | 500 | 502 | 503 | 504 | 529 => class(Side::Upstream, Action::Retry, true, "http_5xx"),
        500..=599 => class(Side::Upstream, Action::Final, true, "http_5xx"),
        401 | 403 => class(Side::Gateway, Action::Final, true, "http_auth"),
        _ => class(Side::Client, Action::Final, false, "http_4xx"),
    }
}

/// The first 16 KiB of a body, lowercased, for the few message checks no protocol decodes.
fn lowercase_head(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(16 * 1024)]).to_ascii_lowercase()
}

/// The upstream does not serve the model: a ChatGPT plan without it (Codex backend 400 "not
/// supported when using Codex with a ChatGPT account"), or a 404 naming the model.
fn model_unserved(status: u16, text: &str) -> bool {
    matches!(status, 400 | 404)
        && (text.contains("model_not_found")
            || text.contains("not supported when using codex")
            || (status == 404 && text.contains("model"))
            || (text.contains("model") && text.contains("does not exist")))
}

fn content_filtered(text: &str) -> bool {
    ["content_filter", "content_policy", "content management policy", "responsibleaipolicyviolation"]
        .iter()
        .any(|needle| text.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use Protocol::*;

    /// Every row of the module table, in each protocol's own words where they differ.
    #[test]
    fn the_table() {
        let rows: &[(Protocol, u16, &str, Side, Action, bool, ErrorKind)] = &[
            (
                OpenaiChat,
                500,
                r#"{"error":{"message":"boom","type":"server_error"}}"#,
                Side::Upstream,
                Retry,
                true,
                ErrorKind::Internal,
            ),
            (
                Anthropic,
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                Side::Upstream,
                Retry,
                true,
                ErrorKind::Overloaded,
            ),
            (
                Gemini,
                503,
                r#"{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}"#,
                Side::Upstream,
                Retry,
                true,
                ErrorKind::Overloaded,
            ),
            (OpenaiResponses, 408, "", Side::Upstream, Retry, true, ErrorKind::Timeout),
            (OpenaiChat, 501, "not implemented", Side::Upstream, Final, true, ErrorKind::Internal),
            (
                OpenaiChat,
                429,
                r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
                Side::Upstream,
                Park,
                false,
                ErrorKind::RateLimited,
            ),
            (
                OpenaiResponses,
                429,
                r#"{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached"}}"#,
                Side::Upstream,
                Park,
                false,
                ErrorKind::QuotaExceeded,
            ),
            (
                OpenaiResponses,
                400,
                r#"{"detail":"The 'gpt-9' model is not supported when using Codex with a ChatGPT account."}"#,
                Side::Upstream,
                Unserved,
                false,
                ErrorKind::InvalidRequest,
            ),
            (
                OpenaiChat,
                404,
                r#"{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}"#,
                Side::Upstream,
                Unserved,
                false,
                ErrorKind::NotFound,
            ),
            (
                OpenaiChat,
                400,
                r#"{"error":{"message":"maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#,
                Side::Client,
                Fallback,
                false,
                ErrorKind::ContextLengthExceeded,
            ),
            // Anthropic's own words, which the old substring list missed.
            (
                Anthropic,
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000"}}"#,
                Side::Client,
                Fallback,
                false,
                ErrorKind::ContextLengthExceeded,
            ),
            (
                Anthropic,
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
                Side::Client,
                Fallback,
                false,
                ErrorKind::ContextLengthExceeded,
            ),
            (
                OpenaiChat,
                400,
                r#"{"error":{"message":"filtered","code":"content_filter"}}"#,
                Side::Client,
                Fallback,
                false,
                ErrorKind::InvalidRequest,
            ),
            (
                OpenaiChat,
                401,
                r#"{"error":{"message":"bad key","code":"invalid_api_key"}}"#,
                Side::Gateway,
                Final,
                true,
                ErrorKind::Authentication,
            ),
            (
                Anthropic,
                403,
                r#"{"type":"error","error":{"type":"permission_error","message":"no"}}"#,
                Side::Gateway,
                Final,
                true,
                ErrorKind::PermissionDenied,
            ),
            (
                OpenaiChat,
                400,
                r#"{"error":{"message":"bad temperature","type":"invalid_request_error"}}"#,
                Side::Client,
                Final,
                false,
                ErrorKind::InvalidRequest,
            ),
            (
                Gemini,
                400,
                r#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#,
                Side::Client,
                Final,
                false,
                ErrorKind::InvalidRequest,
            ),
        ];
        for (p, status, body, side, action, cools, kind) in rows {
            let c = http(*p, *status, body.as_bytes());
            assert_eq!((c.side, c.action, c.cools, c.kind), (*side, *action, *cools, *kind), "{p:?} {status} {body}");
        }
    }

    #[test]
    fn transport_failures_retry_and_cool() {
        for e in [
            UpstreamError::Connect("refused".into()),
            UpstreamError::Io("reset".into()),
            UpstreamError::Idle(std::time::Duration::from_secs(1)),
            UpstreamError::Timeout(std::time::Duration::from_secs(1)),
            UpstreamError::Truncated,
        ] {
            let c = transport(&e);
            assert_eq!((c.side, c.action, c.cools), (Side::Upstream, Retry, true), "{e}");
        }
        assert_eq!(transport(&UpstreamError::Key("no".into())).side, Side::Gateway);
    }
}
