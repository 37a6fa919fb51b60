//! Gemini adapter streams: upstream SSE → canonical events (fixtures, every split point,
//! error and cut endings), and canonical events → the chunks a Gemini client reads (SSE and
//! JSON-array framing, signature placement, terminal chunk exactly once).

use bytes::BytesMut;
use crossbar_protocol::canonical::opaque::Sealed;
use crossbar_protocol::canonical::{
    Cx, ErrorInfo, ErrorKind, FinishReason, Opaque, OpaqueCodec, PartKind, Protocol, Reasoning, StreamEvent,
    ToolCallKind, Usage,
};
use crossbar_protocol::sse::Decoder;
use crossbar_protocol::{StreamDecoder, StreamEncoder};
use serde_json::{json, Value};
use std::sync::Arc;

const G: Protocol = Protocol::Gemini;

fn cx(sse: bool) -> Cx {
    let mut cx = Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])));
    cx.id = "x1".into();
    cx.sse = sse;
    cx
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Raw upstream bytes, delivered in the given pieces, → canonical events.
fn decode_pieces(pieces: &[&[u8]]) -> Vec<StreamEvent> {
    let cx = cx(true);
    let mut sse = Decoder::default();
    let mut dec = StreamDecoder::new(G, &cx);
    let mut frames = Vec::new();
    let mut out = Vec::new();
    for p in pieces {
        sse.push(p, &mut frames);
        for f in frames.drain(..) {
            dec.push(&f, &mut out);
        }
    }
    sse.finish(&mut frames);
    for f in frames.drain(..) {
        dec.push(&f, &mut out);
    }
    dec.finish(&mut out);
    out
}

fn decode_all(bytes: &[u8]) -> Vec<StreamEvent> {
    decode_pieces(&[bytes])
}

/// The grammar of canonical/event.rs.
fn assert_grammar(events: &[StreamEvent]) {
    assert!(matches!(events.first(), Some(StreamEvent::Start { .. })), "{events:?}");
    assert_eq!(events.iter().filter(|e| matches!(e, StreamEvent::End)).count(), 1, "{events:?}");
    assert!(matches!(events.last(), Some(StreamEvent::End)), "{events:?}");
    let mut next = 0;
    let mut open: Option<usize> = None;
    let mut terminal = false;
    for e in events {
        assert!(!terminal || matches!(e, StreamEvent::End), "after Error: {events:?}");
        match e {
            StreamEvent::PartStart { index, .. } => {
                assert_eq!((open, *index), (None, next), "{events:?}");
                open = Some(*index);
                next += 1;
            }
            StreamEvent::TextDelta { index, .. }
            | StreamEvent::ReasoningDelta { index, .. }
            | StreamEvent::ToolArgsDelta { index, .. }
            | StreamEvent::Opaque { index, .. } => assert_eq!(open, Some(*index), "{events:?}"),
            StreamEvent::PartStop { index } => {
                assert_eq!(open, Some(*index), "{events:?}");
                open = None;
            }
            StreamEvent::Error(_) => terminal = true,
            StreamEvent::Finish(_) | StreamEvent::End => assert_eq!(open, None, "{events:?}"),
            _ => {}
        }
    }
}

fn sig(s: &str) -> Opaque {
    Opaque::new(Protocol::Gemini, s)
}

// === stream_in ===

