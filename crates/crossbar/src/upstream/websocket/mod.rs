//! The native upstream socket: a client's Responses socket (`ingress/websocket/`) routed to an
//! OpenAI or ChatGPT provider with `websocket = true` gets one upstream socket of its own — a
//! [`Link`], owned by that client socket's session and never shared with another — instead of
//! a POST per turn.
//!
//! The pipeline stays the same: `pipeline/attempt` asks [`Turn::send`] instead of
//! `Provider::send` when the client came in over WebSocket, the deployment's provider has
//! `websocket` on and the request is relayed as Responses; the answer is an ordinary
//! `UpstreamResponse` (each upstream event as one SSE event, an error frame as an HTTP error
//! with its status), so admission, failover before the first event, the relay's usage
//! sniffing and the usage record are the HTTP path's.
//!
//! Per turn: the frame (`frame.rs`) is incremental (`previous_response_id` + the new items)
//! only when THIS socket issued that anchor, the whole input otherwise. The socket is replaced
//! (and the whole input sent on the new one) when it is older than the provider's
//! `websocket_max_age_secs`, when the upstream answers `websocket_connection_limit_reached` or
//! `previous_response_not_found` to an incremental frame, or when it turns out closed before
//! the first event. A frame of [`MAX_FRAME`] or more (the ChatGPT backend closes the socket on
//! those) and an upgrade the upstream refuses go over HTTP for that turn. A response whose
//! body is dropped before its end leaves the socket mid-response: it is closed, not reused.
//! When the client socket ends, the upstream one gets a close frame (`Link::close`). A
//! `codex.rate_limits` event ahead of a response becomes its head's `x-codex-*` headers.

mod conn;
pub mod frame;
mod rate_limits;

use super::{Provider, UpstreamError, UpstreamRequest, UpstreamResponse};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use conn::{ConnectError, Socket};
use futures_util::{SinkExt, StreamExt};
use prometheus_client::metrics::gauge::Gauge;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio_tungstenite::tungstenite::Message;

/// `openai-beta` on the upgrade: the Responses WebSocket mode Codex asks for.
pub const BETA: &str = "responses_websockets=2026-02-06";
/// Frames this large or larger never go up a socket (the ChatGPT backend closes it with 1009).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;
/// The largest event accepted from the upstream.
const MAX_EVENT: usize = 64 * 1024 * 1024;
/// Response ids a socket remembers having issued (Codex continues from the latest).
const ISSUED_KEPT: usize = 8;
/// How long a close frame may take to leave before the socket is simply dropped.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// One client socket's upstream socket (at most one open at a time). Cloned into each turn;
/// the session is its only owner, and turns run one after another.
#[derive(Clone)]
pub struct Link {
    state: Arc<Mutex<State>>,
    /// `crossbar_upstream_websockets`: upstream sockets open now.
    open: Gauge,
}

#[derive(Default)]
struct State {
    conn: Option<Conn>,
    /// Providers that refused the upgrade as having no WebSocket mode (404/405/426): HTTP for
    /// the rest of this session.
    refused: Vec<String>,
}

struct Conn {
    provider: String,
    socket: Socket,
    opened: Instant,
    max_age: Duration,
    /// Response ids this socket issued, newest last.
    issued: VecDeque<String>,
    _counted: Counted,
}

/// Counts an open socket in the gauge for as long as it lives.
struct Counted(Gauge);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One turn of a client socket: the link, and what makes its frame incremental.
#[derive(Clone, Debug)]
pub struct Turn {
    pub link: Link,
    /// The client's `previous_response_id`, when the session knew it.
    pub anchor: Option<String>,
    /// How many items at the end of the turn's input are new (the client's own `input`).
    pub new_items: usize,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Link")
    }
}

impl Link {
    pub fn new(open: Gauge) -> Link {
        Link { state: Arc::default(), open }
    }

    /// The client socket ended: the upstream socket, if any, gets a close frame.
    /// A response still being read holds the link; that one retires its socket when dropped.
    pub async fn close(&self) {
        let Ok(mut state) = tokio::time::timeout(CLOSE_WITHIN, self.state.lock()).await else {
            return;
        };
        let conn = state.conn.take();
        drop(state);
        if let Some(c) = conn {
            let mut socket = c.socket;
            let _ = tokio::time::timeout(CLOSE_WITHIN, socket.close(None)).await;
        }
    }
}

/// What the first upstream message of a turn was.
enum First {
    /// An event: the response has begun.
    Event(String),
    /// A wrapped error frame `{"type":"error","status",…}`.
    Error(Value),
    /// The socket was closed or broke before answering.
    Gone(String),
}

