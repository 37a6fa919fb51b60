//! Chat request decoding (client side) and encoding (upstream side): errors, losses, and the
//! per-field rules that the golden fixtures do not isolate.

mod openai_chat_support;

use crossbar_protocol::canonical::{
    Effort, FinishReason, Loss, MediaSource, Message, Opaque, OutputFormat, Part, Protocol, ProtocolError, Reasoning,
    ReasoningConfig, Request, Response, Role, ToolCall, ToolCallKind, ToolChoice, ToolResult, Usage,
};
use crossbar_protocol::openai_chat::{decode, encode};
use openai_chat_support::cx;
use serde_json::{json, Value};

fn decode_json(v: Value) -> Result<Request, ProtocolError> {
    decode::decode_request(v.to_string().as_bytes(), &cx())
}

fn base(extra: Value) -> Value {
    let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

fn unsupported_field(r: Result<Request, ProtocolError>) -> String {
    match r {
        Err(ProtocolError::Unsupported { field, .. }) => field,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

fn invalid_param(r: Result<Request, ProtocolError>) -> (Option<String>, String) {
    match r {
        Err(ProtocolError::InvalidRequest { param, message }) => (param, message),
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

fn fields(losses: &[Loss]) -> Vec<&str> {
    losses.iter().map(|l| l.field.as_str()).collect()
}

#[test]
fn fields_that_cannot_be_carried_are_unsupported() {
    assert_eq!(unsupported_field(decode_json(base(json!({"n": 2})))), "n");
    assert_eq!(unsupported_field(decode_json(base(json!({"logprobs": true})))), "logprobs");
    assert_eq!(unsupported_field(decode_json(base(json!({"top_logprobs": 3})))), "top_logprobs");
    assert_eq!(unsupported_field(decode_json(base(json!({"audio": {"voice": "alloy", "format": "wav"}})))), "audio");
    assert_eq!(unsupported_field(decode_json(base(json!({"modalities": ["text", "audio"]})))), "modalities");
    assert_eq!(
        unsupported_field(decode_json(base(json!({"prediction": {"type": "content", "content": "x"}})))),
        "prediction"
    );
    let audio = json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}]}]});
    assert_eq!(unsupported_field(decode_json(base(audio))), "messages[0].content[0]");
    let tool = json!({"tools": [{"type": "web_search_preview"}]});
    assert_eq!(unsupported_field(decode_json(base(tool))), "tools[0].type");
    // Harmless values of the same fields are accepted.
    assert!(decode_json(base(json!({"n": 1, "logprobs": false, "top_logprobs": null, "modalities": ["text"]}))).is_ok());
}

#[test]
fn invalid_payloads_name_the_field() {
    assert!(matches!(decode::decode_request(b"{not json", &cx()), Err(ProtocolError::InvalidRequest { .. })));
    assert!(matches!(decode::decode_request(b"[1,2]", &cx()), Err(ProtocolError::InvalidRequest { .. })));
    assert_eq!(invalid_param(decode_json(json!({"messages": []}))).0.as_deref(), Some("model"));
    assert_eq!(invalid_param(decode_json(json!({"model": "m"}))).0.as_deref(), Some("messages"));
    assert_eq!(invalid_param(decode_json(json!({"model": 5, "messages": []}))).0.as_deref(), Some("model"));
    let cases = [
        (json!({"messages": "hi"}), "messages"),
        (
            json!({"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]}),
            "messages[1].role",
        ),
        (json!({"messages": [{"role": "tool", "content": "x"}]}), "messages[0].tool_call_id"),
        (json!({"messages": [{"role": "user", "content": 5}]}), "messages[0].content"),
        (json!({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}), "messages[0].content[0].type"),
        (json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]}), "messages[0].content[0].text"),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"detail": "low"}}]}]}),
            "messages[0].content[0].image_url",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "file", "file": {"filename": "a.pdf"}}]}]}),
            "messages[0].content[0].file",
        ),
        (
            json!({"messages": [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}]}),
            "messages[0].tool_calls[0].id",
        ),
        (json!({"tools": [{"type": "function"}]}), "tools[0].function"),
        (json!({"tools": [{"type": "function", "function": {"description": "no name"}}]}), "tools[0]"),
        (json!({"tool_choice": "sometimes"}), "tool_choice"),
        (json!({"tool_choice": {"type": "function", "function": {}}}), "tool_choice"),
        (json!({"response_format": {"type": "yaml"}}), "response_format.type"),
        (json!({"response_format": {"type": "json_schema"}}), "response_format.json_schema"),
        (json!({"reasoning_effort": "turbo"}), "reasoning_effort"),
        (json!({"stop": 5}), "stop"),
        (json!({"temperature": "hot"}), "temperature"),
        (json!({"max_tokens": -1}), "max_tokens"),
        (json!({"stream_options": true}), "stream_options"),
    ];
    for (extra, field) in cases {
        let (param, message) = invalid_param(decode_json(base(extra.clone())));
        assert_eq!(param.as_deref(), Some(field), "{extra}: {message}");
        assert!(message.contains(field), "message names the field: {message}");
    }
}

