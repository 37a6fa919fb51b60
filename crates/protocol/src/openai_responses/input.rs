//! A client's `input` items → canonical messages.
//!
//! - Leading `system` / `developer` messages go to `Request::system`; later ones stay messages.
//! - Consecutive assistant-side items (reasoning, `function_call`, `custom_tool_call`, assistant
//!   `message`, replayed hosted-tool calls) form ONE assistant message, in order.
//! - Consecutive `function_call_output` / `custom_tool_call_output` items form one `Tool` message.
//! - `compaction` items sealed by this gateway expand to a user message with their summary.
//! - Stateful references (`item_reference`) and remote compaction (`compaction_trigger`) are
//!   refused: crossbar is stateless and cannot compact on a non-OpenAI upstream yet.

use super::common::{flat_name, guess_media_type, media_from_url, pack_reasoning_state};
use super::wire::{
    kind_of, CompactionItem, CustomToolCallItem, FilePart, FunctionCallItem, ImagePart, MessageItem, ReasoningItem,
    StringOrParts, TextPiece, ToolOutputItem,
};
use crate::canonical::opaque::Sealed;
use crate::canonical::{
    Cx, Loss, MediaSource, Message, OpaqueCodec, Part, Protocol, ProtocolError, Reasoning, Request, Role, ToolCall,
    ToolCallKind, ToolResult,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

const ME: Protocol = Protocol::OpenaiResponses;

/// Item types that only replay what a hosted or client-executed tool did. They have no
/// canonical form; they ride along as `Part::Unknown` in the assistant turn so a Responses
/// upstream can get them back.
const OPAQUE_ASSISTANT_ITEMS: &[&str] = &[
    "local_shell_call",
    "local_shell_call_output",
    "web_search_call",
    "image_generation_call",
    "tool_search_call",
    "tool_search_output",
    "file_search_call",
    "code_interpreter_call",
    "computer_call",
    "computer_call_output",
    "mcp_call",
    "mcp_list_tools",
];

/// Deserialize `v` into `T`, naming `path` in the error.
pub fn parse<T: DeserializeOwned>(v: &Value, path: &str) -> Result<T, ProtocolError> {
    T::deserialize(v).map_err(|e| ProtocolError::invalid_param(path, format!("`{path}`: {e}")))
}

pub struct InputDecoder<'a> {
    cx: &'a Cx,
    /// Still reading leading system/developer messages.
    leading: bool,
    /// The first leading instruction source was a `developer` message.
    first_leading_developer: Option<bool>,
}

impl<'a> InputDecoder<'a> {
    pub fn new(cx: &'a Cx, has_instructions: bool) -> Self {
        InputDecoder { cx, leading: true, first_leading_developer: has_instructions.then_some(false) }
    }

    /// Whether the leading instructions were a `developer` message.
    pub fn system_is_developer(&self) -> bool {
        self.first_leading_developer.unwrap_or(false)
    }

    pub fn items(&mut self, items: &[Value], req: &mut Request) -> Result<(), ProtocolError> {
        let last = items.len().saturating_sub(1);
        for (i, item) in items.iter().enumerate() {
            let path = format!("input[{i}]");
            let Some(obj) = item.as_object() else {
                return Err(ProtocolError::invalid_param(
                    &path,
                    format!("`{path}` must be an object, got {}", kind_of(item)),
                ));
            };
            let ty = match obj.get("type") {
                Some(Value::String(t)) => t.as_str(),
                None | Some(Value::Null) if obj.contains_key("role") => "message",
                _ => {
                    return Err(ProtocolError::invalid_param(
                        format!("{path}.type"),
                        format!("`{path}.type` must be a string naming the item type"),
                    ))
                }
            };
            if !(ty == "message"
                && matches!(obj.get("role"), Some(Value::String(r)) if r == "system" || r == "developer"))
            {
                self.leading = false;
            }
            self.item(ty, item, &path, i == last, req)?;
        }
        Ok(())
    }

