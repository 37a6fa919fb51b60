//! OpenAI Responses wire → canonical: a client's request, and an upstream's non-streamed reply.
//!
//! Request fields (Codex 0.169, OpenCode, the `openai` SDK):
//!
//! | field | canonical |
//! |---|---|
//! | `instructions`, leading `system`/`developer` items | `system` (`system_is_developer` when a developer message led) |
//! | `input` (string or items) | `messages` (see `input.rs`) |
//! | `tools` `function` / `custom` / `namespace` | `tools` (namespaces flattened, `namespace` set) |
//! | hosted tools (`web_search`, `file_search`, `mcp`, …) | dropped with a `Loss` |
//! | `tool_choice`, `parallel_tool_calls` | same |
//! | `reasoning {effort, summary}` | `reasoning` |
//! | `max_output_tokens`, `temperature`, `top_p` | `sampling` |
//! | `text.format` | `output`; `text.verbosity` → `Loss` |
//! | `store`, `prompt_cache_key`, `prompt_cache_retention`, `metadata`, `safety_identifier`/`user` | `metadata` |
//! | `client_metadata`, `service_tier`, `truncation: auto`, `top_logprobs`, `max_tool_calls` | `Loss` |
//! | `previous_response_id`, `conversation`, `prompt`, `background: true`, `item_reference`, `compaction_trigger` | `Unsupported` |
//! | `include`, `stream_options`, `internal_*` and unknown fields | ignored |

use super::common::{flat_name, pack_reasoning_state, usage_from_wire};
use super::input::{parse, InputDecoder};
use super::wire::{
    kind_of, CustomTool, FunctionTool, NamespaceTool, ReasoningParam, ResponseHead, StreamItemIn, TextParam, TextPiece,
};
use crate::canonical::{
    Cx, Effort, FinishReason, Loss, Message, Metadata, Opaque, OutputFormat, Part, Protocol, ProtocolError, Reasoning,
    ReasoningConfig, Request, Response, Role, ToolCall, ToolCallKind, ToolChoice, ToolDef, ToolKind,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

const ME: Protocol = Protocol::OpenaiResponses;

/// Hosted tools crossbar cannot run; they are dropped (named) rather than failing the request.
const HOSTED_TOOLS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "file_search",
    "image_generation",
    "local_shell",
    "code_interpreter",
    "tool_search",
    "mcp",
    "computer_use_preview",
    "computer_use",
    "shell",
    "apply_patch",
];

fn field<T: DeserializeOwned>(obj: &Map<String, Value>, key: &str) -> Result<Option<T>, ProtocolError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse(v, key).map(Some),
    }
}

