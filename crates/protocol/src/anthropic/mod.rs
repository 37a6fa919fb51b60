//! The `anthropic` protocol adapter (Messages API). Same file names in every protocol folder:
//! - `wire`: serde types of the wire format (request, response, stream events, error body);
//! - `decode`: wire → canonical (client requests, upstream responses);
//! - `encode`: canonical → wire (client responses; upstream requests in `upstream_request`);
//! - `stream_in`: upstream SSE → `StreamEvent`s (sans-IO state machine);
//! - `stream_out`: `StreamEvent`s → client stream bytes (owns this protocol's grammar);
//! - `sniff`: usage from relayed bytes, for the same-protocol fast path;
//! - `error`: this protocol's error body, both directions;
//! - `convert`: the small per-concept mappings (usage, stop reasons, error types, efforts).

mod convert;
pub mod decode;
pub mod encode;
pub mod error;
pub mod sniff;
pub mod stream_in;
pub mod stream_out;
mod upstream_request;
pub mod wire;