#[test]
fn harmless_drops_are_losses() {
    let req = decode_json(base(json!({
        "logit_bias": {"1": 2}, "service_tier": "flex", "web_search_options": {}, "frobnicate": 1,
        "user": "u1", "safety_identifier": "s1",
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": []}},
        "messages": [{"role": "user", "name": "bob", "content": "hi"}]
    })))
    .expect("decodes");
    let f = fields(&req.losses);
    for want in [
        "logit_bias",
        "service_tier",
        "web_search_options",
        "frobnicate",
        "user",
        "tool_choice.allowed_tools",
        "messages[0].name",
    ] {
        assert!(f.contains(&want), "{want} in {f:?}");
    }
    assert_eq!(req.metadata.user.as_deref(), Some("s1"));
    assert_eq!(req.tool_choice, Some(ToolChoice::Required));
}

#[test]
fn system_messages_lead_or_stay_in_place() {
    let req = decode_json(base(json!({"messages": [
        {"role": "developer", "content": "d1"},
        {"role": "system", "content": [{"type": "text", "text": "s1"}]},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "later"}
    ]})))
    .expect("decodes");
    assert!(req.system_is_developer);
    assert_eq!(req.system, vec![Part::text("d1"), Part::text("s1")]);
    assert_eq!(req.messages.len(), 2);
    assert_eq!(req.messages[1], Message { role: Role::System, parts: vec![Part::text("later")] });
}

#[test]
fn request_fields_map_to_canonical() {
    let req = decode_json(base(json!({
        "max_tokens": 10, "max_completion_tokens": 20, "stop": ["a", "b"], "top_k": 5,
        "functions": [{"name": "legacy", "parameters": {"type": "object"}}], "function_call": {"name": "legacy"},
        "response_format": {"type": "json_object"}, "reasoning_effort": "minimal",
        "stream": true, "stream_options": {"include_usage": true}, "metadata": {"k": "v"}, "store": true,
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": "https://x/y.png"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
            {"type": "file", "file": {"file_data": "JVBERi0x", "filename": "r.pdf"}},
            {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}}
        ]}]
    })))
    .expect("decodes");
    assert_eq!(req.sampling.max_tokens, Some(20));
    assert_eq!(req.sampling.stop, vec!["a", "b"]);
    assert_eq!(req.sampling.top_k, Some(5));
    assert_eq!(req.tools.len(), 1);
    assert_eq!(req.tool_choice, Some(ToolChoice::Named { name: "legacy".into() }));
    assert_eq!(req.output, Some(OutputFormat::JsonObject));
    assert_eq!(req.reasoning.as_ref().and_then(|r| r.effort), Some(Effort::Minimal));
    assert!(req.stream);
    assert_eq!(req.metadata.store, Some(true));
    assert!(req.losses.is_empty(), "{:?}", req.losses);
    let parts = &req.messages[0].parts;
    assert_eq!(parts[0], Part::Image { source: MediaSource::Url { url: "https://x/y.png".into() }, detail: None });
    assert_eq!(
        parts[1],
        Part::Image {
            source: MediaSource::Base64 { media_type: "image/jpeg".into(), data: "/9j/4AAQ".into() },
            detail: None
        }
    );
    assert_eq!(
        parts[2],
        Part::File {
            source: MediaSource::Base64 { media_type: "application/pdf".into(), data: "JVBERi0x".into() },
            filename: Some("r.pdf".into())
        }
    );
    // Unknown part types are kept for a Chat upstream and replayed verbatim.
    assert!(matches!(&parts[3], Part::Unknown { origin: Protocol::OpenaiChat, .. }));
    let enc = encode::encode_request(&req, &cx()).expect("encodes");
    let body: Value = serde_json::from_slice(&enc.body).expect("json");
    assert_eq!(
        body["messages"][0]["content"][3],
        json!({"type": "video_url", "video_url": {"url": "https://x/v.mp4"}})
    );
    assert_eq!(body["max_tokens"], 20);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["tool_choice"], json!({"type": "function", "function": {"name": "legacy"}}));
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["metadata"], json!({"k": "v"}));
    assert!(fields(&enc.losses).contains(&"top_k"));
}

fn request(model: &str) -> Request {
    Request {
        model: model.into(),
        messages: vec![Message { role: Role::User, parts: vec![Part::text("hi")] }],
        ..Default::default()
    }
}

