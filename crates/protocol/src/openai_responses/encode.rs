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
use super::wire::{
    ContentOut, IncompleteDetails, InputItemOut, OutItem, OutputText, ReasoningParamOut, ReasoningText, RequestOut,
    ResponseObject, SummaryText, TextOut, ToolOut, ToolOutputOut,
};
use crate::canonical::tools::unwrap_custom_input;
use crate::canonical::{
    Cx, FinishReason, Loss, MediaSource, Message, OutputFormat, Part, Protocol, ProtocolError, Reasoning, Request,
    Response, Role, ToolCall, ToolCallKind, ToolChoice, ToolDef, ToolIndex, ToolKind, ToolResult,
};
use crate::EncodedRequest;
use serde_json::value::RawValue;
use serde_json::{json, Value};

const ME: Protocol = Protocol::OpenaiResponses;

// === upstream request ===

pub fn encode_request(req: &Request, _cx: &Cx) -> Result<EncodedRequest, ProtocolError> {
    let mut losses = Vec::new();
    let index = ToolIndex::new(&req.tools);
    let mut input: Vec<InputItemOut> = Vec::with_capacity(req.messages.len() * 2);
    let mut instructions = None;
    if !req.system.is_empty() {
        if req.system_is_developer {
            let content = content_out(req.system.iter(), Role::Developer, "system", &mut losses);
            input.push(InputItemOut::Message { content, role: "developer", kind: "message" });
        } else {
            instructions = Some(system_text(&req.system, &mut losses));
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        encode_message(m, i, &index, &mut input, &mut losses);
    }
    let reasoning = req.reasoning.as_ref().map(|r| ReasoningParamOut {
        effort: r.effort().map(|e| e.as_str()),
        summary: r.summary.as_deref().filter(|s| matches!(*s, "auto" | "concise" | "detailed")).unwrap_or("auto"),
    });
    let s = &req.sampling;
    sampling_losses(req, &mut losses);
    let text = req.output.as_ref().map(|format| {
        let f = match format {
            OutputFormat::Text => json!({"type": "text"}),
            OutputFormat::JsonObject => json!({"type": "json_object"}),
            OutputFormat::JsonSchema { name, schema, strict } => {
                json!({"type": "json_schema", "name": name, "schema": schema, "strict": strict})
            }
        };
        json!({ "format": f })
    });
    let body = RequestOut {
        include: req.reasoning.is_some().then_some(["reasoning.encrypted_content"]),
        input,
        instructions,
        max_output_tokens: s.max_tokens,
        metadata: req.metadata.extra.as_ref().filter(|v| v.is_object()),
        model: &req.model,
        parallel_tool_calls: req.parallel_tool_calls,
        prompt_cache_key: req.metadata.prompt_cache_key.as_deref(),
        prompt_cache_retention: req.metadata.cache_retention.as_deref(),
        reasoning,
        safety_identifier: req.metadata.user.as_deref(),
        store: false,
        stream: req.stream,
        temperature: s.temperature,
        text,
        tool_choice: req.tool_choice.as_ref().map(|c| encode_tool_choice(c, &index)),
        tools: encode_tools(&req.tools),
        top_p: s.top_p,
    };
    let body = sonic_rs::to_vec(&body)
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
fn encode_message<'a>(
    m: &'a Message,
    i: usize,
    index: &'a ToolIndex,
    input: &mut Vec<InputItemOut<'a>>,
    losses: &mut Vec<Loss>,
) {
    let role = match m.role {
        Role::Tool => Role::User,
        r => r,
    };
    let path = || format!("messages[{i}]");
    // The text/media run waiting to become one `message` item: parts[start..end].
    let mut run = 0..0;
    let flush = |run: &mut std::ops::Range<usize>, input: &mut Vec<InputItemOut<'a>>, losses: &mut Vec<Loss>| {
        if run.start >= run.end {
            return;
        }
        let content = content_out(m.parts[run.clone()].iter(), role, &path(), losses);
        *run = run.end..run.end;
        if !content.is_empty() {
            input.push(InputItemOut::Message { content, role: role_name(role), kind: "message" });
        }
    };
    for (j, part) in m.parts.iter().enumerate() {
        match part {
            Part::Text { .. } | Part::Image { .. } | Part::File { .. } => {
                if run.start >= run.end {
                    run = j..j + 1;
                } else {
                    run.end = j + 1;
                }
            }
            Part::ToolCall(call) => {
                flush(&mut run, input, losses);
                input.push(call_item(call, index));
            }
            Part::ToolResult(result) => {
                flush(&mut run, input, losses);
                input.push(result_item(result, &format!("{}.parts[{j}]", path()), losses));
            }
            Part::Reasoning(r) => {
                flush(&mut run, input, losses);
                match reasoning_item(r) {
                    Some(item) => input.push(item),
                    None => losses.push(Loss::new(
                        format!("{}.parts[{j}]", path()),
                        "reasoning without OpenAI state cannot be replayed to this upstream; dropped",
                    )),
                }
            }
            Part::Unknown { origin: ME, value } => {
                flush(&mut run, input, losses);
                input.push(InputItemOut::Raw(value));
            }
            Part::Unknown { origin, .. } => losses.push(Loss::new(
                format!("{}.parts[{j}]", path()),
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
fn content_out<'a>(
    parts: impl ExactSizeIterator<Item = &'a Part>,
    role: Role,
    path: &str,
    losses: &mut Vec<Loss>,
) -> Vec<ContentOut<'a>> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Part::Text { text, .. } if role == Role::Assistant => {
                out.push(ContentOut::Text(TextOut { text, kind: "output_text" }))
            }
            Part::Text { text, .. } => out.push(ContentOut::Text(TextOut { text, kind: "input_text" })),
            Part::Image { .. } | Part::File { .. } if role == Role::Assistant => {
                losses.push(Loss::new(path, "assistant images and files cannot be replayed; dropped"))
            }
            Part::Image { source, detail } => {
                let (image_url, file_id) = match source {
                    MediaSource::Url { url } => (Some(url.clone()), None),
                    MediaSource::Base64 { media_type, data } => (Some(data_url(media_type, data)), None),
                    MediaSource::FileId { id } => (None, Some(id.as_str())),
                };
                let detail = detail.as_deref().unwrap_or("auto");
                out.push(ContentOut::Image { detail, file_id, image_url, kind: "input_image" });
            }
            Part::File { source, filename } => {
                let (file_url, file_data, file_id) = match source {
                    MediaSource::Url { url } => (Some(url.as_str()), None, None),
                    MediaSource::Base64 { media_type, data } => (None, Some(data_url(media_type, data)), None),
                    MediaSource::FileId { id } => (None, None, Some(id.as_str())),
                };
                let filename = filename.as_deref();
                out.push(ContentOut::File { file_data, file_id, file_url, filename, kind: "input_file" });
            }
            _ => losses.push(Loss::new(path, "this content cannot be sent as message content; dropped")),
        }
    }
    out
}

