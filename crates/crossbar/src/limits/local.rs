//! In-process counters (one instance, or no Redis configured).

use super::{Denial, Reservation, WINDOW_MS};
use crate::store::{KeyRecord, Store, StoreError};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[derive(Default)]
struct KeyState {
    /// Admission times (unix ms) within the last minute.
    rpm: VecDeque<i64>,
    tpm_minute: i64,
    tpm_used: u64,
    parallel: u32,
    /// Spend per budget period start.
    spend: HashMap<i64, f64>,
}

#[derive(Default)]
pub struct Local {
    keys: Mutex<HashMap<String, KeyState>>,
}

impl Local {
    fn with<T>(&self, id: &str, f: impl FnOnce(&mut KeyState) -> T) -> T {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        f(keys.entry(id.to_string()).or_default())
    }

    /// The key's spend in its current budget period (`None` without a budget).
    pub async fn spend_of(&self, key: &KeyRecord, now: i64, store: &Store) -> Result<Option<f64>, StoreError> {
        match key.limits.budget_usd {
            Some(_) => Ok(Some(self.spend(&key.id, super::period::start(key.limits.budget_period, now), store).await?)),
            None => Ok(None),
        }
    }

    pub async fn spend(&self, id: &str, start: i64, store: &Store) -> Result<f64, StoreError> {
        if let Some(v) = self.with(id, |k| k.spend.get(&start).copied()) {
            return Ok(v);
        }
        let seeded = store.spend(id, start).await?;
        Ok(self.with(id, |k| {
            k.spend.retain(|s, _| *s >= start);
            *k.spend.entry(start).or_insert(seeded)
        }))
    }

    pub fn admit(&self, key: &KeyRecord, now: i64) -> Result<(), Denial> {
        let l = &key.limits;
        self.with(&key.id, |k| {
            if let Some(tpm) = l.tpm {
                let minute = now.div_euclid(WINDOW_MS);
                if k.tpm_minute != minute {
                    k.tpm_minute = minute;
                    k.tpm_used = 0;
                }
                if k.tpm_used >= tpm {
                    let reset = (minute + 1) * WINDOW_MS - now;
                    return Err(Denial::rate(
                        "tokens",
                        tpm,
                        reset,
                        format!("this key's limit of {tpm} tokens per minute is reached"),
                    ));
                }
            }
            if let Some(rpm) = l.rpm {
                while k.rpm.front().is_some_and(|t| *t <= now - WINDOW_MS) {
                    k.rpm.pop_front();
                }
                if k.rpm.len() >= rpm as usize {
                    let reset = k.rpm.front().map_or(WINDOW_MS, |t| t + WINDOW_MS - now);
                    return Err(Denial::rate(
                        "requests",
                        u64::from(rpm),
                        reset,
                        format!("this key's limit of {rpm} requests per minute is reached"),
                    ));
                }
            }
            if let Some(max) = l.max_parallel {
                if k.parallel >= max {
                    return Err(Denial::rate(
                        "requests",
                        u64::from(max),
                        1000,
                        format!("this key already has {max} requests in flight"),
                    ));
                }
                k.parallel += 1;
            }
            if l.rpm.is_some() {
                k.rpm.push_back(now);
            }
            Ok(())
        })
    }

    pub fn settle(&self, r: &Reservation, tokens: u64, cost: f64, now: i64) {
        self.with(&r.key_id, |k| {
            if r.parallel {
                k.parallel = k.parallel.saturating_sub(1);
            }
            if r.tpm {
                let minute = now.div_euclid(WINDOW_MS);
                if k.tpm_minute != minute {
                    k.tpm_minute = minute;
                    k.tpm_used = 0;
                }
                k.tpm_used = k.tpm_used.saturating_add(tokens);
            }
            if let Some(start) = r.budget_start {
                if let Some(s) = k.spend.get_mut(&start) {
                    *s += cost;
                }
            }
        })
    }
}
