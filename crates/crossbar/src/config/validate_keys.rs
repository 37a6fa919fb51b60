//! Validation of the `[auth]`, `[storage]` and `[redis]` sections (keys, usage, limits).

use super::raw::RawConfig;
use super::validate::Ctx;
use super::{AuthConfig, RedisConfig, StorageConfig};
use std::time::Duration;

pub(super) fn sections(cx: &mut Ctx, raw: &RawConfig) -> (Option<AuthConfig>, StorageConfig, Option<RedisConfig>) {
    let auth = raw.auth.as_ref().map(|a| {
        let mut c = AuthConfig::default();
        let a = a.get_ref();
        if let Some(env) = &a.admin_key_env {
            c.admin_key_env = env.clone();
        }
        if let Some(ttl) = &a.cache_ttl_ms {
            if *ttl.get_ref() > 60_000 {
                cx.err(Some(ttl), "auth.cache_ttl_ms", "at most 60000 (revocations take this long to be seen)");
            }
            c.cache_ttl = Duration::from_millis(*ttl.get_ref());
        }
        c
    });
    let mut storage = StorageConfig::default();
    let s = &raw.storage;
    if let Some(url) = &s.url {
        let u = url.get_ref();
        if !(u.starts_with("postgres://") || u.starts_with("postgresql://") || u.starts_with("sqlite:")) {
            cx.err(Some(url), "storage.url", "must start with postgres:// or sqlite:");
        }
        storage.url = Some(u.clone());
    }
    if let Some(ms) = &s.usage_flush_ms {
        if !(1..=60_000).contains(ms.get_ref()) {
            cx.err(Some(ms), "storage.usage_flush_ms", "must be between 1 and 60000");
        }
        storage.usage_flush = Duration::from_millis(*ms.get_ref());
    }
    if let Some(q) = &s.usage_queue {
        if !(1..=10_000_000).contains(q.get_ref()) {
            cx.err(Some(q), "storage.usage_queue", "must be between 1 and 10000000");
        }
        storage.usage_queue = usize::try_from(*q.get_ref()).unwrap_or(usize::MAX);
    }
    if let Some(d) = &s.retention_days {
        if *d.get_ref() > 100_000 {
            cx.err(Some(d), "storage.retention_days", "must be between 0 (keep forever) and 100000");
        }
        storage.retention_days = *d.get_ref();
    }
    if let Some(c) = s.capture_bodies {
        storage.capture_bodies = c;
    }
    if let Some(d) = &s.capture_retention_days {
        if *d.get_ref() > 100_000 {
            cx.err(
                Some(d),
                "storage.capture_retention_days",
                "must be between 0 (as long as the usage rows) and 100000",
            );
        }
        storage.capture_retention_days = *d.get_ref();
    }
    let redis = raw.redis.as_ref().map(|r| {
        if let Some(url) = &r.url {
            if !(url.get_ref().starts_with("redis://") || url.get_ref().starts_with("rediss://")) {
                cx.err(Some(url), "redis.url", "must start with redis:// or rediss://");
            }
        }
        RedisConfig {
            url: r.url.as_ref().map(|u| u.get_ref().clone()),
            prefix: r.prefix.clone().unwrap_or_else(|| "crossbar".into()),
        }
    });
    (auth, storage, redis)
}
