//! A request's prompt fingerprint for the cache verdict, read from the client's body as sent:
//! tools, system (`system` / `instructions` / `systemInstruction`) and a running hash per
//! message (`messages` / `input` items / `contents`), the way `canonical::Fingerprint` names
//! them, without decoding the request. A message is hashed as its raw JSON text; one holding a
//! `cache_control` is parsed and hashed without it (Claude Code moves its breakpoints every
//! turn, and Anthropic's cache ignores where they are), and Claude Code's billing nonce is left
//! out of the system text (Anthropic does not let it break the cache; other routes remove it).
//!
//! Cost: one borrowed top-level parse and a hash over the bytes (a 200 KB request: see
//! docs/benchmarks.md), against a whole decode for `canonical::Fingerprint::of`.

use crossbar_protocol::canonical::{Fingerprint, Protocol};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::hash::{DefaultHasher, Hash, Hasher};

/// What a turn's TTL depends on, besides the upstream: a breakpoint asking for an hour, or
/// OpenAI's `prompt_cache_retention: "24h"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Asked {
    pub hour: bool,
    pub day: bool,
}

/// The top level of a request body, borrowed: what the fingerprint and the conversation key
/// (`routing::sticky`) read. (One parse could serve both, but the key is needed before the
/// upstream request and the fingerprint only at the end: hashing a 2 MB prompt up front would
/// delay the first byte, so each parses when it is needed.)
#[derive(Deserialize)]
pub(crate) struct Top<'a> {
    #[serde(borrow)]
    pub tools: Option<&'a RawValue>,
    #[serde(borrow)]
    pub system: Option<&'a RawValue>,
    #[serde(borrow)]
    pub instructions: Option<&'a RawValue>,
    #[serde(borrow, rename = "systemInstruction")]
    pub system_instruction: Option<&'a RawValue>,
    #[serde(borrow)]
    pub messages: Option<&'a RawValue>,
    #[serde(borrow)]
    pub input: Option<&'a RawValue>,
    #[serde(borrow)]
    pub contents: Option<&'a RawValue>,
    #[serde(borrow)]
    pub prompt_cache_retention: Option<&'a RawValue>,
    #[serde(borrow)]
    pub prompt_cache_key: Option<&'a RawValue>,
    #[serde(borrow)]
    pub metadata: Option<&'a RawValue>,
}

impl<'a> Top<'a> {
    /// `None` when the body is not a JSON object.
    pub fn parse(body: &'a [u8]) -> Option<Top<'a>> {
        serde_json::from_slice(body).ok()
    }
}

/// A list of turns as its items (a Responses `input` may be a plain string: one message).
pub(crate) fn items(turns: Option<&RawValue>) -> Vec<&RawValue> {
    match turns {
        Some(t) => serde_json::from_str(t.get()).unwrap_or_else(|_| vec![t]),
        None => Vec::new(),
    }
}

/// The fingerprint of a client's request body, and the cache lifetime it asked for; `None`
/// when the body is not a JSON object.
pub fn fingerprint(p: Protocol, body: &[u8]) -> Option<(Fingerprint, Asked)> {
    let top = Top::parse(body)?;
    let items = items(turns_of(p, &top));
    Some(fingerprint_of(p, &top, &items, body))
}

fn turns_of<'a>(p: Protocol, top: &Top<'a>) -> Option<&'a RawValue> {
    match p {
        Protocol::OpenaiResponses => top.input,
        Protocol::Gemini => top.contents,
        Protocol::Anthropic | Protocol::OpenaiChat => top.messages,
    }
}

fn fingerprint_of(p: Protocol, top: &Top, items: &[&RawValue], body: &[u8]) -> (Fingerprint, Asked) {
    let system = match p {
        Protocol::OpenaiResponses => top.instructions,
        Protocol::Gemini => top.system_instruction,
        Protocol::Anthropic | Protocol::OpenaiChat => top.system,
    };
    let system_text = system.map_or("", |s| s.get());
    let system_hash = hash(0, without_breakpoints(&crate::routing::sticky::without_nonce(system_text)).as_bytes());
    let tools_hash = match top.tools {
        Some(t) => hash(0, without_breakpoints(t.get()).as_bytes()),
        None => hash(0, b""),
    };
    let mut h = 1u64;
    let messages = items
        .iter()
        .map(|m| {
            h = hash(h, without_breakpoints(m.get()).as_bytes());
            h
        })
        .collect();
    let asked =
        Asked { hour: asks_an_hour(body), day: top.prompt_cache_retention.is_some_and(|r| r.get() == "\"24h\"") };
    (Fingerprint { tools: tools_hash, system: system_hash, messages }, asked)
}

