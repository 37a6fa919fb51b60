//! Usage sniffing for relayed Chat Completions bodies.
//!
//! Streams report usage in the last chunk (`choices: []`, `usage {...}`) when
//! `stream_options.include_usage` is set; with it set, every earlier chunk carries
//! `"usage": null`, which yields nothing here. Non-streamed bodies carry `usage` at the top.
//! Only the `usage` member is deserialized (serde skips the rest without building values).

use super::wire::InUsage;
use crate::canonical::Usage;
use crate::sse::sniff::{contains, leading, objects_after, SniffCore};
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

/// `[DONE]`, or a chunk with a non-null `finish_reason` (some compatible servers end there).
fn terminal(line: &[u8]) -> bool {
    let Some(data) = line.strip_prefix(b"data:") else { return false };
    let data = data.trim_ascii();
    data == b"[DONE]"
        || contains(data, b"\"finish_reason\":\"")
        || contains(data, b"\"finish_reason\": \"")
        || data.starts_with(b"{\"error\"")
}

#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<InUsage>,
}

fn extract(data: &[u8]) -> Option<Usage> {
    // Every chunk of a stream that asked for usage carries `"usage":null`: only a `"usage"`
    // followed by an object counts, and only that object is parsed (the whole document was
    // most of a relayed answer's sniffing cost); the document only if no object gave usage.
    let mut candidates = objects_after(data, b"\"usage\"").peekable();
    candidates.peek()?;
    for object in candidates {
        if let Some(u) = leading::<InUsage>(object).map(|u| u.to_canonical()).filter(|u| !u.is_empty()) {
            return Some(u);
        }
    }
    let doc: UsageOnly = serde_json::from_slice(data).ok()?;
    let usage = doc.usage?.to_canonical();
    (!usage.is_empty()).then_some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_when_usage_is_an_object() {
        assert_eq!(extract(br#"{"choices":[],"usage":null}"#), None);
        assert_eq!(extract(br#"{"choices":[{"delta":{"content":""usage": {"}}],"usage":null}"#), None);
        let spaced = extract(br#"{"choices":[], "usage" :  {"prompt_tokens":3,"completion_tokens":1}}"#);
        assert_eq!(spaced.and_then(|u| u.input), Some(3));
        assert_eq!(extract(br#"{"usage""#), None);
    }

    #[test]
    fn reads_the_usage_chunk_and_ignores_null_usage() {
        let stream = concat!(
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"usage\"}}],\"usage\":null}\n\n",
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17,",
            "\"prompt_tokens_details\":{\"cached_tokens\":4},\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\n",
            "data: [DONE]\n\n"
        )
        .as_bytes();
        for cut in 0..=stream.len() {
            let mut s = Sniffer::new(true);
            s.push(&stream[..cut]);
            s.push(&stream[cut..]);
            s.finish();
            let u = s.usage();
            assert_eq!(u.input, Some(12), "cut {cut}");
            assert_eq!(u.output, Some(5));
            assert_eq!(u.cache_read, Some(4));
            assert_eq!(u.reasoning, Some(2));
        }
    }

    #[test]
    fn reads_a_json_body() {
        let mut s = Sniffer::new(false);
        s.push(br#"{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#);
        s.finish();
        assert_eq!(s.usage(), Usage { input: Some(3), output: Some(1), ..Default::default() });
        assert_eq!(extract(br#"{"usage":null}"#), None);
        assert_eq!(extract(b"not json"), None);
    }
}
