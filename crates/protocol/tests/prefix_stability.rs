//! Byte-stable translation: the same history translated at turn N and at turn N+1 must give the
//! same prefix (tools, system, every earlier message), or the provider's prompt cache misses on
//! every turn. Each client protocol's conversation is decoded at each turn and encoded for every
//! other upstream; the bodies must agree everywhere but the conversation array, and that array
//! element by element on the shared prefix. Anthropic's `cache_control` markers are left out of
//! the comparison: they advance with the conversation, and Anthropic's cache ignores them.

use crossbar_protocol::canonical::{Cx, Divergence, Fingerprint, OpaqueCodec, Protocol};
use crossbar_protocol::{decode_request, encode_request};
use serde_json::{json, Value};
use std::sync::Arc;

fn cx() -> Cx {
    Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])))
}

const TURNS: usize = 4;

/// A client's request body at turn N.
type Conversation = fn(usize) -> Value;

fn schema() -> Value {
    json!({"type": "object", "properties": {"cmd": {"type": "string"}, "timeout": {"type": "integer"}}, "required": ["cmd"]})
}

/// Arguments as a client writes them: keys not in schema order, spaces after separators.
fn args(i: usize) -> String {
    format!(r#"{{"timeout": {i}, "cmd": "ls dir{i}"}}"#)
}

fn responses(turns: usize) -> Value {
    let mut input = vec![json!({"type": "message", "role": "developer", "content": "sandboxed"})];
    for i in 0..turns {
        input.push(json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": format!("step {i}")}]}));
        input.push(
            json!({"type": "function_call", "call_id": format!("call_{i}"), "name": "shell", "arguments": args(i)}),
        );
        input.push(
            json!({"type": "function_call_output", "call_id": format!("call_{i}"), "output": format!("out {i}")}),
        );
    }
    json!({
        "model": "m", "instructions": "You are Codex.", "stream": true, "store": false,
        "tools": [
            {"type": "function", "name": "shell", "description": "run", "parameters": schema()},
            {"type": "function", "name": "read", "parameters": schema()}
        ],
        "input": input
    })
}

fn chat(turns: usize) -> Value {
    let mut messages = vec![json!({"role": "system", "content": "You are OpenCode."})];
    for i in 0..turns {
        messages.push(json!({"role": "user", "content": format!("step {i}")}));
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": format!("call_{i}"), "type": "function", "function": {"name": "shell", "arguments": args(i)}}
        ]}));
        messages.push(json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": format!("out {i}")}));
    }
    json!({
        "model": "m", "stream": true, "messages": messages,
        "tools": [
            {"type": "function", "function": {"name": "shell", "description": "run", "parameters": schema()}},
            {"type": "function", "function": {"name": "read", "parameters": schema()}}
        ]
    })
}

/// Claude Code, with its billing line's nonce new on every turn.
fn anthropic(turns: usize) -> Value {
    let mut messages = Vec::new();
    for i in 0..turns {
        messages.push(json!({"role": "user", "content": [{"type": "text", "text": format!("step {i}")}]}));
        messages.push(json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": format!("toolu_{i}"), "name": "shell", "input": {"timeout": i, "cmd": format!("ls dir{i}")}}
        ]}));
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": format!("toolu_{i}"), "content": format!("out {i}")}
        ]}));
    }
    json!({
        "model": "m", "max_tokens": 1000, "stream": true,
        "system": [
            {"type": "text", "text": format!("x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=cli; cch={:05x};", turns * 7919)},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
        ],
        "tools": [
            {"name": "shell", "description": "run", "input_schema": schema()},
            {"name": "read", "input_schema": schema()}
        ],
        "messages": messages
    })
}

fn gemini(turns: usize) -> Value {
    let mut contents = Vec::new();
    for i in 0..turns {
        contents.push(json!({"role": "user", "parts": [{"text": format!("step {i}")}]}));
        contents.push(json!({"role": "model", "parts": [{"functionCall": {"name": "shell", "args": {"timeout": i, "cmd": format!("ls dir{i}")}}}]}));
        contents.push(json!({"role": "user", "parts": [{"functionResponse": {"name": "shell", "response": {"output": format!("out {i}")}}}]}));
    }
    json!({
        "systemInstruction": {"parts": [{"text": "You are Gemini CLI."}]},
        "tools": [{"functionDeclarations": [
            {"name": "shell", "description": "run", "parameters": schema()},
            {"name": "read", "parameters": schema()}
        ]}],
        "contents": contents
    })
}

