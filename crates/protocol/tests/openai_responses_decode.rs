//! Responses adapter: client request decoding and upstream response decoding over realistic
//! fixtures (Codex 0.169, older Codex, OpenCode, the `openai` SDK, an OpenAI reply).
//!
//! Golden files live in `fixtures/openai_responses/golden/`; regenerate them with
//! `CROSSBAR_BLESS=1 cargo test -p crossbar-protocol --test openai_responses_decode` and review the diff.

use crossbar_protocol::canonical::opaque::Sealed;
use crossbar_protocol::canonical::{
    Cx, Effort, FinishReason, Loss, MediaSource, Opaque, OpaqueCodec, OutputFormat, Part, Protocol, ProtocolError,
    Reasoning, Request, Role, ToolCallKind, ToolChoice, ToolKind,
};
use crossbar_protocol::{decode_request, decode_response};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

const P: Protocol = Protocol::OpenaiResponses;

fn cx() -> Cx {
    Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])))
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/openai_responses")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn golden(name: &str, actual: &Value) {
    let path = dir().join("golden").join(name);
    if std::env::var_os("CROSSBAR_BLESS").is_some() {
        let _ = std::fs::create_dir_all(dir().join("golden"));
        let text = serde_json::to_string_pretty(actual).unwrap_or_default() + "\n";
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
        return;
    }
    let want: Value = serde_json::from_slice(
        &std::fs::read(&path)
            .unwrap_or_else(|e| panic!("golden {name} missing ({e}); run with CROSSBAR_BLESS=1 and review it")),
    )
    .unwrap_or_else(|e| panic!("golden {name}: {e}"));
    assert_eq!(actual, &want, "golden {name} differs (CROSSBAR_BLESS=1 regenerates it)");
}

