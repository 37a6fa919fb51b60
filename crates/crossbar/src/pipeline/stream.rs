//! The two streaming bodies: `RelayStream` (bytes through, sniffed) and `TranslateStream`
//! (upstream SSE → canonical events → the client protocol's stream). Both:
//! - forward each chunk the moment it is ready (no buffering beyond one upstream frame);
//! - send `: keep-alive` comments while the upstream is silent (only between events);
//! - end with the client protocol's error event if the upstream breaks or stays silent past
//!   the idle timeout — never a silent cut and never a hang;
//! - drop the upstream request at once when the client goes away (the body is dropped).

use super::finish::outcome::Outcome;
use crate::config::ServerConfig;
use crate::upstream::{BodyStream, UpstreamError};
use bytes::{Bytes, BytesMut};
use crossbar_protocol::canonical::{Protocol, StreamEvent};
use crossbar_protocol::openai_chat::usage_strip::UsageStrip;
use crossbar_protocol::sse::{self, SseEvent};
use crossbar_protocol::{Sniffer, StreamDecoder, StreamEncoder};
use futures_util::stream::{BoxStream, StreamExt};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub keepalive: Option<Duration>,
    pub idle: Duration,
}

impl From<&ServerConfig> for Timing {
    fn from(s: &ServerConfig) -> Timing {
        Timing { keepalive: s.keepalive, idle: s.stream_idle_timeout }
    }
}

enum Next {
    Chunk(Bytes),
    Failed(UpstreamError),
    Ended,
    KeepAlive,
}

/// When the stream last received upstream data, and last sent anything to the client.
/// Keep-alives count as sending (they reset the keep-alive clock) but not as receiving (the
/// idle clock runs from the last upstream data).
#[derive(Debug, Clone, Copy)]
struct Clock {
    data: Instant,
    sent: Instant,
}

impl Clock {
    fn new() -> Clock {
        let now = Instant::now();
        Clock { data: now, sent: now }
    }
}

/// Wait for the next upstream chunk, a keep-alive tick, or the idle deadline.
async fn next(upstream: &mut BodyStream, timing: Timing, clock: Clock, keepalive_ok: bool) -> Next {
    let idle_at = clock.data + timing.idle;
    let keepalive_at = timing.keepalive.filter(|_| keepalive_ok).map(|k| clock.sent + k);
    tokio::select! {
        biased;
        item = upstream.next() => match item {
            Some(Ok(chunk)) => Next::Chunk(chunk),
            Some(Err(e)) => Next::Failed(e),
            None => Next::Ended,
        },
        _ = tokio::time::sleep_until(keepalive_at.unwrap_or(idle_at)), if keepalive_at.is_some_and(|k| k < idle_at) => Next::KeepAlive,
        _ = tokio::time::sleep_until(idle_at) => Next::Failed(UpstreamError::Idle(timing.idle)),
    }
}

type Out = Result<Bytes, std::io::Error>;

pub struct RelayStream;

struct Relay {
    upstream: BodyStream,
    sniffer: Sniffer,
    outcome: Outcome,
    protocol: Protocol,
    timing: Timing,
    clock: Clock,
    /// The bytes forwarded so far end exactly at an event boundary (`\n\n`).
    at_boundary: bool,
    tail: [u8; 2],
    done: bool,
    /// Chat: removes what the `include_usage` crossbar added brings (see `relay.rs`).
    strip: Option<UsageStrip>,
}

impl Relay {
    /// Bytes for the client from an upstream chunk (through the usage filter, if any).
    fn forward(&mut self, chunk: Bytes) -> Bytes {
        let out = match &mut self.strip {
            Some(strip) => {
                let mut out = BytesMut::with_capacity(chunk.len());
                strip.push(&chunk, &mut out);
                out.freeze()
            }
            None => chunk,
        };
        track_tail(&mut self.tail, &out);
        self.at_boundary = self.tail == [b'\n', b'\n'] && self.strip.as_ref().is_none_or(UsageStrip::at_boundary);
        out
    }

    /// Whatever the usage filter still holds (a partial event at the end).
    fn flush(&mut self) -> BytesMut {
        let mut out = BytesMut::new();
        if let Some(strip) = &mut self.strip {
            strip.finish(&mut out);
            track_tail(&mut self.tail, &out);
            self.at_boundary = self.tail == [b'\n', b'\n'];
        }
        out
    }

    /// The stream broke (or ended without its terminal event): record what is known and end
    /// with the client protocol's own error event.
    fn fail(&mut self, e: &UpstreamError) -> Out {
        self.done = true;
        self.sniffer.finish();
        self.outcome.set_usage(self.sniffer.usage());
        self.outcome.set_output_estimate(self.sniffer.events());
        self.outcome.failed_midstream(e.label());
        let info = super::relay::midstream_error(e);
        let mut out = self.flush();
        out.extend_from_slice(&super::relay::ending::frame(self.protocol, &info, self.at_boundary));
        Ok(out.freeze())
    }
}

impl Drop for Relay {
    /// The client went away mid-stream: the usage sniffed so far still counts.
    fn drop(&mut self) {
        if !self.done {
            self.outcome.set_usage(self.sniffer.usage());
            self.outcome.set_output_estimate(self.sniffer.events());
        }
    }
}

