//! Chat Completions wire → canonical: a client's request, and an upstream's non-streamed reply.
//!
//! The request is parsed field by field from a JSON object so every error names the field
//! (`messages[3].tool_calls[0]`, `response_format`). Fields that cannot be carried and must
//! not be dropped (`n > 1`, `logprobs`, audio, `prediction`) are `Unsupported`; harmless
//! drops become `Loss`es; unknown top-level fields are dropped with a `Loss` too.

use super::wire::{
    finish_from_wire, InCompletion, InDelta, InFile, InFunctionDef, InImageUrl, InMessage,
    InResponseFormat, InTool, InToolCall,
};
use crate::canonical::{
    Cx, Effort, Loss, MediaSource, Message, OutputFormat, Part, Protocol, ProtocolError, Reasoning,
    ReasoningConfig, Request, Response, Role, ToolCall, ToolCallKind, ToolChoice, ToolDef, ToolKind,
    ToolResult,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashMap;

pub fn decode_request(body: &[u8], _cx: &Cx) -> Result<Request, ProtocolError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ProtocolError::invalid(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(mut map) = value else {
        return Err(ProtocolError::invalid("request body must be a JSON object"));
    };
    let mut req = Request::default();
    reject_unsupported(&mut map)?;
    req.model = take::<String>(&mut map, "model")?
        .ok_or_else(|| ProtocolError::invalid_param("model", "`model` is required"))?;

    let messages = take::<Vec<Value>>(&mut map, "messages")?
        .ok_or_else(|| ProtocolError::invalid_param("messages", "`messages` is required"))?;
    MessageDecoder::default().run(messages, &mut req)?;

    decode_tools(&mut map, &mut req)?;
    decode_sampling(&mut map, &mut req)?;
    decode_output_and_reasoning(&mut map, &mut req)?;
    req.stream = take::<bool>(&mut map, "stream")?.unwrap_or(false);
    // `include_usage` is read by the application into `Cx`; only its type is checked here.
    take::<Map<String, Value>>(&mut map, "stream_options")?;
    decode_metadata(&mut map, &mut req)?;

    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        let reason = match key.as_str() {
            "logit_bias" => "token biasing cannot be translated",
            "service_tier" => "service tiers are chosen by the gateway's routing",
            "web_search_options" => "built-in web search is not available through the gateway",
            _ => "not supported by crossbar's translation",
        };
        req.losses.push(Loss::new(key, reason));
    }
    Ok(req)
}

/// The field as `T`, `None` when absent or null; a type error names the field.
fn take<T: DeserializeOwned>(map: &mut Map<String, Value>, key: &str) -> Result<Option<T>, ProtocolError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => from_value(v, key).map(Some),
    }
}

fn from_value<T: DeserializeOwned>(v: Value, path: &str) -> Result<T, ProtocolError> {
    serde_json::from_value(v).map_err(|e| ProtocolError::invalid_param(path, format!("invalid `{path}`: {e}")))
}

fn reject_unsupported(map: &mut Map<String, Value>) -> Result<(), ProtocolError> {
    if take::<u64>(map, "n")?.unwrap_or(1) > 1 {
        return Err(ProtocolError::unsupported("n", "only one choice per request can be generated"));
    }
    if take::<bool>(map, "logprobs")?.unwrap_or(false) {
        return Err(ProtocolError::unsupported("logprobs", "token log probabilities are not available"));
    }
    if take::<u64>(map, "top_logprobs")?.unwrap_or(0) > 0 {
        return Err(ProtocolError::unsupported("top_logprobs", "token log probabilities are not available"));
    }
    if take::<Value>(map, "audio")?.is_some() {
        return Err(ProtocolError::unsupported("audio", "audio output is not available"));
    }
    if take::<Vec<String>>(map, "modalities")?.is_some_and(|m| m.iter().any(|x| x == "audio")) {
        return Err(ProtocolError::unsupported("modalities", "audio output is not available"));
    }
    if take::<Value>(map, "prediction")?.is_some() {
        return Err(ProtocolError::unsupported("prediction", "predicted outputs are not available"));
    }
    Ok(())
}

