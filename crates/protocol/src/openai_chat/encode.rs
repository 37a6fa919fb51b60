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
//!
//! Client side: a call with provider state, or after signed reasoning, gets a sealed id
//! (`client_call_id`; `canonical::opaque` expands it on the next turn).
//! - Images in tool results travel in a user message right after the tool messages.

use super::encode_messages::{content_value, encode_message, plain, system_role};
use super::wire::{
    finish_to_wire, OutChoice, OutCompletion, OutCustom, OutFunction, OutFunctionDef, OutRequest, OutResponseMessage,
    OutTool, OutToolCall, OutUsage,
};
use crate::canonical::tools::{custom_tool_parameters, unwrap_custom_input};
use crate::canonical::{
    Cx, Effort, Loss, OutputFormat, Part, Protocol, ProtocolError, Reasoning, Request, Response, ToolCall,
    ToolCallKind, ToolChoice, ToolDef, ToolIndex, ToolKind,
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
        // OpenAI rejects `tool_choice` and `parallel_tool_calls` without `tools`.
        tool_choice: req.tool_choice.as_ref().filter(|_| !req.tools.is_empty()).map(encode_tool_choice),
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
        prompt_cache_retention: req.metadata.cache_retention.as_deref(),
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

    let body = sonic_rs::to_vec(&body)
        .map_err(|e| ProtocolError::invalid(format!("cannot serialize the upstream request: {e}")))?;
    Ok(EncodedRequest { path: PATH.to_string(), body, losses })
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
    // Signed reasoning waiting for the next call's id (Chat has no reasoning slot of its own).
    let mut signed = Vec::new();
    for p in &resp.parts {
        match p {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::Reasoning(r) => {
                let t = reasoning_text(r);
                if !reasoning.is_empty() && !t.is_empty() {
                    reasoning.push_str("\n\n");
                }
                reasoning.push_str(&t);
                if r.opaque.is_some() {
                    signed.push(r.clone());
                }
            }
            Part::ToolCall(tc) => {
                let id = client_call_id(cx, tc, std::mem::take(&mut signed));
                calls.push(client_tool_call(tc, id, cx));
            }
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

/// The id a Chat client sees for a call: sealed (see `opaque`) when the call has provider state
/// (Gemini's signature) or follows signed reasoning (an Anthropic thinking signature, OpenAI
/// encrypted reasoning), since a tool call's id is the only thing a Chat client hands back
/// verbatim. Signed reasoning with no call after it has no way back from a Chat client.
pub(super) fn client_call_id(cx: &Cx, tc: &ToolCall, signed: Vec<Reasoning>) -> String {
    cx.codec.client_call_id(Protocol::OpenaiChat, &tc.id, tc.opaque.as_ref(), signed)
}

fn client_tool_call(tc: &ToolCall, id: String, cx: &Cx) -> OutToolCall {
    if is_custom_for_client(tc.kind, &tc.name, &cx.tools) {
        OutToolCall {
            id,
            kind: "custom",
            function: None,
            custom: Some(OutCustom { name: tc.name.clone(), input: custom_input(tc.kind, &tc.arguments) }),
        }
    } else {
        OutToolCall {
            id,
            kind: "function",
            function: Some(OutFunction { name: tc.name.clone(), arguments: tc.arguments.clone() }),
            custom: None,
        }
    }
}
