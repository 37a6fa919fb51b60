//! Canonical `Request` → a `GenerateContentRequest` for generativelanguage.googleapis.com.
//!
//! - Path: `/v1beta/models/{model}:generateContent`, or `:streamGenerateContent?alt=sse` when
//!   streaming (a model already spelled `models/…` or `tunedModels/…` is used as is).
//! - Roles: assistant → `model`; user, tool results, and mid-conversation system/developer
//!   text → `user`; consecutive contents of the same role are merged (Gemini wants turns).
//! - Tool results → `functionResponse {id, name, response: {output}}` (`{error}` on failure);
//!   images in results follow the responses as `inlineData`/`fileData` parts.
//! - Signatures: Gemini-origin state is replayed (`{text, thought: true, thoughtSignature}` for
//!   signed thoughts; a signature-only reasoning part moves onto the next part of the turn, or
//!   the previous one); foreign state is dropped with a `Loss`. The first `functionCall` of a
//!   model turn without a signature gets Google's `skip_thought_signature_validator`.
//! - Function names go through `names::sanitize`, schemas through `schema`.

use super::convert::{args_to_wire, media_to_wire, SKIP_SIGNATURE};
use super::names::sanitize;
use super::schema::{parameters_to_gemini, to_gemini};
use super::wire::{
    Content, FunctionCall, FunctionCallingConfig, FunctionDeclaration, FunctionResponse, GenerateContentRequest,
    GenerationConfig, StringOrList, ThinkingConfig, Tool, ToolConfig, WirePart,
};
use crate::canonical::tools::custom_tool_parameters;
use crate::canonical::{
    Cx, Loss, Message, OutputFormat, Part, Protocol, ProtocolError, ReasoningConfig, Request, Role, ToolCallKind,
    ToolChoice, ToolResult,
};
use crate::EncodedRequest;
use std::collections::HashMap;

/// Gemini accepts at most this many stop sequences.
const MAX_STOP: usize = 5;

pub fn encode_request(req: &Request, _cx: &Cx) -> Result<EncodedRequest, ProtocolError> {
    if req.model.is_empty() {
        return Err(ProtocolError::invalid("no upstream model set for the Gemini request"));
    }
    let mut losses = Vec::new();
    let system_instruction = system(&req.system, &mut losses);
    let contents = contents(&req.messages, &mut losses);
    let tools = tools(req);
    let tool_config = if tools.is_empty() { None } else { req.tool_choice.as_ref().map(tool_config) };
    if req.parallel_tool_calls == Some(false) {
        losses.push(Loss::new("parallel_tool_calls", "Gemini cannot be told to call one function at a time"));
    }
    let generation_config = generation_config(req, &mut losses);
    let wire = GenerateContentRequest {
        contents,
        system_instruction,
        tools: if tools.is_empty() { Vec::new() } else { vec![Tool { function_declarations: tools }] },
        tool_config,
        generation_config,
    };
    let body = sonic_rs::to_vec(&wire).map_err(|e| ProtocolError::invalid(format!("cannot encode request: {e}")))?;
    Ok(EncodedRequest { path: path(&req.model, req.stream), body, losses })
}

fn path(model: &str, stream: bool) -> String {
    let resource = if model.starts_with("models/") || model.starts_with("tunedModels/") {
        model.to_string()
    } else {
        format!("models/{model}")
    };
    if stream {
        format!("/v1beta/{resource}:streamGenerateContent?alt=sse")
    } else {
        format!("/v1beta/{resource}:generateContent")
    }
}

fn system(parts: &[Part], losses: &mut Vec<Loss>) -> Option<Content> {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        match p {
            Part::Text { text, .. } => out.push(WirePart::text(text.clone())),
            _ => losses.push(Loss::new(format!("system[{i}]"), "Gemini system instructions hold text only")),
        }
    }
    (!out.is_empty()).then_some(Content { role: None, parts: out })
}

/// Consecutive contents of one role, merged.
#[derive(Default)]
struct Turns {
    contents: Vec<Content>,
}

impl Turns {
    fn push(&mut self, role: &str, parts: Vec<WirePart>) {
        if parts.is_empty() {
            return;
        }
        match self.contents.last_mut() {
            Some(c) if c.role.as_deref() == Some(role) => c.parts.extend(parts),
            _ => self.contents.push(Content { role: Some(role.into()), parts }),
        }
    }
}

fn contents(messages: &[Message], losses: &mut Vec<Loss>) -> Vec<Content> {
    let mut turns = Turns::default();
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        match m.role {
            Role::Assistant => {
                for p in &m.parts {
                    if let Part::ToolCall(c) = p {
                        call_names.insert(c.id.as_str(), c.name.as_str());
                    }
                }
                turns.push("model", model_parts(i, &m.parts, losses));
            }
            Role::User | Role::System | Role::Developer | Role::Tool => {
                turns.push("user", user_parts(i, &m.parts, &call_names, losses));
            }
        }
    }
    // Gemini 3 wants a signature on the first call of every model step.
    for c in &mut turns.contents {
        if c.role.as_deref() != Some("model") {
            continue;
        }
        if let Some(first) = c.parts.iter_mut().find(|p| p.function_call.is_some()) {
            if first.thought_signature.is_none() {
                first.thought_signature = Some(SKIP_SIGNATURE.into());
            }
        }
    }
    turns.contents
}

