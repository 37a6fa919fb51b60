//! Responses adapter streams.
//!
//! stream_in: OpenAI SSE fixtures → exact canonical events, identical at every split point
//! of the raw bytes (through `sse::Decoder`); malformed, cut and error streams.
//!
//! stream_out: the event grammar the `openai` SDK's `responses.stream()` helper and Codex
//! enforce (clients.md §3, codex-wire.md §5), checked by `check_stream` below on every
//! produced stream, plus exact event sequences, error and cut endings, custom tools,
//! namespaces and sealed reasoning.

use bytes::BytesMut;
use crossbar_protocol::canonical::opaque::Sealed;
use crossbar_protocol::canonical::{
    Cx, ErrorInfo, ErrorKind, FinishReason, OpaqueCodec, PartKind, Protocol, Reasoning, StreamEvent, ToolCallKind,
    ToolDef, ToolIndex, ToolKind,
};
use crossbar_protocol::sse::{Decoder, SseEvent};
use crossbar_protocol::{StreamDecoder, StreamEncoder};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

const P: Protocol = Protocol::OpenaiResponses;

fn cx() -> Cx {
    let mut c = Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])));
    c.id = "s1".into();
    c.created = 1_755_300_200;
    c
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/openai_responses").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// === stream_in ===

fn decode_chunks(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut sse = Decoder::default();
    let mut frames = Vec::new();
    for c in chunks {
        sse.push(c, &mut frames);
    }
    sse.finish(&mut frames);
    let mut dec = StreamDecoder::new(P, &cx());
    let mut out = Vec::new();
    for f in &frames {
        dec.push(f, &mut out);
    }
    dec.finish(&mut out);
    out
}

fn assert_same_at_every_split(raw: &[u8], want: &[StreamEvent]) {
    assert_eq!(decode_chunks(&[raw]), want);
    for cut in 0..=raw.len() {
        assert_eq!(decode_chunks(&[&raw[..cut], &raw[cut..]]), want, "split at byte {cut}");
    }
    let bytes: Vec<&[u8]> = raw.chunks(1).collect();
    assert_eq!(decode_chunks(&bytes), want, "byte by byte");
}

fn tool(id: &str, name: &str, kind: ToolCallKind) -> PartKind {
    PartKind::ToolCall { id: id.into(), name: name.into(), kind, opaque: None }
}

#[test]
fn stream_in_reasoning_text_and_function_call() {
    use StreamEvent::*;
    let want = vec![
        Start { id: "resp_68b1".into(), model: "gpt-5.1-2025-11-13".into() },
        PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
        ReasoningDelta { index: 0, text: "**Plan** ".into() },
        ReasoningDelta { index: 0, text: "list files".into() },
        ReasoningDelta { index: 0, text: "\n\n".into() },
        ReasoningDelta { index: 0, text: "Then answer.".into() },
        Opaque {
            index: 0,
            opaque: crossbar_protocol::canonical::Opaque::new(P, "oair1.rs_68b1a.gAAAAABoStreamState=="),
        },
        PartStop { index: 0 },
        PartStart { index: 1, kind: PartKind::Text },
        TextDelta { index: 1, text: "Listing ".into() },
        TextDelta { index: 1, text: "the files ".into() },
        TextDelta { index: 1, text: "now.".into() },
        PartStop { index: 1 },
        PartStart { index: 2, kind: tool("call_A1", "exec_command", ToolCallKind::Function) },
        ToolArgsDelta { index: 2, delta: "{\"cmd\":".into() },
        ToolArgsDelta { index: 2, delta: "\"ls\"}".into() },
        PartStop { index: 2 },
        Usage(crossbar_protocol::canonical::Usage {
            input: Some(2000),
            output: Some(90),
            cache_read: Some(1500),
            cache_write: None,
            cache_write_1h: None,
            reasoning: Some(40),
        }),
        Finish(FinishReason::ToolCalls),
        End,
    ];
    assert_same_at_every_split(&fixture("openai_stream.sse"), &want);
}

