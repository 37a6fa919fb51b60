//! Chat stream decoding (upstream) and encoding (client) beyond the golden fixtures.

mod openai_chat_support;

use bytes::BytesMut;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind, FinishReason, PartKind, StreamEvent, ToolCallKind, Usage};
use crossbar_protocol::openai_chat::stream_out::StreamEncoder;
use openai_chat_support::*;
use serde_json::{json, Value};

fn sse(chunks: &[Value]) -> Vec<u8> {
    let mut s = String::new();
    for c in chunks {
        s.push_str(&format!("data: {c}\n\n"));
    }
    s.into_bytes()
}

fn delta(d: Value) -> Value {
    json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": d, "finish_reason": null}]})
}

fn finish(reason: &str) -> Value {
    json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
}

fn kinds(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let s = format!("{e:?}");
            s.split([' ', '(']).next().unwrap_or("").to_string()
        })
        .collect()
}

#[test]
fn error_frames_and_malformed_json_end_the_stream() {
    let mut raw = sse(&[delta(json!({"content": "a"}))]);
    raw.extend_from_slice(b"event: error\ndata: {\"error\":{\"message\":\"rate limited\",\"type\":\"rate_limit_error\",\"code\":\"rate_limit_exceeded\"}}\n\ndata: [DONE]\n\n");
    let ev = decode_stream_whole(&raw);
    assert_grammar(&ev);
    assert!(matches!(&ev[ev.len() - 2], StreamEvent::Error(e) if e.kind == ErrorKind::RateLimited && e.status == 429));

    let mut raw = sse(&[delta(json!({"content": "a"}))]);
    raw.extend_from_slice(b"data: {\"choices\": [\n\n");
    let ev = decode_stream_whole(&raw);
    assert_grammar(&ev);
    assert!(matches!(&ev[ev.len() - 2], StreamEvent::Error(e) if e.kind == ErrorKind::UpstreamInvalid));

    // A bare error chunk as the very first event still yields Start first.
    let ev = decode_stream_whole(&sse(&[
        json!({"error": {"message": "context_length_exceeded", "code": "context_length_exceeded"}}),
    ]));
    assert_grammar(&ev);
    assert!(matches!(&ev[1], StreamEvent::Error(e) if e.kind == ErrorKind::ContextLengthExceeded));

    // finish_reason "error" without an error object.
    let ev = decode_stream_whole(&sse(&[delta(json!({"content": "a"})), finish("error")]));
    assert_grammar(&ev);
    assert!(matches!(&ev[ev.len() - 2], StreamEvent::Error(_)));
}

#[test]
fn empty_and_cut_streams_end_with_upstream_invalid() {
    let ev = decode_stream_whole(b"");
    assert_eq!(kinds(&ev), ["Start", "Error", "End"]);
    assert!(matches!(&ev[1], StreamEvent::Error(e) if e.kind == ErrorKind::UpstreamInvalid));
    let ev = decode_stream_whole(b": keep-alive\n\n");
    assert_eq!(kinds(&ev), ["Start", "Error", "End"]);
}

#[test]
fn done_without_finish_reason_ends_normally_without_finish() {
    let mut raw = sse(&[delta(json!({"content": "hi"}))]);
    raw.extend_from_slice(b"data: [DONE]\n\n");
    let ev = decode_stream_whole(&raw);
    assert_eq!(kinds(&ev), ["Start", "PartStart", "TextDelta", "PartStop", "End"]);
}

#[test]
fn usage_null_chunks_content_after_finish_and_other_choices_are_ignored() {
    let raw = sse(&[
        json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "usage": null}),
        json!({"id": "c1", "model": "m", "choices": [{"index": 1, "delta": {"content": "other choice"}}]}),
        delta(json!({"content": "hi", "refusal": null})),
        finish("length"),
        delta(json!({"content": "late"})),
        json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1.0, "total_tokens": 4}}),
        json!({"id": "c1", "choices": [], "usage": {"completion_tokens_details": {"reasoning_tokens": 0}}}),
    ]);
    let mut raw = raw;
    raw.extend_from_slice(b"data: [DONE]\n\ndata: {\"after\": \"done\"}\n\n");
    let ev = decode_stream_whole(&raw);
    assert_grammar(&ev);
    assert_eq!(
        ev[1..].to_vec(),
        vec![
            StreamEvent::PartStart { index: 0, kind: PartKind::Text },
            StreamEvent::TextDelta { index: 0, text: "hi".into() },
            StreamEvent::PartStop { index: 0 },
            StreamEvent::Finish(FinishReason::Length),
            StreamEvent::Usage(Usage { input: Some(3), output: Some(1), reasoning: Some(0), ..Default::default() }),
            StreamEvent::End,
        ]
    );
}

