//! Per-key limits: requests per minute (sliding 60 s window), tokens per minute (per
//! calendar minute, from tokens actually used), parallel requests, and a dollar budget per
//! day, month or in total (UTC periods, from actual cost).
//!
//! `admit` runs before routing and returns a `Reservation`; `settle` runs once the request
//! is over, with its real tokens and cost, and releases the parallel slot. Budgets and TPM
//! are checked at admission only: a request that starts under its budget always finishes.
//!
//! Counters live in this process (`local`) or, with `[redis] url`, in Redis (`shared`) so
//! several instances enforce one limit. Fails closed: when Redis cannot be reached, requests
//! are refused with 503 rather than let through unmetered. Spend is seeded from the usage
//! table the first time a key is seen in a period, then kept by `settle`.

mod local;
pub mod period;
mod shared;

use crate::store::{KeyRecord, Store};
use std::time::Duration;

pub const WINDOW_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    /// 429
    Rate,
    /// 402
    Budget,
    /// 503: the limit store is unreachable.
    Unavailable,
}

/// Why a request is refused, with what the rate-limit headers should say.
#[derive(Debug, Clone)]
pub struct Denial {
    pub kind: DenialKind,
    pub message: String,
    /// Seconds until a retry can succeed.
    pub retry_after: Option<u64>,
    /// `(what, limit, remaining, reset seconds)` for `x-ratelimit-*`: what is `requests` or `tokens`.
    pub headers: Option<(&'static str, u64, u64, u64)>,
}

impl Denial {
    fn rate(what: &'static str, limit: u64, reset_ms: i64, message: String) -> Denial {
        let secs = u64::try_from(reset_ms.max(0)).unwrap_or(0).div_ceil(1000).max(1);
        Denial { kind: DenialKind::Rate, message, retry_after: Some(secs), headers: Some((what, limit, 0, secs)) }
    }

    fn unavailable(e: impl std::fmt::Display) -> Denial {
        tracing::error!(error = %e, "limit store unavailable");
        Denial {
            kind: DenialKind::Unavailable,
            message: "the limit store is unavailable; try again".into(),
            retry_after: Some(1),
            headers: None,
        }
    }
}

/// What `admit` took, handed back to `settle`.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub key_id: String,
    parallel: bool,
    tpm: bool,
    /// The budget period's start (unix ms) when the key has a budget.
    budget_start: Option<i64>,
}

pub enum Limiter {
    Local(local::Local),
    Shared(Box<shared::Shared>),
}

impl Limiter {
    pub fn local() -> Limiter {
        Limiter::Local(local::Local::default())
    }

    /// Counters in Redis (keys under its prefix).
    pub fn redis(redis: std::sync::Arc<crate::redis_conn::RedisConn>) -> Limiter {
        Limiter::Shared(Box::new(shared::Shared::new(redis)))
    }

    /// Check every limit of `key` and take a request slot; `now` is unix ms.
    pub async fn admit(&self, key: &KeyRecord, store: &Store, now: i64) -> Result<Reservation, Denial> {
        let l = &key.limits;
        let budget_start = l.budget_usd.map(|_| period::start(l.budget_period, now));
        if let (Some(budget), Some(start)) = (l.budget_usd, budget_start) {
            let spent = match self {
                Limiter::Local(s) => s.spend(&key.id, start, store).await.map_err(anyhow::Error::from),
                Limiter::Shared(s) => s.spend(&key.id, start, l.budget_period, store).await,
            }
            .map_err(Denial::unavailable)?;
            if spent >= budget {
                return Err(Denial {
                    kind: DenialKind::Budget,
                    message: format!(
                        "this key's {} budget of ${budget:.2} is spent (${spent:.4} used)",
                        l.budget_period.name()
                    ),
                    retry_after: None,
                    headers: None,
                });
            }
        }
        let r = Reservation {
            key_id: key.id.clone(),
            parallel: l.max_parallel.is_some(),
            tpm: l.tpm.is_some(),
            budget_start,
        };
        match self {
            Limiter::Local(s) => s.admit(key, now)?,
            Limiter::Shared(s) => s.admit(key, now).await?,
        }
        Ok(r)
    }

    /// The request is over: count its tokens and cost, release its parallel slot.
    pub async fn settle(&self, r: Reservation, tokens: u64, cost: f64, now: i64) {
        match self {
            Limiter::Local(s) => s.settle(&r, tokens, cost, now),
            Limiter::Shared(s) => {
                if let Err(e) = s.settle(&r, tokens, cost, now).await {
                    tracing::error!(error = %e, "settling limits in redis failed");
                }
            }
        }
    }

    /// Check Redis is reachable (at start).
    pub async fn ready(&self) -> anyhow::Result<()> {
        match self {
            Limiter::Local(_) => Ok(()),
            Limiter::Shared(s) => s.ping().await,
        }
    }
}

/// How long a shared counter for a budget period is kept after its last write.
fn period_ttl(p: crate::store::Period) -> Duration {
    match p {
        crate::store::Period::Day => Duration::from_secs(2 * 86_400),
        crate::store::Period::Month => Duration::from_secs(32 * 86_400),
        crate::store::Period::Total => Duration::from_secs(7 * 86_400),
    }
}
