//! Canonical → OpenAI Responses wire: a request for an OpenAI `/responses` upstream, and the
//! non-streamed Response object a client gets.
//!
//! Upstream request policy:
//! - always `store: false` (crossbar is stateless; history travels in `input`);
//! - `system` → `instructions` (joined text), or a leading `developer` message when the client
//!   sent one (`system_is_developer`);
//! - reasoning: `reasoning {effort, summary}` + `include: ["reasoning.encrypted_content"]`;
//!   reasoning parts are replayed only when their `Opaque` came from this protocol;
//! - tools: `function` (with an explicit `strict`, since Responses defaults it to true),
//!   `custom` natively, namespaced tools regrouped under `namespace`;
//! - `Part::Unknown` items from a Responses client (hosted tool calls) are replayed verbatim.

use super::common::{data_url, item_id, response_id, unpack_reasoning_state, usage_to_wire};
use crate::canonical::tools::unwrap_custom_input;
use super::wire::{IncompleteDetails, OutItem, OutputText, ReasoningText, ResponseObject, SummaryText};
use crate::canonical::{
    Cx, FinishReason, Loss, MediaSource, Message, OutputFormat, Part, Protocol, ProtocolError, Reasoning,
    Request, Response, Role, ToolCall, ToolCallKind, ToolChoice, ToolDef, ToolIndex, ToolKind, ToolResult,
};
use crate::EncodedRequest;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

const ME: Protocol = Protocol::OpenaiResponses;

// === upstream request ===

pub fn encode_request(req: &Request, _cx: &Cx) -> Result<EncodedRequest, ProtocolError> {
    let mut losses = Vec::new();
    let index = ToolIndex::new(&req.tools);
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));

    let mut input: Vec<Value> = Vec::new();
    if !req.system.is_empty() {
        if req.system_is_developer {
            let content = content_out(&req.system, Role::Developer, "system", &mut losses);
            input.push(json!({"type": "message", "role": "developer", "content": content}));
        } else {
            let text = system_text(&req.system, &mut losses);
            body.insert("instructions".into(), json!(text));
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        encode_message(m, &format!("messages[{i}]"), &index, &mut input, &mut losses);
    }
    body.insert("input".into(), Value::Array(input));

    if !req.tools.is_empty() {
        body.insert("tools".into(), Value::Array(encode_tools(&req.tools)));
    }
    if let Some(choice) = &req.tool_choice {
        body.insert("tool_choice".into(), encode_tool_choice(choice, &index));
    }
    if let Some(p) = req.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), json!(p));
    }
    if let Some(r) = &req.reasoning {
        let mut reasoning = Map::new();
        if let Some(effort) = r.effort() {
            reasoning.insert("effort".into(), json!(effort.as_str()));
        }
        let summary =
            r.summary.as_deref().filter(|s| matches!(*s, "auto" | "concise" | "detailed")).unwrap_or("auto");
        reasoning.insert("summary".into(), json!(summary));
        body.insert("reasoning".into(), Value::Object(reasoning));
        body.insert("include".into(), json!(["reasoning.encrypted_content"]));
    }
    let s = &req.sampling;
    if let Some(n) = s.max_tokens {
        body.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(t) = s.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = s.top_p {
        body.insert("top_p".into(), json!(p));
    }
    sampling_losses(req, &mut losses);
    if let Some(format) = &req.output {
        let f = match format {
            OutputFormat::Text => json!({"type": "text"}),
            OutputFormat::JsonObject => json!({"type": "json_object"}),
            OutputFormat::JsonSchema { name, schema, strict } => {
                json!({"type": "json_schema", "name": name, "schema": schema, "strict": strict})
            }
        };
        body.insert("text".into(), json!({ "format": f }));
    }
    body.insert("store".into(), json!(false));
    body.insert("stream".into(), json!(req.stream));
    if let Some(k) = &req.metadata.prompt_cache_key {
        body.insert("prompt_cache_key".into(), json!(k));
    }
    if let Some(u) = &req.metadata.user {
        body.insert("safety_identifier".into(), json!(u));
    }
    if let Some(extra @ Value::Object(_)) = &req.metadata.extra {
        body.insert("metadata".into(), extra.clone());
    }
    let body = serde_json::to_vec(&Value::Object(body))
        .map_err(|e| ProtocolError::invalid(format!("cannot serialize the upstream request: {e}")))?;
    Ok(EncodedRequest { path: "/responses".into(), body, losses })
}

