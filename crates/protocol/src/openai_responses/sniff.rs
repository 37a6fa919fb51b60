//! Usage sniffing for relayed OpenAI Responses bodies.
//!
//! Streams carry usage only in the terminal `response.completed` / `response.incomplete` /
//! `response.failed` event (`response.usage`); a non-streamed body has it at top level. The
//! needle `"input_tokens"` is in every usage object however the JSON is spaced, and never
//! matches model text (inside a JSON string its quotes would be escaped).

use super::common::usage_from_wire;
use super::wire::UsageIn;
use crate::canonical::Usage;
use crate::sse::sniff::{contains, leading, objects_after, SniffCore};
use serde::Deserialize;

#[derive(Debug)]
pub struct Sniffer(SniffCore);

impl Sniffer {
    pub fn new(stream: bool) -> Sniffer {
        Sniffer(SniffCore::new(stream, b"\"input_tokens\"", extract, terminal))
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

/// `response.completed` / `response.failed` / `response.incomplete`, or an `error` event, by
/// its `event:` line or the `type` at the start of its data.
fn terminal(line: &[u8]) -> bool {
    const ENDS: [&[u8]; 3] = [b"response.completed", b"response.failed", b"response.incomplete"];
    if let Some(name) = line.strip_prefix(b"event:") {
        let name = name.trim_ascii();
        return ENDS.contains(&name) || name == b"error";
    }
    let Some(data) = line.strip_prefix(b"data:") else { return false };
    let head = &data[..data.len().min(96)];
    const TYPES: [&[u8]; 8] = [
        b"\"type\":\"response.completed\"",
        b"\"type\":\"response.failed\"",
        b"\"type\":\"response.incomplete\"",
        b"\"type\":\"error\"",
        b"\"type\": \"response.completed\"",
        b"\"type\": \"response.failed\"",
        b"\"type\": \"response.incomplete\"",
        b"\"type\": \"error\"",
    ];
    TYPES.iter().any(|t| contains(head, t))
}

/// Only the fields that lead to usage; everything else (the full `output`) is skipped unparsed.
#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    response: Option<Inner>,
    #[serde(default)]
    usage: Option<UsageIn>,
}

#[derive(Deserialize)]
struct Inner {
    #[serde(default)]
    usage: Option<UsageIn>,
}

fn extract(data: &[u8]) -> Option<Usage> {
    // Only the usage object (the last `"usage": {…}`), not the whole response with its output;
    // the whole document if that gives nothing.
    // No `"usage"` object at all (`"usage": null` on every event before the last): nothing.
    let mut candidates = objects_after(data, b"\"usage\"").peekable();
    candidates.peek()?;
    for object in candidates {
        if let Some(u) = leading::<UsageIn>(object).filter(|u| u.input_tokens.is_some() || u.output_tokens.is_some()) {
            return Some(usage_from_wire(&u));
        }
    }
    let doc: Doc = serde_json::from_slice(data).ok()?;
    let usage = doc.response.and_then(|r| r.usage).or(doc.usage)?;
    Some(usage_from_wire(&usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_usage_from_the_terminal_event_and_from_a_body() {
        let stream = concat!(
            "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"r\",\"usage\":null}}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"the \\\"input_tokens\\\" field\"}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"output\":[{\"type\":\"message\"}],",
            "\"usage\":{\"input_tokens\":10,\"input_tokens_details\":{\"cached_tokens\":4},\"output_tokens\":5,",
            "\"output_tokens_details\":{\"reasoning_tokens\":2},\"total_tokens\":15}}}\n\n"
        )
        .as_bytes();
        let want = Usage {
            input: Some(10),
            output: Some(5),
            cache_read: Some(4),
            cache_write: None,
            cache_write_1h: None,
            reasoning: Some(2),
        };
        for cut in 0..=stream.len() {
            let mut s = Sniffer::new(true);
            s.push(&stream[..cut]);
            s.push(&stream[cut..]);
            s.finish();
            assert_eq!(s.usage(), want, "cut at {cut}");
        }
        let mut s = Sniffer::new(false);
        s.push(br#"{"id":"resp_1","object":"response","output":[],"usage":{"input_tokens":3,"output_tokens":1,"total_tokens":4}}"#);
        s.finish();
        assert_eq!(s.usage(), Usage { input: Some(3), output: Some(1), ..Default::default() });
    }

    #[test]
    fn another_usage_member_after_the_real_one_does_not_hide_it() {
        let mut s = Sniffer::new(false);
        s.push(br#"{"response":{"usage":{"input_tokens":7,"output_tokens":2},"metadata":{"usage":{"plan":"x"}}}}"#);
        s.finish();
        assert_eq!(s.usage(), Usage { input: Some(7), output: Some(2), ..Default::default() });
    }

    #[test]
    fn garbage_is_ignored() {
        let mut s = Sniffer::new(true);
        s.push(b"data: {\"input_tokens\" nonsense\n\ndata: \xff\xfe\"input_tokens\"\n\n");
        s.finish();
        assert!(s.usage().is_empty());
    }
}