#[test]
fn text_stream_fixture() {
    let events = decode_all(&fixture("stream_text.sse"));
    assert_grammar(&events);
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "vWQtaq3vC8GWz7IP2c6FsAU".into(), model: "gemini-3-pro-preview".into() },
            StreamEvent::PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
            StreamEvent::ReasoningDelta { index: 0, text: "**Planning the answer**\n\nThe user wants".into() },
            StreamEvent::ReasoningDelta { index: 0, text: " a haiku about rust.".into() },
            StreamEvent::PartStop { index: 0 },
            StreamEvent::PartStart { index: 1, kind: PartKind::Text },
            StreamEvent::TextDelta { index: 1, text: "Iron slowly wakes,".into() },
            StreamEvent::TextDelta {
                index: 1, text: "\norange bloom on quiet steel —\ntime's patient color.".into()
            },
            StreamEvent::PartStop { index: 1 },
            // The closing empty part's signature: a reasoning part of its own.
            StreamEvent::PartStart { index: 2, kind: PartKind::Reasoning { redacted: false } },
            StreamEvent::Opaque { index: 2, opaque: sig("EqQDCqEDAdHtim9Hm8Zc5r1f3K0p") },
            StreamEvent::PartStop { index: 2 },
            StreamEvent::Finish(FinishReason::Stop),
            StreamEvent::Usage(Usage { input: Some(20), output: Some(78), reasoning: Some(60), ..Default::default() }),
            StreamEvent::End,
        ]
    );
}

#[test]
fn tool_call_stream_fixture() {
    let events = decode_all(&fixture("stream_tool_call.sse"));
    assert_grammar(&events);
    // The call's signature travels in its start (client encoders seal it into the call id).
    let call = |id: &str, name: &str, opaque: Option<Opaque>| PartKind::ToolCall {
        id: id.into(),
        name: name.into(),
        kind: ToolCallKind::Function,
        opaque,
    };
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "ZWUtaqPuIYeHz7IP7-WQ-AU".into(), model: "gemini-2.5-flash".into() },
            StreamEvent::PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
            StreamEvent::ReasoningDelta {
                index: 0,
                text: "**Listing files**\n\nI'll run ls, and read the notes.".into()
            },
            StreamEvent::PartStop { index: 0 },
            StreamEvent::PartStart {
                index: 1,
                kind: call("call_x1_0", "run_shell_command", Some(sig("CikB0e2Kb3lYJ6t0VvW0pG9")))
            },
            StreamEvent::ToolArgsDelta { index: 1, delta: r#"{"command":"ls","description":"List files"}"#.into() },
            StreamEvent::PartStop { index: 1 },
            StreamEvent::PartStart { index: 2, kind: call("call_x1_1", "read_file", None) },
            StreamEvent::ToolArgsDelta { index: 2, delta: r#"{"absolute_path":"/work/notes.md"}"#.into() },
            StreamEvent::PartStop { index: 2 },
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(Usage {
                input: Some(3210),
                output: Some(80),
                cache_read: Some(2048),
                cache_write: None,
                cache_write_1h: None,
                reasoning: Some(36)
            }),
            StreamEvent::End,
        ]
    );
}

#[test]
fn every_split_point_gives_the_same_events() {
    for name in ["stream_text.sse", "stream_tool_call.sse", "stream_error.sse", "stream_cut.sse"] {
        let bytes = fixture(name);
        let whole = decode_all(&bytes);
        assert_grammar(&whole);
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(decode_pieces(&[a, b]), whole, "{name} split at {cut}");
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_pieces(&bytewise), whole, "{name} byte by byte");
    }
}

