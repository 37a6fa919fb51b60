//! Overflow: "subscription first, pay-as-you-go after". A route's deployments are its primary
//! side (`targets`, typically a ChatGPT account pool) followed by its overflow side
//! (`overflow`, API-key deployments). New conversations go to the overflow side only while it
//! is open: every primary deployment is exhausted (parked on a spent usage window or a rate
//! limit until its reset) or, with `overflow_on = "unavailable"`, also cooling, failing or not
//! serving the model. A conversation keeps the side it started on while its affinity lives
//! (the deployment remembered by `sticky`), so its prompt cache stays where it is; a primary
//! conversation whose accounts are all spent overflows rather than being refused. When the
//! windows reset the parking ends, the side closes, and new conversations go back to the
//! primary side.
//! Must never: lock, allocate or do I/O (it runs once per attempt).

use super::health::Availability;
use super::Route;
use crate::config::OverflowOn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Primary,
    Overflow,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Primary => "primary",
            Side::Overflow => "overflow",
        }
    }
}

/// Why the overflow side is open.
pub const EXHAUSTED: &str = "every subscription account's usage window is spent";
pub const UNAVAILABLE: &str = "every subscription account is unavailable (cooling, parked or failing)";
pub const EMPTY: &str = "the subscription pool has no accounts";
/// Why a request stays on the primary side.
pub const HAS_QUOTA: &str = "a subscription account has quota left";
pub const KEPT_PRIMARY: &str = "the conversation started on the primary side";
pub const KEPT_OVERFLOW: &str = "the conversation started on the overflow side (kept until its affinity expires)";
pub const NO_OVERFLOW: &str = "no overflow deployment was usable";

/// The sides one attempt may use: the preferred one, and whether the overflow side is open.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub side: Side,
    /// Why the overflow side is open (`None`: closed).
    pub open: Option<&'static str>,
    /// The side comes from the conversation's affinity.
    pub kept: bool,
    primary: usize,
}

impl Plan {
    fn side_of(&self, i: usize) -> Side {
        if i < self.primary {
            Side::Primary
        } else {
            Side::Overflow
        }
    }

    /// Deployment `i` is on the preferred side.
    pub fn prefers(&self, i: usize) -> bool {
        self.side_of(i) == self.side
    }

    /// Deployment `i` may be used at all (the overflow side only while open).
    pub fn allows(&self, i: usize) -> bool {
        i < self.primary || self.open.is_some()
    }

    /// The side of deployment `i` and why this request is there.
    pub fn explain(&self, i: usize) -> (Side, &'static str) {
        let side = self.side_of(i);
        let why = match (side, self.side, self.kept) {
            (Side::Overflow, Side::Overflow, true) => KEPT_OVERFLOW,
            (Side::Overflow, _, _) => self.open.unwrap_or(EXHAUSTED),
            (Side::Primary, Side::Primary, true) => KEPT_PRIMARY,
            (Side::Primary, Side::Primary, false) => HAS_QUOTA,
            (Side::Primary, Side::Overflow, _) => NO_OVERFLOW,
        };
        (side, why)
    }
}

impl Route {
    /// Whether the route names overflow deployments.
    pub fn has_overflow(&self) -> bool {
        self.primary < self.deployments.len()
    }

    pub fn side_of(&self, i: usize) -> Side {
        if i < self.primary {
            Side::Primary
        } else {
            Side::Overflow
        }
    }

