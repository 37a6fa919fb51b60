//! Responses adapter: encoders and decode → encode round trips.
//!
//! - client request → canonical → upstream request → canonical keeps every message, tool,
//!   setting and the OpenAI reasoning state (with its item id);
//! - a rich canonical request survives encode → decode;
//! - the upstream body has the shape OpenAI needs (store false, include, explicit strict,
//!   custom tools, namespace groups, developer/instructions);
//! - upstream response → canonical → client response → canonical keeps parts, usage, finish;
//! - the client Response object has the fields Codex and the SDK read.

use crossbar_protocol::canonical::{
    Cx, Effort, FinishReason, Loss, MediaSource, Message, Opaque, OpaqueCodec, OutputFormat, Part, Protocol, Reasoning,
    ReasoningConfig, Request, Response, Role, ToolCall, ToolCallKind, ToolChoice, ToolDef, ToolIndex, ToolKind,
    ToolResult, Usage,
};
use crossbar_protocol::{decode_request, decode_response, encode_request, encode_response};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

const P: Protocol = Protocol::OpenaiResponses;

fn cx() -> Cx {
    Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])))
}

fn cx_with(tools: &[ToolDef]) -> Cx {
    let mut c = cx();
    c.tools = Arc::new(ToolIndex::new(tools));
    c.id = "abc123".into();
    c.created = 1_755_300_000;
    c
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/openai_responses").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn upstream(req: &Request) -> (Value, Vec<Loss>) {
    let enc = encode_request(P, req, &cx()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(enc.path, "/responses");
    (json_of(&enc.body), enc.losses)
}

#[test]
fn codex_request_survives_a_trip_to_an_openai_upstream() {
    let client = decode_request(P, &fixture("codex_request.json"), &cx()).unwrap_or_else(|e| panic!("{e}"));
    let enc = encode_request(P, &client, &cx()).unwrap_or_else(|e| panic!("{e}"));
    assert!(enc.losses.is_empty(), "{:?}", enc.losses);
    let again = decode_request(P, &enc.body, &cx()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.system, client.system);
    assert_eq!(again.system_is_developer, client.system_is_developer);
    assert_eq!(again.messages, client.messages);
    assert_eq!(again.tools, client.tools);
    assert_eq!(again.tool_choice, client.tool_choice);
    assert_eq!(again.parallel_tool_calls, client.parallel_tool_calls);
    assert_eq!(again.reasoning, client.reasoning);
    assert_eq!(again.sampling, client.sampling);
    assert_eq!(again.output, client.output);
    assert_eq!(again.metadata, client.metadata);
    assert!(again.losses.is_empty(), "{:?}", again.losses);
}

#[test]
fn upstream_body_shape_for_codex() {
    let client = decode_request(P, &fixture("codex_request.json"), &cx()).unwrap_or_else(|e| panic!("{e}"));
    let (body, _) = upstream(&client);
    assert_eq!(body["store"], false);
    assert_eq!(body["stream"], true);
    assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(body["reasoning"], json!({"effort": "medium", "summary": "auto"}));
    assert_eq!(body["prompt_cache_key"], "0199a1f0-aaaa-7bbb-8ccc-0123456789ab");
    assert!(body.get("instructions").is_none());
    assert!(body.get("client_metadata").is_none(), "Codex telemetry is not forwarded");
    let input = body["input"].as_array().cloned().unwrap_or_default();
    // The developer-led system prompt comes back as one developer message.
    assert_eq!(input[0]["role"], "developer");
    assert_eq!(input[0]["content"].as_array().map(Vec::len), Some(3));
    // OpenAI's reasoning item is replayed with its own id and encrypted_content.
    let rs = input.iter().find(|i| i["type"] == "reasoning").cloned().unwrap_or_default();
    assert_eq!(rs["id"], "rs_68a0c1e2f3");
    assert_eq!(rs["encrypted_content"], "gAAAAABo_reasoning_state_from_openai==");
    assert_eq!(rs["summary"], json!([{"type": "summary_text", "text": "**Planning the file creation**"}]));
    // Calls come back as declared: custom natively, namespace re-attached.
    assert!(input.iter().any(|i| i["type"] == "custom_tool_call" && i["name"] == "apply_patch"));
    assert!(input
        .iter()
        .any(|i| i["type"] == "function_call" && i["name"] == "spawn_agent" && i["namespace"] == "multi_agent_v1"));
    assert!(input.iter().any(|i| i["type"] == "custom_tool_call_output" && i["call_id"] == "call_patch_1"));
    assert!(input.iter().any(|i| i["type"] == "web_search_call"), "replayed hosted items go back verbatim");
    // Tools: custom stays custom, namespace regrouped, strict explicit.
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    assert_eq!(tools.len(), 4);
    assert_eq!(tools[0]["strict"], false);
    assert_eq!(tools[1]["type"], "custom");
    assert_eq!(tools[1]["format"]["syntax"], "lark");
    assert_eq!(tools[3]["type"], "namespace");
    assert_eq!(tools[3]["name"], "multi_agent_v1");
    assert_eq!(tools[3]["tools"].as_array().map(Vec::len), Some(2));
    assert_eq!(tools[3]["tools"][0]["name"], "spawn_agent");
}

fn rich_request() -> Request {
    let tools = vec![
        ToolDef {
            name: "lookup".into(),
            namespace: None,
            description: Some("Look something up".into()),
            parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}),
            kind: ToolKind::Function,
            strict: Some(true),
            cache: None,
        },
        ToolDef {
            name: "exec".into(),
            namespace: Some("functions".into()),
            description: None,
            parameters: json!({}),
            kind: ToolKind::Custom { format: Some(json!({"type": "text"})) },
            strict: None,
            cache: None,
        },
    ];
    Request {
        model: "gpt-5.1".into(),
        system: vec![Part::text("You are helpful."), Part::text("Be brief.")],
        system_is_developer: false,
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![
                    Part::text("look at these"),
                    Part::Image {
                        source: MediaSource::Base64 { media_type: "image/jpeg".into(), data: "/9j/4AAQ".into() },
                        detail: Some("high".into()),
                    },
                    Part::Image {
                        source: MediaSource::Url { url: "https://x/y.png".into() },
                        detail: Some("auto".into()),
                    },
                    Part::File {
                        source: MediaSource::Base64 { media_type: "application/pdf".into(), data: "JVBE".into() },
                        filename: Some("a.pdf".into()),
                    },
                    Part::File { source: MediaSource::FileId { id: "file-1".into() }, filename: None },
                ],
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Reasoning(Reasoning {
                        text: String::new(),
                        summary: vec!["thought".into()],
                        opaque: Some(Opaque::new(P, "oair1.rs_9.enc9")),
                        redacted: false,
                    }),
                    Part::text("Calling tools."),
                    Part::ToolCall(ToolCall {
                        id: "call_1".into(),
                        name: "lookup".into(),
                        arguments: r#"{"q":"rust"}"#.into(),
                        kind: ToolCallKind::Function,
                        opaque: None,
                    }),
                    Part::ToolCall(ToolCall {
                        id: "call_2".into(),
                        name: "functions__exec".into(),
                        arguments: "print(1)".into(),
                        kind: ToolCallKind::Custom,
                        opaque: None,
                    }),
                ],
            },
            Message {
                role: Role::Tool,
                parts: vec![
                    Part::ToolResult(ToolResult {
                        call_id: "call_1".into(),
                        name: None,
                        content: vec![Part::text("found it")],
                        is_error: false,
                        kind: ToolCallKind::Function,
                    }),
                    Part::ToolResult(ToolResult {
                        call_id: "call_2".into(),
                        name: None,
                        content: vec![
                            Part::text("chart:"),
                            Part::Image {
                                source: MediaSource::Base64 { media_type: "image/png".into(), data: "iVBO".into() },
                                detail: Some("auto".into()),
                            },
                        ],
                        is_error: false,
                        kind: ToolCallKind::Custom,
                    }),
                ],
            },
            Message { role: Role::Developer, parts: vec![Part::text("now summarise")] },
            Message { role: Role::Assistant, parts: vec![Part::text("Done.")] },
        ],
        tools,
        tool_choice: Some(ToolChoice::Named { name: "lookup".into() }),
        parallel_tool_calls: Some(false),
        sampling: crossbar_protocol::canonical::Sampling {
            max_tokens: Some(1000),
            temperature: Some(0.5),
            top_p: Some(0.75),
            ..Default::default()
        },
        reasoning: Some(ReasoningConfig {
            effort: Some(Effort::High),
            summary: Some("detailed".into()),
            include_thoughts: Some(true),
            ..Default::default()
        }),
        output: Some(OutputFormat::JsonSchema { name: "out".into(), schema: json!({"type": "object"}), strict: true }),
        stream: true,
        metadata: crossbar_protocol::canonical::Metadata {
            user: Some("u1".into()),
            prompt_cache_key: Some("k1".into()),
            cache_retention: Some("24h".into()),
            store: Some(false),
            extra: Some(json!({"a": "b"})),
        },
        losses: vec![],
    }
}

