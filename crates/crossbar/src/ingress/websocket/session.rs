//! One Responses socket: its conversation and its turns.
//!
//! Each `response.create` frame becomes the full streamed Responses request any upstream needs:
//! with `previous_response_id`, the conversation kept under that id (the whole input of that
//! response plus the output items it returned, reasoning items and their encrypted or sealed
//! state included, in the shape Codex sends them back) followed by the frame's new input. That
//! request goes through `pipeline::handle` exactly as a `POST /v1/responses` would, and each
//! SSE event of its body goes back as one text frame. Only the last few responses are kept
//! (Codex only continues from the latest); an unknown id is `previous_response_not_found`.
//!
//! The socket is read while a response streams: a client that closes it drops the response
//! body, which drops the upstream request and finishes its usage record (the pipeline's own
//! drop path). A frame that arrives meanwhile waits for its turn.

use super::frames::{self, CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_TOO_BIG};
use super::FIRST_MESSAGE;
use crate::app::AppState;
use crate::pipeline::{self, Endpoint, Inbound};
use crate::store::KeyRecord;
use crate::upstream::websocket::{Link, Turn};
use axum::extract::ws::{Message, WebSocket};
use axum::http::{HeaderMap, HeaderValue};
use crossbar_protocol::sse::{Decoder, SseEvent};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// Responses whose conversation a socket keeps.
const KEPT: usize = 4;
/// Largest error body read back from a refused request.
const ERROR_BODY_LIMIT: usize = 1024 * 1024;

type Tx = SplitSink<WebSocket, Message>;
type Rx = SplitStream<WebSocket>;

pub struct Session {
    state: Arc<AppState>,
    key: Option<Arc<KeyRecord>>,
    /// The key as presented on the upgrade, checked again before each turn (revocation).
    presented: Option<String>,
    /// The upgrade request's headers (session ids, Codex metadata, `x-mock`), for every turn.
    headers: HeaderMap,
    /// Response id → the conversation after it, newest last.
    /// Items are shared between the conversations kept (each extends the one before).
    known: VecDeque<(String, Conversation)>,
    /// Frames that arrived while a response was streaming.
    pending: VecDeque<String>,
    /// This socket's place under the key's cap.
    slot: Option<super::Slot>,
    /// Graceful shutdown: no new turn starts.
    closing: tokio::sync::watch::Receiver<bool>,
    /// This socket's own upstream socket, for providers with WebSocket mode (never shared).
    link: Link,
}

/// Whether the socket is still open after a step.
enum Flow {
    Open,
    Closed,
}

impl Session {
    pub fn new(
        state: Arc<AppState>,
        key: Option<Arc<KeyRecord>>,
        presented: Option<String>,
        headers: HeaderMap,
        slot: super::Slot,
    ) -> Self {
        Session {
            closing: state.websockets.closing(),
            link: Link::new(state.metrics.upstream_websockets.clone()),
            state,
            key,
            presented,
            headers: turn_headers(headers),
            known: VecDeque::new(),
            pending: VecDeque::new(),
            slot: Some(slot),
        }
    }

    pub async fn run(mut self, socket: WebSocket) {
        let metrics = &self.state.metrics.websocket_connections;
        metrics.inc();
        let (mut tx, mut rx) = socket.split();
        self.serve(&mut tx, &mut rx).await;
        // The upstream socket ends with the client's, with a close frame.
        self.link.close().await;
        self.state.metrics.websocket_connections.dec();
    }

    async fn serve(&mut self, tx: &mut Tx, rx: &mut Rx) {
        let idle = self.state.config.server.websocket_idle;
        // The first message within 30 s (sooner when sockets may idle less than that).
        let first = FIRST_MESSAGE.min(idle);
        let mut wait = first;
        let mut started = false;
        loop {
            let text = match self.pending.pop_front() {
                Some(t) => t,
                None => match next_text(tx, rx, wait, !started, &mut self.closing).await {
                    Ok(t) => t,
                    Err(close) => {
                        // The key's socket place is free before the client learns of the close.
                        drop(self.slot.take());
                        if let Some(frame) = close {
                            let _ = tx.send(frame).await;
                        }
                        return;
                    }
                },
            };
            wait = idle;
            started = true;
            if let Flow::Closed = self.turn(tx, rx, &text).await {
                return;
            }
        }
    }

