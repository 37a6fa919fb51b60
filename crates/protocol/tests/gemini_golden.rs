//! Gemini adapter: golden tests over realistic client requests and upstream responses, and
//! decode → encode round trips (both directions, same- and cross-protocol).

use crossbar_protocol::canonical::opaque::Sealed;
use crossbar_protocol::canonical::{
    Cx, Effort, ErrorKind, FinishReason, MediaSource, Message, Opaque, OpaqueCodec, OutputFormat, Part, Protocol,
    ProtocolError, Reasoning, ReasoningConfig, Request, Response, Role, Sampling, ToolCall, ToolCallKind, ToolChoice,
    ToolDef, ToolKind, ToolResult, Usage,
};
use crossbar_protocol::{decode_request, decode_response, encode_error, encode_request, encode_response};
use serde_json::{json, Value};
use std::sync::Arc;

const G: Protocol = Protocol::Gemini;

fn cx() -> Cx {
    let mut cx = Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])));
    cx.id = "x1".into();
    cx
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn text(s: &str) -> Part {
    Part::text(s)
}

fn call(id: &str, name: &str, args: &str, opaque: Option<Opaque>) -> Part {
    Part::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args.into(),
        kind: ToolCallKind::Function,
        opaque,
    })
}

fn sig(s: &str) -> Option<Opaque> {
    Some(Opaque::new(Protocol::Gemini, s))
}

// === client requests ===

