//! Time for routing decisions: monotonic milliseconds since the process started (cheap to
//! compare and store in atomics), and conversions from the upstream's wall-clock reset times.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// How far `advance` moved this process's routing clock ahead (ms).
static AHEAD: AtomicU64 = AtomicU64::new(0);

/// Monotonic ms since the first call. Starts at 1 so that 0 can mean "never".
pub fn now_ms() -> u64 {
    (base().elapsed().as_millis() as u64 + 1).saturating_add(AHEAD.load(Relaxed))
}

/// Let `by` pass on the routing clock of this whole process (cooldowns, parkings and
/// affinity expire as if it had): for tests of resets and windows without waiting for them.
/// Never moves backwards.
pub fn advance(by: std::time::Duration) {
    AHEAD.fetch_add(by.as_millis().min(u64::MAX as u128) as u64, Relaxed);
}

pub fn unix_now_secs_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Monotonic ms at which `after` from now has passed.
pub fn ms_after(now: u64, after: Duration) -> u64 {
    now.saturating_add(after.as_millis().min(u64::MAX as u128) as u64)
}
