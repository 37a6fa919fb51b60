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
//! Decoders that meet a client opaque field:
//! - starting with `Y2Ix` (`SEALED_PREFIX`) → `OpaqueCodec::open`; failure is a clean 400 (tampered or from
//!   another gateway), never a silently wrong replay;
//! - anything else → `Opaque { origin: <this protocol>, payload }` (the provider's own state,
//!   e.g. a real Anthropic signature from a same-protocol conversation).

use super::request::{Reasoning, ToolCall};
use super::Protocol;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
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
        let plain = serde_json::to_vec(value).unwrap_or_default();
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let cipher = self.cipher.encrypt(&nonce, plain.as_slice()).unwrap_or_default();
        let mut raw = Vec::with_capacity(MAGIC.len() + nonce.len() + cipher.len());
        raw.extend_from_slice(MAGIC);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&cipher);
        STANDARD.encode(raw)
    }

    pub fn open(&self, token: &str) -> Result<Sealed, OpaqueError> {
        if !Self::is_sealed(token) {
            return Err(OpaqueError::NotSealed);
        }
        // Clients may hand the bytes back in the URL-safe alphabet (or unpadded).
        let raw = STANDARD
            .decode(token)
            .or_else(|_| URL_SAFE.decode(token))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(token.trim_end_matches('=')))
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
    fn same_origin_state_is_written_raw() {
        let r = Reasoning { opaque: Some(Opaque::new(Protocol::Anthropic, "sig")), ..Default::default() };
        assert_eq!(codec().reasoning_token(Protocol::Anthropic, &r).as_deref(), Some("sig"));
        let token = codec().reasoning_token(Protocol::OpenaiResponses, &r).unwrap_or_default();
        assert!(OpaqueCodec::is_sealed(&token));
    }
}
