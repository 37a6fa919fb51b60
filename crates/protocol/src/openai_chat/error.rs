//! OpenAI error bodies, both directions: `{"error": {"message", "type", "param", "code"}}`.
//!
//! Encoding follows what api.openai.com sends: `type` is `invalid_request_error` for most
//! client mistakes (401 `invalid_api_key` included), `insufficient_quota` for exhausted
//! credit, `rate_limit_error`, `server_error`, `service_unavailable_error`; `code` carries the
//! machine code (`context_length_exceeded`, `rate_limit_exceeded`, `model_not_found`, …).
//!
//! Decoding accepts OpenAI's shape and the ones OpenAI-compatible servers use: vLLM's top-level
//! `{"object":"error","message","type","code":400}`, llama.cpp's numeric `code`, OpenRouter's
//! numeric `code` with `metadata`, FastAPI `{"detail": "..."}`, `{"error": "text"}` (Ollama)
//! and non-JSON bodies (an HTML page from a proxy).

use super::wire::{OutError, OutErrorBody};
use crate::canonical::{ErrorInfo, ErrorKind};
use serde_json::Value;

/// Longest upstream message kept (non-JSON bodies can be whole HTML pages).
const MAX_MESSAGE_BYTES: usize = 2000;

pub fn encode_error(err: &ErrorInfo) -> Vec<u8> {
    let (kind, default_code) = type_and_code(err.kind);
    let body = OutErrorBody {
        error: OutError {
            message: &err.message,
            kind,
            param: err.param.as_deref(),
            code: err.code.as_deref().or(default_code),
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// OpenAI's `type` for a kind, and the `code` to use when the error has none.
fn type_and_code(kind: ErrorKind) -> (&'static str, Option<&'static str>) {
    match kind {
        ErrorKind::InvalidRequest => ("invalid_request_error", None),
        ErrorKind::Authentication => ("invalid_request_error", Some("invalid_api_key")),
        ErrorKind::PermissionDenied => ("permission_error", Some("permission_denied")),
        ErrorKind::NotFound => ("invalid_request_error", Some("not_found")),
        ErrorKind::PayloadTooLarge => ("invalid_request_error", Some("request_too_large")),
        ErrorKind::RateLimited => ("rate_limit_error", Some("rate_limit_exceeded")),
        ErrorKind::QuotaExceeded => ("insufficient_quota", Some("insufficient_quota")),
        ErrorKind::ContextLengthExceeded => ("invalid_request_error", Some("context_length_exceeded")),
        ErrorKind::Overloaded => ("service_unavailable_error", Some("server_is_overloaded")),
        ErrorKind::Timeout => ("server_error", Some("timeout")),
        ErrorKind::RequestTimeout => ("timeout_error", Some("timeout")),
        ErrorKind::UpstreamUnavailable => ("server_error", Some("upstream_unavailable")),
        ErrorKind::UpstreamInvalid => ("server_error", Some("upstream_invalid_response")),
        ErrorKind::Internal => ("server_error", None),
    }
}

pub fn decode_error(status: u16, body: &[u8]) -> ErrorInfo {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => error_from_value(&v, Some(status)),
        Err(_) => {
            let text = truncate(String::from_utf8_lossy(body).trim());
            let mut e = ErrorInfo::new(classify(Some(status), "", "", &text), message_or_status(text, status));
            e.status = status;
            e
        }
    }
}

/// Classify an error document (an HTTP error body, or a mid-stream `{"error": ...}` chunk when
/// `status` is `None`).
pub(crate) fn error_from_value(v: &Value, status: Option<u16>) -> ErrorInfo {
    // Where the fields live: `error` object, `error` string, or the top level.
    let (obj, message) = match v.get("error") {
        Some(Value::Object(o)) => (Some(o), o.get("message").and_then(Value::as_str).map(str::to_string)),
        Some(Value::String(s)) => (None, Some(s.clone())),
        _ => (
            v.as_object(),
            v.get("message")
                .and_then(Value::as_str)
                .or_else(|| v.get("detail").and_then(Value::as_str))
                .map(str::to_string),
        ),
    };
    let field = |name: &str| obj.and_then(|o| o.get(name));
    let kind_str = field("type").and_then(Value::as_str).unwrap_or("");
    let param = field("param").and_then(Value::as_str).map(str::to_string);
    let (code, numeric_code) = match field("code") {
        Some(Value::String(s)) => (Some(s.clone()), None),
        Some(Value::Number(n)) => (None, n.as_u64().and_then(|n| u16::try_from(n).ok())),
        _ => (None, None),
    };
    // Mid-stream errors carry no HTTP status; OpenRouter and llama.cpp put one in `code`.
    let status = status.filter(|s| *s >= 400).or(numeric_code.filter(|s| (400..600).contains(s)));
    let message = truncate(message.unwrap_or_default().trim());
    let kind = classify(status, kind_str, code.as_deref().unwrap_or(""), &message);
    let message = match status {
        Some(s) => message_or_status(message, s),
        None if message.is_empty() => "upstream reported an error".to_string(),
        None => message,
    };
    ErrorInfo { kind, message, param, code, status: status.unwrap_or_else(|| kind.default_status()) }
}

/// One place that turns OpenAI-ish error fields into a kind. Most specific signals first:
/// context-length errors arrive as 400s, quota errors as 429s.
fn classify(status: Option<u16>, kind: &str, code: &str, message: &str) -> ErrorKind {
    let kind = kind.to_ascii_lowercase();
    let code = code.to_ascii_lowercase();
    let msg = message.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| code == *n || kind == *n);
    if any(&["context_length_exceeded", "exceed_context_size_error", "string_above_max_length"])
        || msg.contains("maximum context length")
        || msg.contains("context window")
        || msg.contains("context length")
        || msg.contains("prompt is too long")
    {
        return ErrorKind::ContextLengthExceeded;
    }
    if any(&["insufficient_quota", "billing_hard_limit_reached", "credit_balance_exhausted", "quota_exceeded"])
        || status == Some(402)
    {
        return ErrorKind::QuotaExceeded;
    }
    if any(&["server_is_overloaded", "engine_overloaded", "overloaded_error", "service_unavailable_error"])
        || msg.contains("overloaded")
        || matches!(status, Some(503 | 529))
    {
        return ErrorKind::Overloaded;
    }
    if any(&["rate_limit_exceeded", "rate_limit_error", "requests", "tokens", "slow_down"]) {
        return ErrorKind::RateLimited;
    }
    if any(&["model_not_found", "not_found_error", "not_found"]) {
        return ErrorKind::NotFound;
    }
    if any(&["invalid_api_key", "authentication_error", "invalid_authentication"]) {
        return ErrorKind::Authentication;
    }
    if any(&["permission_error", "permission_denied", "request_forbidden", "unsupported_country_region_territory"]) {
        return ErrorKind::PermissionDenied;
    }
    if any(&["request_too_large"]) {
        return ErrorKind::PayloadTooLarge;
    }
    if any(&["timeout"]) {
        return ErrorKind::Timeout;
    }
    if any(&["upstream_invalid_response"]) {
        return ErrorKind::UpstreamInvalid;
    }
    if any(&["upstream_unavailable"]) {
        return ErrorKind::UpstreamUnavailable;
    }
    match status {
        Some(s) => ErrorKind::from_status(s),
        None if kind == "invalid_request_error" => ErrorKind::InvalidRequest,
        None => ErrorKind::Internal,
    }
}

fn message_or_status(message: String, status: u16) -> String {
    if message.is_empty() {
        format!("upstream returned HTTP {status}")
    } else {
        message
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_MESSAGE_BYTES {
        return s.to_string();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(status: u16, body: &str) -> ErrorKind {
        decode_error(status, body.as_bytes()).kind
    }

    #[test]
    fn classifies_openai_bodies() {
        let ctx = r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        let e = decode_error(400, ctx.as_bytes());
        assert_eq!(e.kind, ErrorKind::ContextLengthExceeded);
        assert_eq!(e.param.as_deref(), Some("messages"));
        assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
        assert_eq!(e.status, 400);
        assert_eq!(
            kind_of(
                429,
                r#"{"error":{"message":"Rate limit reached for gpt-4o","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#
            ),
            ErrorKind::RateLimited
        );
        assert_eq!(
            kind_of(
                429,
                r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#
            ),
            ErrorKind::QuotaExceeded
        );
        assert_eq!(
            kind_of(
                404,
                r#"{"error":{"message":"The model `gpt-9` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#
            ),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of(
                401,
                r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#
            ),
            ErrorKind::Authentication
        );
        assert_eq!(
            kind_of(
                503,
                r#"{"error":{"message":"The server is overloaded","type":"service_unavailable_error","code":"server_is_overloaded"}}"#
            ),
            ErrorKind::Overloaded
        );
        assert_eq!(kind_of(500, r#"{"error":{"message":"boom","type":"server_error"}}"#), ErrorKind::Internal);
    }

    #[test]
    fn classifies_compatible_servers() {
        // vLLM: top-level fields, numeric code.
        let e = decode_error(400, br#"{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}"#);
        assert_eq!(e.kind, ErrorKind::ContextLengthExceeded);
        assert_eq!(e.message, "This model's maximum context length is 4096 tokens.");
        // llama.cpp
        assert_eq!(
            kind_of(
                400,
                r#"{"error":{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}}"#
            ),
            ErrorKind::ContextLengthExceeded
        );
        // Ollama
        let e = decode_error(404, br#"{"error":"model \"llama9\" not found, try pulling it first"}"#);
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.message.contains("llama9"));
        // FastAPI
        assert_eq!(decode_error(422, br#"{"detail":"bad field"}"#).message, "bad field");
        // HTML from a proxy
        let e = decode_error(502, b"<html>Bad Gateway</html>");
        assert_eq!(e.kind, ErrorKind::UpstreamUnavailable);
        assert_eq!(e.status, 502);
        assert_eq!(e.message, "<html>Bad Gateway</html>");
        let e = decode_error(500, b"");
        assert_eq!(e.message, "upstream returned HTTP 500");
    }

    #[test]
    fn mid_stream_errors_take_status_from_numeric_code() {
        let v: Value = serde_json::json!({"error": {"code": 429, "message": "Provider returned error"}});
        let e = error_from_value(&v, None);
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.status, 429);
        let v: Value = serde_json::json!({"error": {"message": "oops", "type": "server_error"}});
        let e = error_from_value(&v, None);
        assert_eq!(e.kind, ErrorKind::Internal);
        assert_eq!(e.status, 500);
    }

    #[test]
    fn encodes_openai_shape_and_round_trips_kinds() {
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::Authentication,
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::PayloadTooLarge,
            ErrorKind::RateLimited,
            ErrorKind::QuotaExceeded,
            ErrorKind::ContextLengthExceeded,
            ErrorKind::Overloaded,
            ErrorKind::Timeout,
            ErrorKind::UpstreamUnavailable,
            ErrorKind::UpstreamInvalid,
            ErrorKind::Internal,
        ] {
            let info = ErrorInfo::new(kind, "something failed");
            let body = encode_error(&info);
            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(v["error"]["message"], "something failed");
            assert!(v["error"]["type"].is_string());
            assert!(v["error"].get("param").is_some() && v["error"].get("code").is_some());
            assert_eq!(decode_error(info.status, &body).kind, kind, "{kind:?}");
            // Mid-stream error chunks have no HTTP status: the body alone keeps the kind.
            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(error_from_value(&v, None).kind, kind, "{kind:?} without status");
        }
        let mut info = ErrorInfo::new(ErrorKind::InvalidRequest, "bad n");
        info.param = Some("n".into());
        info.code = Some("unsupported_parameter".into());
        assert_eq!(
            String::from_utf8_lossy(&encode_error(&info)),
            r#"{"error":{"message":"bad n","type":"invalid_request_error","param":"n","code":"unsupported_parameter"}}"#
        );
    }

    #[test]
    fn long_bodies_are_truncated_on_char_boundaries() {
        let body = "é".repeat(3000);
        let e = decode_error(500, body.as_bytes());
        assert!(e.message.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
    }
}