#[test]
fn upstream_error_chunk_ends_the_stream() {
    let events = decode_all(&fixture("stream_error.sse"));
    assert_grammar(&events);
    let (head, tail) = events.split_at(4);
    assert_eq!(
        head,
        [
            StreamEvent::Start { id: "q2YtarGfLYqHz7IPmN2c8Ag".into(), model: "gemini-2.5-pro".into() },
            StreamEvent::PartStart { index: 0, kind: PartKind::Text },
            StreamEvent::TextDelta { index: 0, text: "Partial".into() },
            StreamEvent::PartStop { index: 0 },
        ]
    );
    match tail {
        [StreamEvent::Error(e), StreamEvent::End] => {
            assert_eq!((e.kind, e.status, e.code.as_deref()), (ErrorKind::Overloaded, 503, Some("UNAVAILABLE")));
            assert_eq!(e.message, "The model is overloaded. Please try again later.");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cut_and_unfinished_streams_end_in_upstream_invalid() {
    let events = decode_all(&fixture("stream_cut.sse"));
    assert_grammar(&events);
    assert!(matches!(&events[events.len() - 2], StreamEvent::Error(e) if e.kind == ErrorKind::UpstreamInvalid));
    // Well-formed chunks but no finishReason: the upstream never said it was done.
    let no_finish = b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"}}],\"usageMetadata\":{\"promptTokenCount\":3}}\r\n\r\n";
    let events = decode_all(no_finish);
    assert_grammar(&events);
    assert_eq!(
        &events[3..],
        &[
            StreamEvent::PartStop { index: 0 },
            StreamEvent::Usage(Usage { input: Some(3), ..Default::default() }),
            StreamEvent::Error(ErrorInfo::new(
                ErrorKind::UpstreamInvalid,
                "gemini stream ended without a finishReason"
            )),
            StreamEvent::End,
        ]
    );
    // Nothing at all.
    let events = decode_all(b"");
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "x1".into(), model: String::new() },
            StreamEvent::Error(ErrorInfo::new(
                ErrorKind::UpstreamInvalid,
                "gemini stream ended without a finishReason"
            )),
            StreamEvent::End,
        ]
    );
}

#[test]
fn blocked_prompts_arrays_and_signed_thoughts() {
    let blocked = b"data: {\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},\"usageMetadata\":{\"promptTokenCount\":4,\"totalTokenCount\":4}}\n\n";
    let events = decode_all(blocked);
    assert_grammar(&events);
    assert!(events.contains(&StreamEvent::Finish(FinishReason::ContentFilter)));
    // A data payload holding a JSON array of chunks; a signature on a thought part, then more
    // thought text (a new run), then a signed answer chunk.
    let arr = json!([
        {"candidates": [{"content": {"parts": [{"text": "a", "thought": true, "thoughtSignature": "T1"}]}}]},
        {"candidates": [{"content": {"parts": [{"text": "b", "thought": true}]}}]},
        {"candidates": [{"content": {"parts": [{"text": "c", "thoughtSignature": "T2"}]}, "finishReason": "MAX_TOKENS"}]}
    ]);
    let events = decode_all(format!("data: {arr}\n\n").as_bytes());
    assert_grammar(&events);
    assert_eq!(
        &events[1..],
        &[
            StreamEvent::PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
            StreamEvent::ReasoningDelta { index: 0, text: "a".into() },
            StreamEvent::Opaque { index: 0, opaque: sig("T1") },
            StreamEvent::PartStop { index: 0 },
            StreamEvent::PartStart { index: 1, kind: PartKind::Reasoning { redacted: false } },
            StreamEvent::ReasoningDelta { index: 1, text: "b".into() },
            StreamEvent::Opaque { index: 1, opaque: sig("T2") },
            StreamEvent::PartStop { index: 1 },
            StreamEvent::PartStart { index: 2, kind: PartKind::Text },
            StreamEvent::TextDelta { index: 2, text: "c".into() },
            StreamEvent::PartStop { index: 2 },
            StreamEvent::Finish(FinishReason::Length),
            StreamEvent::End,
        ]
    );
}

