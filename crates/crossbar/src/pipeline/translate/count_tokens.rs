//! Token counting for providers that have no counting endpoint in the client's protocol:
//! a local estimate (about four characters per token over the request's text, tool
//! definitions and arguments), labelled as such with `x-crossbar-token-count: estimate`.
//! Claude Code calls count_tokens often; without an answer it would pay one generation per count.

use crate::ingress::reply;
use crate::pipeline::Inbound;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind, Protocol};

pub fn estimate(inbound: &Inbound) -> Response {
    let value: serde_json::Value = match serde_json::from_slice(&inbound.body) {
        Ok(v) => v,
        Err(e) => {
            return reply::error(
                inbound.protocol,
                &ErrorInfo::new(ErrorKind::InvalidRequest, format!("the request body is not valid JSON: {e}")),
            )
        }
    };
    let tokens = estimate_tokens(&value);
    let body = match inbound.protocol {
        Protocol::Gemini => serde_json::json!({ "totalTokens": tokens }),
        _ => serde_json::json!({ "input_tokens": tokens }),
    };
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-crossbar-token-count", HeaderValue::from_static("estimate"));
    reply::plain(200, headers, body.to_string())
}

/// ~4 characters per token over every string in the request except the model name and
/// base64 payloads (images count a flat 1,600 tokens, roughly a 1,000×1,000 image).
pub fn estimate_tokens(v: &serde_json::Value) -> u64 {
    fn walk(v: &serde_json::Value, key: &str, chars: &mut u64, images: &mut u64) {
        match v {
            serde_json::Value::String(s) => match key {
                "model" | "type" | "role" | "media_type" | "mimeType" => {}
                "data" if s.len() > 256 => *images += 1,
                _ if s.starts_with("data:") && s.contains(";base64,") => *images += 1,
                _ => *chars += s.chars().count() as u64,
            },
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, key, chars, images)),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
                *chars += k.len() as u64 / 2;
                walk(x, k, chars, images)
            }),
            _ => *chars += 1,
        }
    }
    let (mut chars, mut images) = (0, 0);
    walk(v, "", &mut chars, &mut images);
    chars.div_ceil(4).max(1) + images * 1600
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_grows_with_text_and_ignores_the_model() {
        let small = estimate_tokens(
            &serde_json::json!({"model": "x".repeat(1000), "messages": [{"role": "user", "content": "hi"}]}),
        );
        let big = estimate_tokens(&serde_json::json!({"messages": [{"role": "user", "content": "word ".repeat(400)}]}));
        assert!(small < 10, "{small}");
        assert!((450..600).contains(&big), "{big}");
    }
}