#[test]
fn gemini_cli_tool_turn_decodes() {
    let req = decode_request(G, &fixture("cli_request_tool_turn.json"), &cx()).expect("decodes");
    assert_eq!(req.model, "");
    assert!(!req.stream);
    assert_eq!(req.system, vec![text("You are an interactive CLI agent specializing in software engineering tasks.")]);
    let id = "run_shell_command-1763812345678-4d2a9c1e";
    assert_eq!(
        req.messages,
        vec![
            Message {
                role: Role::User,
                parts: vec![
                    text("This is the Gemini CLI. We are setting up the context for our chat.\nToday's date is Sunday, November 22, 2026.\nMy operating system is: linux"),
                    text("Got it. Thanks for the context!"),
                ],
            },
            Message { role: Role::User, parts: vec![text("Run echo via the shell tool, then tell me what it printed.")] },
            Message {
                role: Role::Assistant,
                // The placeholder signature is no state.
                parts: vec![call(id, "run_shell_command", r#"{"command":"echo stub-tool-ran","description":"Print a marker"}"#, None)],
            },
            Message {
                role: Role::Tool,
                parts: vec![Part::ToolResult(ToolResult {
                    call_id: id.into(),
                    name: Some("run_shell_command".into()),
                    content: vec![text("Command: echo stub-tool-ran\nDirectory: (root)\nOutput: stub-tool-ran\nError: (none)\nExit Code: 0")],
                    is_error: false,
                    kind: ToolCallKind::Function,
                })],
            },
        ]
    );
    assert_eq!(req.tools.len(), 2);
    assert_eq!(req.tools[0].name, "run_shell_command");
    assert_eq!(req.tools[0].kind, ToolKind::Function);
    assert_eq!(req.tools[0].parameters["required"], json!(["command"]));
    assert_eq!(
        req.sampling,
        Sampling { temperature: Some(1.0), top_p: Some(0.95), top_k: Some(64), ..Default::default() }
    );
    assert_eq!(
        req.reasoning,
        Some(ReasoningConfig { effort: Some(Effort::High), include_thoughts: Some(true), ..Default::default() })
    );
    assert!(req.losses.is_empty(), "{:?}", req.losses);
}

#[test]
fn gemini_cli_router_call_keeps_its_json_schema() {
    let req = decode_request(G, &fixture("cli_router_request.json"), &cx()).expect("decodes");
    match &req.output {
        Some(OutputFormat::JsonSchema { name, schema, strict }) => {
            assert_eq!((name.as_str(), *strict), ("response", false));
            assert_eq!(schema["properties"]["model_choice"]["enum"], json!(["flash", "pro"]));
        }
        other => panic!("expected a JSON schema, got {other:?}"),
    }
    assert_eq!(req.sampling.max_tokens, Some(1024));
    assert_eq!(req.reasoning.as_ref().and_then(|r| r.budget_tokens), Some(512));
}

#[test]
fn python_sdk_snake_case_request_decodes() {
    let req = decode_request(G, &fixture("sdk_request.json"), &cx()).expect("decodes");
    assert_eq!(req.system, vec![text("Answer briefly.")]);
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    assert_eq!(
        req.messages,
        vec![
            Message {
                role: Role::User,
                parts: vec![
                    text("What is in this picture, and what's the weather in Paris?"),
                    Part::Image {
                        source: MediaSource::Base64 { media_type: "image/png".into(), data: png.into() },
                        detail: None
                    },
                    Part::File {
                        source: MediaSource::Url {
                            url: "https://generativelanguage.googleapis.com/v1beta/files/abc123".into()
                        },
                        filename: None
                    },
                ],
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Reasoning(Reasoning { text: "The user wants the weather.".into(), ..Default::default() }),
                    // Ids minted from positions; the real signature kept as Gemini state.
                    call(
                        "call_1_1",
                        "get_weather",
                        r#"{"city":"Paris","unit":"celsius"}"#,
                        sig("CpcBAdHtim9xPCgxRUB4jg2L1ROYxrdtlh6W0Kc2TBiSC4s")
                    ),
                    call("call_1_2", "get_weather", r#"{"city":"Lyon"}"#, None),
                ],
            },
            Message {
                role: Role::Tool,
                parts: vec![
                    // Id-less responses answer the earliest unanswered call of the same name.
                    Part::ToolResult(ToolResult {
                        call_id: "call_1_1".into(),
                        name: Some("get_weather".into()),
                        content: vec![text(r#"{"sky":"clear","temperature":21}"#)],
                        is_error: false,
                        kind: ToolCallKind::Function,
                    }),
                    Part::ToolResult(ToolResult {
                        call_id: "call_1_2".into(),
                        name: Some("get_weather".into()),
                        content: vec![text("station offline")],
                        is_error: true,
                        kind: ToolCallKind::Function,
                    }),
                ],
            },
        ]
    );
    assert_eq!(
        req.tools,
        vec![ToolDef {
            name: "get_weather".into(),
            namespace: None,
            description: Some("Current weather for a city.".into()),
            parameters: json!({"type": "object", "properties": {
                "city": {"type": "string"},
                "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit"]}
            }, "required": ["city"]}),
            kind: ToolKind::Function,
            strict: None,
            cache: None,
        }]
    );
    assert_eq!(req.tool_choice, Some(ToolChoice::Named { name: "get_weather".into() }));
    assert_eq!(
        req.sampling,
        Sampling {
            max_tokens: Some(2048),
            stop: vec!["END".into()],
            seed: Some(42),
            presence_penalty: Some(0.5),
            ..Default::default()
        }
    );
    assert_eq!(
        req.reasoning,
        Some(ReasoningConfig { adaptive: true, include_thoughts: Some(true), ..Default::default() })
    );
    let fields: Vec<&str> = req.losses.iter().map(|l| l.field.as_str()).collect();
    assert_eq!(fields, vec!["tools[1].google_search", "safetySettings"]);
}

#[test]
fn invalid_requests_name_the_field() {
    let cases: &[(&str, &str)] = &[
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ("{}", "`contents` is required"),
        (r#"{"contents": []}"#, "must not be empty"),
        (r#"{"contents": [{"parts": [{"text": 5}]}]}"#, "contents[0].parts[0]"),
        (r#"{"contents": [{"role": "robot", "parts": []}]}"#, "contents[0].role"),
        (r#"{"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]}"#, "functionCall.name"),
        (r#"{"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"topK": -3}}"#, "generationConfig.topK"),
        (
            r#"{"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"temperature": "hot"}}"#,
            "generationConfig",
        ),
        (
            r#"{"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"thinkingConfig": {"thinkingLevel": "EXTREME"}}}"#,
            "thinkingLevel",
        ),
        (
            r#"{"contents": [{"parts": [{"text": "hi"}]}], "tools": [{"functionDeclarations": [{"description": "x"}]}]}"#,
            "functionDeclarations[0].name",
        ),
    ];
    for (body, needle) in cases {
        match decode_request(G, body.as_bytes(), &cx()) {
            Err(ProtocolError::InvalidRequest { message, .. }) => {
                assert!(message.contains(needle), "{body}: `{message}` lacks `{needle}`")
            }
            other => panic!("{body}: expected InvalidRequest, got {other:?}"),
        }
    }
    let unsupported: &[(&str, &str)] = &[
        (
            r#"{"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"candidateCount": 2}}"#,
            "generationConfig.candidateCount",
        ),
        (
            r#"{"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}"#,
            "generationConfig.responseModalities",
        ),
        (r#"{"contents": [{"parts": [{"text": "hi"}]}], "cachedContent": "cachedContents/abc"}"#, "cachedContent"),
    ];
    for (body, field) in unsupported {
        match decode_request(G, body.as_bytes(), &cx()) {
            Err(ProtocolError::Unsupported { field: f, .. }) => assert_eq!(f, *field),
            other => panic!("{body}: expected Unsupported, got {other:?}"),
        }
    }
}

#[test]
fn tampered_envelopes_are_a_clean_400() {
    let token = OpaqueCodec::new([9u8; 32]).seal(&Sealed::Reasoning(Reasoning::default()));
    let body = json!({"contents": [{"role": "model", "parts": [{"text": "hi", "thoughtSignature": token}]}]});
    match decode_request(G, body.to_string().as_bytes(), &cx()) {
        Err(ProtocolError::InvalidRequest { param, .. }) => {
            assert_eq!(param.as_deref(), Some("contents[0].parts[0].thoughtSignature"))
        }
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

// === upstream requests ===

#[test]
fn cli_request_encodes_for_a_gemini_upstream() {
    let mut req = decode_request(G, &fixture("cli_request_tool_turn.json"), &cx()).expect("decodes");
    req.model = "gemini-2.5-pro".into();
    req.stream = true;
    let enc = encode_request(G, &req, &cx()).expect("encodes");
    assert_eq!(enc.path, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
    assert!(enc.losses.is_empty(), "{:?}", enc.losses);
    let id = "run_shell_command-1763812345678-4d2a9c1e";
    let body = json_of(&enc.body);
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [
                {"text": "This is the Gemini CLI. We are setting up the context for our chat.\nToday's date is Sunday, November 22, 2026.\nMy operating system is: linux"},
                {"text": "Got it. Thanks for the context!"},
                {"text": "Run echo via the shell tool, then tell me what it printed."}
            ]},
            {"role": "model", "parts": [{
                "functionCall": {"id": id, "name": "run_shell_command", "args": {"command": "echo stub-tool-ran", "description": "Print a marker"}},
                "thoughtSignature": "skip_thought_signature_validator"
            }]},
            {"role": "user", "parts": [{"functionResponse": {"id": id, "name": "run_shell_command", "response": {
                "output": "Command: echo stub-tool-ran\nDirectory: (root)\nOutput: stub-tool-ran\nError: (none)\nExit Code: 0"
            }}}]}
        ])
    );
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are an interactive CLI agent specializing in software engineering tasks."}]})
    );
    assert_eq!(
        body["tools"][0]["functionDeclarations"][1],
        json!({
            "name": "read_file",
            "description": "Reads and returns the content of a specified file.",
            "parameters": {"type": "OBJECT", "properties": {
                "absolute_path": {"type": "STRING", "description": "The absolute path to the file to read."},
                "offset": {"type": "NUMBER", "description": "Optional: the 0-based line number to start reading from."},
                "limit": {"type": "NUMBER", "description": "Optional: maximum number of lines to read."}
            }, "required": ["absolute_path"]}
        })
    );
    assert_eq!(
        body["generationConfig"],
        json!({"temperature": 1.0, "topP": 0.95, "topK": 64, "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 24576}})
    );
    assert!(body.get("toolConfig").is_none());
}

#[test]
fn router_call_encodes_response_schema_and_path() {
    let mut req = decode_request(G, &fixture("cli_router_request.json"), &cx()).expect("decodes");
    req.model = "models/gemini-3.5-flash-lite".into();
    let enc = encode_request(G, &req, &cx()).expect("encodes");
    assert_eq!(enc.path, "/v1beta/models/gemini-3.5-flash-lite:generateContent");
    let gc = &json_of(&enc.body)["generationConfig"];
    assert_eq!(gc["responseMimeType"], "application/json");
    assert_eq!(
        gc["responseSchema"],
        json!({"type": "OBJECT", "properties": {
            "reasoning": {"type": "STRING", "description": "A brief explanation for the choice."},
            "model_choice": {"type": "STRING", "enum": ["flash", "pro"], "format": "enum"}
        }, "required": ["reasoning", "model_choice"]})
    );
    assert_eq!(gc["maxOutputTokens"], 1024);
    assert_eq!(gc["thinkingConfig"], json!({"includeThoughts": true, "thinkingBudget": 512}));
}

/// A conversation as an Anthropic or Codex client would hand it over.
fn foreign_request() -> Request {
    let anthropic_thinking = Reasoning {
        text: "Let me look.".into(),
        opaque: Some(Opaque::new(Protocol::Anthropic, "EqMBsig")),
        ..Default::default()
    };
    Request {
        model: "gemini-2.5-flash".into(),
        system: vec![text("Be terse.")],
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![
                    text("List the files."),
                    Part::Image {
                        source: MediaSource::Url { url: "data:image/jpeg;base64,/9j/AA==".into() },
                        detail: None,
                    },
                    Part::File { source: MediaSource::FileId { id: "file-abc".into() }, filename: None },
                ],
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Reasoning(anthropic_thinking),
                    text("Running ls."),
                    call("toolu_01", "shell__run tool", r#"{"cmd":"ls"}"#, None),
                    Part::ToolCall(ToolCall {
                        id: "call_9".into(),
                        name: "apply_patch".into(),
                        arguments: "*** Begin Patch".into(),
                        kind: ToolCallKind::Custom,
                        opaque: None,
                    }),
                ],
            },
            Message {
                role: Role::Tool,
                parts: vec![
                    Part::ToolResult(ToolResult {
                        call_id: "toolu_01".into(),
                        name: None,
                        content: vec![
                            text("a.txt\nb.png"),
                            Part::Image {
                                source: MediaSource::Base64 { media_type: "image/png".into(), data: "iVBO".into() },
                                detail: None,
                            },
                        ],
                        is_error: false,
                        kind: ToolCallKind::Function,
                    }),
                    Part::ToolResult(ToolResult {
                        call_id: "call_9".into(),
                        name: None,
                        content: vec![text("patch failed")],
                        is_error: true,
                        kind: ToolCallKind::Custom,
                    }),
                ],
            },
            Message { role: Role::User, parts: vec![text("Thanks. Now summarize.")] },
            Message { role: Role::Developer, parts: vec![text("Keep it under 10 words.")] },
        ],
        tools: vec![
            ToolDef {
                name: "run tool".into(),
                namespace: Some("shell".into()),
                description: Some("Run a command".into()),
                parameters: json!({"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"], "additionalProperties": false}),
                kind: ToolKind::Function,
                strict: Some(true),
                cache: None,
            },
            ToolDef {
                name: "apply_patch".into(),
                namespace: None,
                description: None,
                parameters: json!({}),
                kind: ToolKind::Custom { format: None },
                strict: None,
                cache: None,
            },
        ],
        tool_choice: Some(ToolChoice::Named { name: "shell__run tool".into() }),
        parallel_tool_calls: Some(false),
        sampling: Sampling { stop: (1..=7).map(|i| format!("S{i}")).collect(), ..Default::default() },
        reasoning: Some(ReasoningConfig { effort: Some(Effort::Low), ..Default::default() }),
        output: Some(OutputFormat::JsonObject),
        ..Default::default()
    }
}

#[test]
fn foreign_history_encodes_with_losses_placeholders_and_sanitized_names() {
    let enc = encode_request(G, &foreign_request(), &cx()).expect("encodes");
    let body = json_of(&enc.body);
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [
                {"text": "List the files."},
                {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/AA=="}}
            ]},
            {"role": "model", "parts": [
                {"text": "Running ls."},
                {"functionCall": {"id": "toolu_01", "name": "shell__run_tool", "args": {"cmd": "ls"}},
                 "thoughtSignature": "skip_thought_signature_validator"},
                {"functionCall": {"id": "call_9", "name": "apply_patch", "args": {"input": "*** Begin Patch"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "toolu_01", "name": "shell__run_tool", "response": {"output": "a.txt\nb.png"}}},
                {"functionResponse": {"id": "call_9", "name": "apply_patch", "response": {"error": "patch failed"}}},
                {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
                {"text": "Thanks. Now summarize."},
                {"text": "Keep it under 10 words."}
            ]}
        ])
    );
    assert_eq!(body["systemInstruction"], json!({"parts": [{"text": "Be terse."}]}));
    let decls = &body["tools"][0]["functionDeclarations"];
    assert_eq!(decls[0]["name"], "shell__run_tool");
    assert_eq!(
        decls[0]["parameters"],
        json!({"type": "OBJECT", "properties": {"cmd": {"type": "STRING"}}, "required": ["cmd"]})
    );
    assert_eq!(decls[1]["parameters"]["properties"]["input"]["type"], "STRING");
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["shell__run_tool"]}})
    );
    assert_eq!(
        body["generationConfig"],
        json!({"stopSequences": ["S1", "S2", "S3", "S4", "S5"], "responseMimeType": "application/json",
               "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 2048}})
    );
    let fields: Vec<&str> = enc.losses.iter().map(|l| l.field.as_str()).collect();
    assert_eq!(fields, vec!["messages[0].parts[2]", "messages[1].parts[0]", "parallel_tool_calls", "stop"]);
    assert!(enc.losses[1].reason.contains("anthropic"));
}

#[test]
fn gemini_state_is_replayed_where_gemini_put_it() {
    let r = |t: &str, s: &str| Part::Reasoning(Reasoning { text: t.into(), opaque: sig(s), ..Default::default() });
    let req = Request {
        model: "gemini-3-pro-preview".into(),
        messages: vec![
            Message { role: Role::User, parts: vec![text("q1")] },
            // A signed thought; a lone signature before the answer text.
            Message { role: Role::Assistant, parts: vec![r("thinking", "S1"), r("", "S2"), text("a1")] },
            Message { role: Role::User, parts: vec![text("q2")] },
            // A trailing lone signature goes back onto the last part; a call keeps its own.
            Message {
                role: Role::Assistant,
                parts: vec![text("a2"), r("", "S3"), call("c1", "f", "{}", sig("S4")), call("c2", "f", "{}", None)],
            },
            Message { role: Role::User, parts: vec![text("q3")] },
            Message { role: Role::Assistant, parts: vec![text("a3"), r("", "S5")] },
        ],
        ..Default::default()
    };
    let enc = encode_request(G, &req, &cx()).expect("encodes");
    let body = json_of(&enc.body);
    assert_eq!(
        body["contents"][1]["parts"],
        json!([
            {"text": "thinking", "thought": true, "thoughtSignature": "S1"},
            {"text": "a1", "thoughtSignature": "S2"}
        ])
    );
    assert_eq!(
        body["contents"][3]["parts"],
        json!([
            {"text": "a2"},
            {"functionCall": {"id": "c1", "name": "f", "args": {}}, "thoughtSignature": "S4"},
            {"functionCall": {"id": "c2", "name": "f", "args": {}}, "thoughtSignature": "S3"}
        ])
    );
    assert_eq!(body["contents"][5]["parts"], json!([{"text": "a3", "thoughtSignature": "S5"}]));
    assert!(enc.losses.is_empty());
}

#[test]
fn encode_request_edge_cases() {
    let mut req =
        Request { messages: vec![Message { role: Role::User, parts: vec![text("hi")] }], ..Default::default() };
    assert!(matches!(encode_request(G, &req, &cx()), Err(ProtocolError::InvalidRequest { .. })));
    req.model = "tunedModels/my-tune".into();
    req.reasoning = Some(ReasoningConfig { effort: Some(Effort::None), ..Default::default() });
    let enc = encode_request(G, &req, &cx()).expect("encodes");
    assert_eq!(enc.path, "/v1beta/tunedModels/my-tune:generateContent");
    assert_eq!(json_of(&enc.body)["generationConfig"], json!({"thinkingConfig": {"thinkingBudget": 0}}));
    req.reasoning = Some(ReasoningConfig { adaptive: true, include_thoughts: Some(false), ..Default::default() });
    let enc = encode_request(G, &req, &cx()).expect("encodes");
    assert_eq!(
        json_of(&enc.body)["generationConfig"],
        json!({"thinkingConfig": {"thinkingBudget": -1, "includeThoughts": false}})
    );
}

// === upstream responses and client responses ===

#[test]
fn text_response_decodes_and_re_encodes_identically() {
    let resp = decode_response(G, &fixture("response_text.json"), &cx()).expect("decodes");
    assert_eq!(
        resp,
        Response {
            id: "Il0taoSYJ5Cez7IPhbDl-AQ".into(),
            model: "gemini-3-pro-preview".into(),
            parts: vec![
                // The answer's signature stays with the thought it belongs to.
                Part::Reasoning(Reasoning {
                    text: "**Answering a greeting**\n\nThe user said hello; reply warmly.".into(),
                    opaque: sig("EpYCCpMCAdHtim8kQ0Zq2bS1S2nYv1E5cJd3Zp0kq8Hk"),
                    ..Default::default()
                }),
                text("Hello! How can I help you today?"),
            ],
            finish: Some(FinishReason::Stop),
            usage: Usage { input: Some(12), output: Some(49), reasoning: Some(40), ..Default::default() },
        }
    );
    // A Gemini client gets back what Gemini sent (the signature on the answer part).
    let out = json_of(&encode_response(G, &resp, &cx()).expect("encodes"));
    let mut expected = json_of(&fixture("response_text.json"));
    expected["usageMetadata"] =
        json!({"promptTokenCount": 12, "candidatesTokenCount": 9, "totalTokenCount": 61, "thoughtsTokenCount": 40});
    assert_eq!(out, expected);
}

#[test]
fn tool_call_response_decodes_and_round_trips() {
    let resp = decode_response(G, &fixture("response_tool_call.json"), &cx()).expect("decodes");
    assert_eq!(
        resp.parts,
        vec![
            call(
                "call_x1_0",
                "run_shell_command",
                r#"{"command":"ls -la","description":"List files"}"#,
                sig("CiQB0e2Kb7tVq0a0n9mJ3fWm1c5Q8s2p4x6y8z0A")
            ),
            call("call_x1_1", "read_file", r#"{"absolute_path":"/tmp/a.txt"}"#, None),
        ]
    );
    assert_eq!(resp.finish, Some(FinishReason::ToolCalls));
    assert_eq!(
        resp.usage,
        Usage {
            input: Some(5012),
            output: Some(108),
            cache_read: Some(4096),
            cache_write: None,
            cache_write_1h: None,
            reasoning: Some(67)
        }
    );
    let out = json_of(&encode_response(G, &resp, &cx()).expect("encodes"));
    assert_eq!(
        out["candidates"][0],
        json!({"content": {"role": "model", "parts": [
            {"functionCall": {"id": "call_x1_0", "name": "run_shell_command", "args": {"command": "ls -la", "description": "List files"}},
             "thoughtSignature": "CiQB0e2Kb7tVq0a0n9mJ3fWm1c5Q8s2p4x6y8z0A"},
            {"functionCall": {"id": "call_x1_1", "name": "read_file", "args": {"absolute_path": "/tmp/a.txt"}}}
        ]}, "finishReason": "STOP", "index": 0})
    );
    // What the client then sends back decodes to the same calls.
    let history = json!({"contents": [
        {"role": "user", "parts": [{"text": "go"}]},
        out["candidates"][0]["content"].clone()
    ]});
    let req = decode_request(G, history.to_string().as_bytes(), &cx()).expect("decodes");
    assert_eq!(req.messages[1].parts, resp.parts);
    let back = decode_response(G, &encode_response(G, &resp, &cx()).expect("encodes"), &cx()).expect("decodes");
    assert_eq!(back, Response { id: "x2EtavWcO4-Hz7IP-8CX4Qw".into(), ..resp });
}

#[test]
fn upstream_response_edge_cases() {
    let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}});
    let r = decode_response(G, blocked.to_string().as_bytes(), &cx()).expect("decodes");
    assert_eq!((r.finish, r.parts.len(), r.usage.input), (Some(FinishReason::ContentFilter), 0, Some(7)));
    let odd = json!({"candidates": [{"content": {"role": "model", "parts": [
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"inlineData": {"mimeType": "image/png", "data": "AAA"}, "thoughtSignature": "SIG"},
        {"text": "", "thoughtSignature": "SKIPME"}
    ]}, "finishReason": "MALFORMED_FUNCTION_CALL"}]});
    let r = decode_response(G, odd.to_string().as_bytes(), &cx()).expect("decodes");
    assert_eq!(r.finish, Some(FinishReason::Other("MALFORMED_FUNCTION_CALL".into())));
    assert_eq!(
        r.parts,
        vec![
            Part::Unknown {
                origin: Protocol::Gemini,
                value: json!({"executableCode": {"language": "PYTHON", "code": "print(1)"}})
            },
            Part::Reasoning(Reasoning { opaque: sig("SIG"), ..Default::default() }),
            Part::Image {
                source: MediaSource::Base64 { media_type: "image/png".into(), data: "AAA".into() },
                detail: None
            },
            Part::Reasoning(Reasoning { opaque: sig("SKIPME"), ..Default::default() }),
        ]
    );
    for bad in [&b"nope"[..], br#"{"candidates": 3}"#, br#"{"error": {"code": 500, "message": "boom"}}"#] {
        assert!(matches!(decode_response(G, bad, &cx()), Err(ProtocolError::InvalidResponse { .. })));
    }
}