    /// One client frame.
    async fn turn(&mut self, tx: &mut Tx, rx: &mut Rx, text: &str) -> Flow {
        let limit = self.state.config.server.max_body_bytes;
        if text.len() > limit {
            let msg = format!("the message is larger than the {} MiB limit", limit / (1024 * 1024));
            return send(tx, frames::error(413, "invalid_request_error", None, None, &msg)).await;
        }
        let mut body = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            _ => {
                let msg = "a frame must be a JSON object {\"type\":\"response.create\", …}";
                return send(tx, frames::error(400, "invalid_request_error", None, None, msg)).await;
            }
        };
        match body.remove("type").as_ref().and_then(Value::as_str) {
            Some("response.create") => {}
            // Newer Codex acknowledges a processed response; nothing to answer.
            Some("response.processed") => return Flow::Open,
            other => {
                let msg = format!("unsupported frame type {other:?}; send \"response.create\"");
                return send(tx, frames::error(400, "invalid_request_error", None, Some("type"), &msg)).await;
            }
        }
        let generate = body.remove("generate") != Some(Value::Bool(false));
        let mut input: Conversation = match body.remove("input") {
            Some(Value::Array(items)) => items.into_iter().map(Arc::new).collect(),
            Some(Value::String(s)) => {
                vec![Arc::new(serde_json::json!({"type": "message", "role": "user", "content": s}))]
            }
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                let msg = "`input` must be a string or an array of items";
                return send(tx, frames::error(400, "invalid_request_error", None, Some("input"), msg)).await;
            }
        };
        let anchor = body.remove("previous_response_id").filter(|v| !v.is_null());
        let new_items = input.len();
        tracing::debug!(previous = ?anchor, new_items, generate, "websocket response.create");
        let anchor = anchor.map(|a| a.as_str().unwrap_or_default().to_owned());
        if let Some(prev) = anchor.as_deref() {
            let Some((_, before)) = self.known.iter().find(|(id, _)| id == prev) else {
                return send(tx, frames::previous_not_found(prev)).await;
            };
            let mut all = Vec::with_capacity(before.len() + input.len());
            all.extend(before.iter().cloned());
            all.append(&mut input);
            input = all;
        }
        if !generate {
            let id = format!("resp_{}", uuid::Uuid::new_v4().simple());
            let model = body.get("model").cloned().unwrap_or(Value::Null);
            self.remember(id.clone(), input);
            for f in frames::prewarm(&id, &model) {
                if let Flow::Closed = send(tx, f).await {
                    return Flow::Closed;
                }
            }
            return Flow::Open;
        }
        let key = match self.current_key().await {
            Ok(k) => k,
            Err(frame) => return send(tx, frame).await,
        };
        body.insert("stream".into(), Value::Bool(true));
        let bytes = assemble(&body, &input);
        if bytes.len() > limit {
            let msg = format!(
                "the conversation is larger than the {} MiB request limit; start a new one",
                limit / (1024 * 1024)
            );
            return send(tx, frames::error(413, "invalid_request_error", None, None, &msg)).await;
        }
        let shallow = match pipeline::body::inspect(&bytes) {
            Ok(s) => s,
            Err(msg) => return send(tx, frames::error(400, "invalid_request_error", None, None, &msg)).await,
        };
        let Some(model) = shallow.model else {
            return send(tx, frames::error(400, "invalid_request_error", None, Some("model"), "`model` is required"))
                .await;
        };
        let inbound = Inbound {
            protocol: crossbar_protocol::canonical::Protocol::OpenaiResponses,
            endpoint: Endpoint::Generate,
            model,
            model_span: shallow.model_span,
            stream: true,
            body: bytes,
            headers: self.headers.clone(),
            forward_query: None,
            include_usage: false,
            stream_options_span: shallow.stream_options_span,
            sse: true,
            codex_ready: shallow.store_false && !shallow.codex_refused,
            started: Instant::now(),
            key,
            prompt: Some(shallow.prompt),
            conversation_memo: Default::default(),
            socket: Some(Turn { link: self.link.clone(), anchor, new_items }),
        };
        self.state.metrics.websocket_responses.inc();
        let response = pipeline::handle(self.state.clone(), inbound).await;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, ERROR_BODY_LIMIT).await.unwrap_or_default();
            return send(tx, frames::error_from_response(status, &bytes, &parts.headers)).await;
        }
        self.stream(tx, rx, response.into_body(), input).await
    }

    /// Send the response's events, one per frame, while watching the socket.
    async fn stream(&mut self, tx: &mut Tx, rx: &mut Rx, body: axum::body::Body, input: Conversation) -> Flow {
        let mut chunks = body.into_data_stream();
        let mut decoder = Decoder::default();
        let mut events = Vec::new();
        let mut seen = Seen::default();
        loop {
            tokio::select! {
                chunk = chunks.next() => {
                    let end = match chunk {
                        Some(Ok(bytes)) => {
                            decoder.push(&bytes, &mut events);
                            false
                        }
                        Some(Err(_)) | None => {
                            decoder.finish(&mut events);
                            true
                        }
                    };
                    // The events of one chunk go out in one write (one flush): a write per
                    // event would leave the last ones waiting for the client's delayed ACK.
                    let mut fed = false;
                    for e in events.drain(..) {
                        if let Some(frame) = seen.event(e) {
                            fed = true;
                            if tx.feed(frames::text(frame)).await.is_err() {
                                return Flow::Closed;
                            }
                        }
                    }
                    // A chunk without events is the pipeline's `: keep-alive` while the upstream
                    // is silent: the socket gets a ping instead, so proxies see traffic.
                    if !fed && !end && tx.feed(Message::Ping(bytes::Bytes::new())).await.is_err() {
                        return Flow::Closed;
                    }
                    if tx.flush().await.is_err() {
                        return Flow::Closed;
                    }
                    if end {
                        break;
                    }
                }
                msg = rx.next() => match msg {
                    Some(Ok(Message::Text(t))) => self.pending.push_back(t.to_string()),
                    Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => {}
                    // Gone mid-response: returning drops `chunks`, and with it the upstream request.
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Flow::Closed,
                },
            }
        }
        if !seen.terminal {
            let msg = "the response ended before response.completed";
            return send(tx, frames::error(502, "api_error", Some("server_error"), None, msg)).await;
        }
        if let (true, Some(id)) = (seen.completed, seen.id.take()) {
            let mut all = input;
            all.append(&mut seen.items);
            self.remember(id, all);
        }
        Flow::Open
    }

    fn remember(&mut self, id: String, conversation: Conversation) {
        if self.known.len() >= KEPT {
            self.known.pop_front();
        }
        self.known.push_back((id, conversation));
    }

    /// The key, checked again (a key revoked since the upgrade stops working on the next turn).
    async fn current_key(&mut self) -> Result<Option<Arc<KeyRecord>>, String> {
        let (Some(auth), Some(presented)) = (self.state.auth.as_ref(), self.presented.as_deref()) else {
            return Ok(self.key.clone());
        };
        match auth.check(presented).await {
            Ok(record) => {
                self.key = Some(record.clone());
                Ok(Some(record))
            }
            // As the HTTP layer answers: the key store unreachable is a 503, anything else a 401.
            Err(crate::auth::Rejection::Unavailable) => {
                let r = crate::auth::Rejection::Unavailable;
                Err(frames::error(503, "server_error", Some("server_is_overloaded"), None, r.message()))
            }
            Err(r) => Err(frames::error(401, "invalid_request_error", Some("invalid_api_key"), None, r.message())),
        }
    }
}

