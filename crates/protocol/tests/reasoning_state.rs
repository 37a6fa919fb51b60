//! Anthropic thinking and redacted-thinking signatures survive a round trip through every other
//! client protocol, streamed and not: upstream answer → client encoding → the client's echo of
//! it on the next turn → client decoding → Anthropic request. (The crossbar crate's
//! `tests/reasoning_state.rs` runs the whole table through the gateway and the mock; the mock
//! issues no redacted thinking, so that part is here.)

use bytes::BytesMut;
use crossbar_protocol::canonical::{Cx, OpaqueCodec, Protocol, StreamEvent};
use crossbar_protocol::sse::Decoder;
use crossbar_protocol::{
    decode_request, decode_response, encode_request, encode_response, StreamDecoder, StreamEncoder,
};
use serde_json::{json, Value};
use std::sync::Arc;

const SIGNATURE: &str = "EqQBCkYIARgCIkA-anthropic-signature";
const REDACTED: &str = "EmwKAhgBEgy-anthropic-redacted-data";

fn cx() -> Cx {
    let mut cx = Cx::new(Arc::new(OpaqueCodec::new([5u8; 32])));
    cx.id = "rt1".into();
    cx
}

fn upstream_message() -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Let me think.", "signature": SIGNATURE},
            {"type": "redacted_thinking", "data": REDACTED},
            {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {"command": "ls"}}],
        "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 5}})
}

fn upstream_stream() -> Vec<u8> {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me think."}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": REDACTED}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {}}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"command\": \"ls\"}"}}),
        json!({"type": "content_block_stop", "index": 2}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 5}}),
        json!({"type": "message_stop"}),
    ];
    let mut out = String::new();
    for e in events {
        out.push_str(&format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")));
    }
    out.into_bytes()
}

/// The upstream answer as the client gets it (a JSON body, or the SSE data payloads).
fn client_answer(client: Protocol, stream: bool) -> Vec<Value> {
    let cx = cx();
    if !stream {
        let resp = decode_response(Protocol::Anthropic, upstream_message().to_string().as_bytes(), &cx)
            .expect("upstream answer decodes");
        let body = encode_response(client, &resp, &cx).expect("client answer encodes");
        return vec![serde_json::from_slice(&body).expect("json")];
    }
    let mut frames = Vec::new();
    let mut sse = Decoder::default();
    sse.push(&upstream_stream(), &mut frames);
    sse.finish(&mut frames);
    let mut dec = StreamDecoder::new(Protocol::Anthropic, &cx);
    let mut events: Vec<StreamEvent> = Vec::new();
    for f in &frames {
        dec.push(f, &mut events);
    }
    dec.finish(&mut events);
    let mut enc = StreamEncoder::new(client, &cx);
    let mut out = BytesMut::new();
    for e in &events {
        enc.push(e, &mut out);
    }
    enc.finish(&mut out);
    let mut client_frames = Vec::new();
    let mut sse = Decoder::default();
    sse.push(&out, &mut client_frames);
    sse.finish(&mut client_frames);
    client_frames.iter().filter_map(|f| serde_json::from_str(&f.data).ok()).collect()
}

/// The next turn's request body, with the answer echoed as the client keeps it.
fn next_turn(client: Protocol, stream: bool, answer: &[Value]) -> Value {
    match client {
        Protocol::OpenaiChat => {
            let message = if stream {
                let mut id = String::new();
                let mut args = String::new();
                for chunk in answer {
                    for tc in chunk["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                        id.push_str(tc["id"].as_str().unwrap_or(""));
                        args.push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
                    }
                }
                json!({"role": "assistant", "content": null, "reasoning_content": "Let me think.",
                    "tool_calls": [{"id": id, "type": "function", "function": {"name": "shell", "arguments": args}}]})
            } else {
                answer[0]["choices"][0]["message"].clone()
            };
            let id = message["tool_calls"][0]["id"].clone();
            json!({"model": "m", "messages": [{"role": "user", "content": "go"}, message,
                {"role": "tool", "tool_call_id": id, "content": "done"}]})
        }
        Protocol::OpenaiResponses => {
            let mut input = vec![json!({"role": "user", "content": "go"})];
            if stream {
                input.extend(
                    answer.iter().filter(|e| e["type"] == "response.output_item.done").map(|e| e["item"].clone()),
                );
            } else {
                input.extend(answer[0]["output"].as_array().cloned().unwrap_or_default());
            }
            let call_id = input.iter().find(|i| i["type"] == "function_call").map(|i| i["call_id"].clone());
            input.push(json!({"type": "function_call_output", "call_id": call_id, "output": "done"}));
            json!({"model": "m", "input": input})
        }
        Protocol::Gemini => {
            let parts: Vec<Value> = answer
                .iter()
                .flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().cloned().unwrap_or_default())
                .collect();
            let id = parts.iter().find_map(|p| p.get("functionCall")).map(|f| f["id"].clone());
            json!({"contents": [{"role": "user", "parts": [{"text": "go"}]}, {"role": "model", "parts": parts},
                {"role": "user", "parts": [{"functionResponse": {"id": id, "name": "shell", "response": {"output": "done"}}}]}]})
        }
        Protocol::Anthropic => unreachable!("same protocol: relayed"),
    }
}

#[test]
fn thinking_and_redacted_thinking_come_back_through_every_client() {
    for client in [Protocol::OpenaiChat, Protocol::OpenaiResponses, Protocol::Gemini] {
        for stream in [false, true] {
            let case = format!("{client:?} stream={stream}");
            let answer = client_answer(client, stream);
            let body = next_turn(client, stream, &answer);
            let cx = cx();
            let mut req = decode_request(client, body.to_string().as_bytes(), &cx)
                .unwrap_or_else(|e| panic!("{case}: {e:?}\n{body}"));
            req.model = "claude-sonnet-4-5".into();
            let out = encode_request(Protocol::Anthropic, &req, &cx).expect("encodes");
            let sent: Value = serde_json::from_slice(&out.body).expect("json");
            let assistant = sent["messages"]
                .as_array()
                .and_then(|m| m.iter().find(|m| m["role"] == "assistant"))
                .cloned()
                .unwrap_or_default();
            let content = assistant["content"].as_array().cloned().unwrap_or_default();
            let types: Vec<&str> = content.iter().map(|b| b["type"].as_str().unwrap_or("")).collect();
            assert_eq!(types, ["thinking", "redacted_thinking", "tool_use"], "{case}: {sent}");
            assert_eq!(content[0]["signature"], SIGNATURE, "{case}");
            assert_eq!(content[0]["thinking"], "Let me think.", "{case}");
            assert_eq!(content[1]["data"], REDACTED, "{case}");
            assert_eq!(content[2]["id"], "toolu_1", "{case}: the provider's id, not the sealed one");
            let result = sent["messages"][2]["content"][0].clone();
            assert_eq!(result["tool_use_id"], "toolu_1", "{case}: {sent}");
        }
    }
}
