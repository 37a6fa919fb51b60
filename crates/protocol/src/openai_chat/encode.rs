//! Canonical → Chat Completions wire: a request for an upstream (OpenAI or any
//! OpenAI-compatible server: vLLM, llama.cpp, Ollama, OpenRouter), and the non-streamed
//! response a Chat client gets.
//!
//! Upstream choices worth knowing:
//! - OpenAI reasoning-family models (`o1*`, `o3*`, `o4*`, `gpt-5*`) get `max_completion_tokens`,
//!   lose `temperature`/`top_p` while reasoning is on, and may get the `developer` role; every
//!   other model gets `max_tokens` and `system` (compatible servers often lack `developer`).
//! - Custom (freeform) tools become functions taking `{"input": string}`; calls come back as
//!   function calls and the client-side encoder restores them.
//! - Reasoning history is dropped (Chat has no field for it; foreign opaque state is a `Loss`).
//! - Images in tool results travel in a user message right after the tool messages.

use super::wire::{
    finish_to_wire, OutChoice, OutCompletion, OutCustom, OutFunction, OutFunctionDef, OutMessage,
    OutRequest, OutResponseMessage, OutTool, OutToolCall, OutUsage,
};
use crate::canonical::tools::{custom_tool_parameters, unwrap_custom_input, wrap_custom_input};
use crate::canonical::{
    Cx, Effort, Loss, MediaSource, Message, OutputFormat, Part, Protocol, ProtocolError, Request,
    Response, Role, ToolCall, ToolCallKind, ToolChoice, ToolDef, ToolIndex, ToolKind, ToolResult,
};
use crate::EncodedRequest;
use serde_json::{json, Value};
use std::borrow::Cow;

pub const PATH: &str = "/chat/completions";

/// OpenAI's reasoning models (also behind a router prefix such as `openai/gpt-5`).
pub fn is_reasoning_family(model: &str) -> bool {
    let m = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
    ["o1", "o3", "o4", "gpt-5"].iter().any(|p| m.starts_with(p))
}

pub fn encode_request(req: &Request, _cx: &Cx) -> Result<EncodedRequest, ProtocolError> {
    let mut losses = Vec::new();
    let reasoning_family = is_reasoning_family(&req.model);
    let reasoning_on = req.reasoning.as_ref().is_some_and(|r| !r.disabled());

    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        let role = system_role(req.system_is_developer, reasoning_family);
        messages.push(plain(role, content_value(&req.system, "system", &mut losses)));
    }
    for (i, m) in req.messages.iter().enumerate() {
        encode_message(m, i, reasoning_family, &mut messages, &mut losses);
    }

    let s = &req.sampling;
    let drop_sampling = reasoning_family && reasoning_on;
    let mut temperature = s.temperature;
    let mut top_p = s.top_p;
    if drop_sampling {
        for (field, present) in [("temperature", temperature.take()), ("top_p", top_p.take())] {
            if present.is_some() {
                losses.push(Loss::new(field, "not accepted by OpenAI reasoning models while reasoning is on"));
            }
        }
    }
    if s.top_k.is_some() {
        losses.push(Loss::new("top_k", "not part of the Chat Completions API"));
    }

    let mut body = OutRequest {
        model: &req.model,
        messages,
        tools: req.tools.iter().enumerate().map(|(i, t)| encode_tool(t, i, &mut losses)).collect(),
        tool_choice: req.tool_choice.as_ref().map(encode_tool_choice),
        parallel_tool_calls: req.parallel_tool_calls.filter(|_| !req.tools.is_empty()),
        max_tokens: None,
        max_completion_tokens: None,
        temperature,
        top_p,
        stop: s.stop.iter().map(String::as_str).collect(),
        seed: s.seed,
        presence_penalty: s.presence_penalty,
        frequency_penalty: s.frequency_penalty,
        reasoning_effort: None,
        response_format: req.output.as_ref().map(encode_output),
        stream: req.stream,
        stream_options: req.stream.then(|| json!({"include_usage": true})),
        user: req.metadata.user.as_deref(),
        prompt_cache_key: req.metadata.prompt_cache_key.as_deref(),
        store: req.metadata.store,
        metadata: None,
    };
    if reasoning_family {
        body.max_completion_tokens = s.max_tokens;
    } else {
        body.max_tokens = s.max_tokens;
    }
    if let Some(r) = &req.reasoning {
        body.reasoning_effort = match r.effort() {
            // "none" is the default for models that do not reason; do not confuse them.
            Some(Effort::None) if !reasoning_family => None,
            Some(e) => Some(e.as_str()),
            None => None,
        };
        if r.summary.is_some() {
            losses.push(Loss::new("reasoning.summary", "Chat Completions returns no reasoning summaries"));
        }
    }
    if let Some(extra) = &req.metadata.extra {
        // OpenAI accepts at most 16 string values.
        match extra.as_object() {
            Some(o) if o.len() <= 16 && o.values().all(Value::is_string) => body.metadata = Some(extra),
            _ => losses.push(Loss::new("metadata", "only up to 16 string values can be sent")),
        }
    }

    let body = serde_json::to_vec(&body)
        .map_err(|e| ProtocolError::invalid(format!("cannot serialize the upstream request: {e}")))?;
    Ok(EncodedRequest { path: PATH.to_string(), body, losses })
}

