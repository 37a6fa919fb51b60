//! Sticky sessions: requests of one conversation go to the deployment that served it last,
//! while that deployment is usable, so the provider's prompt cache keeps hitting.
//!
//! The conversation key, first found wins: headers `x-session-affinity` (OpenCode),
//! `session-id` / `session_id` / `conversation_id` (Codex, by version); body
//! `prompt_cache_key` (OpenAI), `metadata.user_id` (Anthropic; Claude Code puts its session
//! there); else a hash of the system prompt and the first two turns. `Affinity` is this
//! instance's memory of conversation → deployment (by `Deployment::tag`, so it survives a
//! rebuilt routing table); it expires `sticky_ttl` after the conversation's last request and is
//! bounded. With Redis, `pipeline::attempt::affinity` shares it between instances.
//! Must never: keep request text (only 64-bit hashes), or block for long (one short mutex).

use crate::usage::cache_prompt::{Raw, Top, TopSpans};
use axum::http::{HeaderMap, HeaderName};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

/// Most conversations remembered; beyond it expired ones are dropped, then the oldest half.
const CAPACITY: usize = 100_000;

/// The conversation key of a request, if it has anything to go by. `spans`: where
/// `pipeline::body::inspect` found the body's members (else the body is parsed here).
pub fn session_key(headers: &HeaderMap, body: &[u8], spans: Option<&TopSpans>) -> Option<u64> {
    header_key(headers).or_else(|| {
        let top = match spans {
            Some(s) => Top::at(body, s),
            None => Top::parse(body)?,
        };
        body_key(&top)
    })
}

/// The key a header gives, if one does.
pub(crate) fn header_key(headers: &HeaderMap) -> Option<u64> {
    // Names built once: a `&str` lookup parses the name every time.
    static NAMES: [HeaderName; 4] = [
        HeaderName::from_static("x-session-affinity"),
        HeaderName::from_static("session-id"),
        HeaderName::from_static("session_id"),
        HeaderName::from_static("conversation_id"),
    ];
    for name in &NAMES {
        if let Some(v) = headers.get(name).filter(|v| !v.is_empty()) {
            return Some(hash(&[b"h", v.as_bytes()]));
        }
    }
    None
}

/// The list of turns the body key reads.
fn turns_of<'a>(top: &Top<'a>) -> Option<Raw<'a>> {
    top.messages.or(top.contents).or(top.input)
}

/// The key the body gives.
fn body_key(top: &Top) -> Option<u64> {
    if let Some(k) =
        top.prompt_cache_key.and_then(|v| serde_json::from_str::<Cow<str>>(v.get()).ok()).filter(|k| !k.is_empty())
    {
        return Some(hash(&[b"k", k.as_bytes()]));
    }
    #[derive(Deserialize)]
    struct Meta<'a> {
        // Borrowed when it can be; Claude Code's is a JSON string full of escapes.
        #[serde(borrow)]
        user_id: Option<Cow<'a, str>>,
    }
    if let Some(u) = top
        .metadata
        .and_then(|m| serde_json::from_str::<Meta>(m.get()).ok())
        .and_then(|m| m.user_id)
        .filter(|u| !u.is_empty())
    {
        return Some(hash(&[b"u", u.as_bytes()]));
    }
    // Only the first two turns are read: a long session's list is megabytes.
    let first = crate::usage::cache_prompt::first_items(turns_of(top)?, 2);
    let system = top.system.or(top.instructions).or(top.system_instruction).map_or("", |s| s.get());
    let system = without_nonce(system);
    let mut parts: Vec<&[u8]> = vec![b"t", system.as_bytes()];
    parts.extend(first.iter().map(|t| t.get().as_bytes()));
    Some(hash(&parts))
}

/// The system prompt without Claude Code's billing nonce (`cch=<hex>` in its
/// `x-anthropic-billing-header` line), which changes on every request of one conversation.
pub(crate) fn without_nonce(system: &str) -> Cow<'_, str> {
    // A searcher built once: `str::find` builds its own per call, which cost more than the
    // search on every request's system prompt.
    static BILLING: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("x-anthropic-billing-header:"));
    let Some(at) = BILLING.find(system.as_bytes()) else { return system.into() };
    let Some(cch) = system[at..].find("cch=").map(|i| at + i) else { return system.into() };
    let end = system[cch..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '=')).map_or(system.len(), |i| cch + i);
    format!("{}{}", &system[..cch], &system[end..]).into()
}