fn sampling_losses(req: &Request, losses: &mut Vec<Loss>) {
    let s = &req.sampling;
    let dropped: [(&str, bool); 5] = [
        ("stop", !s.stop.is_empty()),
        ("seed", s.seed.is_some()),
        ("top_k", s.top_k.is_some()),
        ("presence_penalty", s.presence_penalty.is_some()),
        ("frequency_penalty", s.frequency_penalty.is_some()),
    ];
    for (field, set) in dropped {
        if set {
            losses.push(Loss::new(field, "the Responses API has no such parameter; dropped"));
        }
    }
}

fn system_text(parts: &[Part], losses: &mut Vec<Loss>) -> String {
    let mut texts = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        match p {
            Part::Text { text, .. } => texts.push(text.as_str()),
            _ => losses.push(Loss::new(format!("system[{i}]"), "only text can be sent as instructions; dropped")),
        }
    }
    texts.join("\n\n")
}

/// One canonical message → input items, in order: runs of text/media become one `message`
/// item; calls, results and reasoning become their own items.
fn encode_message(m: &Message, path: &str, index: &ToolIndex, input: &mut Vec<Value>, losses: &mut Vec<Loss>) {
    let role = match m.role {
        Role::Tool => Role::User,
        r => r,
    };
    let mut run: Vec<&Part> = Vec::new();
    let flush = |run: &mut Vec<&Part>, input: &mut Vec<Value>, losses: &mut Vec<Loss>| {
        if run.is_empty() {
            return;
        }
        let parts: Vec<Part> = run.drain(..).cloned().collect();
        let content = content_out(&parts, role, path, losses);
        if !content.is_empty() {
            input.push(json!({"type": "message", "role": role_name(role), "content": content}));
        }
    };
    for (j, part) in m.parts.iter().enumerate() {
        match part {
            Part::Text { .. } | Part::Image { .. } | Part::File { .. } => run.push(part),
            Part::ToolCall(call) => {
                flush(&mut run, input, losses);
                input.push(call_item(call, index));
            }
            Part::ToolResult(result) => {
                flush(&mut run, input, losses);
                input.push(result_item(result, &format!("{path}.parts[{j}]"), losses));
            }
            Part::Reasoning(r) => {
                flush(&mut run, input, losses);
                match reasoning_item(r) {
                    Some(item) => input.push(item),
                    None => losses.push(Loss::new(
                        format!("{path}.parts[{j}]"),
                        "reasoning without OpenAI state cannot be replayed to this upstream; dropped",
                    )),
                }
            }
            Part::Unknown { origin: ME, value } => {
                flush(&mut run, input, losses);
                input.push(value.clone());
            }
            Part::Unknown { origin, .. } => losses.push(Loss::new(
                format!("{path}.parts[{j}]"),
                format!("{} content has no Responses equivalent; dropped", origin.name()),
            )),
        }
    }
    flush(&mut run, input, losses);
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::Assistant => "assistant",
        Role::User | Role::Tool => "user",
    }
}

/// Text and media parts as message content (`output_text` for the assistant, `input_*` otherwise).
fn content_out(parts: &[Part], role: Role, path: &str, losses: &mut Vec<Loss>) -> Vec<Value> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Part::Text { text, .. } if role == Role::Assistant => out.push(json!({"type": "output_text", "text": text})),
            Part::Text { text, .. } => out.push(json!({"type": "input_text", "text": text})),
            Part::Image { .. } | Part::File { .. } if role == Role::Assistant => {
                losses.push(Loss::new(path, "assistant images and files cannot be replayed; dropped"))
            }
            Part::Image { source, detail } => {
                let mut v = json!({"type": "input_image", "detail": detail.as_deref().unwrap_or("auto")});
                match source {
                    MediaSource::Url { url } => v["image_url"] = json!(url),
                    MediaSource::Base64 { media_type, data } => v["image_url"] = json!(data_url(media_type, data)),
                    MediaSource::FileId { id } => v["file_id"] = json!(id),
                }
                out.push(v);
            }
            Part::File { source, filename } => {
                let mut v = json!({"type": "input_file"});
                match source {
                    MediaSource::Url { url } => v["file_url"] = json!(url),
                    MediaSource::Base64 { media_type, data } => v["file_data"] = json!(data_url(media_type, data)),
                    MediaSource::FileId { id } => v["file_id"] = json!(id),
                }
                if let Some(name) = filename {
                    v["filename"] = json!(name);
                }
                out.push(v);
            }
            _ => losses.push(Loss::new(path, "this content cannot be sent as message content; dropped")),
        }
    }
    out
}

