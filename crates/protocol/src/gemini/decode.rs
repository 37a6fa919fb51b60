//! gemini wire → canonical: a client's `GenerateContentRequest`, an upstream's
//! `GenerateContentResponse`.
//!
//! Upstream parts are read as the stream decoder reads chunks: consecutive text parts are one
//! text, consecutive thought parts one reasoning part until one of them is signed.
//!
//! The model is in the URL path and streaming is chosen by the method, so `decode_request`
//! leaves `model` empty and `stream` false; the application sets both from the path.

use super::convert::{
    args_from_wire, file_data_to_part, finish_from_wire, inline_to_part, usage_from_wire, SKIP_SIGNATURE,
};
use super::request_in;
use super::wire::{GenerateContentResponse, WirePart};
use crate::canonical::opaque::Sealed;
use crate::canonical::tools::unwrap_custom_input;
use crate::canonical::{
    Cx, FinishReason, Opaque, OpaqueCodec, Part, Protocol, ProtocolError, Reasoning, Request, Response, ToolCall,
    ToolCallKind,
};

pub fn decode_request(body: &[u8], cx: &Cx) -> Result<Request, ProtocolError> {
    request_in::decode_request(body, cx)
}

pub fn decode_response(body: &[u8], cx: &Cx) -> Result<Response, ProtocolError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ProtocolError::bad_upstream(format!("gemini response is not JSON: {e}")))?;
    if let Some(err) = value.get("error") {
        let msg = err.get("message").and_then(|m| m.as_str()).unwrap_or("unknown error");
        return Err(ProtocolError::bad_upstream(format!("gemini returned an error body: {msg}")));
    }
    let wire: GenerateContentResponse = serde_json::from_value(value)
        .map_err(|e| ProtocolError::bad_upstream(format!("gemini response has an unexpected shape: {e}")))?;
    let mut parts = Vec::new();
    let mut builder = UpstreamParts::new(cx);
    let candidate = wire.candidates.first();
    if let Some(content) = candidate.and_then(|c| c.content.as_ref()) {
        for p in &content.parts {
            builder.push(p, &mut parts);
        }
    }
    let finish = match candidate.and_then(|c| c.finish_reason.as_deref()) {
        Some(r) => Some(finish_from_wire(r, builder.saw_call)),
        None if wire.prompt_feedback.as_ref().is_some_and(|f| f.block_reason.is_some()) => {
            Some(FinishReason::ContentFilter)
        }
        None => None,
    };
    Ok(Response {
        id: wire.response_id.unwrap_or_default(),
        model: wire.model_version.unwrap_or_default(),
        parts,
        finish,
        usage: wire.usage_metadata.as_ref().map(usage_from_wire).unwrap_or_default(),
    })
}

/// Upstream response parts → canonical parts (see `convert` for the signature rules).
pub(crate) struct UpstreamParts<'a> {
    cx: &'a Cx,
    pub saw_call: bool,
    calls: usize,
}

impl<'a> UpstreamParts<'a> {
    pub fn new(cx: &'a Cx) -> Self {
        UpstreamParts { cx, saw_call: false, calls: 0 }
    }