/// A `"ttl": "1h"` member anywhere (a breakpoint on tools, system, a message or a tool result).
/// Quotes inside JSON strings are escaped, so a match is a real key and value.
fn asks_an_hour(body: &[u8]) -> bool {
    static HOUR: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"1h\""));
    HOUR.find_iter(body).any(|at| {
        let before = body[..at].trim_ascii_end();
        before.strip_suffix(b":").is_some_and(|b| b.trim_ascii_end().ends_with(b"\"ttl\""))
    })
}

fn hash(prev: u64, bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    prev.hash(&mut h);
    bytes.hash(&mut h);
    h.finish()
}

/// `text` (a JSON value) without any `cache_control` member, re-serialized only when it has one.
fn without_breakpoints(text: &str) -> std::borrow::Cow<'_, str> {
    static BREAKPOINT: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"cache_control\""));
    if BREAKPOINT.find(text.as_bytes()).is_none() {
        return text.into();
    }
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(text) else { return text.into() };
    strip(&mut v);
    v.to_string().into()
}

fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("cache_control");
            m.values_mut().for_each(strip);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbar_protocol::canonical::Divergence;
    use serde_json::json;

    fn fp(p: Protocol, v: serde_json::Value) -> (Fingerprint, Asked) {
        fingerprint(p, v.to_string().as_bytes()).expect("object")
    }

    #[test]
    fn moved_breakpoints_and_the_billing_nonce_are_no_change() {
        let turn = |cch: &str, marked: usize, n: usize| {
            let messages: Vec<_> = (0..n)
                .map(|i| {
                    let mut block = json!({"type": "text", "text": format!("m{i}")});
                    if i == marked {
                        block["cache_control"] = json!({"type": "ephemeral"});
                    }
                    json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": [block]})
                })
                .collect();
            json!({"system": [
                {"type": "text", "text": format!("x-anthropic-billing-header: cc_version=2.1; cch={cch};")},
                {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
            ], "tools": [{"name": "Bash"}], "messages": messages})
        };
        let (one, asked) = fp(Protocol::Anthropic, turn("3f9a1", 2, 3));
        assert!(asked.hour && !asked.day);
        let (two, _) = fp(Protocol::Anthropic, turn("07bc2", 4, 5));
        assert_eq!(one.divergence(&two), Divergence::None);
        let mut edited = turn("07bc2", 4, 5);
        edited["messages"][1]["content"][0]["text"] = "other".into();
        assert_eq!(one.divergence(&fp(Protocol::Anthropic, edited).0), Divergence::Message(1));
    }

    #[test]
    fn each_protocol_names_its_parts() {
        let r = |instructions: &str, input: serde_json::Value| {
            fp(
                Protocol::OpenaiResponses,
                json!({"instructions": instructions, "tools": [], "input": input, "prompt_cache_retention": "24h"}),
            )
        };
        let (a, asked) = r("sys", json!("hello"));
        assert!(asked.day && !asked.hour);
        assert_eq!(a.messages.len(), 1, "a string input is one message");
        assert_eq!(a.divergence(&r("other", json!("hello")).0), Divergence::System);
        let g = |tools: serde_json::Value| {
            fp(Protocol::Gemini, json!({"systemInstruction": {"parts": [{"text": "s"}]}, "tools": tools, "contents": [{"role": "user", "parts": [{"text": "a"}]}]})).0
        };
        assert_eq!(g(json!([])).divergence(&g(json!([{"functionDeclarations": []}]))), Divergence::Tools);
        let c = fp(
            Protocol::OpenaiChat,
            json!({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}),
        )
        .0;
        assert_eq!(c.messages.len(), 2);
        assert!(fingerprint(Protocol::OpenaiChat, b"[1, 2]").is_none());
        assert!(fingerprint(Protocol::OpenaiChat, b"not json").is_none());
        assert!(asks_an_hour(br#"{"cache_control": {"type":"ephemeral", "ttl" : "1h"}}"#));
        assert!(!asks_an_hour(br#"{"text": "\"ttl\": \"1h\"", "x": "1h"}"#));
    }
}
