//! SSE encoding helpers: they append to a caller-owned buffer (no allocation per event
//! beyond its growth).

use bytes::{BufMut, BytesMut};
use serde::Serialize;

/// `event: NAME\ndata: JSON\n\n`
pub fn write_event(out: &mut BytesMut, event: &str, data: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\n");
    write_data(out, data);
}

/// `data: JSON\n\n` (multi-line data is split into several `data:` lines).
pub fn write_data(out: &mut BytesMut, data: &str) {
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\n");
    }
    out.extend_from_slice(b"\n");
}

/// `event: NAME\ndata: JSON\n\n` with `value` serialized in place (no intermediate string).
/// On a serialization error nothing is written and `false` is returned.
pub fn write_json_event<T: Serialize + ?Sized>(out: &mut BytesMut, event: &str, value: &T) -> bool {
    let start = out.len();
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\n");
    if write_json_data(out, value) {
        true
    } else {
        out.truncate(start);
        false
    }
}

/// `data: JSON\n\n` with `value` serialized in place. serde_json escapes every newline inside
/// strings and writes none of its own, so the JSON is always one `data:` line. On a
/// serialization error nothing is written and `false` is returned.
pub fn write_json_data<T: Serialize + ?Sized>(out: &mut BytesMut, value: &T) -> bool {
    let start = out.len();
    out.extend_from_slice(b"data: ");
    if write_json(out, value) {
        out.extend_from_slice(b"\n\n");
        true
    } else {
        out.truncate(start);
        false
    }
}

/// `value` as compact JSON appended to `out`; on error `out` is left as it was.
pub fn write_json<T: Serialize + ?Sized>(out: &mut BytesMut, value: &T) -> bool {
    let start = out.len();
    if serde_json::to_writer(out.writer(), value).is_ok() {
        true
    } else {
        out.truncate(start);
        false
    }
}

/// `: TEXT\n\n` (keep-alive comments).
pub fn write_comment(out: &mut BytesMut, text: &str) {
    out.extend_from_slice(b": ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_back() {
        let mut buf = BytesMut::new();
        write_event(&mut buf, "ping", "{}");
        write_data(&mut buf, "a\nb");
        write_comment(&mut buf, "keep-alive");
        let mut d = super::super::Decoder::default();
        let mut out = Vec::new();
        d.push(&buf, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].event.as_deref(), Some("ping"));
        assert_eq!(out[1].data, "a\nb");
    }

    #[test]
    fn json_is_written_in_place_on_one_line() {
        let mut buf = BytesMut::new();
        assert!(write_json_event(&mut buf, "delta", &serde_json::json!({"text": "a\nb"})));
        assert!(write_json_data(&mut buf, &[1, 2]));
        assert_eq!(&buf[..], b"event: delta\ndata: {\"text\":\"a\\nb\"}\n\ndata: [1,2]\n\n");
    }
}