/// Walks `messages`, remembering tool calls so that tool results get their name and kind.
#[derive(Default)]
struct MessageDecoder {
    /// call id → (flat name, kind) of the assistant tool calls seen so far.
    calls: HashMap<String, (String, ToolCallKind)>,
    /// Legacy `function_call`s have no id: function name → the id given to its last call.
    legacy: HashMap<String, String>,
    seen_conversation: bool,
}

impl MessageDecoder {
    fn run(mut self, messages: Vec<Value>, req: &mut Request) -> Result<(), ProtocolError> {
        for (i, raw) in messages.into_iter().enumerate() {
            let path = format!("messages[{i}]");
            let m: InMessage = from_value(raw, &path)?;
            if m.name.is_some() && matches!(m.role.as_str(), "user" | "assistant" | "system" | "developer") {
                req.losses.push(Loss::new(format!("{path}.name"), "participant names are not carried"));
            }
            match m.role.as_str() {
                "system" | "developer" => {
                    let role = if m.role == "developer" { Role::Developer } else { Role::System };
                    let parts = content_parts(m.content, &path)?;
                    if self.seen_conversation {
                        req.messages.push(Message { role, parts });
                    } else {
                        if req.system.is_empty() {
                            req.system_is_developer = role == Role::Developer;
                        }
                        req.system.extend(parts);
                    }
                }
                "user" => {
                    self.seen_conversation = true;
                    let parts = content_parts(m.content, &path)?;
                    req.messages.push(Message { role: Role::User, parts });
                }
                "assistant" => {
                    self.seen_conversation = true;
                    let parts = self.assistant_parts(m, &path)?;
                    req.messages.push(Message { role: Role::Assistant, parts });
                }
                "tool" | "function" => {
                    self.seen_conversation = true;
                    let result = self.tool_result(m, &path)?;
                    match req.messages.last_mut() {
                        Some(last) if last.role == Role::Tool => last.parts.push(Part::ToolResult(result)),
                        _ => req.messages.push(Message { role: Role::Tool, parts: vec![Part::ToolResult(result)] }),
                    }
                }
                other => {
                    return Err(ProtocolError::invalid_param(
                        format!("{path}.role"),
                        format!("invalid `{path}.role`: unknown role `{other}`"),
                    ))
                }
            }
        }
        Ok(())
    }

    fn assistant_parts(&mut self, m: InMessage, path: &str) -> Result<Vec<Part>, ProtocolError> {
        let mut parts = Vec::new();
        let reasoning = m.reasoning_content.filter(|s| !s.is_empty()).or(m.reasoning.filter(|s| !s.is_empty()));
        if let Some(text) = reasoning {
            parts.push(Part::Reasoning(Reasoning { text, ..Default::default() }));
        }
        for part in content_parts(m.content, path)? {
            match part {
                Part::Text { text, .. } if text.is_empty() => {}
                other => parts.push(other),
            }
        }
        if let Some(refusal) = m.refusal.filter(|s| !s.is_empty()) {
            parts.push(Part::text(refusal));
        }
        for (j, tc) in m.tool_calls.unwrap_or_default().into_iter().enumerate() {
            let call = tool_call_from_wire(tc, &format!("{path}.tool_calls[{j}]"), None)?;
            self.calls.insert(call.id.clone(), (call.name.clone(), call.kind));
            parts.push(Part::ToolCall(call));
        }
        if let Some(f) = m.function_call {
            let name = f.name.unwrap_or_default();
            let id = format!("call_legacy_{}", self.legacy.len());
            self.legacy.insert(name.clone(), id.clone());
            self.calls.insert(id.clone(), (name.clone(), ToolCallKind::Function));
            parts.push(Part::ToolCall(ToolCall {
                id,
                name,
                arguments: f.arguments.unwrap_or_default(),
                kind: ToolCallKind::Function,
                opaque: None,
            }));
        }
        Ok(parts)
    }

