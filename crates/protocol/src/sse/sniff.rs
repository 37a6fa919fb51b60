//! The protocol-independent half of usage sniffing on the byte relay.
//!
//! It sees each relayed frame as `&[u8]` *after* the frame went to the client; it never holds
//! the relay up. For SSE it keeps a bounded carry-over of the current partial line; each
//! complete `data:` line that contains `needle` (a cheap substring pre-filter) is handed to the
//! protocol's `extract` function. For a JSON body it copies up to a cap and parses at `finish`.
//! Past either cap it gives up and reports what it has ("usage unknown" when nothing).

use crate::canonical::Usage;

/// Longest SSE line we keep for usage parsing (usage lines are small; huge content lines are
/// skipped rather than buffered).
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// Largest non-streamed body we copy for usage parsing.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Extracts usage from one SSE `data:` payload or one whole JSON body.
pub type Extract = fn(&[u8]) -> Option<Usage>;

#[derive(Debug)]
pub struct SniffCore {
    stream: bool,
    needle: &'static [u8],
    extract: Extract,
    buf: Vec<u8>,
    /// The current line is longer than the cap: skip to its end.
    skipping: bool,
    gave_up: bool,
    usage: Usage,
}

impl SniffCore {
    pub fn new(stream: bool, needle: &'static [u8], extract: Extract) -> SniffCore {
        SniffCore { stream, needle, extract, buf: Vec::new(), skipping: false, gave_up: false, usage: Usage::default() }
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if self.gave_up {
            return;
        }
        if !self.stream {
            if self.buf.len() + chunk.len() > MAX_BODY_BYTES {
                self.gave_up = true;
                self.buf = Vec::new();
            } else {
                self.buf.extend_from_slice(chunk);
            }
            return;
        }
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(pos);
            if !self.skipping {
                if self.buf.is_empty() {
                    self.line(line);
                } else {
                    let mut whole = std::mem::take(&mut self.buf);
                    whole.extend_from_slice(line);
                    self.line(&whole);
                    whole.clear();
                    self.buf = whole;
                }
            }
            self.skipping = false;
            self.buf.clear();
            rest = &tail[1..];
        }
        if !self.skipping {
            if self.buf.len() + rest.len() > MAX_LINE_BYTES {
                self.skipping = true;
                self.buf.clear();
            } else {
                self.buf.extend_from_slice(rest);
            }
        }
    }

    pub fn finish(&mut self) {
        if self.gave_up {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        if self.stream {
            if !self.skipping {
                self.line(&buf);
            }
        } else if let Some(u) = (self.extract)(&buf) {
            self.usage.merge(&u);
        }
    }

    fn line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else { return };
        if !contains(data, self.needle) {
            return;
        }
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if let Some(u) = (self.extract)(data) {
            self.usage.merge(&u);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(data: &[u8]) -> Option<Usage> {
        let v: serde_json::Value = serde_json::from_slice(data).ok()?;
        Some(Usage { output: v.get("usage")?.as_u64(), ..Default::default() })
    }

    #[test]
    fn finds_usage_at_every_split_point() {
        let stream = b"data: {\"x\":1}\n\ndata: {\"usage\":42}\r\n\r\ndata: [DONE]\n\n";
        for cut in 0..=stream.len() {
            let mut s = SniffCore::new(true, b"usage", extract);
            s.push(&stream[..cut]);
            s.push(&stream[cut..]);
            s.finish();
            assert_eq!(s.usage().output, Some(42), "cut {cut}");
        }
    }

    #[test]
    fn json_body_is_parsed_at_finish() {
        let mut s = SniffCore::new(false, b"", extract);
        s.push(b"{\"usa");
        s.push(b"ge\":7}");
        s.finish();
        assert_eq!(s.usage().output, Some(7));
    }

    #[test]
    fn overlong_lines_are_skipped_not_buffered() {
        let mut s = SniffCore::new(true, b"usage", extract);
        s.push(b"data: ");
        s.push(&vec![b'a'; MAX_LINE_BYTES + 10]);
        assert!(s.buf.is_empty());
        s.push(b"\ndata: {\"usage\":3}\n");
        s.finish();
        assert_eq!(s.usage().output, Some(3));
    }
}
