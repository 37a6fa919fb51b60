//! The protocol-independent half of usage sniffing on the byte relay.
//!
//! It sees each relayed frame as `&[u8]` *after* the frame went to the client; it never holds
//! the relay up. For SSE it keeps a bounded carry-over of the current partial line; each
//! complete `data:` line that contains `needle` (a cheap substring pre-filter) is handed to the
//! protocol's `extract` function. For a JSON body it copies up to a cap and parses at `finish`.
//! Past either cap it gives up and reports what it has ("usage unknown" when nothing).
//!
//! It also watches for the protocol's terminal event (`Terminal`: `[DONE]`, `response.completed`,
//! `message_stop`, a Gemini `finishReason`, or an error event), so the relay can add the right
//! failure event itself when an upstream stream simply stops, and counts the `data:` events
//! relayed (the output estimate when an upstream never reports usage). Overlong lines are
//! checked for a terminal marker on their first and last bytes only.

use crate::canonical::Usage;

/// Longest SSE line we keep for usage parsing (usage lines are small; huge content lines are
/// skipped rather than buffered).
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// Largest non-streamed body we copy for usage parsing.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Extracts usage from one SSE `data:` payload or one whole JSON body.
pub type Extract = fn(&[u8]) -> Option<Usage>;

/// Whether one SSE line (`event: …` or `data: …`, or the first/last bytes of an overlong
/// one) is the protocol's terminal event.
pub type Terminal = fn(&[u8]) -> bool;

/// How many bytes of an overlong line's start and end are kept for the terminal check.
const EDGE_BYTES: usize = 256;

#[derive(Debug)]
pub struct SniffCore {
    stream: bool,
    needle: &'static [u8],
    extract: Extract,
    terminal: Terminal,
    buf: Vec<u8>,
    /// The current line is longer than the cap: skip to its end (keeping its last bytes).
    skipping: bool,
    edge: Vec<u8>,
    gave_up: bool,
    usage: Usage,
    ended: bool,
    events: u64,
}

impl SniffCore {
    pub fn new(stream: bool, needle: &'static [u8], extract: Extract, terminal: Terminal) -> SniffCore {
        SniffCore {
            stream,
            needle,
            extract,
            terminal,
            buf: Vec::new(),
            skipping: false,
            edge: Vec::new(),
            gave_up: false,
            usage: Usage::default(),
            ended: false,
            events: 0,
        }
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The stream carried its protocol's terminal event (always true for a JSON body).
    pub fn ended(&self) -> bool {
        self.ended || !self.stream
    }

    /// `data:` events seen so far (including overlong ones).
    pub fn events(&self) -> u64 {
        self.events
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
            if self.skipping {
                self.keep_edge(line);
                let edge = std::mem::take(&mut self.edge);
                self.ended |= (self.terminal)(&edge);
            } else {
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
        if self.skipping {
            self.keep_edge(rest);
        } else if self.buf.len() + rest.len() > MAX_LINE_BYTES {
            // Too long to parse: only its start and (later) its end are checked.
            self.skipping = true;
            self.buf.extend_from_slice(&rest[..rest.len().min(EDGE_BYTES)]);
            if self.buf.starts_with(b"data:") {
                self.events += 1;
            }
            self.ended |= (self.terminal)(&self.buf[..self.buf.len().min(EDGE_BYTES)]);
            self.buf.clear();
            self.keep_edge(rest);
        } else {
            self.buf.extend_from_slice(rest);
        }
    }

    /// Keep the last `EDGE_BYTES` of an overlong line.
    fn keep_edge(&mut self, bytes: &[u8]) {
        let bytes = &bytes[bytes.len().saturating_sub(EDGE_BYTES)..];
        let excess = (self.edge.len() + bytes.len()).saturating_sub(EDGE_BYTES);
        self.edge.drain(..excess.min(self.edge.len()));
        self.edge.extend_from_slice(bytes);
    }

    /// `push(last)` then `finish()`; a JSON body that is all in `last` is read where it is
    /// instead of being copied first.
    pub fn finish_with(&mut self, last: &[u8]) {
        if !self.stream && !self.gave_up && self.buf.is_empty() && last.len() <= MAX_BODY_BYTES {
            if let Some(u) = (self.extract)(last) {
                self.usage.merge(&u);
            }
            return;
        }
        self.push(last);
        self.finish();
    }

    pub fn finish(&mut self) {
        if self.gave_up {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        if self.stream {
            if self.skipping {
                let edge = std::mem::take(&mut self.edge);
                self.ended |= (self.terminal)(&edge);
            } else {
                self.line(&buf);
            }
        } else if let Some(u) = (self.extract)(&buf) {
            self.usage.merge(&u);
        }
    }

    fn line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !self.ended && !line.is_empty() {
            self.ended = (self.terminal)(line);
        }
        let Some(data) = line.strip_prefix(b"data:") else { return };
        self.events += 1;
        if !contains(data, self.needle) {
            return;
        }
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if let Some(u) = (self.extract)(data) {
            self.usage.merge(&u);
        }
    }
}

/// Where each `key` (a quoted JSON name, `"usage"`) is followed by `:` and an object, last one
/// first: the slice from that object's `{` on. A key inside a JSON string cannot match (its
/// quotes are escaped there), so each candidate is a real member; callers deserialize just the
/// object (serde stops at its end) instead of the whole document, and fall back to the whole
/// document when no candidate gives usage.
pub fn objects_after<'a>(data: &'a [u8], key: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    memchr::memmem::rfind_iter(data, key).filter_map(move |at| {
        let rest = data[at + key.len()..].trim_ascii_start().strip_prefix(b":")?.trim_ascii_start();
        rest.starts_with(b"{").then_some(rest)
    })
}

/// The first value `T` deserializes from the start of `bytes` (what follows it is ignored).
pub fn leading<'de, T: serde::Deserialize<'de>>(bytes: &'de [u8]) -> Option<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    T::deserialize(&mut de).ok()
}

/// Substring test (memchr's SIMD search: a byte-by-byte `windows` compare showed up as a fifth
/// of a relayed stream's instructions).
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(data: &[u8]) -> Option<Usage> {
        let v: serde_json::Value = serde_json::from_slice(data).ok()?;
        Some(Usage { output: v.get("usage")?.as_u64(), ..Default::default() })
    }

