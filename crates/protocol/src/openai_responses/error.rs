//! OpenAI error bodies, both directions, and the error codes Codex recognises.
//!
//! | `ErrorKind` | `type` we write | default `code` (also `response.failed` code) |
//! |---|---|---|
//! | InvalidRequest, NotFound, PayloadTooLarge | `invalid_request_error` | — (`invalid_prompt` in streams) |
//! | ContextLengthExceeded | `invalid_request_error` | `context_length_exceeded` |
//! | Authentication | `authentication_error` | `invalid_api_key` |
//! | PermissionDenied | `permission_error` | — |
//! | RateLimited | `rate_limit_error` | `rate_limit_exceeded` |
//! | QuotaExceeded | `insufficient_quota` | `insufficient_quota` |
//! | Overloaded | `server_error` | `server_is_overloaded` |
//! | Timeout, UpstreamUnavailable, UpstreamInvalid, Internal | `server_error` | `server_error` |
//! | RequestTimeout (crossbar's non-stream deadline, 408) | `timeout_error` | `timeout` |
//!
//! Codex retries `server_error` (and a cut stream), waits on `rate_limit_exceeded` (reading
//! "try again in Ns" from the message), and fails the turn at once for the others.

use super::wire::{code_string, ErrorBody, ErrorBodyOut, ErrorEnvelope, ErrorEnvelopeOut};
use crate::canonical::{ErrorInfo, ErrorKind};
use serde_json::Value;

/// `response.failed` codes Codex classifies; an upstream code in this list is kept as is.
const CODEX_CODES: &[&str] = &[
    "context_length_exceeded",
    "rate_limit_exceeded",
    "server_is_overloaded",
    "slow_down",
    "insufficient_quota",
    "usage_not_included",
    "invalid_prompt",
    "cyber_policy",
    "server_error",
];

pub fn encode_error(err: &ErrorInfo) -> Vec<u8> {
    let kind = error_type(err.kind);
    let code = err.code.as_deref().or_else(|| default_code(err.kind));
    let body =
        ErrorEnvelopeOut { error: ErrorBodyOut { message: &err.message, kind, param: err.param.as_deref(), code } };
    serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"error\":{\"message\":\"internal error\"}}".to_vec())
}

fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest
        | ErrorKind::NotFound
        | ErrorKind::PayloadTooLarge
        | ErrorKind::ContextLengthExceeded => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::QuotaExceeded => "insufficient_quota",
        ErrorKind::RequestTimeout => "timeout_error",
        ErrorKind::Overloaded
        | ErrorKind::Timeout
        | ErrorKind::UpstreamUnavailable
        | ErrorKind::UpstreamInvalid
        | ErrorKind::Internal => "server_error",
    }
}

fn default_code(kind: ErrorKind) -> Option<&'static str> {
    match kind {
        ErrorKind::ContextLengthExceeded => Some("context_length_exceeded"),
        ErrorKind::Authentication => Some("invalid_api_key"),
        ErrorKind::RateLimited => Some("rate_limit_exceeded"),
        ErrorKind::QuotaExceeded => Some("insufficient_quota"),
        ErrorKind::Overloaded => Some("server_is_overloaded"),
        ErrorKind::Timeout | ErrorKind::UpstreamUnavailable | ErrorKind::UpstreamInvalid | ErrorKind::Internal => {
            Some("server_error")
        }
        ErrorKind::RequestTimeout => Some("timeout"),
        ErrorKind::InvalidRequest | ErrorKind::NotFound | ErrorKind::PayloadTooLarge | ErrorKind::PermissionDenied => {
            None
        }
    }
}

/// The `response.failed` `error.code` for a mid-stream error (see the module table).
pub fn stream_error_code(err: &ErrorInfo) -> &'static str {
    if let Some(code) = err.code.as_deref().and_then(|c| CODEX_CODES.iter().find(|k| **k == c)) {
        return code;
    }
    match err.kind {
        ErrorKind::ContextLengthExceeded => "context_length_exceeded",
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::Overloaded => "server_is_overloaded",
        ErrorKind::QuotaExceeded => "insufficient_quota",
        ErrorKind::InvalidRequest
        | ErrorKind::Authentication
        | ErrorKind::PermissionDenied
        | ErrorKind::NotFound
        | ErrorKind::PayloadTooLarge => "invalid_prompt",
        ErrorKind::Timeout
        | ErrorKind::RequestTimeout
        | ErrorKind::UpstreamUnavailable
        | ErrorKind::UpstreamInvalid
        | ErrorKind::Internal => "server_error",
    }
}

