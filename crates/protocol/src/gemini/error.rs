//! gemini error bodies: `{"error": {"code": <http status>, "message", "status": <google.rpc.Code name>}}`.
//!
//! | ErrorKind                                    | `status`             |
//! |----------------------------------------------|----------------------|
//! | InvalidRequest, PayloadTooLarge, ContextLengthExceeded | INVALID_ARGUMENT |
//! | Authentication                               | UNAUTHENTICATED      |
//! | PermissionDenied                             | PERMISSION_DENIED    |
//! | NotFound                                     | NOT_FOUND            |
//! | RateLimited, QuotaExceeded                   | RESOURCE_EXHAUSTED   |
//! | Overloaded, UpstreamUnavailable              | UNAVAILABLE          |
//! | Timeout, RequestTimeout                      | DEADLINE_EXCEEDED    |
//! | UpstreamInvalid, Internal                    | INTERNAL             |
//!
//! Decoding classifies by `status` first, then the message: RESOURCE_EXHAUSTED is a rate limit
//! unless it is a daily / zero-limit quota (or says "quota" without a retry hint);
//! INVALID_ARGUMENT about the input token count is a context-length error, and about an invalid
//! API key an authentication error; FAILED_PRECONDITION (billing, unsupported location) is a
//! permission error.

use super::wire::{ErrorBody, ErrorStatus};
use crate::canonical::{ErrorInfo, ErrorKind};
use serde_json::Value;

pub fn encode_error(err: &ErrorInfo) -> Vec<u8> {
    let body = ErrorBody {
        error: ErrorStatus {
            code: Some(i64::from(err.status)),
            message: Some(err.message.clone()),
            status: Some(status_name(err.kind).to_string()),
            details: Vec::new(),
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

pub fn status_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge | ErrorKind::ContextLengthExceeded => "INVALID_ARGUMENT",
        ErrorKind::Authentication => "UNAUTHENTICATED",
        ErrorKind::PermissionDenied => "PERMISSION_DENIED",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::RateLimited | ErrorKind::QuotaExceeded => "RESOURCE_EXHAUSTED",
        ErrorKind::Overloaded | ErrorKind::UpstreamUnavailable => "UNAVAILABLE",
        ErrorKind::Timeout | ErrorKind::RequestTimeout => "DEADLINE_EXCEEDED",
        ErrorKind::UpstreamInvalid | ErrorKind::Internal => "INTERNAL",
    }
}

pub fn decode_error(status: u16, body: &[u8]) -> ErrorInfo {
    let value: Option<Value> = serde_json::from_slice(body).ok();
    // `{"error": {...}}`, or `[{"error": {...}}]` from a JSON-array stream.
    let err = value.as_ref().and_then(|v| match v {
        Value::Array(items) => items.first().and_then(|i| i.get("error")),
        other => other.get("error"),
    });
    match err {
        Some(e) if e.is_object() => classify(status, e),
        _ => {
            let text = String::from_utf8_lossy(body);
            let message = match err.and_then(Value::as_str) {
                Some(s) => s.to_string(),
                None if text.trim().is_empty() => format!("upstream returned HTTP {status}"),
                None => text.chars().take(2000).collect(),
            };
            let mut info = ErrorInfo::new(ErrorKind::from_status(status), message);
            if status != 0 {
                info.status = status;
            }
            info
        }
    }
}

/// A `google.rpc.Status` object → `ErrorInfo`. `http_status` 0 means unknown (mid-stream
/// errors): the body's `code` is used, else the kind's default.
pub(crate) fn classify(http_status: u16, err: &Value) -> ErrorInfo {
    let message = err.get("message").and_then(Value::as_str).unwrap_or("").to_string();
    let code = err.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok());
    let status_str = err.get("status").and_then(Value::as_str);
    let http = if http_status != 0 { Some(http_status) } else { code.filter(|c| (400..600).contains(c)) };
    let lower = message.to_ascii_lowercase();
    let details = err.get("details").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let kind = match status_str {
        Some("RESOURCE_EXHAUSTED") => {
            if quota_exhausted(&lower, details) {
                ErrorKind::QuotaExceeded
            } else {
                ErrorKind::RateLimited
            }
        }
        Some("UNAVAILABLE") => ErrorKind::Overloaded,
        Some("INVALID_ARGUMENT") | Some("OUT_OF_RANGE") => {
            if is_context_length(&lower) {
                ErrorKind::ContextLengthExceeded
            } else if is_bad_key(&lower, details) {
                ErrorKind::Authentication
            } else {
                ErrorKind::InvalidRequest
            }
        }
        Some("UNAUTHENTICATED") => ErrorKind::Authentication,
        Some("PERMISSION_DENIED") | Some("FAILED_PRECONDITION") => ErrorKind::PermissionDenied,
        Some("NOT_FOUND") => ErrorKind::NotFound,
        Some("DEADLINE_EXCEEDED") => ErrorKind::Timeout,
        Some("INTERNAL") | Some("UNKNOWN") | Some("CANCELLED") | Some("ABORTED") => ErrorKind::Internal,
        _ => match http {
            Some(s) => ErrorKind::from_status(s),
            None => ErrorKind::Internal,
        },
    };
    let mut info = ErrorInfo::new(kind, if message.is_empty() { "upstream error".to_string() } else { message });
    info.code = status_str.map(str::to_string);
    if let Some(s) = http {
        info.status = s;
    }
    info
}

