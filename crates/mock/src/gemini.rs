//! Gemini: `POST /v1beta/models/{model}:generateContent | :streamGenerateContent | :countTokens`
//! (also under `/v1/models/`), `GET /v1beta/models`.
//!
//! Stream: every chunk is a full GenerateContentResponse with one part (thought parts with
//! `thought: true`, the last one carrying a `thoughtSignature`; text a word per chunk; each
//! functionCall whole, with an `id`); the last chunk has `finishReason` and `usageMetadata`.
//! `?alt=sse` gives SSE `data:` frames, otherwise one streamed JSON array. Mid-stream errors
//! are a chunk `{"error": {code, message, status}}`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::directives::{self, Directives};
use crate::plan::{chunks, input_tokens, Plan, MODEL, THOUGHT_SIGNATURE};
use crate::state;
use crate::stream::{self, sse_data, Frames};
use crate::Incoming;

/// `{"error": {code, message, status}}` for an HTTP status.
pub fn error_body(status: u16) -> Value {
    let (name, message) = match status {
        400 => ("INVALID_ARGUMENT", "mock: invalid argument"),
        401 => ("UNAUTHENTICATED", "mock: API key not valid"),
        403 => ("PERMISSION_DENIED", "mock: permission denied"),
        404 => ("NOT_FOUND", "mock: not found"),
        429 => ("RESOURCE_EXHAUSTED", "mock: resource exhausted"),
        499 => ("CANCELLED", "mock: cancelled"),
        501 => ("UNIMPLEMENTED", "mock: not implemented"),
        503 => ("UNAVAILABLE", "mock: the model is overloaded"),
        504 => ("DEADLINE_EXCEEDED", "mock: deadline exceeded"),
        s if s >= 500 => ("INTERNAL", "mock: internal error"),
        _ => ("FAILED_PRECONDITION", "mock: error"),
    };
    json!({"error": {"code": status, "message": message, "status": name}})
}

/// `GET /v1beta/models`
pub async fn models(_inc: Incoming) -> Response {
    stream::json_response(StatusCode::OK, &model_list())
}

/// `{"models": [...]}` in Gemini's format.
pub fn model_list() -> Value {
    json!({"models": [{
        "name": format!("models/{MODEL}"),
        "version": "001",
        "displayName": "Mock model",
        "description": "crossbar-mock",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
        "thinking": true,
    }]})
}

/// `POST …/models/{model}:{action}`
pub async fn handle(Path(call): Path<String>, inc: Incoming) -> Response {
    let (model, action) = call.rsplit_once(':').unwrap_or((call.as_str(), ""));
    let stream = match action {
        "generateContent" => false,
        "streamGenerateContent" => true,
        "countTokens" => return count_tokens(&inc),
        _ => return stream::error_response(404, &error_body(404)),
    };
    let Some(body) = inc.json() else {
        return stream::error_response(400, &error_body(400));
    };
    let mut inputs = directives::gemini(&body);
    inputs.model = model;
    let d = inc.directives(&inputs);
    if let Some(res) = inc.prelude(&d, error_body).await {
        return res;
    }
    // Gemini 3 always thinks and signs, and wants its signatures back.
    let gemini_3 = model.trim_start_matches("models/").starts_with("gemini-3");
    if gemini_3 || d.verify_state {
        if let Some(err) = state::check_gemini(&body) {
            return stream::error_response(400, &err);
        }
    }
    let mut plan = inc.plan(&inputs, &d);
    inc.simulate_cache(&mut plan, &d, |c| c.gemini(&body, &inc.headers, model));
    plan.strict |= gemini_3;
    if !stream {
        return stream::json_reply(&chunk(&plan, parts(&plan), true), &d);
    }
    let sse = inc.query.as_deref().is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
    streamed(&plan, &d, sse)
}