pub fn decode_request(body: &[u8], cx: &Cx) -> Result<Request, ProtocolError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| ProtocolError::invalid(format!("request body is not valid JSON: {e}")))?;
    let Some(obj) = root.as_object() else {
        return Err(ProtocolError::invalid(format!("request body must be a JSON object, got {}", kind_of(&root))));
    };
    refuse_stateful(obj)?;

    let mut req = Request {
        model: field::<String>(obj, "model")?
            .ok_or_else(|| ProtocolError::invalid_param("model", "`model` is required"))?,
        stream: field::<bool>(obj, "stream")?.unwrap_or(false),
        parallel_tool_calls: field(obj, "parallel_tool_calls")?,
        ..Request::default()
    };

    let instructions: Option<String> = field(obj, "instructions")?;
    if let Some(text) = instructions.as_deref().filter(|t| !t.is_empty()) {
        req.system.push(Part::text(text));
    }
    let mut input = InputDecoder::new(cx, !req.system.is_empty());
    match obj.get("input") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => req.messages.push(Message { role: Role::User, parts: vec![Part::text(s.clone())] }),
        Some(Value::Array(items)) => input.items(items, &mut req)?,
        Some(other) => {
            return Err(ProtocolError::invalid_param(
                "input",
                format!("`input` must be a string or an array of items, got {}", kind_of(other)),
            ))
        }
    }
    req.system_is_developer = input.system_is_developer();

    if let Some(tools) = field::<Vec<Value>>(obj, "tools")? {
        req.tools = decode_tools(&tools, "tools", None, &mut req.losses)?;
    }
    if let Some(choice) = obj.get("tool_choice").filter(|v| !v.is_null()) {
        req.tool_choice = decode_tool_choice(choice, &mut req.losses)?;
    }
    if let Some(r) = field::<ReasoningParam>(obj, "reasoning")? {
        req.reasoning = Some(decode_reasoning(r, &mut req.losses));
    }
    req.sampling.max_tokens = field(obj, "max_output_tokens")?;
    req.sampling.temperature = field(obj, "temperature")?;
    req.sampling.top_p = field(obj, "top_p")?;
    if let Some(text) = field::<TextParam>(obj, "text")? {
        if let Some(format) = text.format {
            req.output = decode_format(&format)?;
        }
        if text.verbosity.is_some() {
            req.losses.push(Loss::new("text.verbosity", "output verbosity has no equivalent upstream; dropped"));
        }
    }
    req.metadata = Metadata {
        user: field::<String>(obj, "safety_identifier")?.or(field(obj, "user")?),
        prompt_cache_key: field(obj, "prompt_cache_key")?,
        cache_retention: field(obj, "prompt_cache_retention")?,
        store: field(obj, "store")?,
        extra: obj.get("metadata").filter(|v| v.is_object()).cloned(),
    };
    harmless_drops(obj, &mut req.losses)?;
    Ok(req)
}

/// Fields that need server-side state crossbar does not keep.
fn refuse_stateful(obj: &Map<String, Value>) -> Result<(), ProtocolError> {
    let set = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    if set("previous_response_id") {
        return Err(ProtocolError::unsupported(
            "previous_response_id",
            "crossbar is stateless: send the whole conversation in `input` (with `store: false`)",
        ));
    }
    if set("conversation") {
        return Err(ProtocolError::unsupported(
            "conversation",
            "crossbar is stateless: stored conversations are not available",
        ));
    }
    if set("prompt") {
        return Err(ProtocolError::unsupported("prompt", "stored prompt templates are not available through crossbar"));
    }
    if obj.get("background") == Some(&Value::Bool(true)) {
        return Err(ProtocolError::unsupported("background", "background responses need server-side storage"));
    }
    Ok(())
}

fn harmless_drops(obj: &Map<String, Value>, losses: &mut Vec<Loss>) -> Result<(), ProtocolError> {
    if obj.get("client_metadata").is_some_and(|v| !v.is_null()) {
        losses.push(Loss::new("client_metadata", "client telemetry is not forwarded upstream"));
    }
    if let Some(tier) = field::<String>(obj, "service_tier")? {
        if tier != "auto" && tier != "default" {
            losses.push(Loss::new("service_tier", format!("service tier `{tier}` is not forwarded")));
        }
    }
    if let Some(t) = field::<String>(obj, "truncation")? {
        if t != "disabled" {
            losses.push(Loss::new("truncation", "automatic context truncation is not available; dropped"));
        }
    }
    if field::<u64>(obj, "top_logprobs")?.is_some_and(|n| n > 0) {
        losses.push(Loss::new("top_logprobs", "log probabilities are not returned"));
    }
    if obj.get("max_tool_calls").is_some_and(|v| !v.is_null()) {
        losses.push(Loss::new("max_tool_calls", "no tool-call cap upstream; dropped"));
    }
    if let Some(include) = field::<Vec<String>>(obj, "include")? {
        for inc in include.iter().filter(|i| i.as_str() != "reasoning.encrypted_content") {
            losses.push(Loss::new(format!("include[{inc}]"), "this extra output is not available; dropped"));
        }
    }
    Ok(())
}

