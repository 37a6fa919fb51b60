//! Responses adapter: nothing any input can do may panic.
//!
//! - arbitrary bytes and arbitrary JSON into `decode_request`, `decode_response`,
//!   `decode_error`, the SSE stream decoder and the usage sniffer;
//! - structured-but-wrong requests (random items, parts and tools with random field types)
//!   so the fuzzing reaches past the top-level type checks;
//! - arbitrary canonical event sequences into the stream encoder: still exactly one terminal
//!   event, a gap-free `sequence_number`, and nothing after the end.

use bytes::BytesMut;
use crossbar_protocol::canonical::{
    Cx, ErrorInfo, ErrorKind, FinishReason, Opaque, OpaqueCodec, PartKind, Protocol, StreamEvent, ToolCallKind,
    ToolDef, ToolIndex, ToolKind, Usage,
};
use crossbar_protocol::sse::{Decoder, SseEvent};
use crossbar_protocol::{
    decode_error, decode_request, decode_response, encode_request, encode_response, Sniffer, StreamDecoder,
    StreamEncoder,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const P: Protocol = Protocol::OpenaiResponses;

fn cx() -> Cx {
    let mut c = Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])));
    let tools = vec![ToolDef {
        name: "apply_patch".into(),
        namespace: None,
        description: None,
        parameters: json!({}),
        kind: ToolKind::Custom { format: None },
        strict: None,
        cache: None,
    }];
    c.tools = Arc::new(ToolIndex::new(&tools));
    c
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "[a-z_.]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "message",
            "function_call",
            "function_call_output",
            "custom_tool_call",
            "custom_tool_call_output",
            "reasoning",
            "compaction",
            "compaction_trigger",
            "item_reference",
            "input_text",
            "input_image",
            "input_file",
            "output_text",
            "refusal",
            "user",
            "assistant",
            "system",
            "developer",
            "function",
            "custom",
            "namespace",
            "web_search",
            "json_schema",
            "Y2IxAAAA",
            "oair1.x.y",
            "data:image/png;base64,AA",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "type",
        "role",
        "content",
        "text",
        "input",
        "model",
        "call_id",
        "name",
        "namespace",
        "arguments",
        "output",
        "summary",
        "encrypted_content",
        "id",
        "image_url",
        "file_id",
        "file_data",
        "file_url",
        "detail",
        "tools",
        "parameters",
        "format",
        "tool_choice",
        "reasoning",
        "effort",
        "text",
        "usage",
        "input_tokens",
        "output_tokens",
        "status",
        "error",
        "code",
        "message",
        "response",
        "item",
        "delta",
        "output_index",
        "incomplete_details",
        "reason",
        "instructions",
        "max_output_tokens",
        "include",
        "x",
    ])
    .prop_map(str::to_string)
}

/// A request whose `input` / `tools` are lists of random objects, so item-level code runs.
fn request_like() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(json_value(), 0..6),
        prop::collection::vec(json_value(), 0..4),
        json_value(),
        json_value(),
    )
        .prop_map(|(input, tools, reasoning, text)| {
            json!({"model": "m", "input": input, "tools": tools, "reasoning": reasoning, "text": text})
        })
}

fn run_stream(bytes: &[u8], cut: usize) {
    let cut = cut.min(bytes.len());
    let mut sse = Decoder::default();
    let mut frames = Vec::new();
    sse.push(&bytes[..cut], &mut frames);
    sse.push(&bytes[cut..], &mut frames);
    sse.finish(&mut frames);
    let mut dec = StreamDecoder::new(P, &cx());
    let mut out = Vec::new();
    for f in &frames {
        dec.push(f, &mut out);
    }
    dec.finish(&mut out);
    assert_eq!(out.iter().filter(|e| matches!(e, StreamEvent::End)).count(), 1);
    assert!(matches!(out.last(), Some(StreamEvent::End)));
    let mut sniff = Sniffer::new(P, true);
    sniff.push(&bytes[..cut]);
    sniff.push(&bytes[cut..]);
    sniff.finish();
    let _ = sniff.usage();
}

