//! Anthropic requests: decoding what Claude Code and the SDK send (golden fixtures), the
//! errors a bad request gets, and encoding canonical requests for api.anthropic.com.

use crossbar_protocol::anthropic::{decode, encode};
use crossbar_protocol::canonical::*;
use serde_json::{json, Value};
use std::sync::Arc;

fn cx() -> Cx {
    Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/anthropic/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn decode(name: &str) -> Request {
    decode::decode_request(&fixture(name), &cx()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn encode(req: &Request) -> (Value, Vec<Loss>) {
    let enc = encode::encode_request(req, &cx()).expect("encode_request");
    assert_eq!(enc.path, "/v1/messages");
    (serde_json::from_slice(&enc.body).expect("body is JSON"), enc.losses)
}

fn ephemeral() -> Option<CacheHint> {
    Some(CacheHint { value: json!({"type": "ephemeral"}) })
}

fn loss_fields(losses: &[Loss]) -> Vec<&str> {
    losses.iter().map(|l| l.field.as_str()).collect()
}

// === decode: golden fixtures ===

#[test]
fn claude_code_turn_decodes() {
    let req = decode("claude_code_turn2.json");
    assert_eq!(req.model, "claude-opus-4-8");
    assert_eq!(req.sampling.max_tokens, Some(64000));
    assert!(req.stream);
    // The billing line is gone (it would defeat any other provider's prefix cache).
    assert_eq!(req.system.len(), 2);
    assert!(
        matches!(&req.system[0], Part::Text { text, cache } if text.starts_with("You are Claude Code") && *cache == ephemeral())
    );
    assert_eq!(
        req.metadata.user.as_deref(),
        Some(r#"{"device_id":"4f1c9f0e2b7d","account_uuid":"","session_id":"0b6b5a8e-2f1d-4c55-9d0e-3c7f1f2a9e11"}"#)
    );
    let rc = req.reasoning.clone().expect("reasoning");
    assert!(rc.adaptive);
    assert_eq!(rc.effort, Some(Effort::High));
    assert_eq!(loss_fields(&req.losses), ["context_management"]);
    assert_eq!(req.tools.len(), 2);
    assert_eq!(req.tools[0].name, "Bash");
    assert_eq!(req.tools[0].kind, ToolKind::Function);
    assert_eq!(req.tools[0].parameters["required"], json!(["command"]));

    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::System, Role::Assistant, Role::Tool]);
    assert!(matches!(&req.messages[0].parts[1], Part::Text { cache, .. } if *cache == ephemeral()));
    assert_eq!(req.messages[1].parts, [Part::text("The user is working in /tmp/project. Git status: clean.")]);
    assert_eq!(
        req.messages[2].parts,
        [
            Part::Reasoning(Reasoning {
                text: "The user wants me to run echo. I'll call Bash.".into(),
                opaque: Some(Opaque::new(Protocol::Anthropic, "EqMCCkYIBxgCKkB3c2lnbmF0dXJlLWZyb20tYW50aHJvcGlj")),
                ..Reasoning::default()
            }),
            Part::text("I'll run that now."),
            Part::ToolCall(ToolCall {
                id: "toolu_01HkGv3xQ2f8bYb5Zq1nQp7R".into(),
                name: "Bash".into(),
                arguments: r#"{"command":"echo stub-tool-ran","description":"Print a marker"}"#.into(),
                kind: ToolCallKind::Function,
                opaque: None,
            }),
        ]
    );
    // The result's cache breakpoint moves onto its text; the function name is filled in.
    assert_eq!(
        req.messages[3].parts,
        [Part::ToolResult(ToolResult {
            call_id: "toolu_01HkGv3xQ2f8bYb5Zq1nQp7R".into(),
            name: Some("Bash".into()),
            content: vec![Part::Text { text: "stub-tool-ran".into(), cache: ephemeral() }],
            is_error: false,
            kind: ToolCallKind::Function,
        })]
    );
}

#[test]
fn sdk_request_with_media_server_tools_and_mixed_results_decodes() {
    let req = decode("sdk_rich_request.json");
    assert_eq!(req.system, [Part::text("You are a careful assistant.")]);
    assert_eq!(req.sampling.temperature, Some(0.7));
    assert_eq!(req.sampling.top_p, Some(0.9));
    assert_eq!(req.sampling.top_k, Some(40));
    assert_eq!(req.sampling.stop, ["\n\nHuman:", "###"]);
    let rc = req.reasoning.clone().expect("reasoning");
    assert_eq!((rc.budget_tokens, rc.adaptive, rc.effort()), (Some(4000), false, Some(Effort::Medium)));
    assert_eq!(req.tool_choice, Some(ToolChoice::Required));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(loss_fields(&req.losses), ["service_tier", "tools[1]", "tools[2]"]);
    assert_eq!(req.tools.len(), 1);
    assert_eq!(req.tools[0].cache, Some(CacheHint { value: json!({"type": "ephemeral", "ttl": "1h"}) }));

    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool, Role::User]);
    let user = &req.messages[0].parts;
    assert!(
        matches!(&user[0], Part::Image { source: MediaSource::Base64 { media_type, .. }, .. } if media_type == "image/png")
    );
    assert_eq!(
        user[1],
        Part::Image { source: MediaSource::Url { url: "https://example.com/cat.jpg".into() }, detail: None }
    );
    assert_eq!(
        user[2],
        Part::File {
            source: MediaSource::Base64 { media_type: "application/pdf".into(), data: "JVBERi0xLjQK".into() },
            filename: Some("report.pdf".into())
        }
    );
    assert_eq!(
        user[3],
        Part::File { source: MediaSource::Url { url: "https://example.com/paper.pdf".into() }, filename: None }
    );
    assert_eq!(user[4], Part::text("Plain notes."));

    let asst = &req.messages[1].parts;
    assert!(
        matches!(&asst[0], Part::Reasoning(r) if r.redacted && r.opaque.as_ref().is_some_and(|o| o.origin == Protocol::Anthropic))
    );
    assert!(matches!(&asst[1], Part::Reasoning(r) if r.text == "Need weather and a search."));
    assert!(
        matches!(&asst[2], Part::Unknown { origin: Protocol::Anthropic, value } if value["type"] == "server_tool_use")
    );
    assert!(
        matches!(&asst[3], Part::Unknown { origin: Protocol::Anthropic, value } if value["type"] == "web_search_tool_result")
    );
    assert!(matches!(&asst[4], Part::ToolCall(c) if c.arguments == r#"{"location":"Paris"}"#));

    // A user turn mixing results and text: a Tool message (results in order), then the rest.
    let results = &req.messages[2].parts;
    assert!(
        matches!(&results[0], Part::ToolResult(r) if r.name.as_deref() == Some("get_weather") && r.content.len() == 2 && !r.is_error)
    );
    assert!(
        matches!(&results[1], Part::ToolResult(r) if r.call_id == "toolu_unknown" && r.name.is_none() && r.is_error)
    );
    assert_eq!(req.messages[3].parts, [Part::text("Here you go:")]);
}

#[test]
fn count_tokens_body_without_max_tokens_decodes() {
    let req = decode("count_tokens.json");
    assert_eq!(req.sampling.max_tokens, None);
    assert!(req.system.is_empty());
    assert_eq!(req.messages, [Message { role: Role::User, parts: vec![Part::text("foo")] }]);
    assert_eq!(req.tools[0].name, "Skill");
    assert!(req.losses.is_empty());
}

#[test]
fn title_call_with_disabled_thinking_and_json_schema_decodes() {
    let req = decode("title_request.json");
    assert!(req.reasoning.as_ref().is_some_and(ReasoningConfig::disabled));
    assert!(
        matches!(&req.output, Some(OutputFormat::JsonSchema { schema, strict: true, .. }) if schema["required"] == json!(["title"]))
    );
    assert_eq!(req.metadata.user.as_deref(), Some("user_abc"));
    assert!(!req.stream);
}

#[test]
fn leading_system_messages_join_the_system_prompt() {
    let body = json!({"model": "m", "system": "a", "messages": [
        {"role": "system", "content": "b"},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "later"}]}
    ]});
    let req = decode::decode_request(body.to_string().as_bytes(), &cx()).expect("decode");
    assert_eq!(req.system, [Part::text("a"), Part::text("b")]);
    assert_eq!(req.messages.len(), 2);
    assert_eq!(req.messages[1], Message { role: Role::System, parts: vec![Part::text("later")] });
}