fn decode(name: &str) -> Request {
    decode_request(P, &fixture(name), &cx()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn texts(parts: &[Part]) -> Vec<&str> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn has_loss(losses: &[Loss], field: &str) -> bool {
    losses.iter().any(|l| l.field == field)
}

#[test]
fn codex_request_golden() {
    let req = decode("codex_request.json");
    golden("codex_request.canonical.json", &serde_json::to_value(&req).unwrap_or_default());
}

#[test]
fn codex_request_maps_every_item() {
    let req = decode("codex_request.json");
    assert_eq!(req.model, "gpt-5.5");
    assert!(req.stream);
    // Both leading developer messages are the system prompt; the first user item ends it.
    assert!(req.system_is_developer);
    assert_eq!(texts(&req.system).len(), 3);
    assert!(texts(&req.system)[0].starts_with("You are Codex"));

    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    use Role::*;
    assert_eq!(roles, [User, User, Assistant, Tool, Assistant, Tool, Assistant, Tool, Assistant, User]);

    // The screenshot: a data URL becomes base64 with its media type; detail is kept.
    let img = req.messages[1].parts.iter().find(|p| matches!(p, Part::Image { .. }));
    assert_eq!(
        img,
        Some(&Part::Image {
            source: MediaSource::Base64 { media_type: "image/png".into(), data: "iVBORw0KGgo=".into() },
            detail: Some("original".into()),
        })
    );

    // Reasoning + call of one turn share one assistant message; OpenAI state keeps the item id.
    let turn = &req.messages[2].parts;
    let Part::Reasoning(r) = &turn[0] else { panic!("reasoning first: {turn:?}") };
    assert_eq!(r.summary, vec!["**Planning the file creation**".to_string()]);
    assert_eq!(r.opaque, Some(Opaque::new(P, "oair1.rs_68a0c1e2f3.gAAAAABo_reasoning_state_from_openai==")));
    let Part::ToolCall(call) = &turn[1] else { panic!("call second") };
    assert_eq!(
        (call.id.as_str(), call.name.as_str(), call.kind),
        ("call_exec_1", "exec_command", ToolCallKind::Function)
    );
    assert_eq!(call.arguments, r#"{"cmd":"ls","yield_time_ms":1000}"#);

    // Freeform apply_patch call and its output.
    let Part::ToolCall(patch) = &req.messages[4].parts[0] else { panic!() };
    assert_eq!(patch.kind, ToolCallKind::Custom);
    assert!(patch.arguments.starts_with("*** Begin Patch\n"));
    let Part::ToolResult(out) = &req.messages[5].parts[0] else { panic!() };
    assert_eq!((out.call_id.as_str(), out.kind), ("call_patch_1", ToolCallKind::Custom));

    // Namespaced call → flat name; two results in one tool message; image output kept.
    let Part::ToolCall(spawn) = &req.messages[6].parts[0] else { panic!() };
    assert_eq!(spawn.name, "multi_agent_v1__spawn_agent");
    assert_eq!(req.messages[7].parts.len(), 2);
    let Part::ToolResult(view) = &req.messages[7].parts[1] else { panic!() };
    assert!(matches!(&view.content[..], [Part::Image { detail: Some(d), .. }] if d == "high"));

    // A replayed hosted call rides along as Unknown, before the final answer of that turn.
    let last_turn = &req.messages[8].parts;
    assert!(matches!(&last_turn[0], Part::Unknown { origin: P, value } if value["type"] == "web_search_call"));
    assert_eq!(texts(last_turn), ["Created hello.txt."]);

    // Tools: namespace flattened; hosted tools dropped with a named loss.
    let names: Vec<String> = req.tools.iter().map(|t| t.flat_name()).collect();
    assert_eq!(
        names,
        ["exec_command", "apply_patch", "view_image", "multi_agent_v1__spawn_agent", "multi_agent_v1__wait"]
    );
    assert!(matches!(&req.tools[1].kind, ToolKind::Custom { format: Some(f) } if f["syntax"] == "lark"));
    assert_eq!(req.tools[0].strict, Some(false));
    assert!(has_loss(&req.losses, "tools[4]") && has_loss(&req.losses, "tools[5]"));
    assert!(has_loss(&req.losses, "text.verbosity"));
    assert!(has_loss(&req.losses, "client_metadata"));
    assert_eq!(req.losses.len(), 4, "{:?}", req.losses);

    assert_eq!(req.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(req.parallel_tool_calls, Some(true));
    let reasoning = req.reasoning.clone().unwrap_or_default();
    assert_eq!(reasoning.effort, Some(Effort::Medium));
    assert_eq!(reasoning.summary.as_deref(), Some("auto"));
    assert_eq!(reasoning.include_thoughts, Some(true));
    assert_eq!(req.metadata.prompt_cache_key.as_deref(), Some("0199a1f0-aaaa-7bbb-8ccc-0123456789ab"));
    assert_eq!(req.metadata.store, Some(false));
}

#[test]
fn legacy_codex_instructions_and_output_schema() {
    let req = decode("codex_legacy_request.json");
    golden("codex_legacy_request.canonical.json", &serde_json::to_value(&req).unwrap_or_default());
    // Top-level instructions first, then the leading developer message; not "developer-led".
    assert_eq!(texts(&req.system).len(), 2);
    assert!(texts(&req.system)[0].starts_with("You are Codex"));
    assert!(!req.system_is_developer);
    assert_eq!(req.messages.len(), 1);
    assert!(matches!(&req.output, Some(OutputFormat::JsonSchema { name, strict: true, schema })
        if name == "codex_output_schema" && schema["required"][0] == "ok"));
    assert_eq!(req.reasoning.as_ref().and_then(|r| r.effort), Some(Effort::High));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert!(req.losses.is_empty(), "{:?}", req.losses);
}

#[test]
fn opencode_request() {
    let req = decode("opencode_request.json");
    golden("opencode_request.canonical.json", &serde_json::to_value(&req).unwrap_or_default());
    // `{role: system}` without `type` is a message, and it is the system prompt.
    assert!(texts(&req.system)[0].starts_with("You are opencode"));
    assert!(!req.system_is_developer);
    assert_eq!(req.sampling.max_tokens, Some(32000));
    assert_eq!(req.messages.len(), 3);
    let Part::Reasoning(r) = &req.messages[1].parts[0] else { panic!() };
    assert_eq!(r.opaque, Some(Opaque::new(P, "oair1.rs_0a1b2c.gAAAAABoOpenCodeState==")));
    assert!(req.losses.is_empty(), "{:?}", req.losses);
}

#[test]
fn sdk_request_media_sampling_and_metadata() {
    let req = decode("sdk_request.json");
    golden("sdk_request.canonical.json", &serde_json::to_value(&req).unwrap_or_default());
    let parts = &req.messages[0].parts;
    assert_eq!(parts.len(), 6);
    assert!(
        matches!(&parts[1], Part::Image { source: MediaSource::Url { url }, detail: None } if url.ends_with("cat.png"))
    );
    assert!(
        matches!(&parts[2], Part::Image { source: MediaSource::FileId { id }, detail: Some(d) } if id == "file-img123" && d == "low")
    );
    assert!(matches!(&parts[3], Part::File { source: MediaSource::Base64 { media_type, .. }, filename: Some(f) }
        if media_type == "application/pdf" && f == "report.pdf"));
    assert!(matches!(&parts[4], Part::File { source: MediaSource::FileId { .. }, .. }));
    assert!(matches!(&parts[5], Part::File { source: MediaSource::Url { .. }, .. }));
    assert_eq!(req.sampling.temperature, Some(0.2));
    assert_eq!(req.sampling.top_p, Some(0.9));
    assert_eq!(req.output, Some(OutputFormat::JsonObject));
    assert_eq!(req.tool_choice, Some(ToolChoice::Named { name: "lookup".into() }));
    assert_eq!(req.metadata.user.as_deref(), Some("user-42"), "safety_identifier wins over user");
    assert_eq!(req.metadata.extra, Some(json!({"team": "docs"})));
    assert_eq!(req.metadata.store, Some(true));
    assert!(!req.stream);
    assert!(has_loss(&req.losses, "service_tier") && has_loss(&req.losses, "truncation"));
}

#[test]
fn string_input_is_one_user_message() {
    let req = decode_request(P, br#"{"model":"m","input":"hi","instructions":"be brief"}"#, &cx());
    let req = req.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&req.system), ["be brief"]);
    assert_eq!(req.messages.len(), 1);
    assert_eq!(req.messages[0].role, Role::User);
    assert_eq!(texts(&req.messages[0].parts), ["hi"]);
}

#[test]
fn empty_text_and_empty_messages_are_skipped() {
    let body = json!({"model": "m", "input": [
        {"role": "user", "content": ""},
        {"role": "user", "content": [{"type": "input_text", "text": ""}, {"type": "input_text", "text": "q"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": ""}]},
        {"type": "function_call_output", "call_id": "c", "output": ""}
    ]});
    let req = decode_request(P, body.to_string().as_bytes(), &cx()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(req.messages.len(), 2, "{:?}", req.messages);
    assert_eq!(texts(&req.messages[0].parts), ["q"]);
    assert_eq!(req.messages[1].role, Role::Tool);
}

#[test]
fn later_system_messages_stay_in_place() {
    let body = json!({"model": "m", "input": [
        {"role": "user", "content": "a"},
        {"role": "developer", "content": "switch to plan mode"},
        {"role": "system", "content": "be terse"}
    ]});
    let req = decode_request(P, body.to_string().as_bytes(), &cx()).unwrap_or_else(|e| panic!("{e}"));
    assert!(req.system.is_empty());
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Developer, Role::System]);
}

#[test]
fn gateway_sealed_state_comes_back() {
    let c = cx();
    // Reasoning that came from an Anthropic upstream, handed to the client sealed.
    let original = Reasoning {
        text: "thinking about files".into(),
        summary: vec![],
        opaque: Some(Opaque::new(Protocol::Anthropic, "EqQBCkYIBxgCKkA=")),
        redacted: false,
    };
    let token = c.codec.reasoning_token(P, &original).unwrap_or_default();
    assert!(token.starts_with("Y2Ix"));
    let summary_token = c.codec.seal(&Sealed::Compaction { summary: "We fixed the test; next: docs.".into() });
    let body = json!({"model": "m", "input": [
        {"type": "compaction", "id": "cmp_1", "encrypted_content": summary_token},
        {"type": "compaction_summary", "encrypted_content": "gAAAA-openai-compaction"},
        {"role": "user", "content": "continue"},
        {"type": "reasoning", "id": "rs_x", "summary": [{"type": "summary_text", "text": "thinking about files"}], "encrypted_content": token}
    ]});
    let req = decode_request(P, body.to_string().as_bytes(), &c).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(texts(&req.messages[0].parts), ["We fixed the test; next: docs."]);
    assert_eq!(req.messages[0].role, Role::User);
    assert!(has_loss(&req.losses, "input[1]"), "a foreign compaction blob is dropped with a loss");
    assert_eq!(req.messages[2].parts, vec![Part::Reasoning(original)]);

    // A tampered envelope is a clean 400, never a silent wrong replay.
    let mut bad = token.clone();
    bad.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
    let body = json!({"model": "m", "input": [{"type": "reasoning", "summary": [], "encrypted_content": bad}]});
    match decode_request(P, body.to_string().as_bytes(), &c) {
        Err(ProtocolError::InvalidRequest { param, .. }) => {
            assert_eq!(param.as_deref(), Some("input[0].encrypted_content"))
        }
        other => panic!("expected 400, got {other:?}"),
    }
}

#[test]
fn reasoning_without_state_keeps_its_text() {
    let body = json!({"model": "m", "input": [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "S"}], "content": [{"type": "reasoning_text", "text": "raw"}]},
        {"type": "reasoning", "summary": []}
    ]});
    let req = decode_request(P, body.to_string().as_bytes(), &cx()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(req.messages.len(), 1);
    assert_eq!(
        req.messages[0].parts,
        vec![Part::Reasoning(Reasoning {
            text: "raw".into(),
            summary: vec!["S".into()],
            opaque: None,
            redacted: false
        })]
    );
}

fn err(body: Value) -> ProtocolError {
    match decode_request(P, body.to_string().as_bytes(), &cx()) {
        Ok(r) => panic!("expected an error for {body}, got {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn invalid_and_unsupported_requests() {
    assert!(matches!(decode_request(P, b"{not json", &cx()), Err(ProtocolError::InvalidRequest { .. })));
    assert!(matches!(decode_request(P, b"[1,2]", &cx()), Err(ProtocolError::InvalidRequest { .. })));

    let e = err(json!({"input": "hi"}));
    assert!(matches!(&e, ProtocolError::InvalidRequest { param: Some(p), .. } if p == "model"), "{e:?}");
    let e = err(json!({"model": "m", "max_output_tokens": "lots"}));
    assert!(e.to_string().contains("max_output_tokens"), "{e}");
    let e = err(json!({"model": "m", "input": 5}));
    assert!(e.to_string().contains("`input`"), "{e}");
    let e = err(json!({"model": "m", "input": [{"type": "message", "role": "robot", "content": "x"}]}));
    assert!(e.to_string().contains("input[0].role"), "{e}");
    let e = err(json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]}));
    assert!(e.to_string().contains("input[0]") && e.to_string().contains("call_id"), "{e}");
    let e = err(
        json!({"model": "m", "input": [{"type": "message", "role": "user", "content": [{"type": "input_image"}]}]}),
    );
    assert!(e.to_string().contains("input[0].content[0]"), "{e}");
    let e = err(json!({"model": "m", "tool_choice": "sometimes"}));
    assert!(e.to_string().contains("tool_choice"), "{e}");
    let e = err(json!({"model": "m", "text": {"format": {"type": "yaml"}}}));
    assert!(e.to_string().contains("text.format.type"), "{e}");

    let unsupported = |body: Value, field: &str| match err(body) {
        ProtocolError::Unsupported { field: f, .. } => assert_eq!(f, field),
        other => panic!("expected Unsupported({field}), got {other:?}"),
    };
    unsupported(json!({"model": "m", "previous_response_id": "resp_1", "input": "hi"}), "previous_response_id");
    unsupported(json!({"model": "m", "conversation": "conv_1"}), "conversation");
    unsupported(json!({"model": "m", "background": true}), "background");
    unsupported(json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}), "input[0]");
    unsupported(
        json!({"model": "m", "input": [{"role": "user", "content": "x"}, {"type": "compaction_trigger"}]}),
        "compaction_trigger",
    );
}