    fn tool_result(&mut self, m: InMessage, path: &str) -> Result<ToolResult, ProtocolError> {
        let call_id = match (m.role.as_str(), m.tool_call_id) {
            (_, Some(id)) => id,
            ("function", None) => {
                let name = m.name.clone().unwrap_or_default();
                self.legacy.get(&name).cloned().unwrap_or_else(|| format!("call_legacy_{name}"))
            }
            (_, None) => {
                return Err(ProtocolError::invalid_param(
                    format!("{path}.tool_call_id"),
                    format!("`{path}.tool_call_id` is required for tool messages"),
                ))
            }
        };
        let (name, kind) = match self.calls.get(&call_id) {
            Some((name, kind)) => (Some(name.clone()), *kind),
            None => (m.name, ToolCallKind::Function),
        };
        let content = content_parts(m.content, path)?;
        Ok(ToolResult { call_id, name, content, is_error: false, kind })
    }
}

/// A tool call from a request's history or an upstream response. `fallback_id` is used when the
/// wire call has no id.
pub(super) fn tool_call_from_wire(
    tc: InToolCall,
    path: &str,
    fallback_id: Option<String>,
) -> Result<ToolCall, ProtocolError> {
    let id = tc.id.filter(|s| !s.is_empty()).or(fallback_id).ok_or_else(|| {
        ProtocolError::invalid_param(format!("{path}.id"), format!("`{path}.id` is required"))
    })?;
    if tc.kind.as_deref() == Some("custom") || (tc.function.is_none() && tc.custom.is_some()) {
        let c = tc.custom.unwrap_or_default();
        return Ok(ToolCall {
            id,
            name: c.name.unwrap_or_default(),
            arguments: c.input.unwrap_or_default(),
            kind: ToolCallKind::Custom,
            opaque: None,
        });
    }
    let f = tc.function.ok_or_else(|| {
        ProtocolError::invalid_param(format!("{path}.function"), format!("`{path}.function` is required"))
    })?;
    Ok(ToolCall {
        id,
        name: f.name.unwrap_or_default(),
        arguments: f.arguments.unwrap_or_default(),
        kind: ToolCallKind::Function,
        opaque: None,
    })
}

/// `content` as canonical parts: a string is one text part, an array is decoded part by part.
fn content_parts(content: Option<Value>, path: &str) -> Result<Vec<Part>, ProtocolError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::text(s)]),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(j, item)| content_part(item, &format!("{path}.content[{j}]")))
            .collect(),
        Some(_) => Err(ProtocolError::invalid_param(
            format!("{path}.content"),
            format!("invalid `{path}.content`: expected a string or an array of content parts"),
        )),
    }
}

fn content_part(item: Value, path: &str) -> Result<Part, ProtocolError> {
    let kind = item.get("type").and_then(Value::as_str).unwrap_or("").to_string();
    let field = |name: &str| -> Result<Value, ProtocolError> {
        item.get(name).cloned().ok_or_else(|| {
            ProtocolError::invalid_param(format!("{path}.{name}"), format!("`{path}.{name}` is required"))
        })
    };
    match kind.as_str() {
        "text" | "input_text" | "output_text" => Ok(Part::text(from_value::<String>(field("text")?, &format!("{path}.text"))?)),
        "refusal" => Ok(Part::text(from_value::<String>(field("refusal")?, &format!("{path}.refusal"))?)),
        "image_url" => {
            let img = match field("image_url")? {
                Value::String(url) => InImageUrl { url, detail: None },
                other => from_value::<InImageUrl>(other, &format!("{path}.image_url"))?,
            };
            Ok(Part::Image { source: media_from_url(img.url), detail: img.detail })
        }
        "file" => {
            let f: InFile = from_value(field("file")?, &format!("{path}.file"))?;
            let source = match (f.file_data, f.file_id) {
                (Some(data), _) => file_data_source(data, f.filename.as_deref()),
                (None, Some(id)) => MediaSource::FileId { id },
                (None, None) => {
                    return Err(ProtocolError::invalid_param(
                        format!("{path}.file"),
                        format!("`{path}.file` needs `file_data` or `file_id`"),
                    ))
                }
            };
            Ok(Part::File { source, filename: f.filename })
        }
        "input_audio" => Err(ProtocolError::unsupported(path, "audio input is not available")),
        "" => Err(ProtocolError::invalid_param(format!("{path}.type"), format!("`{path}.type` is required"))),
        _ => Ok(Part::Unknown { origin: Protocol::OpenaiChat, value: item }),
    }
}

