//! Client authentication: which crossbar key a request carries, and whether it may be used.
//!
//! Keys are read from `Authorization: Bearer`, `x-api-key` (Anthropic SDKs, Claude Code),
//! `x-goog-api-key` or `?key=` (Gemini). A lookup cache keeps key records for a short TTL
//! (`[auth] cache_ttl_ms`, default 500 ms) so a revocation on any instance is seen by every
//! instance within that time, without a database round trip per request.
//!
//! Unknown key ids are remembered apart (`UNKNOWN_TTL`, their own bound), so random keys cost
//! one database query per id and never push good keys out of the cache; an address that keeps
//! presenting bad keys (`FAILURES_PER_MINUTE`) is refused with 429 before any lookup, except
//! for a key already in the cache.
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

/// Why a request was refused (all 401 except `Unavailable` and `TooManyFailures`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Missing,
    Invalid,
    Revoked,
    Expired,
    Unavailable,
    /// This address presented too many bad keys lately (429).
    TooManyFailures,
}

impl Rejection {
    pub fn message(&self) -> &'static str {
        match self {
            Rejection::Missing => "missing crossbar key: send it as `Authorization: Bearer cb-…`, `x-api-key`, `x-goog-api-key` or `?key=`",
            Rejection::Invalid => "invalid crossbar key",
            Rejection::Revoked => "this crossbar key has been revoked",
            Rejection::Expired => "this crossbar key has expired",
            Rejection::Unavailable => "the key store is unavailable; try again",
            Rejection::TooManyFailures => "too many requests with invalid keys from this address; wait a minute",
        }
    }
}

/// Most entries the cache holds before it starts over (bounds memory).
const CACHE_MAX: usize = 50_000;
/// Most unknown ids remembered; past it that list alone starts over.
const UNKNOWN_MAX: usize = 100_000;
/// How long an unknown id is remembered (a key created meanwhile on this instance is
/// forgotten at once; on another, it waits at most this long — ids are random, so only a
/// client that tried a key before it existed can meet this).
const UNKNOWN_TTL: Duration = Duration::from_secs(10);
/// Bad keys one address may present per minute before it is refused without lookups.
pub const FAILURES_PER_MINUTE: u32 = 30;
/// Most addresses tracked for failures; past it the table starts over.
const ADDRESSES_MAX: usize = 100_000;

/// Key id → (when it was looked up, the record).
type Cache = HashMap<String, (Instant, Arc<KeyRecord>)>;

pub struct Authenticator {
    store: Store,
    ttl: Duration,
    cache: Mutex<Cache>,
    /// Key ids the store does not have, with when that was learnt.
    unknown: Mutex<HashMap<String, Instant>>,
    /// Bad keys per address in the current minute: (minute, count).
    failures: Mutex<HashMap<std::net::IpAddr, (u64, u32)>>,
}

impl Authenticator {
    pub fn new(store: Store, ttl: Duration) -> Authenticator {
        Authenticator {
            store,
            ttl,
            cache: Mutex::new(HashMap::new()),
            unknown: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `check`, for a request from `addr` (when known): an address over its failure budget
    /// only gets keys already in the cache, and every rejection counts against it.
    pub async fn check_from(
        &self,
        presented: &str,
        addr: Option<std::net::IpAddr>,
    ) -> Result<Arc<KeyRecord>, Rejection> {
        let minute = Instant::now().duration_since(*EPOCH).as_secs() / 60;
        let over = addr.is_some_and(|a| self.failures_of(a, minute) >= FAILURES_PER_MINUTE);
        let result = if over { self.check_cached(presented) } else { self.check(presented).await };
        // Only keys that look real but are not cost lookups; a missing key costs nothing.
        if let (Err(Rejection::Invalid | Rejection::TooManyFailures), Some(a)) = (&result, addr) {
            self.count_failure(a, minute);
        }
        result
    }

    fn failures_of(&self, addr: std::net::IpAddr, minute: u64) -> u32 {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.get(&addr).filter(|(m, _)| *m == minute).map_or(0, |(_, n)| *n)
    }

    fn count_failure(&self, addr: std::net::IpAddr, minute: u64) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= ADDRESSES_MAX && !failures.contains_key(&addr) {
            failures.clear();
        }
        let slot = failures.entry(addr).or_insert((minute, 0));
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 = slot.1.saturating_add(1);
    }

    /// Only what the cache knows (an address over its failure budget).
    fn check_cached(&self, presented: &str) -> Result<Arc<KeyRecord>, Rejection> {
        let (id, secret) = key::parse(presented).ok_or(Rejection::TooManyFailures)?;
        let cached = self.cached(id).ok_or(Rejection::TooManyFailures)?;
        Self::usable(cached, secret).map_err(|_| Rejection::TooManyFailures)
    }

    fn cached(&self, id: &str) -> Option<Arc<KeyRecord>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(id).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, r)| r.clone())
    }

    /// The key record for a presented key, if it is valid and usable now.
    pub async fn check(&self, presented: &str) -> Result<Arc<KeyRecord>, Rejection> {
        let (id, secret) = key::parse(presented).ok_or(Rejection::Invalid)?;
        let record = self.lookup(id).await.map_err(|e| {
            tracing::error!(error = %e, "key lookup failed");
            Rejection::Unavailable
        })?;
        let record = record.ok_or(Rejection::Invalid)?;
        Self::usable(record, secret)
    }

    fn usable(record: Arc<KeyRecord>, secret: &str) -> Result<Arc<KeyRecord>, Rejection> {
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
        if let Some(rec) = self.cached(id) {
            return Ok(Some(rec));
        }
        {
            let unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
            if unknown.get(id).is_some_and(|at| at.elapsed() < UNKNOWN_TTL.max(self.ttl)) {
                return Ok(None);
            }
        }
        let rec = self.store.get_key(id).await?.map(Arc::new);
        match &rec {
            Some(r) => {
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(id.to_string(), (Instant::now(), r.clone()));
            }
            None => {
                let mut unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
                if unknown.len() >= UNKNOWN_MAX {
                    unknown.clear();
                }
                unknown.insert(id.to_string(), Instant::now());
            }
        }
        Ok(rec)
    }

    /// Forget a key at once on this instance (after an admin change here).
    pub fn forget(&self, id: &str) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        self.unknown.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// The start of this process's clock, for minute numbers.
