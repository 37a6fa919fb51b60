//! Incremental SSE decoder (WHATWG event-stream rules, minus `id`/`retry` which we ignore).

/// Largest event we accept before giving up on a stream (agent turns can carry big tool
/// arguments or base64 images in one event).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug)]
pub struct Decoder {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// Bytes buffered for the event being built.
    pending: usize,
    max_event_bytes: usize,
    /// Set when a `\r` ended the last chunk, so a leading `\n` of the next one is skipped.
    after_cr: bool,
    overflowed: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl Decoder {
    pub fn new(max_event_bytes: usize) -> Decoder {
        Decoder {
            line: Vec::new(),
            event: None,
            data: String::new(),
            has_data: false,
            pending: 0,
            max_event_bytes,
            after_cr: false,
            overflowed: false,
        }
    }

    /// True once an event grew past the cap; the decoder then yields nothing more.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Feed bytes; complete events are appended to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.overflowed {
            return;
        }
        if chunk.is_empty() {
            return;
        }
        if self.after_cr {
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
            self.after_cr = false;
        }
        let mut start = 0;
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            if b == b'\n' || b == b'\r' {
                self.line.extend_from_slice(&chunk[start..i]);
                self.end_line(out);
                if b == b'\r' {
                    if i + 1 < chunk.len() {
                        if chunk[i + 1] == b'\n' {
                            i += 1;
                        }
                    } else {
                        self.after_cr = true;
                    }
                }
                start = i + 1;
            }
            i += 1;
        }
        self.line.extend_from_slice(&chunk[start..]);
        if self.pending + self.line.len() > self.max_event_bytes {
            self.overflowed = true;
            self.line.clear();
            self.data.clear();
        }
    }

    /// End of input: dispatch an event that was not followed by a blank line.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if self.overflowed {
            return;
        }
        if !self.line.is_empty() {
            self.end_line(out);
        }
        self.dispatch(out);
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        self.pending += line.len();
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(p) => {
                let v = &line[p + 1..];
                (&line[..p], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (&line[..], &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent { event: self.event.take(), data: std::mem::take(&mut self.data) });
        }
        self.event = None;
        self.has_data = false;
        self.pending = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b": keep-alive\n\nevent: message_start\ndata: {\"a\":1}\n\ndata: line1\r\ndata: line2\r\n\r\ndata:[DONE]\n\nevent: x\ndata: tail";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent { event: Some("message_start".into()), data: "{\"a\":1}".into() },
            SseEvent { event: None, data: "line1\nline2".into() },
            SseEvent { event: None, data: "[DONE]".into() },
            SseEvent { event: Some("x".into()), data: "tail".into() },
        ]
    }

    #[test]
    fn decodes_at_every_split_point() {
        for a in 0..=STREAM.len() {
            for b in a..=STREAM.len() {
                let mut d = Decoder::default();
                let mut out = Vec::new();
                d.push(&STREAM[..a], &mut out);
                d.push(&STREAM[a..b], &mut out);
                d.push(&STREAM[b..], &mut out);
                d.finish(&mut out);
                assert_eq!(out, expected(), "split at {a},{b}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for b in STREAM {
            d.push(std::slice::from_ref(b), &mut out);
        }
        d.finish(&mut out);
        assert_eq!(out, expected());
    }

    #[test]
    fn oversized_event_stops_decoding() {
        let mut d = Decoder::new(8);
        let mut out = Vec::new();
        d.push(b"data: 0123456789", &mut out);
        assert!(d.overflowed());
        d.push(b"\n\n", &mut out);
        d.finish(&mut out);
        assert!(out.is_empty());
    }
}
