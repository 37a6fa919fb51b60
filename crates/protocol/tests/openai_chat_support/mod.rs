//! Shared helpers for the openai_chat integration tests.
#![allow(dead_code)]

use crossbar_protocol::canonical::{Cx, OpaqueCodec, StreamEvent, ToolDef, ToolIndex, ToolKind};
use crossbar_protocol::openai_chat::stream_in::StreamDecoder;
use crossbar_protocol::sse;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/openai_chat")
}

/// The tools a Codex-like client declared: one function, one custom (freeform) tool.
pub fn client_tools() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "get_weather".into(),
            namespace: None,
            description: None,
            parameters: serde_json::json!({"type": "object"}),
            kind: ToolKind::Function,
            strict: None,
            cache: None,
        },
        ToolDef {
            name: "apply_patch".into(),
            namespace: None,
            description: None,
            parameters: serde_json::json!({}),
            kind: ToolKind::Custom { format: None },
            strict: None,
            cache: None,
        },
    ]
}

pub fn cx() -> Cx {
    let mut cx = Cx::new(Arc::new(OpaqueCodec::new([9u8; 32])));
    cx.tools = Arc::new(ToolIndex::new(&client_tools()));
    cx.created = 1_748_000_000;
    cx.id = "0123456789abcdef".into();
    cx
}

pub fn pretty<T: serde::Serialize>(t: &T) -> String {
    let mut s = serde_json::to_string_pretty(t).expect("serializable");
    s.push('\n');
    s
}

/// Sealed envelopes (`Y2Ix…`, e.g. a tool call id carrying reasoning state) have a fresh nonce
/// each time: goldens hold `<sealed>` in their place.
pub fn mask_sealed(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("Y2Ix") {
        out.push_str(&rest[..at]);
        out.push_str("<sealed>");
        let tail = &rest[at..];
        let len = tail.find(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c))).unwrap_or(tail.len());
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Compare with the golden file, or rewrite it when `UPDATE_GOLDEN` is set.
pub fn check_golden(path: &Path, actual: &str) {
    let actual = mask_sealed(actual);
    let actual = actual.as_str();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("missing golden {} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(actual, expected, "golden mismatch: {}", path.display());
}

/// Raw SSE bytes → canonical events, splitting the input at `cuts`.
pub fn decode_stream_split(raw: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut sse_dec = sse::Decoder::default();
    let mut dec = StreamDecoder::new(&cx());
    let mut frames = Vec::new();
    let mut events = Vec::new();
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&raw.len())) {
        let c = c.clamp(start, raw.len());
        sse_dec.push(&raw[start..c], &mut frames);
        start = c;
    }
    sse_dec.finish(&mut frames);
    for f in &frames {
        dec.push(f, &mut events);
    }
    dec.finish(&mut events);
    events
}

pub fn decode_stream_whole(raw: &[u8]) -> Vec<StreamEvent> {
    decode_stream_split(raw, &[])
}

/// The grammar of `canonical::event`, checked on a decoder's output.
pub fn assert_grammar(events: &[StreamEvent]) {
    assert!(matches!(events.first(), Some(StreamEvent::Start { .. })), "Start first: {events:?}");
    assert_eq!(events.iter().filter(|e| matches!(e, StreamEvent::End)).count(), 1, "one End");
    assert!(matches!(events.last(), Some(StreamEvent::End)), "End last");
    let mut open: Option<usize> = None;
    let mut next = 0usize;
    let mut finished = false;
    let mut errored = false;
    for ev in &events[1..events.len() - 1] {
        assert!(!errored, "nothing but End after Error: {ev:?}");
        match ev {
            StreamEvent::Start { .. } | StreamEvent::End => panic!("misplaced {ev:?}"),
            StreamEvent::PartStart { index, .. } => {
                assert!(open.is_none() && !finished, "part opened while another is open / after finish");
                assert_eq!(*index, next, "sequential part indices");
                open = Some(*index);
                next += 1;
            }
            StreamEvent::TextDelta { index, .. }
            | StreamEvent::ReasoningDelta { index, .. }
            | StreamEvent::ToolArgsDelta { index, .. }
            | StreamEvent::Opaque { index, .. } => {
                assert_eq!(open, Some(*index), "delta outside its part")
            }
            StreamEvent::PartStop { index } => {
                assert_eq!(open, Some(*index), "stop of the open part");
                open = None;
            }
            StreamEvent::Usage(_) => assert!(open.is_none(), "usage between parts"),
            StreamEvent::Finish(_) => {
                assert!(open.is_none() && !finished, "one Finish after parts");
                finished = true;
            }
            StreamEvent::Error(_) => {
                assert!(open.is_none(), "parts closed before Error");
                errored = true;
            }
        }
    }
    assert!(open.is_none(), "all parts closed");
}

