//! Opaque provider state, tagged with where it came from, and the gateway's sealed envelope.
//!
//! Providers need their reasoning state back on the next turn: Anthropic thinking
//! `signature` (and `redacted_thinking.data`), Gemini `thoughtSignature`, OpenAI
//! `encrypted_content`. An `Opaque` carries that state with its `origin`, and upstream
//! encoders replay it **only** to a provider of the same protocol; anywhere else they drop it
//! and record a `Loss`.
//!
//! When the client's protocol differs from the upstream's, the state must travel through the
//! client's own opaque field (a Responses reasoning item's `encrypted_content`, an Anthropic
//! thinking `signature`, a Gemini `thoughtSignature`). Client-side encoders then write a
//! **sealed envelope**: standard, padded base64 of `"cb1"` ‖ nonce ‖ ChaCha20-Poly1305(JSON of
//! the part). It is valid base64 because the Gemini SDKs decode `thoughtSignature` as bytes
//! (and re-encode them, so the padded standard form is the one that round-trips); every
//! envelope therefore starts with `Y2Ix`, the base64 of `cb1`.
//! The key is the gateway's own (kept in its data store), so envelopes stay valid across
//! restarts and instances, cannot be read by clients, and cannot be forged or altered.
//!
//! ## Tool-call ids
//! A tool call's own state (Gemini's `thoughtSignature` on a `functionCall`) has no slot in a
//! Responses `function_call`, an Anthropic `tool_use` or a Chat tool call. What every client
//! does hand back verbatim is the call's id (it must, to pair the result with the call), so a
//! client encoder writes a call whose state is foreign to the client under a **sealed id**
//! (`Sealed::Call`: the provider's id, the call's state and, for Chat, which has no reasoning
//! slot at all, the signed reasoning that preceded the call). Ids use the URL-safe alphabet
//! without padding, so they match Anthropic's `^[a-zA-Z0-9_-]+$` id pattern; they start with
//! `Y2Ix` too. `OpaqueCodec::expand_call_ids` (run by `dispatch::decode_request` for every
//! client protocol) turns them back: the call gets its id and state, the reasoning is put back
//! before it, and every tool result naming the sealed id gets the provider's id.
//!
//! Decoders that meet a client opaque field:
//! - starting with `Y2Ix` (`SEALED_PREFIX`) → `OpaqueCodec::open`; failure is a clean 400 (tampered or from
//!   another gateway), never a silently wrong replay;
//! - anything else → `Opaque { origin: <this protocol>, payload }` (the provider's own state,
//!   e.g. a real Anthropic signature from a same-protocol conversation).

use super::request::{Message, Part, Reasoning, Request, ToolCall};
use super::Protocol;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

pub type Origin = Protocol;

/// The magic bytes at the start of every envelope's binary form.
const MAGIC: &[u8; 3] = b"cb1";
/// Prefix of every sealed envelope's text form (the base64 of `MAGIC`).
pub const SEALED_PREFIX: &str = "Y2Ix";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opaque {
    pub origin: Origin,
    pub payload: String,
}

impl Opaque {
    pub fn new(origin: Origin, payload: impl Into<String>) -> Opaque {
        Opaque { origin, payload: payload.into() }
    }
}

/// What an envelope holds: the part whose state must come back on the next turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Sealed {
    Reasoning(Reasoning),
    ToolCall(ToolCall),
    /// A compaction summary (Codex remote compaction on a non-OpenAI upstream).
    Compaction {
        summary: String,
    },
    /// What a sealed tool-call id stands for (see the module docs).
    Call(CallState),
}

/// The provider's side of a tool call whose client id is sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallState {
    /// The id the provider gave the call.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opaque: Option<Opaque>,
    /// Signed reasoning that came before the call (only for clients without a reasoning slot).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasoning: Vec<Reasoning>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpaqueError {
    #[error("opaque state is not a crossbar envelope")]
    NotSealed,
    #[error("opaque state was altered or was issued by another gateway")]
    Tampered,
}

