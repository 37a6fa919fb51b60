//! The cache verdict's memory shared by instances through Redis (`cache_turns` is each
//! instance's): `<prefix>:turns:<memory key>` holds a conversation's recent turns (the same
//! fields as `cache_verdict::Turn`, no text) as compact JSON, with a TTL of twice the longest
//! cache lifetime among them (a turn after that is judged `ttl_expired` from this instance's
//! memory, or `first_turn`).
//!
//! One GET per conversation turn, before the request goes upstream, bounded by `DEADLINE` like
//! the rest of the Redis code; one SET after the verdict, off the request path.
//! Must never: wait on Redis beyond `DEADLINE`, fail a request because Redis did, or trust a
//! value it cannot read (a bad one is ignored: this instance's memory is used).

use super::cache_verdict::Turn;
use crate::redis_conn::RedisConn;
use crossbar_protocol::canonical::{Fingerprint, Protocol};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_millis(50);
const WRITE_DEADLINE: Duration = Duration::from_secs(1);
/// The most turns a shared value holds (`cache_turns` keeps as many per conversation).
const MAX_TURNS: usize = 8;

/// One turn as stored (short names: a value is read on every turn).
#[derive(Serialize, Deserialize)]
struct Stored {
    d: String,
    at: i64,
    ttl: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<u64>,
    t: u64,
    s: u64,
    m: Vec<u64>,
    /// The upstream protocol (`Protocol::name`).
    p: String,
    /// The upstream's id of the response (Anthropic `msg_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

fn redis_key(redis: &RedisConn, memory_key: u64) -> String {
    redis.key("turns", &format!("{memory_key:016x}"))
}

pub fn encode(turns: &[Turn]) -> String {
    let stored: Vec<Stored> = turns
        .iter()
        .rev()
        .take(MAX_TURNS)
        .rev()
        .map(|t| Stored {
            d: t.deployment.clone(),
            at: t.at_ms,
            ttl: t.ttl_ms,
            n: t.input,
            t: t.fingerprint.tools,
            s: t.fingerprint.system,
            m: t.fingerprint.messages.clone(),
            p: t.upstream.name().to_string(),
            id: t.message_id.clone(),
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_default()
}

pub fn decode(text: &str) -> Option<Vec<Turn>> {
    let stored: Vec<Stored> = serde_json::from_str(text).ok()?;
    stored
        .into_iter()
        .take(MAX_TURNS)
        .map(|s| {
            Some(Turn {
                upstream: protocol(&s.p)?,
                deployment: s.d,
                at_ms: s.at,
                ttl_ms: s.ttl,
                input: s.n,
                fingerprint: Fingerprint { tools: s.t, system: s.s, messages: s.m },
                message_id: s.id,
            })
        })
        .collect()
}

fn protocol(name: &str) -> Option<Protocol> {
    Protocol::ALL.into_iter().find(|p| p.name() == name)
}

/// The conversation's turns as the instances share them; `None` when Redis has none, did not
/// answer within `DEADLINE`, or holds something unreadable.
pub async fn fetch(redis: &RedisConn, memory_key: u64) -> Option<Vec<Turn>> {
    let k = redis_key(redis, memory_key);
    let read = async {
        let mut c = redis.conn().await?;
        redis::cmd("GET").arg(&k).query_async::<Option<String>>(&mut c).await
    };
    match tokio::time::timeout(DEADLINE, read).await {
        Ok(Ok(Some(text))) => decode(&text),
        Ok(Ok(None)) => None,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "cache verdict: redis read failed; using this instance's memory");
            None
        }
        Err(_) => {
            tracing::debug!("cache verdict: redis read timed out; using this instance's memory");
            None
        }
    }
}

/// Share the conversation's turns (spawned: never on the request path; needs a runtime).
pub fn store(redis: Arc<RedisConn>, memory_key: u64, turns: &[Turn]) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
    let ttl = turns.iter().map(|t| t.ttl_ms).max().unwrap_or(0).saturating_mul(2).max(60_000);
    let value = encode(turns);
    let k = redis_key(&redis, memory_key);
    rt.spawn(async move {
        let write = async {
            let mut c = redis.conn().await?;
            redis::cmd("SET").arg(&k).arg(&value).arg("PX").arg(ttl).query_async::<()>(&mut c).await
        };
        if !matches!(tokio::time::timeout(WRITE_DEADLINE, write).await, Ok(Ok(()))) {
            tracing::debug!("cache verdict: redis write failed; this instance still remembers");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_round_trip_and_bad_values_are_ignored() {
        let turn = Turn {
            deployment: "a/claude-x".into(),
            at_ms: 1_700_000_000_000,
            ttl_ms: 300_000,
            input: Some(5000),
            fingerprint: Fingerprint { tools: 1, system: u64::MAX, messages: vec![3, 4] },
            upstream: Protocol::Gemini,
            message_id: Some("msg_01".into()),
        };
        let mut other = turn.clone();
        other.input = None;
        other.message_id = None;
        let text = encode(&[turn.clone(), other.clone()]);
        assert_eq!(decode(&text), Some(vec![turn.clone(), other]));
        assert_eq!(decode("not json"), None);
        assert_eq!(decode("{\"d\":1}"), None);
        let many: Vec<Turn> = (0..20).map(|_| turn.clone()).collect();
        assert_eq!(decode(&encode(&many)).map(|t| t.len()), Some(MAX_TURNS), "bounded");
    }
}