    fn done(line: &[u8]) -> bool {
        line == b"data: [DONE]"
    }

    #[test]
    fn objects_after_a_key_are_found_last_first_and_never_inside_strings() {
        let doc = br#"{"a":{"usage" : {"n":1}},"text":"say \"usage\": {\"n\":9}","usage":null,"usage":{"n":2}}"#;
        let found: Vec<u64> = objects_after(doc, b"\"usage\"")
            .filter_map(|o| leading::<serde_json::Value>(o)?.get("n")?.as_u64())
            .collect();
        assert_eq!(found, vec![2, 1]);
        assert_eq!(objects_after(br#"{"usage""#, b"\"usage\"").count(), 0);
    }

    #[test]
    fn finishing_with_the_last_bytes_reads_what_pushing_them_reads() {
        let body = br#"{"usage":7}"#;
        for stream in [false, true] {
            for cut in 0..=body.len() {
                let mut a = SniffCore::new(stream, b"usage", extract, done);
                a.push(&body[..cut]);
                a.finish_with(&body[cut..]);
                let mut b = SniffCore::new(stream, b"usage", extract, done);
                b.push(body);
                b.finish();
                assert_eq!(a.usage(), b.usage(), "stream {stream} cut {cut}");
            }
        }
        let mut whole = SniffCore::new(false, b"usage", extract, done);
        whole.finish_with(body);
        assert_eq!(whole.usage().output, Some(7));
    }

    #[test]
    fn sees_the_terminal_event_at_every_split_point() {
        let stream = b"data: {\"x\":1}\n\ndata: [DONE]\n\n";
        for cut in 0..=stream.len() {
            let mut s = SniffCore::new(true, b"usage", extract, done);
            s.push(&stream[..cut]);
            assert!(!s.ended() || cut >= stream.len() - 2, "cut {cut}");
            s.push(&stream[cut..]);
            s.finish();
            assert!(s.ended(), "cut {cut}");
            assert_eq!(s.events(), 2);
        }
        let mut s = SniffCore::new(true, b"usage", extract, done);
        s.push(b"data: {\"x\":1}\n\n");
        s.finish();
        assert!(!s.ended());
    }

    #[test]
    fn overlong_lines_are_checked_at_both_ends() {
        let starts = |l: &[u8]| l.starts_with(b"data: {\"type\":\"end\"");
        let ends = |l: &[u8]| l.ends_with(b"\"fin\":1}");
        let mut big = b"data: {\"type\":\"end\",\"pad\":\"".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_LINE_BYTES + 10));
        big.extend_from_slice(b"\",\"fin\":1}\n\n");
        for terminal in [starts as Terminal, ends as Terminal] {
            for piece in [7usize, 1000, MAX_LINE_BYTES] {
                let mut s = SniffCore::new(true, b"usage", extract, terminal);
                for c in big.chunks(piece) {
                    s.push(c);
                }
                s.finish();
                assert!(s.ended(), "piece {piece}");
                assert_eq!(s.events(), 1);
            }
        }
    }

    #[test]
    fn finds_usage_at_every_split_point() {
        let stream = b"data: {\"x\":1}\n\ndata: {\"usage\":42}\r\n\r\ndata: [DONE]\n\n";
        for cut in 0..=stream.len() {
            let mut s = SniffCore::new(true, b"usage", extract, done);
            s.push(&stream[..cut]);
            s.push(&stream[cut..]);
            s.finish();
            assert_eq!(s.usage().output, Some(42), "cut {cut}");
        }
    }

    #[test]
    fn json_body_is_parsed_at_finish() {
        let mut s = SniffCore::new(false, b"", extract, done);
        s.push(b"{\"usa");
        s.push(b"ge\":7}");
        s.finish();
        assert_eq!(s.usage().output, Some(7));
    }

    #[test]
    fn overlong_lines_are_skipped_not_buffered() {
        let mut s = SniffCore::new(true, b"usage", extract, done);
        s.push(b"data: ");
        s.push(&vec![b'a'; MAX_LINE_BYTES + 10]);
        assert!(s.buf.is_empty());
        s.push(b"\ndata: {\"usage\":3}\n");
        s.finish();
        assert_eq!(s.usage().output, Some(3));
    }
}