/// `data:<mime>;base64,<data>` → base64 source; anything else → URL.
pub(super) fn media_from_url(url: String) -> MediaSource {
    match parse_data_url(&url) {
        Some((media_type, data)) => MediaSource::Base64 { media_type, data },
        None => MediaSource::Url { url },
    }
}

fn parse_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let meta = meta.strip_suffix(";base64")?;
    let mime = meta.split(';').next().unwrap_or("").trim();
    let mime = if mime.is_empty() { "application/octet-stream" } else { mime };
    Some((mime.to_string(), data.to_string()))
}

/// `file_data` is documented as a data URL; bare base64 is accepted with a type guessed from the name.
fn file_data_source(data: String, filename: Option<&str>) -> MediaSource {
    if let Some((media_type, data)) = parse_data_url(&data) {
        return MediaSource::Base64 { media_type, data };
    }
    let ext = filename.and_then(|f| f.rsplit_once('.')).map(|(_, e)| e.to_ascii_lowercase());
    let media_type = match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/pdf",
    };
    MediaSource::Base64 { media_type: media_type.to_string(), data }
}

fn decode_tools(map: &mut Map<String, Value>, req: &mut Request) -> Result<(), ProtocolError> {
    for (i, raw) in take::<Vec<Value>>(map, "tools")?.unwrap_or_default().into_iter().enumerate() {
        let path = format!("tools[{i}]");
        let t: InTool = from_value(raw, &path)?;
        let kind = t.kind.clone().unwrap_or_else(|| "function".into());
        match (kind.as_str(), t.function, t.custom) {
            ("function", Some(f), _) => req.tools.push(function_def(f)),
            ("custom", _, Some(c)) => req.tools.push(ToolDef {
                name: c.name,
                namespace: None,
                description: c.description,
                parameters: Value::Object(Map::new()),
                kind: ToolKind::Custom { format: c.format },
                strict: None,
                cache: None,
            }),
            ("function" | "custom", _, _) => {
                return Err(ProtocolError::invalid_param(
                    format!("{path}.{kind}"),
                    format!("`{path}.{kind}` is required"),
                ))
            }
            (other, _, _) => {
                return Err(ProtocolError::unsupported(format!("{path}.type"), format!("tool type `{other}`")))
            }
        }
    }
    for (i, raw) in take::<Vec<Value>>(map, "functions")?.unwrap_or_default().into_iter().enumerate() {
        let f: InFunctionDef = from_value(raw, &format!("functions[{i}]"))?;
        req.tools.push(function_def(f));
    }

    let choice = match take::<Value>(map, "tool_choice")? {
        Some(v) => Some(tool_choice(v, "tool_choice", &mut req.losses)?),
        None => match take::<Value>(map, "function_call")? {
            Some(v) => Some(tool_choice(v, "function_call", &mut req.losses)?),
            None => None,
        },
    };
    map.remove("function_call");
    req.tool_choice = choice;
    req.parallel_tool_calls = take::<bool>(map, "parallel_tool_calls")?;
    Ok(())
}