#[test]
fn harmless_oddities_are_losses_not_errors() {
    let body = json!({"model": "m",
        "input": [
            {"type": "configuration_update", "reasoning": {"effort": "low"}},
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}, {"type": "input_text", "text": "x", "extra": 1}]}
        ],
        "tools": [{"type": "mcp", "server_label": "x"}, {"type": "image_generation"}],
        "tool_choice": {"type": "web_search"},
        "reasoning": {"effort": "galaxy-brain"},
        "include": ["reasoning.encrypted_content", "message.output_text.logprobs"],
        "top_logprobs": 3,
        "stream_options": {"include_obfuscation": false},
        "future_field": {"anything": true}
    });
    let req = decode_request(P, body.to_string().as_bytes(), &cx()).unwrap_or_else(|e| panic!("{e}"));
    for field in [
        "input[0]",
        "input[1].content[0]",
        "tools[0]",
        "tools[1]",
        "tool_choice",
        "reasoning.effort",
        "include[message.output_text.logprobs]",
        "top_logprobs",
    ] {
        assert!(has_loss(&req.losses, field), "missing loss {field}: {:?}", req.losses);
    }
    assert_eq!(texts(&req.messages[0].parts), ["x"]);
    assert_eq!(req.tool_choice, Some(ToolChoice::Auto));
}

