//! Prompt caching as the providers do it, turned on by `mock:cache`, so a cache hit rate
//! through crossbar can be measured. Tokens are counted like usage is (serialized bytes / 4).
//!
//! - **Anthropic** (explicit): the prompt is the sequence tools → system → message blocks
//!   (`cache_control` itself is not content). Each breakpoint writes the prefix up to it when
//!   that prefix is at least `MIN_TOKENS` long, for its TTL (`5m` default, `1h`); a read is the
//!   longest cached prefix ending at a breakpoint or at most 20 blocks before one. Without a
//!   breakpoint nothing is read or written. A request with a `1h` breakpoint gets its writes
//!   split by TTL (`usage.cache_creation`): the prefix up to its last `1h` breakpoint is the
//!   1-hour write (Anthropic requires 1-hour breakpoints before 5-minute ones), the rest 5-minute.
//! - **OpenAI** (automatic, Chat and Responses, Codex backend): every prefix of whole items
//!   (tools, instructions, then messages / input items) of at least `MIN_TOKENS` is cached for
//!   `OPENAI_TTL` (24 h with `prompt_cache_retention: "24h"`), per account (the credential) and
//!   `prompt_cache_key`; a read is the longest cached one, in steps of 128 tokens.
//! - **Gemini** (implicit): like OpenAI over system instruction, tools and contents, per account.
//!
//! Must never: report more cached than input tokens.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::Value;

/// The smallest prefix any of them caches (Anthropic's Sonnet/Opus minimum, OpenAI's).
pub const MIN_TOKENS: u64 = 1024;
/// How far before a breakpoint Anthropic looks for an earlier cached prefix, in blocks.
const LOOKBACK: usize = 20;
const ANTHROPIC_TTL: Duration = Duration::from_secs(5 * 60);
const ANTHROPIC_TTL_LONG: Duration = Duration::from_secs(60 * 60);
const OPENAI_TTL: Duration = Duration::from_secs(10 * 60);
const OPENAI_TTL_LONG: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hit {
    pub read: u64,
    pub written: u64,
    /// Of `written`, the tokens written with a 1-hour TTL.
    pub written_1h: u64,
    /// The request has a `1h` breakpoint (its usage reports writes split by TTL).
    pub ttl_1h: bool,
}

/// Cached prefixes (hash of scope + prefix) → expiry, for one mock instance.
#[derive(Default)]
pub struct Caches {
    entries: Mutex<HashMap<u64, Instant>>,
    /// Seconds this instance's cache clock runs ahead (`POST /_mock/cache/advance?secs=N`),
    /// so tests can let a TTL pass without waiting for it.
    ahead: AtomicU64,
}

/// One element of the prompt: its running prefix hash, the tokens up to and including it,
/// and the TTL of a breakpoint on it.
struct Step {
    hash: u64,
    tokens: u64,
    breakpoint: Option<Duration>,
}

fn steps(scope: &str, elements: impl Iterator<Item = (Value, Option<Duration>)>) -> Vec<Step> {
    let mut h = DefaultHasher::new();
    scope.hash(&mut h);
    let mut bytes = 0u64;
    elements
        .map(|(v, breakpoint)| {
            let s = v.to_string();
            s.hash(&mut h);
            bytes += s.len() as u64;
            Step { hash: h.finish(), tokens: bytes / 4, breakpoint }
        })
        .collect()
}

/// Removes `cache_control` (any depth) and returns the TTL it asked for.
fn take_breakpoint(v: &mut Value) -> Option<Duration> {
    let cc = v.as_object_mut()?.remove("cache_control")?;
    strip(v);
    Some(if cc["ttl"] == "1h" { ANTHROPIC_TTL_LONG } else { ANTHROPIC_TTL })
}

fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("cache_control");
            m.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// `v` without `cache_control` anywhere and, in its text, without Claude Code's billing nonce:
/// what Anthropic's cache diagnostics compare (`diagnostics.rs`).
pub fn strip_for_diagnostics(v: &mut Value) {
    strip(v);
    match v {
        Value::String(s) if s.contains("x-anthropic-billing-header:") => *s = without_nonce(s),
        Value::Array(a) => a.iter_mut().for_each(strip_for_diagnostics),
        Value::Object(m) => m.values_mut().for_each(strip_for_diagnostics),
        _ => {}
    }
}

/// System text without Claude Code's per-request billing nonce (`cch=<hex>` on its
/// `x-anthropic-billing-header:` line): Anthropic reads that line itself and does not let it
/// break the cache of the native client.
fn without_nonce(text: &str) -> String {
    let Some(at) = text.find("x-anthropic-billing-header:") else { return text.to_owned() };
    let Some(cch) = text[at..].find("cch=").map(|i| at + i) else { return text.to_owned() };
    let end = text[cch + 4..].find(|c: char| !c.is_ascii_alphanumeric()).map_or(text.len(), |i| cch + 4 + i);
    format!("{}{}", &text[..cch + 4], &text[end..])
}