fn function_def(f: InFunctionDef) -> ToolDef {
    let parameters = match f.parameters {
        Some(p @ Value::Object(_)) => p,
        _ => serde_json::json!({"type": "object", "properties": {}}),
    };
    ToolDef {
        name: f.name,
        namespace: None,
        description: f.description,
        parameters,
        kind: ToolKind::Function,
        strict: f.strict,
        cache: None,
    }
}

fn tool_choice(v: Value, path: &str, losses: &mut Vec<Loss>) -> Result<ToolChoice, ProtocolError> {
    let bad = |what: &str| ProtocolError::invalid_param(path, format!("invalid `{path}`: {what}"));
    match &v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" | "any" => Ok(ToolChoice::Required),
            other => Err(bad(&format!("unknown value `{other}`"))),
        },
        Value::Object(o) => {
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("function");
            let name_in = |key: &str| o.get(key).and_then(|f| f.get("name")).and_then(Value::as_str);
            match kind {
                "function" | "custom" => name_in(kind)
                    .or_else(|| o.get("name").and_then(Value::as_str))
                    .map(|n| ToolChoice::Named { name: n.to_string() })
                    .ok_or_else(|| bad("a tool name is required")),
                "allowed_tools" => {
                    losses.push(Loss::new(format!("{path}.allowed_tools"), "restricting the callable tools is not carried"));
                    let mode = o.get("allowed_tools").and_then(|a| a.get("mode")).and_then(Value::as_str);
                    Ok(if mode == Some("required") { ToolChoice::Required } else { ToolChoice::Auto })
                }
                other => Err(bad(&format!("unknown type `{other}`"))),
            }
        }
        _ => Err(bad("expected a string or an object")),
    }
}

fn decode_sampling(map: &mut Map<String, Value>, req: &mut Request) -> Result<(), ProtocolError> {
    let s = &mut req.sampling;
    let completion = take::<u64>(map, "max_completion_tokens")?;
    let legacy = take::<u64>(map, "max_tokens")?;
    s.max_tokens = completion.or(legacy).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    s.temperature = take(map, "temperature")?;
    s.top_p = take(map, "top_p")?;
    s.top_k = take::<u64>(map, "top_k")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    s.stop = match take::<Value>(map, "stop")? {
        None => Vec::new(),
        Some(Value::String(one)) => vec![one],
        Some(many) => from_value(many, "stop")?,
    };
    s.seed = take(map, "seed")?;
    s.presence_penalty = take(map, "presence_penalty")?;
    s.frequency_penalty = take(map, "frequency_penalty")?;
    Ok(())
}

fn decode_output_and_reasoning(map: &mut Map<String, Value>, req: &mut Request) -> Result<(), ProtocolError> {
    if let Some(f) = take::<InResponseFormat>(map, "response_format")? {
        req.output = Some(match f.kind.as_str() {
            "text" => OutputFormat::Text,
            "json_object" => OutputFormat::JsonObject,
            "json_schema" => {
                let js = f.json_schema.ok_or_else(|| {
                    ProtocolError::invalid_param("response_format.json_schema", "`response_format.json_schema` is required")
                })?;
                OutputFormat::JsonSchema {
                    name: js.name.unwrap_or_else(|| "response".into()),
                    schema: js.schema.unwrap_or_else(|| Value::Object(Map::new())),
                    strict: js.strict.unwrap_or(false),
                }
            }
            other => {
                return Err(ProtocolError::invalid_param(
                    "response_format.type",
                    format!("invalid `response_format.type`: unknown value `{other}`"),
                ))
            }
        });
    }
    if let Some(effort) = take::<String>(map, "reasoning_effort")? {
        let e = Effort::parse(&effort).ok_or_else(|| {
            ProtocolError::invalid_param("reasoning_effort", format!("invalid `reasoning_effort`: unknown value `{effort}`"))
        })?;
        req.reasoning = Some(ReasoningConfig { effort: Some(e), ..Default::default() });
    }
    // OpenRouter's unified `reasoning` object.
    if let Some(r) = take::<Map<String, Value>>(map, "reasoning")? {
        let cfg = req.reasoning.get_or_insert_with(ReasoningConfig::default);
        if let Some(e) = r.get("effort").and_then(Value::as_str).and_then(Effort::parse) {
            cfg.effort.get_or_insert(e);
        }
        if let Some(b) = r.get("max_tokens").and_then(Value::as_u64) {
            cfg.budget_tokens = Some(u32::try_from(b).unwrap_or(u32::MAX));
        }
        if r.get("enabled").and_then(Value::as_bool) == Some(false) {
            cfg.effort = Some(Effort::None);
        }
        if r.get("exclude").and_then(Value::as_bool) == Some(true) {
            cfg.include_thoughts = Some(false);
        }
    }
    Ok(())
}

