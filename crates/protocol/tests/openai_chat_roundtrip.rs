//! Decode → encode round trips for the Chat adapter: what goes in comes back out.

mod openai_chat_support;

use bytes::BytesMut;
use crossbar_protocol::canonical::{Part, Request, StreamEvent};
use crossbar_protocol::openai_chat::{decode, encode, stream_out};
use openai_chat_support::*;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join(path)).expect("fixture")
}

/// Drop what the Chat upstream encoding is documented to drop, so the rest can be compared.
fn comparable(mut req: Request) -> Request {
    req.losses.clear();
    for m in &mut req.messages {
        m.parts.retain(|p| !matches!(p, Part::Reasoning(_)));
        for p in &mut m.parts {
            if let Part::ToolCall(tc) = p {
                // Custom calls travel upstream as functions with {"input": ...}.
                if tc.kind == crossbar_protocol::canonical::ToolCallKind::Custom {
                    tc.arguments = crossbar_protocol::canonical::tools::wrap_custom_input(&tc.arguments);
                    tc.kind = Default::default();
                }
            }
            if let Part::ToolResult(r) = p {
                r.kind = Default::default();
            }
        }
    }
    req
}

#[test]
fn client_requests_survive_decode_encode_decode() {
    for name in ["opencode_tool_turn", "sdk_multimodal_structured"] {
        let req = decode::decode_request(&fixture(&format!("client_requests/{name}.json")), &cx()).expect("decode");
        let enc = encode::encode_request(&req, &cx()).expect("encode");
        // The upstream body is itself a valid Chat request.
        let again = decode::decode_request(&enc.body, &cx()).expect("re-decode");
        let mut expected = comparable(req.clone());
        // gpt-4.1 is not reasoning-family: developer instructions go up as `system`.
        expected.system_is_developer = false;
        assert_eq!(comparable(again), expected, "{name}");
    }
}

#[test]
fn history_with_custom_tools_and_reasoning_keeps_everything_else() {
    let req =
        decode::decode_request(&fixture("client_requests/reasoning_history_custom_tools.json"), &cx()).expect("decode");
    let enc = encode::encode_request(&req, &cx()).expect("encode");
    let again = decode::decode_request(&enc.body, &cx()).expect("re-decode");
    let expected = comparable(req.clone());
    assert_eq!(again.messages, expected.messages);
    assert_eq!(again.system, expected.system);
    assert_eq!(again.tools.len(), 3);
    assert_eq!(again.reasoning.as_ref().and_then(|r| r.effort), req.reasoning.as_ref().and_then(|r| r.effort));
    assert_eq!(again.metadata.user, req.metadata.user);
}

#[test]
fn upstream_responses_survive_decode_encode_decode() {
    for name in ["openai_text", "openai_parallel_tool_calls", "deepseek_reasoning", "ollama_tool_call_object_args"] {
        let resp =
            decode::decode_response(&fixture(&format!("upstream_responses/{name}.json")), &cx()).expect("decode");
        // Decode with a context that declares no custom tools, so calls stay functions.
        let plain = crossbar_protocol::canonical::Cx::new(cx().codec.clone());
        let client = encode::encode_response(&resp, &plain).expect("encode");
        let again = decode::decode_response(&client, &plain).expect("re-decode");
        assert_eq!(again.parts, resp.parts, "{name}");
        assert_eq!(again.finish, resp.finish, "{name}");
        assert_eq!(again.usage, resp.usage, "{name}");
        assert_eq!(again.model, resp.model, "{name}");
    }
}

#[test]
fn custom_tool_calls_come_back_custom_and_round_trip() {
    let resp =
        decode::decode_response(&fixture("upstream_responses/openai_parallel_tool_calls.json"), &cx()).expect("decode");
    let client = encode::encode_response(&resp, &cx()).expect("encode");
    let again = decode::decode_response(&client, &cx()).expect("re-decode");
    let Some(Part::ToolCall(tc)) = again.parts.get(1) else { panic!("tool call") };
    assert_eq!(tc.kind, crossbar_protocol::canonical::ToolCallKind::Custom);
    assert_eq!(tc.arguments, "*** Begin Patch\n*** End Patch");
}

/// Upstream SSE → canonical events → client SSE → (read as an upstream again) → same events.
#[test]
fn streams_survive_stream_in_stream_out_stream_in() {
    for name in [
        "openai_text_usage",
        "openai_parallel_tools",
        "vllm_reasoning_crlf",
        "openrouter_reasoning",
        "ollama_whole_calls_no_done",
        "interleaved_tool_indices",
        "error_midstream",
    ] {
        let events = decode_stream_whole(&fixture(&format!("upstream_streams/{name}.sse")));
        let mut c = cx();
        c.include_usage = true;
        let mut enc = stream_out::StreamEncoder::new(&c);
        let mut out = BytesMut::new();
        for ev in &events {
            enc.push(ev, &mut out);
        }
        enc.finish(&mut out);
        let message = check_sdk_rules(std::str::from_utf8(&out).expect("utf8"));
        let again = decode_stream_whole(&out);
        assert_eq!(normalize(&again), normalize(&events), "{name}");
        // The SDK-style accumulation holds the same text as the canonical deltas.
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::TextDelta { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(message["content"].as_str().unwrap_or(""), text, "{name}");
    }
}

/// Start ids differ (the client sees `chatcmpl-<cx.id>`); a stream that reported no usage
/// comes back with zero usage (the client asked for a usage chunk); tool-call deltas may be
/// re-chunked.
fn normalize(events: &[StreamEvent]) -> Vec<StreamEvent> {
    let mut out: Vec<StreamEvent> = Vec::new();
    for e in events {
        match e {
            StreamEvent::Start { model, .. } => {
                out.push(StreamEvent::Start { id: String::new(), model: model.clone() })
            }
            StreamEvent::Usage(u) if u.input.unwrap_or(0) == 0 && u.output.unwrap_or(0) == 0 => {}
            StreamEvent::ToolArgsDelta { index, delta } => match out.last_mut() {
                Some(StreamEvent::ToolArgsDelta { index: i, delta: d }) if i == index => d.push_str(delta),
                _ => out.push(e.clone()),
            },
            StreamEvent::Error(info) => {
                let mut info = crossbar_protocol::canonical::ErrorInfo::new(info.kind, info.message.clone());
                info.status = 0;
                out.push(StreamEvent::Error(info))
            }
            other => out.push(other.clone()),
        }
    }
    out
}
