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
    if let Some((name, v)) = header(protocol, key) {
        headers.insert(name, v);
    }
}

/// The auth header for `key` in `protocol` (marked sensitive), `None` if the key cannot be a
/// header value.
fn header(protocol: Protocol, key: &Secret) -> Option<(&'static str, HeaderValue)> {
    let (name, value) = match protocol {
        Protocol::OpenaiChat | Protocol::OpenaiResponses => ("authorization", format!("Bearer {}", key.expose())),
        Protocol::Anthropic => ("x-api-key", key.expose().to_string()),
        Protocol::Gemini => ("x-goog-api-key", key.expose().to_string()),
    };
    let mut v = HeaderValue::from_str(&value).ok()?;
    v.set_sensitive(true);
    Some((name, v))
}

/// `apply` with the last header built kept: a provider's key rarely changes, so the header is
/// built once per key, not once per request.
#[derive(Default)]
pub struct Memo(std::sync::Mutex<Option<Memoized>>);

/// The key and protocol a header was built for, and the header (`None`: not a valid value).
type Memoized = (Protocol, Secret, Option<(&'static str, HeaderValue)>);

impl Memo {
    pub fn apply(&self, protocol: Protocol, key: Option<&Secret>, headers: &mut HeaderMap) {
        let Some(key) = key else { return apply(protocol, None, headers) };
        if protocol == Protocol::Anthropic && !headers.contains_key("anthropic-version") {
            headers.insert("anthropic-version", HeaderValue::from_static(ANTHROPIC_VERSION));
        }
        let Ok(mut memo) = self.0.lock() else { return apply(protocol, Some(key), headers) };
        let fresh = !matches!(&*memo, Some((p, k, _)) if *p == protocol && k.expose() == key.expose());
        if fresh {
            *memo = Some((protocol, key.clone(), header(protocol, key)));
        }
        if let Some((_, _, Some((name, v)))) = &*memo {
            headers.insert(*name, v.clone());
        }
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

    #[test]
    fn the_memo_builds_the_header_again_when_the_key_or_protocol_changes() {
        let memo = Memo::default();
        let get = |p: Protocol, k: &str| {
            let mut h = HeaderMap::new();
            memo.apply(p, Some(&Secret::new(k)), &mut h);
            h
        };
        assert_eq!(get(Protocol::OpenaiChat, "a").get("authorization").map(|v| v.as_bytes()), Some(&b"Bearer a"[..]));
        assert_eq!(get(Protocol::OpenaiChat, "a").get("authorization").map(|v| v.as_bytes()), Some(&b"Bearer a"[..]));
        assert_eq!(get(Protocol::OpenaiChat, "b").get("authorization").map(|v| v.as_bytes()), Some(&b"Bearer b"[..]));
        let h = get(Protocol::Anthropic, "b");
        assert_eq!(h.get("x-api-key").map(|v| v.as_bytes()), Some(&b"b"[..]));
        assert!(h.get("x-api-key").is_some_and(|v| v.is_sensitive()));
        assert_eq!(h.get("anthropic-version").map(|v| v.as_bytes()), Some(ANTHROPIC_VERSION.as_bytes()));
        let mut h = HeaderMap::new();
        memo.apply(Protocol::OpenaiChat, None, &mut h);
        assert!(h.is_empty());
    }
}