    fn item(
        &mut self,
        ty: &str,
        item: &Value,
        path: &str,
        is_last: bool,
        req: &mut Request,
    ) -> Result<(), ProtocolError> {
        match ty {
            "message" => self.message(item, path, req),
            "function_call" => {
                let c: FunctionCallItem = parse(item, path)?;
                let call = ToolCall {
                    id: c.call_id,
                    name: flat_name(c.namespace.as_deref(), &c.name),
                    arguments: c.arguments.0,
                    kind: ToolCallKind::Function,
                    opaque: None,
                };
                push_to(&mut req.messages, Role::Assistant, Part::ToolCall(call));
                Ok(())
            }
            "custom_tool_call" => {
                let c: CustomToolCallItem = parse(item, path)?;
                let call = ToolCall {
                    id: c.call_id,
                    name: flat_name(c.namespace.as_deref(), &c.name),
                    arguments: c.input,
                    kind: ToolCallKind::Custom,
                    opaque: None,
                };
                push_to(&mut req.messages, Role::Assistant, Part::ToolCall(call));
                Ok(())
            }
            "function_call_output" | "custom_tool_call_output" => {
                let o: ToolOutputItem = parse(item, path)?;
                let content = content_parts(&o.output, &format!("{path}.output"), &mut req.losses)?;
                let kind = if ty == "custom_tool_call_output" { ToolCallKind::Custom } else { ToolCallKind::Function };
                let result = ToolResult { call_id: o.call_id, name: o.name, content, is_error: false, kind };
                push_to(&mut req.messages, Role::Tool, Part::ToolResult(result));
                Ok(())
            }
            "reasoning" => {
                let r: ReasoningItem = parse(item, path)?;
                if let Some(reasoning) = reasoning_from_item(self.cx, r, path)? {
                    push_to(&mut req.messages, Role::Assistant, Part::Reasoning(reasoning));
                }
                Ok(())
            }
            "compaction" | "compaction_summary" => {
                let c: CompactionItem = parse(item, path)?;
                match c.encrypted_content.as_deref() {
                    Some(token) if OpaqueCodec::is_sealed(token) => match self.cx.codec.open(token) {
                        Ok(Sealed::Compaction { summary }) => {
                            req.messages.push(Message { role: Role::User, parts: vec![Part::text(summary)] });
                            Ok(())
                        }
                        Ok(_) => Err(ProtocolError::invalid_param(
                            format!("{path}.encrypted_content"),
                            format!("`{path}.encrypted_content` does not hold a compaction summary"),
                        )),
                        Err(e) => Err(ProtocolError::invalid_param(
                            format!("{path}.encrypted_content"),
                            format!("`{path}.encrypted_content`: {e}"),
                        )),
                    },
                    _ => {
                        req.losses.push(Loss::new(
                            path,
                            "compaction item issued by another server cannot be expanded; dropped",
                        ));
                        Ok(())
                    }
                }
            }
            "compaction_trigger" => Err(ProtocolError::unsupported(
                "compaction_trigger",
                if is_last {
                    "remote compaction needs an OpenAI upstream"
                } else {
                    "remote compaction needs an OpenAI upstream (and the trigger must be the last item)"
                },
            )),
            "item_reference" => Err(ProtocolError::unsupported(
                path,
                "`item_reference` points at stored items; crossbar is stateless, send the items themselves",
            )),
            "additional_tools" => Err(ProtocolError::unsupported(
                path,
                "responses-lite `additional_tools` can only be passed through to OpenAI",
            )),
            t if OPAQUE_ASSISTANT_ITEMS.contains(&t) => {
                push_to(&mut req.messages, Role::Assistant, Part::Unknown { origin: ME, value: item.clone() });
                Ok(())
            }
            other => {
                req.losses.push(Loss::new(path, format!("input item type `{other}` is not supported; dropped")));
                Ok(())
            }
        }
    }

    fn message(&mut self, item: &Value, path: &str, req: &mut Request) -> Result<(), ProtocolError> {
        let m: MessageItem = parse(item, path)?;
        let parts = content_parts(&m.content, &format!("{path}.content"), &mut req.losses)?;
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            "developer" => Role::Developer,
            other => {
                return Err(ProtocolError::invalid_param(
                    format!("{path}.role"),
                    format!("`{path}.role` must be one of user, assistant, system, developer (got `{other}`)"),
                ))
            }
        };
        if self.leading && matches!(role, Role::System | Role::Developer) {
            self.first_leading_developer.get_or_insert(role == Role::Developer);
            req.system.extend(parts);
            return Ok(());
        }
        match role {
            // Several assistant items of one turn (commentary, final answer, calls) share a message.
            Role::Assistant => {
                for p in parts {
                    push_to(&mut req.messages, Role::Assistant, p);
                }
            }
            // A message with no content (e.g. `content: ""`) carries nothing; drop it.
            _ if parts.is_empty() => {}
            _ => req.messages.push(Message { role, parts }),
        }
        Ok(())
    }
}