// === decode: errors ===

fn decode_err(body: Value) -> ProtocolError {
    decode::decode_request(body.to_string().as_bytes(), &cx()).expect_err("must fail")
}

fn param(e: &ProtocolError) -> Option<&str> {
    match e {
        ProtocolError::InvalidRequest { param, .. } => param.as_deref(),
        _ => None,
    }
}

#[test]
fn bad_requests_name_the_field() {
    assert!(decode::decode_request(b"{nope", &cx()).expect_err("json").to_string().contains("not valid JSON"));
    assert!(decode::decode_request(b"[]", &cx()).expect_err("array").to_string().contains("JSON object"));
    let msgs = json!([{"role": "user", "content": "hi"}]);
    assert_eq!(param(&decode_err(json!({"messages": msgs}))), Some("model"));
    assert_eq!(param(&decode_err(json!({"model": "m"}))), Some("messages"));
    assert_eq!(param(&decode_err(json!({"model": "m", "messages": msgs, "max_tokens": "many"}))), Some("max_tokens"));
    assert_eq!(
        param(&decode_err(json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}))),
        Some("messages[0].role")
    );
    assert_eq!(
        param(&decode_err(json!({"model": "m", "messages": [{"role": "user", "content": 5}]}))),
        Some("messages[0]")
    );
    let bad_block =
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": 3}]}]});
    assert_eq!(param(&decode_err(bad_block)), Some("messages[0].content[1]"));
    let misplaced = json!({"model": "m", "messages": [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "x"}]}]});
    assert_eq!(param(&decode_err(misplaced)), Some("messages[0].content[0]"));
    assert_eq!(
        param(&decode_err(json!({"model": "m", "messages": msgs, "thinking": {"type": "sometimes"}}))),
        Some("thinking.type")
    );
    assert_eq!(
        param(&decode_err(json!({"model": "m", "messages": msgs, "output_config": {"effort": "extreme"}}))),
        Some("output_config.effort")
    );
    assert_eq!(
        param(&decode_err(json!({"model": "m", "messages": msgs, "tool_choice": {"type": "tool"}}))),
        Some("tool_choice.name")
    );
}