/// What a response's events said so far.
#[derive(Default)]
struct Seen {
    id: Option<String>,
    /// Output items (`response.output_item.done`), as input items (`as_input`).
    items: Conversation,
    completed: bool,
    terminal: bool,
}

impl Seen {
    /// Look at one SSE event; the text frame to send, if any.
    fn event(&mut self, e: SseEvent) -> Option<String> {
        if e.data.is_empty() || e.data == "[DONE]" {
            return None;
        }
        let ty = match e.event.as_deref() {
            Some(t) => t.to_owned(),
            None => type_of(&e.data),
        };
        match ty.as_str() {
            "response.output_item.done" => {
                if let Ok(mut v) = serde_json::from_str::<Value>(&e.data) {
                    if let Some(Value::Object(item)) = v.get_mut("item").map(Value::take) {
                        self.items.push(Arc::new(as_input(item)));
                    }
                }
            }
            "response.created" | "response.completed" | "response.incomplete" => {
                if let Ok(v) = serde_json::from_str::<Value>(&e.data) {
                    if self.id.is_none() {
                        self.id = v["response"]["id"].as_str().map(str::to_owned);
                    }
                    if ty != "response.created" {
                        self.terminal = true;
                        self.completed = true;
                        if self.items.is_empty() {
                            // Some upstreams list the output only here.
                            for item in v["response"]["output"].as_array().into_iter().flatten() {
                                if let Value::Object(item) = item {
                                    self.items.push(Arc::new(as_input(item.clone())));
                                }
                            }
                        }
                    }
                }
            }
            "response.failed" | "error" => self.terminal = true,
            _ => {}
        }
        Some(e.data)
    }
}