/// `data:` payloads of an SSE text, in order.
pub fn data_lines(sse_text: &str) -> Vec<String> {
    let mut frames = Vec::new();
    let mut d = sse::Decoder::default();
    d.push(sse_text.as_bytes(), &mut frames);
    d.finish(&mut frames);
    for f in &frames {
        assert!(f.event.is_none(), "Chat streams use no event: lines");
    }
    frames.into_iter().map(|f| f.data).collect()
}

/// What the official `openai` SDK (and its `.stream()` helper) requires of a chat stream, plus
/// an accumulation that mirrors the helper's delta merge (strings concatenate, so ids and names
/// must arrive once). Returns the accumulated message.
pub fn check_sdk_rules(sse_text: &str) -> Value {
    let data = data_lines(sse_text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "ends with [DONE]");
    assert_eq!(data.iter().filter(|d| *d == "[DONE]").count(), 1, "one [DONE]");
    let mut message = serde_json::json!({});
    let mut finish_seen = false;
    let mut usage_seen = false;
    for (n, d) in data[..data.len() - 1].iter().enumerate() {
        let v: Value = serde_json::from_str(d).expect("chunk is JSON");
        if v.get("error").is_some() {
            assert_eq!(n, data.len() - 2, "error chunk is last before [DONE]");
            for k in ["message", "type", "param", "code"] {
                assert!(v["error"].get(k).is_some(), "error.{k}");
            }
            continue;
        }
        assert!(v["id"].as_str().is_some_and(|s| s.starts_with("chatcmpl-")), "id");
        assert_eq!(v["object"], "chat.completion.chunk");
        assert!(v["created"].is_u64(), "created");
        assert!(v["model"].is_string(), "model");
        let choices = v["choices"].as_array().expect("choices array");
        if n == 0 {
            assert_eq!(choices[0]["delta"]["role"], "assistant", "role first");
        }
        if choices.is_empty() {
            assert!(finish_seen, "usage chunk after finish");
            assert!(v["usage"]["total_tokens"].is_u64(), "usage chunk");
            usage_seen = true;
            continue;
        }
        assert!(!usage_seen, "nothing after the usage chunk");
        assert!(!finish_seen, "no content after the finish chunk");
        let choice = &choices[0];
        assert_eq!(choice["index"], 0);
        if let Some(f) = choice["finish_reason"].as_str() {
            assert!(["stop", "length", "tool_calls", "content_filter"].contains(&f), "finish {f}");
            assert_eq!(choice["delta"], serde_json::json!({}), "finish chunk has an empty delta");
            message["finish_reason"] = Value::String(f.to_string());
            finish_seen = true;
        }
        accumulate(&mut message, &choice["delta"]);
    }
    message
}

/// The SDK's `accumulate_delta`: strings concatenate, lists merge by `index`, `index`/`type` are kept.
fn accumulate(acc: &mut Value, delta: &Value) {
    let Some(delta) = delta.as_object() else {
        return;
    };
    for (k, dv) in delta {
        let Some(obj) = acc.as_object_mut() else {
            return;
        };
        match (obj.get_mut(k), dv) {
            (None, _) => {
                obj.insert(k.clone(), dv.clone());
            }
            (Some(_), _) if k == "index" || k == "type" => {
                obj.insert(k.clone(), dv.clone());
            }
            (Some(Value::String(a)), Value::String(b)) => a.push_str(b),
            (Some(Value::Array(list)), Value::Array(entries)) => {
                for e in entries {
                    let i = e.get("index").and_then(Value::as_u64).expect("list delta entry has an index") as usize;
                    if i < list.len() {
                        accumulate(&mut list[i], e);
                    } else {
                        assert_eq!(i, list.len(), "tool call indices are dense");
                        list.push(e.clone());
                    }
                }
            }
            (Some(a @ Value::Object(_)), Value::Object(_)) => accumulate(a, dv),
            (Some(slot), _) => *slot = dv.clone(),
        }
    }
}

/// One event per line (the golden format for decoded streams).
pub fn events_text(events: &[StreamEvent]) -> String {
    events.iter().map(|e| format!("{e:?}\n")).collect()
}