#[test]
fn tampered_or_foreign_signatures_are_a_clean_400() {
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "Y2IxAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}
    ]});
    let e = decode_err(body);
    assert_eq!(param(&e), Some("messages[1].content[0].signature"));
    assert_eq!(e.to_info().status, 400);
}

#[test]
fn empty_signature_is_reasoning_without_state() {
    let body = json!({"model": "m", "messages": [
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": ""}]}
    ]});
    let req = decode::decode_request(body.to_string().as_bytes(), &cx()).expect("decode");
    assert_eq!(req.messages[0].parts, [Part::Reasoning(Reasoning { text: "t".into(), ..Reasoning::default() })]);
}

// === encode: Anthropic upstream ===

#[test]
fn claude_code_turn_encodes_for_anthropic() {
    let (body, losses) = encode(&decode("claude_code_turn2.json"));
    assert!(losses.is_empty(), "{losses:?}");
    let expected = json!({
        "model": "claude-opus-4-8",
        "max_tokens": 64000,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "You are an interactive agent that helps users with software engineering tasks. Use the instructions below and the tools available to you to assist the user.\n\n# Tone and style\n...", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>\nAs you answer the user's questions, you can use the following context:\n# currentDate\nToday's date is 2026-11-22.\n</system-reminder>\n"},
                {"type": "text", "text": "Run echo via the Bash tool, then tell me what it printed", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "<system-reminder>\nThe user is working in /tmp/project. Git status: clean.\n</system-reminder>"}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "The user wants me to run echo. I'll call Bash.", "signature": "EqMCCkYIBxgCKkB3c2lnbmF0dXJlLWZyb20tYW50aHJvcGlj"},
                {"type": "text", "text": "I'll run that now."},
                {"type": "tool_use", "id": "toolu_01HkGv3xQ2f8bYb5Zq1nQp7R", "name": "Bash", "input": {"command": "echo stub-tool-ran", "description": "Print a marker"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01HkGv3xQ2f8bYb5Zq1nQp7R", "content": [
                    {"type": "text", "text": "stub-tool-ran", "cache_control": {"type": "ephemeral"}}
                ]}
            ]}
        ],
        "tools": [
            {"name": "Bash", "description": "Executes a given bash command and returns its output.", "input_schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command to execute"},
                    "timeout": {"type": "number", "description": "Optional timeout in milliseconds (max 600000)"},
                    "description": {"type": "string", "description": "Clear, concise description of what this command does in active voice."}
                },
                "required": ["command"],
                "additionalProperties": false
            }},
            {"name": "Read", "description": "Reads a file from the local filesystem.", "input_schema": {
                "type": "object",
                "properties": {"file_path": {"type": "string"}, "offset": {"type": "integer"}, "limit": {"type": "integer"}},
                "required": ["file_path"],
                "additionalProperties": false
            }}
        ],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": "{\"device_id\":\"4f1c9f0e2b7d\",\"account_uuid\":\"\",\"session_id\":\"0b6b5a8e-2f1d-4c55-9d0e-3c7f1f2a9e11\"}"},
        "stream": true
    });
    assert_eq!(body, expected);
}

