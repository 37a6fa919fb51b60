//! anthropic wire → canonical: a client's Messages request, and an upstream's Message reply.

use super::convert::{finish_in, usage_in};
use super::wire::*;
use crate::canonical::{
    CacheHint, Cx, Effort, Loss, MediaSource, Message, OutputFormat, Part, Protocol, ProtocolError, Reasoning,
    ReasoningConfig, Request, Response, Role, ToolCall, ToolCallKind, ToolChoice, ToolDef, ToolKind, ToolResult,
};
use crate::canonical::{Opaque, OpaqueCodec};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Top-level fields we read. Anything else is recorded as a `Loss`.
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "output_format",
];

/// How Claude Code (2.1.36 on) starts its first system block: `x-anthropic-billing-header:
/// cc_version=…; cc_entrypoint=…; cch=<hex>`, with `cch` new on every request.
pub const BILLING_HEADER: &str = "x-anthropic-billing-header:";

/// Drops Claude Code's billing line from the system prompt. Anthropic ignores it for caching,
/// but it changes every request, so on any other provider it would start each turn with a new
/// prefix and miss the prompt cache. Only translated requests are decoded (an Anthropic
/// upstream gets the client's bytes), so Anthropic routes keep it.
fn strip_billing_header(system: &mut Vec<Part>) {
    let Some(Part::Text { text, .. }) = system.first_mut() else { return };
    if !text.trim_start().starts_with(BILLING_HEADER) {
        return;
    }
    let rest = text.trim_start().split_once('\n').map_or("", |(_, rest)| rest);
    if rest.trim().is_empty() {
        system.remove(0);
    } else {
        *text = rest.to_string();
    }
}

/// Name given to an Anthropic structured-output schema (Anthropic schemas have no name).
pub const SCHEMA_NAME: &str = "output";

pub fn decode_request(body: &[u8], cx: &Cx) -> Result<Request, ProtocolError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| ProtocolError::invalid(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(obj) = root else {
        return Err(ProtocolError::invalid("request body must be a JSON object"));
    };
    let mut req = Request {
        model: field::<String>(&obj, "model")?
            .ok_or_else(|| ProtocolError::invalid_param("model", "`model` is required"))?,
        ..Request::default()
    };
    for key in obj.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
        req.losses.push(Loss::new(key.as_str(), "not supported by crossbar; dropped"));
    }

    req.sampling.max_tokens = field(&obj, "max_tokens")?;
    req.sampling.temperature = field(&obj, "temperature")?;
    req.sampling.top_p = field(&obj, "top_p")?;
    req.sampling.top_k = field(&obj, "top_k")?;
    req.sampling.stop = field(&obj, "stop_sequences")?.unwrap_or_default();
    req.stream = field(&obj, "stream")?.unwrap_or(false);
    if let Some(meta) = field::<InMetadata>(&obj, "metadata")? {
        req.metadata.user = match meta.user_id {
            Some(Value::String(s)) => Some(s),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
    }

    let mut dec = Decoder { codec: &cx.codec, losses: &mut req.losses, call_names: HashMap::new() };
    if let Some(system) = field::<InContent>(&obj, "system")? {
        req.system = dec.system(system, "system")?;
        strip_billing_header(&mut req.system);
    }
    let messages = match obj.get("messages") {
        Some(Value::Array(messages)) => messages,
        _ => {
            return Err(field::<Vec<Value>>(&obj, "messages")
                .err()
                .unwrap_or_else(|| ProtocolError::invalid_param("messages", "`messages` is required")))
        }
    };
    for (i, m) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        // Read in place; `InMessage` only to word the error when the shape is wrong.
        let role = m.get("role").and_then(Value::as_str);
        let content = match m.get("content") {
            Some(Value::String(text)) => Some(ContentRef::Text(text)),
            Some(Value::Array(blocks)) => Some(ContentRef::Blocks(blocks)),
            _ => None,
        };
        match (role, content) {
            (Some(role), Some(content)) => dec.message(role, content, &path, &mut req.messages)?,
            _ => {
                let m = InMessage::deserialize(m)
                    .map_err(|e| ProtocolError::invalid_param(&path, format!("`{path}`: {e}")))?;
                let content = match &m.content {
                    InContent::Text(text) => ContentRef::Text(text),
                    InContent::Blocks(blocks) => ContentRef::Blocks(blocks),
                };
                dec.message(&m.role, content, &path, &mut req.messages)?;
            }
        }
    }
    // Leading `role: system` messages are leading instructions (canonical convention).
    while req.messages.first().is_some_and(|m| m.role == Role::System) {
        let m = req.messages.remove(0);
        req.system.extend(m.parts);
    }

    if let Some(tools) = field::<Vec<Value>>(&obj, "tools")? {
        for (i, t) in tools.iter().enumerate() {
            let path = format!("tools[{i}]");
            let t =
                InTool::deserialize(t).map_err(|e| ProtocolError::invalid_param(&path, format!("`{path}`: {e}")))?;
            match t.kind.as_deref() {
                None | Some("custom") => {}
                Some(kind) => {
                    req.losses.push(Loss::new(path, format!("server tool `{kind}` cannot be translated")));
                    continue;
                }
            }
            if t.name.is_empty() {
                return Err(ProtocolError::invalid_param(format!("{path}.name"), format!("`{path}.name` is required")));
            }
            req.tools.push(ToolDef {
                name: t.name,
                namespace: None,
                description: t.description,
                parameters: t.input_schema.unwrap_or_else(|| serde_json::json!({"type": "object"})),
                kind: ToolKind::Function,
                strict: t.strict,
                cache: t.cache_control.map(|value| CacheHint { value }),
            });
        }
    }
    if let Some(tc) = field::<InToolChoice>(&obj, "tool_choice")? {
        req.tool_choice = Some(match tc.kind.as_str() {
            "auto" => ToolChoice::Auto,
            "any" => ToolChoice::Required,
            "none" => ToolChoice::None,
            "tool" => ToolChoice::Named {
                name: tc.name.ok_or_else(|| {
                    ProtocolError::invalid_param("tool_choice.name", "`tool_choice.name` is required for type `tool`")
                })?,
            },
            other => {
                return Err(ProtocolError::invalid_param(
                    "tool_choice.type",
                    format!("`tool_choice.type` must be auto, any, tool or none, not `{other}`"),
                ))
            }
        });
        if tc.disable_parallel_tool_use == Some(true) {
            req.parallel_tool_calls = Some(false);
        }
    }

    decode_reasoning_and_format(&obj, &mut req)?;
    Ok(req)
}

