//! One explicit match per operation from `Protocol` to its adapter. The application calls
//! these; it never names an adapter module itself.

use crate::canonical::{Cx, ErrorInfo, Protocol, ProtocolError, Request, Response, StreamEvent, Usage};
use crate::sse::SseEvent;
use crate::{anthropic, gemini, openai_chat, openai_responses};
use bytes::BytesMut;

/// An upstream request body and the path (with query) to send it to, relative to the
/// provider's `base_url` (`/chat/completions`, `/v1/messages`,
/// `/v1beta/models/M:streamGenerateContent?alt=sse`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedRequest {
    pub path: String,
    pub body: Vec<u8>,
    /// What the encoder dropped because the upstream protocol cannot carry it.
    pub losses: Vec<crate::canonical::Loss>,
}

/// Client request body → canonical request (sealed tool-call ids expanded: see `opaque`).
pub fn decode_request(p: Protocol, body: &[u8], cx: &Cx) -> Result<Request, ProtocolError> {
    let mut req = match p {
        Protocol::OpenaiChat => openai_chat::decode::decode_request(body, cx),
        Protocol::OpenaiResponses => openai_responses::decode::decode_request(body, cx),
        Protocol::Anthropic => anthropic::decode::decode_request(body, cx),
        Protocol::Gemini => gemini::decode::decode_request(body, cx),
    }?;
    cx.codec.expand_call_ids(&mut req)?;
    Ok(req)
}

/// Canonical request → upstream request.
pub fn encode_request(p: Protocol, req: &Request, cx: &Cx) -> Result<EncodedRequest, ProtocolError> {
    match p {
        Protocol::OpenaiChat => openai_chat::encode::encode_request(req, cx),
        Protocol::OpenaiResponses => openai_responses::encode::encode_request(req, cx),
        Protocol::Anthropic => anthropic::encode::encode_request(req, cx),
        Protocol::Gemini => gemini::encode::encode_request(req, cx),
    }
}

/// Upstream (non-streamed) response body → canonical response.
pub fn decode_response(p: Protocol, body: &[u8], cx: &Cx) -> Result<Response, ProtocolError> {
    match p {
        Protocol::OpenaiChat => openai_chat::decode::decode_response(body, cx),
        Protocol::OpenaiResponses => openai_responses::decode::decode_response(body, cx),
        Protocol::Anthropic => anthropic::decode::decode_response(body, cx),
        Protocol::Gemini => gemini::decode::decode_response(body, cx),
    }
}

/// Canonical response → client response body (JSON).
pub fn encode_response(p: Protocol, resp: &Response, cx: &Cx) -> Result<Vec<u8>, ProtocolError> {
    match p {
        Protocol::OpenaiChat => openai_chat::encode::encode_response(resp, cx),
        Protocol::OpenaiResponses => openai_responses::encode::encode_response(resp, cx),
        Protocol::Anthropic => anthropic::encode::encode_response(resp, cx),
        Protocol::Gemini => gemini::encode::encode_response(resp, cx),
    }
}

/// An error in the client's protocol shape: the JSON body (status is `err.status`).
pub fn encode_error(p: Protocol, err: &ErrorInfo) -> Vec<u8> {
    match p {
        Protocol::OpenaiChat => openai_chat::error::encode_error(err),
        Protocol::OpenaiResponses => openai_responses::error::encode_error(err),
        Protocol::Anthropic => anthropic::error::encode_error(err),
        Protocol::Gemini => gemini::error::encode_error(err),
    }
}

/// An upstream's HTTP error body → protocol-neutral error (keeps the upstream status).
pub fn decode_error(p: Protocol, status: u16, body: &[u8]) -> ErrorInfo {
    match p {
        Protocol::OpenaiChat => openai_chat::error::decode_error(status, body),
        Protocol::OpenaiResponses => openai_responses::error::decode_error(status, body),
        Protocol::Anthropic => anthropic::error::decode_error(status, body),
        Protocol::Gemini => gemini::error::decode_error(status, body),
    }
}

/// Upstream SSE events → canonical stream events.
pub enum StreamDecoder {
    OpenaiChat(openai_chat::stream_in::StreamDecoder),
    OpenaiResponses(openai_responses::stream_in::StreamDecoder),
    Anthropic(anthropic::stream_in::StreamDecoder),
    Gemini(gemini::stream_in::StreamDecoder),
}

impl StreamDecoder {
    pub fn new(p: Protocol, cx: &Cx) -> StreamDecoder {
        match p {
            Protocol::OpenaiChat => StreamDecoder::OpenaiChat(openai_chat::stream_in::StreamDecoder::new(cx)),
            Protocol::OpenaiResponses => {
                StreamDecoder::OpenaiResponses(openai_responses::stream_in::StreamDecoder::new(cx))
            }
            Protocol::Anthropic => StreamDecoder::Anthropic(anthropic::stream_in::StreamDecoder::new(cx)),
            Protocol::Gemini => StreamDecoder::Gemini(gemini::stream_in::StreamDecoder::new(cx)),
        }
    }

    pub fn push(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        match self {
            StreamDecoder::OpenaiChat(d) => d.push(ev, out),
            StreamDecoder::OpenaiResponses(d) => d.push(ev, out),
            StreamDecoder::Anthropic(d) => d.push(ev, out),
            StreamDecoder::Gemini(d) => d.push(ev, out),
        }
    }

    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        match self {
            StreamDecoder::OpenaiChat(d) => d.finish(out),
            StreamDecoder::OpenaiResponses(d) => d.finish(out),
            StreamDecoder::Anthropic(d) => d.finish(out),
            StreamDecoder::Gemini(d) => d.finish(out),
        }
    }
}

