//! Anthropic replies: upstream Message → canonical, canonical → the client's Message (with
//! sealed signatures for foreign reasoning), error bodies both ways, and usage sniffing.

use crossbar_protocol::anthropic::{decode, encode, error, sniff};
use crossbar_protocol::canonical::*;
use serde_json::{json, Value};
use std::sync::Arc;

fn cx() -> Cx {
    let mut cx = Cx::new(Arc::new(OpaqueCodec::new([7u8; 32])));
    cx.id = "abc123".into();
    cx
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/anthropic/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn encode_json(resp: &Response) -> Value {
    serde_json::from_slice(&encode::encode_response(resp, &cx()).expect("encode_response")).expect("JSON")
}

// === upstream reply → canonical ===

#[test]
fn upstream_message_decodes() {
    let resp = decode::decode_response(&fixture("response_tool_use.json"), &cx()).expect("decode_response");
    assert_eq!(resp.id, "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert_eq!(resp.model, "claude-sonnet-4-5-20250929");
    assert_eq!(resp.finish, Some(FinishReason::ToolCalls));
    assert_eq!(
        resp.usage,
        Usage {
            input: Some(472 + 1200 + 30000),
            output: Some(89),
            cache_read: Some(30000),
            cache_write: Some(1200),
            cache_write_1h: Some(0),
            reasoning: None
        }
    );
    assert_eq!(resp.parts.len(), 5);
    assert_eq!(
        resp.parts[0],
        Part::Reasoning(Reasoning {
            text: "The user wants the weather. I should call get_weather.".into(),
            opaque: Some(Opaque::new(Protocol::Anthropic, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds")),
            ..Default::default()
        })
    );
    assert!(matches!(&resp.parts[1], Part::Reasoning(r) if r.redacted));
    assert_eq!(resp.parts[2], Part::text("I'll check the weather in Paris."));
    assert!(matches!(&resp.parts[3], Part::Unknown { origin: Protocol::Anthropic, .. }));
    let Part::ToolCall(call) = &resp.parts[4] else { panic!("tool call expected") };
    assert_eq!(call.id, "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).ok(),
        Some(json!({"location": "Paris", "unit": "celsius"}))
    );
}

#[test]
fn anthropic_reply_round_trips_to_an_anthropic_client() {
    let raw: Value = serde_json::from_slice(&fixture("response_tool_use.json")).expect("fixture");
    let resp = decode::decode_response(&fixture("response_tool_use.json"), &cx()).expect("decode");
    let out = encode_json(&resp);
    // Same-origin signatures and redacted data come back raw; server blocks verbatim.
    assert_eq!(out["content"], raw["content"]);
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(out["stop_sequence"], Value::Null);
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 472, "output_tokens": 89, "cache_creation_input_tokens": 1200, "cache_read_input_tokens": 30000})
    );
    assert_eq!(out["id"], "msg_abc123");
    assert_eq!((out["type"].as_str(), out["role"].as_str()), (Some("message"), Some("assistant")));
}

#[test]
fn bad_upstream_replies_are_invalid_response() {
    for body in [
        &b"<html>"[..],
        br#"{"type":"error","error":{"type":"api_error","message":"x"}}"#,
        br#"{"type":"completion"}"#,
        br#"{"content":"nope"}"#,
    ] {
        let e = decode::decode_response(body, &cx()).expect_err("must fail");
        assert!(matches!(e, ProtocolError::InvalidResponse { .. }), "{e:?}");
    }
}

// === canonical → client reply ===

#[test]
fn foreign_reply_encodes_with_sealed_signatures_and_object_inputs() {
    let foreign = Reasoning {
        text: String::new(),
        summary: vec!["Plan the call.".into(), "Then answer.".into()],
        opaque: Some(Opaque::new(Protocol::OpenaiResponses, "gAAAA-encrypted")),
        redacted: false,
    };
    let call = |id: &str, args: &str| {
        Part::ToolCall(ToolCall {
            id: id.into(),
            name: "Bash".into(),
            arguments: args.into(),
            kind: ToolCallKind::Function,
            opaque: None,
        })
    };
    let resp = Response {
        id: "resp_1".into(),
        model: "gpt-5".into(),
        parts: vec![
            Part::Reasoning(foreign.clone()),
            Part::text("Running it."),
            call("call_1", r#"{"command":"ls"}"#),
            call("call_2", "not json"),
            call("", ""),
            Part::Image { source: MediaSource::Url { url: "https://x/y.png".into() }, detail: None },
            Part::Unknown { origin: Protocol::OpenaiResponses, value: json!({"type": "web_search_call"}) },
        ],
        finish: Some(FinishReason::Stop),
        usage: Usage { input: Some(100), output: Some(20), cache_read: Some(30), ..Default::default() },
    };
    let out = encode_json(&resp);
    let content = out["content"].as_array().expect("content");
    assert_eq!(content.len(), 5);
    assert_eq!(content[0]["type"], "thinking");
    assert_eq!(content[0]["thinking"], "Plan the call.\n\nThen answer.");
    let sig = content[0]["signature"].as_str().expect("signature");
    assert!(sig.starts_with("Y2Ix"));
    assert_eq!(content[1], json!({"type": "text", "text": "Running it."}));
    assert_eq!(content[2], json!({"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}}));
    assert_eq!(content[3]["input"], json!({"input": "not json"}));
    assert_eq!(content[4]["input"], json!({}));
    assert_eq!(content[4]["id"], "toolu_abc123_4");
    assert_eq!(out["stop_reason"], "tool_use", "a Stop with tool calls is tool_use for Claude Code");
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 70, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 30})
    );

    // Claude Code sends the block back next turn: the foreign state comes back intact.
    let next = json!({"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [content[0].clone(), content[2].clone()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt"}]}
    ]});
    let req = decode::decode_request(next.to_string().as_bytes(), &cx()).expect("decode next turn");
    assert_eq!(req.messages[1].parts[0], Part::Reasoning(foreign));
}

