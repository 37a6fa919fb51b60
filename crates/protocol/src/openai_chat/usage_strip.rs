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
    // Most chunks: a scan of the top level finds the members (a serde pass per chunk was a
    // fifth of a relayed stream's instructions); anything it cannot follow goes to serde.
    let (usage, choices_empty) = match scan_top(data) {
        Scanned::Members { usage, choices_empty } => (usage?, choices_empty),
        Scanned::Unsure => {
            let mut de = serde_json::Deserializer::from_slice(data);
            let top = de.deserialize_map(Top).ok()?;
            let usage = top.usage?;
            let start = usage.get().as_ptr() as usize - data.as_ptr() as usize;
            (start..start + usage.get().len(), top.choices_empty)
        }
    };
    if &data[usage.clone()] != b"null" {
        return choices_empty.then_some(Usage::Only);
    }
    let (v_start, v_end) = (usage.start, usage.end);
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

enum Scanned {
    /// The top-level `usage` value's bytes, if any, and whether `choices` is `[]`.
    Members { usage: Option<std::ops::Range<usize>>, choices_empty: bool },
    /// Not a shape the scan follows (a key with escapes, a malformed chunk): ask serde.
    Unsure,
}

/// The top-level members of a chunk object, by one pass over its bytes that follows only
/// strings and nesting (values are skipped, not parsed).
fn scan_top(data: &[u8]) -> Scanned {
    let mut i = skip_ws(data, 0);
    if data.get(i) != Some(&b'{') {
        return Scanned::Unsure;
    }
    i = skip_ws(data, i + 1);
    let (mut usage, mut choices_empty) = (None, false);
    if data.get(i) == Some(&b'}') {
        return Scanned::Members { usage, choices_empty };
    }
    loop {
        if data.get(i) != Some(&b'"') {
            return Scanned::Unsure;
        }
        let Some(key_end) = string_end(data, i) else { return Scanned::Unsure };
        let key = &data[i + 1..key_end - 1];
        if key.contains(&b'\\') {
            return Scanned::Unsure;
        }
        i = skip_ws(data, key_end);
        if data.get(i) != Some(&b':') {
            return Scanned::Unsure;
        }
        let start = skip_ws(data, i + 1);
        let Some(end) = value_end(data, start) else { return Scanned::Unsure };
        match key {
            b"usage" => usage = Some(start..end),
            b"choices" => choices_empty = data[start..end].strip_prefix(b"[").is_some_and(|r| r.trim_ascii() == b"]"),
            _ => {}
        }
        i = skip_ws(data, end);
        match data.get(i) {
            Some(b',') => i = skip_ws(data, i + 1),
            Some(b'}') => return Scanned::Members { usage, choices_empty },
            _ => return Scanned::Unsure,
        }
    }
}

fn skip_ws(data: &[u8], mut i: usize) -> usize {
    while data.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// `data[at]` is `"`: the index just past the string's closing quote.
fn string_end(data: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', data.get(i..)?)?;
        if data[i] == b'\\' {
            i += 2;
        } else {
            return Some(i + 1);
        }
    }
}

/// The index just past the value starting at `start` (a string, an object or array with
/// everything nested in it, or a scalar up to the next `,`, `}` or `]`).
fn value_end(data: &[u8], start: usize) -> Option<usize> {
    match data.get(start)? {
        b'"' => string_end(data, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while let Some(&c) = data.get(i) {
                match c {
                    b'"' => {
                        i = string_end(data, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let rest = &data[start..];
            let len = rest
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            (len > 0).then_some(start + len)
        }
    }
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
    fn the_scan_finds_what_serde_finds_or_says_it_is_unsure() {
        let cases: [&[u8]; 12] = [
            br#"{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}"#,
            br#"{ "usage" : null , "choices" : [ ] }"#,
            br#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
            br#"{"choices":[{"delta":{"content":"a \"usage\": null } ] { ["}}],"usage":null}"#,
            br#"{"choices":[{"usage":null}],"x":"\\","usage":{"a":[1,{"b":"}"}]}}"#,
            br#"{"n":-1.5e3,"t":true,"f":false,"z":null,"usage":null}"#,
            br#"{}"#,
            br#"{"choices":[]}"#,
            br#"{"us\u0061ge":null}"#,
            br#"{"usage":nul"#,
            br#"{"usage":null,}"#,
            br#"["usage",null]"#,
        ];
        for data in cases {
            let serde = serde_json::Deserializer::from_slice(data).deserialize_map(Top).ok().map(|t| {
                let usage = t.usage.map(|u| {
                    let start = u.get().as_ptr() as usize - data.as_ptr() as usize;
                    start..start + u.get().len()
                });
                (usage, t.choices_empty)
            });
            match scan_top(data) {
                Scanned::Members { usage, choices_empty } => {
                    assert_eq!(serde, Some((usage, choices_empty)), "{}", String::from_utf8_lossy(data));
                }
                Scanned::Unsure => {
                    let escaped_key = data.windows(2).any(|w| w == br"\u");
                    assert!(serde.is_none() || escaped_key, "unsure of {}", String::from_utf8_lossy(data));
                }
            }
        }
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