/// Seals and opens envelopes with the gateway's key.
pub struct OpaqueCodec {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for OpaqueCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueCodec(<key redacted>)")
    }
}

impl OpaqueCodec {
    pub fn new(key: [u8; 32]) -> OpaqueCodec {
        OpaqueCodec { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) }
    }

    /// Whether a client-supplied opaque string is one of ours (without checking it).
    pub fn is_sealed(token: &str) -> bool {
        token.starts_with(SEALED_PREFIX)
    }

    pub fn seal(&self, value: &Sealed) -> String {
        STANDARD.encode(self.seal_bytes(value))
    }

    /// An envelope in the URL-safe alphabet without padding, for fields that are ids.
    pub fn seal_id(&self, value: &Sealed) -> String {
        URL_SAFE_NO_PAD.encode(self.seal_bytes(value))
    }

    fn seal_bytes(&self, value: &Sealed) -> Vec<u8> {
        let plain = serde_json::to_vec(value).unwrap_or_default();
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let cipher = self.cipher.encrypt(&nonce, plain.as_slice()).unwrap_or_default();
        let mut raw = Vec::with_capacity(MAGIC.len() + nonce.len() + cipher.len());
        raw.extend_from_slice(MAGIC);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&cipher);
        raw
    }

    pub fn open(&self, token: &str) -> Result<Sealed, OpaqueError> {
        if !Self::is_sealed(token) {
            return Err(OpaqueError::NotSealed);
        }
        // Clients may hand the bytes back in the URL-safe alphabet (or unpadded).
        let raw = STANDARD
            .decode(token)
            .or_else(|_| URL_SAFE.decode(token))
            .or_else(|_| URL_SAFE_NO_PAD.decode(token))
            .or_else(|_| STANDARD_NO_PAD.decode(token.trim_end_matches('=')))
            .map_err(|_| OpaqueError::Tampered)?;
        let Some(raw) = raw.strip_prefix(MAGIC.as_slice()) else {
            return Err(OpaqueError::Tampered);
        };
        if raw.len() < 12 + 16 {
            return Err(OpaqueError::Tampered);
        }
        let (nonce, cipher) = raw.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), cipher).map_err(|_| OpaqueError::Tampered)?;
        serde_json::from_slice(&plain).map_err(|_| OpaqueError::Tampered)
    }

    /// Convenience for client-side encoders: the string to put in the client's opaque field
    /// for a reasoning part. Same-origin state is written raw; foreign state is sealed.
    pub fn reasoning_token(&self, client: Protocol, reasoning: &Reasoning) -> Option<String> {
        match &reasoning.opaque {
            Some(o) if o.origin == client => Some(o.payload.clone()),
            _ => Some(self.seal(&Sealed::Reasoning(reasoning.clone()))),
        }
    }

    /// The id a client sees for a call with provider id `id` and state `opaque`: `id` itself
    /// when the client can carry the state on its own (none, or of the client's own protocol)
    /// and there is no `reasoning` to fold in; else a sealed id (see the module docs).
    /// Computed once per call: every envelope has a fresh nonce.
    pub fn client_call_id(
        &self,
        client: Protocol,
        id: &str,
        opaque: Option<&Opaque>,
        reasoning: Vec<Reasoning>,
    ) -> String {
        let foreign = opaque.filter(|o| o.origin != client).cloned();
        if foreign.is_none() && reasoning.is_empty() {
            return id.to_string();
        }
        self.seal_id(&Sealed::Call(CallState { id: id.to_string(), opaque: foreign, reasoning }))
    }

    /// Turns sealed tool-call ids in a decoded client request back into the provider's (see the
    /// module docs). An id that looks sealed but does not open is a clean 400.
    pub fn expand_call_ids(&self, req: &mut Request) -> Result<(), super::ProtocolError> {
        for (i, m) in req.messages.iter_mut().enumerate() {
            if m.parts.iter().any(|p| sealed_id(p).is_some()) {
                self.expand_message(i, m)?;
            }
        }
        Ok(())
    }

    fn expand_message(&self, i: usize, m: &mut Message) -> Result<(), super::ProtocolError> {
        let parts = std::mem::take(&mut m.parts);
        let mut out = Vec::with_capacity(parts.len() + 1);
        for (j, mut part) in parts.into_iter().enumerate() {
            let Some(token) = sealed_id(&part).map(str::to_string) else {
                out.push(part);
                continue;
            };
            let field = format!("messages[{i}].parts[{j}].id");
            let state = match self.open(&token) {
                Ok(Sealed::Call(state)) => state,
                Ok(_) => return Err(super::ProtocolError::invalid_param(&field, "this tool call id holds no call")),
                Err(e) => return Err(super::ProtocolError::invalid_param(&field, format!("tool call id: {e}"))),
            };
            match &mut part {
                Part::ToolCall(c) => {
                    if !state.reasoning.is_empty() {
                        // The reasoning opens this step (after the previous call, if any), as
                        // it did in the response. The client's own echo of it (Chat
                        // `reasoning_content`) carries no state: the sealed parts replace it.
                        let start = out
                            .iter()
                            .rposition(|p| matches!(p, Part::ToolCall(_) | Part::ToolResult(_)))
                            .map_or(0, |k| k + 1);
                        let mut step = out.split_off(start);
                        step.retain(|p| !matches!(p, Part::Reasoning(r) if r.opaque.is_none()));
                        out.extend(state.reasoning.into_iter().map(Part::Reasoning));
                        out.extend(step);
                    }
                    c.id = state.id;
                    if c.opaque.is_none() {
                        c.opaque = state.opaque;
                    }
                }
                Part::ToolResult(r) => r.call_id = state.id,
                _ => {}
            }
            out.push(part);
        }
        m.parts = out;
        Ok(())
    }

    /// Convenience for client-side decoders: the reasoning part a client opaque field stands for.
    /// `text` is what the client sent as the visible reasoning text alongside the token.
    pub fn reasoning_from_token(
        &self,
        client: Protocol,
        token: &str,
        text: &str,
    ) -> Result<Reasoning, super::ProtocolError> {
        if Self::is_sealed(token) {
            match self.open(token) {
                Ok(Sealed::Reasoning(r)) => Ok(r),
                Ok(_) => {
                    Err(super::ProtocolError::invalid("opaque reasoning state holds something other than reasoning"))
                }
                Err(e) => Err(super::ProtocolError::invalid(e.to_string())),
            }
        } else {
            Ok(Reasoning {
                text: text.to_string(),
                summary: Vec::new(),
                opaque: Some(Opaque::new(client, token)),
                redacted: false,
            })
        }
    }
}