/// Append `part` to the last message if it has `role`, else start a new message.
fn push_to(messages: &mut Vec<Message>, role: Role, part: Part) {
    match messages.last_mut() {
        Some(m) if m.role == role => m.parts.push(part),
        _ => messages.push(Message { role, parts: vec![part] }),
    }
}

/// A client's reasoning item. With `encrypted_content`: our sealed envelope opens to the part
/// we issued; anything else is OpenAI's own state (kept with the item id for replay).
fn reasoning_from_item(cx: &Cx, r: ReasoningItem, path: &str) -> Result<Option<Reasoning>, ProtocolError> {
    let summary: Vec<String> = r.summary.iter().map(|s| s.text().to_string()).collect();
    let text: String = r.content.iter().map(TextPiece::text).collect::<Vec<_>>().join("");
    match r.encrypted_content.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            let mut reasoning = cx.codec.reasoning_from_token(ME, token, &text).map_err(|e| {
                ProtocolError::invalid_param(
                    format!("{path}.encrypted_content"),
                    format!("`{path}.encrypted_content`: {e}"),
                )
            })?;
            if !OpaqueCodec::is_sealed(token) {
                reasoning.summary = summary;
                if let Some(o) = reasoning.opaque.as_mut() {
                    o.payload = pack_reasoning_state(r.id.as_deref(), token);
                }
            }
            Ok(Some(reasoning))
        }
        None if summary.is_empty() && text.is_empty() => Ok(None),
        None => Ok(Some(Reasoning { text, summary, opaque: None, redacted: false })),
    }
}

/// Message `content` or tool `output`: a string, or `input_text` / `output_text` / `refusal` /
/// `input_image` / `input_file` parts.
pub fn content_parts(c: &StringOrParts, path: &str, losses: &mut Vec<Loss>) -> Result<Vec<Part>, ProtocolError> {
    let items = match c {
        StringOrParts::String(s) if s.is_empty() => return Ok(Vec::new()),
        StringOrParts::String(s) => return Ok(vec![Part::text(s.clone())]),
        StringOrParts::Parts(items) => items,
    };
    let mut parts = Vec::with_capacity(items.len());
    for (j, v) in items.iter().enumerate() {
        let p = format!("{path}[{j}]");
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        match ty {
            "input_text" | "output_text" | "text" | "refusal" | "summary_text" | "reasoning_text" => {
                let t: TextPiece = parse(v, &p)?;
                // Empty text blocks are rejected by some upstreams and carry nothing.
                if !t.text().is_empty() {
                    parts.push(Part::text(t.text()));
                }
            }
            "input_image" | "image" => {
                let img: ImagePart = parse(v, &p)?;
                let source = match (img.image_url, img.file_id) {
                    (Some(url), _) if !url.is_empty() => media_from_url(&url),
                    (_, Some(id)) if !id.is_empty() => MediaSource::FileId { id },
                    _ => {
                        return Err(ProtocolError::invalid_param(
                            &p,
                            format!("`{p}`: input_image needs `image_url` or `file_id`"),
                        ))
                    }
                };
                parts.push(Part::Image { source, detail: img.detail });
            }
            "input_file" | "file" => {
                let f: FilePart = parse(v, &p)?;
                let source = if let Some(data) = f.file_data.filter(|d| !d.is_empty()) {
                    if data.starts_with("data:") {
                        media_from_url(&data)
                    } else {
                        MediaSource::Base64 { media_type: guess_media_type(f.filename.as_deref()).into(), data }
                    }
                } else if let Some(id) = f.file_id.filter(|d| !d.is_empty()) {
                    MediaSource::FileId { id }
                } else if let Some(url) = f.file_url.filter(|d| !d.is_empty()) {
                    MediaSource::Url { url }
                } else {
                    return Err(ProtocolError::invalid_param(
                        &p,
                        format!("`{p}`: input_file needs `file_data`, `file_id` or `file_url`"),
                    ));
                };
                parts.push(Part::File { source, filename: f.filename });
            }
            other => losses.push(Loss::new(p, format!("content part type `{other}` is not supported; dropped"))),
        }
    }
    Ok(parts)
}