/// Gemini 3 signs the last chunk of an answer: the answer stays one text part, and the
/// signature follows it (the same in a non-streamed answer, whose text parts are one text as
/// when streamed), so a Responses client sees one message and the upstream encoder puts the
/// signature back on that text.
#[test]
fn a_signed_last_answer_chunk_keeps_the_answer_whole() {
    let chunk = |part: Value| json!({"candidates": [{"content": {"role": "model", "parts": [part]}}]});
    let mut body = String::new();
    for part in [json!({"text": "one "}), json!({"text": "two", "thoughtSignature": "S3"})] {
        body.push_str(&format!("data: {}\n\n", chunk(part)));
    }
    body.push_str(&format!("data: {}\n\n", json!({"candidates": [{"finishReason": "STOP"}]})));
    let events = decode_all(body.as_bytes());
    assert_grammar(&events);
    assert_eq!(
        &events[1..7],
        &[
            StreamEvent::PartStart { index: 0, kind: PartKind::Text },
            StreamEvent::TextDelta { index: 0, text: "one ".into() },
            StreamEvent::TextDelta { index: 0, text: "two".into() },
            StreamEvent::PartStop { index: 0 },
            StreamEvent::PartStart { index: 1, kind: PartKind::Reasoning { redacted: false } },
            StreamEvent::Opaque { index: 1, opaque: sig("S3") },
        ]
    );
    let whole = json!({"candidates": [{"content": {"role": "model", "parts": [
        {"text": "one "}, {"text": "two", "thoughtSignature": "S3"}]}, "finishReason": "STOP"}]});
    let resp =
        crossbar_protocol::decode_response(Protocol::Gemini, whole.to_string().as_bytes(), &cx(true)).expect("decodes");
    assert_eq!(
        resp.parts,
        vec![
            crossbar_protocol::canonical::Part::text("one two"),
            crossbar_protocol::canonical::Part::Reasoning(Reasoning { opaque: Some(sig("S3")), ..Default::default() }),
        ]
    );
}

// === stream_out ===

fn encode(events: &[StreamEvent], cx: &Cx, finish: bool) -> Vec<u8> {
    let mut enc = StreamEncoder::new(G, cx);
    let mut out = BytesMut::new();
    for e in events {
        enc.push(e, &mut out);
    }
    if finish {
        enc.finish(&mut out);
        enc.finish(&mut out);
    }
    out.to_vec()
}

/// SSE frames → JSON chunks (every frame must be JSON, and have no `event:` line).
fn frames(bytes: &[u8]) -> Vec<Value> {
    let mut d = Decoder::default();
    let mut evs = Vec::new();
    d.push(bytes, &mut evs);
    d.finish(&mut evs);
    evs.iter()
        .map(|e| {
            assert!(e.event.is_none());
            serde_json::from_str(&e.data).unwrap_or_else(|err| panic!("{err}: {}", e.data))
        })
        .collect()
}

fn part_chunk(part: Value) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}], "modelVersion": "m", "responseId": "r1"})
}

fn final_chunk(reason: &str, usage: Option<Value>) -> Value {
    let mut v = json!({"candidates": [{"finishReason": reason, "index": 0}], "modelVersion": "m", "responseId": "r1"});
    if let Some(u) = usage {
        v["usageMetadata"] = u;
    }
    v
}

fn start() -> StreamEvent {
    StreamEvent::Start { id: "r1".into(), model: "m".into() }
}

