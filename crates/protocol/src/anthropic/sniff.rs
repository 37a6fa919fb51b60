//! Usage sniffing for relayed Anthropic bodies.
//!
//! Streams report usage in `message_start` (input and cache counts) and `message_delta`
//! (output, sometimes totals of the others); a non-streamed Message has `usage` at the top.
//! Every one of those contains `"usage"`.

use super::convert::usage_in;
use super::wire::InUsage;
use crate::canonical::Usage;
use crate::sse::sniff::{contains, SniffCore};
use serde::Deserialize;

#[derive(Debug)]
pub struct Sniffer(SniffCore);

impl Sniffer {
    pub fn new(stream: bool) -> Sniffer {
        Sniffer(SniffCore::new(stream, b"\"usage\"", extract, terminal))
    }
    pub fn push(&mut self, chunk: &[u8]) {
        self.0.push(chunk)
    }
    pub fn finish(&mut self) {
        self.0.finish()
    }
    pub fn finish_with(&mut self, last: &[u8]) {
        self.0.finish_with(last)
    }
    pub fn usage(&self) -> Usage {
        self.0.usage()
    }
    pub fn core(&self) -> &SniffCore {
        &self.0
    }
}

/// `message_stop` or an `error` event, by its `event:` line or its data's `type`.
fn terminal(line: &[u8]) -> bool {
    if let Some(name) = line.strip_prefix(b"event:") {
        let name = name.trim_ascii();
        return name == b"message_stop" || name == b"error";
    }
    let Some(data) = line.strip_prefix(b"data:") else { return false };
    let head = &data[..data.len().min(64)];
    const TYPES: [&[u8]; 4] =
        [b"\"type\":\"message_stop\"", b"\"type\": \"message_stop\"", b"\"type\":\"error\"", b"\"type\": \"error\""];
    TYPES.iter().any(|t| contains(head, t))
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<ProbeMessage>,
    #[serde(default)]
    usage: Option<InUsage>,
}

#[derive(Deserialize)]
struct ProbeMessage {
    #[serde(default)]
    usage: Option<InUsage>,
}

fn extract(data: &[u8]) -> Option<Usage> {
    let p: Probe = serde_json::from_slice(data).ok()?;
    match p.kind.as_deref() {
        // `message_start`'s `output_tokens` is a placeholder (1): output comes in message_delta.
        Some("message_start") => p.message?.usage.as_ref().map(usage_in).map(|u| Usage { output: None, ..u }),
        Some("message_delta") => p.usage.as_ref().map(delta_usage),
        _ => p.usage.as_ref().map(usage_in),
    }
}

/// `message_delta.usage` holds totals but may leave out the cache counts; canonical input is
/// only recomputed when all three parts of it are present (else `message_start`'s stands).
pub fn delta_usage(u: &InUsage) -> Usage {
    let input = match (u.input_tokens, u.cache_read_input_tokens, u.cache_write()) {
        (Some(i), Some(r), Some(w)) => Some(i.saturating_add(r).saturating_add(w)),
        _ => None,
    };
    Usage {
        input,
        output: u.output_tokens,
        cache_read: u.cache_read_input_tokens,
        cache_write: u.cache_write(),
        cache_write_1h: u.cache_write_1h(),
        reasoning: None,
    }
}