fn decode_metadata(map: &mut Map<String, Value>, req: &mut Request) -> Result<(), ProtocolError> {
    let md = &mut req.metadata;
    let user = take::<String>(map, "user")?;
    let safety = take::<String>(map, "safety_identifier")?;
    if let (Some(u), Some(s)) = (&user, &safety) {
        if u != s {
            req.losses.push(Loss::new("user", "`safety_identifier` is carried instead"));
        }
    }
    md.user = safety.or(user);
    md.prompt_cache_key = take(map, "prompt_cache_key")?;
    md.store = take(map, "store")?;
    md.extra = take::<Map<String, Value>>(map, "metadata")?.map(Value::Object);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Upstream response

pub fn decode_response(body: &[u8], _cx: &Cx) -> Result<Response, ProtocolError> {
    let c: InCompletion = serde_json::from_slice(body)
        .map_err(|e| ProtocolError::bad_upstream(format!("chat completion is not valid JSON: {e}")))?;
    if let Some(err) = &c.error {
        let info = super::error::error_from_value(&serde_json::json!({ "error": err }), None);
        return Err(ProtocolError::bad_upstream(format!("upstream returned an error: {}", info.message)));
    }
    let choices = c.choices.unwrap_or_default();
    let choice = choices
        .into_iter()
        .min_by_key(|ch| ch.index.unwrap_or(0))
        .ok_or_else(|| ProtocolError::bad_upstream("chat completion has no choices"))?;
    let parts = message_parts(choice.message.or(choice.delta).unwrap_or_default())?;
    Ok(Response {
        id: c.id.unwrap_or_default(),
        model: c.model.unwrap_or_default(),
        parts,
        finish: choice.finish_reason.as_deref().map(finish_from_wire),
        usage: c.usage.map(|u| u.to_canonical()).unwrap_or_default(),
    })
}

fn message_parts(m: InDelta) -> Result<Vec<Part>, ProtocolError> {
    let mut parts = Vec::new();
    let reasoning = m.reasoning_content.filter(|s| !s.is_empty()).or(m.reasoning.filter(|s| !s.is_empty()));
    if let Some(text) = reasoning {
        parts.push(Part::Reasoning(Reasoning { text, ..Default::default() }));
    }
    if let Some(text) = m.content.filter(|s| !s.is_empty()) {
        parts.push(Part::text(text));
    }
    if let Some(text) = m.refusal.filter(|s| !s.is_empty()) {
        parts.push(Part::text(text));
    }
    for (j, tc) in m.tool_calls.unwrap_or_default().into_iter().enumerate() {
        let call = tool_call_from_wire(tc, &format!("message.tool_calls[{j}]"), Some(format!("call_{j}")))
            .map_err(|e| ProtocolError::bad_upstream(e.to_string()))?;
        parts.push(Part::ToolCall(call));
    }
    if let Some(f) = m.function_call {
        parts.push(Part::ToolCall(ToolCall {
            id: "call_0".into(),
            name: f.name.unwrap_or_default(),
            arguments: f.arguments.unwrap_or_default(),
            kind: ToolCallKind::Function,
            opaque: None,
        }));
    }
    Ok(parts)
}