#[test]
fn sdk_request_round_trips_through_the_upstream_encoder() {
    let req = decode("sdk_rich_request.json");
    let (body, losses) = encode(&req);
    assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 4000}));
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["tool_choice"], json!({"type": "auto", "disable_parallel_tool_use": true}));
    for knob in ["temperature", "top_p", "top_k"] {
        assert!(body.get(knob).is_none(), "{knob} must be dropped with thinking");
    }
    assert_eq!(loss_fields(&losses), ["temperature", "top_p", "top_k", "tool_choice"]);
    assert_eq!(body["stop_sequences"], json!(["\n\nHuman:", "###"]));
    // Tool results first in the user turn, then the text that came with them.
    let last = &body["messages"][2]["content"];
    assert_eq!(last[0]["type"], "tool_result");
    assert_eq!(
        last[1],
        json!({"type": "tool_result", "tool_use_id": "toolu_unknown", "content": "boom", "is_error": true})
    );
    assert_eq!(last[2], json!({"type": "text", "text": "Here you go:"}));
    assert_eq!(body["messages"][0]["content"][2]["title"], "report.pdf");

    // What we send is itself a valid Anthropic request carrying the same conversation.
    let again = decode::decode_request(&serde_json::to_vec(&body).expect("ser"), &cx()).expect("re-decode");
    assert_eq!(again.messages, req.messages);
    assert_eq!(again.tools, req.tools);
    assert_eq!(again.system, req.system);
}

fn call(id: &str, args: &str) -> Part {
    Part::ToolCall(ToolCall {
        id: id.into(),
        name: "shell".into(),
        arguments: args.into(),
        kind: ToolCallKind::Function,
        opaque: None,
    })
}

fn result(id: &str, text: &str) -> Part {
    Part::ToolResult(ToolResult {
        call_id: id.into(),
        name: None,
        content: vec![Part::text(text)],
        is_error: false,
        kind: ToolCallKind::Function,
    })
}

fn msg(role: Role, parts: Vec<Part>) -> Message {
    Message { role, parts }
}

