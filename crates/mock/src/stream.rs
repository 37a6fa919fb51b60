//! Response helpers shared by the protocols: SSE framing, and the stream behaviours
//! (`mock:slow`, `mock:stall-mid`, `mock:drop`, `mock:midstream-error`).
//!
//! A stream is a list of frames plus a split point (just after the first content delta).
//! Without a behaviour the frames go out as one body (cheap); with one, they are yielded one by
//! one from a lazy stream that sleeps between them, so clients see real timing.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

use crate::directives::Directives;

/// Frames of one stream and where "the stream has started" ends.
#[derive(Default)]
pub struct Frames {
    frames: Vec<Bytes>,
    split: Option<usize>,
}

impl Frames {
    pub fn push(&mut self, frame: Bytes) {
        self.frames.push(frame);
    }

    /// Call after pushing a content delta: the first call fixes the split point.
    pub fn mark(&mut self) {
        if self.split.is_none() {
            self.split = Some(self.frames.len());
        }
    }

    /// Frames sent before a mid-stream error, a drop or a `stall-mid` pause.
    pub fn split(&self) -> usize {
        self.split.unwrap_or(1).min(self.frames.len())
    }
}

fn frame(prefix: &[u8], data: &Value) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(prefix);
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut buf, data);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// `event: NAME\ndata: JSON\n\n`
pub fn sse_event(name: &str, data: &Value) -> Bytes {
    let prefix = format!("event: {name}\ndata: ");
    frame(prefix.as_bytes(), data)
}

/// `data: JSON\n\n`
pub fn sse_data(data: &Value) -> Bytes {
    frame(b"data: ", data)
}

/// How long a dropped stream waits before the cut, so the bytes before it reach the client.
const DROP_FLUSH_MS: u64 = 20;

enum Step {
    Data(Bytes),
    Sleep(Duration),
    Fail,
}

/// The body for `frames` under the directives' stream behaviour. `error_frame` is the
/// protocol's own error event, sent (then the stream ends) on `mock:midstream-error`.
pub fn body(frames: Frames, d: &Directives, error_frame: impl FnOnce(usize) -> Bytes) -> Body {
    let split = frames.split();
    let mut all = frames.frames;
    let cut = d.midstream_error.is_some() || d.drop || d.eof;
    if !cut && d.slow.is_none() && d.stall_mid.is_none() {
        return Body::from(all.concat());
    }
    let slow = d.slow.map(Duration::from_millis);
    let mut steps = VecDeque::with_capacity(all.len() * 2 + 2);
    let tail = all.split_off(split);
    let push = |steps: &mut VecDeque<Step>, b: Bytes| {
        if let (Some(gap), false) = (slow, steps.is_empty()) {
            steps.push_back(Step::Sleep(gap));
        }
        steps.push_back(Step::Data(b));
    };
    for f in all {
        push(&mut steps, f);
    }
    if d.midstream_error.is_some() {
        push(&mut steps, error_frame(split));
    } else if d.drop {
        // A pause first lets the server flush what was sent, so the cut comes mid-body.
        steps.push_back(Step::Sleep(Duration::from_millis(DROP_FLUSH_MS)));
        steps.push_back(Step::Fail);
    } else if d.eof {
        // The body just ends here: a clean EOF, no terminal event.
    } else {
        if let Some(ms) = d.stall_mid {
            steps.push_back(Step::Sleep(Duration::from_millis(ms)));
        }
        for f in tail {
            push(&mut steps, f);
        }
    }
    Body::from_stream(futures_util::stream::unfold(steps, |mut steps| async move {
        loop {
            match steps.pop_front()? {
                Step::Data(b) => return Some((Ok(b), steps)),
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::Fail => return Some((Err(io::Error::new(io::ErrorKind::ConnectionAborted, "mock:drop")), steps)),
            }
        }
    }))
}

pub fn with_type(body: Body, content_type: &'static str) -> Response {
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// An SSE response for `frames` (see [`body`]).
pub fn sse(frames: Frames, d: &Directives, error_frame: impl FnOnce(usize) -> Bytes) -> Response {
    with_type(body(frames, d, error_frame), "text/event-stream")
}

/// A complete JSON reply. `mock:drop` sends half of it, then cuts the connection.
pub fn json_reply(value: &Value, d: &Directives) -> Response {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    if !d.drop {
        return json_bytes(StatusCode::OK, bytes);
    }
    let mut frames = Frames::default();
    let half = bytes.len() / 2;
    frames.push(Bytes::copy_from_slice(&bytes[..half]));
    frames.push(Bytes::copy_from_slice(&bytes[half..]));
    frames.split = Some(1);
    let d = Directives { drop: true, ..Directives::default() };
    with_type(body(frames, &d, |_| Bytes::new()), "application/json")
}

fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut res = Response::new(Body::from(bytes));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

pub fn json_response(status: StatusCode, value: &Value) -> Response {
    json_bytes(status, serde_json::to_vec(value).unwrap_or_default())
}

/// An HTTP error with the protocol's body; 429 adds `retry-after: 1`.
pub fn error_response(status: u16, body: &Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = json_response(code, body);
    if status == 429 {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}
