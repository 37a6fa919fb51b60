//! What crossbar sends on a Responses socket besides the events themselves: the wrapped error
//! frame Codex reads (`{"type":"error","status","error":{…},"headers":{…}}`, codex-wire.md §9),
//! the answer to a `generate: false` prewarm, and close frames with a reason.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::HeaderMap;
use serde_json::{json, Map, Value};

/// Normal closure (idle timeout, first message late).
pub const CLOSE_NORMAL: u16 = 1000;
/// Going away (graceful shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Policy violation (too many sockets for the key, not a Responses socket).
pub const CLOSE_POLICY: u16 = 1008;
/// A message larger than the limit.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// The wrapped error frame for an HTTP-shaped refusal: `body` is the Responses error body the
/// pipeline answered with (`{"error":{…}}`), `headers` its response headers (limits, retry).
pub fn error_from_response(status: u16, body: &[u8], headers: &HeaderMap) -> String {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = match parsed.get("error") {
        Some(e @ Value::Object(_)) => e.clone(),
        _ => json!({"type": "api_error", "message": String::from_utf8_lossy(body)}),
    };
    let mut kept = Map::new();
    for (name, value) in headers {
        let n = name.as_str();
        if n == "retry-after" || n.starts_with("x-ratelimit-") || n.starts_with("x-codex-") {
            if let Ok(v) = value.to_str() {
                kept.insert(n.to_owned(), json!(v));
            }
        }
    }
    json!({"type": "error", "status": status, "error": error, "headers": kept}).to_string()
}

/// A wrapped error crossbar itself raises on the socket.
pub fn error(status: u16, ty: &str, code: Option<&str>, param: Option<&str>, message: &str) -> String {
    json!({
        "type": "error",
        "status": status,
        "error": {"type": ty, "code": code, "message": message, "param": param},
    })
    .to_string()
}

/// `previous_response_id` names no response of this socket (a new socket after a reconnect,
/// a restart, another instance): the client retries with its whole input.
pub fn previous_not_found(id: &str) -> String {
    error(
        400,
        "invalid_request_error",
        Some("previous_response_not_found"),
        Some("previous_response_id"),
        &format!("Previous response with id '{id}' not found."),
    )
}

/// The answer to `generate: false`: a response that is created and completed with no output,
/// whose id later frames may name as `previous_response_id`.
pub fn prewarm(id: &str, model: &Value) -> [String; 2] {
    let created_at = crate::pipeline::unix_now();
    let response = |status: &str| {
        json!({"id": id, "object": "response", "created_at": created_at, "status": status, "model": model,
               "output": [], "usage": null, "error": null})
    };
    [
        json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress")}).to_string(),
        json!({"type": "response.completed", "sequence_number": 1, "response": response("completed")}).to_string(),
    ]
}

pub fn text(s: impl Into<String>) -> Message {
    Message::Text(s.into().into())
}

pub fn close(code: u16, reason: &str) -> Message {
    // A close reason is at most 123 bytes; cut on a character boundary.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame { code, reason: reason[..end].to_owned().into() }))
}

/// Close a socket that never started a session.
pub async fn close_now(mut socket: WebSocket, code: u16, reason: &str) {
    let _ = socket.send(close(code, reason)).await;
    // Wait (briefly) for the client's close, so the close handshake completes.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), socket.recv()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_a_close_frame_on_a_character_boundary() {
        let long = "é".repeat(100);
        let Message::Close(Some(f)) = close(CLOSE_NORMAL, &long) else { panic!("a close frame") };
        assert!(f.reason.len() <= 123 && f.reason.chars().all(|c| c == 'é'), "{}", f.reason.len());
    }

    #[test]
    fn refusals_keep_their_error_and_limit_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3".parse().expect("value"));
        headers.insert("x-ratelimit-remaining-requests", "0".parse().expect("value"));
        headers.insert("set-cookie", "no".parse().expect("value"));
        let body = br#"{"error":{"type":"rate_limit_error","code":"rate_limit_exceeded","message":"slow down"}}"#;
        let v: Value = serde_json::from_str(&error_from_response(429, body, &headers)).expect("json");
        assert_eq!((v["type"].as_str(), v["status"].as_u64()), (Some("error"), Some(429)));
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
        assert_eq!(v["headers"], json!({"retry-after": "3", "x-ratelimit-remaining-requests": "0"}));
        let v: Value = serde_json::from_str(&error_from_response(502, b"not json", &HeaderMap::new())).expect("json");
        assert_eq!(v["error"]["message"], "not json");
    }
}