#[test]
fn index_less_legacy_and_custom_tool_calls() {
    // Servers that omit `index`: a new id starts a new call; id-less deltas continue the last one.
    let raw = sse(&[
        delta(
            json!({"tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"x\""}}]}),
        ),
        delta(json!({"tool_calls": [{"function": {"arguments": ":1}"}}]})),
        delta(json!({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "{}"}}]})),
        // Legacy streamed function_call.
        delta(json!({"function_call": {"name": "legacy", "arguments": ""}})),
        delta(json!({"function_call": {"arguments": "{\"q\":1}"}})),
        // A native custom tool call (OpenAI streams `custom.input`).
        delta(
            json!({"tool_calls": [{"index": 7, "id": "cu", "type": "custom", "custom": {"name": "apply_patch", "input": "*** Begin"}}]}),
        ),
        delta(json!({"tool_calls": [{"index": 7, "custom": {"input": " Patch"}}]})),
        finish("tool_calls"),
    ]);
    let ev = decode_stream_whole(&raw);
    assert_grammar(&ev);
    let starts: Vec<(String, String, ToolCallKind)> = ev
        .iter()
        .filter_map(|e| match e {
            StreamEvent::PartStart { kind: PartKind::ToolCall { id, name, kind, .. }, .. } => {
                Some((id.clone(), name.clone(), *kind))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        vec![
            ("a".into(), "f".into(), ToolCallKind::Function),
            ("b".into(), "g".into(), ToolCallKind::Function),
            ("call_2".into(), "legacy".into(), ToolCallKind::Function),
            ("cu".into(), "apply_patch".into(), ToolCallKind::Custom),
        ]
    );
    let args: Vec<String> = (0..4)
        .map(|i| {
            ev.iter()
                .filter_map(|e| match e {
                    StreamEvent::ToolArgsDelta { index, delta } if *index == i => Some(delta.as_str()),
                    _ => None,
                })
                .collect()
        })
        .collect();
    assert_eq!(args, ["{\"x\":1}", "{}", "{\"q\":1}", "*** Begin Patch"]);
}

#[test]
fn a_call_whose_name_arrives_late_waits_for_it() {
    let raw = sse(&[
        delta(json!({"content": "x"})),
        delta(json!({"tool_calls": [{"index": 0, "id": "a", "function": {"arguments": "{\"k\""}}]})),
        delta(json!({"tool_calls": [{"index": 0, "function": {"name": "late", "arguments": ":2}"}}]})),
        finish("tool_calls"),
    ]);
    let ev = decode_stream_whole(&raw);
    assert_grammar(&ev);
    assert!(ev.contains(&StreamEvent::PartStart {
        index: 1,
        kind: PartKind::ToolCall { id: "a".into(), name: "late".into(), kind: ToolCallKind::Function, opaque: None }
    }));
    assert!(ev.contains(&StreamEvent::ToolArgsDelta { index: 1, delta: "{\"k\":2}".into() }));
}

// ---------------------------------------------------------------------------------------------
// stream_out

fn encode(events: &[StreamEvent], include_usage: bool, finish_twice: bool) -> String {
    let mut c = cx();
    c.include_usage = include_usage;
    let mut enc = StreamEncoder::new(&c);
    let mut out = BytesMut::new();
    for e in events {
        enc.push(e, &mut out);
    }
    enc.finish(&mut out);
    if finish_twice {
        enc.finish(&mut out);
    }
    String::from_utf8(out.to_vec()).expect("utf8")
}

fn start() -> StreamEvent {
    StreamEvent::Start { id: "up".into(), model: "gpt-x".into() }
}

fn tool(index: usize, id: &str, name: &str, kind: ToolCallKind) -> StreamEvent {
    StreamEvent::PartStart { index, kind: PartKind::ToolCall { id: id.into(), name: name.into(), kind, opaque: None } }
}

#[test]
fn sdk_accumulation_rebuilds_the_message() {
    let text = encode(
        &[
            start(),
            StreamEvent::PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
            StreamEvent::ReasoningDelta { index: 0, text: "think".into() },
            StreamEvent::PartStop { index: 0 },
            StreamEvent::PartStart { index: 1, kind: PartKind::Reasoning { redacted: false } },
            StreamEvent::ReasoningDelta { index: 1, text: "again".into() },
            StreamEvent::PartStop { index: 1 },
            tool(2, "c0", "get_weather", ToolCallKind::Function),
            StreamEvent::ToolArgsDelta { index: 2, delta: "{\"a\":".into() },
            // No PartStop: the next call closes this one.
            tool(3, "c1", "apply_patch", ToolCallKind::Custom),
            StreamEvent::ToolArgsDelta { index: 2, delta: "ignored: part 2 is closed".into() },
            StreamEvent::ToolArgsDelta { index: 3, delta: "raw ".into() },
            StreamEvent::ToolArgsDelta { index: 3, delta: "input".into() },
            StreamEvent::PartStop { index: 3 },
            StreamEvent::PartStop { index: 9 },
            StreamEvent::Usage(Usage { input: Some(10), ..Default::default() }),
            StreamEvent::Usage(Usage { output: Some(4), ..Default::default() }),
            StreamEvent::End,
        ],
        true,
        true,
    );
    let msg = check_sdk_rules(&text);
    assert_eq!(msg["role"], "assistant");
    assert_eq!(msg["reasoning_content"], "think\n\nagain");
    assert_eq!(msg["finish_reason"], "tool_calls");
    assert_eq!(
        msg["tool_calls"][0],
        json!({"index": 0, "id": "c0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"a\":"}})
    );
    assert_eq!(
        msg["tool_calls"][1],
        json!({"index": 1, "id": "c1", "type": "custom", "custom": {"name": "apply_patch", "input": "raw input"}})
    );
    let data = data_lines(&text);
    let usage: Value = serde_json::from_str(&data[data.len() - 2]).expect("usage chunk");
    assert_eq!(usage["usage"], json!({"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}));
    assert_eq!(data.iter().filter(|d| d.contains("finish_reason\":\"")).count(), 1);
}

#[test]
fn finish_is_written_once_and_nothing_follows_it() {
    let text = encode(
        &[
            start(),
            StreamEvent::Finish(FinishReason::ContentFilter),
            StreamEvent::PartStart { index: 0, kind: PartKind::Text },
            StreamEvent::TextDelta { index: 0, text: "after finish".into() },
            StreamEvent::Finish(FinishReason::Stop),
            StreamEvent::End,
            StreamEvent::End,
        ],
        false,
        true,
    );
    let msg = check_sdk_rules(&text);
    assert_eq!(msg["finish_reason"], "content_filter");
    assert_eq!(msg["content"], "");
    assert_eq!(data_lines(&text).len(), 3, "role, finish, [DONE]");
}

#[test]
fn error_before_anything_and_after_finish() {
    let err = ErrorInfo::new(ErrorKind::ContextLengthExceeded, "too long");
    let text = encode(&[StreamEvent::Error(err.clone()), StreamEvent::End], true, true);
    check_sdk_rules(&text);
    let data = data_lines(&text);
    assert_eq!(data.len(), 2);
    let v: Value = serde_json::from_str(&data[0]).expect("json");
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    assert_eq!(v["error"]["type"], "invalid_request_error");

    // Finish already sent, then the upstream fails: the error chunk still ends the stream.
    let text = encode(&[start(), StreamEvent::Finish(FinishReason::Stop), StreamEvent::Error(err)], true, false);
    let data = data_lines(&text);
    assert_eq!(data.len(), 4);
    assert!(data[2].starts_with("{\"error\""));
}