fn model_parts(i: usize, parts: &[Part], losses: &mut Vec<Loss>) -> Vec<WirePart> {
    let mut out: Vec<WirePart> = Vec::new();
    // A signature that stood alone (Gemini put it on a text or empty part): it goes on the
    // next part of this turn, else back on the previous one.
    let mut pending: Option<String> = None;
    for (j, p) in parts.iter().enumerate() {
        let field = || format!("messages[{i}].parts[{j}]");
        let mut wp = match p {
            Part::Reasoning(r) => {
                match &r.opaque {
                    Some(o) if o.origin == Protocol::Gemini => {
                        if r.text.is_empty() {
                            pending = Some(o.payload.clone());
                        } else {
                            let mut t = WirePart::thought(r.text.clone());
                            t.thought_signature = Some(o.payload.clone());
                            out.push(t);
                        }
                    }
                    Some(o) => losses.push(Loss::new(
                        field(),
                        format!("reasoning state from {} cannot be replayed to Gemini", o.origin.name()),
                    )),
                    // Unsigned thought text: Gemini reads nothing from it.
                    None => {}
                }
                continue;
            }
            Part::Text { text, .. } if text.is_empty() => continue,
            Part::Text { text, .. } => WirePart::text(text.clone()),
            Part::ToolCall(c) => {
                let args = match c.kind {
                    ToolCallKind::Custom => serde_json::json!({ "input": c.arguments }),
                    ToolCallKind::Function => args_to_wire(&c.arguments),
                };
                let mut wp = WirePart {
                    function_call: Some(FunctionCall {
                        id: Some(c.id.clone()),
                        name: sanitize(&c.name),
                        args: Some(args),
                    }),
                    ..Default::default()
                };
                match &c.opaque {
                    Some(o) if o.origin == Protocol::Gemini => wp.thought_signature = Some(o.payload.clone()),
                    Some(o) => losses.push(Loss::new(
                        field(),
                        format!("tool-call state from {} cannot be replayed to Gemini", o.origin.name()),
                    )),
                    None => {}
                }
                wp
            }
            Part::Image { source, .. } | Part::File { source, .. } => {
                match media_to_wire(source, matches!(p, Part::Image { .. })) {
                    Some(wp) => wp,
                    None => {
                        losses.push(Loss::new(field(), "provider file ids cannot be sent to Gemini"));
                        continue;
                    }
                }
            }
            Part::Unknown { origin: Protocol::Gemini, value } => {
                match serde_json::from_value::<WirePart>(value.clone()) {
                    Ok(wp) => wp,
                    Err(_) => continue,
                }
            }
            Part::Unknown { origin, .. } => {
                losses.push(Loss::new(field(), format!("{} content has no Gemini equivalent", origin.name())));
                continue;
            }
            Part::ToolResult(_) => {
                losses.push(Loss::new(field(), "a tool result inside an assistant turn is not sent"));
                continue;
            }
        };
        if wp.thought_signature.is_none() {
            wp.thought_signature = pending.take();
        }
        out.push(wp);
    }
    if let Some(sig) = pending {
        match out.iter_mut().rev().find(|p| p.thought_signature.is_none()) {
            Some(last) => last.thought_signature = Some(sig),
            None => {
                let mut p = WirePart::thought("");
                p.thought_signature = Some(sig);
                out.push(p);
            }
        }
    }
    out
}

fn user_parts(i: usize, parts: &[Part], call_names: &HashMap<&str, &str>, losses: &mut Vec<Loss>) -> Vec<WirePart> {
    let mut out = Vec::new();
    // Media from tool results go after all the function responses.
    let mut trailing = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        let field = || format!("messages[{i}].parts[{j}]");
        match p {
            Part::Text { text, .. } => {
                if !text.is_empty() {
                    out.push(WirePart::text(text.clone()));
                }
            }
            Part::Image { source, .. } | Part::File { source, .. } => {
                match media_to_wire(source, matches!(p, Part::Image { .. })) {
                    Some(wp) => out.push(wp),
                    None => losses.push(Loss::new(field(), "provider file ids cannot be sent to Gemini")),
                }
            }
            Part::ToolResult(r) => out.push(function_response(r, call_names, &mut trailing, &field, losses)),
            Part::Unknown { origin: Protocol::Gemini, value } => {
                if let Ok(wp) = serde_json::from_value::<WirePart>(value.clone()) {
                    out.push(wp);
                }
            }
            Part::Unknown { origin, .. } => {
                losses.push(Loss::new(field(), format!("{} content has no Gemini equivalent", origin.name())));
            }
            Part::Reasoning(_) | Part::ToolCall(_) => {
                losses.push(Loss::new(field(), "reasoning or tool calls inside a user turn are not sent"));
            }
        }
    }
    out.extend(trailing);
    out
}

