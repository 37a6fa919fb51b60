//! OpenAI Chat Completions: `POST /v1/chat/completions`.
//!
//! Stream: role chunk → `reasoning_content` deltas → content deltas (a word each) → per tool call
//! one chunk with `index, id, type, function{name, arguments:""}` then argument fragments with
//! `index` → finish chunk (empty delta) → usage chunk (`choices: []`, only with
//! `stream_options.include_usage`) → `data: [DONE]`.

use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::directives::{self, Directives};
use crate::plan::{chunks, fragments, Plan};
use crate::stream::{self, sse_data, Frames};
use crate::Incoming;

const FINGERPRINT: &str = "fp_mock";

/// The OpenAI error object for an HTTP status: `(type, code, message)`.
fn error_kind(status: u16) -> (&'static str, Value, &'static str) {
    match status {
        400 => ("invalid_request_error", Value::Null, "mock: invalid request"),
        401 => ("invalid_request_error", json!("invalid_api_key"), "mock: incorrect API key provided"),
        403 => ("permission_error", Value::Null, "mock: permission denied"),
        404 => ("invalid_request_error", json!("model_not_found"), "mock: not found"),
        429 => ("requests", json!("rate_limit_exceeded"), "mock: rate limit reached, try again in 1s"),
        503 => ("server_error", json!("server_is_overloaded"), "mock: the server is overloaded"),
        s if s >= 500 => ("server_error", json!("server_error"), "mock: the server had an error"),
        _ => ("invalid_request_error", Value::Null, "mock: error"),
    }
}

/// `{"error": {message, type, param, code}}` (shared with the Responses API).
pub fn error_body(status: u16) -> Value {
    let (ty, code, message) = error_kind(status);
    json!({"error": {"message": message, "type": ty, "param": null, "code": code}})
}

pub async fn handle(inc: Incoming) -> Response {
    let Some(body) = inc.json() else {
        return stream::error_response(400, &error_body(400));
    };
    let inputs = directives::chat(&body);
    let d = inc.directives(&inputs);
    if let Some(res) = inc.prelude(&d, error_body).await {
        return res;
    }
    let mut plan = inc.plan(&inputs, &d);
    inc.simulate_cache(&mut plan, &d, |c| c.openai(&body, &inc.headers));
    if inputs.stream {
        let include_usage = body["stream_options"]["include_usage"] == true;
        streamed(&plan, &d, include_usage)
    } else {
        stream::json_reply(&complete(&plan), &d)
    }
}

fn usage(p: &Plan) -> Value {
    let u = &p.usage;
    json!({
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.total(),
        "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
        },
    })
}

fn finish_reason(p: &Plan) -> &'static str {
    if p.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

fn call_id(p: &Plan, i: usize) -> String {
    format!("call_mock{:x}_{i}", p.id)
}

fn complete(p: &Plan) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": p.text,
        "refusal": null,
        "annotations": [],
    });
    if let Some(r) = p.reasoning {
        message["reasoning_content"] = json!(r);
    }
    if !p.calls.is_empty() {
        let calls: Vec<Value> = p
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"id": call_id(p, i), "type": "function",
                       "function": {"name": c.name, "arguments": c.args}})
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    json!({
        "id": format!("chatcmpl-mock{:x}", p.id),
        "object": "chat.completion",
        "created": p.created,
        "model": p.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(p)}],
        "usage": usage(p),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    })
}

fn streamed(p: &Plan, d: &Directives, include_usage: bool) -> Response {
    let id = format!("chatcmpl-mock{:x}", p.id);
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": p.created, "model": p.model,
            "service_tier": "default", "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        sse_data(&c)
    };
    let mut f = Frames::default();
    f.push(chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null));
    if let Some(r) = p.reasoning {
        for piece in chunks(r) {
            f.push(chunk(json!({"reasoning_content": piece}), Value::Null));
            f.mark();
        }
    }
    if let Some(text) = &p.text {
        for piece in chunks(text) {
            f.push(chunk(json!({"content": piece}), Value::Null));
            f.mark();
        }
    }
    for (i, c) in p.calls.iter().enumerate() {
        let head = json!({"index": i, "id": call_id(p, i), "type": "function",
                          "function": {"name": c.name, "arguments": ""}});
        f.push(chunk(json!({"tool_calls": [head]}), Value::Null));
        f.mark();
        for frag in fragments(&c.args) {
            f.push(chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": frag}}]}), Value::Null));
        }
    }
    f.push(chunk(json!({}), json!(finish_reason(p))));
    if include_usage {
        f.push(sse_data(&json!({
            "id": id, "object": "chat.completion.chunk", "created": p.created, "model": p.model,
            "service_tier": "default", "system_fingerprint": FINGERPRINT,
            "choices": [], "usage": usage(p),
        })));
    }
    f.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let status = match d.midstream_error {
        Some(Some(s)) => s,
        _ => 500,
    };
    stream::sse(f, d, |_| sse_data(&error_body(status)))
}