/// `{"totalTokens": N}`, N counted over this request's body like usage is.
fn count_tokens(inc: &Incoming) -> Response {
    if inc.json().is_none() {
        return stream::error_response(400, &error_body(400));
    }
    let n = input_tokens(inc.body.len());
    let body = json!({"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]});
    stream::json_response(StatusCode::OK, &body)
}

fn usage(p: &Plan) -> Value {
    let u = &p.usage;
    let mut m = json!({
        "promptTokenCount": u.input,
        "candidatesTokenCount": u.output - u.reasoning,
        "totalTokenCount": u.total(),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u.input}],
    });
    if u.reasoning > 0 {
        m["thoughtsTokenCount"] = json!(u.reasoning);
    }
    if u.cached > 0 {
        m["cachedContentTokenCount"] = json!(u.cached);
    }
    m
}

/// All parts of the reply, in stream order (one per chunk when streamed).
fn parts(p: &Plan) -> Vec<Value> {
    let mut parts = Vec::new();
    if let Some(r) = p.reasoning {
        parts.extend(chunks(r).map(|t| json!({"text": t, "thought": true})));
        if let Some(last) = parts.last_mut() {
            last["thoughtSignature"] =
                json!(if p.strict { state::gemini_part_signature(p, "thought") } else { THOUGHT_SIGNATURE.to_owned() });
        }
    }
    if let Some(t) = &p.text {
        let first = parts.len();
        parts.extend(chunks(t).map(|t| json!({"text": t})));
        // Gemini 3 signs the last part of an answer without calls.
        let signed = p.strict && p.calls.is_empty() && parts.len() > first;
        if let Some(last) = parts.last_mut().filter(|_| signed) {
            last["thoughtSignature"] = json!(state::gemini_part_signature(p, "text"));
        }
    }
    for (i, c) in p.calls.iter().enumerate() {
        let args: Value = serde_json::from_str(&c.args).unwrap_or_else(|_| json!({}));
        let id = format!("mock{:x}_{i}", p.id);
        let mut part = json!({"functionCall": {"id": id, "name": c.name, "args": args}});
        if i == 0 && p.strict {
            part["thoughtSignature"] = json!(state::gemini_call_signature(&id));
        } else if i == 0 && p.reasoning.is_some() {
            part["thoughtSignature"] = json!(THOUGHT_SIGNATURE);
        }
        parts.push(part);
    }
    parts
}

/// One GenerateContentResponse; the last one carries finishReason and usageMetadata.
fn chunk(p: &Plan, parts: Vec<Value>, last: bool) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    let mut v = json!({"modelVersion": p.model, "responseId": format!("mock{:x}", p.id)});
    if last {
        candidate["finishReason"] = json!("STOP");
        v["usageMetadata"] = usage(p);
    }
    v["candidates"] = json!([candidate]);
    v
}

fn streamed(p: &Plan, d: &Directives, sse: bool) -> Response {
    let all = parts(p);
    let n = all.len();
    let mut f = Frames::default();
    for (i, part) in all.into_iter().enumerate() {
        let c = chunk(p, vec![part], i + 1 == n);
        f.push(if sse { sse_data(&c) } else { array_item(&c, i == 0) });
        f.mark();
    }
    if !sse {
        f.push(Bytes::from_static(b"]"));
    }
    let status = match d.midstream_error {
        Some(Some(s)) => s,
        _ => 500,
    };
    let error = move |_| {
        let e = error_body(status);
        if sse {
            sse_data(&e)
        } else {
            let mut b = array_item(&e, false).to_vec();
            b.push(b']');
            Bytes::from(b)
        }
    };
    let ct = if sse { "text/event-stream" } else { "application/json" };
    stream::with_type(stream::body(f, d, error), ct)
}

/// One element of the streamed JSON array: `[` before the first, `,\r\n` before the others.
fn array_item(v: &Value, first: bool) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(if first { b"[" } else { b",\r\n" });
    let _ = serde_json::to_writer(&mut buf, v);
    Bytes::from(buf)
}
