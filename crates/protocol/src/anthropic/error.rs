//! Anthropic error bodies: `{"type":"error","error":{"type","message"}}`, both directions.

use super::convert::{error_kind_in, error_type_out};
use super::wire::{OutError, OutErrorBody};
use crate::canonical::ErrorInfo;
use serde_json::Value;

/// Longest upstream body text kept as a message when the body is not Anthropic-shaped.
const MAX_MESSAGE_CHARS: usize = 2000;

pub fn encode_error(err: &ErrorInfo) -> Vec<u8> {
    let body = OutError {
        kind: "error",
        error: OutErrorBody { kind: error_type_out(err.kind), message: err.message.clone() },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Classify an upstream error body. The Anthropic `error.type` is kept as `code`.
pub fn decode_error(status: u16, body: &[u8]) -> ErrorInfo {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let kind_str = error.and_then(|e| e.get("type")).and_then(Value::as_str).map(str::to_string);
    let message = error
        .and_then(|e| match e {
            Value::String(s) => Some(s.as_str()),
            _ => e.get("message").and_then(Value::as_str),
        })
        .or_else(|| parsed.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("upstream answered HTTP {status}")
            } else {
                text.chars().take(MAX_MESSAGE_CHARS).collect()
            }
        });
    ErrorInfo {
        kind: error_kind_in(kind_str.as_deref(), &message, status),
        message,
        param: None,
        code: kind_str,
        status,
    }
}
