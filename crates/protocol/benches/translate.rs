//! Translation cost: a 200 KB agent request (100 turns, 20 tools) from each client protocol
//! into each other provider protocol, and one stream event through stream_in → stream_out.
//! Run: `cargo bench -p crossbar-protocol` (results in docs/benchmarks.md).

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use crossbar_protocol::canonical::*;
use crossbar_protocol::sse::SseEvent;
use crossbar_protocol::{decode_request, encode_request, StreamDecoder, StreamEncoder};

#[path = "support/agent_request.rs"]
mod agent_request;
use agent_request::{agent_request, cx};

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