#[test]
fn rich_canonical_request_round_trips() {
    let req = rich_request();
    let enc = encode_request(P, &req, &cx()).unwrap_or_else(|e| panic!("{e}"));
    assert!(enc.losses.is_empty(), "{:?}", enc.losses);
    let body = json_of(&enc.body);
    assert_eq!(body["instructions"], "You are helpful.\n\nBe brief.");
    assert_eq!(body["tool_choice"], json!({"type": "function", "name": "lookup"}));
    assert_eq!(body["safety_identifier"], "u1");
    assert_eq!(body["metadata"], json!({"a": "b"}));
    assert_eq!(body["text"]["format"]["type"], "json_schema");
    assert_eq!(body["reasoning"], json!({"effort": "high", "summary": "detailed"}));
    assert_eq!(body["input"][0]["content"][1]["image_url"], "data:image/jpeg;base64,/9j/4AAQ");
    assert_eq!(body["input"][0]["content"][3]["file_data"], "data:application/pdf;base64,JVBE");

    let back = decode_request(P, &enc.body, &cx()).unwrap_or_else(|e| panic!("{e}"));
    // Joined instructions come back as one text; everything else is identical.
    assert_eq!(back.system, vec![Part::text("You are helpful.\n\nBe brief.")]);
    assert_eq!(back.messages, req.messages);
    assert_eq!(back.tools, req.tools);
    assert_eq!(back.tool_choice, req.tool_choice);
    assert_eq!(back.parallel_tool_calls, req.parallel_tool_calls);
    assert_eq!(back.sampling, req.sampling);
    assert_eq!(back.reasoning, req.reasoning);
    assert_eq!(back.output, req.output);
    assert_eq!(back.metadata, req.metadata);
    assert!(back.losses.is_empty(), "{:?}", back.losses);
}