static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

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

    async fn authenticator() -> (Authenticator, Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(None, dir.path()).expect("store");
        store.ready().await.expect("ready");
        (Authenticator::new(store.clone(), Duration::from_secs(60)), store, dir)
    }

    async fn new_key(store: &Store) -> String {
        let g = key::generate();
        let new = crate::store::NewKey {
            id: g.id,
            name: "t".into(),
            secret_sha256: g.secret_sha256,
            limits: Default::default(),
            expires_at: None,
        };
        store.create_key(&new).await.expect("create");
        g.plaintext
    }

    #[tokio::test]
    async fn unknown_ids_are_remembered_apart_and_never_flush_good_keys() {
        let (auth, store, _dir) = authenticator().await;
        let good = new_key(&store).await;
        assert!(auth.check(&good).await.is_ok());
        for _ in 0..2000 {
            assert_eq!(auth.check(&key::generate().plaintext).await.err(), Some(Rejection::Invalid));
        }
        assert_eq!(auth.cache.lock().expect("cache").len(), 1, "unknown ids never enter the key cache");
        assert!(auth.cached(key::parse(&good).expect("parse").0).is_some(), "the good key is still cached");
        // An id learnt as unknown is not asked for again (until forgotten).
        let later = key::generate();
        assert_eq!(auth.check(&later.plaintext).await.err(), Some(Rejection::Invalid));
        let new = crate::store::NewKey {
            id: later.id.clone(),
            name: "t".into(),
            secret_sha256: later.secret_sha256.clone(),
            limits: Default::default(),
            expires_at: None,
        };
        store.create_key(&new).await.expect("create");
        assert_eq!(auth.check(&later.plaintext).await.err(), Some(Rejection::Invalid), "no second lookup");
        auth.forget(&later.id);
        assert!(auth.check(&later.plaintext).await.is_ok());
    }

    #[tokio::test]
    async fn an_address_presenting_bad_keys_is_refused_without_lookups() {
        let (auth, store, _dir) = authenticator().await;
        let cached = new_key(&store).await;
        let fresh = new_key(&store).await;
        let (a, b) = ("10.0.0.1".parse().expect("ip"), "10.0.0.2".parse().expect("ip"));
        assert!(auth.check_from(&cached, Some(a)).await.is_ok());
        for _ in 0..FAILURES_PER_MINUTE {
            let r = auth.check_from(&key::generate().plaintext, Some(a)).await;
            assert_eq!(r.err(), Some(Rejection::Invalid));
        }
        assert_eq!(auth.check_from(&fresh, Some(a)).await.err(), Some(Rejection::TooManyFailures));
        assert!(auth.check_from(&cached, Some(a)).await.is_ok(), "a cached good key still passes");
        assert!(auth.check_from(&fresh, Some(b)).await.is_ok(), "other addresses are not affected");
        assert_eq!(auth.check_from("", Some(b)).await.err(), Some(Rejection::Invalid));
    }
}
