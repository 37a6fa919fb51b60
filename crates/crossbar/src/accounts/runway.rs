//! An account's usage windows as the dashboard reads them: when each was last read, and a
//! runway forecast — at the burn rate between the last two different readings of a window,
//! when it reaches 100 %. The rate runs from the moment the previous value was first seen to
//! the latest read, so a quiet spell (same value read again) slows the forecast burn.
//! Kept in memory per account handle (a restart starts again with "not enough data yet").

use super::Window;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub used_percent: f64,
    /// Unix ms when this value was first read.
    pub at_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// `primary` or `secondary`.
    pub name: String,
    /// The value read before the current one (same window), if any.
    pub previous: Option<Reading>,
    /// The current value, since it was first read.
    pub current: Reading,
    /// Unix ms of the latest read (of the current value).
    pub read_at_ms: u64,
    /// Unix seconds, as the latest answer said.
    pub resets_at: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Runway {
    /// One value so far (or the window just started again).
    NotEnoughData,
    /// At 100 % already.
    Exhausted,
    /// Runs out at this unix ms, before the window resets.
    RunsOutAt(u64),
    /// At this burn the window resets (unix seconds) before it runs out.
    LastsUntilReset(u64),
}

impl Track {
    /// Percent per hour between the previous value and the latest read, if it is rising.
    pub fn burn_per_hour(&self) -> Option<f64> {
        let p = self.previous?;
        let dt = self.read_at_ms.checked_sub(p.at_ms).filter(|d| *d > 0)?;
        let rate = (self.current.used_percent - p.used_percent) / dt as f64 * 3_600_000.0;
        (rate.is_finite() && rate > 0.0).then_some(rate)
    }

    pub fn runway(&self) -> Runway {
        if self.current.used_percent >= 100.0 {
            return Runway::Exhausted;
        }
        let Some(rate) = self.burn_per_hour() else { return Runway::NotEnoughData };
        let hours = (100.0 - self.current.used_percent) / rate;
        let at = self.read_at_ms.saturating_add((hours * 3_600_000.0).min(u64::MAX as f64 / 2.0) as u64);
        match self.resets_at {
            Some(r) if r.saturating_mul(1000) <= at => Runway::LastsUntilReset(r),
            _ => Runway::RunsOutAt(at),
        }
    }
}

/// The tracks of one account's windows.
#[derive(Debug, Clone, Default)]
pub struct Tracks(pub Vec<Track>);

impl Tracks {
    /// Take in the windows one answer reported at `now_ms`.
    pub fn observe(&mut self, windows: &[Window], now_ms: u64) {
        for w in windows {
            if !w.used_percent.is_finite() {
                continue;
            }
            let reading = Reading { used_percent: w.used_percent, at_ms: now_ms };
            match self.0.iter_mut().find(|t| t.name == w.name) {
                Some(t) => {
                    if w.used_percent < t.current.used_percent {
                        // Lower than before: a new window started; the old rate says nothing.
                        t.previous = None;
                        t.current = reading;
                    } else if w.used_percent > t.current.used_percent {
                        t.previous = Some(t.current);
                        t.current = reading;
                    }
                    t.read_at_ms = t.read_at_ms.max(now_ms);
                    t.resets_at = w.resets_at;
                }
                None => self.0.push(Track {
                    name: w.name.clone(),
                    previous: None,
                    current: reading,
                    read_at_ms: now_ms,
                    resets_at: w.resets_at,
                }),
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&Track> {
        self.0.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(used: f64, resets_at: Option<u64>) -> Vec<Window> {
        vec![Window { name: "primary".into(), used_percent: used, window_minutes: Some(300), resets_at }]
    }

    const H: u64 = 3_600_000;

    #[test]
    fn one_reading_is_not_enough() {
        let mut t = Tracks::default();
        t.observe(&w(10.0, None), H);
        assert_eq!(t.get("primary").unwrap().runway(), Runway::NotEnoughData);
        // The same value again: still one value, but the read time moves on.
        t.observe(&w(10.0, None), 2 * H);
        let p = t.get("primary").unwrap();
        assert_eq!(p.read_at_ms, 2 * H);
        assert_eq!(p.runway(), Runway::NotEnoughData);
    }

    #[test]
    fn runs_out_at_the_burn_between_the_last_two_readings() {
        let mut t = Tracks::default();
        t.observe(&w(10.0, None), 0);
        t.observe(&w(20.0, None), H);
        // 10 %/h, 80 % left: 8 h after the latest read.
        let p = t.get("primary").unwrap();
        assert_eq!(p.burn_per_hour(), Some(10.0));
        assert_eq!(p.runway(), Runway::RunsOutAt(9 * H));
        // Read again unchanged an hour later: 10 % in 2 h, 80 % left → 16 h after that read.
        t.observe(&w(20.0, None), 2 * H);
        assert_eq!(t.get("primary").unwrap().runway(), Runway::RunsOutAt(18 * H));
        // Only the last two values count: 20 (first read at 1 h) → 60 at 4 h is 40 % in 3 h,
        // 40 % left → 3 h more.
        t.observe(&w(60.0, None), 4 * H);
        assert_eq!(t.get("primary").unwrap().runway(), Runway::RunsOutAt(7 * H));
    }

    #[test]
    fn a_reset_before_running_out_is_said() {
        let mut t = Tracks::default();
        t.observe(&w(10.0, Some(3 * 3600)), 0);
        t.observe(&w(20.0, Some(3 * 3600)), H);
        assert_eq!(t.get("primary").unwrap().runway(), Runway::LastsUntilReset(3 * 3600));
        // A reset after the forecast does not change it.
        t.observe(&w(30.0, Some(100 * 3600)), 2 * H);
        assert_eq!(t.get("primary").unwrap().runway(), Runway::RunsOutAt(9 * H));
    }

    #[test]
    fn exhausted_and_new_windows() {
        let mut t = Tracks::default();
        t.observe(&w(90.0, None), 0);
        t.observe(&w(100.0, None), H);
        assert_eq!(t.get("primary").unwrap().runway(), Runway::Exhausted);
        // The window reset: lower than before, no rate until a second value.
        t.observe(&w(2.0, None), 2 * H);
        let p = t.get("primary").unwrap();
        assert_eq!(p.previous, None);
        assert_eq!(p.runway(), Runway::NotEnoughData);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let mut t = Tracks::default();
        t.observe(&w(f64::NAN, None), 0);
        assert!(t.0.is_empty());
        t.observe(&w(50.0, None), 5);
        t.observe(&w(60.0, None), 5); // same instant: no rate
        assert_eq!(t.get("primary").unwrap().runway(), Runway::NotEnoughData);
        t.observe(&w(60.000001, None), u64::MAX);
        let _ = t.get("primary").unwrap().runway();
        t.observe(&w(-5.0, Some(u64::MAX)), 1);
        let _ = t.get("primary").unwrap().runway();
    }
}