fn system_role(developer: bool, reasoning_family: bool) -> &'static str {
    if developer && reasoning_family {
        "developer"
    } else {
        "system"
    }
}

fn plain(role: &'static str, content: Value) -> OutMessage {
    OutMessage { role, content, tool_calls: Vec::new(), tool_call_id: None }
}

fn encode_message(
    m: &Message,
    i: usize,
    reasoning_family: bool,
    out: &mut Vec<OutMessage>,
    losses: &mut Vec<Loss>,
) {
    let path = format!("messages[{i}]");
    match m.role {
        Role::System => out.push(plain("system", content_value(&m.parts, &path, losses))),
        Role::Developer => {
            out.push(plain(system_role(true, reasoning_family), content_value(&m.parts, &path, losses)))
        }
        Role::User => {
            // Tool results inside a user turn (not canonical, but harmless) go first, as tool messages.
            let (results, rest): (Vec<&Part>, Vec<&Part>) =
                m.parts.iter().partition(|p| matches!(p, Part::ToolResult(_)));
            let had_results = !results.is_empty();
            if had_results {
                encode_tool_results(results, &path, out, losses);
            }
            if !rest.is_empty() || !had_results {
                let rest: Vec<Part> = rest.into_iter().cloned().collect();
                out.push(plain("user", content_value(&rest, &path, losses)));
            }
        }
        Role::Assistant => {
            if let Some(msg) = encode_assistant(&m.parts, &path, losses) {
                out.push(msg);
            }
        }
        Role::Tool => encode_tool_results(m.parts.iter().collect(), &path, out, losses),
    }
}

/// Content for system and user messages: a string when it is one text, else an array of parts.
fn content_value(parts: &[Part], path: &str, losses: &mut Vec<Loss>) -> Value {
    if let [Part::Text { text, .. }] = parts {
        return Value::String(text.clone());
    }
    let mut items = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        if let Some(v) = content_item(p, &format!("{path}.content[{j}]"), losses) {
            items.push(v);
        }
    }
    if items.is_empty() {
        return Value::String(String::new());
    }
    Value::Array(items)
}

fn content_item(p: &Part, path: &str, losses: &mut Vec<Loss>) -> Option<Value> {
    match p {
        Part::Text { text, .. } => Some(json!({"type": "text", "text": text})),
        Part::Image { source, detail } => {
            let url = match source {
                MediaSource::Url { url } => url.clone(),
                MediaSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
                MediaSource::FileId { .. } => {
                    losses.push(Loss::new(path, "images by file id cannot be sent to Chat Completions"));
                    return None;
                }
            };
            let mut image = json!({ "url": url });
            if let (Some(d), Some(o)) = (detail, image.as_object_mut()) {
                o.insert("detail".into(), Value::String(d.clone()));
            }
            Some(json!({"type": "image_url", "image_url": image}))
        }
        Part::File { source, filename } => {
            let mut file = serde_json::Map::new();
            match source {
                MediaSource::Base64 { media_type, data } => {
                    file.insert("file_data".into(), Value::String(format!("data:{media_type};base64,{data}")));
                }
                MediaSource::FileId { id } => {
                    file.insert("file_id".into(), Value::String(id.clone()));
                }
                MediaSource::Url { .. } => {
                    losses.push(Loss::new(path, "files by URL cannot be sent to Chat Completions"));
                    return None;
                }
            }
            if let Some(name) = filename {
                file.insert("filename".into(), Value::String(name.clone()));
            }
            Some(json!({"type": "file", "file": file}))
        }
        Part::Unknown { origin: Protocol::OpenaiChat, value } => Some(value.clone()),
        Part::Reasoning(r) => {
            reasoning_loss(r, path, losses);
            None
        }
        Part::Unknown { .. } | Part::ToolCall(_) | Part::ToolResult(_) => {
            losses.push(Loss::new(path, "this content has no Chat Completions equivalent here"));
            None
        }
    }
}