fn conversation_key(p: Protocol) -> &'static str {
    match p {
        Protocol::Anthropic | Protocol::OpenaiChat => "messages",
        Protocol::OpenaiResponses => "input",
        Protocol::Gemini => "contents",
    }
}

/// The conversation as the upstream's tokenizer meets it: Anthropic and Gemini merge
/// consecutive same-role turns (a tool result and the next user text share one turn), so
/// their turns are compared block by block.
fn flatten(items: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for item in items {
        let role = item.get("role").cloned().unwrap_or(Value::Null);
        match item.get("content").or_else(|| item.get("parts")) {
            Some(Value::Array(blocks)) if item.get("type").is_none() => {
                out.extend(blocks.iter().map(|b| json!({"role": role, "block": b})))
            }
            _ => out.push(item),
        }
    }
    out
}

fn strip_cache_control(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("cache_control");
            map.values_mut().for_each(strip_cache_control);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_cache_control),
        _ => {}
    }
}

fn translate(client: Protocol, body: &Value, upstream: Protocol) -> Value {
    let cx = cx();
    let mut req = decode_request(client, body.to_string().as_bytes(), &cx).expect("decodes");
    req.model = "m".into();
    let enc = encode_request(upstream, &req, &cx).expect("encodes");
    let mut v: Value = serde_json::from_slice(&enc.body).expect("JSON");
    if upstream == Protocol::Anthropic {
        strip_cache_control(&mut v);
    }
    v
}

#[test]
fn every_translation_keeps_the_earlier_prefix_byte_stable() {
    let clients: [(Protocol, Conversation); 4] = [
        (Protocol::OpenaiResponses, responses),
        (Protocol::OpenaiChat, chat),
        (Protocol::Anthropic, anthropic),
        (Protocol::Gemini, gemini),
    ];
    let upstreams = [Protocol::Anthropic, Protocol::OpenaiChat, Protocol::OpenaiResponses, Protocol::Gemini];
    for (client, body) in clients {
        for upstream in upstreams.into_iter().filter(|u| *u != client) {
            for turn in 1..TURNS {
                let what = format!("{client:?} → {upstream:?}, turn {turn} → {}", turn + 1);
                let mut before = translate(client, &body(turn), upstream);
                let mut after = translate(client, &body(turn + 1), upstream);
                let key = conversation_key(upstream);
                let (Some(Value::Array(a)), Some(Value::Array(b))) = (
                    before.as_object_mut().and_then(|o| o.remove(key)),
                    after.as_object_mut().and_then(|o| o.remove(key)),
                ) else {
                    panic!("{what}: no `{key}` array");
                };
                assert_eq!(before, after, "{what}: tools, system or settings changed");
                let (a, b) = match upstream {
                    Protocol::Anthropic | Protocol::Gemini => (flatten(a), flatten(b)),
                    _ => (a, b),
                };
                assert!(b.len() > a.len(), "{what}: the conversation did not grow");
                for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                    assert_eq!(x, y, "{what}: `{key}[{i}]` changed");
                }
                // And as bytes, as the upstream sees them.
                for (x, y) in a.iter().zip(&b) {
                    assert_eq!(x.to_string(), y.to_string());
                }
            }
        }
    }
}

#[test]
fn each_clients_turns_decode_to_growing_prompts() {
    let clients: [(Protocol, Conversation); 4] = [
        (Protocol::OpenaiResponses, responses),
        (Protocol::OpenaiChat, chat),
        (Protocol::Anthropic, anthropic),
        (Protocol::Gemini, gemini),
    ];
    let fingerprint = |client: Protocol, body: Value| {
        Fingerprint::of(&decode_request(client, body.to_string().as_bytes(), &cx()).expect("decodes"))
    };
    for (client, body) in clients {
        for turn in 1..TURNS {
            let (a, b) = (fingerprint(client, body(turn)), fingerprint(client, body(turn + 1)));
            assert_eq!(a.divergence(&b), Divergence::None, "{client:?} turn {turn}");
            assert!(b.messages.len() > a.messages.len());
        }
    }
    // And a change is named where it is.
    let mut edited = responses(3);
    edited["input"][2]["arguments"] = "{}".into();
    let (a, b) = (fingerprint(Protocol::OpenaiResponses, responses(2)), fingerprint(Protocol::OpenaiResponses, edited));
    assert!(matches!(a.divergence(&b), Divergence::Message(_)), "{:?}", a.divergence(&b));
}
