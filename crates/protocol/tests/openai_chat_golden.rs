//! Golden tests over the fixtures in `fixtures/openai_chat/`.
//!
//! Each input fixture has expected outputs next to it (`*.canonical.json`, `*.upstream.json`,
//! `*.client.json`, `*.events.json`, `*.sse`). Run with `UPDATE_GOLDEN=1` to rewrite them, then
//! review the diff: the expected files are the specification.

mod openai_chat_support;

use bytes::BytesMut;
use crossbar_protocol::canonical::{Request, Response, StreamEvent};
use crossbar_protocol::openai_chat::{decode, encode, stream_out};
use openai_chat_support::*;
use std::path::{Path, PathBuf};

fn inputs(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture_dir().join(dir))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.ends_with(ext) && name.matches('.').count() == 1
    });
    v.sort();
    assert!(!v.is_empty(), "no fixtures in {dir}");
    v
}

fn sibling(p: &Path, suffix: &str) -> PathBuf {
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    p.with_file_name(format!("{stem}.{suffix}"))
}

#[test]
fn client_requests_decode_and_encode_upstream() {
    for p in inputs("client_requests", ".json") {
        let body = std::fs::read(&p).expect("fixture");
        let req = crossbar_protocol::openai_chat::decode::decode_request(&body, &cx()).expect("decodes");
        check_golden(&sibling(&p, "canonical.json"), &pretty(&req));
        // The canonical form itself round-trips through serde (it is what the golden stores).
        let back: Request = serde_json::from_str(&pretty(&req)).expect("canonical json");
        assert_eq!(back, req);
        let enc = encode::encode_request(&req, &cx()).expect("encodes");
        assert_eq!(enc.path, "/chat/completions");
        let upstream: serde_json::Value = serde_json::from_slice(&enc.body).expect("json");
        let doc = serde_json::json!({ "body": upstream, "losses": enc.losses });
        check_golden(&sibling(&p, "upstream.json"), &pretty(&doc));
    }
}

#[test]
fn upstream_responses_decode_and_encode_for_clients() {
    for p in inputs("upstream_responses", ".json") {
        let body = std::fs::read(&p).expect("fixture");
        let resp = decode::decode_response(&body, &cx()).expect("decodes");
        check_golden(&sibling(&p, "canonical.json"), &pretty(&resp));
        let back: Response = serde_json::from_str(&pretty(&resp)).expect("canonical json");
        assert_eq!(back, resp);
        let client = encode::encode_response(&resp, &cx()).expect("encodes");
        let v: serde_json::Value = serde_json::from_slice(&client).expect("json");
        check_golden(&sibling(&p, "client.json"), &pretty(&v));
    }
}

#[test]
fn upstream_streams_decode_to_events_at_every_split() {
    for p in inputs("upstream_streams", ".sse") {
        let raw = std::fs::read(&p).expect("fixture");
        let events = decode_stream_whole(&raw);
        check_golden(&sibling(&p, "events.txt"), &events_text(&events));
        assert_grammar(&events);
        for cut in 0..=raw.len() {
            assert_eq!(decode_stream_split(&raw, &[cut]), events, "{} split at {cut}", p.display());
        }
    }
}