#[test]
fn stream_in_custom_tool_namespace_and_incomplete() {
    use StreamEvent::*;
    let want = vec![
        Start { id: "resp_68c".into(), model: "gpt-5.1-2025-11-13".into() },
        PartStart { index: 0, kind: tool("call_P1", "apply_patch", ToolCallKind::Custom) },
        ToolArgsDelta { index: 0, delta: "*** Begin Patch\n".into() },
        ToolArgsDelta { index: 0, delta: "*** Add File: a.txt\n+a\n*** End Patch\n".into() },
        PartStop { index: 0 },
        // The hosted web_search_call item is skipped; the namespaced call has no deltas, so
        // its arguments come from `output_item.done`.
        PartStart { index: 1, kind: tool("call_N1", "multi_agent_v1__spawn_agent", ToolCallKind::Function) },
        ToolArgsDelta { index: 1, delta: "{\"message\":\"go\"}".into() },
        PartStop { index: 1 },
        Usage(crossbar_protocol::canonical::Usage { input: Some(10), output: Some(64), ..Default::default() }),
        Finish(FinishReason::Length),
        End,
    ];
    assert_same_at_every_split(&fixture("openai_stream_custom.sse"), &want);
}

#[test]
fn stream_in_failed_response() {
    let events = decode_chunks(&[&fixture("openai_stream_failed.sse")]);
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(events[2], StreamEvent::TextDelta { index: 0, text: "Par".into() });
    let StreamEvent::Error(e) = &events[3] else { panic!("{events:?}") };
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(e.code.as_deref(), Some("rate_limit_exceeded"));
    assert!(e.message.contains("try again in 2.5s"));
    assert_eq!(events[4], StreamEvent::End);
}

fn decode_frames(frames: &[(&str, Value)]) -> Vec<StreamEvent> {
    let mut dec = StreamDecoder::new(P, &cx());
    let mut out = Vec::new();
    for (name, data) in frames {
        let ev = SseEvent { event: (!name.is_empty()).then(|| name.to_string()), data: data.to_string() };
        dec.push(&ev, &mut out);
    }
    dec.finish(&mut out);
    out
}

#[test]
fn stream_in_endings_and_oddities() {
    // Cut stream: finish() reports it.
    let cut = decode_frames(&[("", json!({"type": "response.created", "response": {"id": "r", "model": "m"}}))]);
    assert!(
        matches!(&cut[..], [StreamEvent::Start { .. }, StreamEvent::Error(e), StreamEvent::End] if e.kind == ErrorKind::UpstreamInvalid)
    );

    // Malformed JSON: Error + End, and nothing after it.
    let mut dec = StreamDecoder::new(P, &cx());
    let mut out = Vec::new();
    dec.push(&SseEvent { event: None, data: "{\"type\":\"response.created\"".into() }, &mut out);
    dec.push(
        &SseEvent { event: None, data: json!({"type": "response.completed", "response": {}}).to_string() },
        &mut out,
    );
    dec.finish(&mut out);
    assert!(
        matches!(&out[..], [StreamEvent::Start { .. }, StreamEvent::Error(e), StreamEvent::End] if e.kind == ErrorKind::UpstreamInvalid),
        "{out:?}"
    );

    // Top-level `error` event.
    let err = decode_frames(&[
        ("", json!({"type": "response.created", "response": {"id": "r"}})),
        (
            "error",
            json!({"type": "error", "code": "server_is_overloaded", "message": "busy", "param": null, "sequence_number": 1}),
        ),
    ]);
    let StreamEvent::Error(e) = &err[1] else { panic!("{err:?}") };
    assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Overloaded, "busy"));

    // `[DONE]`, unknown events, a message item announced only by `.done`, no `event:` lines.
    let odd = decode_frames(&[
        ("", json!({"type": "response.created", "response": {"id": "r", "model": "m"}})),
        (
            "",
            json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "message", "id": "m1",
            "content": [{"type": "output_text", "text": "whole"}, {"type": "refusal", "refusal": " no"}]}}),
        ),
        ("", json!({"type": "response.some_future_event", "x": 1})),
        ("", json!({"type": "response.completed", "response": {"id": "r", "usage": null}})),
    ]);
    assert_eq!(
        odd,
        vec![
            StreamEvent::Start { id: "r".into(), model: "m".into() },
            StreamEvent::PartStart { index: 0, kind: PartKind::Text },
            StreamEvent::TextDelta { index: 0, text: "whole no".into() },
            StreamEvent::PartStop { index: 0 },
            StreamEvent::Finish(FinishReason::Stop),
            StreamEvent::End,
        ]
    );
    let mut dec = StreamDecoder::new(P, &cx());
    let mut out = Vec::new();
    dec.push(&SseEvent { event: None, data: "[DONE]".into() }, &mut out);
    assert!(out.is_empty());
}