fn call_item<'a>(call: &'a ToolCall, index: &'a ToolIndex) -> InputItemOut<'a> {
    let (namespace, name) = index.split(&call.name);
    if call.kind == ToolCallKind::Custom || index.is_custom(&call.name) {
        let input = match call.kind {
            ToolCallKind::Custom => call.arguments.clone(),
            ToolCallKind::Function => unwrap_custom_input(&call.arguments),
        };
        InputItemOut::CustomToolCall { call_id: &call.id, input, name, namespace, kind: "custom_tool_call" }
    } else {
        InputItemOut::FunctionCall {
            arguments: &call.arguments,
            call_id: &call.id,
            name,
            namespace,
            kind: "function_call",
        }
    }
}

fn result_item<'a>(result: &'a ToolResult, path: &str, losses: &mut Vec<Loss>) -> InputItemOut<'a> {
    if result.is_error {
        losses.push(Loss::new(format!("{path}.is_error"), "the Responses API has no error flag on tool output"));
    }
    let output = if result.content.iter().all(|p| matches!(p, Part::Text { .. })) {
        let mut text = String::new();
        for p in &result.content {
            if let Part::Text { text: t, .. } = p {
                text.push_str(t);
            }
        }
        ToolOutputOut::Text(text)
    } else {
        ToolOutputOut::Parts(content_out(result.content.iter(), Role::Tool, path, losses))
    };
    let kind = match result.kind {
        ToolCallKind::Custom => "custom_tool_call_output",
        ToolCallKind::Function => "function_call_output",
    };
    InputItemOut::ToolOutput { call_id: &result.call_id, output, kind }
}