/// `tools[]` (and a namespace's inner `tools[]`): functions, custom tools, namespaces.
fn decode_tools(
    tools: &[Value],
    path: &str,
    namespace: Option<&str>,
    losses: &mut Vec<Loss>,
) -> Result<Vec<ToolDef>, ProtocolError> {
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let ty = t.get("type").and_then(Value::as_str).unwrap_or("function");
        match ty {
            "function" => {
                let f: FunctionTool = parse(t, &p)?;
                out.push(ToolDef {
                    name: f.name,
                    namespace: namespace.map(str::to_string),
                    description: f.description,
                    parameters: f.parameters.unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
                    kind: ToolKind::Function,
                    strict: f.strict,
                    cache: None,
                });
            }
            "custom" => {
                let c: CustomTool = parse(t, &p)?;
                out.push(ToolDef {
                    name: c.name,
                    namespace: namespace.map(str::to_string),
                    description: c.description,
                    parameters: serde_json::json!({}),
                    kind: ToolKind::Custom { format: c.format },
                    strict: None,
                    cache: None,
                });
            }
            "namespace" if namespace.is_none() => {
                let ns: NamespaceTool = parse(t, &p)?;
                out.extend(decode_tools(&ns.tools, &format!("{p}.tools"), Some(&ns.name), losses)?);
            }
            other => {
                let name = t.get("name").and_then(Value::as_str).map(|n| format!(" `{n}`")).unwrap_or_default();
                let why = if HOSTED_TOOLS.contains(&other) {
                    format!("hosted tool `{other}`{name} cannot be run by this upstream; dropped")
                } else {
                    format!("tool type `{other}`{name} is not supported; dropped")
                };
                losses.push(Loss::new(p, why));
            }
        }
    }
    Ok(out)
}

fn decode_tool_choice(v: &Value, losses: &mut Vec<Loss>) -> Result<Option<ToolChoice>, ProtocolError> {
    let bad =
        || ProtocolError::invalid_param("tool_choice", "`tool_choice` must be auto, none, required or {type, name}");
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" => Ok(Some(ToolChoice::Required)),
            _ => Err(bad()),
        },
        Value::Object(o) => {
            let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
            let name = o.get("name").and_then(Value::as_str);
            match (ty, name) {
                ("function" | "custom", Some(name)) => {
                    let ns = o.get("namespace").and_then(Value::as_str);
                    Ok(Some(ToolChoice::Named { name: flat_name(ns, name) }))
                }
                ("function" | "custom", None) => Err(bad()),
                ("allowed_tools", _) => {
                    losses.push(Loss::new(
                        "tool_choice.tools",
                        "allowed-tools subsets are not supported; all tools stay allowed",
                    ));
                    match o.get("mode").and_then(Value::as_str) {
                        Some("required") => Ok(Some(ToolChoice::Required)),
                        _ => Ok(Some(ToolChoice::Auto)),
                    }
                }
                (other, _) => {
                    losses.push(Loss::new(
                        "tool_choice",
                        format!("forcing hosted tool `{other}` is not supported; using auto"),
                    ));
                    Ok(Some(ToolChoice::Auto))
                }
            }
        }
        _ => Err(bad()),
    }
}

fn decode_reasoning(r: ReasoningParam, losses: &mut Vec<Loss>) -> ReasoningConfig {
    let effort = match r.effort.as_deref() {
        None => None,
        Some(e) => {
            let parsed = Effort::parse(e);
            if parsed.is_none() {
                losses.push(Loss::new("reasoning.effort", format!("unknown effort `{e}`; the model default applies")));
            }
            parsed
        }
    };
    let summary = r.summary.or(r.generate_summary);
    ReasoningConfig {
        effort,
        budget_tokens: None,
        include_thoughts: summary.as_deref().map(|s| s != "none"),
        summary,
        adaptive: false,
    }
}