fn call_item(call: &ToolCall, index: &ToolIndex) -> Value {
    let (namespace, name) = index.split(&call.name);
    let mut item = if call.kind == ToolCallKind::Custom || index.is_custom(&call.name) {
        let input = match call.kind {
            ToolCallKind::Custom => call.arguments.clone(),
            ToolCallKind::Function => unwrap_custom_input(&call.arguments),
        };
        json!({"type": "custom_tool_call", "call_id": call.id, "name": name, "input": input})
    } else {
        json!({"type": "function_call", "call_id": call.id, "name": name, "arguments": call.arguments})
    };
    if let Some(ns) = namespace {
        item["namespace"] = json!(ns);
    }
    item
}

fn result_item(result: &ToolResult, path: &str, losses: &mut Vec<Loss>) -> Value {
    if result.is_error {
        losses.push(Loss::new(format!("{path}.is_error"), "the Responses API has no error flag on tool output"));
    }
    let output = if result.content.iter().all(|p| matches!(p, Part::Text { .. })) {
        let texts: Vec<&str> = result
            .content
            .iter()
            .filter_map(|p| match p {
                Part::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        json!(texts.join(""))
    } else {
        Value::Array(content_out(&result.content, Role::Tool, path, losses))
    };
    let ty = match result.kind {
        ToolCallKind::Custom => "custom_tool_call_output",
        ToolCallKind::Function => "function_call_output",
    };
    json!({"type": ty, "call_id": result.call_id, "output": output})
}

/// A replayable reasoning item, only for state OpenAI issued.
fn reasoning_item(r: &Reasoning) -> Option<Value> {
    let opaque = r.opaque.as_ref().filter(|o| o.origin == ME)?;
    let (id, encrypted) = unpack_reasoning_state(&opaque.payload);
    let summary: Vec<Value> = r.summary.iter().map(|s| json!({"type": "summary_text", "text": s})).collect();
    let mut item = json!({"type": "reasoning", "summary": summary, "encrypted_content": encrypted});
    if let Some(id) = id {
        item["id"] = json!(id);
    }
    Some(item)
}

fn tool_json(t: &ToolDef) -> Value {
    let mut v = match &t.kind {
        ToolKind::Function => json!({
            "type": "function",
            "name": t.name,
            "parameters": t.parameters,
            // Responses treats a missing `strict` as true; canonical `None` means "not strict".
            "strict": t.strict.unwrap_or(false),
        }),
        ToolKind::Custom { format } => {
            let mut v = json!({"type": "custom", "name": t.name});
            if let Some(f) = format {
                v["format"] = f.clone();
            }
            v
        }
    };
    if let Some(d) = &t.description {
        v["description"] = json!(d);
    }
    v
}

/// Tools in declaration order; namespaced tools regrouped under one `namespace` entry each.
fn encode_tools(tools: &[ToolDef]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut ns_slots: Vec<(String, usize)> = Vec::new();
    for t in tools {
        match &t.namespace {
            None => out.push(tool_json(t)),
            Some(ns) => {
                let slot = match ns_slots.iter().find(|(n, _)| n == ns) {
                    Some((_, slot)) => *slot,
                    None => {
                        out.push(json!({"type": "namespace", "name": ns, "tools": []}));
                        ns_slots.push((ns.clone(), out.len() - 1));
                        out.len() - 1
                    }
                };
                if let Some(Value::Array(inner)) = out.get_mut(slot).and_then(|v| v.get_mut("tools")) {
                    inner.push(tool_json(t));
                }
            }
        }
    }
    out
}

fn encode_tool_choice(choice: &ToolChoice, index: &ToolIndex) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named { name } => {
            let (namespace, inner) = index.split(name);
            let ty = if index.is_custom(name) { "custom" } else { "function" };
            let mut v = json!({"type": ty, "name": inner});
            if let Some(ns) = namespace {
                v["namespace"] = json!(ns);
            }
            v
        }
    }
}

// === client response ===

