//! Usage sniffing for relayed gemini bodies.
//!
//! Every chunk of a Gemini stream is a whole `GenerateContentResponse`; those that carry usage
//! have `usageMetadata` (cumulative, so the last one wins). A non-streamed body is one response,
//! or a JSON array of chunks (the non-SSE stream framing): the last usage in it wins.

use super::convert::usage_from_wire;
use super::wire::UsageMetadata;
use crate::canonical::Usage;
use crate::sse::sniff::{contains, SniffCore};
use serde::Deserialize;

#[derive(Debug)]
pub struct Sniffer(SniffCore);

impl Sniffer {
    pub fn new(stream: bool) -> Sniffer {
        Sniffer(SniffCore::new(stream, b"usageMetadata", extract, terminal))
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

/// A chunk with a `finishReason`, or an error.
fn terminal(line: &[u8]) -> bool {
    let Some(data) = line.strip_prefix(b"data:") else { return false };
    contains(data, b"\"finishReason\"") || data.trim_ascii_start().starts_with(b"{\"error\"")
}

/// Only the field we need; everything else is skipped without being built.
#[derive(Deserialize)]
struct WithUsage {
    #[serde(default, rename = "usageMetadata", alias = "usage_metadata")]
    usage_metadata: Option<UsageMetadata>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Body {
    One(WithUsage),
    Many(Vec<WithUsage>),
}

fn extract(data: &[u8]) -> Option<Usage> {
    let last = match serde_json::from_slice::<Body>(data).ok()? {
        Body::One(w) => w.usage_metadata,
        Body::Many(all) => all.into_iter().rev().find_map(|w| w.usage_metadata),
    }?;
    Some(usage_from_wire(&last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_usage_wins_in_sse_and_arrays() {
        let stream = b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}],\"usageMetadata\":{\"promptTokenCount\":5}}\r\n\r\n\
data: {\"candidates\":[{\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":7,\"thoughtsTokenCount\":3,\"totalTokenCount\":15}}\r\n\r\n";
        for cut in 0..=stream.len() {
            let mut s = Sniffer::new(true);
            s.push(&stream[..cut]);
            s.push(&stream[cut..]);
            s.finish();
            assert_eq!(
                s.usage(),
                Usage { input: Some(5), output: Some(10), reasoning: Some(3), ..Default::default() },
                "cut {cut}"
            );
        }
        let mut s = Sniffer::new(false);
        s.push(b"[{\"usageMetadata\":{\"promptTokenCount\":1}},\r\n{\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":4}}]");
        s.finish();
        assert_eq!(s.usage(), Usage { input: Some(2), output: Some(4), ..Default::default() });
        let mut s = Sniffer::new(false);
        s.push(b"{\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":1,\"cachedContentTokenCount\":4}}");
        s.finish();
        assert_eq!(s.usage(), Usage { input: Some(9), output: Some(1), cache_read: Some(4), ..Default::default() });
        let mut s = Sniffer::new(false);
        s.push(b"not json");
        s.finish();
        assert!(s.usage().is_empty());
    }
}
