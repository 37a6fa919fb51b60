//! SSE encoding helpers: they append to a caller-owned buffer (no allocation per event
//! beyond its growth).

use bytes::BytesMut;

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
}
