//! Nothing any input can do may panic: arbitrary bytes and arbitrary JSON through the Chat
//! decoders, the stream decoder (at arbitrary split points) and the sniffer; arbitrary event
//! sequences through the stream encoder.

mod openai_chat_support;

use bytes::BytesMut;
use crossbar_protocol::canonical::{FinishReason, PartKind, StreamEvent, ToolCallKind, Usage};
use crossbar_protocol::openai_chat::{decode, error, sniff::Sniffer, stream_out::StreamEncoder};
use openai_chat_support::*;
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
        "[a-z_]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("user"),
            Just("assistant"),
            Just("tool"),
            Just("system"),
            Just("developer"),
            Just("function"),
            Just("text"),
            Just("image_url"),
            Just("file"),
            Just("function"),
            Just("custom"),
            Just("[DONE]"),
            Just("data:image/png;base64,AAAA"),
            Just("data:;base64"),
            Just("stop"),
            Just("tool_calls"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("model"),
            Just("messages"),
            Just("role"),
            Just("content"),
            Just("tool_calls"),
            Just("tool_call_id"),
            Just("function"),
            Just("name"),
            Just("arguments"),
            Just("custom"),
            Just("input"),
            Just("type"),
            Just("text"),
            Just("image_url"),
            Just("url"),
            Just("file"),
            Just("file_data"),
            Just("tools"),
            Just("tool_choice"),
            Just("choices"),
            Just("delta"),
            Just("message"),
            Just("index"),
            Just("id"),
            Just("finish_reason"),
            Just("usage"),
            Just("prompt_tokens"),
            Just("error"),
            Just("code"),
            Just("stop"),
            Just("n"),
            Just("response_format"),
            Just("json_schema"),
            Just("reasoning"),
            Just("reasoning_content"),
            Just("reasoning_effort"),
            Just("max_tokens"),
            Just("functions"),
        ]
        .prop_map(str::to_string);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_event() -> impl Strategy<Value = StreamEvent> {
    let idx = 0usize..4;
    prop_oneof![
        ("[a-z]{0,4}", "[a-z]{0,4}").prop_map(|(id, model)| StreamEvent::Start { id, model }),
        (idx.clone(), 0u8..3, "[a-z_]{0,8}").prop_map(|(index, k, name)| StreamEvent::PartStart {
            index,
            kind: match k {
                0 => PartKind::Text,
                1 => PartKind::Reasoning { redacted: false },
                _ => PartKind::ToolCall {
                    id: "c".into(),
                    name: if name.is_empty() { "apply_patch".into() } else { name },
                    kind: if index % 2 == 0 { ToolCallKind::Function } else { ToolCallKind::Custom },
                    opaque: None,
                },
            },
        }),
        (idx.clone(), ".{0,8}").prop_map(|(index, text)| StreamEvent::TextDelta { index, text }),
        (idx.clone(), ".{0,8}").prop_map(|(index, text)| StreamEvent::ReasoningDelta { index, text }),
        (idx.clone(), ".{0,8}").prop_map(|(index, delta)| StreamEvent::ToolArgsDelta { index, delta }),
        idx.prop_map(|index| StreamEvent::PartStop { index }),
        proptest::option::of(any::<u64>()).prop_map(|o| StreamEvent::Usage(Usage {
            output: o,
            input: o,
            ..Default::default()
        })),
        Just(StreamEvent::Finish(FinishReason::Stop)),
        Just(StreamEvent::Finish(FinishReason::Length)),
        Just(StreamEvent::Error(crossbar_protocol::canonical::ErrorInfo::new(
            crossbar_protocol::canonical::ErrorKind::Overloaded,
            "x"
        ))),
        Just(StreamEvent::End),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
        let _ = decode::decode_request(&bytes, &cx());
        let _ = decode::decode_response(&bytes, &cx());
        let _ = error::decode_error(500, &bytes);
        let events = decode_stream_split(&bytes, &[cut]);
        assert_grammar(&events);
        for stream in [true, false] {
            let mut s = Sniffer::new(stream);
            s.push(&bytes[..cut.min(bytes.len())]);
            s.push(&bytes[cut.min(bytes.len())..]);
            s.finish();
            let _ = s.usage();
        }
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json(), wrap in 0u8..4) {
        // Also try the value in the places the decoders look.
        let v = match wrap {
            0 => v,
            1 => json!({"model": "m", "messages": [v]}),
            2 => json!({"choices": [{"index": 0, "delta": v, "message": v}]}),
            _ => json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [v]}),
        };
        let body = v.to_string();
        if let Ok(req) = decode::decode_request(body.as_bytes(), &cx()) {
            // Whatever decodes must encode (both directions) without panicking.
            let _ = crossbar_protocol::openai_chat::encode::encode_request(&req, &cx());
        }
        if let Ok(resp) = decode::decode_response(body.as_bytes(), &cx()) {
            let _ = crossbar_protocol::openai_chat::encode::encode_response(&resp, &cx());
        }
        let _ = error::decode_error(400, body.as_bytes());
        let sse = format!("data: {body}\n\ndata: {body}\n\ndata: [DONE]\n\n");
        let events = decode_stream_whole(sse.as_bytes());
        assert_grammar(&events);
        let mut s = Sniffer::new(true);
        s.push(sse.as_bytes());
        s.finish();
        let mut s = Sniffer::new(false);
        s.push(body.as_bytes());
        s.finish();
    }

    #[test]
    fn arbitrary_event_sequences_encode_to_a_terminated_stream(events in prop::collection::vec(arb_event(), 0..24), usage in any::<bool>()) {
        let mut c = cx();
        c.include_usage = usage;
        let mut enc = StreamEncoder::new(&c);
        let mut out = BytesMut::new();
        for e in &events {
            enc.push(e, &mut out);
        }
        enc.finish(&mut out);
        let text = String::from_utf8(out.to_vec()).expect("utf8");
        let data = data_lines(&text);
        prop_assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
        prop_assert_eq!(data.iter().filter(|d| *d == "[DONE]").count(), 1);
        // Every chunk is JSON and every tool-call entry has an index.
        for d in &data[..data.len() - 1] {
            let v: Value = serde_json::from_str(d).expect("json chunk");
            for tc in v["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                prop_assert!(tc["index"].is_u64());
            }
        }
    }

    /// Well-formed streams (the decoder's own output grammar) satisfy the SDK rules exactly.
    #[test]
    fn decoded_streams_encode_to_sdk_valid_sse(chunks in prop::collection::vec(arb_chunk(), 0..12), done in any::<bool>()) {
        let mut s = String::new();
        for c in &chunks {
            s.push_str(&format!("data: {c}\n\n"));
        }
        if done {
            s.push_str("data: [DONE]\n\n");
        }
        let events = decode_stream_whole(s.as_bytes());
        assert_grammar(&events);
        let mut c = cx();
        c.include_usage = true;
        let mut enc = StreamEncoder::new(&c);
        let mut out = BytesMut::new();
        for e in &events {
            enc.push(e, &mut out);
        }
        enc.finish(&mut out);
        check_sdk_rules(std::str::from_utf8(&out).expect("utf8"));
    }
}