/// Canonical event sequences (as an upstream decoder would produce them) and the exact SSE a
/// Chat client must get for each, in `client_streams/<name>.sse`.
fn client_stream_cases() -> Vec<(&'static str, bool, Vec<StreamEvent>)> {
    use crossbar_protocol::canonical::{ErrorInfo, ErrorKind, FinishReason, PartKind, ToolCallKind, Usage};
    let start = || StreamEvent::Start { id: "msg_01XFDUDYJgAACzvnptvVoYEL".into(), model: "claude-sonnet-4-5".into() };
    let call = |index, id: &str, name: &str| StreamEvent::PartStart {
        index,
        kind: PartKind::ToolCall { id: id.into(), name: name.into(), kind: ToolCallKind::Function, opaque: None },
    };
    vec![
        (
            "reasoning_text_tool_usage",
            true,
            vec![
                start(),
                StreamEvent::Usage(Usage { input: Some(412), cache_read: Some(400), ..Default::default() }),
                StreamEvent::PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
                StreamEvent::ReasoningDelta { index: 0, text: "The user wants the weather.".into() },
                StreamEvent::Opaque {
                    index: 0,
                    opaque: crossbar_protocol::canonical::Opaque::new(
                        crossbar_protocol::canonical::Protocol::Anthropic,
                        "EqQBCkYIBxgC",
                    ),
                },
                StreamEvent::PartStop { index: 0 },
                StreamEvent::PartStart { index: 1, kind: PartKind::Text },
                StreamEvent::TextDelta { index: 1, text: "Checking".into() },
                StreamEvent::TextDelta { index: 1, text: " now.".into() },
                StreamEvent::PartStop { index: 1 },
                call(2, "toolu_01A", "get_weather"),
                StreamEvent::ToolArgsDelta { index: 2, delta: "".into() },
                StreamEvent::ToolArgsDelta { index: 2, delta: "{\"city\": ".into() },
                StreamEvent::ToolArgsDelta { index: 2, delta: "\"Paris\"}".into() },
                StreamEvent::PartStop { index: 2 },
                call(3, "toolu_01B", "get_weather"),
                StreamEvent::ToolArgsDelta { index: 3, delta: "{\"city\": \"Rome\"}".into() },
                StreamEvent::PartStop { index: 3 },
                StreamEvent::Finish(FinishReason::ToolCalls),
                StreamEvent::Usage(Usage { output: Some(88), ..Default::default() }),
                StreamEvent::End,
            ],
        ),
        (
            // A function-only upstream returned the client's custom tool wrapped as {"input": ...};
            // Gemini-style STOP with a tool call still finishes as tool_calls.
            "custom_tool_restored_no_usage",
            false,
            vec![
                start(),
                call(0, "call_9", "apply_patch"),
                StreamEvent::ToolArgsDelta { index: 0, delta: "{\"input\":\"*** Begin Patch\\n".into() },
                StreamEvent::ToolArgsDelta { index: 0, delta: "*** End Patch\"}".into() },
                StreamEvent::PartStop { index: 0 },
                StreamEvent::Finish(FinishReason::Stop),
                StreamEvent::End,
            ],
        ),
        (
            "error_midstream",
            true,
            vec![
                start(),
                StreamEvent::PartStart { index: 0, kind: PartKind::Text },
                StreamEvent::TextDelta { index: 0, text: "Partial".into() },
                StreamEvent::PartStop { index: 0 },
                StreamEvent::Error(ErrorInfo::new(ErrorKind::Overloaded, "Overloaded")),
                StreamEvent::End,
                // Ignored after the terminal event.
                StreamEvent::TextDelta { index: 0, text: "late".into() },
            ],
        ),
        (
            // The pipeline stopped without End: finish() owes the finish chunk, usage and [DONE].
            "cut_without_end",
            true,
            vec![
                start(),
                StreamEvent::PartStart { index: 0, kind: PartKind::Text },
                StreamEvent::TextDelta { index: 0, text: "Hel".into() },
            ],
        ),
        (
            "length_no_start",
            true,
            vec![
                StreamEvent::PartStart { index: 0, kind: PartKind::Text },
                StreamEvent::TextDelta { index: 0, text: "truncated".into() },
                StreamEvent::PartStop { index: 0 },
                StreamEvent::Finish(FinishReason::Length),
                StreamEvent::Usage(Usage { input: Some(5), output: Some(1), reasoning: Some(0), ..Default::default() }),
                StreamEvent::End,
            ],
        ),
    ]
}

#[test]
fn client_streams_encode_to_sse() {
    for (name, include_usage, events) in client_stream_cases() {
        let mut c = cx();
        c.include_usage = include_usage;
        let mut enc = stream_out::StreamEncoder::new(&c);
        let mut out = BytesMut::new();
        for ev in &events {
            enc.push(ev, &mut out);
        }
        enc.finish(&mut out);
        enc.finish(&mut out);
        let text = String::from_utf8(out.to_vec()).expect("utf8");
        check_golden(&fixture_dir().join(format!("client_streams/{name}.sse")), &text);
        check_sdk_rules(&text);
    }
}