fn quota_exhausted(lower: &str, details: &[Value]) -> bool {
    let quota_ids: Vec<&str> = details
        .iter()
        .filter_map(|d| d.get("violations").and_then(Value::as_array))
        .flatten()
        .filter_map(|v| v.get("quotaId").and_then(Value::as_str))
        .collect();
    if quota_ids.iter().any(|q| q.contains("PerDay") || q.contains("PerMonth")) || lower.contains("limit: 0") {
        return true;
    }
    let has_retry_hint =
        details.iter().any(|d| d.get("@type").and_then(Value::as_str).is_some_and(|t| t.ends_with("RetryInfo")));
    // Vertex's "Resource has been exhausted (e.g. check quota)" is its shared-capacity throttle.
    lower.contains("quota") && quota_ids.is_empty() && !has_retry_hint && !lower.contains("resource has been exhausted")
}

fn is_context_length(lower: &str) -> bool {
    (lower.contains("token") && (lower.contains("exceeds the maximum") || lower.contains("exceed")))
        || lower.contains("context window")
        || lower.contains("context length")
        || lower.contains("too long")
}

fn is_bad_key(lower: &str, details: &[Value]) -> bool {
    lower.contains("api key not valid")
        || lower.contains("api_key_invalid")
        || details.iter().any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dec(status: u16, v: Value) -> ErrorInfo {
        decode_error(status, v.to_string().as_bytes())
    }

    #[test]
    fn classifies_google_errors() {
        let rate = dec(
            429,
            json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}
            ]}}),
        );
        assert_eq!(
            (rate.kind, rate.status, rate.code.as_deref()),
            (ErrorKind::RateLimited, 429, Some("RESOURCE_EXHAUSTED"))
        );
        let daily = dec(
            429,
            json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota",
            "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}),
        );
        assert_eq!(daily.kind, ErrorKind::QuotaExceeded);
        let bare_quota = dec(
            429,
            json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded for this project"}}),
        );
        assert_eq!(bare_quota.kind, ErrorKind::QuotaExceeded);
        let busy = dec(
            429,
            json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Resource has been exhausted (e.g. check quota)."}}),
        );
        assert_eq!(busy.kind, ErrorKind::RateLimited);
        let over = dec(
            503,
            json!({"error": {"code": 503, "status": "UNAVAILABLE", "message": "The model is overloaded. Please try again later."}}),
        );
        assert_eq!(over.kind, ErrorKind::Overloaded);
        let ctx = dec(
            400,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."}}),
        );
        assert_eq!(ctx.kind, ErrorKind::ContextLengthExceeded);
        let key = dec(
            400,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "API key not valid. Please pass a valid API key.",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}),
        );
        assert_eq!(key.kind, ErrorKind::Authentication);
        let bad = dec(
            400,
            json!([{"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Invalid value at 'contents'"}}]),
        );
        assert_eq!((bad.kind, bad.message.as_str()), (ErrorKind::InvalidRequest, "Invalid value at 'contents'"));
        let loc = dec(
            400,
            json!({"error": {"code": 400, "status": "FAILED_PRECONDITION", "message": "User location is not supported for the API use."}}),
        );
        assert_eq!(loc.kind, ErrorKind::PermissionDenied);
        let nf = dec(404, json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "models/x is not found"}}));
        assert_eq!(nf.kind, ErrorKind::NotFound);
    }

    #[test]
    fn non_json_and_odd_bodies_fall_back_to_the_status() {
        let e = decode_error(502, b"<html>Bad Gateway</html>");
        assert_eq!(
            (e.kind, e.status, e.message.as_str()),
            (ErrorKind::UpstreamUnavailable, 502, "<html>Bad Gateway</html>")
        );
        let e = decode_error(500, b"");
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Internal, "upstream returned HTTP 500"));
        let e = decode_error(401, br#"{"error": "nope"}"#);
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Authentication, "nope"));
    }

    #[test]
    fn encodes_google_shape() {
        let mut e = ErrorInfo::new(ErrorKind::RateLimited, "slow down");
        e.status = 429;
        let v: Value = serde_json::from_slice(&encode_error(&e)).unwrap_or_default();
        assert_eq!(v, json!({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}));
        let back = decode_error(429, &encode_error(&e));
        assert_eq!((back.kind, back.message.as_str()), (ErrorKind::RateLimited, "slow down"));
    }
}
