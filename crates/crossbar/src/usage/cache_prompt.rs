//! A request's prompt fingerprint for the cache verdict, read from the client's body as sent:
//! tools, system (`system` / `instructions` / `systemInstruction`) and a running hash per
//! message (`messages` / `input` items / `contents`), the way `canonical::Fingerprint` names
//! them, without decoding the request. A message is hashed as its raw JSON text; one holding a
//! `cache_control` is parsed and hashed without it (Claude Code moves its breakpoints every
//! turn, and Anthropic's cache ignores where they are), and Claude Code's billing nonce is left
//! out of the system text (Anthropic does not let it break the cache; other routes remove it).
//!
//! Cost: a parse of the turns' list and a hash over the bytes (a 200 KB request: see
//! docs/benchmarks.md), against a whole decode for `canonical::Fingerprint::of`; the top level
//! is where `pipeline::body::inspect` found it. A large prompt is fingerprinted while its
//! answer streams (`pipeline::finish::record::Ticket::fingerprint_soon`).

use crossbar_protocol::canonical::{Fingerprint, Protocol};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;

/// What a turn's TTL depends on, besides the upstream: a breakpoint asking for an hour, or
/// OpenAI's `prompt_cache_retention: "24h"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Asked {
    pub hour: bool,
    pub day: bool,
}

/// The top level of a request body, borrowed: what the fingerprint and the conversation key
/// (`routing::sticky`) read. `pipeline::body::inspect` notes where these members sit while it
/// checks the body ([`TopSpans`]), so neither has to parse a 2 MB prompt again; `parse` is for
/// a body nothing has looked at. (The key is needed before the upstream request and the
/// fingerprint only at the end: hashing every message up front would delay the first byte.)
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Top<'a> {
    pub tools: Option<Raw<'a>>,
    pub system: Option<Raw<'a>>,
    pub instructions: Option<Raw<'a>>,
    /// `systemInstruction`
    pub system_instruction: Option<Raw<'a>>,
    pub messages: Option<Raw<'a>>,
    pub input: Option<Raw<'a>>,
    pub contents: Option<Raw<'a>>,
    pub prompt_cache_retention: Option<Raw<'a>>,
    pub prompt_cache_key: Option<Raw<'a>>,
    pub metadata: Option<Raw<'a>>,
}

/// A member's value as its raw JSON text, borrowed from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    pub fn get(self) -> &'a str {
        self.0
    }
}

/// Where each of [`Top`]'s members sits in a body (byte ranges), in `Top::slot`'s order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TopSpans([Option<Range<usize>>; 10]);

impl<'a> Top<'a> {
    /// `None` when the body is not a JSON object.
    pub fn parse(body: &'a [u8]) -> Option<Top<'a>> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let top = de.deserialize_map(TopVisitor).ok()?;
        de.end().ok()?;
        Some(top)
    }

    /// The members `spans` (taken from this body) points at.
    pub fn at(body: &'a [u8], spans: &TopSpans) -> Top<'a> {
        let mut top = Top::default();
        for (i, span) in spans.0.iter().enumerate() {
            if let Some(text) = span.clone().and_then(|r| body.get(r)).and_then(|b| std::str::from_utf8(b).ok()) {
                *top.slot_at(i) = Some(Raw(text));
            }
        }
        top
    }

    /// Where each member sits in `body`, which they were borrowed from.
    pub fn spans(&self, body: &[u8]) -> TopSpans {
        let base = body.as_ptr() as usize;
        let mut spans = TopSpans::default();
        let mut top = *self;
        for (i, span) in spans.0.iter_mut().enumerate() {
            *span = top.slot_at(i).map(|r| {
                let start = r.0.as_ptr() as usize - base;
                start..start + r.0.len()
            });
        }
        spans
    }

    /// The member named `key`, if it is one of these. For a visitor of the top level.
    pub fn slot(&mut self, key: &str) -> Option<&mut Option<Raw<'a>>> {
        const NAMES: [&str; 10] = [
            "tools",
            "system",
            "instructions",
            "systemInstruction",
            "messages",
            "input",
            "contents",
            "prompt_cache_retention",
            "prompt_cache_key",
            "metadata",
        ];
        NAMES.iter().position(|n| *n == key).map(|i| self.slot_at(i))
    }

    fn slot_at(&mut self, i: usize) -> &mut Option<Raw<'a>> {
        match i {
            0 => &mut self.tools,
            1 => &mut self.system,
            2 => &mut self.instructions,
            3 => &mut self.system_instruction,
            4 => &mut self.messages,
            5 => &mut self.input,
            6 => &mut self.contents,
            7 => &mut self.prompt_cache_retention,
            8 => &mut self.prompt_cache_key,
            _ => &mut self.metadata,
        }
    }

    /// Read the next value of `map` into the member `key` names, or skip it.
    pub fn visit<'de: 'a, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match self.slot(key) {
            Some(slot) => *slot = Some(Raw(map.next_value::<&'de RawValue>()?.get())),
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut top = Top::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            top.visit(&key, &mut map)?;
        }
        Ok(top)
    }
}