impl RelayStream {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        upstream: BodyStream,
        sniffer: Sniffer,
        outcome: Outcome,
        protocol: Protocol,
        timing: Timing,
        strip: Option<UsageStrip>,
    ) -> BoxStream<'static, Out> {
        let s = Relay {
            upstream,
            sniffer,
            outcome,
            protocol,
            timing,
            clock: Clock::new(),
            at_boundary: true,
            tail: [b'\n', b'\n'],
            done: false,
            strip,
        };
        futures_util::stream::unfold(s, |mut s| async move {
            if s.done {
                return None;
            }
            loop {
                match next(&mut s.upstream, s.timing, s.clock, s.at_boundary).await {
                    Next::Chunk(chunk) if chunk.is_empty() => continue,
                    Next::Chunk(chunk) => {
                        s.clock = Clock::new();
                        s.sniffer.push(&chunk);
                        let out = s.forward(chunk);
                        if out.is_empty() {
                            continue;
                        }
                        s.outcome.sent_bytes(&out);
                        return Some((Ok(out), s));
                    }
                    Next::KeepAlive => {
                        s.clock.sent = Instant::now();
                        let mut out = BytesMut::new();
                        sse::write_comment(&mut out, "keep-alive");
                        return Some((Ok(out.freeze()), s));
                    }
                    Next::Ended => {
                        s.sniffer.finish();
                        if !s.sniffer.ended() {
                            // A clean end without the terminal event (an EOF-delimited body, a
                            // server that just stops): the client still gets a failure event.
                            let frame = s.fail(&UpstreamError::Truncated);
                            return Some((frame, s));
                        }
                        s.done = true;
                        s.outcome.set_usage(s.sniffer.usage());
                        s.outcome.set_output_estimate(s.sniffer.events());
                        s.outcome.ended();
                        let rest = s.flush();
                        return (!rest.is_empty()).then(|| (Ok(rest.freeze()), s));
                    }
                    Next::Failed(e) => {
                        let frame = s.fail(&e);
                        return Some((frame, s));
                    }
                }
            }
        })
        .boxed()
    }
}

fn track_tail(tail: &mut [u8; 2], chunk: &[u8]) {
    match chunk {
        [.., a, b] => *tail = [*a, *b],
        [b] => *tail = [tail[1], *b],
        [] => {}
    }
}

pub struct TranslateStream;

impl TranslateStream {
    /// `sse_out`: the client stream is SSE (keep-alive comments allowed). Gemini clients
    /// without `alt=sse` get a JSON array instead, where comments are not allowed.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        upstream: BodyStream,
        decoder: StreamDecoder,
        encoder: StreamEncoder,
        outcome: Outcome,
        timing: Timing,
        sse_out: bool,
    ) -> BoxStream<'static, Out> {
        struct S {
            upstream: BodyStream,
            sse: sse::Decoder,
            decoder: StreamDecoder,
            encoder: StreamEncoder,
            outcome: Outcome,
            timing: Timing,
            sse_out: bool,
            clock: Clock,
            frames: Vec<SseEvent>,
            events: Vec<StreamEvent>,
            out: BytesMut,
            done: bool,
        }
        impl S {
            fn encode_pending(&mut self) {
                let mut ended = false;
                for ev in self.events.drain(..) {
                    match &ev {
                        StreamEvent::Usage(u) => self.outcome.usage.merge(u),
                        StreamEvent::TextDelta { text, .. } | StreamEvent::ReasoningDelta { text, .. } => {
                            self.outcome.add_output_chars(text.len())
                        }
                        StreamEvent::ToolArgsDelta { delta, .. } => self.outcome.add_output_chars(delta.len()),
                        StreamEvent::Error(e) => self.outcome.failed_midstream(e.kind.label()),
                        StreamEvent::End => ended = true,
                        _ => {}
                    }
                    self.encoder.push(&ev, &mut self.out);
                }
                if ended && !self.done {
                    // The upstream said it is done: whatever it sends after that is ignored.
                    self.encoder.finish(&mut self.out);
                    self.done = true;
                }
            }
            fn fail(&mut self, e: &UpstreamError) {
                let info = super::relay::midstream_error(e);
                self.events.push(StreamEvent::Error(info));
                self.events.push(StreamEvent::End);
                self.encode_pending();
            }
        }
        let s = S {
            upstream,
            sse: sse::Decoder::default(),
            decoder,
            encoder,
            outcome,
            timing,
            sse_out,
            clock: Clock::new(),
            frames: Vec::new(),
            events: Vec::new(),
            out: BytesMut::new(),
            done: false,
        };
        futures_util::stream::unfold(s, |mut s| async move {
            loop {
                if !s.out.is_empty() {
                    let chunk = s.out.split().freeze();
                    s.outcome.sent_bytes(&chunk);
                    return Some((Ok(chunk), s));
                }
                if s.done {
                    s.outcome.ended();
                    return None;
                }
                match next(&mut s.upstream, s.timing, s.clock, s.sse_out).await {
                    Next::Chunk(chunk) => {
                        s.clock = Clock::new();
                        s.sse.push(&chunk, &mut s.frames);
                        if s.sse.overflowed() {
                            s.fail(&UpstreamError::Io("an upstream event exceeded the size limit".into()));
                            continue;
                        }
                        let frames = std::mem::take(&mut s.frames);
                        for f in &frames {
                            s.decoder.push(f, &mut s.events);
                        }
                        s.frames = frames;
                        s.frames.clear();
                        s.encode_pending();
                    }
                    Next::KeepAlive => {
                        s.clock.sent = Instant::now();
                        sse::write_comment(&mut s.out, "keep-alive");
                    }
                    Next::Ended => {
                        s.sse.finish(&mut s.frames);
                        let frames = std::mem::take(&mut s.frames);
                        for f in &frames {
                            s.decoder.push(f, &mut s.events);
                        }
                        s.decoder.finish(&mut s.events);
                        s.encode_pending();
                        if !s.done {
                            s.encoder.finish(&mut s.out);
                            s.done = true;
                        }
                    }
                    Next::Failed(e) => s.fail(&e),
                }
            }
        })
        .boxed()
    }
}