/// Canonical stream events → client stream bytes (SSE, or Gemini's JSON array framing).
pub enum StreamEncoder {
    OpenaiChat(openai_chat::stream_out::StreamEncoder),
    OpenaiResponses(openai_responses::stream_out::StreamEncoder),
    Anthropic(anthropic::stream_out::StreamEncoder),
    Gemini(gemini::stream_out::StreamEncoder),
}

impl StreamEncoder {
    pub fn new(p: Protocol, cx: &Cx) -> StreamEncoder {
        match p {
            Protocol::OpenaiChat => StreamEncoder::OpenaiChat(openai_chat::stream_out::StreamEncoder::new(cx)),
            Protocol::OpenaiResponses => {
                StreamEncoder::OpenaiResponses(openai_responses::stream_out::StreamEncoder::new(cx))
            }
            Protocol::Anthropic => StreamEncoder::Anthropic(anthropic::stream_out::StreamEncoder::new(cx)),
            Protocol::Gemini => StreamEncoder::Gemini(gemini::stream_out::StreamEncoder::new(cx)),
        }
    }

    pub fn push(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        match self {
            StreamEncoder::OpenaiChat(e) => e.push(ev, out),
            StreamEncoder::OpenaiResponses(e) => e.push(ev, out),
            StreamEncoder::Anthropic(e) => e.push(ev, out),
            StreamEncoder::Gemini(e) => e.push(ev, out),
        }
    }

    /// Emit whatever the grammar still owes (the terminal event exactly once).
    pub fn finish(&mut self, out: &mut BytesMut) {
        match self {
            StreamEncoder::OpenaiChat(e) => e.finish(out),
            StreamEncoder::OpenaiResponses(e) => e.finish(out),
            StreamEncoder::Anthropic(e) => e.finish(out),
            StreamEncoder::Gemini(e) => e.finish(out),
        }
    }
}

/// Reads usage from relayed bytes without slowing or buffering the relay.
pub enum Sniffer {
    OpenaiChat(openai_chat::sniff::Sniffer),
    OpenaiResponses(openai_responses::sniff::Sniffer),
    Anthropic(anthropic::sniff::Sniffer),
    Gemini(gemini::sniff::Sniffer),
}

impl Sniffer {
    /// `stream`: the body is SSE (else one JSON document).
    pub fn new(p: Protocol, stream: bool) -> Sniffer {
        match p {
            Protocol::OpenaiChat => Sniffer::OpenaiChat(openai_chat::sniff::Sniffer::new(stream)),
            Protocol::OpenaiResponses => Sniffer::OpenaiResponses(openai_responses::sniff::Sniffer::new(stream)),
            Protocol::Anthropic => Sniffer::Anthropic(anthropic::sniff::Sniffer::new(stream)),
            Protocol::Gemini => Sniffer::Gemini(gemini::sniff::Sniffer::new(stream)),
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        match self {
            Sniffer::OpenaiChat(s) => s.push(chunk),
            Sniffer::OpenaiResponses(s) => s.push(chunk),
            Sniffer::Anthropic(s) => s.push(chunk),
            Sniffer::Gemini(s) => s.push(chunk),
        }
    }

    /// The usage seen so far (`Usage::default()` when none, or when sniffing gave up).
    pub fn usage(&self) -> Usage {
        match self {
            Sniffer::OpenaiChat(s) => s.usage(),
            Sniffer::OpenaiResponses(s) => s.usage(),
            Sniffer::Anthropic(s) => s.usage(),
            Sniffer::Gemini(s) => s.usage(),
        }
    }

    fn core(&self) -> &crate::sse::sniff::SniffCore {
        match self {
            Sniffer::OpenaiChat(s) => s.core(),
            Sniffer::OpenaiResponses(s) => s.core(),
            Sniffer::Anthropic(s) => s.core(),
            Sniffer::Gemini(s) => s.core(),
        }
    }

    /// The relayed stream carried its protocol's terminal event (always true for a JSON body).
    pub fn ended(&self) -> bool {
        self.core().ended()
    }

    /// `data:` events relayed so far: each is about one output token, the estimate used when
    /// an upstream never reports usage.
    pub fn events(&self) -> u64 {
        self.core().events()
    }

    /// `push(last)` then `finish()`, without copying a JSON body that arrives whole in `last`.
    pub fn finish_with(&mut self, last: &[u8]) {
        match self {
            Sniffer::OpenaiChat(s) => s.finish_with(last),
            Sniffer::OpenaiResponses(s) => s.finish_with(last),
            Sniffer::Anthropic(s) => s.finish_with(last),
            Sniffer::Gemini(s) => s.finish_with(last),
        }
    }

    /// Call at end of body (a JSON body is parsed here, up to the sniffer's cap).
    pub fn finish(&mut self) {
        match self {
            Sniffer::OpenaiChat(s) => s.finish(),
            Sniffer::OpenaiResponses(s) => s.finish(),
            Sniffer::Anthropic(s) => s.finish(),
            Sniffer::Gemini(s) => s.finish(),
        }
    }
}