fn openai_style_request() -> Request {
    Request {
        model: "claude-sonnet-4-5".into(),
        system: vec![Part::text("be brief")],
        system_is_developer: true,
        messages: vec![
            msg(Role::User, vec![Part::text("list files")]),
            msg(Role::Assistant, vec![Part::text(""), call("call.1:x", r#"{"cmd":"ls"}"#), call("", "")]),
            msg(Role::Tool, vec![result("call.1:x", "a.txt"), result("", "ok")]),
            msg(Role::Developer, vec![Part::text("mind the sandbox")]),
            msg(Role::User, vec![Part::text("thanks")]),
        ],
        reasoning: Some(ReasoningConfig { effort: Some(Effort::High), ..Default::default() }),
        sampling: Sampling { temperature: Some(0.2), seed: Some(1), ..Default::default() },
        tools: vec![
            ToolDef {
                name: "shell".into(),
                namespace: None,
                description: None,
                parameters: json!({"properties": {}}),
                kind: ToolKind::Function,
                strict: Some(true),
                cache: None,
            },
            ToolDef {
                name: "apply_patch".into(),
                namespace: None,
                description: Some("patch".into()),
                parameters: json!({}),
                kind: ToolKind::Custom { format: Some(json!({"type": "grammar"})) },
                strict: None,
                cache: None,
            },
            ToolDef {
                name: "open".into(),
                namespace: Some("browser".into()),
                description: None,
                parameters: Value::Null,
                kind: ToolKind::Function,
                strict: None,
                cache: None,
            },
        ],
        tool_choice: Some(ToolChoice::Required),
        output: Some(OutputFormat::JsonObject),
        ..Default::default()
    }
}

#[test]
fn foreign_history_turns_thinking_off_and_maps_tool_ids_in_pairs() {
    let (body, losses) = encode(&openai_style_request());
    assert!(body.get("thinking").is_none());
    assert_eq!(body["temperature"], 0.2, "kept: thinking is off");
    assert_eq!(body["max_tokens"], 8192);
    assert_eq!(body["tool_choice"], json!({"type": "any"}));
    assert_eq!(body["system"], json!([{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]));
    let fields = loss_fields(&losses);
    for f in ["reasoning", "tools[0].strict", "tools[1].format", "response_format", "seed"] {
        assert!(fields.contains(&f), "missing loss {f} in {fields:?}");
    }
    let m = &body["messages"];
    assert_eq!(m.as_array().map(Vec::len), Some(3), "alternating turns: {m}");
    // Empty text dropped; invalid ids mapped identically on both sides; empty ids paired in order.
    let calls = &m[1]["content"];
    assert_eq!(calls.as_array().map(Vec::len), Some(2));
    let id = calls[0]["id"].as_str().unwrap_or_default().to_string();
    assert!(
        id.starts_with("call_1_x_") && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{id}"
    );
    assert_eq!(calls[1]["input"], json!({}));
    let user = &m[2]["content"];
    assert_eq!(user[0], json!({"type": "tool_result", "tool_use_id": id, "content": "a.txt"}));
    assert_eq!(user[1]["tool_use_id"], calls[1]["id"]);
    assert_eq!(user[2], json!({"type": "text", "text": "<system-reminder>\nmind the sandbox\n</system-reminder>"}));
    assert_eq!(user[3], json!({"type": "text", "text": "thanks", "cache_control": {"type": "ephemeral"}}));
    // Tools: object schemas, custom as a one-string function, namespaces flattened.
    assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object", "properties": {}}));
    assert_eq!(body["tools"][1]["input_schema"], tools_custom_schema());
    assert_eq!(body["tools"][2]["name"], "browser__open");
    assert_eq!(body["tools"][2]["input_schema"], json!({"type": "object", "properties": {}}));
}

fn tools_custom_schema() -> Value {
    json!({
        "type": "object",
        "properties": { "input": { "type": "string", "description": "The raw input for this tool, exactly as its format requires." } },
        "required": ["input"],
        "additionalProperties": false
    })
}

#[test]
fn effort_becomes_a_budget_and_thinking_drops_incompatible_knobs() {
    let mut req = openai_style_request();
    req.messages.truncate(1);
    req.tool_choice = Some(ToolChoice::Named { name: "shell".into() });
    req.sampling.top_k = Some(5);
    let (body, losses) = encode(&req);
    assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 24576}));
    assert_eq!(body["max_tokens"], 24576 + 8192);
    assert!(body.get("temperature").is_none() && body.get("top_k").is_none());
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));
    let fields = loss_fields(&losses);
    assert!(fields.contains(&"temperature") && fields.contains(&"top_k") && fields.contains(&"tool_choice"));

    // A budget under 1024 is raised; a small max_tokens is raised above the budget.
    req.reasoning = Some(ReasoningConfig { budget_tokens: Some(100), ..Default::default() });
    req.sampling.max_tokens = Some(500);
    let (body, _) = encode(&req);
    assert_eq!(body["thinking"]["budget_tokens"], 1024);
    assert_eq!(body["max_tokens"], 1024 + 500);

    // Adaptive keeps the effort; none means no thinking at all.
    req.reasoning = Some(ReasoningConfig { adaptive: true, effort: Some(Effort::Xhigh), ..Default::default() });
    let (body, _) = encode(&req);
    assert_eq!(body["thinking"], json!({"type": "adaptive"}));
    assert_eq!(body["output_config"], json!({"effort": "max"}));
    req.reasoning = Some(ReasoningConfig { effort: Some(Effort::None), ..Default::default() });
    let (body, _) = encode(&req);
    assert!(body.get("thinking").is_none() && body.get("output_config").is_none());
}

