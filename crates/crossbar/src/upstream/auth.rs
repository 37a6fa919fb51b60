//! Upstream authentication headers, per upstream protocol. The client's own credentials are
//! never forwarded (the pipeline builds upstream headers from an allowlist).

use crate::config::secret::Secret;
use axum::http::{HeaderMap, HeaderValue};
use crossbar_protocol::canonical::Protocol;

pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub fn apply(protocol: Protocol, key: Option<&Secret>, headers: &mut HeaderMap) {
    if protocol == Protocol::Anthropic && !headers.contains_key("anthropic-version") {
        headers.insert("anthropic-version", HeaderValue::from_static(ANTHROPIC_VERSION));
    }
    let Some(key) = key else { return };
    let (name, value) = match protocol {
        Protocol::OpenaiChat | Protocol::OpenaiResponses => ("authorization", format!("Bearer {}", key.expose())),
        Protocol::Anthropic => ("x-api-key", key.expose().to_string()),
        Protocol::Gemini => ("x-goog-api-key", key.expose().to_string()),
    };
    if let Ok(mut v) = HeaderValue::from_str(&value) {
        v.set_sensitive(true);
        headers.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_gets_its_own_header() {
        let key = Secret::new("k");
        let mut h = HeaderMap::new();
        apply(Protocol::Anthropic, Some(&key), &mut h);
        assert_eq!(h.get("x-api-key").map(|v| v.as_bytes()), Some(&b"k"[..]));
        assert_eq!(h.get("anthropic-version").map(|v| v.as_bytes()), Some(ANTHROPIC_VERSION.as_bytes()));
        let mut h = HeaderMap::new();
        apply(Protocol::OpenaiChat, Some(&key), &mut h);
        assert_eq!(h.get("authorization").map(|v| v.as_bytes()), Some(&b"Bearer k"[..]));
        let mut h = HeaderMap::new();
        apply(Protocol::Gemini, Some(&key), &mut h);
        assert!(h.get("x-goog-api-key").is_some_and(|v| v.is_sensitive()));
    }
}