fn reasoning_loss(r: &crate::canonical::Reasoning, path: &str, losses: &mut Vec<Loss>) {
    if r.opaque.as_ref().is_some_and(|o| o.origin != Protocol::OpenaiChat) {
        losses.push(Loss::new(path, "reasoning state from another provider cannot be replayed"));
    }
}

fn encode_assistant(parts: &[Part], path: &str, losses: &mut Vec<Loss>) -> Option<OutMessage> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        let ppath = format!("{path}.content[{j}]");
        match p {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::ToolCall(tc) => {
                if tc.opaque.as_ref().is_some_and(|o| o.origin != Protocol::OpenaiChat) {
                    losses.push(Loss::new(&ppath, "tool-call state from another provider cannot be replayed"));
                }
                calls.push(upstream_tool_call(tc));
            }
            Part::Reasoning(r) => reasoning_loss(r, &ppath, losses),
            _ => losses.push(Loss::new(ppath, "assistant messages carry only text and tool calls")),
        }
    }
    if text.is_empty() && calls.is_empty() {
        return None;
    }
    let content = if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) };
    Some(OutMessage { role: "assistant", content, tool_calls: calls, tool_call_id: None })
}

/// A call as an upstream sees it: always a function (custom input wrapped as `{"input": ...}`).
fn upstream_tool_call(tc: &ToolCall) -> OutToolCall {
    let arguments = match tc.kind {
        ToolCallKind::Custom => wrap_custom_input(&tc.arguments),
        ToolCallKind::Function => tc.arguments.clone(),
    };
    OutToolCall {
        id: tc.id.clone(),
        kind: "function",
        function: Some(OutFunction { name: tc.name.clone(), arguments }),
        custom: None,
    }
}

/// One `tool` message per result; images and stray non-result parts follow in one user message.
fn encode_tool_results(parts: Vec<&Part>, path: &str, out: &mut Vec<OutMessage>, losses: &mut Vec<Loss>) {
    let mut follow_up: Vec<Part> = Vec::new();
    for (j, p) in parts.into_iter().enumerate() {
        let ppath = format!("{path}.content[{j}]");
        let Part::ToolResult(r) = p else {
            follow_up.push(p.clone());
            continue;
        };
        let (text, media) = split_result(r);
        if r.is_error {
            losses.push(Loss::new(format!("{ppath}.is_error"), "Chat tool messages have no error flag"));
        }
        let content = if text.is_empty() && !media.is_empty() {
            "(the tool returned images; they follow in the next message)".to_string()
        } else {
            text
        };
        out.push(OutMessage {
            role: "tool",
            content: Value::String(content),
            tool_calls: Vec::new(),
            tool_call_id: Some(r.call_id.clone()),
        });
        if !media.is_empty() {
            losses.push(Loss::new(&ppath, "tool-result images are sent in a following user message"));
            follow_up.push(Part::text(format!("Images returned by tool call {}:", r.call_id)));
            follow_up.extend(media);
        }
    }
    if !follow_up.is_empty() {
        out.push(plain("user", content_value(&follow_up, path, losses)));
    }
}

/// A tool result's text parts joined, and its images/files.
fn split_result(r: &ToolResult) -> (String, Vec<Part>) {
    let mut text = String::new();
    let mut media = Vec::new();
    for p in &r.content {
        match p {
            Part::Text { text: t, .. } => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(t);
            }
            other => media.push(other.clone()),
        }
    }
    (text, media)
}

