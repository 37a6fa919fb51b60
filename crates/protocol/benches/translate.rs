//! Translation cost: a 200 KB agent request (100 turns, 20 tools) from each client protocol
//! into each other provider protocol, and one stream event through stream_in → stream_out.
//! Run: `cargo bench -p crossbar-protocol` (results in docs/benchmarks.md).

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use crossbar_protocol::canonical::*;
use crossbar_protocol::sse::SseEvent;
use crossbar_protocol::{decode_request, encode_request, StreamDecoder, StreamEncoder};
use serde_json::json;
use std::sync::Arc;

fn cx() -> Cx {
    Cx::new(Arc::new(OpaqueCodec::new([9; 32])))
}

/// A coding-agent request: a long system prompt, 20 tools, 100 turns of tool calls and results.
fn agent_request() -> Request {
    let filler = "The quick brown fox jumps over the lazy dog while the build runs. ".repeat(12);
    let tools = (0..20)
        .map(|i| ToolDef {
            name: format!("tool_{i}"),
            namespace: None,
            description: Some(format!("Tool number {i}. {filler}")),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}, "line": {"type": "integer"}, "content": {"type": "string"}}, "required": ["path"]}),
            kind: ToolKind::Function,
            strict: None,
            cache: None,
        })
        .collect();
    let mut messages = Vec::new();
    for i in 0..100 {
        messages.push(Message { role: Role::User, parts: vec![Part::text(format!("Step {i}: please continue. {filler}"))] });
        messages.push(Message {
            role: Role::Assistant,
            parts: vec![
                Part::text(format!("Working on step {i}.")),
                Part::ToolCall(ToolCall {
                    id: format!("call_{i}"),
                    name: format!("tool_{}", i % 20),
                    arguments: json!({"path": format!("src/file_{i}.rs"), "line": i}).to_string(),
                    kind: ToolCallKind::Function,
                    opaque: None,
                }),
            ],
        });
        messages.push(Message {
            role: Role::Tool,
            parts: vec![Part::ToolResult(ToolResult {
                call_id: format!("call_{i}"),
                name: Some(format!("tool_{}", i % 20)),
                content: vec![Part::text(format!("ok {i}: {filler}"))],
                is_error: false,
                kind: ToolCallKind::Function,
            })],
        });
    }
    Request {
        model: "bench-model".into(),
        system: vec![Part::text("You are a coding agent. ".repeat(200))],
        messages,
        tools,
        stream: true,
        ..Default::default()
    }
}

fn translate(c: &mut Criterion) {
    let cx = cx();
    let canonical = agent_request();
    let mut group = c.benchmark_group("translate_200kb_request");
    for client in Protocol::ALL {
        // The same request as the client would send it.
        let body = encode_request(client, &canonical, &cx).expect("encode").body;
        assert!(body.len() > 150_000, "{client:?}: {} bytes", body.len());
        for upstream in Protocol::ALL.into_iter().filter(|u| *u != client) {
            group.bench_function(format!("{}->{}", client.name(), upstream.name()), |b| {
                b.iter(|| {
                    let req = decode_request(client, black_box(&body), &cx).expect("decode");
                    black_box(encode_request(upstream, &req, &cx).expect("encode"))
                })
            });
        }
    }
    group.finish();
}

fn stream_event(c: &mut Criterion) {
    let cx = cx();
    let frames: [(Protocol, SseEvent); 4] = [
        (Protocol::OpenaiChat, SseEvent { event: None, data: r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hello world"},"finish_reason":null}]}"#.into() }),
        (Protocol::OpenaiResponses, SseEvent { event: Some("response.output_text.delta".into()), data: r#"{"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"hello world","logprobs":[]}"#.into() }),
        (Protocol::Anthropic, SseEvent { event: Some("content_block_delta".into()), data: r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello world"}}"#.into() }),
        (Protocol::Gemini, SseEvent { event: None, data: r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hello world"}]},"index":0}],"modelVersion":"m","responseId":"r"}"#.into() }),
    ];
    let mut group = c.benchmark_group("stream_event");
    for (upstream, frame) in &frames {
        for client in Protocol::ALL.into_iter().filter(|c| c != upstream) {
            // Bring both state machines into the middle of a text part first.
            let mut dec = StreamDecoder::new(*upstream, &cx);
            let mut enc = StreamEncoder::new(client, &cx);
            let mut events = Vec::new();
            let mut out = BytesMut::new();
            for _ in 0..3 {
                dec.push(frame, &mut events);
            }
            for e in events.drain(..) {
                enc.push(&e, &mut out);
            }
            out.clear();
            group.bench_function(format!("{}->{}", upstream.name(), client.name()), |b| {
                b.iter(|| {
                    dec.push(black_box(frame), &mut events);
                    for e in events.drain(..) {
                        enc.push(&e, &mut out);
                    }
                    out.clear();
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, translate, stream_event);
criterion_main!(benches);
