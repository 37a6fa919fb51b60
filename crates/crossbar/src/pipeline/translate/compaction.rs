//! Codex compaction on upstreams that are not OpenAI (codex-wire.md §7).
//!
//! Remote compaction v2: a Responses request whose `input` ends with `{"type":
//! "compaction_trigger"}` must come back with exactly one `compaction` item. For a translated
//! upstream crossbar makes the summary itself: the same request, without tools and with the
//! trigger replaced by a summarisation instruction, goes to the same model (non-streamed,
//! through the ordinary translation path); the answer's text is sealed as
//! `Sealed::Compaction` (gateway-owned, valid across restarts) in the item's
//! `encrypted_content`. On later requests the Responses decoder opens it and puts the summary
//! back as a user message. The legacy unary `POST …/responses/compact` does the same and
//! answers `{"output":[kept user messages…, compaction item]}`.
//!
//! OpenAI upstreams never come here: same-protocol requests are relayed untouched.
//! This module never forwards a `compaction_trigger` to a provider that cannot take it.

use crate::app::AppState;
use crate::ingress::reply;
use crate::pipeline::{translate, Endpoint, Inbound};
use crate::routing::Target;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use crossbar_protocol::canonical::opaque::Sealed;
use crossbar_protocol::canonical::{ErrorInfo, ErrorKind, Protocol};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The instruction that replaces the trigger in the summarisation request.
pub const PROMPT: &str = "Context checkpoint: the conversation above is about to be replaced by a summary. \
Write that summary now so that another model can continue the work without the history. Include the \
user's goals and constraints, what has been done so far (files changed, commands run and their \
results), the current state, open questions and the next steps. Be specific and concise, and reply \
with the summary only.";

/// Put in front of the summary when it is expanded on later requests.
pub const SUMMARY_PREFIX: &str = "Summary of the earlier conversation (compacted by crossbar):\n";

/// Largest summarisation reply read back.
const MAX_SUMMARY_BODY: usize = 16 * 1024 * 1024;

/// Whether a Responses body ends with a `compaction_trigger` item.
pub fn is_triggered(body: &[u8]) -> bool {
    // Cheap check first: most requests never mention it. A searcher built once (a byte-window
    // comparison cost 14 instructions a byte: 28 M for a 2 MB Codex request, before its first
    // byte went upstream).
    static TRIGGER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"compaction_trigger"));
    if TRIGGER.find(body).is_none() {
        return false;
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("input")?.as_array()?.last()?.get("type")?.as_str().map(|t| t == "compaction_trigger"))
        .unwrap_or(false)
}

