//! A client's `messages` → canonical messages: roles, content (a string or typed parts),
//! assistant tool calls (function, custom, legacy `function_call`), reasoning text and tool results.

use super::decode::{from_raw, from_value};
use super::wire::{InFile, InImageUrl, InMessage, InToolCall};
use crate::canonical::{
    Loss, MediaSource, Message, Part, Protocol, ProtocolError, Reasoning, Request, Role, ToolCall, ToolCallKind,
    ToolResult,
};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

/// Walks `messages`, remembering tool calls so that tool results get their name and kind.
#[derive(Default)]
pub(super) struct MessageDecoder {
    /// call id → (flat name, kind) of the assistant tool calls seen so far.
    calls: HashMap<String, (String, ToolCallKind)>,
    /// Legacy `function_call`s have no id: function name → the id given to its last call.
    legacy: HashMap<String, String>,
    seen_conversation: bool,
}

impl MessageDecoder {
    pub(super) fn run(mut self, messages: Vec<&RawValue>, req: &mut Request) -> Result<(), ProtocolError> {
        for (i, raw) in messages.into_iter().enumerate() {
            let path = format!("messages[{i}]");
            let m: InMessage = from_raw(raw, &path)?;
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
    let id = tc
        .id
        .filter(|s| !s.is_empty())
        .or(fallback_id)
        .ok_or_else(|| ProtocolError::invalid_param(format!("{path}.id"), format!("`{path}.id` is required")))?;
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
        Some(Value::Array(items)) => {
            items.into_iter().enumerate().map(|(j, item)| content_part(item, &format!("{path}.content[{j}]"))).collect()
        }
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
        "text" | "input_text" | "output_text" => {
            Ok(Part::text(from_value::<String>(field("text")?, &format!("{path}.text"))?))
        }
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