#[test]
fn openai_response_golden_and_fields() {
    let resp = decode_response(P, &fixture("openai_response.json"), &cx()).unwrap_or_else(|e| panic!("{e}"));
    golden("openai_response.canonical.json", &serde_json::to_value(&resp).unwrap_or_default());
    assert_eq!(resp.id, "resp_68a0c20f1e0c81a2");
    assert_eq!(resp.model, "gpt-5.1-2025-11-13");
    assert_eq!(resp.finish, Some(FinishReason::ToolCalls));
    assert_eq!(resp.usage.input, Some(3120));
    assert_eq!(resp.usage.cache_read, Some(2048));
    assert_eq!(resp.usage.reasoning, Some(128));
    let Part::Reasoning(r) = &resp.parts[0] else { panic!() };
    assert_eq!(r.summary.len(), 2);
    assert_eq!(r.opaque, Some(Opaque::new(P, "oair1.rs_68a0c20f2a.gAAAAABoUpstreamState_1==")));
    assert!(
        matches!(&resp.parts[3], Part::ToolCall(c) if c.kind == ToolCallKind::Custom && c.arguments.starts_with("***"))
    );
    assert!(matches!(&resp.parts[4], Part::ToolCall(c) if c.name == "multi_agent_v1__spawn_agent"));
}