// === stream_out: the SDK/Codex grammar checker ===

struct Item {
    kind: String,
    id: String,
    call_id: Option<String>,
    text: String,
    args: String,
    summary: String,
    parts: usize,
    done: Option<Value>,
}

/// Decodes a client stream and asserts every rule the `openai` SDK helper and Codex apply.
/// Returns the events (as JSON) in order.
fn check_stream(bytes: &[u8]) -> Vec<Value> {
    let mut dec = Decoder::default();
    let mut frames = Vec::new();
    dec.push(bytes, &mut frames);
    dec.finish(&mut frames);
    let mut events = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut resp_id = String::new();
    let mut terminal = 0;
    for (i, f) in frames.iter().enumerate() {
        let v: Value = serde_json::from_str(&f.data).unwrap_or_else(|e| panic!("frame {i} not JSON: {e}"));
        let ty = v["type"].as_str().unwrap_or_default().to_string();
        assert_eq!(f.event.as_deref(), Some(ty.as_str()), "event: line must match data.type");
        assert_eq!(v["sequence_number"], json!(i), "gap-free sequence_number");
        assert_eq!(terminal, 0, "nothing may follow the terminal event ({ty})");
        if i == 0 {
            assert_eq!(ty, "response.created", "first event");
            assert_eq!(v["response"]["status"], "in_progress");
            assert_eq!(v["response"]["output"], json!([]));
            assert!(v["response"]["created_at"].is_u64() && v["response"]["model"].is_string());
            resp_id = v["response"]["id"].as_str().unwrap_or_default().to_string();
            assert!(resp_id.starts_with("resp_"));
        }
        let oi = v["output_index"].as_u64().map(|n| n as usize);
        let item = |items: &mut Vec<Item>| -> usize {
            let n = oi.unwrap_or_else(|| panic!("{ty} lacks output_index"));
            assert!(n < items.len(), "content event for output index {n} before its output item");
            assert!(items[n].done.is_none(), "{ty} after output_item.done");
            if v.get("item_id").is_some() {
                assert_eq!(v["item_id"].as_str(), Some(items[n].id.as_str()), "{ty} item_id");
            }
            n
        };
        match ty.as_str() {
            "response.created" => assert_eq!(i, 0, "response.created only first"),
            "response.in_progress" => assert_eq!(i, 1),
            "response.output_item.added" => {
                assert_eq!(oi, Some(items.len()), "output_index must be the next index");
                let it = &v["item"];
                let id = it["id"].as_str().unwrap_or_default().to_string();
                assert!(!id.is_empty(), "item id");
                let kind = it["type"].as_str().unwrap_or_default().to_string();
                if kind == "function_call" || kind == "custom_tool_call" {
                    assert!(it["call_id"].is_string() && it["name"].is_string(), "{it}");
                }
                if kind == "message" {
                    assert_eq!((it["role"].clone(), it["content"].clone()), (json!("assistant"), json!([])));
                }
                items.push(Item {
                    kind,
                    id,
                    call_id: it["call_id"].as_str().map(str::to_string),
                    text: String::new(),
                    args: String::new(),
                    summary: String::new(),
                    parts: 0,
                    done: None,
                });
            }
            "response.content_part.added" => {
                let n = item(&mut items);
                assert_eq!(items[n].kind, "message");
                assert_eq!(v["content_index"], json!(items[n].parts));
                assert_eq!(v["part"], json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []}));
                items[n].parts += 1;
            }
            "response.output_text.delta" => {
                let n = item(&mut items);
                let ci = v["content_index"].as_u64().unwrap_or(u64::MAX) as usize;
                assert!(ci < items[n].parts, "text delta before content_part.added");
                assert_eq!(v["logprobs"], json!([]));
                items[n].text += v["delta"].as_str().unwrap_or_default();
            }
            "response.output_text.done" => {
                let n = item(&mut items);
                assert_eq!(v["text"].as_str(), Some(items[n].text.as_str()));
            }
            "response.content_part.done" => {
                let n = item(&mut items);
                assert_eq!(v["part"]["text"].as_str(), Some(items[n].text.as_str()));
            }
            "response.function_call_arguments.delta" => {
                let n = item(&mut items);
                assert_eq!(items[n].kind, "function_call");
                items[n].args += v["delta"].as_str().unwrap_or_default();
            }
            "response.function_call_arguments.done" => {
                let n = item(&mut items);
                assert_eq!(v["arguments"].as_str(), Some(items[n].args.as_str()));
            }
            "response.custom_tool_call_input.delta" => {
                let n = item(&mut items);
                assert_eq!(items[n].kind, "custom_tool_call");
                items[n].args += v["delta"].as_str().unwrap_or_default();
            }
            "response.custom_tool_call_input.done" => {
                let n = item(&mut items);
                assert_eq!(v["input"].as_str(), Some(items[n].args.as_str()));
            }
            "response.reasoning_summary_part.added" | "response.reasoning_summary_part.done" => {
                let n = item(&mut items);
                assert_eq!(items[n].kind, "reasoning");
                assert_eq!(v["summary_index"], 0);
                if ty.ends_with("done") {
                    assert_eq!(v["part"]["text"].as_str(), Some(items[n].summary.as_str()));
                }
            }
            "response.reasoning_summary_text.delta" => {
                let n = item(&mut items);
                items[n].summary += v["delta"].as_str().unwrap_or_default();
            }
            "response.reasoning_summary_text.done" => {
                let n = item(&mut items);
                assert_eq!(v["text"].as_str(), Some(items[n].summary.as_str()));
            }
            "response.output_item.done" => {
                let n = item(&mut items);
                let it = v["item"].clone();
                let cur = &items[n];
                assert_eq!((it["type"].as_str(), it["id"].as_str()), (Some(cur.kind.as_str()), Some(cur.id.as_str())));
                assert_eq!(it["call_id"].as_str(), cur.call_id.as_deref(), "call_id stable");
                match cur.kind.as_str() {
                    "message" => {
                        assert_eq!(it["status"], "completed");
                        assert_eq!(it["content"][0]["text"].as_str(), Some(cur.text.as_str()));
                    }
                    "function_call" => {
                        assert_eq!(it["status"], "completed");
                        assert_eq!(it["arguments"].as_str(), Some(cur.args.as_str()));
                    }
                    "custom_tool_call" => assert_eq!(it["input"].as_str(), Some(cur.args.as_str())),
                    "reasoning" => {
                        assert!(it["encrypted_content"].is_string(), "reasoning needs encrypted_content");
                        let shown = it["summary"][0]["text"].as_str().unwrap_or_default();
                        assert_eq!(shown, cur.summary);
                    }
                    other => panic!("unexpected item type {other}"),
                }
                items[n].done = Some(it);
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                terminal += 1;
                let r = &v["response"];
                assert_eq!(r["id"].as_str(), Some(resp_id.as_str()), "lifecycle response identity");
                let finished: Vec<Value> = items.iter().filter_map(|it| it.done.clone()).collect();
                assert_eq!(r["output"], Value::Array(finished), "full output list");
                if ty == "response.failed" {
                    assert_eq!(r["status"], "failed");
                    assert!(r["error"]["code"].is_string() && r["error"]["message"].is_string());
                } else {
                    assert!(items.iter().all(|it| it.done.is_some()), "unfinished output items");
                    assert_eq!(r["status"], if ty == "response.completed" { "completed" } else { "incomplete" });
                    let u = &r["usage"];
                    for k in ["input_tokens", "output_tokens", "total_tokens"] {
                        assert!(u[k].is_u64(), "usage.{k}");
                    }
                    assert!(u["input_tokens_details"]["cached_tokens"].is_u64());
                    assert!(u["output_tokens_details"]["reasoning_tokens"].is_u64());
                }
            }
            other => panic!("unexpected event type {other}"),
        }
        events.push(v);
    }
    assert_eq!(terminal, 1, "exactly one terminal event");
    events
}