/// The id of a call or result part when it is a sealed envelope.
fn sealed_id(p: &Part) -> Option<&str> {
    let id = match p {
        Part::ToolCall(c) => c.id.as_str(),
        Part::ToolResult(r) => r.call_id.as_str(),
        _ => return None,
    };
    OpaqueCodec::is_sealed(id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> OpaqueCodec {
        OpaqueCodec::new([7u8; 32])
    }

    #[test]
    fn sealed_reasoning_round_trips() {
        let r = Reasoning {
            text: "think".into(),
            summary: vec![],
            opaque: Some(Opaque::new(Protocol::Anthropic, "sig")),
            redacted: false,
        };
        let token = codec().seal(&Sealed::Reasoning(r.clone()));
        assert!(token.starts_with(SEALED_PREFIX));
        assert_eq!(codec().open(&token), Ok(Sealed::Reasoning(r)));
    }

    #[test]
    fn tampered_and_foreign_envelopes_are_rejected() {
        let token = codec().seal(&Sealed::Compaction { summary: "s".into() });
        let mut bytes = token.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap_or_default();
        assert_eq!(codec().open(&tampered), Err(OpaqueError::Tampered));
        let other = OpaqueCodec::new([8u8; 32]).seal(&Sealed::Compaction { summary: "s".into() });
        assert_eq!(codec().open(&other), Err(OpaqueError::Tampered));
        assert_eq!(codec().open("not-ours"), Err(OpaqueError::NotSealed));
        assert_eq!(codec().open("Y2Ix%%%"), Err(OpaqueError::Tampered));
        assert_eq!(codec().open("Y2IxAAAA"), Err(OpaqueError::Tampered));
    }

    #[test]
    fn call_ids_carry_foreign_state_and_expand_back() {
        use crate::canonical::{Message, Part, Request, Role, ToolCall, ToolResult};
        let c = codec();
        let sig = Opaque::new(Protocol::Gemini, "gemini-sig");
        // The client's own state, or none: the provider's id as is.
        assert_eq!(c.client_call_id(Protocol::Gemini, "call_1", Some(&sig), Vec::new()), "call_1");
        assert_eq!(c.client_call_id(Protocol::Anthropic, "call_1", None, Vec::new()), "call_1");
        let thought = Reasoning {
            text: "think".into(),
            opaque: Some(Opaque::new(Protocol::Anthropic, "anthropic-sig")),
            ..Default::default()
        };
        let id = c.client_call_id(Protocol::OpenaiChat, "call_1", Some(&sig), vec![thought.clone()]);
        assert!(id.starts_with(SEALED_PREFIX), "{id}");
        assert!(
            id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "Anthropic's id pattern: {id}"
        );

        let call = |id: &str| ToolCall {
            id: id.into(),
            name: "f".into(),
            arguments: "{}".into(),
            kind: Default::default(),
            opaque: None,
        };
        let mut req = Request {
            messages: vec![
                Message { role: Role::User, parts: vec![Part::text("hi")] },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Reasoning(Reasoning { text: "think".into(), ..Default::default() }),
                        Part::text("calling"),
                        Part::ToolCall(call(&id)),
                    ],
                },
                Message {
                    role: Role::Tool,
                    parts: vec![Part::ToolResult(ToolResult {
                        call_id: id.clone(),
                        name: None,
                        content: vec![Part::text("ok")],
                        is_error: false,
                        kind: Default::default(),
                    })],
                },
            ],
            ..Default::default()
        };
        assert_eq!(c.expand_call_ids(&mut req), Ok(()));
        let assistant = &req.messages[1].parts;
        assert_eq!(assistant.len(), 3, "{assistant:?}");
        assert_eq!(assistant[0], Part::Reasoning(thought), "the signed reasoning replaces the echo, first");
        assert_eq!(assistant[1], Part::text("calling"));
        assert_eq!(assistant[2], Part::ToolCall(ToolCall { opaque: Some(sig.clone()), ..call("call_1") }));
        assert!(matches!(&req.messages[2].parts[0], Part::ToolResult(r) if r.call_id == "call_1"));

        // Sealed by another gateway, or not a call: refused.
        let foreign = OpaqueCodec::new([8u8; 32]).client_call_id(Protocol::Anthropic, "x", Some(&sig), Vec::new());
        let mut req = Request {
            messages: vec![Message { role: Role::Assistant, parts: vec![Part::ToolCall(call(&foreign))] }],
            ..Default::default()
        };
        assert!(c.expand_call_ids(&mut req).is_err());
        let compaction = c.seal_id(&Sealed::Compaction { summary: "s".into() });
        let mut req = Request {
            messages: vec![Message { role: Role::Assistant, parts: vec![Part::ToolCall(call(&compaction))] }],
            ..Default::default()
        };
        assert!(c.expand_call_ids(&mut req).is_err());
    }

    #[test]
    fn same_origin_state_is_written_raw() {
        let r = Reasoning { opaque: Some(Opaque::new(Protocol::Anthropic, "sig")), ..Default::default() };
        assert_eq!(codec().reasoning_token(Protocol::Anthropic, &r).as_deref(), Some("sig"));
        let token = codec().reasoning_token(Protocol::OpenaiResponses, &r).unwrap_or_default();
        assert!(OpaqueCodec::is_sealed(&token));
    }
}