#[test]
fn only_anthropic_reasoning_is_replayed() {
    let foreign = Reasoning {
        text: "gpt thoughts".into(),
        opaque: Some(Opaque::new(Protocol::OpenaiResponses, "enc")),
        ..Default::default()
    };
    let plain = Reasoning { text: "plain".into(), ..Default::default() };
    let native =
        Reasoning { text: "mine".into(), opaque: Some(Opaque::new(Protocol::Anthropic, "sig")), ..Default::default() };
    let redacted =
        Reasoning { opaque: Some(Opaque::new(Protocol::Anthropic, "blob")), redacted: true, ..Default::default() };
    let req = Request {
        model: "m".into(),
        messages: vec![
            msg(Role::User, vec![Part::text("q")]),
            msg(
                Role::Assistant,
                vec![
                    Part::Reasoning(foreign),
                    Part::Reasoning(plain),
                    Part::Reasoning(native),
                    Part::Reasoning(redacted),
                    Part::text("a"),
                ],
            ),
        ],
        ..Default::default()
    };
    let (body, losses) = encode(&req);
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "mine", "signature": "sig"},
            {"type": "redacted_thinking", "data": "blob"},
            {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}
        ])
    );
    assert_eq!(loss_fields(&losses), ["messages[1].parts[0]"]);
}

#[test]
fn media_tool_choice_and_metadata_mapping() {
    use base64::Engine;
    let txt = base64::engine::general_purpose::STANDARD.encode("hello doc");
    let req = Request {
        model: "m".into(),
        messages: vec![msg(
            Role::User,
            vec![
                Part::Image {
                    source: MediaSource::Base64 { media_type: "image/jpeg".into(), data: "AAAA".into() },
                    detail: Some("high".into()),
                },
                Part::Image { source: MediaSource::FileId { id: "file-abc".into() }, detail: None },
                Part::File {
                    source: MediaSource::Base64 { media_type: "text/plain".into(), data: txt },
                    filename: Some("n.txt".into()),
                },
                Part::File {
                    source: MediaSource::Base64 { media_type: "image/png".into(), data: "BBBB".into() },
                    filename: None,
                },
                Part::File {
                    source: MediaSource::Base64 { media_type: "application/zip".into(), data: "CCCC".into() },
                    filename: None,
                },
                Part::Unknown { origin: Protocol::Gemini, value: json!({"executableCode": {}}) },
            ],
        )],
        tools: openai_style_request().tools,
        tool_choice: Some(ToolChoice::None),
        metadata: Metadata { user: Some("u1".into()), prompt_cache_key: Some("k".into()), ..Default::default() },
        output: Some(OutputFormat::JsonSchema { name: "x".into(), schema: json!({"type": "object"}), strict: true }),
        stream: false,
        ..Default::default()
    };
    let (body, losses) = encode(&req);
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello doc"}, "title": "n.txt"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "BBBB"}, "cache_control": {"type": "ephemeral"}}
        ])
    );
    assert_eq!(body["tool_choice"], json!({"type": "none"}));
    assert_eq!(body["metadata"], json!({"user_id": "u1"}));
    assert_eq!(body["output_config"], json!({"format": {"type": "json_schema", "schema": {"type": "object"}}}));
    assert!(body.get("stream").is_none());
    let fields = loss_fields(&losses);
    for f in [
        "messages[0].parts[0].detail",
        "messages[0].parts[1]",
        "messages[0].parts[4]",
        "messages[0].parts[5]",
        "prompt_cache_key",
    ] {
        assert!(fields.contains(&f), "missing loss {f} in {fields:?}");
    }

    // Parallel calls off without a choice → auto with the flag; no tools → no choice.
    let mut req2 = req.clone();
    req2.tool_choice = None;
    req2.parallel_tool_calls = Some(false);
    assert_eq!(encode(&req2).0["tool_choice"], json!({"type": "auto", "disable_parallel_tool_use": true}));
    req2.tools.clear();
    req2.tool_choice = Some(ToolChoice::Required);
    let (body, losses) = encode(&req2);
    assert!(body.get("tool_choice").is_none() && body.get("tools").is_none());
    assert!(loss_fields(&losses).contains(&"tool_choice"));
}

// === prompt caching ===

