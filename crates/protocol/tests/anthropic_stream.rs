//! Anthropic streams: upstream SSE → canonical events (also split at every byte), and
//! canonical events → the client stream, checked by an accumulator that enforces the rules
//! Claude Code and the `anthropic` SDK rely on (clients.md §1, §3).

use bytes::BytesMut;
use crossbar_protocol::anthropic::{decode, stream_in::StreamDecoder, stream_out::StreamEncoder};
use crossbar_protocol::canonical::*;
use crossbar_protocol::sse::{Decoder, SseEvent};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::Arc;

fn cx() -> Cx {
    let mut cx = Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])));
    cx.id = "s1".into();
    cx
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/anthropic/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Raw SSE bytes → canonical events, with the bytes cut into the given pieces.
fn decode_stream(pieces: &[&[u8]]) -> Vec<StreamEvent> {
    let mut sse = Decoder::default();
    let mut frames = Vec::new();
    for p in pieces {
        sse.push(p, &mut frames);
    }
    sse.finish(&mut frames);
    let mut dec = StreamDecoder::new(&cx());
    let mut out = Vec::new();
    for f in &frames {
        dec.push(f, &mut out);
    }
    dec.finish(&mut out);
    out
}

fn usage(input: u64, output: u64, read: u64, write: u64) -> Usage {
    Usage {
        input: Some(input),
        output: Some(output),
        cache_read: Some(read),
        cache_write: Some(write),
        cache_write_1h: None,
        reasoning: None,
    }
}

fn tool_use_events() -> Vec<StreamEvent> {
    use StreamEvent::*;
    vec![
        Start { id: "msg_01S8wYtG7dJ4cPv3GqJZ8xLk".into(), model: "claude-sonnet-4-5-20250929".into() },
        // message_start's output_tokens (2) is a placeholder: not reported as output.
        // The fixture splits its cache writes by TTL (none with 1 h).
        Usage(crossbar_protocol::canonical::Usage {
            output: None,
            cache_write_1h: Some(0),
            ..usage(31672, 0, 30000, 1200)
        }),
        PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
        ReasoningDelta { index: 0, text: "The user wants the weather".into() },
        ReasoningDelta { index: 0, text: " in Paris.".into() },
        Opaque {
            index: 0,
            opaque: crossbar_protocol::canonical::Opaque::new(
                Protocol::Anthropic,
                "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
            ),
        },
        PartStop { index: 0 },
        PartStart { index: 1, kind: PartKind::Text },
        TextDelta { index: 1, text: "I'll check ".into() },
        TextDelta { index: 1, text: "the weather.".into() },
        PartStop { index: 1 },
        PartStart {
            index: 2,
            kind: PartKind::ToolCall {
                id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                name: "get_weather".into(),
                kind: ToolCallKind::Function,
                opaque: None,
            },
        },
        ToolArgsDelta { index: 2, delta: "{\"location\": \"Par".into() },
        ToolArgsDelta { index: 2, delta: "is\"}".into() },
        PartStop { index: 2 },
        Finish(FinishReason::ToolCalls),
        Usage(crossbar_protocol::canonical::Usage { cache_write_1h: Some(0), ..usage(31672, 89, 30000, 1200) }),
        End,
    ]
}

// === stream_in ===

#[test]
fn upstream_stream_decodes() {
    assert_eq!(decode_stream(&[&fixture("stream_tool_use.sse")]), tool_use_events());
}