fn stream_event() -> impl Strategy<Value = StreamEvent> {
    let idx = 0usize..4;
    let text = "[a-z{}\":\\\\ ]{0,8}";
    prop_oneof![
        Just(StreamEvent::Start { id: "u".into(), model: "m".into() }),
        (
            idx.clone(),
            prop_oneof![
                Just(PartKind::Text),
                any::<bool>().prop_map(|redacted| PartKind::Reasoning { redacted }),
                (prop::sample::select(vec!["apply_patch", "f", "ns__g", ""]), any::<bool>()).prop_map(|(n, c)| {
                    PartKind::ToolCall {
                        id: "c".into(),
                        name: n.into(),
                        kind: if c { ToolCallKind::Custom } else { ToolCallKind::Function },
                        opaque: None,
                    }
                }),
            ]
        )
            .prop_map(|(index, kind)| StreamEvent::PartStart { index, kind }),
        (idx.clone(), text).prop_map(|(index, text)| StreamEvent::TextDelta { index, text }),
        (idx.clone(), text).prop_map(|(index, text)| StreamEvent::ReasoningDelta { index, text }),
        (idx.clone(), text).prop_map(|(index, delta)| StreamEvent::ToolArgsDelta { index, delta }),
        (idx.clone(), any::<bool>()).prop_map(|(index, mine)| StreamEvent::Opaque {
            index,
            opaque: Opaque::new(if mine { Protocol::OpenaiResponses } else { Protocol::Anthropic }, "s"),
        }),
        idx.prop_map(|index| StreamEvent::PartStop { index }),
        (any::<Option<u32>>(), any::<Option<u32>>()).prop_map(|(i, o)| StreamEvent::Usage(Usage {
            input: i.map(u64::from),
            output: o.map(u64::from),
            ..Default::default()
        })),
        prop::sample::select(vec![
            FinishReason::Stop,
            FinishReason::Length,
            FinishReason::ToolCalls,
            FinishReason::ContentFilter
        ])
        .prop_map(StreamEvent::Finish),
        Just(StreamEvent::Error(ErrorInfo::new(ErrorKind::Overloaded, "busy"))),
        Just(StreamEvent::End),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
        let c = cx();
        let _ = decode_request(P, &bytes, &c);
        let _ = decode_response(P, &bytes, &c);
        let _ = decode_error(P, 400, &bytes);
        run_stream(&bytes, cut);
        let mut s = Sniffer::new(P, false);
        s.push(&bytes);
        s.finish();
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value(), r in request_like()) {
        let c = cx();
        for doc in [&v, &r] {
            let body = doc.to_string().into_bytes();
            if let Ok(req) = decode_request(P, &body, &c) {
                // Whatever decodes must also encode (upstream) without panicking.
                let _ = encode_request(P, &req, &c);
            }
            if let Ok(resp) = decode_response(P, &body, &c) {
                let _ = encode_response(P, &resp, &c);
            }
            let _ = decode_error(P, 429, &body);
            // The same JSON as a stream event, with and without an event type.
            let mut sse = format!("data: {doc}\n\n").into_bytes();
            sse.extend_from_slice(format!("event: response.output_item.done\ndata: {{\"type\":\"response.output_item.done\",\"item\":{doc}}}\n\n").as_bytes());
            sse.extend_from_slice(format!("data: {{\"type\":\"response.completed\",\"response\":{doc}}}\n\n").as_bytes());
            run_stream(&sse, sse.len() / 2);
        }
    }

    #[test]
    fn arbitrary_event_sequences_keep_the_grammar(events in prop::collection::vec(stream_event(), 0..24), finish in any::<bool>()) {
        let mut enc = StreamEncoder::new(P, &cx());
        let mut out = BytesMut::new();
        for e in &events {
            enc.push(e, &mut out);
        }
        enc.finish(&mut out);
        if finish {
            enc.finish(&mut out);
        }
        let mut dec = Decoder::default();
        let mut frames: Vec<SseEvent> = Vec::new();
        dec.push(&out, &mut frames);
        dec.finish(&mut frames);
        let mut terminals = 0;
        for (i, f) in frames.iter().enumerate() {
            let v: Value = serde_json::from_str(&f.data).unwrap_or_default();
            prop_assert_eq!(&v["sequence_number"], &json!(i));
            let ty = v["type"].as_str().unwrap_or_default();
            prop_assert_eq!(f.event.as_deref(), Some(ty));
            if matches!(ty, "response.completed" | "response.incomplete" | "response.failed") {
                terminals += 1;
                prop_assert_eq!(i, frames.len() - 1);
            }
        }
        prop_assert_eq!(terminals, 1);
        prop_assert_eq!(frames.first().map(|f| f.event.clone()), Some(Some("response.created".to_string())));
    }
}
