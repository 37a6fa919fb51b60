//! The OpenAI Chat Completions adapter (`Protocol::OpenaiChat`): a client speaking
//! `POST /v1/chat/completions`, and upstreams that are OpenAI or OpenAI-compatible servers
//! (vLLM, llama.cpp, Ollama, OpenRouter, DeepSeek).
//!
//! Same file names in every protocol folder:
//! - `wire`: serde types of the wire format (request, response, stream chunks, error body);
//! - `decode`: wire → canonical (client requests, upstream responses);
//! - `encode`: canonical → wire (upstream requests, client responses);
//! - `stream_in`: upstream SSE → `StreamEvent`s (sans-IO state machine);
//! - `stream_out`: `StreamEvent`s → client SSE (owns Chat's chunk grammar);
//! - `sniff`: usage from relayed bytes, for the same-protocol fast path;
//! - `error`: OpenAI error bodies, both directions;
//! - `usage_strip` (Chat only): removes from a relayed stream what the `include_usage` that
//!   crossbar added to the request brings, so the client gets the stream it asked for.
//!
//! Must never: do I/O, panic on any input, or drop a field silently (harmless drops are
//! `Loss`es, fields that must not be dropped are `ProtocolError::Unsupported`).
//!
//! Chat has no field for opaque provider state: foreign reasoning signatures and tool-call
//! signatures cannot travel through a Chat client and are lost (recorded as `Loss` when a
//! Chat upstream is asked to replay them).

pub mod decode;
mod decode_messages;
pub mod encode;
mod encode_messages;
pub mod error;
pub mod sniff;
pub mod stream_in;
pub mod stream_out;
pub mod usage_strip;
pub mod wire;