/// `thinking`, `output_config` (effort and format) and the older top-level `output_format`.
fn decode_reasoning_and_format(obj: &Map<String, Value>, req: &mut Request) -> Result<(), ProtocolError> {
    let mut rc: Option<ReasoningConfig> = None;
    if let Some(t) = field::<InThinking>(obj, "thinking")? {
        let cfg = rc.get_or_insert_with(ReasoningConfig::default);
        match t.kind.as_str() {
            "enabled" => {
                cfg.budget_tokens = t.budget_tokens;
                cfg.include_thoughts = Some(true);
            }
            "adaptive" => {
                cfg.adaptive = true;
                cfg.include_thoughts = Some(true);
            }
            "disabled" => cfg.effort = Some(Effort::None),
            other => {
                return Err(ProtocolError::invalid_param(
                    "thinking.type",
                    format!("`thinking.type` must be enabled, adaptive or disabled, not `{other}`"),
                ))
            }
        }
    }
    let oc = field::<InOutputConfig>(obj, "output_config")?.unwrap_or_default();
    if let Some(effort) = oc.effort.as_deref() {
        let e = Effort::parse(effort).ok_or_else(|| {
            ProtocolError::invalid_param("output_config.effort", format!("unknown `output_config.effort` `{effort}`"))
        })?;
        let cfg = rc.get_or_insert_with(ReasoningConfig::default);
        if cfg.effort == Some(Effort::None) {
            req.losses.push(Loss::new("output_config.effort", "ignored because thinking is disabled"));
        } else {
            cfg.effort = Some(e);
        }
    }
    req.reasoning = rc;
    let format = match oc.format {
        Some(f) => Some((f, "output_config.format")),
        None => field::<InFormat>(obj, "output_format")?.map(|f| (f, "output_format")),
    };
    if let Some((f, path)) = format {
        match (f.kind.as_str(), f.schema) {
            ("json_schema", Some(schema)) => {
                req.output = Some(OutputFormat::JsonSchema { name: SCHEMA_NAME.into(), schema, strict: true })
            }
            (kind, _) => req.losses.push(Loss::new(path, format!("format `{kind}` without a schema is not supported"))),
        }
    }
    Ok(())
}

