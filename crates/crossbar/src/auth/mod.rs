//! Client authentication: which crossbar key a request carries, and whether it may be used.
//!
//! Keys are read from `Authorization: Bearer`, `x-api-key` (Anthropic SDKs, Claude Code),
//! `x-goog-api-key` or `?key=` (Gemini). A lookup cache keeps key records for a short TTL
//! (`[auth] cache_ttl_ms`, default 500 ms) so a revocation on any instance is seen by every
//! instance within that time, without a database round trip per request.
//!
//! Fails closed: a store error answers 503-style "unavailable", never lets a request through.
//! Must never: log a presented key or secret, or compare secrets with `==`.

pub mod key;
mod middleware;
pub use middleware::{layer, protocol_of_path, Authed};

use crate::store::{now_ms, KeyRecord, Store, StoreError};
use axum::http::HeaderMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a request was refused (all 401 except `Unavailable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Missing,
    Invalid,
    Revoked,
    Expired,
    Unavailable,
}

impl Rejection {
    pub fn message(&self) -> &'static str {
        match self {
            Rejection::Missing => "missing crossbar key: send it as `Authorization: Bearer cb-…`, `x-api-key`, `x-goog-api-key` or `?key=`",
            Rejection::Invalid => "invalid crossbar key",
            Rejection::Revoked => "this crossbar key has been revoked",
            Rejection::Expired => "this crossbar key has expired",
            Rejection::Unavailable => "the key store is unavailable; try again",
        }
    }
}

/// Most entries the cache holds before it starts over (bounds memory under random ids).
const CACHE_MAX: usize = 50_000;

/// Key id → (when it was looked up, the record or `None` for no such key).
type Cache = HashMap<String, (Instant, Option<Arc<KeyRecord>>)>;

pub struct Authenticator {
    store: Store,
    ttl: Duration,
    cache: Mutex<Cache>,
}

impl Authenticator {
    pub fn new(store: Store, ttl: Duration) -> Authenticator {
        Authenticator { store, ttl, cache: Mutex::new(HashMap::new()) }
    }

    /// The key record for a presented key, if it is valid and usable now.
    pub async fn check(&self, presented: &str) -> Result<Arc<KeyRecord>, Rejection> {
        let (id, secret) = key::parse(presented).ok_or(Rejection::Invalid)?;
        let record = self.lookup(id).await.map_err(|e| {
            tracing::error!(error = %e, "key lookup failed");
            Rejection::Unavailable
        })?;
        let record = record.ok_or(Rejection::Invalid)?;
        if !key::matches(secret, &record.secret_sha256) {
            return Err(Rejection::Invalid);
        }
        match record.unusable(now_ms()) {
            Some("revoked") => Err(Rejection::Revoked),
            Some(_) => Err(Rejection::Expired),
            None => Ok(record),
        }
    }

    async fn lookup(&self, id: &str) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, rec)) = cache.get(id) {
                if at.elapsed() < self.ttl {
                    return Ok(rec.clone());
                }
            }
        }
        let rec = self.store.get_key(id).await?.map(Arc::new);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(id.to_string(), (Instant::now(), rec.clone()));
        }
        Ok(rec)
    }

    /// Forget a key at once on this instance (after an admin change here).
    pub fn forget(&self, id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(id);
        }
    }
}

/// The key a request presents, from the first place that has one.
pub fn presented<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(token) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(token.trim());
        }
    }
    for h in ["x-api-key", "x-goog-api-key"] {
        if let Some(v) = headers.get(h).and_then(|v| v.to_str().ok()) {
            return Some(v.trim());
        }
    }
    query?.split('&').find_map(|kv| kv.strip_prefix("key="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_every_place_clients_send_them() {
        let mut h = HeaderMap::new();
        assert_eq!(presented(&h, Some("alt=sse&key=cb-q")), Some("cb-q"));
        h.insert("x-goog-api-key", "cb-g".parse().expect("hv"));
        assert_eq!(presented(&h, None), Some("cb-g"));
        h.insert("x-api-key", "cb-x".parse().expect("hv"));
        assert_eq!(presented(&h, None), Some("cb-x"));
        h.insert("authorization", "Bearer cb-b".parse().expect("hv"));
        assert_eq!(presented(&h, None), Some("cb-b"));
        assert_eq!(presented(&HeaderMap::new(), Some("alt=sse")), None);
    }
}
