//! Property tests: nothing any input does makes the Anthropic adapter panic, and the stream
//! decoder's output always obeys the canonical grammar (canonical/event.rs).

use crossbar_protocol::anthropic::{decode, encode, error, sniff, stream_in::StreamDecoder};
use crossbar_protocol::canonical::*;
use crossbar_protocol::sse::{Decoder, SseEvent};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::Arc;

fn cx() -> Cx {
    Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])))
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        prop_oneof![
            Just("text"),
            Just("image"),
            Just("document"),
            Just("tool_use"),
            Just("tool_result"),
            Just("thinking"),
            Just("redacted_thinking"),
            Just("base64"),
            Just("url"),
            Just("user"),
            Just("assistant"),
            Just("system"),
            Just("enabled"),
            Just("adaptive"),
            Just("Y2IxAAAA"),
            Just("message_start"),
            Just("content_block_delta"),
        ]
        .prop_map(Value::from),
        ".{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("type".to_string()),
            Just("text".to_string()),
            Just("content".to_string()),
            Just("source".to_string()),
            Just("role".to_string()),
            Just("input".to_string()),
            Just("id".to_string()),
            Just("signature".to_string()),
            Just("data".to_string()),
            Just("usage".to_string()),
            Just("index".to_string()),
            Just("delta".to_string()),
            Just("message".to_string()),
            Just("tool_use_id".to_string()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(keys, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request-shaped body with arbitrary parts, so decoding goes deep.
fn arb_request() -> impl Strategy<Value = Value> {
    (arb_json(), arb_json(), arb_json(), arb_json(), any::<bool>()).prop_map(
        |(content, system, tools, thinking, stream)| {
            json!({
                "model": "m",
                "max_tokens": 100,
                "stream": stream,
                "system": system,
                "tools": tools,
                "thinking": thinking,
                "messages": [
                    {"role": "user", "content": content.clone()},
                    {"role": "assistant", "content": [content]},
                ]
            })
        },
    )
}

/// Checks `Start (parts | Usage)* Finish? Usage? Error? End` with sequential part indices.
fn check_grammar(events: &[StreamEvent]) -> Result<(), String> {
    let mut it = events.iter().enumerate();
    match it.next() {
        Some((_, StreamEvent::Start { .. })) => {}
        other => return Err(format!("first event is not Start: {other:?}")),
    }
    let mut open: Option<usize> = None;
    let mut next = 0;
    let mut finished = false;
    let mut errored = false;
    for (i, e) in it {
        let last = i + 1 == events.len();
        match e {
            StreamEvent::End => return if last { Ok(()) } else { Err("End is not last".into()) },
            _ if errored => return Err(format!("{e:?} after Error")),
            StreamEvent::Start { .. } => return Err("second Start".into()),
            StreamEvent::PartStart { index, .. } => {
                if open.is_some() || *index != next || finished {
                    return Err(format!("bad PartStart {index} (open {open:?}, next {next})"));
                }
                open = Some(*index);
                next += 1;
            }
            StreamEvent::TextDelta { index, .. }
            | StreamEvent::ReasoningDelta { index, .. }
            | StreamEvent::ToolArgsDelta { index, .. }
            | StreamEvent::Opaque { index, .. } => {
                if open != Some(*index) {
                    return Err(format!("delta for {index} while {open:?} is open"));
                }
            }
            StreamEvent::PartStop { index } => {
                if open != Some(*index) {
                    return Err(format!("stop for {index} while {open:?} is open"));
                }
                open = None;
            }
            StreamEvent::Usage(_) => {}
            StreamEvent::Finish(_) => {
                if open.is_some() || finished {
                    return Err("Finish with an open part or twice".into());
                }
                finished = true;
            }
            StreamEvent::Error(_) => {
                if open.is_some() {
                    return Err("Error with an open part".into());
                }
                errored = true;
            }
        }
    }
    Err("no End".into())
}

fn run_decoder(frames: &[SseEvent]) -> Vec<StreamEvent> {
    let mut dec = StreamDecoder::new(&cx());
    let mut out = Vec::new();
    for f in frames {
        dec.push(f, &mut out);
    }
    dec.finish(&mut out);
    dec.finish(&mut out);
    out
}

fn fixture_frames() -> Vec<SseEvent> {
    let raw = std::fs::read(format!("{}/fixtures/anthropic/stream_tool_use.sse", env!("CARGO_MANIFEST_DIR")))
        .expect("fixture");
    let mut d = Decoder::default();
    let mut frames = Vec::new();
    d.push(&raw, &mut frames);
    d.finish(&mut frames);
    frames
}

fn arb_frame() -> impl Strategy<Value = SseEvent> {
    let name = proptest::option::of(prop_oneof![
        Just("message_start".to_string()),
        Just("content_block_start".to_string()),
        Just("content_block_delta".to_string()),
        Just("content_block_stop".to_string()),
        Just("message_delta".to_string()),
        Just("message_stop".to_string()),
        Just("error".to_string()),
        Just("ping".to_string()),
    ]);
    let data = prop_oneof![arb_json().prop_map(|v| v.to_string()), ".{0,30}"];
    (name, data).prop_map(|(event, data)| SseEvent { event, data })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode::decode_request(&bytes, &cx());
        let _ = decode::decode_response(&bytes, &cx());
        let _ = error::decode_error(500, &bytes);
        let mut d = Decoder::default();
        let mut frames = Vec::new();
        d.push(&bytes, &mut frames);
        d.finish(&mut frames);
        prop_assert!(check_grammar(&run_decoder(&frames)).is_ok());
        for stream in [true, false] {
            let mut s = sniff::Sniffer::new(stream);
            s.push(&bytes);
            s.finish();
            let _ = s.usage();
        }
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let body = v.to_string();
        let _ = decode::decode_request(body.as_bytes(), &cx());
        let _ = decode::decode_response(body.as_bytes(), &cx());
        let _ = error::decode_error(400, body.as_bytes());
        let mut s = sniff::Sniffer::new(true);
        s.push(format!("data: {body}\n\n").as_bytes());
        s.finish();
    }

    #[test]
    fn request_shaped_json_decodes_or_fails_cleanly_and_reencodes(v in arb_request()) {
        if let Ok(req) = decode::decode_request(v.to_string().as_bytes(), &cx()) {
            let enc = encode::encode_request(&req, &cx());
            prop_assert!(enc.is_ok(), "{:?}", enc);
        }
    }

    #[test]
    fn response_shaped_json_decodes_or_fails_cleanly_and_reencodes(content in proptest::collection::vec(arb_json(), 0..4), usage in arb_json()) {
        let body = json!({"type": "message", "id": "x", "model": "m", "content": content, "stop_reason": "end_turn", "usage": usage});
        if let Ok(resp) = decode::decode_response(body.to_string().as_bytes(), &cx()) {
            prop_assert!(encode::encode_response(&resp, &cx()).is_ok());
        }
    }

    #[test]
    fn arbitrary_frames_keep_the_grammar(frames in proptest::collection::vec(arb_frame(), 0..24)) {
        let out = run_decoder(&frames);
        prop_assert!(check_grammar(&out).is_ok(), "{:?}: {:?}", check_grammar(&out), out);
    }

    #[test]
    fn shuffled_and_dropped_fixture_frames_keep_the_grammar(picks in proptest::collection::vec(0usize..64, 0..30)) {
        let all = fixture_frames();
        let frames: Vec<SseEvent> = picks.iter().filter_map(|i| all.get(i % all.len().max(1)).cloned()).collect();
        let out = run_decoder(&frames);
        prop_assert!(check_grammar(&out).is_ok(), "{:?}: {:?}", check_grammar(&out), out);
    }

    #[test]
    fn sniffer_agrees_at_any_chunking(cuts in proptest::collection::vec(0usize..4000, 0..8)) {
        let raw = std::fs::read(format!("{}/fixtures/anthropic/stream_tool_use.sse", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (raw.len() + 1)).collect();
        cuts.sort_unstable();
        let mut s = sniff::Sniffer::new(true);
        let mut prev = 0;
        for c in cuts.into_iter().chain([raw.len()]) {
            s.push(raw.get(prev..c).unwrap_or_default());
            prev = c;
        }
        s.finish();
        prop_assert_eq!(s.usage().output, Some(89));
        prop_assert_eq!(s.usage().input, Some(31672));
    }
}

#[test]
fn the_fixture_itself_keeps_the_grammar() {
    assert_eq!(check_grammar(&run_decoder(&fixture_frames())), Ok(()));
}
