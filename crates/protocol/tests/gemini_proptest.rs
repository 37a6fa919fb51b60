//! Gemini adapter robustness: no input makes the decoders, the stream decoder, the stream
//! encoder or the sniffer panic, and the stream decoder always obeys the event grammar.

use bytes::BytesMut;
use crossbar_protocol::canonical::{
    Cx, ErrorInfo, ErrorKind, FinishReason, Opaque, OpaqueCodec, PartKind, Protocol, StreamEvent, ToolCallKind, Usage,
};
use crossbar_protocol::sse::{Decoder, SseEvent};
use crossbar_protocol::{
    decode_error, decode_request, decode_response, encode_request, encode_response, Sniffer, StreamDecoder,
    StreamEncoder,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const G: Protocol = Protocol::Gemini;

fn cx() -> Cx {
    Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])))
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        // Keys and strings the adapter looks at, so the fuzzer reaches deep paths.
        prop::sample::select(vec![
            "user",
            "model",
            "STOP",
            "MAX_TOKENS",
            "OBJECT",
            "string",
            "AUTO",
            "ANY",
            "HIGH",
            "application/json",
            "image/png",
            "skip_thought_signature_validator",
            "Y2IxAAAA",
            "#/$defs/A",
            "RESOURCE_EXHAUSTED",
            "",
        ])
        .prop_map(|s| Value::String(s.to_string())),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let key = prop::sample::select(vec![
            "contents",
            "role",
            "parts",
            "text",
            "thought",
            "thoughtSignature",
            "functionCall",
            "functionResponse",
            "inlineData",
            "fileData",
            "mimeType",
            "data",
            "fileUri",
            "id",
            "name",
            "args",
            "response",
            "output",
            "systemInstruction",
            "tools",
            "functionDeclarations",
            "parameters",
            "parametersJsonSchema",
            "type",
            "properties",
            "items",
            "anyOf",
            "$ref",
            "$defs",
            "toolConfig",
            "functionCallingConfig",
            "mode",
            "allowedFunctionNames",
            "generationConfig",
            "thinkingConfig",
            "thinkingBudget",
            "thinkingLevel",
            "responseSchema",
            "responseJsonSchema",
            "responseMimeType",
            "topK",
            "maxOutputTokens",
            "seed",
            "candidates",
            "content",
            "finishReason",
            "usageMetadata",
            "promptTokenCount",
            "candidatesTokenCount",
            "error",
            "code",
            "status",
            "message",
            "promptFeedback",
            "blockReason",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())),
        ]
    })
}

/// Grammar of canonical/event.rs (Start first, one End last, sequential parts, nothing after Error).
fn grammar_ok(events: &[StreamEvent]) -> bool {
    if !matches!(events.first(), Some(StreamEvent::Start { .. })) || !matches!(events.last(), Some(StreamEvent::End)) {
        return false;
    }
    let mut next = 0;
    let mut open = None;
    let mut terminal = false;
    for (i, e) in events.iter().enumerate() {
        if terminal && !matches!(e, StreamEvent::End) {
            return false;
        }
        let ok = match e {
            StreamEvent::Start { .. } => i == 0,
            StreamEvent::End => i == events.len() - 1,
            StreamEvent::PartStart { index, .. } => {
                let ok = open.is_none() && *index == next;
                open = Some(*index);
                next += 1;
                ok
            }
            StreamEvent::TextDelta { index, .. }
            | StreamEvent::ReasoningDelta { index, .. }
            | StreamEvent::ToolArgsDelta { index, .. }
            | StreamEvent::Opaque { index, .. } => open == Some(*index),
            StreamEvent::PartStop { index } => open.take() == Some(*index),
            StreamEvent::Error(_) => {
                terminal = true;
                true
            }
            StreamEvent::Finish(_) | StreamEvent::Usage(_) => open.is_none(),
        };
        if !ok {
            return false;
        }
    }
    true
}

fn run_stream(frames: &[String]) -> Vec<StreamEvent> {
    let mut d = StreamDecoder::new(G, &cx());
    let mut out = Vec::new();
    for f in frames {
        d.push(&SseEvent { event: None, data: f.clone() }, &mut out);
    }
    d.finish(&mut out);
    d.finish(&mut out);
    out
}