/// A replayable reasoning item, only for state OpenAI issued.
fn reasoning_item(r: &Reasoning) -> Option<InputItemOut<'_>> {
    let opaque = r.opaque.as_ref().filter(|o| o.origin == ME)?;
    let (id, encrypted_content) = unpack_reasoning_state(&opaque.payload);
    let summary = r.summary.iter().map(|s| TextOut { text: s, kind: "summary_text" }).collect();
    Some(InputItemOut::Reasoning { encrypted_content, id, summary, kind: "reasoning" })
}

fn tool_out(t: &ToolDef) -> ToolOut<'_> {
    let description = t.description.as_deref();
    match &t.kind {
        ToolKind::Function => ToolOut::Function {
            description,
            name: &t.name,
            parameters: &t.parameters,
            // Responses treats a missing `strict` as true; canonical `None` means "not strict".
            strict: t.strict.unwrap_or(false),
            kind: "function",
        },
        ToolKind::Custom { format } => {
            ToolOut::Custom { description, format: format.as_ref(), name: &t.name, kind: "custom" }
        }
    }
}

/// Tools in declaration order; namespaced tools regrouped under one `namespace` entry each.
fn encode_tools(tools: &[ToolDef]) -> Vec<ToolOut<'_>> {
    let mut out: Vec<ToolOut> = Vec::with_capacity(tools.len());
    let mut ns_slots: Vec<(&str, usize)> = Vec::new();
    for t in tools {
        match &t.namespace {
            None => out.push(tool_out(t)),
            Some(ns) => {
                let slot = match ns_slots.iter().find(|(n, _)| n == ns) {
                    Some((_, slot)) => *slot,
                    None => {
                        out.push(ToolOut::Namespace { name: ns, tools: Vec::new(), kind: "namespace" });
                        ns_slots.push((ns, out.len() - 1));
                        out.len() - 1
                    }
                };
                if let Some(ToolOut::Namespace { tools, .. }) = out.get_mut(slot) {
                    tools.push(tool_out(t));
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
            Part::ToolCall(call) => {
                let call = client_call(cx, i, call);
                to_raw(&call_out(cx, i, &call, &call.arguments, "completed"))
            }
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
    serde_json::value::to_raw_value(v)
        .map_err(|e| ProtocolError::invalid(format!("cannot serialize an output item: {e}")))
}

/// `completed`, or `incomplete` with its reason.
pub fn terminal_status(finish: Option<&FinishReason>) -> (&'static str, Option<IncompleteDetails>) {
    match finish {
        Some(FinishReason::Length) => ("incomplete", Some(IncompleteDetails { reason: "max_output_tokens".into() })),
        Some(FinishReason::ContentFilter) => {
            ("incomplete", Some(IncompleteDetails { reason: "content_filter".into() }))
        }
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
        let content =
            (!r.text.is_empty()).then(|| vec![ReasoningText { kind: "reasoning_text", text: r.text.clone() }]);
        (r.summary.iter().map(|s| SummaryText::new(s.clone())).collect(), content)
    };
    OutItem::Reasoning {
        id: item_id("rs", &cx.id, output_index),
        summary,
        content,
        encrypted_content: cx.codec.reasoning_token(ME, r),
    }
}

/// The call as the client sees it: its `call_id` minted when the upstream gave none, and sealed
/// with the call's state when that state is foreign (Gemini's signature on a `functionCall`):
/// `call_id` is the one field of a call every Responses client hands back (see `opaque`).
pub fn client_call(cx: &Cx, output_index: usize, call: &ToolCall) -> ToolCall {
    let id = if call.id.is_empty() { item_id("call", &cx.id, output_index) } else { call.id.clone() };
    ToolCall {
        id: cx.codec.client_call_id(ME, &id, call.opaque.as_ref(), Vec::new()),
        name: call.name.clone(),
        arguments: call.arguments.clone(),
        kind: call.kind,
        opaque: None,
    }
}

/// A call as the client declared the tool (`call` as made by `client_call`): `custom_tool_call` for custom tools (input
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
