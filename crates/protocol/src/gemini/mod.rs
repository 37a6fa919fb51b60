//! The `gemini` protocol adapter. Same file names in every protocol folder:
//! - `wire`: serde types of the wire format (request, response, stream events, error body);
//! - `decode`: wire → canonical (client requests, upstream responses);
//! - `encode`: canonical → wire (upstream requests, client responses);
//! - `stream_in`: upstream SSE → `StreamEvent`s (sans-IO state machine);
//! - `stream_out`: `StreamEvent`s → client stream bytes (owns this protocol's grammar);
//! - `sniff`: usage from relayed bytes, for the same-protocol fast path;
//! - `error`: this protocol's error body, both directions.
//!
//! Gemini-only helpers: `request_in` (+ `options_in`) / `request_out` (the two request directions), `convert`
//! (usage, finish reasons, media, thought-signature placement rules), `schema` (JSON Schema ⇄
//! Gemini's OpenAPI-subset `Schema`), `names` (function-name sanitizing).

mod convert;
pub mod decode;
pub mod encode;
pub mod error;
mod names;
mod options_in;
mod part_de;
mod request_in;
mod request_out;
mod schema;
pub mod sniff;
pub mod stream_in;
pub mod stream_out;
pub mod wire;