fn arb_event() -> impl Strategy<Value = StreamEvent> {
    let idx = 0usize..4;
    prop_oneof![
        ".{0,6}".prop_map(|id| StreamEvent::Start { id, model: "m".into() }),
        (idx.clone(), 0u8..3).prop_map(|(index, k)| StreamEvent::PartStart {
            index,
            kind: match k {
                0 => PartKind::Text,
                1 => PartKind::Reasoning { redacted: false },
                _ =>
                    PartKind::ToolCall { id: "c".into(), name: "f".into(), kind: ToolCallKind::Function, opaque: None },
            },
        }),
        (idx.clone(), ".{0,6}").prop_map(|(index, text)| StreamEvent::TextDelta { index, text }),
        (idx.clone(), ".{0,6}").prop_map(|(index, text)| StreamEvent::ReasoningDelta { index, text }),
        (idx.clone(), "[{}\":a-z0-9]{0,8}").prop_map(|(index, delta)| StreamEvent::ToolArgsDelta { index, delta }),
        (idx.clone(), any::<bool>()).prop_map(|(index, g)| StreamEvent::Opaque {
            index,
            opaque: Opaque::new(if g { Protocol::Gemini } else { Protocol::Anthropic }, "s"),
        }),
        idx.prop_map(|index| StreamEvent::PartStop { index }),
        any::<u32>().prop_map(|n| StreamEvent::Usage(Usage { input: Some(u64::from(n)), ..Default::default() })),
        Just(StreamEvent::Finish(FinishReason::Stop)),
        Just(StreamEvent::Error(ErrorInfo::new(ErrorKind::Overloaded, "x"))),
        Just(StreamEvent::End),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(G, &bytes, &cx());
        let _ = decode_response(G, &bytes, &cx());
        let _ = decode_error(G, 500, &bytes);
        let mut sse = Decoder::default();
        let mut frames = Vec::new();
        sse.push(&bytes, &mut frames);
        sse.finish(&mut frames);
        let events = run_stream(&frames.into_iter().map(|f| f.data).collect::<Vec<_>>());
        prop_assert!(grammar_ok(&events), "{events:?}");
        for stream in [true, false] {
            let mut s = Sniffer::new(G, stream);
            s.push(&bytes);
            s.finish();
            let _ = s.usage();
        }
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let body = v.to_string();
        if let Ok(mut req) = decode_request(G, body.as_bytes(), &cx()) {
            // Whatever decodes must also encode for a Gemini upstream.
            req.model = "gemini-2.5-flash".into();
            prop_assert!(encode_request(G, &req, &cx()).is_ok());
        }
        if let Ok(resp) = decode_response(G, body.as_bytes(), &cx()) {
            prop_assert!(encode_response(G, &resp, &cx()).is_ok());
        }
        let _ = decode_error(G, 429, body.as_bytes());
        let wrapped = json!({"contents": [{"role": "model", "parts": [v.clone()]}], "tools": [{"functionDeclarations": [{"name": "f", "parameters": v.clone()}]}]});
        if let Ok(mut req) = decode_request(G, wrapped.to_string().as_bytes(), &cx()) {
            req.model = "m".into();
            prop_assert!(encode_request(G, &req, &cx()).is_ok());
        }
        let chunk = json!({"candidates": [{"content": {"parts": [v.clone()]}, "finishReason": "STOP"}]});
        let events = run_stream(&[body.clone(), chunk.to_string()]);
        prop_assert!(grammar_ok(&events), "{events:?}");
        let mut s = Sniffer::new(G, true);
        s.push(format!("data: {body}\n\n").as_bytes());
        s.finish();
        let _ = s.usage();
    }

    #[test]
    fn arbitrary_event_sequences_encode_without_panicking(events in prop::collection::vec(arb_event(), 0..24), sse in any::<bool>()) {
        let mut c = cx();
        c.sse = sse;
        let mut enc = StreamEncoder::new(G, &c);
        let mut out = BytesMut::new();
        for e in &events {
            enc.push(e, &mut out);
        }
        enc.finish(&mut out);
        if !sse {
            // The array framing always closes into valid JSON.
            prop_assert!(serde_json::from_slice::<Value>(&out).is_ok(), "{}", String::from_utf8_lossy(&out));
        }
    }
}