/// Deserialize one top-level field, naming it in the error. `null` counts as absent.
fn field<T: DeserializeOwned>(obj: &Map<String, Value>, key: &str) -> Result<Option<T>, ProtocolError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v).map(Some).map_err(|e| ProtocolError::invalid_param(key, format!("`{key}`: {e}"))),
    }
}

fn typed<T: DeserializeOwned>(v: &Value, path: &str) -> Result<T, ProtocolError> {
    T::deserialize(v).map_err(|e| ProtocolError::invalid_param(path, format!("`{path}`: {e}")))
}

fn cache(v: Option<Value>) -> Option<CacheHint> {
    v.filter(|v| !v.is_null()).map(|value| CacheHint { value })
}

/// A message's `content`, borrowed from the parsed body.
enum ContentRef<'a> {
    Text(&'a str),
    Blocks(&'a [Value]),
}

/// Request-decoding state: the opaque codec, the loss list and the names of the tool calls
/// seen so far (tool results get their function name, which Gemini needs).
struct Decoder<'a> {
    codec: &'a OpaqueCodec,
    losses: &'a mut Vec<Loss>,
    call_names: HashMap<String, String>,
}

impl Decoder<'_> {
    fn system(&mut self, content: InContent, path: &str) -> Result<Vec<Part>, ProtocolError> {
        match content {
            InContent::Text(text) => Ok(if text.is_empty() { Vec::new() } else { vec![Part::text(text)] }),
            InContent::Blocks(blocks) => {
                let mut parts = Vec::new();
                for (j, b) in blocks.iter().enumerate() {
                    self.block(b, &format!("{path}[{j}]"), &mut parts)?;
                }
                Ok(parts)
            }
        }
    }

    fn message(
        &mut self,
        role_name: &str,
        content: ContentRef,
        path: &str,
        out: &mut Vec<Message>,
    ) -> Result<(), ProtocolError> {
        let role = match role_name {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            other => {
                return Err(ProtocolError::invalid_param(
                    format!("{path}.role"),
                    format!("`{path}.role` must be user, assistant or system, not `{other}`"),
                ))
            }
        };
        let blocks = match content {
            ContentRef::Text(text) => {
                out.push(Message { role, parts: vec![Part::text(text)] });
                return Ok(());
            }
            ContentRef::Blocks(blocks) => blocks,
        };
        let mut results = Vec::new();
        let mut parts = Vec::new();
        for (j, b) in blocks.iter().enumerate() {
            let bpath = format!("{path}.content[{j}]");
            let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
            let misplaced = match kind {
                "tool_result" => role != Role::User,
                "tool_use" => role != Role::Assistant,
                _ => false,
            };
            if misplaced {
                return Err(ProtocolError::invalid_param(
                    &bpath,
                    format!("`{bpath}`: a `{kind}` block is not allowed in a `{role_name}` message"),
                ));
            }
            if kind == "tool_result" {
                results.push(self.tool_result(b, &bpath)?);
            } else {
                self.block(b, &bpath, &mut parts)?;
            }
        }
        // A user turn mixing tool results and other content: results first, in order.
        if !results.is_empty() {
            out.push(Message { role: Role::Tool, parts: results });
            if parts.is_empty() {
                return Ok(());
            }
        }
        out.push(Message { role, parts });
        Ok(())
    }

    /// One content block (anything but `tool_result`) → zero or more parts.
    fn block(&mut self, b: &Value, path: &str, out: &mut Vec<Part>) -> Result<(), ProtocolError> {
        let kind = match b.get("type") {
            Some(Value::String(k)) => k.as_str(),
            _ => return Err(ProtocolError::invalid_param(path, format!("`{path}.type` must be a string"))),
        };
        match kind {
            "text" => {
                let t: InTextBlock = typed(b, path)?;
                if t.citations.as_ref().is_some_and(|c| !c.is_null()) {
                    self.losses.push(Loss::new(format!("{path}.citations"), "citations are not carried"));
                }
                out.push(Part::Text { text: t.text, cache: cache(t.cache_control) });
            }
            "image" => {
                let m: InMediaBlock = typed(b, path)?;
                self.drop_cache(&m.cache_control, path);
                let source = match m.source {
                    InSource::Base64 { media_type, data } => MediaSource::Base64 { media_type, data },
                    InSource::Url { url } => MediaSource::Url { url },
                    InSource::File { file_id } => MediaSource::FileId { id: file_id },
                    InSource::Text { .. } | InSource::Content { .. } => {
                        return Err(ProtocolError::invalid_param(
                            format!("{path}.source"),
                            format!("`{path}.source.type` must be base64, url or file for an image"),
                        ))
                    }
                };
                out.push(Part::Image { source, detail: None });
            }
            "document" => {
                let m: InMediaBlock = typed(b, path)?;
                match m.source {
                    InSource::Base64 { media_type, data } => {
                        self.drop_cache(&m.cache_control, path);
                        let media_type = if media_type.is_empty() { "application/pdf".into() } else { media_type };
                        out.push(Part::File { source: MediaSource::Base64 { media_type, data }, filename: m.title });
                    }
                    InSource::Url { url } => {
                        self.drop_cache(&m.cache_control, path);
                        out.push(Part::File { source: MediaSource::Url { url }, filename: m.title });
                    }
                    InSource::File { file_id } => {
                        self.drop_cache(&m.cache_control, path);
                        out.push(Part::File { source: MediaSource::FileId { id: file_id }, filename: m.title });
                    }
                    InSource::Text { data } => out.push(Part::Text { text: data, cache: cache(m.cache_control) }),
                    InSource::Content { content } => {
                        self.drop_cache(&m.cache_control, path);
                        let inner = self.system(content, &format!("{path}.source.content"))?;
                        out.extend(inner);
                    }
                }
            }
            "tool_use" => {
                let t: InToolUseHead = typed(b, path)?;
                self.drop_cache(&b.get("cache_control").cloned(), path);
                let arguments = match b.get("input") {
                    Some(v) if !v.is_null() => v.to_string(),
                    _ => "{}".to_string(),
                };
                self.call_names.insert(t.id.clone(), t.name.clone());
                out.push(Part::ToolCall(ToolCall {
                    id: t.id,
                    name: t.name,
                    arguments,
                    kind: ToolCallKind::Function,
                    opaque: None,
                }));
            }
            "thinking" => {
                let t: InThinkingBlock = typed(b, path)?;
                let r = match t.signature.as_deref() {
                    Some(sig) if !sig.is_empty() => self
                        .codec
                        .reasoning_from_token(Protocol::Anthropic, sig, &t.thinking)
                        .map_err(|e| name_param(e, &format!("{path}.signature")))?,
                    _ => Reasoning { text: t.thinking, ..Reasoning::default() },
                };
                out.push(Part::Reasoning(r));
            }
            "redacted_thinking" => {
                let t: InRedactedThinkingBlock = typed(b, path)?;
                let r = if OpaqueCodec::is_sealed(&t.data) {
                    self.codec
                        .reasoning_from_token(Protocol::Anthropic, &t.data, "")
                        .map_err(|e| name_param(e, &format!("{path}.data")))?
                } else {
                    Reasoning {
                        opaque: Some(Opaque::new(Protocol::Anthropic, t.data)),
                        redacted: true,
                        ..Reasoning::default()
                    }
                };
                out.push(Part::Reasoning(r));
            }
            // server_tool_use, web_search_tool_result, mcp_tool_use, search_result, …
            _ => out.push(Part::Unknown { origin: Protocol::Anthropic, value: b.clone() }),
        }
        Ok(())
    }

    fn tool_result(&mut self, b: &Value, path: &str) -> Result<Part, ProtocolError> {
        let t: InToolResultBlock = typed(b, path)?;
        let mut content = Vec::new();
        match t.content {
            None => {}
            Some(InContent::Text(text)) => content.push(Part::text(text)),
            Some(InContent::Blocks(blocks)) => {
                for (k, inner) in blocks.iter().enumerate() {
                    self.block(inner, &format!("{path}.content[{k}]"), &mut content)?;
                }
            }
        }
        // The canonical tool result has no cache hint of its own: a breakpoint on the result
        // moves to its last text, which ends at the same place in the prompt.
        if let Some(hint) = cache(t.cache_control) {
            match content.iter_mut().rev().find_map(|p| match p {
                Part::Text { cache, .. } => Some(cache),
                _ => None,
            }) {
                Some(slot) => *slot = Some(hint),
                None => self.losses.push(Loss::new(format!("{path}.cache_control"), "no text to carry the breakpoint")),
            }
        }
        Ok(Part::ToolResult(ToolResult {
            name: self.call_names.get(&t.tool_use_id).cloned(),
            call_id: t.tool_use_id,
            content,
            is_error: t.is_error.unwrap_or(false),
            kind: ToolCallKind::Function,
        }))
    }

    fn drop_cache(&mut self, cc: &Option<Value>, path: &str) {
        if cc.as_ref().is_some_and(|v| !v.is_null()) {
            self.losses.push(Loss::new(format!("{path}.cache_control"), "cache breakpoints are kept on text only"));
        }
    }
}