pub fn encode_response(resp: &Response, cx: &Cx) -> Result<Vec<u8>, ProtocolError> {
    let mut output: Vec<Box<RawValue>> = Vec::with_capacity(resp.parts.len());
    for part in &resp.parts {
        let i = output.len();
        let raw = match part {
            Part::Text { text, .. } => to_raw(&message_item(cx, i, text.clone(), "completed")),
            Part::Reasoning(r) => to_raw(&reasoning_out(cx, i, r)),
            Part::ToolCall(call) => to_raw(&call_out(cx, i, call, &call.arguments, "completed")),
            Part::Unknown { origin: ME, value } => to_raw(value),
            // Images, files and foreign unknown parts have no Responses output item.
            _ => continue,
        };
        output.push(raw?);
    }
    let id = response_id(&cx.id);
    let mut obj = ResponseObject::new(&id, cx.created, &resp.model, &output);
    let (status, incomplete) = terminal_status(resp.finish.as_ref());
    obj.status = status;
    obj.incomplete_details = incomplete;
    obj.usage = Some(usage_to_wire(&resp.usage));
    serde_json::to_vec(&obj).map_err(|e| ProtocolError::invalid(format!("cannot serialize the response: {e}")))
}

pub fn to_raw<T: serde::Serialize + ?Sized>(v: &T) -> Result<Box<RawValue>, ProtocolError> {
    serde_json::value::to_raw_value(v).map_err(|e| ProtocolError::invalid(format!("cannot serialize an output item: {e}")))
}

/// `completed`, or `incomplete` with its reason.
pub fn terminal_status(finish: Option<&FinishReason>) -> (&'static str, Option<IncompleteDetails>) {
    match finish {
        Some(FinishReason::Length) => ("incomplete", Some(IncompleteDetails { reason: "max_output_tokens".into() })),
        Some(FinishReason::ContentFilter) => ("incomplete", Some(IncompleteDetails { reason: "content_filter".into() })),
        _ => ("completed", None),
    }
}

pub fn message_item(cx: &Cx, output_index: usize, text: String, status: &'static str) -> OutItem {
    let content = if status == "completed" { vec![OutputText::new(text)] } else { Vec::new() };
    OutItem::Message { id: item_id("msg", &cx.id, output_index), status, role: "assistant", content }
}

/// A reasoning output item. Raw reasoning text is shown as the summary when there is no
/// summary (that is what Codex and the SDK display); `encrypted_content` carries the part back.
pub fn reasoning_out(cx: &Cx, output_index: usize, r: &Reasoning) -> OutItem {
    let (summary, content) = if r.summary.is_empty() {
        let summary = if r.text.is_empty() { Vec::new() } else { vec![SummaryText::new(r.text.clone())] };
        (summary, None)
    } else {
        let content = (!r.text.is_empty())
            .then(|| vec![ReasoningText { kind: "reasoning_text", text: r.text.clone() }]);
        (r.summary.iter().map(|s| SummaryText::new(s.clone())).collect(), content)
    };
    OutItem::Reasoning {
        id: item_id("rs", &cx.id, output_index),
        summary,
        content,
        encrypted_content: cx.codec.reasoning_token(ME, r),
    }
}

/// A call as the client declared the tool: `custom_tool_call` for custom tools (input
/// unwrapped when a function-only upstream wrapped it), `namespace` restored.
pub fn call_out(cx: &Cx, output_index: usize, call: &ToolCall, arguments: &str, status: &'static str) -> OutItem {
    let (namespace, name) = cx.tools.split(&call.name);
    let namespace = namespace.map(str::to_string);
    let call_id = if call.id.is_empty() { item_id("call", &cx.id, output_index) } else { call.id.clone() };
    if call.kind == ToolCallKind::Custom || cx.tools.is_custom(&call.name) {
        let input = match call.kind {
            ToolCallKind::Custom => arguments.to_string(),
            ToolCallKind::Function => unwrap_custom_input(arguments),
        };
        OutItem::CustomToolCall {
            id: item_id("ctc", &cx.id, output_index),
            status,
            call_id,
            name: name.to_string(),
            namespace,
            input,
        }
    } else {
        OutItem::FunctionCall {
            id: item_id("fc", &cx.id, output_index),
            status,
            call_id,
            name: name.to_string(),
            namespace,
            arguments: arguments.to_string(),
        }
    }
}