/// The account a request is billed to: its credential, hashed.
fn account(headers: &HeaderMap) -> String {
    let mut h = DefaultHasher::new();
    for name in ["authorization", "x-api-key", "x-goog-api-key", "chatgpt-account-id"] {
        if let Some(v) = headers.get(name) {
            v.as_bytes().hash(&mut h);
        }
    }
    format!("{:x}", h.finish())
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

impl Caches {
    /// Let `secs` pass on this instance's cache clock.
    pub fn advance(&self, secs: u64) {
        self.ahead.fetch_add(secs, Ordering::Relaxed);
    }

    fn now(&self) -> Instant {
        let real = Instant::now();
        real.checked_add(Duration::from_secs(self.ahead.load(Ordering::Relaxed))).unwrap_or(real)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Instant>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live(map: &mut HashMap<u64, Instant>, hash: u64, now: Instant) -> bool {
        match map.get(&hash) {
            Some(exp) if *exp > now => true,
            Some(_) => {
                map.remove(&hash);
                false
            }
            None => false,
        }
    }

    /// An Anthropic Messages request.
    pub fn anthropic(&self, body: &Value, headers: &HeaderMap) -> Hit {
        let mut elements = Vec::new();
        for t in items(&body["tools"]) {
            elements.push(t);
        }
        match &body["system"] {
            Value::String(s) => elements.push(serde_json::json!({"type": "text", "text": without_nonce(s)})),
            other => elements.extend(items(other).into_iter().map(|mut b| {
                if let Some(text) = b["text"].as_str() {
                    b["text"] = without_nonce(text).into();
                }
                b
            })),
        }
        for m in items(&body["messages"]) {
            let role = m["role"].clone();
            let blocks = match &m["content"] {
                Value::String(s) => vec![serde_json::json!({"type": "text", "text": s})],
                other => items(other),
            };
            elements.extend(blocks.into_iter().map(|b| serde_json::json!({"role": role, "block": b})));
        }
        let scope = format!("anthropic {} {}", account(headers), body["model"]);
        let steps = steps(
            &scope,
            elements.into_iter().map(|mut v| {
                let bp = match v.get_mut("block") {
                    Some(b) => take_breakpoint(b),
                    None => take_breakpoint(&mut v),
                };
                (v, bp)
            }),
        );
        let now = self.now();
        let mut map = self.lock();
        let mut read = 0;
        for (b, step) in steps.iter().enumerate() {
            if step.breakpoint.is_none() {
                continue;
            }
            let from = b.saturating_sub(LOOKBACK - 1);
            if let Some(hit) = (from..=b).rev().find(|&j| Self::live(&mut map, steps[j].hash, now)) {
                read = read.max(steps[hit].tokens);
            }
        }
        let mut end = 0;
        let mut end_1h = 0;
        for step in steps.iter().filter(|s| s.tokens >= MIN_TOKENS) {
            if let Some(ttl) = step.breakpoint {
                let exp = map.entry(step.hash).or_insert(now);
                *exp = (*exp).max(now + ttl);
                end = end.max(step.tokens);
                if ttl == ANTHROPIC_TTL_LONG {
                    end_1h = end_1h.max(step.tokens);
                }
            }
        }
        let ttl_1h = steps.iter().any(|s| s.breakpoint == Some(ANTHROPIC_TTL_LONG));
        Hit { read, written: end.saturating_sub(read), written_1h: end_1h.saturating_sub(read), ttl_1h }
    }

    /// An OpenAI Chat or Responses request (and the Codex backend's).
    pub fn openai(&self, body: &Value, headers: &HeaderMap) -> Hit {
        let mut elements = items(&body["tools"]);
        elements.extend(items(&body["instructions"]));
        elements.extend(items(&body["messages"]));
        elements.extend(items(&body["input"]));
        let key = body["prompt_cache_key"].as_str().unwrap_or("");
        let ttl = if body["prompt_cache_retention"] == "24h" { OPENAI_TTL_LONG } else { OPENAI_TTL };
        self.automatic(&format!("openai {} {key} {}", account(headers), body["model"]), elements, ttl)
    }

    /// A Gemini `generateContent` request.
    pub fn gemini(&self, body: &Value, headers: &HeaderMap, model: &str) -> Hit {
        let mut elements = items(&body["systemInstruction"]);
        elements.extend(items(&body["tools"]));
        elements.extend(items(&body["contents"]));
        self.automatic(&format!("gemini {} {model}", account(headers)), elements, OPENAI_TTL)
    }

    fn automatic(&self, scope: &str, elements: Vec<Value>, ttl: Duration) -> Hit {
        let steps = steps(scope, elements.into_iter().map(|v| (v, None)));
        let now = self.now();
        let mut map = self.lock();
        let read = steps
            .iter()
            .rev()
            .filter(|s| s.tokens >= MIN_TOKENS)
            .find(|s| Self::live(&mut map, s.hash, now))
            .map_or(0, |s| s.tokens / 128 * 128);
        for s in steps.iter().filter(|s| s.tokens >= MIN_TOKENS) {
            map.insert(s.hash, now + ttl);
        }
        Hit { read, ..Hit::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn anthropic_turn(n: usize, breakpoints: bool) -> Value {
        let mut messages = Vec::new();
        for i in 0..n {
            messages.push(json!({"role": "user", "content": [{"type": "text", "text": format!("q{i}")}]}));
            messages.push(json!({"role": "assistant", "content": [{"type": "text", "text": format!("a{i}")}]}));
        }
        messages.push(json!({"role": "user", "content": [{"type": "text", "text": format!("q{n}")}]}));
        let mut body =
            json!({"model": "m", "system": [{"type": "text", "text": "x".repeat(8000)}], "messages": messages});
        if breakpoints {
            body["system"][0]["cache_control"] = json!({"type": "ephemeral"});
            let last = body["messages"].as_array().map_or(0, Vec::len) - 1;
            body["messages"][last]["content"][0]["cache_control"] = json!({"type": "ephemeral"});
        }
        body
    }

    #[test]
    fn a_one_hour_breakpoint_splits_the_writes_by_ttl() {
        let c = Caches::default();
        let h = HeaderMap::new();
        let mut body = anthropic_turn(0, true);
        body["system"][0]["cache_control"] = json!({"type": "ephemeral", "ttl": "1h"});
        let first = c.anthropic(&body, &h);
        assert!(first.ttl_1h);
        assert!(first.written_1h >= MIN_TOKENS && first.written_1h < first.written, "{first:?}");
        // 5-minute breakpoints only: no split is reported.
        let plain = Caches::default().anthropic(&anthropic_turn(0, true), &h);
        assert!(!plain.ttl_1h && plain.written_1h == 0, "{plain:?}");
    }

    #[test]
    fn anthropic_reads_what_an_earlier_breakpoint_wrote() {
        let c = Caches::default();
        let h = HeaderMap::new();
        let first = c.anthropic(&anthropic_turn(0, true), &h);
        assert_eq!(first.read, 0);
        assert!(first.written >= MIN_TOKENS, "{first:?}");
        let second = c.anthropic(&anthropic_turn(1, true), &h);
        assert_eq!(second.read, first.written, "the whole first turn is read back");
        assert!(second.written > 0 && second.written < 40, "only the new blocks are written: {second:?}");
        // Without breakpoints nothing is cached at all.
        let c = Caches::default();
        c.anthropic(&anthropic_turn(0, false), &h);
        assert_eq!(c.anthropic(&anthropic_turn(1, false), &h), Hit::default());
        // A prefix shorter than the minimum is not written.
        let mut short = anthropic_turn(0, true);
        short["system"][0]["text"] = "short".into();
        assert_eq!(c.anthropic(&short, &h), Hit::default());
        assert_eq!(c.anthropic(&short, &h), Hit::default());
    }

    #[test]
    fn claude_codes_billing_nonce_does_not_break_the_anthropic_cache() {
        let c = Caches::default();
        let h = HeaderMap::new();
        let with_nonce = |n: usize, nonce: &str| {
            let mut body = anthropic_turn(n, true);
            let line = format!("x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=cli; cch={nonce};");
            body["system"].as_array_mut().expect("blocks").insert(0, json!({"type": "text", "text": line}));
            body
        };
        let first = c.anthropic(&with_nonce(0, "a1b2c"), &h);
        let second = c.anthropic(&with_nonce(1, "9f00d"), &h);
        assert!(second.read >= first.written && first.written >= MIN_TOKENS, "{first:?} {second:?}");
        assert_eq!(
            without_nonce("x-anthropic-billing-header: cch=12ab; tail"),
            "x-anthropic-billing-header: cch=; tail"
        );
        assert_eq!(without_nonce("plain cch=1"), "plain cch=1", "only on the billing line");
    }

    #[test]
    fn openai_caches_whole_items_per_key_in_steps_of_128() {
        let c = Caches::default();
        let h = HeaderMap::new();
        let turn = |n: usize, key: &str| {
            let mut input = vec![json!({"role": "user", "content": "y".repeat(6000)})];
            for i in 0..n {
                input.push(json!({"role": "assistant", "content": format!("a{i}")}));
            }
            json!({"model": "m", "prompt_cache_key": key, "input": input})
        };
        assert_eq!(c.openai(&turn(0, "k"), &h).read, 0);
        let hit = c.openai(&turn(1, "k"), &h);
        assert!(hit.read >= MIN_TOKENS && hit.read % 128 == 0, "{hit:?}");
        assert_eq!(c.openai(&turn(1, "other"), &h).read, 0, "another key, another cache");
        let mut other_account = HeaderMap::new();
        other_account.insert("authorization", "Bearer b".parse().expect("value"));
        assert_eq!(c.openai(&turn(1, "k"), &other_account).read, 0, "another account too");
    }
}