impl Turn {
    /// Send the turn up this session's socket (opening one as needed), or over HTTP where the
    /// socket cannot carry it. Answers like `Provider::send`: the response head, body streaming.
    pub async fn send(&self, provider: &Provider, req: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let mut state = self.link.state.clone().lock_owned().await;
        let name = provider.name();
        if state.refused.iter().any(|n| n == name) {
            return provider.send(req).await;
        }
        let bytes = req.body.clone();
        let (Some(body), Some(url)) = (frame::Body::parse(&bytes), provider.socket_url()) else {
            return provider.send(req).await;
        };
        let now = Instant::now();
        if state.conn.as_ref().is_some_and(|c| c.provider != name || too_old(c.opened, c.max_age, now)) {
            retire(state.conn.take());
        }
        let anchor = state.conn.as_ref().and_then(|c| {
            self.anchor.as_deref().filter(|a| c.issued.iter().any(|i| i == a)).map(|a| (a, self.new_items))
        });
        let mut incremental = anchor.is_some();
        let mut text = body.frame(anchor);
        if text.len() >= MAX_FRAME {
            tracing::debug!(provider = name, bytes = text.len(), "frame too large for the upstream socket; HTTP");
            return provider.send(req).await;
        }
        let (connect_timeout, first_byte_timeout) = provider.socket_timeouts();
        for again in [false, true] {
            if state.conn.is_none() {
                let headers = provider.socket_headers(&req.headers).await?;
                match conn::connect(&url, headers, connect_timeout).await {
                    Ok(socket) => {
                        self.link.open.inc();
                        state.conn = Some(Conn {
                            provider: name.to_owned(),
                            socket,
                            opened: Instant::now(),
                            max_age: provider.config.websocket_max_age,
                            issued: VecDeque::new(),
                            _counted: Counted(self.link.open.clone()),
                        });
                    }
                    Err(ConnectError::Refused(status)) => {
                        tracing::info!(provider = name, status, "the upstream refused the WebSocket upgrade; HTTP");
                        if matches!(status, 404 | 405 | 426) {
                            state.refused.push(name.to_owned());
                        }
                        drop(state);
                        return provider.send(req).await;
                    }
                    Err(ConnectError::Unreachable(e)) => return Err(UpstreamError::Connect(e)),
                }
            }
            let Some(conn) = state.conn.as_mut() else { continue };
            let first = match tokio::time::timeout(first_byte_timeout, first(&mut conn.socket, &text)).await {
                Ok(f) => f,
                Err(_) => {
                    retire(state.conn.take());
                    return Err(UpstreamError::Timeout(first_byte_timeout));
                }
            };
            match first {
                First::Event(event) => return Ok(respond(state, event)),
                First::Error(frame) => {
                    let code = frame["error"]["code"].as_str().unwrap_or_default();
                    let replace = code == "websocket_connection_limit_reached"
                        || (incremental && code == "previous_response_not_found");
                    if !replace || again {
                        return Ok(error_response(&frame));
                    }
                    tracing::debug!(provider = name, code, "replacing the upstream socket; whole input");
                }
                First::Gone(e) if again => {
                    retire(state.conn.take());
                    return Err(UpstreamError::Io(e));
                }
                First::Gone(e) => {
                    tracing::debug!(provider = name, error = %e, "the upstream socket was gone; reconnecting")
                }
            }
            retire(state.conn.take());
            if incremental {
                incremental = false;
                text = body.frame(None);
                if text.len() >= MAX_FRAME {
                    drop(state);
                    return provider.send(req).await;
                }
            }
        }
        Err(UpstreamError::Io("the upstream socket failed twice".into()))
    }
}

/// Whether a socket opened at `opened` is past its provider's `websocket_max_age_secs` at `now`.
fn too_old(opened: Instant, max_age: Duration, now: Instant) -> bool {
    now.saturating_duration_since(opened) >= max_age
}

/// Send `text` and wait for the first answer.
async fn first(socket: &mut Socket, text: &str) -> First {
    if let Err(e) = socket.send(Message::Text(text.into())).await {
        return First::Gone(e.to_string());
    }
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(t))) => {
                let t = t.as_str();
                if type_of(t) == "error" {
                    return First::Error(serde_json::from_str(t).unwrap_or(Value::Null));
                }
                return First::Event(t.to_owned());
            }
            Some(Ok(Message::Close(_))) | None => return First::Gone("closed".into()),
            Some(Err(e)) => return First::Gone(e.to_string()),
            Some(Ok(_)) => {}
        }
    }
}

