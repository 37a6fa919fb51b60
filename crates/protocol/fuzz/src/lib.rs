//! Shared body of the fuzz targets: every decoder of one protocol gets the same bytes.

use crossbar_protocol::canonical::{Cx, OpaqueCodec, Protocol};
use crossbar_protocol::sse::Decoder;
use crossbar_protocol::{decode_error, decode_request, decode_response, Sniffer, StreamDecoder, StreamEncoder};
use std::sync::Arc;

pub fn fuzz_protocol(p: Protocol, data: &[u8]) {
    let cx = Cx::new(Arc::new(OpaqueCodec::new([1; 32])));
    // A client request: decode, then (if valid) encode for every upstream and stream it back.
    if let Ok(req) = decode_request(p, data, &cx) {
        for up in Protocol::ALL {
            let _ = crossbar_protocol::encode_request(up, &req, &cx);
        }
    }
    // An upstream reply, error body and stream.
    if let Ok(resp) = decode_response(p, data, &cx) {
        for client in Protocol::ALL {
            let _ = crossbar_protocol::encode_response(client, &resp, &cx);
        }
    }
    let _ = decode_error(p, 400, data);
    let mut frames = Vec::new();
    let mut sse = Decoder::default();
    sse.push(data, &mut frames);
    sse.finish(&mut frames);
    let mut dec = StreamDecoder::new(p, &cx);
    let mut events = Vec::new();
    for f in &frames {
        dec.push(f, &mut events);
    }
    dec.finish(&mut events);
    let mut out = bytes::BytesMut::new();
    for client in Protocol::ALL {
        let mut enc = StreamEncoder::new(client, &cx);
        for e in &events {
            enc.push(e, &mut out);
        }
        enc.finish(&mut out);
    }
    let mut sniff = Sniffer::new(p, true);
    sniff.push(data);
    sniff.finish();
}
