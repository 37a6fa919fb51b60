//! Passive health of one deployment: a circuit breaker fed by the attempt loop's outcomes.
//!
//! Closed (serving) → after `failures_to_cooldown` consecutive failures → cooldown for
//! `cooldown`, then half-open: exactly one probe request may go; its success closes the
//! breaker, its failure starts another cooldown. A rate limit (429, usage limit, exhausted
//! quota) *parks* the deployment until the upstream's reset time; parking is not a failure and
//! ends without a probe. All state is atomics: reads on the hot path never lock.
//! Must never: sleep or do I/O; decide anything about requests (that is `attempt`'s).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

const READY: u8 = 0;
const COOLDOWN: u8 = 1;
const PARKED: u8 = 2;

#[derive(Debug, Default)]
pub struct Health {
    failures: AtomicU32,
    /// Monotonic ms (see `clock`) until which the deployment is not chosen.
    until: AtomicU64,
    state: AtomicU8,
    probing: AtomicBool,
}

/// Whether a deployment may be chosen now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Ready,
    /// Cooldown over: one probe may go (the chooser calls `begin_probe`).
    Probe,
    /// Failing: not before this time (ms).
    CoolingUntil(u64),
    /// Rate limited: not before this time (ms).
    ParkedUntil(u64),
}

impl Health {
    pub fn availability(&self, now: u64) -> Availability {
        let state = self.state.load(Relaxed);
        if state == READY {
            return Availability::Ready;
        }
        let until = self.until.load(Relaxed);
        match state {
            PARKED if now < until => Availability::ParkedUntil(until),
            PARKED => Availability::Ready,
            _ if now < until => Availability::CoolingUntil(until),
            // Half-open: while the probe is out, others wait a little longer.
            _ if self.probing.load(Relaxed) => Availability::CoolingUntil(now + 1),
            _ => Availability::Probe,
        }
    }

    /// Claim the half-open probe; false when another request already holds it.
    pub fn begin_probe(&self) -> bool {
        self.probing.compare_exchange(false, true, Relaxed, Relaxed).is_ok()
    }

    /// The probe ended without a verdict (client went away): let another one go.
    pub fn abandon_probe(&self) {
        self.probing.store(false, Relaxed);
    }

    pub fn success(&self) {
        self.failures.store(0, Relaxed);
        if self.state.load(Relaxed) != READY {
            self.state.store(READY, Relaxed);
            self.until.store(0, Relaxed);
        }
        self.probing.store(false, Relaxed);
    }

    /// A failure (connect error, 5xx, timeout). Returns true when it opened the breaker.
    pub fn failure(&self, now: u64, threshold: u32, cooldown_ms: u64) -> bool {
        let n = self.failures.fetch_add(1, Relaxed).saturating_add(1);
        let was_probe = self.probing.swap(false, Relaxed);
        if n >= threshold || was_probe || self.state.load(Relaxed) == COOLDOWN {
            self.until.store(now.saturating_add(cooldown_ms), Relaxed);
            self.state.store(COOLDOWN, Relaxed);
            return true;
        }
        false
    }

    /// Rate limited until `until` (ms). Never shortens an existing park.
    pub fn park(&self, until: u64) {
        self.probing.store(false, Relaxed);
        if self.state.load(Relaxed) == PARKED && self.until.load(Relaxed) >= until {
            return;
        }
        self.until.store(until, Relaxed);
        self.state.store(PARKED, Relaxed);
    }

    /// Another instance's breaker opened until `until` (ms): cool here as well, unless parked
    /// or cooling longer already. The failure count is this instance's own.
    pub fn cool_until(&self, until: u64) {
        let state = self.state.load(Relaxed);
        if state != READY && self.until.load(Relaxed) >= until {
            return;
        }
        self.probing.store(false, Relaxed);
        self.until.store(until, Relaxed);
        self.state.store(COOLDOWN, Relaxed);
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.failures.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_probes_once_and_closes() {
        let h = Health::default();
        assert!(!h.failure(0, 2, 100));
        assert_eq!(h.availability(0), Availability::Ready);
        assert!(h.failure(10, 2, 100));
        assert_eq!(h.availability(50), Availability::CoolingUntil(110));
        assert_eq!(h.availability(110), Availability::Probe);
        assert!(h.begin_probe());
        assert!(!h.begin_probe(), "one probe at a time");
        assert!(matches!(h.availability(111), Availability::CoolingUntil(_)));
        // The probe fails: another full cooldown.
        assert!(h.failure(120, 2, 100));
        assert_eq!(h.availability(150), Availability::CoolingUntil(220));
        assert_eq!(h.availability(220), Availability::Probe);
        assert!(h.begin_probe());
        h.success();
        assert_eq!(h.availability(221), Availability::Ready);
        assert_eq!(h.consecutive_failures(), 0);
    }

    #[test]
    fn a_cooldown_learnt_elsewhere_cools_here_then_probes() {
        let h = Health::default();
        h.cool_until(300);
        assert_eq!(h.availability(100), Availability::CoolingUntil(300));
        assert_eq!(h.availability(300), Availability::Probe);
        assert_eq!(h.consecutive_failures(), 0);
        // A longer park is not shortened by it.
        h.park(1_000);
        h.cool_until(500);
        assert_eq!(h.availability(400), Availability::ParkedUntil(1_000));
    }

    #[test]
    fn parking_ends_by_itself_and_never_shortens() {
        let h = Health::default();
        h.park(500);
        h.park(300);
        assert_eq!(h.availability(400), Availability::ParkedUntil(500));
        assert_eq!(h.availability(500), Availability::Ready);
    }
}