fn encode(cx: &Cx, events: &[StreamEvent], finish: bool) -> (Vec<Value>, BytesMut) {
    let mut enc = StreamEncoder::new(P, cx);
    let mut out = BytesMut::new();
    for e in events {
        enc.push(e, &mut out);
    }
    if finish {
        enc.finish(&mut out);
    }
    (check_stream(&out), out)
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap_or_default()).collect()
}

#[test]
fn stream_out_text_exact_sequence() {
    use StreamEvent::*;
    let (ev, _) = encode(
        &cx(),
        &[
            Start { id: "up".into(), model: "claude-x".into() },
            PartStart { index: 0, kind: PartKind::Text },
            TextDelta { index: 0, text: "Hel".into() },
            TextDelta { index: 0, text: "lo".into() },
            PartStop { index: 0 },
            Usage(crossbar_protocol::canonical::Usage {
                input: Some(7),
                output: Some(2),
                cache_read: Some(3),
                ..Default::default()
            }),
            Finish(FinishReason::Stop),
            End,
        ],
        true,
    );
    assert_eq!(
        types(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(ev[0]["response"]["id"], "resp_s1");
    assert_eq!(ev[0]["response"]["model"], "claude-x");
    assert_eq!(ev[0]["response"]["created_at"], 1_755_300_200u64);
    assert_eq!(
        ev[4],
        json!({"type": "response.output_text.delta", "sequence_number": 4, "item_id": "msg_s1_0", "output_index": 0,
               "content_index": 0, "delta": "Hel", "logprobs": []})
    );
    assert_eq!(
        ev[9]["response"]["usage"],
        json!({"input_tokens": 7, "input_tokens_details": {"cached_tokens": 3}, "output_tokens": 2,
               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 9})
    );
    assert_eq!(ev[9]["response"]["output"][0]["content"][0]["text"], "Hello");
}

fn custom_tools() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "apply_patch".into(),
            namespace: None,
            description: None,
            parameters: json!({}),
            kind: ToolKind::Custom { format: None },
            strict: None,
            cache: None,
        },
        ToolDef {
            name: "spawn_agent".into(),
            namespace: Some("multi_agent_v1".into()),
            description: None,
            parameters: json!({"type": "object"}),
            kind: ToolKind::Function,
            strict: None,
            cache: None,
        },
    ]
}