#[test]
fn text_stream_out_exact_chunks() {
    let events = vec![
        start(),
        StreamEvent::PartStart { index: 0, kind: PartKind::Text },
        StreamEvent::TextDelta { index: 0, text: "Hel".into() },
        StreamEvent::TextDelta { index: 0, text: "".into() },
        StreamEvent::TextDelta { index: 0, text: "lo".into() },
        StreamEvent::PartStop { index: 0 },
        StreamEvent::Finish(FinishReason::Length),
        // Usage after Finish still reaches the last chunk.
        StreamEvent::Usage(Usage { input: Some(3), output: Some(2), ..Default::default() }),
        StreamEvent::End,
    ];
    let bytes = encode(&events, &cx(true), true);
    assert!(bytes.starts_with(b"data: {"));
    assert_eq!(
        frames(&bytes),
        vec![
            part_chunk(json!({"text": "Hel"})),
            part_chunk(json!({"text": "lo"})),
            final_chunk(
                "MAX_TOKENS",
                Some(json!({"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}))
            ),
        ]
    );
}

#[test]
fn foreign_reasoning_token_rides_on_the_function_call() {
    let thinking_sig = Opaque::new(Protocol::Anthropic, "EqMBCkYIBxgCKkA");
    let events = vec![
        start(),
        StreamEvent::PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
        StreamEvent::ReasoningDelta { index: 0, text: "Need the ".into() },
        StreamEvent::ReasoningDelta { index: 0, text: "file list.".into() },
        StreamEvent::Opaque { index: 0, opaque: thinking_sig.clone() },
        StreamEvent::PartStop { index: 0 },
        StreamEvent::PartStart {
            index: 1,
            kind: PartKind::ToolCall {
                id: "toolu_9".into(),
                name: "run_shell_command".into(),
                kind: ToolCallKind::Function,
                opaque: None,
            },
        },
        StreamEvent::ToolArgsDelta { index: 1, delta: "{\"comm".into() },
        StreamEvent::ToolArgsDelta { index: 1, delta: "and\":\"ls\"}".into() },
        StreamEvent::PartStop { index: 1 },
        StreamEvent::Usage(Usage { input: Some(10), output: Some(5), ..Default::default() }),
        StreamEvent::Finish(FinishReason::ToolCalls),
        StreamEvent::End,
    ];
    let chunks = frames(&encode(&events, &cx(true), false));
    assert_eq!(chunks.len(), 4);
    assert_eq!(chunks[0], part_chunk(json!({"text": "Need the ", "thought": true})));
    assert_eq!(chunks[1], part_chunk(json!({"text": "file list.", "thought": true})));
    let call = &chunks[2]["candidates"][0]["content"]["parts"][0];
    assert_eq!(call["functionCall"], json!({"id": "toolu_9", "name": "run_shell_command", "args": {"command": "ls"}}));
    let token = call["thoughtSignature"].as_str().unwrap_or_default();
    let codec = OpaqueCodec::new([7u8; 32]);
    assert_eq!(
        codec.open(token),
        Ok(Sealed::Reasoning(Reasoning {
            text: "Need the file list.".into(),
            opaque: Some(thinking_sig),
            ..Default::default()
        }))
    );
    assert_eq!(
        chunks[3],
        final_chunk("STOP", Some(json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15})))
    );
}

#[test]
fn reasoning_token_goes_on_the_first_text_chunk_or_its_own_part() {
    let events = vec![
        start(),
        StreamEvent::PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
        StreamEvent::ReasoningDelta { index: 0, text: "hmm".into() },
        StreamEvent::Opaque { index: 0, opaque: sig("G1") },
        StreamEvent::PartStop { index: 0 },
        StreamEvent::PartStart { index: 1, kind: PartKind::Text },
        StreamEvent::TextDelta { index: 1, text: "A".into() },
        StreamEvent::TextDelta { index: 1, text: "B".into() },
        StreamEvent::PartStop { index: 1 },
        // Reasoning with nothing after it: the token is written on an empty thought part.
        StreamEvent::PartStart { index: 2, kind: PartKind::Reasoning { redacted: false } },
        StreamEvent::Opaque { index: 2, opaque: sig("G2") },
        StreamEvent::PartStop { index: 2 },
        StreamEvent::Finish(FinishReason::Stop),
        StreamEvent::End,
    ];
    assert_eq!(
        frames(&encode(&events, &cx(true), false)),
        vec![
            part_chunk(json!({"text": "hmm", "thought": true})),
            part_chunk(json!({"text": "A", "thoughtSignature": "G1"})),
            part_chunk(json!({"text": "B"})),
            part_chunk(json!({"text": "", "thought": true, "thoughtSignature": "G2"})),
            final_chunk("STOP", None),
        ]
    );
}

#[test]
fn gemini_to_gemini_stream_keeps_signatures_raw() {
    let events = decode_all(&fixture("stream_tool_call.sse"));
    let chunks = frames(&encode(&events, &cx(true), false));
    let parts: Vec<Value> = chunks.iter().map(|c| c["candidates"][0]["content"]["parts"][0].clone()).collect();
    assert_eq!(parts[0], json!({"text": "**Listing files**\n\nI'll run ls, and read the notes.", "thought": true}));
    assert_eq!(
        parts[1],
        json!({"functionCall": {"id": "call_x1_0", "name": "run_shell_command", "args": {"command": "ls", "description": "List files"}},
               "thoughtSignature": "CikB0e2Kb3lYJ6t0VvW0pG9"})
    );
    assert_eq!(
        parts[2],
        json!({"functionCall": {"id": "call_x1_1", "name": "read_file", "args": {"absolute_path": "/work/notes.md"}}})
    );
    assert_eq!(chunks[3]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        chunks[3]["usageMetadata"],
        json!({"promptTokenCount": 3210, "candidatesTokenCount": 44, "totalTokenCount": 3290, "thoughtsTokenCount": 36, "cachedContentTokenCount": 2048})
    );
    assert_eq!(chunks[3]["modelVersion"], "gemini-2.5-flash");
    assert_eq!(chunks[3]["responseId"], "ZWUtaqPuIYeHz7IP7-WQ-AU");
    // And what we wrote decodes back to the same canonical stream.
    assert_eq!(decode_all(&encode(&events, &cx(true), false)), events);
    let text_events = decode_all(&fixture("stream_text.sse"));
    assert_eq!(decode_all(&encode(&text_events, &cx(true), false)), text_events);
}

#[test]
fn error_mid_stream_is_one_error_chunk_then_nothing() {
    let mut err = ErrorInfo::new(ErrorKind::RateLimited, "slow down");
    err.status = 429;
    let events = vec![
        start(),
        StreamEvent::PartStart { index: 0, kind: PartKind::Text },
        StreamEvent::TextDelta { index: 0, text: "par".into() },
        StreamEvent::PartStart {
            index: 1,
            kind: PartKind::ToolCall { id: "c".into(), name: "f".into(), kind: ToolCallKind::Function, opaque: None },
        },
        StreamEvent::ToolArgsDelta { index: 1, delta: "{\"a\"".into() },
        StreamEvent::Error(err),
        StreamEvent::End,
        StreamEvent::TextDelta { index: 0, text: "late".into() },
    ];
    let bytes = encode(&events, &cx(true), true);
    assert_eq!(
        frames(&bytes),
        vec![
            part_chunk(json!({"text": "par"})),
            json!({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}),
        ]
    );
}

#[test]
fn cut_stream_gets_its_final_chunk_once() {
    let events = vec![
        start(),
        StreamEvent::PartStart {
            index: 0,
            kind: PartKind::ToolCall { id: "c1".into(), name: "f".into(), kind: ToolCallKind::Function, opaque: None },
        },
        StreamEvent::ToolArgsDelta { index: 0, delta: "{}".into() },
    ];
    let chunks = frames(&encode(&events, &cx(true), true));
    assert_eq!(
        chunks,
        vec![part_chunk(json!({"functionCall": {"id": "c1", "name": "f", "args": {}}})), final_chunk("STOP", None),]
    );
}

#[test]
fn json_array_framing() {
    let events = vec![
        start(),
        StreamEvent::PartStart { index: 0, kind: PartKind::Text },
        StreamEvent::TextDelta { index: 0, text: "Hi".into() },
        StreamEvent::PartStop { index: 0 },
        StreamEvent::Finish(FinishReason::Stop),
        StreamEvent::End,
    ];
    let bytes = encode(&events, &cx(false), true);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("[{") && text.ends_with("}]") && text.contains("},\r\n{"), "{text}");
    let all: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    assert_eq!(all, json!([part_chunk(json!({"text": "Hi"})), final_chunk("STOP", None)]));

    let err = vec![start(), StreamEvent::Error(ErrorInfo::new(ErrorKind::Overloaded, "busy")), StreamEvent::End];
    let all: Value = serde_json::from_slice(&encode(&err, &cx(false), true)).unwrap_or_default();
    assert_eq!(all, json!([{"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}]));

    let all: Value = serde_json::from_slice(&encode(&[], &cx(false), true)).unwrap_or_default();
    assert_eq!(all, json!([{"candidates": [{"finishReason": "STOP", "index": 0}], "responseId": "x1"}]));
}
