//! OpenAI Responses: `POST /v1/responses` (also `/responses`, `/backend-api/codex/responses`).
//!
//! Stream (every event has `event:` + `type` + a gap-free `sequence_number` from 0):
//! `response.created` (status in_progress, output []) → `response.in_progress` → per item:
//! reasoning (`output_item.added` → `reasoning_summary_part.added` → `reasoning_summary_text.delta`…
//! → `.done` → `reasoning_summary_part.done` → `output_item.done`), message (`output_item.added` →
//! `content_part.added` → `output_text.delta`… → `output_text.done` → `content_part.done` →
//! `output_item.done`), function_call (`output_item.added` → `function_call_arguments.delta`… →
//! `.done` → `output_item.done`) → `response.completed` with the full output and usage.
//! Mid-stream errors are `response.failed`.

use axum::response::Response;
use serde_json::{json, Value};

use crate::directives::{self, Directives, ToolKind};
use crate::openai_chat::error_body;
use crate::plan::{chunks, fragments, shell_argv, Call, Plan, ENCRYPTED_REASONING};
use crate::stream::{self, sse_event, Frames};
use crate::Incoming;

pub async fn handle(inc: Incoming) -> Response {
    let Some(body) = inc.json() else {
        return stream::error_response(400, &error_body(400));
    };
    if let Some(res) = crate::faults::codex_backend_rules(&inc.path, &body) {
        return res;
    }
    let inputs = directives::responses(&body);
    let d = inc.directives(&inputs);
    if let Some(res) = inc.prelude(&d, error_body).await {
        return res;
    }
    if let Some(res) = crate::faults::unserved_model(&inc.headers, &d, inputs.model) {
        return res;
    }
    if d.verify_state {
        if let Some(err) = crate::state::check_responses(&body) {
            return stream::error_response(400, &err);
        }
    }
    let mut plan = inc.plan(&inputs, &d);
    inc.simulate_cache(&mut plan, &d, |c| c.openai(&body, &inc.headers));
    let items = final_items(&plan);
    if inputs.stream {
        streamed(&plan, &body, items, &d)
    } else {
        stream::json_reply(&response(&plan, &body, "completed", items, usage(&plan)), &d)
    }
}

fn usage(p: &Plan) -> Value {
    let u = &p.usage;
    json!({
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cached},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.total(),
    })
}

/// The response object; request settings are echoed as the real API does.
fn response(p: &Plan, req: &Value, status: &str, output: Vec<Value>, usage: Value) -> Value {
    let or = |key: &str, default: Value| req.get(key).cloned().unwrap_or(default);
    json!({
        "id": format!("resp_mock{:x}", p.id),
        "object": "response",
        "created_at": p.created,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": or("instructions", Value::Null),
        "max_output_tokens": or("max_output_tokens", Value::Null),
        "model": p.model,
        "output": output,
        "parallel_tool_calls": or("parallel_tool_calls", json!(true)),
        "previous_response_id": or("previous_response_id", Value::Null),
        "prompt_cache_key": or("prompt_cache_key", Value::Null),
        "reasoning": {
            "effort": req["reasoning"].get("effort").cloned().unwrap_or(Value::Null),
            "summary": req["reasoning"].get("summary").cloned().unwrap_or(Value::Null),
        },
        "service_tier": "default",
        "store": or("store", json!(true)),
        "temperature": or("temperature", json!(1.0)),
        "text": or("text", json!({"format": {"type": "text"}})),
        "tool_choice": or("tool_choice", json!("auto")),
        "tools": or("tools", json!([])),
        "top_p": or("top_p", json!(1.0)),
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": or("metadata", json!({})),
    })
}

fn item_id(p: &Plan, prefix: &str, i: usize) -> String {
    format!("{prefix}_mock{:x}_{i}", p.id)
}

fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

/// A tool call item; `done` picks the completed form, else the `output_item.added` form.
fn call_item(p: &Plan, i: usize, c: &Call, done: bool) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    let call_id = item_id(p, "call", i);
    let mut item = match c.kind {
        ToolKind::Function => json!({
            "id": item_id(p, "fc", i), "type": "function_call", "status": status,
            "arguments": if done { c.args.as_str() } else { "" }, "call_id": call_id, "name": c.name,
        }),
        ToolKind::Custom => json!({
            "id": item_id(p, "ctc", i), "type": "custom_tool_call", "status": status,
            "call_id": call_id, "name": c.name, "input": if done { c.args.as_str() } else { "" },
        }),
        ToolKind::LocalShell => json!({
            "id": item_id(p, "lsh", i), "type": "local_shell_call", "status": status, "call_id": call_id,
            "action": {"type": "exec", "command": shell_argv(), "env": {}, "timeout_ms": null,
                       "user": null, "working_directory": null},
        }),
    };
    if let Some(ns) = &c.namespace {
        item["namespace"] = json!(ns);
    }
    item
}

fn encrypted(p: &Plan) -> String {
    if p.strict {
        crate::state::encrypted_reasoning(p)
    } else {
        ENCRYPTED_REASONING.to_owned()
    }
}

