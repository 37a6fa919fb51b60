//! Per-key limits: requests per minute (sliding 60 s window), tokens per minute (per
//! calendar minute, from tokens actually used), parallel requests, and a dollar budget per
//! day, month or in total (UTC periods, from actual cost).
//!
//! `admit` runs before routing and returns a `Reservation`; `settle` runs once the request
//! is over, with its real tokens and cost, and releases the parallel slot. Budgets and TPM
//! are checked at admission only: a request that starts under its budget always finishes.
//!
//! Counters live in this process (`local`) or, with `[redis] url`, in Redis (`shared`) so
//! several instances enforce one limit. Never unmetered: when Redis does not answer within
//! `REDIS_DEADLINE` (down, slow, restarting), the request is admitted against this instance's
//! own counters instead (`fallback` on the reservation, counted in
//! `crossbar_limit_fallbacks_total`); only when even the usage table cannot seed a budget is
//! it refused with 503. Spend is seeded from the usage table the first time a key is seen in a
//! period, then kept by `settle`.
//!
//! Cancellation safety: a Redis admission runs in its own task, so a request dropped while
//! waiting for Redis (or past the deadline) cannot strand the parallel slot the script took:
//! an admission nobody received is given back at once.

mod local;
pub mod period;
mod shared;

use crate::store::{KeyRecord, Store};
use std::sync::Arc;
use std::time::Duration;

/// How long admission waits for Redis before using this instance's own counters.
pub const REDIS_DEADLINE: Duration = Duration::from_millis(250);

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
    /// Taken from this instance's counters because Redis did not answer in time.
    pub fallback: bool,
}

pub enum Limiter {
    Local(local::Local),
    /// Redis, and this instance's counters for when Redis does not answer.
    Shared(Arc<shared::Shared>, local::Local),
}

impl Limiter {
    pub fn local() -> Limiter {
        Limiter::Local(local::Local::default())
    }

    /// Counters in Redis (keys under its prefix).
    pub fn redis(redis: Arc<crate::redis_conn::RedisConn>) -> Limiter {
        Limiter::Shared(Arc::new(shared::Shared::new(redis)), local::Local::default())
    }

    /// Check every limit of `key` and take a request slot; `now` is unix ms.
    pub async fn admit(&self, key: &Arc<KeyRecord>, store: &Store, now: i64) -> Result<Reservation, Denial> {
        match self {
            Limiter::Local(l) => admit_local(l, key, store, now, false).await,
            Limiter::Shared(s, fallback) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let (shared, key2, store2) = (s.clone(), key.clone(), store.clone());
                tokio::spawn(async move {
                    let result = admit_shared(&shared, &key2, &store2, now).await;
                    if let Err(Ok(r)) = tx.send(result) {
                        // Nobody is waiting any more (deadline passed, client gone): give the
                        // slot back rather than strand it.
                        if let Err(e) = shared.settle(&r, 0, 0.0, now).await {
                            tracing::warn!(error = %e, "returning an unclaimed redis admission failed");
                        }
                    }
                });
                match tokio::time::timeout(REDIS_DEADLINE, rx).await {
                    Ok(Ok(Ok(r))) => Ok(r),
                    Ok(Ok(Err(d))) if d.kind != DenialKind::Unavailable => Err(d),
                    _ => {
                        tracing::warn!(key = %key.id, "redis did not admit in time; using this instance's counters");
                        admit_local(fallback, key, store, now, true).await
                    }
                }
            }
        }
    }

    /// The request is over: count its tokens and cost, release its parallel slot.
    pub async fn settle(&self, r: Reservation, tokens: u64, cost: f64, now: i64) {
        match self {
            Limiter::Local(s) => s.settle(&r, tokens, cost, now),
            Limiter::Shared(_, fallback) if r.fallback => fallback.settle(&r, tokens, cost, now),
            Limiter::Shared(s, _) => {
                let settled = tokio::time::timeout(REDIS_DEADLINE * 8, s.settle(&r, tokens, cost, now)).await;
                match settled {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "settling limits in redis failed"),
                    Err(_) => tracing::error!("settling limits in redis timed out"),
                }
            }
        }
    }

    /// Settle without waiting: in place for local counters, in a task for Redis.
    pub fn settle_soon(self: &Arc<Self>, r: Reservation, tokens: u64, cost: f64, now: i64) {
        match &**self {
            Limiter::Local(l) => l.settle(&r, tokens, cost, now),
            Limiter::Shared(_, fallback) if r.fallback => fallback.settle(&r, tokens, cost, now),
            Limiter::Shared(..) => {
                if let Ok(h) = tokio::runtime::Handle::try_current() {
                    let me = self.clone();
                    h.spawn(async move { me.settle(r, tokens, cost, now).await });
                }
            }
        }
    }

    /// Check Redis is reachable (at start).
    pub async fn ready(&self) -> anyhow::Result<()> {
        match self {
            Limiter::Local(_) => Ok(()),
            Limiter::Shared(s, _) => s.ping().await,
        }
    }
}

/// Budget, then rate and parallel limits, on this instance's counters.
async fn admit_local(
    l: &local::Local,
    key: &KeyRecord,
    store: &Store,
    now: i64,
    fallback: bool,
) -> Result<Reservation, Denial> {
    let budget_start = check_budget(key, now, l.spend_of(key, now, store).await.map_err(Denial::unavailable)?)?;
    l.admit(key, now)?;
    Ok(reservation(key, budget_start, fallback))
}

/// Budget, then rate and parallel limits, in Redis.
async fn admit_shared(s: &shared::Shared, key: &KeyRecord, store: &Store, now: i64) -> Result<Reservation, Denial> {
    let spent = match (key.limits.budget_usd, key.limits.budget_period) {
        (Some(_), p) => Some(s.spend(&key.id, period::start(p, now), p, store).await.map_err(Denial::unavailable)?),
        (None, _) => None,
    };
    let budget_start = check_budget(key, now, spent)?;
    s.admit(key, now).await?;
    Ok(reservation(key, budget_start, false))
}

/// 402 when the key's budget is spent; else the period start to settle against.
fn check_budget(key: &KeyRecord, now: i64, spent: Option<f64>) -> Result<Option<i64>, Denial> {
    let l = &key.limits;
    let (Some(budget), Some(spent)) = (l.budget_usd, spent) else { return Ok(None) };
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
    Ok(Some(period::start(l.budget_period, now)))
}

fn reservation(key: &KeyRecord, budget_start: Option<i64>, fallback: bool) -> Reservation {
    let l = &key.limits;
    Reservation {
        key_id: key.id.clone(),
        parallel: l.max_parallel.is_some(),
        tpm: l.tpm.is_some(),
        budget_start,
        fallback,
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
