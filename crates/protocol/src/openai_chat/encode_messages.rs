//! Canonical messages → Chat `messages` for an upstream: system/developer roles, content
//! arrays, assistant tool calls (custom calls wrapped as functions), one `tool` message per
//! result with images moved to a following user message, and `Loss`es for what cannot go.

use super::wire::{OutFunction, OutMessage, OutToolCall};
use crate::canonical::tools::wrap_custom_input;
use crate::canonical::{Loss, MediaSource, Message, Part, Protocol, Role, ToolCall, ToolCallKind, ToolResult};
use serde_json::{json, Value};

pub(super) fn system_role(developer: bool, reasoning_family: bool) -> &'static str {
    if developer && reasoning_family {
        "developer"
    } else {
        "system"
    }
}

pub(super) fn plain(role: &'static str, content: Value) -> OutMessage {
    OutMessage { role, content, tool_calls: Vec::new(), tool_call_id: None }
}

pub(super) fn encode_message(
    m: &Message,
    i: usize,
    reasoning_family: bool,
    out: &mut Vec<OutMessage>,
    losses: &mut Vec<Loss>,
) {
    let path = format!("messages[{i}]");
    match m.role {
        Role::System => out.push(plain("system", content_value(&m.parts, &path, losses))),
        Role::Developer => out.push(plain(system_role(true, reasoning_family), content_value(&m.parts, &path, losses))),
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
pub(super) fn content_value(parts: &[Part], path: &str, losses: &mut Vec<Loss>) -> Value {
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
                MediaSource::Base64 { media_type, data } => {
                    format!("data:{media_type};base64,{data}")
                }
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