fn decode_format(v: &Value) -> Result<Option<OutputFormat>, ProtocolError> {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("text");
    match ty {
        "text" => Ok(Some(OutputFormat::Text)),
        "json_object" => Ok(Some(OutputFormat::JsonObject)),
        "json_schema" => Ok(Some(OutputFormat::JsonSchema {
            name: v.get("name").and_then(Value::as_str).unwrap_or("response").to_string(),
            schema: v.get("schema").cloned().unwrap_or_else(|| serde_json::json!({})),
            strict: v.get("strict").and_then(Value::as_bool).unwrap_or(false),
        })),
        other => Err(ProtocolError::invalid_param(
            "text.format.type",
            format!("`text.format.type` must be text, json_object or json_schema (got `{other}`)"),
        )),
    }
}

// === upstream non-streamed response ===

pub fn decode_response(body: &[u8], _cx: &Cx) -> Result<Response, ProtocolError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| ProtocolError::bad_upstream(format!("body is not JSON: {e}")))?;
    let head: ResponseHead = <ResponseHead as serde::Deserialize>::deserialize(&root)
        .map_err(|e| ProtocolError::bad_upstream(format!("response object: {e}")))?;
    let output = match root.get("output") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err(ProtocolError::bad_upstream("`output` is not an array")),
    };
    let mut parts = Vec::with_capacity(output.len());
    let mut called = false;
    for (i, v) in output.iter().enumerate() {
        let item: StreamItemIn =
            serde::Deserialize::deserialize(v).map_err(|e| ProtocolError::bad_upstream(format!("output[{i}]: {e}")))?;
        match item.kind.as_str() {
            "message" => {
                for c in item.content.iter().filter(|c| !c.text().is_empty()) {
                    parts.push(Part::text(c.text()));
                }
            }
            "reasoning" => parts.push(Part::Reasoning(reasoning_from_output(&item))),
            "function_call" | "custom_tool_call" => {
                called = true;
                parts.push(Part::ToolCall(tool_call_from_output(item)));
            }
            _ => parts.push(Part::Unknown { origin: ME, value: v.clone() }),
        }
    }
    let finish = match head.status.as_deref() {
        None | Some("completed") => Some(if called { FinishReason::ToolCalls } else { FinishReason::Stop }),
        Some("incomplete") => Some(incomplete_reason(head.incomplete_details.and_then(|d| d.reason).as_deref())),
        Some("failed") => {
            let msg = head.error.and_then(|e| e.message).unwrap_or_else(|| "response failed".into());
            return Err(ProtocolError::bad_upstream(format!("response failed: {msg}")));
        }
        Some("cancelled") => Some(FinishReason::Other("cancelled".into())),
        Some(other) => return Err(ProtocolError::bad_upstream(format!("response is not finished (status `{other}`)"))),
    };
    Ok(Response {
        id: head.id.unwrap_or_default(),
        model: head.model.unwrap_or_default(),
        parts,
        finish,
        usage: head.usage.as_ref().map(usage_from_wire).unwrap_or_default(),
    })
}

/// `incomplete_details.reason` → finish reason.
pub fn incomplete_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("max_output_tokens") | None => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_string()),
    }
}

/// An upstream reasoning item (summary, raw content, `encrypted_content` kept with its id).
pub fn reasoning_from_output(item: &StreamItemIn) -> Reasoning {
    Reasoning {
        text: item.content.iter().map(TextPiece::text).collect::<Vec<_>>().join(""),
        summary: item.summary.iter().map(|s| s.text().to_string()).collect(),
        opaque: item
            .encrypted_content
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(|e| Opaque::new(ME, pack_reasoning_state(item.id.as_deref(), e))),
        redacted: false,
    }
}

pub fn tool_call_from_output(item: StreamItemIn) -> ToolCall {
    let custom = item.kind == "custom_tool_call";
    ToolCall {
        id: item.call_id.or(item.id).unwrap_or_default(),
        name: flat_name(item.namespace.as_deref(), item.name.as_deref().unwrap_or("")),
        arguments: if custom {
            item.input.unwrap_or_default()
        } else {
            item.arguments.map(|a| a.0).unwrap_or_default()
        },
        kind: if custom { ToolCallKind::Custom } else { ToolCallKind::Function },
        opaque: None,
    }
}
