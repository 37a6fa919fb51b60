//! crossbar-protocol: everything crossbar knows about the wire protocols, and nothing else.
//!
//! Owns: the canonical model (`canonical`), the SSE framing (`sse`), and one adapter folder per
//! protocol with the same file names in each (`wire`, `decode`, `encode`, `stream_in`,
//! `stream_out`, `sniff`, `error`).
//!
//! Must never: do I/O, spawn tasks, read config, or know about providers, keys or routing.
//! Every function here is a pure transformation so it can be tested at every split point,
//! property-tested and fuzzed without a runtime.

pub mod canonical;
pub mod sse;

pub mod anthropic;
pub mod gemini;
pub mod openai_chat;
pub mod openai_responses;

mod dispatch;
mod raw_json;
pub use dispatch::*;
