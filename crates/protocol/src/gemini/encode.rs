//! canonical → gemini wire: an upstream `GenerateContentRequest` (`request_out`), and the
//! `GenerateContentResponse` a client gets.

use super::convert::{args_to_wire, finish_to_wire, media_to_wire, usage_to_wire};
use super::request_out;
use super::wire::{Candidate, Content, FunctionCall, GenerateContentResponse, WirePart};
use crate::canonical::opaque::Sealed;
use crate::canonical::{Cx, Part, Protocol, ProtocolError, Reasoning, Request, Response, ToolCall, ToolCallKind};
use crate::EncodedRequest;

pub fn encode_request(req: &Request, cx: &Cx) -> Result<EncodedRequest, ProtocolError> {
    request_out::encode_request(req, cx)
}

pub fn encode_response(resp: &Response, cx: &Cx) -> Result<Vec<u8>, ProtocolError> {
    let mut placer = SignaturePlacer::default();
    let mut parts: Vec<WirePart> = Vec::new();
    for part in &resp.parts {
        match part {
            Part::Reasoning(r) => {
                let token = reasoning_token(r, cx);
                if token.is_some() {
                    if let Some(flushed) = placer.flush() {
                        attach_or_push(&mut parts, flushed);
                    }
                }
                let text = visible_reasoning(r);
                let own_part = if text.is_empty() {
                    None
                } else {
                    parts.push(WirePart::thought(text));
                    Some(parts.len() - 1)
                };
                placer.reasoning(token, own_part);
            }
            Part::Text { text, .. } if !text.is_empty() => {
                let mut p = WirePart::text(text.clone());
                p.thought_signature = placer.take();
                parts.push(p);
            }
            Part::ToolCall(call) => {
                let own = call_token(call, cx);
                if own.is_some() {
                    if let Some(flushed) = placer.flush() {
                        attach_or_push(&mut parts, flushed);
                    }
                }
                let mut p = call_part(call);
                p.thought_signature = own.or_else(|| placer.take());
                parts.push(p);
            }
            Part::Image { source, .. } | Part::File { source, .. } => {
                if let Some(mut p) = media_to_wire(source, matches!(part, Part::Image { .. })) {
                    p.thought_signature = placer.take();
                    parts.push(p);
                }
            }
            Part::Unknown { origin: Protocol::Gemini, value } => {
                if let Ok(p) = serde_json::from_value::<WirePart>(value.clone()) {
                    parts.push(p);
                }
            }
            Part::Text { .. } | Part::Unknown { .. } | Part::ToolResult(_) => {}
        }
    }
    if let Some(flushed) = placer.flush() {
        attach_or_push(&mut parts, flushed);
    }
    let body = GenerateContentResponse {
        candidates: vec![Candidate {
            content: Some(Content { role: Some("model".into()), parts }),
            finish_reason: Some(finish_to_wire(resp.finish.as_ref())),
            finish_message: None,
            index: Some(0),
        }],
        prompt_feedback: None,
        usage_metadata: usage_to_wire(&resp.usage),
        model_version: Some(resp.model.clone()).filter(|m| !m.is_empty()),
        response_id: Some(if resp.id.is_empty() { cx.id.clone() } else { resp.id.clone() }),
    };
    serde_json::to_vec(&body).map_err(|e| ProtocolError::bad_upstream(format!("cannot encode response: {e}")))
}

/// A pending token that found no later part: onto its own thought part when it has one
/// (`Some(index)`), else a thought part of its own.
fn attach_or_push(parts: &mut Vec<WirePart>, (token, at): Flush) {
    match at.and_then(|k| parts.get_mut(k)) {
        Some(p) => p.thought_signature = Some(token),
        None => {
            let mut p = WirePart::thought("");
            p.thought_signature = Some(token);
            parts.push(p);
        }
    }
}

/// Where a reasoning token waits for the next non-thought part (see `convert` docs). A token
/// stands for provider state and is never lost: when no later part can carry it, it is written
/// on a thought part.
#[derive(Debug, Default)]
pub(crate) struct SignaturePlacer {
    pending: Option<Flush>,
}

/// A token to write now, and the index of the thought part it belongs to when there is one
/// (non-streamed responses).
pub(crate) type Flush = (String, Option<usize>);

impl SignaturePlacer {
    /// A reasoning part ended with this token (callers `flush` an older one first).
    pub fn reasoning(&mut self, token: Option<String>, own_part: Option<usize>) {
        if let Some(token) = token {
            self.pending = Some((token, own_part));
        }
    }
    /// The token for the next non-thought part.
    pub fn take(&mut self) -> Option<String> {
        self.pending.take().map(|(t, _)| t)
    }
    /// A token that must be written now (a new reasoning part, a call with state of its own, or
    /// the end of the response).
    pub fn flush(&mut self) -> Option<Flush> {
        self.pending.take()
    }
}

/// Text shown for a reasoning part (summaries when there is no raw text).
pub(crate) fn visible_reasoning(r: &Reasoning) -> String {
    if r.text.is_empty() {
        r.summary.join("\n\n")
    } else {
        r.text.clone()
    }
}

/// The `thoughtSignature` standing for a reasoning part: Gemini's own state raw, anything else
/// sealed. `None` for reasoning without provider state (unsigned thought text): there is
/// nothing to replay, and Gemini itself never asks for its thought summaries back.
pub(crate) fn reasoning_token(r: &Reasoning, cx: &Cx) -> Option<String> {
    if r.opaque.is_none() && !r.redacted {
        return None;
    }
    cx.codec.reasoning_token(Protocol::Gemini, r)
}

/// A call's own state: Gemini's signature raw, foreign state sealed with the call.
pub(crate) fn call_token(call: &ToolCall, cx: &Cx) -> Option<String> {
    match &call.opaque {
        None => None,
        Some(o) if o.origin == Protocol::Gemini => Some(o.payload.clone()),
        Some(_) => Some(cx.codec.seal(&Sealed::ToolCall(call.clone()))),
    }
}

pub(crate) fn call_part(call: &ToolCall) -> WirePart {
    let args = match call.kind {
        ToolCallKind::Custom => serde_json::json!({ "input": call.arguments }),
        ToolCallKind::Function => args_to_wire(&call.arguments),
    };
    WirePart {
        function_call: Some(FunctionCall { id: Some(call.id.clone()), name: call.name.clone(), args: Some(args) }),
        ..Default::default()
    }
}