#[test]
fn upstream_response_statuses() {
    let body = |status: &str, extra: Value| {
        let mut v = json!({"id": "r", "model": "m", "status": status, "output": [
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "part"}]}]});
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v.to_string().into_bytes()
    };
    let dec = |b: Vec<u8>| decode_response(P, &b, &cx());
    let incomplete = dec(body("incomplete", json!({"incomplete_details": {"reason": "max_output_tokens"}})));
    assert_eq!(incomplete.map(|r| r.finish), Ok(Some(FinishReason::Length)));
    let filtered = dec(body("incomplete", json!({"incomplete_details": {"reason": "content_filter"}})));
    assert_eq!(filtered.map(|r| r.finish), Ok(Some(FinishReason::ContentFilter)));
    assert_eq!(dec(body("completed", json!({}))).map(|r| r.finish), Ok(Some(FinishReason::Stop)));
    assert!(matches!(dec(body("failed", json!({"error": {"code": "server_error", "message": "boom"}}))),
        Err(ProtocolError::InvalidResponse { message }) if message.contains("boom")));
    assert!(matches!(dec(body("in_progress", json!({}))), Err(ProtocolError::InvalidResponse { .. })));
    assert!(matches!(decode_response(P, b"<html>", &cx()), Err(ProtocolError::InvalidResponse { .. })));
    assert!(matches!(decode_response(P, br#"{"output":{}}"#, &cx()), Err(ProtocolError::InvalidResponse { .. })));
}