fn encode_json(req: &Request) -> (Value, Vec<Loss>) {
    let enc = encode::encode_request(req, &cx()).expect("encodes");
    (serde_json::from_slice(&enc.body).expect("json"), enc.losses)
}

#[test]
fn reasoning_family_models_get_their_own_parameters() {
    for model in ["gpt-5", "o3-mini", "o4-mini-2025-04-16", "openai/gpt-5.1", "O1"] {
        let mut req = request(model);
        req.system = vec![Part::text("be terse")];
        req.system_is_developer = true;
        req.sampling.max_tokens = Some(100);
        req.sampling.temperature = Some(0.5);
        req.sampling.top_p = Some(0.9);
        req.reasoning = Some(ReasoningConfig { budget_tokens: Some(2048), ..Default::default() });
        let (body, losses) = encode_json(&req);
        assert_eq!(body["max_completion_tokens"], 100, "{model}");
        assert!(body.get("max_tokens").is_none() && body.get("temperature").is_none() && body.get("top_p").is_none());
        assert_eq!(body["reasoning_effort"], "low", "budget 2048 → low");
        assert_eq!(body["messages"][0]["role"], "developer");
        assert_eq!(fields(&losses), vec!["temperature", "top_p"]);
    }
    for model in ["gpt-4o", "llama3.2", "Qwen/Qwen3-8B", "deepseek-reasoner"] {
        let mut req = request(model);
        req.system = vec![Part::text("be terse")];
        req.system_is_developer = true;
        req.sampling.max_tokens = Some(100);
        req.sampling.temperature = Some(0.5);
        req.reasoning = Some(ReasoningConfig { effort: Some(Effort::High), ..Default::default() });
        let (body, losses) = encode_json(&req);
        assert_eq!(body["max_tokens"], 100, "{model}");
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["reasoning_effort"], "high");
        assert_eq!(body["messages"][0]["role"], "system");
        assert!(losses.is_empty());
    }
    // "none": sent to reasoning models (gpt-5.1 accepts it), not to models that never reason.
    let mut req = request("gpt-4o");
    req.reasoning = Some(ReasoningConfig { effort: Some(Effort::None), ..Default::default() });
    req.sampling.temperature = Some(0.1);
    assert!(encode_json(&req).0.get("reasoning_effort").is_none());
    req.model = "gpt-5.1".into();
    let (body, losses) = encode_json(&req);
    assert_eq!(body["reasoning_effort"], "none");
    assert_eq!(body["temperature"], 0.1, "sampling is kept while reasoning is off");
    assert!(losses.is_empty());
    req.reasoning =
        Some(ReasoningConfig { effort: Some(Effort::Xhigh), summary: Some("auto".into()), ..Default::default() });
    let (body, losses) = encode_json(&req);
    assert_eq!(body["reasoning_effort"], "xhigh");
    assert!(fields(&losses).contains(&"reasoning.summary"));
}

#[test]
fn tool_results_with_images_follow_as_a_user_message() {
    let mut req = request("gpt-4o");
    let png = MediaSource::Base64 { media_type: "image/png".into(), data: "iVBOR".into() };
    req.messages.push(Message {
        role: Role::Assistant,
        parts: vec![
            Part::Reasoning(Reasoning {
                text: "t".into(),
                opaque: Some(Opaque::new(Protocol::Anthropic, "sig")),
                ..Default::default()
            }),
            Part::ToolCall(ToolCall {
                id: "c1".into(),
                name: "shot".into(),
                arguments: "{}".into(),
                kind: ToolCallKind::Function,
                opaque: Some(Opaque::new(Protocol::Gemini, "ts")),
            }),
            Part::ToolCall(ToolCall {
                id: "c2".into(),
                name: "ls".into(),
                arguments: "{}".into(),
                kind: ToolCallKind::Function,
                opaque: None,
            }),
        ],
    });
    req.messages.push(Message {
        role: Role::Tool,
        parts: vec![
            Part::ToolResult(ToolResult {
                call_id: "c1".into(),
                name: None,
                content: vec![Part::Image { source: png, detail: None }],
                is_error: false,
                kind: ToolCallKind::Function,
            }),
            Part::ToolResult(ToolResult {
                call_id: "c2".into(),
                name: None,
                content: vec![Part::text("a"), Part::text("b")],
                is_error: true,
                kind: ToolCallKind::Function,
            }),
        ],
    });
    let (body, losses) = encode_json(&req);
    let msgs = body["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 5);
    assert_eq!(msgs[1]["content"], Value::Null);
    assert_eq!(msgs[1]["tool_calls"].as_array().map(Vec::len), Some(2));
    assert_eq!(msgs[2]["role"], "tool");
    assert_eq!(msgs[2]["tool_call_id"], "c1");
    assert_eq!(msgs[3]["tool_call_id"], "c2");
    assert_eq!(msgs[3]["content"], "a\nb");
    assert_eq!(msgs[4]["role"], "user");
    assert_eq!(
        msgs[4]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}})
    );
    let f = fields(&losses);
    assert_eq!(
        f,
        vec![
            "messages[1].content[0]",
            "messages[1].content[1]",
            "messages[2].content[0]",
            "messages[2].content[1].is_error"
        ]
    );
}