/// Realistic chunks in random order: text, reasoning, tool-call fragments with a few indices.
fn arb_chunk() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z ]{0,6}".prop_map(|t| json!({"choices": [{"index": 0, "delta": {"content": t}}]})),
        "[a-z ]{0,6}".prop_map(|t| json!({"choices": [{"index": 0, "delta": {"reasoning_content": t}}]})),
        (0u64..3, proptest::option::of("[a-c]"), proptest::option::of("[a-z]{1,4}"), "[{}\":a-z0-9]{0,6}").prop_map(
            |(i, id, name, args)| {
                let mut f = json!({"arguments": args});
                if let Some(n) = name {
                    f["name"] = json!(n);
                }
                let mut tc = json!({"index": i, "function": f});
                if let Some(id) = id {
                    tc["id"] = json!(id);
                }
                json!({"choices": [{"index": 0, "delta": {"tool_calls": [tc]}}]})
            }
        ),
        prop_oneof![Just("stop"), Just("length"), Just("tool_calls"), Just("content_filter")]
            .prop_map(|r| json!({"choices": [{"index": 0, "delta": {}, "finish_reason": r}]})),
        (0u64..100, 0u64..100)
            .prop_map(|(p, c)| json!({"choices": [], "usage": {"prompt_tokens": p, "completion_tokens": c}})),
    ]
}