/// Cross-protocol: an Anthropic upstream's thinking (with its signature) reaches a Gemini client
/// and comes back intact on the next turn, whether the client drops thought parts (Gemini CLI)
/// or keeps them (the Python SDK).
#[test]
fn foreign_reasoning_survives_a_gemini_client_round_trip() {
    let thinking = Reasoning {
        text: "I should list files.".into(),
        opaque: Some(Opaque::new(Protocol::Anthropic, "EqQBsig==")),
        ..Default::default()
    };
    let resp = Response {
        id: "msg_01".into(),
        model: "claude-sonnet-4-5".into(),
        parts: vec![
            Part::Reasoning(thinking.clone()),
            call("toolu_1", "run_shell_command", r#"{"command":"ls"}"#, None),
        ],
        finish: Some(FinishReason::ToolCalls),
        usage: Usage {
            input: Some(100),
            output: Some(30),
            cache_read: Some(80),
            cache_write: Some(5),
            cache_write_1h: None,
            reasoning: None,
        },
    };
    let out = json_of(&encode_response(G, &resp, &cx()).expect("encodes"));
    let parts = &out["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0], json!({"text": "I should list files.", "thought": true}));
    let token = parts[1]["thoughtSignature"].as_str().unwrap_or_default();
    assert!(token.starts_with("Y2Ix"), "{token}");
    assert_eq!(out["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        out["usageMetadata"],
        json!({"promptTokenCount": 100, "candidatesTokenCount": 30, "totalTokenCount": 130, "cachedContentTokenCount": 80})
    );
    assert_eq!(out["responseId"], "msg_01");
    assert_eq!(out["modelVersion"], "claude-sonnet-4-5");

    let expected = vec![Part::Reasoning(thinking), call("toolu_1", "run_shell_command", r#"{"command":"ls"}"#, None)];
    // Gemini CLI: thought parts filtered out of history.
    let cli = json!({"contents": [{"role": "user", "parts": [{"text": "go"}]}, {"role": "model", "parts": [parts[1].clone()]}]});
    let req = decode_request(G, cli.to_string().as_bytes(), &cx()).expect("decodes");
    assert_eq!(req.messages[1].parts, expected);
    // Python SDK: everything kept; the visible thought copy is not duplicated.
    let sdk =
        json!({"contents": [{"role": "user", "parts": [{"text": "go"}]}, {"role": "model", "parts": parts.clone()}]});
    let req = decode_request(G, sdk.to_string().as_bytes(), &cx()).expect("decodes");
    assert_eq!(req.messages[1].parts, expected);
}

#[test]
fn foreign_call_state_and_trailing_reasoning_are_sealed() {
    // A call carrying another protocol's state, and reasoning with nothing after it.
    let foreign_call = ToolCall {
        id: "fc_1".into(),
        name: "f".into(),
        arguments: "{}".into(),
        kind: ToolCallKind::Function,
        opaque: Some(Opaque::new(Protocol::OpenaiResponses, "enc")),
    };
    let late = Reasoning {
        text: "afterthought".into(),
        opaque: Some(Opaque::new(Protocol::OpenaiResponses, "enc2")),
        ..Default::default()
    };
    let resp = Response {
        parts: vec![Part::ToolCall(foreign_call.clone()), Part::Reasoning(late.clone())],
        ..Default::default()
    };
    let out = json_of(&encode_response(G, &resp, &cx()).expect("encodes"));
    let parts = out["candidates"][0]["content"]["parts"].clone();
    assert_eq!(parts[1]["thought"], true);
    assert!(parts[1]["thoughtSignature"].as_str().is_some_and(|t| t.starts_with("Y2Ix")));
    assert_eq!(out["responseId"], "x1");
    let body = json!({"contents": [{"role": "model", "parts": parts}]});
    let req = decode_request(G, body.to_string().as_bytes(), &cx()).expect("decodes");
    assert_eq!(req.messages[0].parts, vec![Part::ToolCall(foreign_call), Part::Reasoning(late)]);
}

#[test]
fn errors_use_the_google_shape() {
    let info = ProtocolError::unsupported("generationConfig.candidateCount", "one candidate").to_info();
    let v = json_of(&encode_error(G, &info));
    assert_eq!(v["error"]["code"], 400);
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    let back = crossbar_protocol::decode_error(G, 400, &encode_error(G, &info));
    assert_eq!(back.kind, ErrorKind::InvalidRequest);
}

/// The upstream body is itself a GenerateContentRequest: decoding it again gives back the same
/// conversation, tools and settings (minus unsigned thought text, which Gemini never reads).
#[test]
fn request_round_trips_through_the_upstream_encoder() {
    for name in ["cli_request_tool_turn.json", "sdk_request.json", "cli_router_request.json"] {
        let mut first = decode_request(G, &fixture(name), &cx()).expect("decodes");
        first.model = "gemini-2.5-pro".into();
        let enc = encode_request(G, &first, &cx()).expect("encodes");
        let mut second = decode_request(G, &enc.body, &cx()).expect("re-decodes");
        second.model = first.model.clone();
        for m in &mut first.messages {
            m.parts.retain(|p| !matches!(p, Part::Reasoning(r) if r.opaque.is_none()));
        }
        // Consecutive user contents were merged into one turn.
        let flatten = |r: &Request| -> Vec<(Role, Part)> {
            r.messages.iter().flat_map(|m| m.parts.iter().map(move |p| (m.role, p.clone()))).collect()
        };
        assert_eq!(flatten(&second), flatten(&first), "{name}");
        assert_eq!(second.system, first.system, "{name}");
        assert_eq!(second.tools, first.tools, "{name}");
        assert_eq!(second.tool_choice, first.tool_choice, "{name}");
        assert_eq!(second.sampling, first.sampling, "{name}");
        assert_eq!(second.output.is_some(), first.output.is_some(), "{name}");
        assert_eq!(
            second.reasoning.as_ref().map(|r| (r.budget(), r.adaptive)),
            first.reasoning.as_ref().map(|r| (r.budget(), r.adaptive)),
            "{name}"
        );
        assert!(second.losses.is_empty(), "{name}: {:?}", second.losses);
    }
}