fn name_param(e: ProtocolError, path: &str) -> ProtocolError {
    match e {
        ProtocolError::InvalidRequest { message, .. } => {
            ProtocolError::invalid_param(path, format!("`{path}`: {message}"))
        }
        other => other,
    }
}

// === upstream response ===

pub fn decode_response(body: &[u8], _cx: &Cx) -> Result<Response, ProtocolError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ProtocolError::bad_upstream(format!("not JSON: {e}")))?;
    if v.get("type").and_then(Value::as_str) == Some("error") {
        let msg = v.pointer("/error/message").and_then(Value::as_str).unwrap_or("unknown error");
        return Err(ProtocolError::bad_upstream(format!("error body in a successful reply: {msg}")));
    }
    let r = InResponse::deserialize(&v).map_err(|e| ProtocolError::bad_upstream(format!("not a Message: {e}")))?;
    if !matches!(r.kind.as_deref(), None | Some("message")) {
        return Err(ProtocolError::bad_upstream("`type` is not `message`"));
    }
    let mut parts = Vec::with_capacity(r.content.len());
    for b in &r.content {
        parts.push(response_block(b)?);
    }
    Ok(Response {
        id: r.id,
        model: r.model,
        parts,
        finish: r.stop_reason.as_deref().map(|s| finish_in(s, r.stop_sequence.clone())),
        usage: r.usage.as_ref().map(usage_in).unwrap_or_default(),
    })
}

