//! canonical → anthropic wire: the reply a client gets (`encode_response`); the upstream
//! request lives in `upstream_request.rs` and is re-exported here.

use super::convert::{stop_reason_out, usage_out};
use super::wire::{OutBlock, OutMessage};
use crate::canonical::{
    Cx, Opaque, OpaqueCodec, Part, Protocol, ProtocolError, Reasoning, Response, ToolCall, ToolCallKind,
};
use serde_json::Value;

use super::stream_out::trailing_signature;
pub use super::upstream_request::encode_request;

pub fn encode_response(resp: &Response, cx: &Cx) -> Result<Vec<u8>, ProtocolError> {
    let mut content = Vec::with_capacity(resp.parts.len());
    let mut has_calls = false;
    let mut had_text = false;
    for (i, part) in resp.parts.iter().enumerate() {
        match part {
            Part::Text { text, .. } => {
                had_text = true;
                content.push(OutBlock::Text { text: text.clone(), cache_control: None })
            }
            Part::Reasoning(r) if had_text && !r.redacted && trailing_signature(&r.text, r.opaque.as_ref()) => {}
            Part::Reasoning(r) => content.push(reasoning_block(&cx.codec, r)),
            Part::ToolCall(call) => {
                has_calls = true;
                content.push(OutBlock::ToolUse {
                    id: client_tool_id(&call.id, call.opaque.as_ref(), cx, i),
                    name: call.name.clone(),
                    input: tool_input(call),
                    cache_control: None,
                });
            }
            Part::Unknown { origin: Protocol::Anthropic, value } => content.push(OutBlock::Raw(value.clone())),
            // An Anthropic reply has no place for images, files or other protocols' items.
            Part::Unknown { .. } | Part::Image { .. } | Part::File { .. } | Part::ToolResult(_) => {}
        }
    }
    let (stop_reason, stop_sequence) = stop_reason_out(resp.finish.as_ref(), has_calls);
    let msg = OutMessage {
        id: message_id(cx),
        kind: "message",
        role: "assistant",
        model: resp.model.clone(),
        content,
        stop_reason: Some(stop_reason),
        stop_sequence,
        usage: usage_out(&resp.usage),
    };
    serde_json::to_vec(&msg).map_err(|e| ProtocolError::bad_upstream(format!("cannot encode reply: {e}")))
}

pub fn message_id(cx: &Cx) -> String {
    format!("msg_{}", cx.id)
}

/// The id a client sees for a tool call; one is made up when the upstream gave none. A call
/// with foreign state (Gemini's signature) gets a sealed id: a `tool_use` has no other field
/// Claude Code hands back.
pub fn client_tool_id(id: &str, opaque: Option<&Opaque>, cx: &Cx, index: usize) -> String {
    let id = if id.is_empty() { format!("toolu_{}_{index}", cx.id) } else { id.to_string() };
    cx.codec.client_call_id(Protocol::Anthropic, &id, opaque, Vec::new())
}

/// The visible text of a reasoning part: its raw text, else its summaries.
pub fn reasoning_text(r: &Reasoning) -> String {
    if r.text.is_empty() {
        r.summary.join("\n\n")
    } else {
        r.text.clone()
    }
}

/// A thinking block for a client. Every one gets a signature: Anthropic's own when the state
/// came from Anthropic, else a sealed envelope that brings the foreign state back next turn.
pub fn reasoning_block(codec: &OpaqueCodec, r: &Reasoning) -> OutBlock {
    let token = signature(codec, r);
    let native = r.opaque.as_ref().is_some_and(|o| o.origin == Protocol::Anthropic && !o.payload.is_empty());
    if r.redacted && native {
        OutBlock::RedactedThinking { data: token }
    } else {
        OutBlock::Thinking { thinking: reasoning_text(r), signature: token }
    }
}

/// The signature of a thinking block: the raw Anthropic one when there is one, else a sealed
/// envelope of the part (never empty).
pub fn signature(codec: &OpaqueCodec, r: &Reasoning) -> String {
    match &r.opaque {
        Some(o) if o.origin == Protocol::Anthropic && o.payload.is_empty() => {
            let bare = Reasoning { opaque: None, ..r.clone() };
            codec.reasoning_token(Protocol::Anthropic, &bare).unwrap_or_default()
        }
        _ => codec.reasoning_token(Protocol::Anthropic, r).unwrap_or_default(),
    }
}

/// `tool_use.input`: the arguments object. Custom (freeform) input and arguments that are not
/// a JSON object travel as `{"input": raw}`; empty arguments are `{}`.
pub fn tool_input(call: &ToolCall) -> Value {
    if call.kind == ToolCallKind::Custom {
        return serde_json::json!({ "input": call.arguments });
    }
    if call.arguments.trim().is_empty() {
        return Value::Object(Default::default());
    }
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => serde_json::json!({ "input": call.arguments }),
    }
}