#[test]
fn foreign_state_and_unsupported_fields_are_dropped_with_losses() {
    let mut req = rich_request();
    req.system_is_developer = true;
    req.sampling.stop = vec!["END".into()];
    req.sampling.seed = Some(7);
    req.messages.push(Message {
        role: Role::Assistant,
        parts: vec![
            Part::Reasoning(Reasoning {
                text: "claude thinking".into(),
                summary: vec![],
                opaque: Some(Opaque::new(Protocol::Anthropic, "sig")),
                redacted: false,
            }),
            Part::Unknown { origin: Protocol::Gemini, value: json!({"executableCode": {}}) },
            Part::text("ok"),
        ],
    });
    // A custom tool's call after a function-only upstream still goes back as custom input.
    req.messages.push(Message {
        role: Role::Assistant,
        parts: vec![Part::ToolCall(ToolCall {
            id: "call_3".into(),
            name: "functions__exec".into(),
            arguments: r#"{"input":"print(2)"}"#.into(),
            kind: ToolCallKind::Function,
            opaque: None,
        })],
    });
    req.messages.push(Message {
        role: Role::Tool,
        parts: vec![Part::ToolResult(ToolResult {
            call_id: "call_3".into(),
            name: None,
            content: vec![Part::text("boom")],
            is_error: true,
            kind: ToolCallKind::Custom,
        })],
    });
    let (body, losses) = upstream(&req);
    let fields: Vec<&str> = losses.iter().map(|l| l.field.as_str()).collect();
    assert!(fields.contains(&"stop") && fields.contains(&"seed"), "{fields:?}");
    assert!(fields.contains(&"messages[5].parts[0]"), "foreign reasoning: {fields:?}");
    assert!(fields.contains(&"messages[5].parts[1]"), "foreign unknown: {fields:?}");
    assert!(fields.contains(&"messages[7].parts[0].is_error"), "{fields:?}");
    assert!(body.get("instructions").is_none());
    assert_eq!(body["input"][0]["role"], "developer");
    let input = body["input"].as_array().cloned().unwrap_or_default();
    let patch = input.iter().find(|i| i["call_id"] == "call_3" && i["type"] == "custom_tool_call").cloned();
    assert_eq!(
        patch.map(|p| (p["input"].clone(), p["namespace"].clone())),
        Some((json!("print(2)"), json!("functions")))
    );
    assert_eq!(input.iter().filter(|i| i["type"] == "reasoning").count(), 1, "only OpenAI state is replayed");
}

#[test]
fn no_reasoning_config_means_no_reasoning_fields() {
    let mut req = rich_request();
    req.reasoning = None;
    let (body, _) = upstream(&req);
    assert!(body.get("reasoning").is_none() && body.get("include").is_none());
    req.reasoning = Some(ReasoningConfig { budget_tokens: Some(4096), ..Default::default() });
    let (body, _) = upstream(&req);
    assert_eq!(body["reasoning"], json!({"effort": "medium", "summary": "auto"}));
}

