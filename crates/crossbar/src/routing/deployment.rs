//! One deployment (a provider + upstream model under a model name) and its live state:
//! health, requests in flight, time-to-first-token EWMA, remaining quota, and this instance's
//! per-minute request/token counts for `rpm`/`tpm` caps.
//!
//! State is shared by every route that names the same `provider/model` and kept in atomics;
//! updates race benignly (a lost EWMA sample or a one-off window count is acceptable).
//! Must never: do I/O or block.

use super::health::{Availability, Health};
use super::upstream_limits::Limits;
use super::Target;
use crate::config;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Quota fraction stored as parts per million; `UNKNOWN` when no header reported one.
const UNKNOWN: u32 = u32::MAX;
const EWMA_ALPHA: f64 = 0.3;

#[derive(Debug)]
pub struct DeploymentState {
    pub health: Health,
    inflight: AtomicU32,
    /// f64 bits of the TTFT EWMA in ms; 0 = no sample yet.
    ttft_ewma: AtomicU64,
    headroom_ppm: AtomicU32,
    /// When the reported headroom stops being true (the window resets), ms.
    headroom_until: AtomicU64,
    /// Minute index of the rpm/tpm window and its counts.
    window: AtomicU64,
    window_requests: AtomicU32,
    window_tokens: AtomicU64,
    /// Until when (ms) the upstream is known not to serve this model (a ChatGPT account whose
    /// plan lacks it, a provider without it); 0 = serves it, as far as anyone knows.
    unserved_until: AtomicU64,
    pub last_error: std::sync::Mutex<Option<String>>,
}

impl Default for DeploymentState {
    fn default() -> Self {
        DeploymentState {
            health: Health::default(),
            inflight: AtomicU32::new(0),
            ttft_ewma: AtomicU64::new(0),
            headroom_ppm: AtomicU32::new(UNKNOWN),
            headroom_until: AtomicU64::new(0),
            window: AtomicU64::new(0),
            window_requests: AtomicU32::new(0),
            window_tokens: AtomicU64::new(0),
            unserved_until: AtomicU64::new(0),
            last_error: std::sync::Mutex::new(None),
        }
    }
}

impl DeploymentState {
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Relaxed)
    }

    /// TTFT EWMA in ms, 0 when never measured (so unmeasured deployments get tried first).
    pub fn ttft_ms(&self) -> f64 {
        f64::from_bits(self.ttft_ewma.load(Relaxed))
    }

    pub fn record_ttft(&self, d: Duration) {
        let sample = d.as_secs_f64() * 1000.0;
        let old = self.ttft_ms();
        let new = if old == 0.0 { sample.max(0.001) } else { old + EWMA_ALPHA * (sample - old) };
        self.ttft_ewma.store(new.to_bits(), Relaxed);
    }

    /// Remaining quota 0..=1; 1 when unknown or when the reported window has reset.
    pub fn headroom(&self, now: u64) -> f64 {
        let ppm = self.headroom_ppm.load(Relaxed);
        if ppm == UNKNOWN {
            return 1.0;
        }
        let until = self.headroom_until.load(Relaxed);
        if until != 0 && now >= until {
            return 1.0;
        }
        f64::from(ppm) / 1_000_000.0
    }

    /// Take in what a response's headers said about the upstream's limits.
    pub fn observe_limits(&self, l: &Limits, now: u64) {
        if let Some(r) = l.remaining {
            self.headroom_ppm.store((r * 1_000_000.0) as u32, Relaxed);
            self.headroom_until.store(l.remaining_reset.map_or(0, |d| super::clock::ms_after(now, d)), Relaxed);
        }
        if let Some(d) = l.exhausted_for.filter(|d| !d.is_zero()) {
            self.health.park(super::clock::ms_after(now, d));
        }
    }

    fn minute(now: u64) -> u64 {
        now / 60_000
    }

    /// Under its `rpm`, `tpm` and `max_parallel` caps?
    pub fn has_capacity(&self, s: &config::Target, now: u64, tokens: u64) -> bool {
        if s.max_parallel.is_some_and(|m| self.inflight() >= m) {
            return false;
        }
        if s.rpm.is_none() && s.tpm.is_none() {
            return true;
        }
        let same = self.window.load(Relaxed) == Self::minute(now);
        let (reqs, toks) =
            if same { (self.window_requests.load(Relaxed), self.window_tokens.load(Relaxed)) } else { (0, 0) };
        s.rpm.is_none_or(|r| reqs < r) && s.tpm.is_none_or(|t| toks == 0 || toks + tokens <= t)
    }

    fn count(&self, now: u64, tokens: u64) {
        let m = Self::minute(now);
        if self.window.swap(m, Relaxed) != m {
            self.window_requests.store(0, Relaxed);
            self.window_tokens.store(0, Relaxed);
        }
        self.window_requests.fetch_add(1, Relaxed);
        self.window_tokens.fetch_add(tokens, Relaxed);
    }

    /// Whether the upstream may serve the model (not refused as unknown within the hour).
    pub fn serves(&self, now: u64) -> bool {
        now >= self.unserved_until.load(Relaxed)
    }

    /// The upstream said it does not serve this model: leave it out for `for_ms`.
    pub fn mark_unserved(&self, now: u64, for_ms: u64) {
        self.unserved_until.store(now.saturating_add(for_ms), Relaxed);
    }

    pub fn set_last_error(&self, e: String) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub target: Target,
    pub settings: config::Target,
    pub state: Arc<DeploymentState>,
}

impl Deployment {
    /// A stable identity of this deployment within the process: its shared state's address
    /// (the same `provider/model` in every route and every rebuilt table).
    pub fn tag(&self) -> u64 {
        Arc::as_ptr(&self.state) as usize as u64
    }

    /// `provider/model`, as the upstream knows it (the shared affinity record in Redis).
    pub fn is_named(&self, name: &str) -> bool {
        name.split_once('/').is_some_and(|(p, m)| p == self.target.provider.name() && m == self.target.model)
    }

    /// Whether the chooser may take it now (serves the model, health and caps).
    pub fn usable(&self, now: u64, tokens: u64) -> bool {
        self.state.serves(now)
            && matches!(self.state.health.availability(now), Availability::Ready | Availability::Probe)
            && self.state.has_capacity(&self.settings, now, tokens)
    }

    /// Start an attempt: counts it in flight and in the rpm/tpm window, claims the half-open
    /// probe if that is what this attempt is.
    pub fn begin(&self, now: u64, tokens: u64) -> InFlight {
        let probe = self.state.health.availability(now) == Availability::Probe && self.state.health.begin_probe();
        self.state.inflight.fetch_add(1, Relaxed);
        self.state.count(now, tokens);
        InFlight { state: self.state.clone(), probe, settled: false }
    }
}

/// One attempt in flight; dropping it ends it. A probe dropped without a verdict is released.
#[derive(Debug)]
pub struct InFlight {
    pub state: Arc<DeploymentState>,
    probe: bool,
    settled: bool,
}

impl InFlight {
    pub fn settle(&mut self) {
        self.settled = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.inflight.fetch_sub(1, Relaxed);
        if self.probe && !self.settled {
            self.state.health.abandon_probe();
        }
    }
}