fn encode_tool<'a>(t: &'a ToolDef, i: usize, losses: &mut Vec<Loss>) -> OutTool<'a> {
    let function = match &t.kind {
        ToolKind::Function => {
            let parameters = if t.parameters.is_object() {
                Cow::Borrowed(&t.parameters)
            } else {
                Cow::Owned(json!({"type": "object", "properties": {}}))
            };
            OutFunctionDef {
                name: t.flat_name(),
                description: t.description.as_deref().map(Cow::Borrowed),
                parameters,
                strict: t.strict,
            }
        }
        ToolKind::Custom { format } => {
            let mut description = t.description.clone().unwrap_or_default();
            if let Some(grammar) = format.as_ref().and_then(grammar_text) {
                losses.push(Loss::new(
                    format!("tools[{i}].format"),
                    "the grammar is not enforced; it is described to the model instead",
                ));
                if !description.is_empty() {
                    description.push_str("\n\n");
                }
                description.push_str(&grammar);
            }
            OutFunctionDef {
                name: t.flat_name(),
                description: (!description.is_empty()).then_some(Cow::Owned(description)),
                parameters: Cow::Owned(custom_tool_parameters()),
                strict: None,
            }
        }
    };
    OutTool { kind: "function", function }
}

/// A custom tool's `format` as description text (`{type: grammar, syntax, definition}`).
fn grammar_text(format: &Value) -> Option<String> {
    if format.get("type").and_then(Value::as_str) != Some("grammar") {
        return None;
    }
    let syntax = format.get("syntax").and_then(Value::as_str).unwrap_or("grammar");
    let definition = format.get("definition").and_then(Value::as_str)?;
    Some(format!("The `input` must follow this {syntax} grammar:\n{definition}"))
}

fn encode_tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named { name } => json!({"type": "function", "function": {"name": name}}),
    }
}

fn encode_output(o: &OutputFormat) -> Value {
    match o {
        OutputFormat::Text => json!({"type": "text"}),
        OutputFormat::JsonObject => json!({"type": "json_object"}),
        OutputFormat::JsonSchema { name, schema, strict } => {
            let name = if name.is_empty() { "response" } else { name.as_str() };
            json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}})
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client response

pub fn encode_response(resp: &Response, cx: &Cx) -> Result<Vec<u8>, ProtocolError> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for p in &resp.parts {
        match p {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::Reasoning(r) => reasoning.push_str(&reasoning_text(r)),
            Part::ToolCall(tc) => calls.push(client_tool_call(tc, cx)),
            _ => {}
        }
    }
    let id = format!("chatcmpl-{}", cx.id);
    let content = if !text.is_empty() || calls.is_empty() { Some(text) } else { None };
    let body = OutCompletion {
        id: &id,
        object: "chat.completion",
        created: cx.created,
        model: &resp.model,
        choices: [OutChoice {
            index: 0,
            finish_reason: finish_to_wire(resp.finish.as_ref(), !calls.is_empty()),
            message: OutResponseMessage {
                role: "assistant",
                content,
                refusal: None,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                tool_calls: calls,
            },
            logprobs: None,
        }],
        usage: OutUsage::from_canonical(&resp.usage),
    };
    serde_json::to_vec(&body).map_err(|e| ProtocolError::bad_upstream(format!("cannot serialize the response: {e}")))
}

/// The visible reasoning of a part: its text, or its summaries when it has none.
pub(super) fn reasoning_text(r: &crate::canonical::Reasoning) -> Cow<'_, str> {
    if r.text.is_empty() && !r.summary.is_empty() {
        Cow::Owned(r.summary.join("\n\n"))
    } else {
        Cow::Borrowed(r.text.as_str())
    }
}

/// Whether a call goes back to the client as a `custom` tool call.
pub(super) fn is_custom_for_client(kind: ToolCallKind, name: &str, tools: &ToolIndex) -> bool {
    kind == ToolCallKind::Custom || tools.is_custom(name)
}

/// The raw custom input: as is for a custom call, unwrapped from `{"input": ...}` for a function.
pub(super) fn custom_input(kind: ToolCallKind, arguments: &str) -> String {
    match kind {
        ToolCallKind::Custom => arguments.to_string(),
        ToolCallKind::Function => unwrap_custom_input(arguments),
    }
}

fn client_tool_call(tc: &ToolCall, cx: &Cx) -> OutToolCall {
    if is_custom_for_client(tc.kind, &tc.name, &cx.tools) {
        OutToolCall {
            id: tc.id.clone(),
            kind: "custom",
            function: None,
            custom: Some(OutCustom { name: tc.name.clone(), input: custom_input(tc.kind, &tc.arguments) }),
        }
    } else {
        OutToolCall {
            id: tc.id.clone(),
            kind: "function",
            function: Some(OutFunction { name: tc.name.clone(), arguments: tc.arguments.clone() }),
            custom: None,
        }
    }
}
