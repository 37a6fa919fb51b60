//! The OpenAI Responses protocol adapter (`POST /v1/responses`): what Codex CLI, OpenCode's
//! `openai` provider and the `openai` SDK's `responses` API speak, and OpenAI's upstream API.
//!
//! Same file names in every protocol folder:
//! - `wire`: serde types of the wire format (request, response, stream events, error body);
//! - `decode`: wire → canonical (client requests, upstream responses); `input` holds the
//!   client's item list → messages part of it;
//! - `encode`: canonical → wire (upstream requests, client responses);
//! - `stream_in`: upstream SSE → `StreamEvent`s (sans-IO state machine);
//! - `stream_out`: `StreamEvent`s → client stream bytes (owns this protocol's grammar);
//! - `sniff`: usage from relayed bytes, for the same-protocol fast path;
//! - `error`: this protocol's error body, both directions;
//! - `common`: small shared conversions (usage, names, media, reasoning state).
//!
//! Must never: keep state between requests. crossbar is stateless: `previous_response_id`,
//! `item_reference` and stored conversations are refused, and every opaque blob handed to a
//! client (`encrypted_content`) carries everything needed to replay it.

mod common;
pub mod decode;
pub mod encode;
pub mod error;
mod input;
pub mod sniff;
pub mod stream_in;
pub mod stream_out;
pub mod wire;