#[test]
fn upstream_stream_decodes_at_every_split_point() {
    let raw = fixture("stream_tool_use.sse");
    let want = tool_use_events();
    for cut in 0..=raw.len() {
        assert_eq!(decode_stream(&[&raw[..cut], &raw[cut..]]), want, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = raw.chunks(1).collect();
    assert_eq!(decode_stream(&bytes), want);
}

#[test]
fn server_blocks_are_skipped_and_event_lines_are_optional() {
    use StreamEvent::*;
    let got = decode_stream(&[&fixture("stream_server_tool.sse")]);
    assert_eq!(
        got,
        vec![
            Start { id: "msg_01Srv".into(), model: "claude-sonnet-4-5".into() },
            Usage(crossbar_protocol::canonical::Usage { output: None, ..usage(2679, 0, 0, 0) }),
            PartStart { index: 0, kind: PartKind::Reasoning { redacted: true } },
            Opaque {
                index: 0,
                opaque: crossbar_protocol::canonical::Opaque::new(Protocol::Anthropic, "EmwKAhgBEgy3va3pzix")
            },
            PartStop { index: 0 },
            PartStart { index: 1, kind: PartKind::Text },
            TextDelta { index: 1, text: "Sunny".into() },
            PartStop { index: 1 },
            Finish(FinishReason::Stop),
            Usage(usage(2679, 510, 0, 0)),
            End,
        ]
    );
}

#[test]
fn upstream_error_event_ends_the_stream() {
    use StreamEvent::*;
    let got = decode_stream(&[&fixture("stream_overloaded.sse")]);
    assert_eq!(got.len(), 7, "{got:?}");
    assert_eq!(got[3], TextDelta { index: 0, text: "Hel".into() });
    assert_eq!(got[4], PartStop { index: 0 });
    let Error(e) = &got[5] else { panic!("error expected: {got:?}") };
    assert_eq!(
        (e.kind, e.message.as_str(), e.code.as_deref()),
        (ErrorKind::Overloaded, "Overloaded", Some("overloaded_error"))
    );
    assert_eq!(got[6], End);
}

#[test]
fn cut_and_malformed_streams_end_with_an_error() {
    let raw = String::from_utf8(fixture("stream_tool_use.sse")).expect("utf8");
    // Cut inside the tool call: the open part is closed, then Error(UpstreamInvalid), End.
    let cut =
        raw.find("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}").expect("marker");
    let got = decode_stream(&[&raw.as_bytes()[..cut]]);
    let n = got.len();
    assert_eq!(got[n - 3], StreamEvent::PartStop { index: 2 });
    assert!(matches!(&got[n - 2], StreamEvent::Error(e) if e.kind == ErrorKind::UpstreamInvalid));
    assert_eq!(got[n - 1], StreamEvent::End);
    // Cut after message_delta: the reply is complete, so no error.
    let cut = raw.find("event: message_stop").expect("marker");
    let got = decode_stream(&[&raw.as_bytes()[..cut]]);
    assert_eq!(got, tool_use_events());
    // Garbage JSON: Error + End, and nothing after.
    let got = decode_stream(&[b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\ndata: {oops\n\ndata: {\"type\":\"message_stop\"}\n\n"]);
    assert!(
        matches!(&got[..], [StreamEvent::Start { .. }, StreamEvent::Error(e), StreamEvent::End] if e.kind == ErrorKind::UpstreamInvalid),
        "{got:?}"
    );
    // Nothing at all.
    let got = decode_stream(&[b""]);
    assert!(matches!(&got[..], [StreamEvent::Start { .. }, StreamEvent::Error(_), StreamEvent::End]), "{got:?}");
}

#[test]
fn deltas_without_block_start_and_whole_tool_inputs_are_tolerated() {
    use StreamEvent::*;
    let got = decode_stream(&[concat!(
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{\"a\":1}}}\n\n",
        "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":3}}\n\n",
        "data: {\"type\":\"message_stop\"}\n\n"
    )
    .as_bytes()]);
    assert_eq!(
        got,
        vec![
            Start { id: String::new(), model: String::new() },
            PartStart { index: 0, kind: PartKind::Text },
            TextDelta { index: 0, text: "hi".into() },
            PartStop { index: 0 },
            PartStart {
                index: 1,
                kind: PartKind::ToolCall {
                    id: "t1".into(),
                    name: "f".into(),
                    kind: ToolCallKind::Function,
                    opaque: None
                }
            },
            ToolArgsDelta { index: 1, delta: "{\"a\":1}".into() },
            PartStop { index: 1 },
            Finish(FinishReason::ToolCalls),
            Usage(crossbar_protocol::canonical::Usage { output: Some(3), ..Default::default() }),
            End,
        ]
    );
}

#[test]
fn blocks_after_the_stop_reason_are_ignored() {
    let raw = String::from_utf8(fixture("stream_tool_use.sse")).expect("utf8");
    let late = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"text\",\"text\":\"late\"}}\n\n";
    let at = raw.find("event: message_stop").expect("marker");
    let spliced = format!("{}{late}{}", &raw[..at], &raw[at..]);
    assert_eq!(decode_stream(&[spliced.as_bytes()]), tool_use_events());
}

// === stream_out ===

/// What the SDK's accumulator does with our bytes, enforcing its rules. Returns the frames'
/// data and the final message, or the API error the client would raise.
fn accumulate(bytes: &[u8], strict_json: bool) -> (Vec<Value>, Result<Value, String>) {
    let mut d = Decoder::default();
    let mut frames: Vec<SseEvent> = Vec::new();
    d.push(bytes, &mut frames);
    d.finish(&mut frames);
    let mut datas = Vec::new();
    let mut msg: Option<Value> = None;
    let mut open: Option<usize> = None;
    let mut json_acc = String::new();
    let mut sigs = 0;
    let mut terminal = false;
    let mut delta_seen = false;
    let mut api_error: Option<String> = None;
    for f in &frames {
        assert!(!terminal, "frame after the terminal event: {f:?}");
        let data: Value = serde_json::from_str(&f.data).expect("frame data is JSON");
        let t = data["type"].as_str().expect("type").to_string();
        assert_eq!(f.event.as_deref(), Some(t.as_str()), "event line must match data.type");
        datas.push(data.clone());
        if t == "ping" {
            continue;
        }
        if t == "error" {
            terminal = true;
            api_error = Some(format!("{}: {}", data["error"]["type"].as_str().unwrap_or(""), data["error"]["message"]));
            continue;
        }
        if t == "message_start" {
            assert!(msg.is_none(), "second message_start");
            let m = data["message"].clone();
            assert_eq!(m["content"], json!([]));
            assert!(m["usage"]["input_tokens"].is_u64() && m["usage"]["output_tokens"].is_u64());
            msg = Some(m);
            continue;
        }
        let m = msg.as_mut().expect("message_start must come first");
        let content = m["content"].as_array_mut().expect("content");
        match t.as_str() {
            "content_block_start" => {
                assert!(open.is_none(), "block started while another is open");
                let i = data["index"].as_u64().expect("index") as usize;
                assert_eq!(i, content.len(), "indices are 0..n-1 in order");
                content.push(data["content_block"].clone());
                open = Some(i);
                json_acc.clear();
                sigs = 0;
            }
            "content_block_delta" => {
                let i = data["index"].as_u64().expect("index") as usize;
                assert_eq!(Some(i), open, "delta for a block that is not open");
                let block = &mut content[i];
                let delta = &data["delta"];
                match (block["type"].as_str(), delta["type"].as_str()) {
                    (Some("text"), Some("text_delta")) => {
                        let s = format!(
                            "{}{}",
                            block["text"].as_str().unwrap_or(""),
                            delta["text"].as_str().expect("text")
                        );
                        block["text"] = json!(s);
                    }
                    (Some("thinking"), Some("thinking_delta")) => {
                        assert_eq!(sigs, 0, "thinking after the signature");
                        let s = format!(
                            "{}{}",
                            block["thinking"].as_str().unwrap_or(""),
                            delta["thinking"].as_str().expect("thinking")
                        );
                        block["thinking"] = json!(s);
                    }
                    (Some("thinking"), Some("signature_delta")) => {
                        sigs += 1;
                        block["signature"] = delta["signature"].clone();
                    }
                    (Some("tool_use"), Some("input_json_delta")) => {
                        json_acc.push_str(delta["partial_json"].as_str().expect("partial_json"))
                    }
                    other => panic!("delta {other:?} does not fit its block"),
                }
            }
            "content_block_stop" => {
                let i = data["index"].as_u64().expect("index") as usize;
                assert_eq!(Some(i), open, "stop for a block that is not open");
                let block = &mut content[i];
                match block["type"].as_str() {
                    Some("thinking") => {
                        assert_eq!(sigs, 1, "exactly one signature_delta per thinking block");
                        assert!(!block["signature"].as_str().unwrap_or("").is_empty());
                    }
                    Some("tool_use") if !json_acc.is_empty() => match serde_json::from_str::<Value>(&json_acc) {
                        Ok(v) => block["input"] = v,
                        Err(e) => assert!(!strict_json, "tool input is not JSON: {e}: {json_acc}"),
                    },
                    _ => {}
                }
                open = None;
            }
            "message_delta" => {
                assert!(open.is_none(), "message_delta with an open block");
                assert!(data["usage"]["output_tokens"].is_u64(), "message_delta.usage.output_tokens is required");
                m["stop_reason"] = data["delta"]["stop_reason"].clone();
                m["stop_sequence"] = data["delta"]["stop_sequence"].clone();
                for (k, v) in data["usage"].as_object().into_iter().flatten() {
                    m["usage"][k] = v.clone();
                }
                delta_seen = true;
            }
            "message_stop" => {
                assert!(delta_seen, "message_stop before message_delta");
                terminal = true;
            }
            other => panic!("unknown event {other}"),
        }
    }
    assert!(terminal, "stream has no terminal event");
    if let Some(e) = api_error {
        return (datas, Err(e));
    }
    (datas, msg.ok_or_else(|| "no message".to_string()))
}

fn encode_stream(events: &[StreamEvent], finish: bool) -> BytesMut {
    let mut enc = StreamEncoder::new(&cx());
    let mut out = BytesMut::new();
    for e in events {
        enc.push(e, &mut out);
    }
    if finish {
        enc.finish(&mut out);
        let len = out.len();
        enc.finish(&mut out);
        assert_eq!(out.len(), len, "finish twice writes nothing more");
    }
    out
}

fn types(datas: &[Value]) -> Vec<String> {
    datas.iter().map(|d| d["type"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn foreign_stream_encodes_for_claude_code() {
    use StreamEvent::*;
    let events = vec![
        Start { id: "resp_1".into(), model: "gpt-5".into() },
        PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
        ReasoningDelta { index: 0, text: "think".into() },
        ReasoningDelta { index: 0, text: " more".into() },
        StreamEvent::Opaque {
            index: 0,
            opaque: crossbar_protocol::canonical::Opaque::new(Protocol::OpenaiResponses, "enc"),
        },
        PartStop { index: 0 },
        PartStart { index: 1, kind: PartKind::Text },
        TextDelta { index: 1, text: "Hi".into() },
        PartStop { index: 1 },
        PartStart {
            index: 2,
            kind: PartKind::ToolCall {
                id: "call_1".into(),
                name: "Bash".into(),
                kind: ToolCallKind::Function,
                opaque: None,
            },
        },
        ToolArgsDelta { index: 2, delta: "{\"command\":".into() },
        ToolArgsDelta { index: 2, delta: "\"ls\"}".into() },
        PartStop { index: 2 },
        Finish(FinishReason::ToolCalls),
        StreamEvent::Usage(crossbar_protocol::canonical::Usage {
            input: Some(100),
            output: Some(20),
            cache_read: Some(40),
            ..Default::default()
        }),
        End,
    ];
    let bytes = encode_stream(&events, true);
    let (datas, msg) = accumulate(&bytes, true);
    assert_eq!(
        types(&datas),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(
        datas[0],
        json!({"type": "message_start", "message": {"id": "msg_s1", "type": "message", "role": "assistant", "model": "gpt-5",
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}})
    );
    assert_eq!(
        datas[2],
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
    );
    assert_eq!(
        datas[10],
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {}}})
    );
    assert_eq!(
        datas[14],
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"input_tokens": 60, "cache_read_input_tokens": 40, "output_tokens": 20}})
    );
    let msg = msg.expect("message");
    assert_eq!(msg["content"][0]["thinking"], "think more");
    assert_eq!(msg["content"][2]["input"], json!({"command": "ls"}));

    // The signature is a sealed envelope that brings the OpenAI state back on the next turn.
    let thinking = msg["content"][0].clone();
    assert!(thinking["signature"].as_str().is_some_and(|s| s.starts_with("Y2Ix")));
    let next = json!({"model": "m", "messages": [{"role": "user", "content": "go"}, {"role": "assistant", "content": [thinking]}]});
    let req = decode::decode_request(next.to_string().as_bytes(), &cx()).expect("next turn");
    assert_eq!(
        req.messages[1].parts[0],
        Part::Reasoning(Reasoning {
            text: "think more".into(),
            opaque: Some(crossbar_protocol::canonical::Opaque::new(Protocol::OpenaiResponses, "enc")),
            ..Default::default()
        })
    );
}

#[test]
fn anthropic_stream_survives_decode_then_encode() {
    let bytes = encode_stream(&decode_stream(&[&fixture("stream_tool_use.sse")]), false);
    let (_, msg) = accumulate(&bytes, true);
    let msg = msg.expect("message");
    assert_eq!(
        msg["content"],
        json!([
            {"type": "thinking", "thinking": "The user wants the weather in Paris.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
            {"type": "text", "text": "I'll check the weather."},
            {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {"location": "Paris"}}
        ])
    );
    assert_eq!(msg["stop_reason"], "tool_use");
    assert_eq!(
        msg["usage"],
        json!({"input_tokens": 472, "output_tokens": 89, "cache_creation_input_tokens": 1200, "cache_read_input_tokens": 30000})
    );
    assert_eq!(msg["model"], "claude-sonnet-4-5-20250929");
}

#[test]
fn usage_totals_reach_message_delta() {
    use StreamEvent::*;
    let bytes = encode_stream(
        &[
            Start { id: "x".into(), model: "m".into() },
            StreamEvent::Usage(crossbar_protocol::canonical::Usage {
                input: Some(50),
                cache_read: Some(10),
                cache_write: Some(5),
                ..Default::default()
            }),
            PartStart { index: 0, kind: PartKind::Text },
            TextDelta { index: 0, text: "ok".into() },
            PartStop { index: 0 },
            Finish(FinishReason::StopSequence(Some("###".into()))),
            End,
        ],
        true,
    );
    let (datas, msg) = accumulate(&bytes, true);
    assert_eq!(
        datas[0]["message"]["usage"],
        json!({"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
    );
    let msg = msg.expect("message");
    assert_eq!(
        msg["usage"],
        json!({"input_tokens": 35, "output_tokens": 0, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 10})
    );
    assert_eq!((msg["stop_reason"].as_str(), msg["stop_sequence"].as_str()), (Some("stop_sequence"), Some("###")));
    assert_eq!(msg["usage"]["output_tokens"], 0, "output_tokens is always present");
}

#[test]
fn error_mid_stream_is_the_last_frame() {
    use StreamEvent::*;
    let bytes = encode_stream(
        &[
            Start { id: "x".into(), model: "m".into() },
            PartStart { index: 0, kind: PartKind::Text },
            TextDelta { index: 0, text: "Hel".into() },
            Error(ErrorInfo::new(ErrorKind::Overloaded, "Overloaded")),
            End,
            PartStart { index: 1, kind: PartKind::Text },
        ],
        true,
    );
    let (datas, res) = accumulate(&bytes, true);
    assert_eq!(types(&datas), ["message_start", "ping", "content_block_start", "content_block_delta", "error"]);
    assert_eq!(datas[4], json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
    assert!(res.is_err());
    // An error before anything else: just the error.
    let bytes = encode_stream(&[Error(ErrorInfo::new(ErrorKind::RateLimited, "slow down")), End], true);
    assert_eq!(types(&accumulate(&bytes, true).0), ["error"]);
}

#[test]
fn cut_streams_are_closed_exactly_once() {
    use StreamEvent::*;
    let bytes = encode_stream(
        &[
            Start { id: "x".into(), model: "m".into() },
            PartStart { index: 0, kind: PartKind::Text },
            TextDelta { index: 0, text: "par".into() },
        ],
        true,
    );
    let (datas, msg) = accumulate(&bytes, true);
    assert_eq!(
        types(&datas),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(msg.expect("message")["stop_reason"], "end_turn");
    // Nothing at all (no Start): still a complete, empty message.
    let (datas, msg) = accumulate(&encode_stream(&[], true), true);
    assert_eq!(types(&datas), ["message_start", "ping", "message_delta", "message_stop"]);
    assert_eq!(msg.expect("message")["content"], json!([]));
}

#[test]
fn missing_part_starts_redacted_and_custom_blocks() {
    use StreamEvent::*;
    let bytes = encode_stream(
        &[
            Start { id: "x".into(), model: "m".into() },
            TextDelta { index: 0, text: "no start".into() },
            PartStart { index: 1, kind: PartKind::Reasoning { redacted: true } },
            StreamEvent::Opaque {
                index: 1,
                opaque: crossbar_protocol::canonical::Opaque::new(Protocol::Anthropic, "blob"),
            },
            PartStop { index: 1 },
            PartStart { index: 2, kind: PartKind::Reasoning { redacted: false } },
            ReasoningDelta { index: 2, text: "t".into() },
            StreamEvent::Opaque {
                index: 2,
                opaque: crossbar_protocol::canonical::Opaque::new(Protocol::Anthropic, "sig"),
            },
            PartStop { index: 2 },
            PartStart {
                index: 3,
                kind: PartKind::ToolCall {
                    id: String::new(),
                    name: "apply_patch".into(),
                    kind: ToolCallKind::Custom,
                    opaque: None,
                },
            },
            ToolArgsDelta { index: 3, delta: "*** Begin \"Patch\"\n".into() },
            ToolArgsDelta { index: 3, delta: "*** End".into() },
            PartStop { index: 3 },
            ToolArgsDelta { index: 9, delta: "orphan".into() },
            End,
        ],
        false,
    );
    let (_, msg) = accumulate(&bytes, true);
    let msg = msg.expect("message");
    assert_eq!(
        msg["content"],
        json!([
            {"type": "text", "text": "no start"},
            {"type": "redacted_thinking", "data": "blob"},
            {"type": "thinking", "thinking": "t", "signature": "sig"},
            {"type": "tool_use", "id": "toolu_s1_3", "name": "apply_patch", "input": {"input": "*** Begin \"Patch\"\n*** End"}}
        ])
    );
    assert_eq!(msg["stop_reason"], "tool_use");
}

#[test]
fn every_thinking_block_gets_a_non_empty_signature() {
    use StreamEvent::*;
    let bytes = encode_stream(
        &[
            PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
            StreamEvent::Opaque {
                index: 0,
                opaque: crossbar_protocol::canonical::Opaque::new(Protocol::Anthropic, ""),
            },
            PartStop { index: 0 },
            PartStart { index: 1, kind: PartKind::Reasoning { redacted: false } },
            ReasoningDelta { index: 1, text: "no state at all".into() },
            PartStop { index: 1 },
            PartStart { index: 2, kind: PartKind::Reasoning { redacted: true } },
            StreamEvent::Opaque { index: 2, opaque: crossbar_protocol::canonical::Opaque::new(Protocol::Gemini, "g") },
            PartStop { index: 2 },
        ],
        true,
    );
    let (_, msg) = accumulate(&bytes, true);
    let msg = msg.expect("message");
    for block in msg["content"].as_array().expect("content") {
        assert_eq!(block["type"], "thinking");
        assert!(block["signature"].as_str().is_some_and(|s| s.starts_with("Y2Ix")), "{block}");
    }
}

// === stream_out grammar under arbitrary canonical input ===

fn arb_event() -> impl Strategy<Value = StreamEvent> {
    let idx = 0usize..4;
    prop_oneof![
        ("[a-z]{0,6}", "[a-z-]{0,6}").prop_map(|(id, model)| StreamEvent::Start { id, model }),
        (idx.clone(), 0u8..5, "[a-z_.]{0,5}").prop_map(|(index, k, name)| StreamEvent::PartStart {
            index,
            kind: match k {
                0 => PartKind::Text,
                1 => PartKind::Reasoning { redacted: false },
                2 => PartKind::Reasoning { redacted: true },
                3 => PartKind::ToolCall { id: name.clone(), name, kind: ToolCallKind::Function, opaque: None },
                _ => PartKind::ToolCall { id: String::new(), name, kind: ToolCallKind::Custom, opaque: None },
            },
        }),
        (idx.clone(), ".{0,8}").prop_map(|(index, text)| StreamEvent::TextDelta { index, text }),
        (idx.clone(), ".{0,8}").prop_map(|(index, text)| StreamEvent::ReasoningDelta { index, text }),
        (idx.clone(), ".{0,8}").prop_map(|(index, delta)| StreamEvent::ToolArgsDelta { index, delta }),
        (idx.clone(), any::<bool>(), "[A-Za-z0-9]{0,6}").prop_map(|(index, same, p)| StreamEvent::Opaque {
            index,
            opaque: crossbar_protocol::canonical::Opaque::new(
                if same { Protocol::Anthropic } else { Protocol::Gemini },
                p
            ),
        }),
        idx.prop_map(|index| StreamEvent::PartStop { index }),
        (proptest::option::of(0u64..1000), proptest::option::of(0u64..1000), proptest::option::of(0u64..1000))
            .prop_map(|(input, output, cache_read)| StreamEvent::Usage(crossbar_protocol::canonical::Usage {
                input,
                output,
                cache_read,
                ..Default::default()
            })),
        prop_oneof![
            Just(FinishReason::Stop),
            Just(FinishReason::Length),
            Just(FinishReason::ToolCalls),
            Just(FinishReason::ContentFilter),
            ".{0,5}".prop_map(FinishReason::Other),
            proptest::option::of(".{0,3}").prop_map(FinishReason::StopSequence),
        ]
        .prop_map(StreamEvent::Finish),
        Just(StreamEvent::Error(ErrorInfo::new(ErrorKind::Overloaded, "x"))),
        Just(StreamEvent::End),
    ]
}

proptest! {
    #[test]
    fn any_event_sequence_yields_a_stream_clients_accept(events in proptest::collection::vec(arb_event(), 0..40)) {
        let bytes = encode_stream(&events, true);
        // `accumulate` panics on any grammar violation; terminal exactly once is checked there.
        let (datas, _) = accumulate(&bytes, false);
        let terminals = types(&datas).iter().filter(|t| *t == "message_stop" || *t == "error").count();
        prop_assert_eq!(terminals, 1);
    }
}

/// Gemini 3 signs the last text part of an answer. An Anthropic reply has no place for that
/// after the answer (Claude Code shows the last block, so a thinking block there hides the
/// answer), and Gemini does not need it back: it is left out, streamed and not. A Gemini
/// signature before any text still becomes a signed thinking block.
#[test]
fn a_gemini_signature_after_the_answer_is_left_out() {
    use StreamEvent::*;
    let gemini = crossbar_protocol::canonical::Opaque::new(Protocol::Gemini, "S3");
    let events = vec![
        Start { id: "r".into(), model: "gemini-3-pro".into() },
        PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
        Opaque { index: 0, opaque: gemini.clone() },
        PartStop { index: 0 },
        PartStart { index: 1, kind: PartKind::Text },
        TextDelta { index: 1, text: "the answer".into() },
        PartStop { index: 1 },
        PartStart { index: 2, kind: PartKind::Reasoning { redacted: false } },
        Opaque { index: 2, opaque: gemini.clone() },
        PartStop { index: 2 },
        Finish(FinishReason::Stop),
        End,
    ];
    let (datas, msg) = accumulate(&encode_stream(&events, true), true);
    let msg = msg.expect("a valid stream");
    let content = msg["content"].as_array().cloned().unwrap_or_default();
    assert_eq!(content.len(), 2, "{msg}");
    assert_eq!(content[0]["type"], "thinking", "{msg}");
    assert!(content[0]["signature"].as_str().is_some_and(|s| s.starts_with("Y2Ix")), "{msg}");
    assert_eq!(content[1], json!({"type": "text", "text": "the answer"}), "{msg}");
    assert_eq!(types(&datas).iter().filter(|t| *t == "content_block_start").count(), 2);

    let resp = Response {
        id: "r".into(),
        model: "gemini-3-pro".into(),
        parts: vec![
            Part::text("the answer"),
            Part::Reasoning(Reasoning { opaque: Some(gemini), ..Default::default() }),
        ],
        finish: Some(FinishReason::Stop),
        usage: crossbar_protocol::canonical::Usage::default(),
    };
    let body: Value =
        serde_json::from_slice(&crossbar_protocol::anthropic::encode::encode_response(&resp, &cx()).expect("encodes"))
            .expect("json");
    assert_eq!(body["content"], json!([{"type": "text", "text": "the answer"}]));
}
