//! Anthropic Messages: `POST /v1/messages` and `POST /v1/messages/count_tokens`.
//!
//! Stream (always `event:` lines matching `data.type`): `message_start` → `ping` → per block
//! `content_block_start` → deltas (`thinking_delta`… + one `signature_delta`, `text_delta`…,
//! `input_json_delta` in 2+ fragments) → `content_block_stop` → `message_delta`
//! (stop_reason, usage.output_tokens) → `message_stop`. Mid-stream errors are `event: error`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::directives::{self, Directives};
use crate::plan::{chunks, fragments, input_tokens, Plan, ANTHROPIC_SIGNATURE};
use crate::state;

fn signature(p: &Plan, thinking: &str) -> String {
    if p.strict {
        state::anthropic_signature(p, thinking)
    } else {
        ANTHROPIC_SIGNATURE.to_owned()
    }
}
use crate::stream::{self, sse_event, Frames};
use crate::Incoming;

/// `{"type": "error", "error": {type, message}}` for an HTTP status.
pub fn error_body(status: u16) -> Value {
    let (ty, message) = match status {
        400 => ("invalid_request_error", "mock: invalid request"),
        401 => ("authentication_error", "mock: invalid x-api-key"),
        402 => ("billing_error", "mock: billing error"),
        403 => ("permission_error", "mock: permission denied"),
        404 => ("not_found_error", "mock: not found"),
        413 => ("request_too_large", "mock: request too large"),
        429 => ("rate_limit_error", "mock: rate limited"),
        504 => ("timeout_error", "mock: timeout"),
        529 => ("overloaded_error", "Overloaded"),
        s if s >= 500 => ("api_error", "mock: internal server error"),
        _ => ("invalid_request_error", "mock: error"),
    };
    json!({"type": "error", "error": {"type": ty, "message": message}, "request_id": "req_mock"})
}

pub async fn messages(inc: Incoming) -> Response {
    let Some(body) = inc.json() else {
        return stream::error_response(400, &error_body(400));
    };
    let inputs = directives::anthropic(&body);
    let d = inc.directives(&inputs);
    if let Some(res) = inc.prelude(&d, error_body).await {
        return res;
    }
    if d.verify_state {
        if let Some(err) = state::check_anthropic(&body) {
            return stream::error_response(400, &err);
        }
    }
    let mut plan = inc.plan(&inputs, &d);
    inc.simulate_cache(&mut plan, &d, |c| c.anthropic(&body, &inc.headers));
    plan.diagnostics = inc.diagnose(&body, &message_id(&plan));
    if inputs.stream {
        streamed(&plan, &d)
    } else {
        stream::json_reply(&complete(&plan), &d)
    }
}

/// `{"input_tokens": N}`, N counted over this request's body like usage is.
pub async fn count_tokens(inc: Incoming) -> Response {
    if inc.json().is_none() {
        return stream::error_response(400, &error_body(400));
    }
    let n = input_tokens(inc.body.len());
    stream::json_response(StatusCode::OK, &json!({"input_tokens": n}))
}

fn usage(p: &Plan, output: u64) -> Value {
    let u = &p.usage;
    let mut v = json!({
        "input_tokens": u.input - u.cached - u.written,
        "cache_creation_input_tokens": u.written,
        "cache_read_input_tokens": u.cached,
        "output_tokens": output,
        "service_tier": "standard",
    });
    if let Some(long) = u.written_1h {
        v["cache_creation"] = json!({
            "ephemeral_5m_input_tokens": u.written - long,
            "ephemeral_1h_input_tokens": long,
        });
    }
    v
}

fn stop_reason(p: &Plan) -> &'static str {
    if p.calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    }
}

fn tool_id(p: &Plan, i: usize) -> String {
    format!("toolu_mock{:x}_{i}", p.id)
}

fn message_id(p: &Plan) -> String {
    format!("msg_mock{:x}", p.id)
}

fn message(p: &Plan, content: Vec<Value>, stop: Option<&str>, usage: Value) -> Value {
    let mut m = json!({
        "id": message_id(p),
        "type": "message",
        "role": "assistant",
        "model": p.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": usage,
    });
    if let Some(d) = &p.diagnostics {
        m["diagnostics"] = d.clone();
    }
    m
}

fn complete(p: &Plan) -> Value {
    let mut content = Vec::with_capacity(2 + p.calls.len());
    if let Some(r) = p.reasoning {
        content.push(json!({"type": "thinking", "thinking": r, "signature": signature(p, r)}));
    }
    if let Some(t) = &p.text {
        content.push(json!({"type": "text", "text": t}));
    }
    for (i, c) in p.calls.iter().enumerate() {
        let input: Value = serde_json::from_str(&c.args).unwrap_or_else(|_| json!({}));
        content.push(json!({"type": "tool_use", "id": tool_id(p, i), "name": c.name, "input": input}));
    }
    message(p, content, Some(stop_reason(p)), usage(p, p.usage.output))
}

fn streamed(p: &Plan, d: &Directives) -> Response {
    let mut f = Frames::default();
    let ev = |f: &mut Frames, ty: &str, mut v: Value| {
        v["type"] = json!(ty);
        f.push(sse_event(ty, &v));
    };
    ev(&mut f, "message_start", json!({"message": message(p, Vec::new(), None, usage(p, 1))}));
    ev(&mut f, "ping", json!({}));
    let mut index = 0usize;
    let mut block = |f: &mut Frames, start: Value, deltas: Vec<Value>| {
        ev(f, "content_block_start", json!({"index": index, "content_block": start}));
        for delta in deltas {
            ev(f, "content_block_delta", json!({"index": index, "delta": delta}));
            f.mark();
        }
        ev(f, "content_block_stop", json!({"index": index}));
        index += 1;
    };
    if let Some(r) = p.reasoning {
        let mut deltas: Vec<Value> = chunks(r).map(|t| json!({"type": "thinking_delta", "thinking": t})).collect();
        deltas.push(json!({"type": "signature_delta", "signature": signature(p, r)}));
        block(&mut f, json!({"type": "thinking", "thinking": "", "signature": ""}), deltas);
    }
    if let Some(t) = &p.text {
        let deltas = chunks(t).map(|t| json!({"type": "text_delta", "text": t})).collect();
        block(&mut f, json!({"type": "text", "text": ""}), deltas);
    }
    for (i, c) in p.calls.iter().enumerate() {
        let mut pieces = fragments(&c.args);
        if pieces.len() < 2 {
            pieces.insert(0, "");
        }
        let deltas = pieces.into_iter().map(|j| json!({"type": "input_json_delta", "partial_json": j})).collect();
        block(&mut f, json!({"type": "tool_use", "id": tool_id(p, i), "name": c.name, "input": {}}), deltas);
    }
    let out = p.usage.output;
    ev(
        &mut f,
        "message_delta",
        json!({"delta": {"stop_reason": stop_reason(p), "stop_sequence": null}, "usage": {"output_tokens": out}}),
    );
    ev(&mut f, "message_stop", json!({}));
    let status = match d.midstream_error {
        Some(Some(s)) => s,
        _ => 529,
    };
    stream::sse(f, d, |_| sse_event("error", &error_body(status)))
}