#[test]
fn what_chat_cannot_carry_upstream_is_a_loss() {
    let mut req = request("gpt-4o");
    req.messages[0].parts = vec![
        Part::Image { source: MediaSource::FileId { id: "file-1".into() }, detail: None },
        Part::File { source: MediaSource::Url { url: "https://x/a.pdf".into() }, filename: None },
        Part::Unknown { origin: Protocol::Anthropic, value: json!({"type": "document"}) },
        Part::text("keep"),
    ];
    req.messages.push(Message {
        role: Role::Assistant,
        parts: vec![Part::Reasoning(Reasoning { text: "only thoughts".into(), ..Default::default() })],
    });
    req.metadata.extra = Some(json!({"n": 1}));
    req.parallel_tool_calls = Some(true);
    req.tool_choice = Some(ToolChoice::Auto);
    let (body, losses) = encode_json(&req);
    assert_eq!(body["messages"][0]["content"], json!([{"type": "text", "text": "keep"}]));
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1), "reasoning-only assistant turn is dropped");
    assert!(body.get("parallel_tool_calls").is_none(), "not sent without tools");
    assert!(body.get("tool_choice").is_none(), "not sent without tools");
    assert!(body.get("metadata").is_none());
    assert_eq!(
        fields(&losses),
        vec!["messages[0].content[0]", "messages[0].content[1]", "messages[0].content[2]", "metadata"]
    );
}

#[test]
fn client_response_shapes() {
    let cx = cx();
    let only_calls = Response {
        id: "x".into(),
        model: "m".into(),
        parts: vec![
            Part::Reasoning(Reasoning { summary: vec!["s1".into(), "s2".into()], ..Default::default() }),
            Part::Reasoning(Reasoning { text: "t3".into(), ..Default::default() }),
            Part::ToolCall(ToolCall {
                id: "c".into(),
                name: "apply_patch".into(),
                arguments: "raw patch".into(),
                kind: ToolCallKind::Custom,
                opaque: None,
            }),
        ],
        finish: Some(FinishReason::Stop),
        usage: Usage::default(),
    };
    let v: Value = serde_json::from_slice(&encode::encode_response(&only_calls, &cx).expect("enc")).expect("json");
    let choice = &v["choices"][0];
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(choice["message"]["reasoning_content"], "s1\n\ns2\n\nt3");
    assert_eq!(
        choice["message"]["tool_calls"][0],
        json!({"id": "c", "type": "custom", "custom": {"name": "apply_patch", "input": "raw patch"}})
    );
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(v["usage"], json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}));
    assert_eq!(v["id"], "chatcmpl-0123456789abcdef");
    for (finish, wire) in [
        (None, "stop"),
        (Some(FinishReason::StopSequence(Some("END".into()))), "stop"),
        (Some(FinishReason::Other("pause_turn".into())), "stop"),
        (Some(FinishReason::ContentFilter), "content_filter"),
        (Some(FinishReason::Length), "length"),
    ] {
        let empty = Response { finish, ..Default::default() };
        let v: Value = serde_json::from_slice(&encode::encode_response(&empty, &cx).expect("enc")).expect("json");
        assert_eq!(v["choices"][0]["finish_reason"], wire);
        assert_eq!(v["choices"][0]["message"]["content"], "");
    }
}

#[test]
fn upstream_responses_that_are_not_completions_are_invalid() {
    for body in [
        &b"<html>"[..],
        br#"{"choices": []}"#,
        br#"{"error": {"message": "overloaded", "code": 503}}"#,
        br#"{"choices": [{"message": {"tool_calls": [{"id": "c", "type": "function"}]}}]}"#,
    ] {
        assert!(
            matches!(decode::decode_response(body, &cx()), Err(ProtocolError::InvalidResponse { .. })),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Lenient on what compatible servers omit.
    let r = decode::decode_response(br#"{"choices": [{"message": {"content": "hi", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "eos"}]}"#, &cx()).expect("lenient");
    assert_eq!(r.parts[0], Part::text("hi"));
    assert!(matches!(&r.parts[1], Part::ToolCall(tc) if tc.id == "call_0"));
    assert_eq!(r.finish, Some(FinishReason::Stop));
    assert!(r.usage.is_empty());
}
