//! Counters in Redis, shared by every instance pointed at it. Admission is one Lua script
//! (check TPM, check and take RPM and the parallel slot atomically), so concurrent requests
//! on many instances cannot overshoot a limit. Keys: `<prefix>:rpm:<id>` (sorted set of
//! admissions), `<prefix>:tpm:<id>:<minute>`, `<prefix>:par:<id>`, `<prefix>:spend:<id>:<start>`.
//!
//! A crashed instance can leave parallel slots taken; the counter expires an hour after its
//! last use.

use super::{Denial, Reservation, WINDOW_MS};
use crate::redis_conn::RedisConn;
use crate::store::{KeyRecord, Period, Store};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::sync::Arc;

const ADMIT: &str = r"
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local rpm = tonumber(ARGV[3])
local tpm = tonumber(ARGV[4])
local par = tonumber(ARGV[5])
if tpm >= 0 then
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used >= tpm then return {2, 0} end
end
if rpm >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
  local n = redis.call('ZCARD', KEYS[1])
  if n >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    local t = tonumber(oldest[2] or now)
    return {1, t + win - now}
  end
end
if par >= 0 then
  local n = tonumber(redis.call('GET', KEYS[3]) or '0')
  if n >= par then return {3, 0} end
  redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], 3600)
end
if rpm >= 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[6])
  redis.call('PEXPIRE', KEYS[1], win)
end
return {0, 0}
";

const SETTLE: &str = r"
if ARGV[1] == '1' then
  local n = redis.call('DECR', KEYS[1])
  if n < 0 then redis.call('SET', KEYS[1], 0) end
end
if tonumber(ARGV[2]) > 0 then
  redis.call('INCRBY', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], 120)
end
if tonumber(ARGV[3]) > 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('INCRBYFLOAT', KEYS[3], ARGV[3])
end
return 0
";

pub struct Shared {
    redis: Arc<RedisConn>,
    admit: Script,
    settle: Script,
}

impl Shared {
    pub fn new(redis: Arc<RedisConn>) -> Shared {
        Shared { redis, admit: Script::new(ADMIT), settle: Script::new(SETTLE) }
    }

    async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        self.redis.conn().await
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        self.redis.ping().await
    }

    fn k(&self, what: &str, id: &str) -> String {
        self.redis.key(what, id)
    }

    pub async fn spend(&self, id: &str, start: i64, period: Period, store: &Store) -> anyhow::Result<f64> {
        let key = format!("{}:{start}", self.k("spend", id));
        let mut c = self.conn().await?;
        let v: Option<f64> = c.get(&key).await?;
        if let Some(v) = v {
            return Ok(v);
        }
        let seeded = store.spend(id, start).await?;
        let ttl = super::period_ttl(period).as_secs();
        let _: Option<String> =
            redis::cmd("SET").arg(&key).arg(seeded).arg("NX").arg("EX").arg(ttl).query_async(&mut c).await?;
        let v: Option<f64> = c.get(&key).await?;
        Ok(v.unwrap_or(seeded))
    }

    pub async fn admit(&self, key: &KeyRecord, now: i64) -> Result<(), Denial> {
        let l = &key.limits;
        let opt = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
        let minute = now.div_euclid(WINDOW_MS);
        let mut c = self.conn().await.map_err(Denial::unavailable)?;
        let (code, reset): (i64, i64) = self
            .admit
            .key(self.k("rpm", &key.id))
            .key(format!("{}:{minute}", self.k("tpm", &key.id)))
            .key(self.k("par", &key.id))
            .arg(now)
            .arg(WINDOW_MS)
            .arg(opt(l.rpm.map(u64::from)))
            .arg(opt(l.tpm))
            .arg(opt(l.max_parallel.map(u64::from)))
            .arg(uuid::Uuid::new_v4().simple().to_string())
            .invoke_async(&mut c)
            .await
            .map_err(Denial::unavailable)?;
        match code {
            0 => Ok(()),
            1 => {
                let rpm = l.rpm.unwrap_or(0);
                Err(Denial::rate(
                    "requests",
                    u64::from(rpm),
                    reset,
                    format!("this key's limit of {rpm} requests per minute is reached"),
                ))
            }
            2 => {
                let tpm = l.tpm.unwrap_or(0);
                let reset = (minute + 1) * WINDOW_MS - now;
                Err(Denial::rate(
                    "tokens",
                    tpm,
                    reset,
                    format!("this key's limit of {tpm} tokens per minute is reached"),
                ))
            }
            _ => {
                let max = l.max_parallel.unwrap_or(0);
                Err(Denial::rate(
                    "requests",
                    u64::from(max),
                    1000,
                    format!("this key already has {max} requests in flight"),
                ))
            }
        }
    }

    pub async fn settle(&self, r: &Reservation, tokens: u64, cost: f64, now: i64) -> anyhow::Result<()> {
        if !r.parallel && !r.tpm && r.budget_start.is_none() {
            return Ok(());
        }
        let minute = now.div_euclid(WINDOW_MS);
        let mut c = self.conn().await?;
        let _: i64 = self
            .settle
            .key(self.k("par", &r.key_id))
            .key(format!("{}:{minute}", self.k("tpm", &r.key_id)))
            .key(format!("{}:{}", self.k("spend", &r.key_id), r.budget_start.unwrap_or(0)))
            .arg(if r.parallel { "1" } else { "0" })
            .arg(if r.tpm { tokens } else { 0 })
            .arg(if r.budget_start.is_some() && cost.is_finite() { cost } else { 0.0 })
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }
}