/// An output item as a client sends it back in its input (as Codex does): no `id` (with
/// `store: false` an id names nothing), no `status`, message text without annotations or
/// logprobs.
fn as_input(mut item: Map<String, Value>) -> Value {
    item.remove("id");
    item.remove("status");
    if item.get("type").and_then(Value::as_str) == Some("message") {
        for part in item.get_mut("content").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(part) =
                part.as_object_mut().filter(|p| p.get("type").and_then(Value::as_str) == Some("output_text"))
            {
                part.retain(|k, _| k == "type" || k == "text");
            }
        }
    }
    Value::Object(item)
}

fn type_of(data: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "type", default)]
        ty: String,
    }
    serde_json::from_str::<Head>(data).map(|h| h.ty).unwrap_or_default()
}

/// A conversation: the items of a request's input, then of its response's output.
type Conversation = Vec<Arc<Value>>;

/// The request body: the frame's fields with `input` set to the whole conversation.
fn assemble(body: &Map<String, Value>, input: &[Arc<Value>]) -> bytes::Bytes {
    struct Items<'a>(&'a [Arc<Value>]);
    impl serde::Serialize for Items<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|v| &**v))
        }
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        #[serde(flatten)]
        fields: &'a Map<String, Value>,
        input: Items<'a>,
    }
    let body = Body { fields: body, input: Items(input) };
    bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// The upgrade's headers as each turn's request headers: the WebSocket handshake's own are
/// dropped, and so is the `openai-beta` that asked for WebSocket mode (the turn goes upstream
/// over HTTP).
fn turn_headers(mut headers: HeaderMap) -> HeaderMap {
    for name in ["upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"] {
        headers.remove(name);
    }
    let betas: Vec<HeaderValue> = headers
        .get_all("openai-beta")
        .iter()
        .filter(|v| !v.to_str().unwrap_or_default().contains("responses_websockets"))
        .cloned()
        .collect();
    headers.remove("openai-beta");
    for v in betas {
        headers.append("openai-beta", v);
    }
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
}

/// The next text frame within `wait`. `Err` when the socket ended, with the close frame to
/// send (on a timeout or an oversized message), if any.
async fn next_text(
    tx: &mut Tx,
    rx: &mut Rx,
    wait: std::time::Duration,
    first: bool,
    closing: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<String, Option<Message>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout_at(deadline, rx.next()) => next,
            _ = closing.wait_for(|c| *c) => {
                return Err(Some(frames::close(CLOSE_GOING_AWAY, "crossbar is shutting down; reconnect")));
            }
        };
        match next {
            Err(_) => {
                let reason = if first {
                    format!("no response.create within {} s of connecting", wait.as_secs())
                } else {
                    format!("idle for {} s without a response.create ([server] websocket_idle_secs)", wait.as_secs())
                };
                return Err(Some(frames::close(CLOSE_NORMAL, &reason)));
            }
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.to_string()),
            Ok(Some(Ok(Message::Binary(_)))) => {
                let msg = "binary frames are not part of the protocol; send text frames";
                if let Flow::Closed = send(tx, frames::error(400, "invalid_request_error", None, None, msg)).await {
                    return Err(None);
                }
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) => return Err(None),
            // tungstenite refuses a message over its size limit with an error.
            Ok(Some(Err(e))) => return Err(Some(frames::close(CLOSE_TOO_BIG, &format!("{e}")))),
        }
    }
}

async fn send(tx: &mut Tx, text: String) -> Flow {
    match tx.send(frames::text(text)).await {
        Ok(()) => Flow::Open,
        Err(_) => Flow::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_items_become_input_items_as_codex_sends_them() {
        let item = |v: Value| match v {
            Value::Object(m) => as_input(m),
            _ => unreachable!(),
        };
        let msg = json!({"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                         "content": [{"type": "output_text", "text": "hi", "annotations": [], "logprobs": []}]});
        assert_eq!(
            item(msg),
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]})
        );
        let rs = json!({"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "cb1.x"});
        assert_eq!(item(rs), json!({"type": "reasoning", "summary": [], "encrypted_content": "cb1.x"}));
        let fc = json!({"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "c", "name": "f",
                        "arguments": "{}"});
        assert_eq!(item(fc), json!({"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}));
    }
}