fn function_response(
    r: &ToolResult,
    call_names: &HashMap<&str, &str>,
    trailing: &mut Vec<WirePart>,
    field: &dyn Fn() -> String,
    losses: &mut Vec<Loss>,
) -> WirePart {
    let name = match r.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => match call_names.get(r.call_id.as_str()) {
            Some(n) => n.to_string(),
            None => {
                losses.push(Loss::new(field(), "tool result for an unknown call; its function name is a guess"));
                "unknown_function".to_string()
            }
        },
    };
    let mut texts = Vec::new();
    for (k, p) in r.content.iter().enumerate() {
        match p {
            Part::Text { text, .. } => texts.push(text.as_str()),
            Part::Image { source, .. } | Part::File { source, .. } => {
                match media_to_wire(source, matches!(p, Part::Image { .. })) {
                    Some(wp) => trailing.push(wp),
                    None => losses.push(Loss::new(
                        format!("{}.content[{k}]", field()),
                        "provider file ids cannot be sent to Gemini",
                    )),
                }
            }
            _ => losses
                .push(Loss::new(format!("{}.content[{k}]", field()), "only text and media are sent in tool results")),
        }
    }
    let text = texts.join("\n");
    let response =
        if r.is_error { serde_json::json!({ "error": text }) } else { serde_json::json!({ "output": text }) };
    WirePart {
        function_response: Some(FunctionResponse {
            id: Some(r.call_id.clone()).filter(|s| !s.is_empty()),
            name: sanitize(&name),
            response: Some(response),
            parts: Vec::new(),
        }),
        ..Default::default()
    }
}

fn tools(req: &Request) -> Vec<FunctionDeclaration> {
    req.tools
        .iter()
        .map(|t| {
            let schema = if t.is_custom() { custom_tool_parameters() } else { t.parameters.clone() };
            FunctionDeclaration {
                name: sanitize(&t.flat_name()),
                description: t.description.clone().filter(|d| !d.is_empty()),
                parameters: Some(parameters_to_gemini(&schema)),
                parameters_json_schema: None,
                behavior: None,
            }
        })
        .collect()
}

fn tool_config(choice: &ToolChoice) -> ToolConfig {
    let (mode, allowed) = match choice {
        ToolChoice::Auto => ("AUTO", None),
        ToolChoice::None => ("NONE", None),
        ToolChoice::Required => ("ANY", None),
        ToolChoice::Named { name } => ("ANY", Some(vec![sanitize(name)])),
    };
    ToolConfig {
        function_calling_config: Some(FunctionCallingConfig {
            mode: Some(mode.into()),
            allowed_function_names: allowed,
        }),
    }
}

fn generation_config(req: &Request, losses: &mut Vec<Loss>) -> Option<GenerationConfig> {
    let s = &req.sampling;
    let mut stop = s.stop.clone();
    if stop.len() > MAX_STOP {
        stop.truncate(MAX_STOP);
        losses
            .push(Loss::new("stop", format!("Gemini takes at most {MAX_STOP} stop sequences; the rest were dropped")));
    }
    let mut gc = GenerationConfig {
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k.map(serde_json::Number::from),
        max_output_tokens: s.max_tokens.map(serde_json::Number::from),
        stop_sequences: (!stop.is_empty()).then_some(StringOrList::Many(stop)),
        seed: s.seed.map(serde_json::Number::from),
        presence_penalty: s.presence_penalty,
        frequency_penalty: s.frequency_penalty,
        ..Default::default()
    };
    match &req.output {
        None | Some(OutputFormat::Text) => {}
        Some(OutputFormat::JsonObject) => gc.response_mime_type = Some("application/json".into()),
        Some(OutputFormat::JsonSchema { schema, .. }) => {
            gc.response_mime_type = Some("application/json".into());
            gc.response_schema = Some(to_gemini(schema));
        }
    }
    gc.thinking_config = req.reasoning.as_ref().and_then(thinking_config);
    (gc != GenerationConfig::default()).then_some(gc)
}

/// Budget (0 = off, -1 = adaptive) and whether to return thought summaries.
fn thinking_config(rc: &ReasoningConfig) -> Option<ThinkingConfig> {
    let budget = match rc.budget() {
        Some(b) => Some(i64::from(b)),
        None if rc.adaptive => Some(-1),
        None => None,
    };
    let include = if rc.disabled() { None } else { Some(rc.include_thoughts.unwrap_or(true)) };
    let tc = ThinkingConfig { include_thoughts: include, thinking_budget: budget, thinking_level: None };
    (tc != ThinkingConfig::default()).then_some(tc)
}