/// Classify an upstream error from its `code` / `type` / message; `None` when they say nothing.
pub fn kind_from_fields(code: Option<&str>, kind: Option<&str>, message: &str) -> Option<ErrorKind> {
    let has = |s: &str| code == Some(s) || kind == Some(s);
    if has("context_length_exceeded") {
        return Some(ErrorKind::ContextLengthExceeded);
    }
    if has("insufficient_quota")
        || has("usage_limit_reached")
        || has("usage_not_included")
        || has("billing_hard_limit_reached")
    {
        return Some(ErrorKind::QuotaExceeded);
    }
    if has("rate_limit_exceeded") || has("rate_limit_error") || has("requests") || has("tokens") {
        return Some(ErrorKind::RateLimited);
    }
    if has("server_is_overloaded") || has("slow_down") || has("overloaded_error") {
        return Some(ErrorKind::Overloaded);
    }
    if has("invalid_api_key") || has("authentication_error") {
        return Some(ErrorKind::Authentication);
    }
    if has("permission_error") || has("insufficient_permissions") {
        return Some(ErrorKind::PermissionDenied);
    }
    if has("model_not_found") {
        return Some(ErrorKind::NotFound);
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("maximum context length") || lower.contains("exceeds the context window") {
        return Some(ErrorKind::ContextLengthExceeded);
    }
    if has("invalid_prompt") || has("cyber_policy") || has("invalid_request_error") {
        return Some(ErrorKind::InvalidRequest);
    }
    if has("server_error") {
        return Some(ErrorKind::Internal);
    }
    None
}

/// An `{message, type, param, code}` body (mid-stream or HTTP) → `ErrorInfo` with `status`.
pub fn info_from_body(body: &ErrorBody, status: Option<u16>) -> ErrorInfo {
    let code = code_string(&body.code);
    let message = body.message.clone().unwrap_or_default();
    let kind = kind_from_fields(code.as_deref(), body.kind.as_deref(), &message)
        .or_else(|| status.map(ErrorKind::from_status))
        .unwrap_or(ErrorKind::Internal);
    let mut info = ErrorInfo::new(kind, message);
    info.code = code.or_else(|| body.kind.clone());
    info.param = match &body.param {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    if let Some(s) = status {
        info.status = s;
    }
    info
}

pub fn decode_error(status: u16, body: &[u8]) -> ErrorInfo {
    let text = || String::from_utf8_lossy(body).trim().to_string();
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(ErrorEnvelope { error: Some(e), .. }) => {
            let mut info = info_from_body(&e, Some(status));
            if info.message.is_empty() {
                info.message = text();
            }
            info
        }
        Ok(ErrorEnvelope { detail: Some(detail), .. }) => {
            let message = match detail {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let kind = kind_from_fields(None, None, &message).unwrap_or_else(|| ErrorKind::from_status(status));
            let mut info = ErrorInfo::new(kind, message);
            info.status = status;
            info
        }
        _ => {
            let message = text();
            let kind = kind_from_fields(None, None, &message).unwrap_or_else(|| ErrorKind::from_status(status));
            let mut info =
                ErrorInfo::new(kind, if message.is_empty() { format!("upstream status {status}") } else { message });
            info.status = status;
            info
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_errors_are_classified() {
        let cases: &[(u16, &str, ErrorKind, Option<&str>)] = &[
            (
                429,
                r#"{"error":{"message":"Rate limit reached for gpt-5 on tokens per min. Please try again in 1.2s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
                ErrorKind::RateLimited,
                Some("rate_limit_exceeded"),
            ),
            (
                429,
                r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
                ErrorKind::QuotaExceeded,
                Some("insufficient_quota"),
            ),
            (
                400,
                r#"{"error":{"message":"Your input exceeds the context window of this model.","type":"invalid_request_error","param":"input","code":"context_length_exceeded"}}"#,
                ErrorKind::ContextLengthExceeded,
                Some("context_length_exceeded"),
            ),
            (
                401,
                r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
                ErrorKind::Authentication,
                Some("invalid_api_key"),
            ),
            (
                503,
                r#"{"error":{"message":"The server is overloaded","type":"server_error","param":null,"code":"server_is_overloaded"}}"#,
                ErrorKind::Overloaded,
                Some("server_is_overloaded"),
            ),
            (
                400,
                r#"{"error":{"message":"Invalid type for 'input'","type":"invalid_request_error","param":"input","code":null}}"#,
                ErrorKind::InvalidRequest,
                Some("invalid_request_error"),
            ),
            (
                429,
                r#"{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_at":1760000000}}"#,
                ErrorKind::QuotaExceeded,
                Some("usage_limit_reached"),
            ),
            (400, r#"{"detail":"Unsupported parameter: prompt_cache_retention"}"#, ErrorKind::InvalidRequest, None),
            (502, "<html>bad gateway</html>", ErrorKind::UpstreamUnavailable, None),
            (500, "", ErrorKind::Internal, None),
        ];
        for (status, body, kind, code) in cases {
            let info = decode_error(*status, body.as_bytes());
            assert_eq!(info.kind, *kind, "{body}");
            assert_eq!(info.code.as_deref(), *code, "{body}");
            assert_eq!(info.status, *status);
            assert!(!info.message.is_empty());
        }
        assert_eq!(decode_error(400, br#"{"error":{"message":"m","param":"input"}}"#).param.as_deref(), Some("input"));
    }

    #[test]
    fn error_bodies_have_the_openai_shape() {
        let mut e = ErrorInfo::new(ErrorKind::RateLimited, "slow down");
        e.param = Some("model".into());
        let v: Value = serde_json::from_slice(&encode_error(&e)).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": "model", "code": "rate_limit_exceeded"}})
        );
        let v: Value = serde_json::from_slice(&encode_error(&ErrorInfo::new(ErrorKind::InvalidRequest, "bad")))
            .unwrap_or_default();
        assert_eq!(v["error"]["code"], Value::Null);
        assert_eq!(v["error"]["param"], Value::Null);
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn stream_codes_are_ones_codex_knows() {
        let mut e = ErrorInfo::new(ErrorKind::Timeout, "t");
        assert_eq!(stream_error_code(&e), "server_error");
        e.code = Some("cyber_policy".into());
        assert_eq!(stream_error_code(&e), "cyber_policy");
        e.code = Some("overloaded_error".into());
        assert_eq!(stream_error_code(&e), "server_error");
        assert_eq!(stream_error_code(&ErrorInfo::new(ErrorKind::Overloaded, "o")), "server_is_overloaded");
        assert_eq!(
            stream_error_code(&ErrorInfo::new(ErrorKind::ContextLengthExceeded, "c")),
            "context_length_exceeded"
        );
    }
}