fn hash(parts: &[&[u8]]) -> u64 {
    let mut h = DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

/// Conversation → deployment tag, per route.
#[derive(Debug, Default)]
pub struct Affinity {
    map: Mutex<HashMap<u64, (u64, u64)>>,
}

impl Affinity {
    pub fn get(&self, key: u64, now: u64) -> Option<u64> {
        let map = self.map.lock().ok()?;
        map.get(&key).filter(|(_, expires)| *expires > now).map(|(i, _)| *i)
    }

    pub fn set(&self, key: u64, deployment: u64, now: u64, ttl_ms: u64) {
        let Ok(mut map) = self.map.lock() else { return };
        if map.len() >= CAPACITY && !map.contains_key(&key) {
            map.retain(|_, (_, e)| *e > now);
            if map.len() >= CAPACITY {
                let mut expiries: Vec<u64> = map.values().map(|(_, e)| *e).collect();
                let mid = expiries.len() / 2;
                let (_, cut, _) = expiries.select_nth_unstable(mid);
                let cut = *cut;
                map.retain(|_, (_, e)| *e > cut);
            }
        }
        map.insert(key, (deployment, now.saturating_add(ttl_ms)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key, read both ways: from the spans `pipeline::body::inspect` found and by parsing
    /// the body here. They must agree.
    fn session_key(headers: &HeaderMap, body: &[u8]) -> Option<u64> {
        let spans = crate::pipeline::body::inspect(body).ok().map(|s| s.prompt);
        let found = super::session_key(headers, body, spans.as_ref());
        assert_eq!(found, super::session_key(headers, body, None), "spans and a parse agree on {body:?}");
        found
    }

    #[test]
    fn keys_come_from_headers_body_fields_or_first_turns() {
        let mut h = HeaderMap::new();
        let chat = |text: &str| {
            format!(
                r#"{{"model":"m","messages":[{{"role":"system","content":"s"}},{{"role":"user","content":"{text}"}}]}}"#
            )
        };
        let a = session_key(&h, chat("first").as_bytes());
        let later = r#"{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"first"},{"role":"assistant","content":"x"},{"role":"user","content":"more"}]}"#;
        assert_eq!(a, session_key(&h, later.as_bytes()), "a conversation keeps its key as it grows");
        assert_ne!(a, session_key(&h, chat("other").as_bytes()));
        let pk = session_key(&h, br#"{"prompt_cache_key":"abc","input":"x"}"#);
        assert_eq!(pk, session_key(&h, br#"{"prompt_cache_key":"abc","input":"y"}"#));
        let user = session_key(&h, br#"{"metadata":{"user_id":"u1"},"messages":[{"role":"user","content":"a"}]}"#);
        assert_eq!(
            user,
            session_key(&h, br#"{"metadata":{"user_id":"u1"},"messages":[{"role":"user","content":"b"}]}"#)
        );
        h.insert("session_id", "thread-1".parse().expect("value"));
        let s = session_key(&h, b"{}");
        let mut h2 = HeaderMap::new();
        h2.insert("x-session-affinity", "thread-1".parse().expect("value"));
        assert_eq!(s, session_key(&h2, b"not json"));
        assert_eq!(session_key(&HeaderMap::new(), b"not json"), None);
    }

    #[test]
    fn claude_codes_billing_nonce_does_not_split_a_conversation() {
        let h = HeaderMap::new();
        let turn = |cch: &str, text: &str| {
            format!(
                r#"{{"system":[{{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.197; cch={cch};"}},{{"type":"text","text":"You are Claude Code."}}],"messages":[{{"role":"user","content":"{text}"}}]}}"#
            )
        };
        let a = session_key(&h, turn("3f9a1", "hi").as_bytes());
        assert_eq!(a, session_key(&h, turn("07bc2", "hi").as_bytes()));
        assert_ne!(a, session_key(&h, turn("07bc2", "other").as_bytes()));
        // Claude Code's `metadata.user_id` is JSON in a string: escapes must not lose the key.
        let cc = |text: &str| {
            format!(
                r#"{{"metadata":{{"user_id":"{{\"session_id\":\"0b6b\"}}"}},"messages":[{{"role":"user","content":"{text}"}}]}}"#
            )
        };
        let k = session_key(&h, cc("a").as_bytes());
        assert!(k.is_some());
        assert_eq!(k, session_key(&h, cc("b").as_bytes()));
        let escaped = session_key(&h, br#"{"prompt_cache_key":"a"b","input":"x"}"#);
        assert_eq!(escaped, session_key(&h, br#"{"prompt_cache_key":"a"b","input":"y"}"#));
        assert_eq!(without_nonce("cch=1 x-anthropic-billing-header: cch=ab12"), "cch=1 x-anthropic-billing-header: ");
    }

    #[test]
    fn affinity_expires_and_stays_bounded() {
        let a = Affinity::default();
        a.set(1, 2, 0, 100);
        assert_eq!(a.get(1, 50), Some(2));
        assert_eq!(a.get(1, 100), None);
        for k in 0..(CAPACITY as u64 + 10) {
            a.set(k, 0, k, 1_000_000);
        }
        assert!(a.map.lock().expect("lock").len() <= CAPACITY);
    }
}
