//! Server-sent events framing: an incremental, sans-IO decoder and a tiny encoder.
//!
//! Never assume one network frame is one event: the decoder carries partial lines and events
//! across `push` calls (tested at every split point).

mod decoder;
mod encoder;
pub mod sniff;

pub use decoder::{Decoder, SseEvent, DEFAULT_MAX_EVENT_BYTES};
pub use encoder::{write_comment, write_data, write_event, write_json, write_json_data, write_json_event};