/// Codex marks requests in the "responses lite" shape (new OpenAI models) with this header.
pub fn is_responses_lite(headers: &HeaderMap) -> bool {
    headers
        .get("x-openai-internal-codex-responses-lite")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub async fn run(state: Arc<AppState>, inbound: Inbound, target: Target, upstream: Protocol) -> Response {
    let client = inbound.protocol;
    let legacy = inbound.endpoint == Endpoint::Compact;
    let mut body: Map<String, Value> = match serde_json::from_slice(&inbound.body) {
        Ok(Value::Object(m)) => m,
        _ => return reply::error_msg(client, ErrorKind::InvalidRequest, "the request body must be a JSON object"),
    };
    let mut input = match body.remove("input") {
        Some(Value::Array(items)) => items,
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        _ => Vec::new(),
    };
    if input.last().and_then(|i| i.get("type")).and_then(Value::as_str) == Some("compaction_trigger") {
        input.pop();
    }
    let kept_users: Vec<Value> = input.iter().filter(|i| is_user_message(i)).cloned().collect();
    input.push(json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": PROMPT}]}));
    body.insert("input".into(), Value::Array(input));
    for k in ["tools", "tool_choice", "parallel_tool_calls", "text", "stream_options"] {
        body.remove(k);
    }
    body.insert("stream".into(), Value::Bool(false));
    let summary_request = Inbound {
        protocol: client,
        endpoint: Endpoint::Generate,
        model: inbound.model.clone(),
        model_span: None,
        stream: false,
        body: Bytes::from(Value::Object(body).to_string()),
        headers: inbound.headers.clone(),
        forward_query: None,
        include_usage: false,
        stream_options_span: None,
        sse: false,
        codex_ready: false,
        started: inbound.started,
        key: inbound.key.clone(),
        prompt: None,
        conversation_memo: Default::default(),
        socket: None,
    };

    let resp = translate::run(state.clone(), summary_request, target, upstream).await;
    if !resp.status().is_success() {
        return resp;
    }
    let bytes = match axum::body::to_bytes(resp.into_body(), MAX_SUMMARY_BODY).await {
        Ok(b) => b,
        Err(e) => return reply::error(client, &upstream_error(format!("cannot read the compaction summary: {e}"))),
    };
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let summary = output_text(&answer);
    if summary.trim().is_empty() {
        return reply::error(client, &upstream_error("the model returned an empty compaction summary".into()));
    }
    let sealed = state.codec.seal(&Sealed::Compaction { summary: format!("{SUMMARY_PREFIX}{}", summary.trim()) });
    let item = json!({
        "type": "compaction",
        "id": format!("cmp_{}", uuid::Uuid::new_v4().simple()),
        "encrypted_content": sealed,
    });
    let usage = answer.get("usage").cloned().unwrap_or(Value::Null);

    if legacy {
        let mut output = kept_users;
        output.push(item);
        return json_reply(json!({ "output": output }));
    }
    let response = json!({
        "id": format!("resp_{}", uuid::Uuid::new_v4().simple()),
        "object": "response",
        "created_at": crate::pipeline::unix_now(),
        "status": "completed",
        "model": inbound.model,
        "output": [item.clone()],
        "usage": usage,
    });
    if !inbound.stream {
        return json_reply(response);
    }
    sse_reply(&response, &item)
}

fn is_user_message(item: &Value) -> bool {
    let ty = item.get("type").and_then(Value::as_str).unwrap_or("message");
    ty == "message" && item.get("role").and_then(Value::as_str) == Some("user")
}

/// The text of a Responses object's assistant messages.
fn output_text(response: &Value) -> String {
    let mut out = String::new();
    for item in response.get("output").and_then(Value::as_array).into_iter().flatten() {
        if item.get("type").and_then(Value::as_str) != Some("message") {
            continue;
        }
        for part in item.get("content").and_then(Value::as_array).into_iter().flatten() {
            if let Some(t) = part.get("text").and_then(Value::as_str) {
                out.push_str(t);
            }
        }
    }
    out
}

fn upstream_error(message: String) -> ErrorInfo {
    ErrorInfo::new(ErrorKind::UpstreamInvalid, message)
}

fn json_reply(v: Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// The Responses event sequence for a response whose only output is `item`.
fn sse_reply(response: &Value, item: &Value) -> Response {
    let mut in_progress = response.clone();
    in_progress["status"] = json!("in_progress");
    in_progress["output"] = json!([]);
    in_progress["usage"] = Value::Null;
    let events = [
        json!({"type": "response.created", "response": in_progress}),
        json!({"type": "response.in_progress", "response": in_progress}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        json!({"type": "response.completed", "response": response}),
    ];
    let mut out = String::new();
    for (seq, mut e) in events.into_iter().enumerate() {
        e["sequence_number"] = json!(seq);
        let ty = e["type"].as_str().unwrap_or_default().to_string();
        out.push_str(&format!("event: {ty}\ndata: {e}\n\n"));
    }
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/event-stream"));
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    let mut r = Response::new(Body::from(out));
    *r.headers_mut() = headers;
    r
}

#[cfg(test)]
mod tests {
    use super::is_triggered;

    #[test]
    fn a_trigger_counts_only_as_the_last_input_item() {
        assert!(is_triggered(br#"{"input":[{"type":"message"},{"type":"compaction_trigger"}]}"#));
        assert!(!is_triggered(br#"{"input":[{"type":"compaction_trigger"},{"type":"message","content":"x"}]}"#));
        assert!(!is_triggered(br#"{"input":[{"type":"message","content":"compaction_trigger"}]}"#));
        assert!(!is_triggered(br#"{"input":"hi"}"#));
    }
}
