//! This instance's memory of each conversation's previous turn, for the cache verdict
//! (`cache_verdict`): deployment, time, TTL, prompt size and prompt fingerprints — never text.
//!
//! Keyed by the conversation key stickiness computes (`routing::sticky::session_key`) and the
//! model asked, so an agent's side calls to a small model are their own conversation. A
//! conversation keeps up to `THREADS` turns of different prompts (Claude Code's subagents share
//! their parent's session): a turn is judged against the one whose prompt it continues
//! furthest, and replaces it.
//!
//! Bounded twice, least recently used out first: `CAPACITY` conversations, and `HASH_BUDGET`
//! message hashes over all of them (a 500-message turn holds 500), about 40 MB at most.
//! With Redis, instances share it (`cache_shared`): the request's one bounded read of the
//! conversation's turns comes in as `remote` and wins over this instance's (another instance may
//! have served the turns since), and what `observe` returns is written back.

use super::cache_verdict::{judge, Turn, Verdict};
use crossbar_protocol::canonical::Fingerprint;
use hashlink::LruCache;
use std::sync::Mutex;

const CAPACITY: usize = 50_000;
const THREADS: usize = 4;
const HASH_BUDGET: usize = 4_000_000;

struct Memory {
    map: LruCache<u64, Vec<Turn>>,
    /// Message hashes held by `map`.
    hashes: usize,
}

pub struct Turns {
    memory: Mutex<Memory>,
}

impl Default for Turns {
    fn default() -> Turns {
        // Unbounded for hashlink, bounded here: every eviction must give back its hashes.
        Turns { memory: Mutex::new(Memory { map: LruCache::new_unbounded(), hashes: 0 }) }
    }
}

/// The memory's key: the conversation and the model asked.
pub fn key(conversation: u64, model: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    conversation.hash(&mut h);
    model.hash(&mut h);
    h.finish()
}

fn held(turns: &[Turn]) -> usize {
    turns.iter().map(|t| t.fingerprint.messages.len()).sum()
}

/// How far `cur` continues `prev`: 0 when tools or system differ, else 1 + the messages they share.
fn shared(prev: &Turn, cur: &Turn) -> usize {
    continues(&prev.fingerprint, &cur.fingerprint)
}

fn continues(a: &Fingerprint, b: &Fingerprint) -> usize {
    if a.tools != b.tools || a.system != b.system {
        return 0;
    }
    1 + a.messages.iter().zip(&b.messages).take_while(|(x, y)| x == y).count()
}

impl Turns {
    /// Judge `cur` against the conversation's previous turn and remember it in that turn's place.
    pub fn observe(&self, conversation: u64, cur: Turn, cache_read: Option<u64>) -> Verdict {
        self.observe_shared(conversation, cur, cache_read, None).0
    }

    /// `observe`, with the conversation's turns as the instances share them (`remote`, when
    /// Redis had them) in place of this instance's; returns the verdict and the conversation's
    /// turns after this one, to share.
    pub fn observe_shared(
        &self,
        conversation: u64,
        cur: Turn,
        cache_read: Option<u64>,
        remote: Option<Vec<Turn>>,
    ) -> (Verdict, Vec<Turn>) {
        let Ok(mut m) = self.memory.lock() else {
            let verdict = judge(None, &cur, cache_read);
            return (verdict, vec![cur]);
        };
        let local = match m.map.remove(&conversation) {
            Some(t) => {
                m.hashes = m.hashes.saturating_sub(held(&t));
                t
            }
            None => Vec::new(),
        };
        let mut threads = match remote {
            Some(r) if !r.is_empty() => r.into_iter().rev().take(THREADS).rev().collect(),
            _ => local,
        };
        // The turn it continues furthest; among equals the newest (the last in the list).
        let best = threads.iter().enumerate().max_by_key(|(i, t)| (shared(t, &cur), *i)).map(|(i, _)| i);
        let verdict = judge(best.map(|i| &threads[i]), &cur, cache_read);
        match best {
            Some(i) if shared(&threads[i], &cur) > 0 => {
                threads.remove(i);
            }
            _ if threads.len() >= THREADS => {
                threads.remove(0);
            }
            _ => {}
        }
        threads.push(cur);
        m.hashes += held(&threads);
        m.map.insert(conversation, threads.clone());
        while m.map.len() > CAPACITY || m.hashes > HASH_BUDGET {
            match m.map.remove_lru() {
                Some((_, t)) => m.hashes = m.hashes.saturating_sub(held(&t)),
                None => break,
            }
        }
        (verdict, threads)
    }