/// Paths of every `cache_control` in an encoded body, with its value.
fn breakpoints(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "cache_control" {
                    out.push((path.to_string(), v.clone()));
                } else {
                    breakpoints(v, &format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                breakpoints(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn breakpoint_paths(body: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    breakpoints(body, "", &mut out);
    out
}

#[test]
fn breakpoints_cache_tools_system_and_advance_with_the_conversation() {
    let (body, _) = encode(&openai_style_request());
    let e = json!({"type": "ephemeral"});
    // Turns: user "list files" / assistant calls / user (results, reminder, "thanks").
    assert_eq!(
        breakpoint_paths(&body),
        [
            (".messages[0].content[0]".to_string(), e.clone()),
            (".messages[2].content[3]".to_string(), e.clone()),
            (".system[0]".to_string(), e.clone()),
            (".tools[2]".to_string(), e.clone()),
        ]
    );
    assert_eq!(body["messages"][2]["content"][3]["text"], "thanks");

    // The next turn: the newest block gets the marker, and the one before it keeps one, so
    // this turn's write is next turn's read even after many new blocks.
    let mut next = openai_style_request();
    next.messages.push(msg(Role::Assistant, vec![call("call_2", r#"{"cmd":"pwd"}"#)]));
    next.messages.push(msg(Role::Tool, vec![result("call_2", "/tmp")]));
    let (body, _) = encode(&next);
    let paths: Vec<String> = breakpoint_paths(&body).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, [".messages[2].content[3]", ".messages[4].content[0]", ".system[0]", ".tools[2]"]);
    assert_eq!(body["messages"][4]["content"][0]["type"], "tool_result");
}

#[test]
fn long_retention_asks_for_the_one_hour_ttl() {
    let mut req = openai_style_request();
    req.metadata.cache_retention = Some("24h".into());
    let (body, _) = encode(&req);
    let found = breakpoint_paths(&body);
    assert_eq!(found.len(), 4);
    assert!(found.iter().all(|(_, v)| *v == json!({"type": "ephemeral", "ttl": "1h"})), "{found:?}");

    req.metadata.cache_retention = Some("in_memory".into());
    let (body, _) = encode(&req);
    assert!(breakpoint_paths(&body).iter().all(|(_, v)| *v == json!({"type": "ephemeral"})));
}

#[test]
fn breakpoints_skip_thinking_and_fit_short_conversations() {
    let signed = Part::Reasoning(Reasoning {
        text: "hm".into(),
        opaque: Some(Opaque { origin: Protocol::Anthropic, payload: "sig".into() }),
        ..Default::default()
    });
    let req = Request {
        model: "m".into(),
        messages: vec![
            msg(Role::User, vec![Part::text("hi")]),
            msg(Role::Assistant, vec![Part::text("hello"), signed]),
        ],
        ..Default::default()
    };
    let (body, _) = encode(&req);
    // No tools, no system; the assistant's last block is thinking, so its text is marked.
    let paths: Vec<String> = breakpoint_paths(&body).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, [".messages[1].content[0]"]);
}

#[test]
fn a_request_with_its_own_breakpoints_keeps_exactly_those() {
    let mut req = openai_style_request();
    req.messages[0].parts = vec![Part::Text { text: "list files".into(), cache: ephemeral() }];
    let (body, _) = encode(&req);
    let paths: Vec<String> = breakpoint_paths(&body).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, [".messages[0].content[0]"]);
}

#[test]
fn the_billing_line_is_removed_from_translated_system_prompts() {
    // As its own block (Claude Code) or as the first line of a plain-string system prompt.
    for (system, expected) in [
        (
            json!([
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=cli; cch=3f9a1;"},
                {"type": "text", "text": "You are Claude Code."}
            ]),
            vec![Part::text("You are Claude Code.")],
        ),
        (
            json!("x-anthropic-billing-header: cc_version=2.1.197; cch=00ab2;\nYou are Claude Code."),
            vec![Part::text("You are Claude Code.")],
        ),
        (
            json!("Mentions x-anthropic-billing-header: later on"),
            vec![Part::text("Mentions x-anthropic-billing-header: later on")],
        ),
    ] {
        let body =
            json!({"model": "m", "max_tokens": 1, "system": system, "messages": [{"role": "user", "content": "hi"}]});
        let req = decode::decode_request(body.to_string().as_bytes(), &cx()).expect("decodes");
        assert_eq!(req.system, expected);
        assert!(req.losses.is_empty(), "{:?}", req.losses);
    }
}