    pub fn push(&mut self, p: &WirePart, out: &mut Vec<Part>) {
        let sig = upstream_signature(p);
        if let Some(fc) = &p.function_call {
            out.push(Part::ToolCall(self.tool_call(fc, sig)));
            return;
        }
        if p.is_thought() {
            let text = p.text.clone().unwrap_or_default();
            // Consecutive thought parts are one reasoning run until one is signed (as streamed).
            if let Some(Part::Reasoning(r)) = out.last_mut() {
                if r.opaque.is_none() && !r.redacted && !r.text.is_empty() {
                    r.text.push_str(&text);
                    r.opaque = sig;
                    return;
                }
            }
            out.push(Part::Reasoning(Reasoning { text, opaque: sig, ..Default::default() }));
            return;
        }
        let signed_text = p.text.as_deref().is_some_and(|t| !t.is_empty())
            && !matches!(out.last(), Some(Part::Reasoning(r)) if r.opaque.is_none() && !r.redacted);
        if let (Some(sig), false) = (&sig, signed_text) {
            attach_signature(sig.clone(), out);
        }
        if let Some(text) = &p.text {
            // Consecutive text parts are one text (as streamed).
            match out.last_mut() {
                Some(Part::Text { text: prev, .. }) if !text.is_empty() => prev.push_str(text),
                _ if !text.is_empty() => out.push(Part::text(text.clone())),
                _ => {}
            }
            // A signed answer text (Gemini 3 signs the last one): the signature follows it.
            if let (Some(sig), true) = (sig, signed_text) {
                out.push(Part::Reasoning(Reasoning { opaque: Some(sig), ..Default::default() }));
            }
        } else if let Some(blob) = &p.inline_data {
            out.push(inline_to_part(blob));
        } else if let Some(fd) = &p.file_data {
            out.push(file_data_to_part(fd));
        } else if p.executable_code.is_some() || p.code_execution_result.is_some() || !p.extra.is_empty() {
            let mut raw = p.clone();
            raw.thought_signature = None;
            if let Ok(value) = serde_json::to_value(raw) {
                out.push(Part::Unknown { origin: Protocol::Gemini, value });
            }
        }
    }

    /// A whole `functionCall` as a canonical call (id minted when Gemini sent none).
    pub fn tool_call(&mut self, fc: &super::wire::FunctionCall, sig: Option<Opaque>) -> ToolCall {
        self.saw_call = true;
        let n = self.calls;
        self.calls += 1;
        let id = match &fc.id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => format!("call_{}_{n}", self.cx.id),
        };
        let custom = self.cx.tools.is_custom(&fc.name);
        let args = args_from_wire(fc.args.as_ref());
        ToolCall {
            id,
            name: fc.name.clone(),
            arguments: if custom { unwrap_custom_input(&args) } else { args },
            kind: if custom { ToolCallKind::Custom } else { ToolCallKind::Function },
            opaque: sig,
        }
    }
}

/// The part's signature as Gemini state (the placeholder and empty strings are no state).
pub(crate) fn upstream_signature(p: &WirePart) -> Option<Opaque> {
    match p.thought_signature.as_deref() {
        None | Some("") | Some(SKIP_SIGNATURE) => None,
        Some(s) => Some(Opaque::new(Protocol::Gemini, s)),
    }
}

/// A signature on a non-thought, non-call part: onto the preceding unsigned reasoning part,
/// else a reasoning part of its own.
fn attach_signature(sig: Opaque, out: &mut Vec<Part>) {
    if let Some(Part::Reasoning(r)) = out.last_mut() {
        if r.opaque.is_none() && !r.redacted {
            r.opaque = Some(sig);
            return;
        }
    }
    out.push(Part::Reasoning(Reasoning { opaque: Some(sig), ..Default::default() }));
}

/// What a client's `thoughtSignature` stands for.
pub(crate) enum ClientSig {
    None,
    /// A reasoning part (ours, sealed), to place before the part carrying it.
    Reasoning(Reasoning),
    /// A sealed tool call: its opaque state.
    Call(Option<Opaque>),
    /// Gemini's own signature.
    Raw(String),
    /// A valid envelope of a kind that cannot stand here.
    Misplaced,
}

pub(crate) fn client_signature(token: Option<&str>, cx: &Cx, field: &str) -> Result<ClientSig, ProtocolError> {
    let Some(token) = token else { return Ok(ClientSig::None) };
    if token.is_empty() || token == SKIP_SIGNATURE {
        return Ok(ClientSig::None);
    }
    if !OpaqueCodec::is_sealed(token) {
        return Ok(ClientSig::Raw(token.to_string()));
    }
    match cx.codec.open(token) {
        Ok(Sealed::Reasoning(r)) => Ok(ClientSig::Reasoning(r)),
        Ok(Sealed::ToolCall(c)) => Ok(ClientSig::Call(c.opaque)),
        Ok(Sealed::Compaction { .. } | Sealed::Call(_)) => Ok(ClientSig::Misplaced),
        Err(e) => Err(ProtocolError::invalid_param(field, format!("{field}: {e}"))),
    }
}