/// Close a socket that will not be used again, without holding up the turn.
fn retire(conn: Option<Conn>) {
    // Outside a runtime (a process shutting down) the socket is simply dropped.
    if let (Some(c), Ok(rt)) = (conn, tokio::runtime::Handle::try_current()) {
        rt.spawn(async move {
            let mut socket = c.socket;
            let _ = tokio::time::timeout(CLOSE_WITHIN, socket.close(None)).await;
            drop(c._counted);
        });
    }
}

/// A wrapped error frame as the HTTP error it stands for: its status, its `headers`, and
/// `{"error": …}` as the body (what `failure.rs` and the relay read), passed on as sent.
fn error_response(frame: &Value) -> UpstreamResponse {
    let status = frame["status"]
        .as_u64()
        .or_else(|| frame["status_code"].as_u64())
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (400..600).contains(s))
        .unwrap_or(500);
    let mut headers = HeaderMap::new();
    for (k, v) in frame["headers"].as_object().into_iter().flatten() {
        let value = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&value)) {
            headers.insert(k, v);
        }
    }
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let body = serde_json::json!({"error": frame["error"]}).to_string();
    let body = futures_util::stream::once(async move { Ok(Bytes::from(body)) }).boxed();
    UpstreamResponse { status, headers, body }
}

/// The response: 200, and the events (the first, then the rest as they come) as SSE.
fn respond(state: OwnedMutexGuard<State>, first: String) -> UpstreamResponse {
    // The ChatGPT backend's usage windows come first, as an event: the head carries them as
    // the headers HTTP would have (`rate_limits.rs`).
    let mut headers =
        if type_of(&first) == "codex.rate_limits" { rate_limits::headers(&first) } else { HeaderMap::new() };
    headers.insert("content-type", HeaderValue::from_static("text/event-stream"));
    let events = Events { state, first: Some(first), done: false, broken: None };
    let body = futures_util::stream::unfold(events, |mut ev| async move {
        let item = ev.next().await?;
        Some((item, ev))
    })
    .boxed();
    UpstreamResponse { status: 200, headers, body }
}

/// A response being read off the socket. The session's lock is held until the response ends.
struct Events {
    state: OwnedMutexGuard<State>,
    first: Option<String>,
    /// Its terminal event was read (or the socket broke): nothing more to read.
    done: bool,
    /// The socket broke after events that went out first: the error comes next.
    broken: Option<String>,
}

/// Events already received are sent on together, up to this many bytes per chunk.
const BATCH: usize = 64 * 1024;

impl Events {
    /// The next chunk: every event that has arrived (at least one, waiting for it), as SSE.
    async fn next(&mut self) -> Option<Result<Bytes, UpstreamError>> {
        if let Some(why) = self.broken.take() {
            return Some(Err(self.broken(why)));
        }
        if self.done {
            return None;
        }
        let mut out = bytes::BytesMut::new();
        while !self.done && out.len() < BATCH {
            let read = match self.first.take() {
                Some(t) => Ok(Some(t)),
                None if out.is_empty() => self.read().await,
                None => match futures_util::FutureExt::now_or_never(self.read()) {
                    Some(r) => r,
                    None => break,
                },
            };
            let text = match read {
                Ok(Some(t)) => t,
                Ok(None) | Err(_) if !out.is_empty() => {
                    self.broken = Some(read.err().unwrap_or_else(|| "closed mid-response".into()));
                    break;
                }
                Ok(None) => return Some(Err(self.broken("closed mid-response".into()))),
                Err(e) => return Some(Err(self.broken(e))),
            };
            let ty = type_of(&text);
            if matches!(ty.as_str(), "response.completed" | "response.incomplete" | "response.failed" | "error") {
                self.done = true;
                if ty == "response.completed" {
                    self.issued(&text);
                }
            }
            sse(&ty, &text, &mut out);
        }
        Some(Ok(out.freeze()))
    }

