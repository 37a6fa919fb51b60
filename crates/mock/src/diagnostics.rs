//! Anthropic's cache diagnostics (beta `cache-diagnosis-2026-04-07`): with the beta header and a
//! `diagnostics` object in the request, the mock keeps each response's prompt fingerprint (by
//! its `msg_…` id) and answers `diagnostics.cache_miss_reason` by comparing this request with
//! the one `diagnostics.previous_message_id` names: the first of `model_changed`,
//! `tools_changed`, `system_changed`, `messages_changed` (with `cache_missed_input_tokens`: the
//! previous prompt's tokens from the divergence on), `previous_message_not_found` for an id it
//! does not know, `null` when the previous prompt is a prefix of this one (or no id was given).
//! `cache_control` is not content, nor Claude Code's billing nonce (as for the cache, `cache.rs`).
//!
//! Bounded: the oldest fingerprints go past `KEEP`.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use axum::http::HeaderMap;
use serde_json::{json, Value};

pub const BETA: &str = "cache-diagnosis-2026-04-07";
const KEEP: usize = 10_000;

#[derive(Clone, Debug, PartialEq)]
struct Print {
    model: String,
    tools: u64,
    system: u64,
    /// Running hash and tokens (bytes / 4) up to each message.
    messages: Vec<(u64, u64)>,
    /// Tokens of tools and system.
    head: u64,
}

#[derive(Default)]
pub struct Diagnoses {
    prints: Mutex<(HashMap<String, Print>, VecDeque<String>)>,
}

/// Whether a request asked for diagnostics: the beta header and a `diagnostics` object.
pub fn asked(headers: &HeaderMap, body: &Value) -> bool {
    let beta = headers.get_all("anthropic-beta").iter().any(|v| v.to_str().is_ok_and(|s| s.contains(BETA)));
    beta && body["diagnostics"].is_object()
}

fn hash_of(v: &Value) -> (u64, u64) {
    let mut v = v.clone();
    crate::cache::strip_for_diagnostics(&mut v);
    let s = v.to_string();
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    (h.finish(), s.len() as u64 / 4)
}

fn print(body: &Value) -> Print {
    let (tools, t) = hash_of(&body["tools"]);
    let (system, s) = hash_of(&body["system"]);
    let mut running = DefaultHasher::new();
    let mut tokens = 0;
    let messages = body["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|msg| {
                    let (h, n) = hash_of(msg);
                    h.hash(&mut running);
                    tokens += n;
                    (running.finish(), tokens)
                })
                .collect()
        })
        .unwrap_or_default();
    Print { model: body["model"].as_str().unwrap_or("").to_owned(), tools, system, messages, head: t + s }
}

fn reason(prev: &Print, cur: &Print) -> Value {
    let total = prev.head + prev.messages.last().map_or(0, |m| m.1);
    let changed = |ty: &str, kept: u64| json!({"type": ty, "cache_missed_input_tokens": total.saturating_sub(kept)});
    if prev.model != cur.model {
        return json!({"type": "model_changed"});
    }
    if prev.tools != cur.tools {
        return changed("tools_changed", 0);
    }
    if prev.system != cur.system {
        return changed("system_changed", 0);
    }
    let same = prev.messages.iter().zip(&cur.messages).take_while(|(a, b)| a.0 == b.0).count();
    if same < prev.messages.len() {
        let kept = prev.head + if same == 0 { 0 } else { prev.messages[same - 1].1 };
        return changed("messages_changed", kept);
    }
    Value::Null
}

impl Diagnoses {
    /// The `diagnostics` object of the response `id` to `body`, remembering its fingerprint.
    pub fn answer(&self, body: &Value, id: &str) -> Value {
        let cur = print(body);
        let mut guard = self.prints.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        let why = match body["diagnostics"]["previous_message_id"].as_str() {
            None => Value::Null,
            Some(prev) => match map.get(prev) {
                Some(p) => reason(p, &cur),
                None => json!({"type": "previous_message_not_found"}),
            },
        };
        map.insert(id.to_owned(), cur);
        order.push_back(id.to_owned());
        while order.len() > KEEP {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
        json!({ "cache_miss_reason": why })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(system: &str, messages: &[&str]) -> Value {
        let messages: Vec<Value> = messages.iter().map(|m| json!({"role": "user", "content": m})).collect();
        json!({"model": "m", "system": system, "tools": [], "messages": messages,
               "diagnostics": {"previous_message_id": null}})
    }

    #[test]
    fn each_reason() {
        let d = Diagnoses::default();
        assert_eq!(d.answer(&body("s", &["a"]), "msg_1"), json!({"cache_miss_reason": null}));
        let mut next = body("s", &["a", "b"]);
        next["diagnostics"]["previous_message_id"] = "msg_1".into();
        assert_eq!(d.answer(&next, "msg_2"), json!({"cache_miss_reason": null}), "a prefix: no divergence");
        let mut edited = body("s", &["x", "b", "c"]);
        edited["diagnostics"]["previous_message_id"] = "msg_2".into();
        let r = d.answer(&edited, "msg_3");
        assert_eq!(r["cache_miss_reason"]["type"], "messages_changed");
        assert!(r["cache_miss_reason"]["cache_missed_input_tokens"].as_u64() > Some(0));
        let mut system = body("other", &["x", "b", "c", "d"]);
        system["diagnostics"]["previous_message_id"] = "msg_3".into();
        assert_eq!(d.answer(&system, "msg_4")["cache_miss_reason"]["type"], "system_changed");
        let mut model = system.clone();
        model["model"] = "n".into();
        model["diagnostics"]["previous_message_id"] = "msg_4".into();
        assert_eq!(d.answer(&model, "msg_5")["cache_miss_reason"]["type"], "model_changed");
        model["diagnostics"]["previous_message_id"] = "msg_unknown".into();
        assert_eq!(d.answer(&model, "msg_6")["cache_miss_reason"]["type"], "previous_message_not_found");
    }
}