    /// Why the overflow side is open at `now`, if it is (always closed without overflow).
    pub fn overflow_open(&self, now: u64) -> Option<&'static str> {
        if !self.has_overflow() {
            return None;
        }
        let primary = &self.deployments[..self.primary];
        if primary.is_empty() {
            return Some(EMPTY);
        }
        let parked = |a: Availability| matches!(a, Availability::ParkedUntil(_));
        if primary.iter().all(|d| parked(d.state.health.availability(now))) {
            return Some(EXHAUSTED);
        }
        let down = |d: &super::Deployment| {
            !d.state.serves(now)
                || !matches!(d.state.health.availability(now), Availability::Ready | Availability::Probe)
        };
        (self.overflow_on == OverflowOn::Unavailable && primary.iter().all(down)).then_some(UNAVAILABLE)
    }

    /// The sides for an attempt at `now` of a conversation last served by `recalled`.
    pub fn plan(&self, now: u64, recalled: Option<usize>) -> Plan {
        let open = self.overflow_open(now);
        let (side, kept) = match recalled.filter(|i| *i < self.deployments.len() && self.has_overflow()) {
            Some(i) => (self.side_of(i), true),
            None if open.is_some() => (Side::Overflow, false),
            None => (Side::Primary, false),
        };
        Plan { side, open, kept, primary: self.primary }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Strategy, Target as TargetSettings};
    use crate::routing::{deployment::Deployment, Target};
    use std::sync::Arc;

    fn route(primary: usize, overflow: usize, on: OverflowOn) -> Route {
        let dep = |name: String| Deployment {
            target: Target::detached(&name, "m"),
            settings: TargetSettings::new(&name, "m"),
            state: Arc::default(),
        };
        let mut deployments: Vec<Deployment> = (0..primary).map(|i| dep(format!("acct{i}"))).collect();
        deployments.extend((0..overflow).map(|i| dep(format!("paid{i}"))));
        Route {
            name: "r".into(),
            deployments,
            primary,
            overflow_on: on,
            strategy: Strategy::Priority,
            fallbacks: Vec::new(),
            retries: 1,
            sticky: true,
            affinity: Arc::default(),
        }
    }

    #[test]
    fn the_overflow_side_opens_when_every_account_is_spent_and_closes_at_the_reset() {
        let r = route(2, 1, OverflowOn::Exhausted);
        assert_eq!(r.overflow_open(10), None);
        r.deployments[0].state.health.park(1_000);
        assert_eq!(r.overflow_open(10), None, "one account still has quota");
        r.deployments[1].state.health.park(2_000);
        assert_eq!(r.overflow_open(10), Some(EXHAUSTED));
        let p = r.plan(10, None);
        assert_eq!(p.side, Side::Overflow);
        assert!(p.allows(2) && !p.prefers(0));
        assert_eq!(p.explain(2), (Side::Overflow, EXHAUSTED));
        // Both windows reset: new conversations go back; an overflow conversation stays.
        assert_eq!(r.overflow_open(2_000), None);
        assert_eq!(r.plan(2_000, None).side, Side::Primary);
        let kept = r.plan(2_000, Some(2));
        assert_eq!((kept.side, kept.explain(2)), (Side::Overflow, (Side::Overflow, KEPT_OVERFLOW)));
        assert!(!r.plan(2_000, None).allows(2), "a closed side is not used at all");
    }

    #[test]
    fn cooling_overflows_only_when_asked_and_no_overflow_means_one_side() {
        let r = route(1, 1, OverflowOn::Exhausted);
        r.deployments[0].state.health.failure(5, 1, 1_000);
        assert_eq!(r.overflow_open(10), None, "a failing account is not a spent one");
        let u = route(1, 1, OverflowOn::Unavailable);
        u.deployments[0].state.health.failure(5, 1, 1_000);
        assert_eq!(u.overflow_open(10), Some(UNAVAILABLE));
        let plain = route(2, 0, OverflowOn::Exhausted);
        plain.deployments[0].state.health.park(1_000);
        plain.deployments[1].state.health.park(1_000);
        assert_eq!(plain.overflow_open(10), None);
        let p = plain.plan(10, Some(1));
        assert!(p.prefers(0) && p.prefers(1) && !p.kept);
        assert_eq!(route(0, 1, OverflowOn::Exhausted).overflow_open(1), Some(EMPTY));
    }
}