#[test]
fn upstream_response_survives_a_trip_to_a_responses_client() {
    let resp = decode_response(P, &fixture("openai_response.json"), &cx()).unwrap_or_else(|e| panic!("{e}"));
    let client_req = decode_request(P, &fixture("codex_request.json"), &cx()).unwrap_or_else(|e| panic!("{e}"));
    let c = cx_with(&client_req.tools);
    let body = encode_response(P, &resp, &c).unwrap_or_else(|e| panic!("{e}"));
    let v = json_of(&body);
    assert_eq!(v["id"], "resp_abc123");
    assert_eq!(v["object"], "response");
    assert_eq!(v["created_at"], 1_755_300_000u64);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gpt-5.1-2025-11-13");
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["incomplete_details"], Value::Null);
    assert_eq!(v["tools"], json!([]));
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 3120, "input_tokens_details": {"cached_tokens": 2048}, "output_tokens": 210,
               "output_tokens_details": {"reasoning_tokens": 128}, "total_tokens": 3330})
    );
    let out = v["output"].as_array().cloned().unwrap_or_default();
    assert_eq!(out.len(), 5);
    assert_eq!(out[0]["id"], "rs_abc123_0");
    assert_eq!(out[0]["summary"][1], json!({"type": "summary_text", "text": "I should list files first."}));
    assert_eq!(out[0]["encrypted_content"], "oair1.rs_68a0c20f2a.gAAAAABoUpstreamState_1==");
    assert_eq!(
        out[1],
        json!({"id": "msg_abc123_1", "type": "message", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": "Let me look at the files.", "annotations": [], "logprobs": []}]})
    );
    assert_eq!(
        out[2],
        json!({"id": "fc_abc123_2", "type": "function_call", "status": "completed", "call_id": "call_Xk1",
               "name": "exec_command", "arguments": "{\"cmd\":\"ls -la\"}"})
    );
    assert_eq!(out[3]["type"], "custom_tool_call");
    assert_eq!(out[3]["id"], "ctc_abc123_3");
    assert_eq!(out[3]["input"], "*** Begin Patch\n*** Add File: a.txt\n+a\n*** End Patch\n");
    assert_eq!((out[4]["name"].clone(), out[4]["namespace"].clone()), (json!("spawn_agent"), json!("multi_agent_v1")));

    // What the client got decodes back to the same canonical response (parts, usage, finish).
    let back = decode_response(P, &body, &c).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.parts, resp.parts);
    assert_eq!(back.usage, resp.usage);
    assert_eq!(back.finish, resp.finish);
}

#[test]
fn foreign_response_for_a_responses_client() {
    // As if from an Anthropic upstream: thinking with a signature, a custom tool sent as a
    // function, a max-tokens stop, no cache details.
    let tools = vec![ToolDef {
        name: "apply_patch".into(),
        namespace: None,
        description: None,
        parameters: json!({}),
        kind: ToolKind::Custom { format: None },
        strict: None,
        cache: None,
    }];
    let c = cx_with(&tools);
    let thinking = Reasoning {
        text: "Let me think.".into(),
        summary: vec![],
        opaque: Some(Opaque::new(Protocol::Anthropic, "EqQBsig")),
        redacted: false,
    };
    let resp = Response {
        id: "msg_01".into(),
        model: "claude-sonnet-4-5".into(),
        parts: vec![
            Part::Reasoning(thinking.clone()),
            Part::ToolCall(ToolCall {
                id: "toolu_1".into(),
                name: "apply_patch".into(),
                arguments: r#"{"input":"*** Begin Patch\n*** End Patch"}"#.into(),
                kind: ToolCallKind::Function,
                opaque: None,
            }),
            Part::Image { source: MediaSource::Url { url: "https://x".into() }, detail: None },
        ],
        finish: Some(FinishReason::Length),
        usage: Usage { input: Some(10), output: Some(20), ..Default::default() },
    };
    let v = json_of(&encode_response(P, &resp, &c).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(v["status"], "incomplete");
    assert_eq!(v["incomplete_details"], json!({"reason": "max_output_tokens"}));
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 20,
               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 30})
    );
    let out = v["output"].as_array().cloned().unwrap_or_default();
    assert_eq!(out.len(), 2, "images have no Responses output item");
    assert_eq!(out[0]["summary"], json!([{"type": "summary_text", "text": "Let me think."}]));
    let token = out[0]["encrypted_content"].as_str().unwrap_or_default().to_string();
    assert!(token.starts_with("Y2Ix"), "foreign state is sealed: {token}");
    assert_eq!(out[1]["type"], "custom_tool_call");
    assert_eq!(out[1]["input"], "*** Begin Patch\n*** End Patch");

    // Codex replays the reasoning item on the next turn: the Anthropic part comes back intact.
    let next = json!({"model": "m", "input": [out[0].clone(), out[1].clone(),
        {"type": "custom_tool_call_output", "call_id": "toolu_1", "output": "ok"}]});
    let req = decode_request(P, next.to_string().as_bytes(), &c).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(req.messages[0].parts[0], Part::Reasoning(thinking));
    assert!(
        matches!(&req.messages[0].parts[1], Part::ToolCall(tc) if tc.kind == ToolCallKind::Custom && tc.id == "toolu_1")
    );
}
