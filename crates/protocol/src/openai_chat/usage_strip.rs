//! Undo, on the way back to the client, the one change the relay makes to a streamed Chat
//! request that did not ask for usage: crossbar adds `stream_options.include_usage` (so every
//! token is counted), and this filter removes what that option adds to the stream — the
//! usage-only chunk (`"choices": []` with a `usage` object) and the `"usage": null` member of
//! every other chunk — so the client receives the stream it asked for, byte for byte.
//!
//! Sans-IO: `push` takes upstream bytes and writes what the client gets; events are forwarded
//! as soon as they are complete (an upstream sends whole events, so nothing waits in practice).
//! An event longer than `MAX_EVENT_BYTES` without an end gives up filtering and passes the rest
//! through untouched rather than buffer without bound. The sniffer reads usage from the raw
//! upstream bytes, before this filter.

use bytes::BytesMut;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Longest partial event held back while waiting for its end.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

#[derive(Debug, Default)]
pub struct UsageStrip {
    buf: Vec<u8>,
    /// Filtering gave up (an overlong event): everything passes through as is.
    passthrough: bool,
}

impl UsageStrip {
    pub fn push(&mut self, chunk: &[u8], out: &mut BytesMut) {
        if self.passthrough {
            out.extend_from_slice(chunk);
            return;
        }
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(end) = event_end(&self.buf[start..]) {
            let event = &self.buf[start..start + end];
            write_event(event, out);
            start += end;
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_EVENT_BYTES {
            self.passthrough = true;
            out.extend_from_slice(&self.buf);
            self.buf = Vec::new();
        }
    }

    /// The upstream ended: whatever partial event is left goes out as it is.
    pub fn finish(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(&self.buf);
        self.buf.clear();
    }

    /// The bytes written so far end at an event boundary (nothing is held back).
    pub fn at_boundary(&self) -> bool {
        self.buf.is_empty()
    }
}

/// The length of the first complete event in `b` (through its blank line), if any.
fn event_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(pos) = b[i..].iter().position(|&c| c == b'\n') {
        let nl = i + pos;
        let next = &b[nl + 1..];
        if next.first() == Some(&b'\n') {
            return Some(nl + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// One complete event: dropped when it is the usage-only chunk, its `"usage": null` member
/// cut out otherwise; anything else unchanged.
fn write_event(event: &[u8], out: &mut BytesMut) {
    let Some((data, offset)) = data_line(event) else {
        out.extend_from_slice(event);
        return;
    };
    match usage_member(data) {
        Some(Usage::Only) => {}
        Some(Usage::Null(cut)) => {
            out.extend_from_slice(&event[..offset + cut.start]);
            out.extend_from_slice(&event[offset + cut.end..]);
        }
        None => out.extend_from_slice(event),
    }
}

/// The JSON of the event's single `data:` line and where it starts in the event.
fn data_line(event: &[u8]) -> Option<(&[u8], usize)> {
    let mut at = 0;
    let mut found = None;
    for line in event.split(|&c| c == b'\n') {
        let start = at;
        at += line.len() + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            if found.is_some() {
                return None; // a multi-line data event: leave it alone
            }
            let skip = usize::from(rest.first() == Some(&b' '));
            found = Some((&rest[skip..], start + 5 + skip));
        }
    }
    found.filter(|(d, _)| d.first() == Some(&b'{'))
}

enum Usage {
    /// The usage-only chunk: drop the event.
    Only,
    /// `"usage": null` at these bytes of the data (a separating comma included): cut them.
    Null(std::ops::Range<usize>),
}

fn usage_member(data: &[u8]) -> Option<Usage> {
    let mut de = serde_json::Deserializer::from_slice(data);
    let top = de.deserialize_map(Top).ok()?;
    let usage = top.usage?;
    let value = usage.get();
    if value != "null" {
        return top.choices_empty.then_some(Usage::Only);
    }
    let v_start = value.as_ptr() as usize - data.as_ptr() as usize;
    let v_end = v_start + value.len();
    // Back over `: ` to the key, then to a comma before it (or, first member, after it).
    let mut k = v_start;
    while k > 0 && data[k - 1].is_ascii_whitespace() {
        k -= 1;
    }
    k = k.checked_sub(1).filter(|&i| data[i] == b':')?;
    while k > 0 && data[k - 1].is_ascii_whitespace() {
        k -= 1;
    }
    let key_start = k.checked_sub(b"\"usage\"".len()).filter(|&i| &data[i..k] == b"\"usage\"")?;
    let mut before = key_start;
    while before > 0 && data[before - 1].is_ascii_whitespace() {
        before -= 1;
    }
    if before > 0 && data[before - 1] == b',' {
        return Some(Usage::Null(before - 1..v_end));
    }
    let mut after = v_end;
    while after < data.len() && data[after].is_ascii_whitespace() {
        after += 1;
    }
    if data.get(after) == Some(&b',') {
        after += 1;
    }
    Some(Usage::Null(key_start..after))
}

#[derive(Default)]
struct Found<'a> {
    usage: Option<&'a RawValue>,
    choices_empty: bool,
}

struct Top;

impl<'de> Visitor<'de> for Top {
    type Value = Found<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a chunk object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found<'de>, A::Error> {
        let mut found = Found::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "usage" => found.usage = Some(map.next_value()?),
                "choices" => {
                    let raw: &RawValue = map.next_value()?;
                    let inner = raw.get().trim_start_matches('[').trim_end_matches(']');
                    found.choices_empty = inner.trim().is_empty();
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(input: &[u8], cut: usize) -> Vec<u8> {
        let mut s = UsageStrip::default();
        let mut out = BytesMut::new();
        s.push(&input[..cut], &mut out);
        s.push(&input[cut..], &mut out);
        s.finish(&mut out);
        out.to_vec()
    }

    const WITH: &[u8] =
        b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
data: {\"usage\": null, \"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n\
data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\
data: [DONE]\n\n";

    const WITHOUT: &[u8] = b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n\
data: { \"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n\
data: [DONE]\n\n";

    #[test]
    fn removes_what_include_usage_added_at_every_split_point() {
        for cut in 0..=WITH.len() {
            let got = strip(WITH, cut);
            assert!(got == WITHOUT, "cut {cut}: {}", String::from_utf8_lossy(&got));
        }
    }

    #[test]
    fn leaves_other_events_and_text_mentioning_usage_alone() {
        let text = b"data: {\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\":null\"}}]}\n\n: keep-alive\n\n";
        assert!(strip(text, 7) == text);
        let usage_in_choice = b"data: {\"choices\":[{\"usage\":null}],\"usage\":{\"x\":1}}\n\n";
        assert!(strip(usage_in_choice, 3) == usage_in_choice, "choices not empty: kept");
    }

    #[test]
    fn an_overlong_event_passes_through() {
        let mut big = b"data: {\"usage\":null,\"pad\":\"".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_EVENT_BYTES + 100_000));
        big.extend_from_slice(b"\"}\n\n");
        let mut s = UsageStrip::default();
        let mut out = BytesMut::new();
        for piece in big.chunks(64 * 1024) {
            s.push(piece, &mut out);
        }
        s.finish(&mut out);
        assert!(out[..] == big[..], "passed through unchanged");
    }

    #[test]
    fn a_partial_event_at_the_end_is_flushed() {
        let cut = b"data: {\"choices\":[],\"usage\":{\"a\":1}}\n\ndata: {\"partial";
        assert!(strip(cut, 10) == b"data: {\"partial");
    }
}