/// A list of turns as its items (a Responses `input` may be a plain string: one message).
pub(crate) fn items(turns: Option<Raw>) -> Vec<Raw> {
    match turns {
        Some(t) => serde_json::from_str::<Vec<&RawValue>>(t.get())
            .map(|v| v.into_iter().map(|r| Raw(r.get())).collect())
            .unwrap_or_else(|_| vec![t]),
        None => Vec::new(),
    }
}

/// The first `n` items of a list of turns, without reading past them (the conversation key
/// needs two; a long session's `input` is megabytes).
pub(crate) fn first_items(turns: Raw, n: usize) -> Vec<Raw> {
    let text = turns.get();
    let Some(rest) = text.trim_start().strip_prefix('[') else { return std::iter::once(turns).take(n).collect() };
    let mut out = Vec::with_capacity(n);
    let mut at = text.len() - rest.len();
    while out.len() < n {
        let tail = text[at..].trim_start();
        let tail = if out.is_empty() { tail } else { tail.strip_prefix(',').map_or(tail, str::trim_start) };
        if tail.starts_with(']') {
            break;
        }
        // One value, not the rest: a deserializer only checks what follows when told to.
        let Ok(item) = <&RawValue>::deserialize(&mut serde_json::Deserializer::from_str(tail)) else {
            return items(Some(turns)).into_iter().take(n).collect();
        };
        let item = item.get();
        out.push(Raw(item));
        at = item.as_ptr() as usize - text.as_ptr() as usize + item.len();
    }
    out
}

/// The fingerprint of a client's request body, and the cache lifetime it asked for; `None`
/// when the body is not a JSON object.
pub fn fingerprint(p: Protocol, body: &[u8], spans: Option<&TopSpans>) -> Option<(Fingerprint, Asked)> {
    let top = match spans {
        Some(s) => Top::at(body, s),
        None => Top::parse(body)?,
    };
    let items = items(turns_of(p, &top));
    Some(fingerprint_of(p, &top, &items, body))
}

fn turns_of<'a>(p: Protocol, top: &Top<'a>) -> Option<Raw<'a>> {
    match p {
        Protocol::OpenaiResponses => top.input,
        Protocol::Gemini => top.contents,
        Protocol::Anthropic | Protocol::OpenaiChat => top.messages,
    }
}

fn fingerprint_of(p: Protocol, top: &Top, items: &[Raw], body: &[u8]) -> (Fingerprint, Asked) {
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

    /// The fingerprint, read both ways: parsing the body here and from the spans
    /// `pipeline::body::inspect` noted. They must agree.
    fn fp(p: Protocol, v: serde_json::Value) -> (Fingerprint, Asked) {
        let body = v.to_string();
        let parsed = fingerprint(p, body.as_bytes(), None).expect("object");
        let spans = crate::pipeline::body::inspect(body.as_bytes()).expect("valid").prompt;
        assert_eq!(fingerprint(p, body.as_bytes(), Some(&spans)), Some(parsed.clone()), "spans agree on {body}");
        parsed
    }

    #[test]
    fn the_first_items_are_read_without_the_rest() {
        let texts = [r#"[]"#, r#" [ {"a": [1, "]"]} , "x\"]" ,3,[4]]"#, r#""one string""#, r#"[{"b":1}]"#];
        for text in texts {
            let all = items(Some(Raw(text)));
            for n in 0..5 {
                let first = first_items(Raw(text), n);
                assert_eq!(first[..], all[..n.min(all.len())], "{text}, {n}");
            }
        }
        // A list cut short is read whole (and refused there): nothing is made up.
        assert_eq!(first_items(Raw("[1, tru"), 2), vec![Raw("[1, tru")]);
    }

    #[test]
    fn spans_point_at_what_a_parse_finds() {
        let body = br#"{"model":"m","tools":[{"x":"}"}],"input":[1,{"y":2}],"metadata":{"user_id":"u"},"prompt_cache_key":"k\"q"}"#;
        let parsed = Top::parse(body).expect("object");
        let spans = parsed.spans(body);
        let at = Top::at(body, &spans);
        assert_eq!(at.tools, parsed.tools);
        assert_eq!(at.input.map(Raw::get), Some(r#"[1,{"y":2}]"#));
        assert_eq!(at.prompt_cache_key.map(Raw::get), Some(r#""k\"q""#));
        assert_eq!(at.metadata, parsed.metadata);
        assert_eq!(at.system, None);
        assert_eq!(crate::pipeline::body::inspect(body).expect("valid").prompt, spans);
        // Spans that do not fit the body read as absent, never out of bounds.
        assert_eq!(Top::at(b"{}", &spans).input, None);
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
        assert!(fingerprint(Protocol::OpenaiChat, b"[1, 2]", None).is_none());
        assert!(fingerprint(Protocol::OpenaiChat, b"not json", None).is_none());
        assert!(asks_an_hour(br#"{"cache_control": {"type":"ephemeral", "ttl" : "1h"}}"#));
        assert!(!asks_an_hour(br#"{"text": "\"ttl\": \"1h\"", "x": "1h"}"#));
    }
}