    /// The next text message; `Ok(None)` when the socket closed (or is gone).
    async fn read(&mut self) -> Result<Option<String>, String> {
        let Some(conn) = self.state.conn.as_mut() else {
            return Ok(None);
        };
        loop {
            match conn.socket.next().await {
                Some(Ok(Message::Text(t))) => return Ok(Some(t.as_str().to_owned())),
                Some(Ok(Message::Close(_))) | None => return Ok(None),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Remember the completed response's id as one this socket can continue from.
    fn issued(&mut self, text: &str) {
        #[derive(serde::Deserialize)]
        struct Completed {
            response: Id,
        }
        #[derive(serde::Deserialize)]
        struct Id {
            id: String,
        }
        let (Some(conn), Ok(c)) = (self.state.conn.as_mut(), serde_json::from_str::<Completed>(text)) else {
            return;
        };
        if conn.issued.len() >= ISSUED_KEPT {
            conn.issued.pop_front();
        }
        conn.issued.push_back(c.response.id);
    }

    fn broken(&mut self, why: String) -> UpstreamError {
        self.done = true;
        self.state.conn = None;
        UpstreamError::Io(format!("the upstream socket {why}"))
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        // Dropped mid-response (the client left): the socket is mid-stream, so it is not reused.
        if !self.done {
            retire(self.state.conn.take());
        }
    }
}

/// One event as SSE, appended to `out`: `event: <type>` and its data on one line.
fn sse(ty: &str, text: &str, out: &mut bytes::BytesMut) {
    let data = if text.contains('\n') {
        serde_json::from_str::<Value>(text).map(|v| v.to_string()).unwrap_or_else(|_| text.replace('\n', " "))
    } else {
        text.to_owned()
    };
    out.reserve(data.len() + ty.len() + 16);
    if !ty.is_empty() {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(ty.as_bytes());
        out.extend_from_slice(b"\n");
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// An event's top-level `type`, found without parsing the event (events such as
/// `response.completed` carry the whole response: instructions, tools and output). OpenAI
/// writes `type` first; otherwise the top level is scanned, skipping strings and nested values.
fn type_of(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("{\"type\":\"") {
        if let Some(end) = rest.find(['"', '\\']) {
            if rest.as_bytes()[end] == b'"' {
                return rest[..end].to_owned();
            }
        }
    }
    let b = text.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i + 1;
                let end = string_end(b, start);
                if depth == 1 && &b[start..end] == b"type" {
                    // `"type"` followed by `:` is the top-level key: its value, if a string.
                    let after = skip_space(b, end + 1);
                    if after < b.len() && b[after] == b':' {
                        let v = skip_space(b, after + 1);
                        if v < b.len() && b[v] == b'"' {
                            let vend = string_end(b, v + 1);
                            let value = &text[v + 1..vend.min(text.len())];
                            if !value.contains('\\') {
                                return value.to_owned();
                            }
                            return serde_json::from_str::<Value>(text)
                                .ok()
                                .and_then(|v| v["type"].as_str().map(str::to_owned))
                                .unwrap_or_default();
                        }
                    }
                }
                i = end + 1;
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    String::new()
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The index of the quote that ends the JSON string starting at `start` (or the text's end).
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn an_error_frame_becomes_the_http_error_it_stands_for() {
        let frame = json!({"type": "error", "status": 429, "headers": {"retry-after": "3", "x-n": 1},
                           "error": {"type": "rate_limit_error", "code": "rate_limit_exceeded", "message": "slow"}});
        let r = error_response(&frame);
        assert_eq!(r.status, 429);
        assert_eq!(r.headers["retry-after"], "3");
        assert_eq!(r.headers["x-n"], "1");
        let body: Vec<_> = r.body.collect().await;
        let body: Value = serde_json::from_slice(body[0].as_ref().expect("bytes")).expect("json");
        assert_eq!(body, json!({"error": frame["error"]}));
        // No usable status: a 500.
        assert_eq!(error_response(&json!({"type": "error", "status": 200, "error": {}})).status, 500);
    }

    #[test]
    fn a_socket_is_replaced_once_it_reaches_its_max_age() {
        let opened = Instant::now();
        let age = Duration::from_secs(3300);
        assert!(!too_old(opened, age, opened + Duration::from_secs(3299)));
        assert!(too_old(opened, age, opened + age));
        assert!(!too_old(opened + age, age, opened), "a clock that went backwards is not an age");
    }

    #[test]
    fn the_type_is_found_at_the_top_level_only() {
        assert_eq!(type_of(r#"{"type":"response.created","response":{}}"#), "response.created");
        let sorted = r#"{"response":{"type":"x","output":[{"type":"message","text":"\"type\":\"no\""}]},"sequence_number":3,"type":"response.completed"}"#;
        assert_eq!(type_of(sorted), "response.completed");
        assert_eq!(type_of(r#"{ "a" : [1, {"type": "inner"}], "type" : "error" }"#), "error");
        assert_eq!(type_of(r#"{"response":{"type":"inner"}}"#), "");
        assert_eq!(type_of("not json \" at all"), "");
        assert_eq!(type_of(""), "");
    }

    #[test]
    fn events_become_one_line_sse() {
        let mut out = bytes::BytesMut::new();
        sse("response.created", r#"{"type":"response.created"}"#, &mut out);
        sse("x", "{\"type\":\n\"x\"}", &mut out);
        let want =
            "event: response.created\ndata: {\"type\":\"response.created\"}\n\nevent: x\ndata: {\"type\":\"x\"}\n\n";
        assert_eq!(&out[..], want.as_bytes());
    }
}