#[test]
fn stream_out_reasoning_calls_and_custom_tools() {
    use StreamEvent::*;
    let mut c = cx();
    c.tools = Arc::new(ToolIndex::new(&custom_tools()));
    let sig = crossbar_protocol::canonical::Opaque::new(Protocol::Anthropic, "EqQBsig");
    let (ev, _) = encode(
        &c,
        &[
            Start { id: "msg_01".into(), model: "claude-sonnet-4-5".into() },
            PartStart { index: 0, kind: PartKind::Reasoning { redacted: false } },
            ReasoningDelta { index: 0, text: "Think".into() },
            ReasoningDelta { index: 0, text: "ing.".into() },
            Opaque { index: 0, opaque: sig.clone() },
            PartStop { index: 0 },
            PartStart { index: 1, kind: tool("toolu_1", "multi_agent_v1__spawn_agent", ToolCallKind::Function) },
            ToolArgsDelta { index: 1, delta: "{\"message\":".into() },
            ToolArgsDelta { index: 1, delta: "\"go\"}".into() },
            PartStop { index: 1 },
            // A custom tool that went upstream as a function: input unwrapped at the stop.
            PartStart { index: 2, kind: tool("toolu_2", "apply_patch", ToolCallKind::Function) },
            ToolArgsDelta { index: 2, delta: "{\"input\":\"*** Begin".into() },
            ToolArgsDelta { index: 2, delta: " Patch\\n\"}".into() },
            PartStop { index: 2 },
            // A native custom call streams its raw input.
            PartStart { index: 3, kind: tool("call_3", "apply_patch", ToolCallKind::Custom) },
            ToolArgsDelta { index: 3, delta: "raw ".into() },
            ToolArgsDelta { index: 3, delta: "input".into() },
            PartStop { index: 3 },
            PartStart { index: 4, kind: PartKind::Reasoning { redacted: true } },
            Opaque {
                index: 4,
                opaque: crossbar_protocol::canonical::Opaque::new(Protocol::Anthropic, "redacted-data"),
            },
            PartStop { index: 4 },
            Usage(crossbar_protocol::canonical::Usage {
                input: Some(100),
                output: Some(50),
                reasoning: Some(20),
                ..Default::default()
            }),
            Finish(FinishReason::ToolCalls),
            End,
        ],
        true,
    );
    assert_eq!(
        types(&ev)[2..],
        [
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let out = &ev[ev.len() - 1]["response"]["output"];
    // Reasoning: summary shown, Anthropic state sealed into encrypted_content.
    assert_eq!(out[0]["id"], "rs_s1_0");
    assert_eq!(out[0]["summary"], json!([{"type": "summary_text", "text": "Thinking."}]));
    let token = out[0]["encrypted_content"].as_str().unwrap_or_default();
    let opened = c.codec.open(token);
    assert_eq!(
        opened,
        Ok(Sealed::Reasoning(Reasoning {
            text: "Thinking.".into(),
            summary: vec![],
            opaque: Some(sig),
            redacted: false
        }))
    );
    // Namespace restored on the function call.
    assert_eq!(out[1]["type"], "function_call");
    assert_eq!((out[1]["name"].clone(), out[1]["namespace"].clone()), (json!("spawn_agent"), json!("multi_agent_v1")));
    assert_eq!(out[1]["arguments"], "{\"message\":\"go\"}");
    assert_eq!(out[1]["call_id"], "toolu_1");
    // Custom tools come back as custom_tool_call with raw input.
    assert_eq!(
        (out[2]["type"].clone(), out[2]["input"].clone()),
        (json!("custom_tool_call"), json!("*** Begin Patch\n"))
    );
    assert_eq!((out[3]["type"].clone(), out[3]["input"].clone()), (json!("custom_tool_call"), json!("raw input")));
    // Redacted thinking: no summary, state still sealed.
    assert_eq!(out[4]["summary"], json!([]));
    assert!(matches!(
        c.codec.open(out[4]["encrypted_content"].as_str().unwrap_or_default()),
        Ok(Sealed::Reasoning(Reasoning { redacted: true, .. }))
    ));
    assert_eq!(ev[ev.len() - 1]["response"]["usage"]["output_tokens_details"]["reasoning_tokens"], 20);
}

#[test]
fn stream_out_error_mid_part_is_response_failed() {
    use StreamEvent::*;
    let mut err = ErrorInfo::new(ErrorKind::RateLimited, "Rate limited. Please try again in 3s.");
    err.code = Some("rate_limit_error".into());
    let mut enc = StreamEncoder::new(P, &cx());
    let mut out = BytesMut::new();
    for e in [
        Start { id: "x".into(), model: "m".into() },
        PartStart { index: 0, kind: PartKind::Text },
        TextDelta { index: 0, text: "done".into() },
        PartStop { index: 0 },
        PartStart { index: 1, kind: PartKind::Text },
        TextDelta { index: 1, text: "parti".into() },
        Error(err),
        End,
        TextDelta { index: 1, text: "more".into() },
    ] {
        enc.push(&e, &mut out);
    }
    enc.finish(&mut out);
    let ev = check_stream(&out);
    let last = &ev[ev.len() - 1];
    assert_eq!(last["type"], "response.failed");
    assert_eq!(
        last["response"]["error"],
        json!({"code": "rate_limit_exceeded", "message": "Rate limited. Please try again in 3s."})
    );
    // Only the finished item is in the output; the partial one is not reported as done.
    assert_eq!(last["response"]["output"].as_array().map(Vec::len), Some(1));
    assert_eq!(types(&ev).iter().filter(|t| **t == "response.output_item.done").count(), 1);
}

#[test]
fn stream_out_error_codes_codex_understands() {
    let cases = [
        (ErrorKind::ContextLengthExceeded, "context_length_exceeded"),
        (ErrorKind::Overloaded, "server_is_overloaded"),
        (ErrorKind::QuotaExceeded, "insufficient_quota"),
        (ErrorKind::InvalidRequest, "invalid_prompt"),
        (ErrorKind::UpstreamUnavailable, "server_error"),
    ];
    for (kind, code) in cases {
        let (ev, _) = encode(&cx(), &[StreamEvent::Error(ErrorInfo::new(kind, "m")), StreamEvent::End], true);
        assert_eq!(types(&ev), ["response.created", "response.in_progress", "response.failed"]);
        assert_eq!(ev[2]["response"]["error"]["code"], code);
    }
}

#[test]
fn stream_out_cut_stream_fails_exactly_once() {
    use StreamEvent::*;
    let mut enc = StreamEncoder::new(P, &cx());
    let mut out = BytesMut::new();
    for e in [
        Start { id: "x".into(), model: "m".into() },
        PartStart { index: 0, kind: tool("c1", "f", ToolCallKind::Function) },
        ToolArgsDelta { index: 0, delta: "{\"a\":".into() },
    ] {
        enc.push(&e, &mut out);
    }
    enc.finish(&mut out);
    let len = out.len();
    enc.finish(&mut out);
    enc.push(&End, &mut out);
    assert_eq!(out.len(), len, "nothing after the terminal event");
    let ev = check_stream(&out);
    let last = &ev[ev.len() - 1];
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    assert_eq!(last["response"]["output"], json!([]));
}

#[test]
fn stream_out_length_is_response_incomplete() {
    use StreamEvent::*;
    let (ev, _) = encode(
        &cx(),
        &[
            Start { id: "x".into(), model: "m".into() },
            PartStart { index: 0, kind: PartKind::Text },
            TextDelta { index: 0, text: "trunc".into() },
            Finish(FinishReason::Length),
            End,
        ],
        true,
    );
    let last = &ev[ev.len() - 1];
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(last["response"]["incomplete_details"], json!({"reason": "max_output_tokens"}));
    assert_eq!(last["response"]["output"][0]["content"][0]["text"], "trunc");
}

#[test]
fn stream_out_synthesises_missing_structure() {
    use StreamEvent::*;
    // No Start, no PartStart; a tool delta with no announced call is dropped.
    let (ev, _) = encode(
        &cx(),
        &[
            ToolArgsDelta { index: 0, delta: "{}".into() },
            TextDelta { index: 0, text: "a".into() },
            ReasoningDelta { index: 1, text: "r".into() },
            TextDelta { index: 2, text: "b".into() },
            End,
        ],
        true,
    );
    let added: Vec<&str> = ev
        .iter()
        .filter(|e| e["type"] == "response.output_item.added")
        .map(|e| e["item"]["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(added, ["message", "reasoning", "message"]);
    // An empty stream still has the full lifecycle.
    let (ev, _) = encode(&cx(), &[End], true);
    assert_eq!(types(&ev), ["response.created", "response.in_progress", "response.completed"]);
    assert_eq!(ev[2]["response"]["usage"]["total_tokens"], 0);
}

#[test]
fn openai_upstream_to_responses_client_pipeline() {
    let canonical = decode_chunks(&[&fixture("openai_stream.sse")]);
    let (ev, bytes) = encode(&cx(), &canonical, true);
    let last = &ev[ev.len() - 1];
    assert_eq!(last["type"], "response.completed");
    let out = &last["response"]["output"];
    assert_eq!(out[0]["summary"][0]["text"], "**Plan** list files\n\nThen answer.");
    // Same-origin state goes to the client raw (it is OpenAI's, carrying its item id).
    assert_eq!(out[0]["encrypted_content"], "oair1.rs_68b1a.gAAAAABoStreamState==");
    assert_eq!(out[1]["content"][0]["text"], "Listing the files now.");
    assert_eq!(out[2]["arguments"], "{\"cmd\":\"ls\"}");
    assert_eq!(last["response"]["usage"]["input_tokens_details"]["cached_tokens"], 1500);
    // And what a client received decodes as a stream again, to the same canonical content.
    let again = decode_chunks(&[&bytes]);
    let strip = |evs: &[StreamEvent]| -> Vec<StreamEvent> {
        evs.iter().filter(|e| !matches!(e, StreamEvent::Start { .. })).cloned().collect()
    };
    assert_eq!(strip(&again), strip(&canonical));
}