#[test]
fn stop_reasons_reach_the_client() {
    let cases = [
        (Some(FinishReason::Length), "max_tokens", Value::Null),
        (Some(FinishReason::StopSequence(Some("###".into()))), "stop_sequence", json!("###")),
        (Some(FinishReason::ContentFilter), "refusal", Value::Null),
        (Some(FinishReason::Other("pause_turn".into())), "pause_turn", Value::Null),
        (None, "end_turn", Value::Null),
    ];
    for (finish, reason, seq) in cases {
        let out = encode_json(&Response { finish, parts: vec![Part::text("x")], ..Default::default() });
        assert_eq!((&out["stop_reason"], &out["stop_sequence"]), (&json!(reason), &seq));
    }
}

// === errors ===

#[test]
fn upstream_error_bodies_are_classified() {
    let cases = [
        ("error_overloaded.json", 529, ErrorKind::Overloaded, "overloaded_error"),
        ("error_prompt_too_long.json", 400, ErrorKind::ContextLengthExceeded, "invalid_request_error"),
        ("error_credit.json", 400, ErrorKind::QuotaExceeded, "invalid_request_error"),
        ("error_rate_limit.json", 429, ErrorKind::RateLimited, "rate_limit_error"),
    ];
    for (file, status, kind, code) in cases {
        let e = error::decode_error(status, &fixture(file));
        assert_eq!((e.kind, e.status, e.code.as_deref()), (kind, status, Some(code)), "{file}");
        assert!(!e.message.is_empty());
    }
    let html = error::decode_error(502, b"<html>Bad Gateway</html>");
    assert_eq!((html.kind, html.message.as_str()), (ErrorKind::UpstreamUnavailable, "<html>Bad Gateway</html>"));
    assert_eq!(error::decode_error(500, b"").message, "upstream answered HTTP 500");
    let billing = error::decode_error(402, br#"{"type":"error","error":{"type":"billing_error","message":"pay up"}}"#);
    assert_eq!(billing.kind, ErrorKind::QuotaExceeded);
}

#[test]
fn errors_encode_in_the_anthropic_shape() {
    let cases = [
        (ErrorKind::InvalidRequest, "invalid_request_error"),
        (ErrorKind::ContextLengthExceeded, "invalid_request_error"),
        (ErrorKind::Authentication, "authentication_error"),
        (ErrorKind::PermissionDenied, "permission_error"),
        (ErrorKind::NotFound, "not_found_error"),
        (ErrorKind::PayloadTooLarge, "request_too_large"),
        (ErrorKind::RateLimited, "rate_limit_error"),
        (ErrorKind::QuotaExceeded, "billing_error"),
        (ErrorKind::Overloaded, "overloaded_error"),
        (ErrorKind::Timeout, "timeout_error"),
        (ErrorKind::UpstreamUnavailable, "api_error"),
        (ErrorKind::UpstreamInvalid, "api_error"),
        (ErrorKind::Internal, "api_error"),
    ];
    for (kind, t) in cases {
        let body: Value = serde_json::from_slice(&error::encode_error(&ErrorInfo::new(kind, "boom"))).expect("JSON");
        assert_eq!(body, json!({"type": "error", "error": {"type": t, "message": "boom"}}));
        // And our own bodies classify back to an equivalent kind.
        let back = error::decode_error(kind.default_status(), &error::encode_error(&ErrorInfo::new(kind, "boom")));
        assert_eq!(
            crossbar_protocol::anthropic::error::encode_error(&back),
            error::encode_error(&ErrorInfo::new(kind, "boom"))
        );
    }
}

// === sniffing ===

fn sniff(stream: bool, body: &[u8], cut: usize) -> Usage {
    let mut s = sniff::Sniffer::new(stream);
    let cut = cut.min(body.len());
    s.push(&body[..cut]);
    s.push(&body[cut..]);
    s.finish();
    s.usage()
}

#[test]
fn sniffs_stream_usage_at_every_split_point() {
    let body = fixture("stream_tool_use.sse");
    let want = Usage {
        input: Some(31672),
        output: Some(89),
        cache_read: Some(30000),
        cache_write: Some(1200),
        cache_write_1h: Some(0),
        reasoning: None,
    };
    for cut in 0..=body.len() {
        assert_eq!(sniff(true, &body, cut), want, "cut at {cut}");
    }
    // No `event:` lines, output-only message_delta: message_start's input stands.
    let body = fixture("stream_server_tool.sse");
    let want = Usage {
        input: Some(2679),
        output: Some(510),
        cache_read: Some(0),
        cache_write: Some(0),
        cache_write_1h: None,
        reasoning: None,
    };
    assert_eq!(sniff(true, &body, 0), want);
}

#[test]
fn partial_delta_usage_does_not_clobber_cached_input() {
    let body = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"input_tokens\":5,\"output_tokens\":9}}\n\n",
    );
    let u = sniff(true, body.as_bytes(), 0);
    assert_eq!((u.input, u.output, u.cache_read), (Some(105), Some(9), Some(100)));
}

#[test]
fn sniffs_a_json_body() {
    let body = fixture("response_tool_use.json");
    for cut in [0, 10, body.len() / 2, body.len()] {
        let u = sniff(false, &body, cut);
        assert_eq!((u.input, u.output, u.cache_write), (Some(31672), Some(89), Some(1200)));
    }
    assert!(sniff(false, b"{\"usage\": garbage", 3).is_empty());
}
