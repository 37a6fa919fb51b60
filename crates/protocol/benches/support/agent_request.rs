//! The benchmark's fixture, shared by `benches/translate.rs` and `examples/translate_profile.rs`:
//! a coding-agent request (a long system prompt, 20 tools, 100 turns of tool calls and results).

use crossbar_protocol::canonical::*;
use serde_json::json;
use std::sync::Arc;

pub fn cx() -> Cx {
    Cx::new(Arc::new(OpaqueCodec::new([9; 32])))
}

pub fn agent_request() -> Request {
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
        messages.push(Message {
            role: Role::User,
            parts: vec![Part::text(format!("Step {i}: please continue. {filler}"))],
        });
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