/// One block of an upstream reply. Signatures here are the provider's own: no envelope check.
fn response_block(b: &Value) -> Result<Part, ProtocolError> {
    let bad = |e: serde_json::Error| ProtocolError::bad_upstream(format!("content block: {e}"));
    Ok(match b.get("type").and_then(Value::as_str).unwrap_or_default() {
        "text" => Part::text(InTextBlock::deserialize(b).map_err(bad)?.text),
        "thinking" => {
            let t = InThinkingBlock::deserialize(b).map_err(bad)?;
            Part::Reasoning(Reasoning {
                text: t.thinking,
                opaque: t.signature.filter(|s| !s.is_empty()).map(|s| Opaque::new(Protocol::Anthropic, s)),
                ..Reasoning::default()
            })
        }
        "redacted_thinking" => {
            let t = InRedactedThinkingBlock::deserialize(b).map_err(bad)?;
            Part::Reasoning(Reasoning {
                opaque: Some(Opaque::new(Protocol::Anthropic, t.data)),
                redacted: true,
                ..Reasoning::default()
            })
        }
        "tool_use" => {
            let t = InToolUseBlock::deserialize(b).map_err(bad)?;
            Part::ToolCall(ToolCall {
                id: t.id,
                name: t.name,
                arguments: t.input.filter(|v| !v.is_null()).map_or_else(|| "{}".into(), |v| v.to_string()),
                kind: ToolCallKind::Function,
                opaque: None,
            })
        }
        _ => Part::Unknown { origin: Protocol::Anthropic, value: b.clone() },
    })
}