    /// The turn a prompt `cur` would be judged against (see `observe`), from `remote` (the
    /// instances' shared memory) when it has the conversation, else this instance's.
    pub fn previous(&self, conversation: u64, cur: &Fingerprint, remote: Option<&[Turn]>) -> Option<Turn> {
        let pick = |threads: &[Turn]| {
            threads.iter().enumerate().max_by_key(|(i, t)| (continues(&t.fingerprint, cur), *i)).map(|(_, t)| t.clone())
        };
        match remote {
            Some(r) if !r.is_empty() => pick(r),
            _ => self.memory.lock().ok()?.map.peek(&conversation).and_then(|t| pick(t)),
        }
    }

    /// Move every remembered turn `ms` into the past: time passing, for tests of TTL expiry.
    pub fn age(&self, ms: i64) {
        if let Ok(mut m) = self.memory.lock() {
            for (_, threads) in m.map.iter_mut() {
                for t in threads {
                    t.at_ms = t.at_ms.saturating_sub(ms);
                }
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        self.memory.lock().map(|m| (m.map.len(), m.hashes)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbar_protocol::canonical::Fingerprint;

    fn turn(system: u64, messages: &[u64], at_s: i64) -> Turn {
        Turn {
            deployment: "a/m".into(),
            at_ms: at_s * 1000,
            ttl_ms: 300_000,
            input: Some(5000),
            fingerprint: Fingerprint { tools: 1, system, messages: messages.to_vec() },
            upstream: crossbar_protocol::canonical::Protocol::Anthropic,
            message_id: None,
        }
    }

    #[test]
    fn a_subagent_does_not_break_its_parents_thread() {
        let turns = Turns::default();
        assert_eq!(turns.observe(1, turn(1, &[1], 0), Some(0)).code(), "miss:first_turn");
        assert_eq!(turns.observe(1, turn(1, &[1, 2], 1), Some(0)).code(), "miss:unexplained");
        // A subagent: another system prompt in the same session.
        assert_eq!(turns.observe(1, turn(9, &[5], 2), Some(0)).code(), "miss:prefix_changed:system");
        // The parent goes on from its own last turn, not from the subagent's.
        assert_eq!(turns.observe(1, turn(1, &[1, 2, 3], 3), Some(0)).code(), "miss:unexplained");
        assert_eq!(turns.observe(1, turn(9, &[5, 6], 4), Some(0)).code(), "miss:unexplained");
        assert_eq!(turns.len(), (1, 5));
        turns.age(600_000);
        assert_eq!(turns.observe(1, turn(1, &[1, 2, 3, 4], 5), Some(0)).code(), "miss:ttl_expired:602s");
    }

    #[test]
    fn bounded_by_conversations_and_hashes() {
        let turns = Turns::default();
        let long: Vec<u64> = (0..1000).collect();
        for c in 0..(HASH_BUDGET / 1000 + 10) as u64 {
            turns.observe(c, turn(1, &long, 0), Some(0));
        }
        let (n, hashes) = turns.len();
        assert!(hashes <= HASH_BUDGET && n <= HASH_BUDGET / 1000, "{n} conversations, {hashes} hashes");
        for c in 0..(CAPACITY + 10) as u64 {
            turns.observe(1_000_000 + c, turn(1, &[1], 0), Some(0));
        }
        assert_eq!(turns.len(), (CAPACITY, CAPACITY), "full, and the count of hashes kept true");
        // The newest are remembered, the oldest gone.
        let last = 1_000_000 + CAPACITY as u64 + 9;
        assert_eq!(turns.observe(last, turn(1, &[1, 2], 1), Some(0)).code(), "miss:unexplained");
        assert_eq!(turns.observe(1_000_000, turn(1, &[1, 2], 1), Some(0)).code(), "miss:first_turn");
    }
}