fn final_items(p: &Plan) -> Vec<Value> {
    let mut items = Vec::with_capacity(2 + p.calls.len());
    if let Some(r) = p.reasoning {
        items.push(json!({
            "id": item_id(p, "rs", 0), "type": "reasoning",
            "summary": [{"type": "summary_text", "text": r}], "encrypted_content": encrypted(p),
        }));
    }
    if let Some(t) = &p.text {
        items.push(json!({
            "id": item_id(p, "msg", 0), "type": "message", "status": "completed",
            "content": [text_part(t)], "role": "assistant",
        }));
    }
    items.extend(p.calls.iter().enumerate().map(|(i, c)| call_item(p, i, c, true)));
    items
}

/// Numbers and frames the events.
struct Events {
    f: Frames,
    seq: u64,
}

impl Events {
    fn ev(&mut self, ty: &str, mut v: Value) {
        v["type"] = json!(ty);
        v["sequence_number"] = json!(self.seq);
        self.seq += 1;
        self.f.push(sse_event(ty, &v));
    }
}

fn streamed(p: &Plan, req: &Value, items: Vec<Value>, d: &Directives) -> Response {
    let mut e = Events { f: Frames::default(), seq: 0 };
    let start = response(p, req, "in_progress", Vec::new(), Value::Null);
    e.ev("response.created", json!({"response": start}));
    e.ev("response.in_progress", json!({"response": start}));
    let mut out = 0usize;
    if let Some(r) = p.reasoning {
        let id = item_id(p, "rs", 0);
        let added = json!({"id": id, "type": "reasoning", "summary": [], "encrypted_content": encrypted(p)});
        e.ev("response.output_item.added", json!({"output_index": out, "item": added}));
        let at = json!({"item_id": id, "output_index": out, "summary_index": 0});
        let ev = |e: &mut Events, ty: &str, extra: Value| {
            let mut v = at.clone();
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                v.extend(extra);
            }
            e.ev(ty, v);
        };
        ev(&mut e, "response.reasoning_summary_part.added", json!({"part": {"type": "summary_text", "text": ""}}));
        for piece in chunks(r) {
            ev(&mut e, "response.reasoning_summary_text.delta", json!({"delta": piece}));
            e.f.mark();
        }
        ev(&mut e, "response.reasoning_summary_text.done", json!({"text": r}));
        ev(&mut e, "response.reasoning_summary_part.done", json!({"part": {"type": "summary_text", "text": r}}));
        e.ev("response.output_item.done", json!({"output_index": out, "item": items[out]}));
        out += 1;
    }
    if let Some(t) = &p.text {
        let id = item_id(p, "msg", 0);
        let added = json!({"id": id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"});
        e.ev("response.output_item.added", json!({"output_index": out, "item": added}));
        let at = |extra: Value| {
            let mut v = json!({"item_id": id, "output_index": out, "content_index": 0});
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                v.extend(extra);
            }
            v
        };
        e.ev("response.content_part.added", at(json!({"part": text_part("")})));
        for piece in chunks(t) {
            e.ev("response.output_text.delta", at(json!({"delta": piece, "logprobs": []})));
            e.f.mark();
        }
        e.ev("response.output_text.done", at(json!({"text": t, "logprobs": []})));
        e.ev("response.content_part.done", at(json!({"part": text_part(t)})));
        e.ev("response.output_item.done", json!({"output_index": out, "item": items[out]}));
        out += 1;
    }
    for (i, c) in p.calls.iter().enumerate() {
        let added = call_item(p, i, c, false);
        let id = added["id"].clone();
        e.ev("response.output_item.added", json!({"output_index": out, "item": added}));
        let (delta_ty, done_ty, done_key) = match c.kind {
            ToolKind::Function => {
                ("response.function_call_arguments.delta", "response.function_call_arguments.done", "arguments")
            }
            ToolKind::Custom => {
                ("response.custom_tool_call_input.delta", "response.custom_tool_call_input.done", "input")
            }
            ToolKind::LocalShell => ("", "", ""),
        };
        if !delta_ty.is_empty() {
            for frag in fragments(&c.args) {
                e.ev(delta_ty, json!({"item_id": id, "output_index": out, "delta": frag}));
                e.f.mark();
            }
            let mut done = json!({"item_id": id, "output_index": out, done_key: c.args});
            if c.kind == ToolKind::Function {
                done["name"] = json!(c.name);
            }
            e.ev(done_ty, done);
        }
        e.f.mark();
        e.ev("response.output_item.done", json!({"output_index": out, "item": items[out]}));
        out += 1;
    }
    let done = response(p, req, "completed", items, usage(p));
    e.ev("response.completed", json!({"response": done}));

    let status = match d.midstream_error {
        Some(Some(s)) => s,
        _ => 500,
    };
    let failed = move |seq: usize| {
        let err = &error_body(status)["error"];
        let code = err["code"].as_str().unwrap_or("server_error");
        let mut r = response(p, req, "failed", Vec::new(), Value::Null);
        r["error"] = json!({"code": code, "message": err["message"]});
        let v = json!({"type": "response.failed", "sequence_number": seq, "response": r});
        sse_event("response.failed", &v)
    };
    stream::sse(e.f, d, failed)
}
