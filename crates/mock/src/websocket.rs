//! OpenAI Responses over WebSocket: `GET /v1/responses` (also `/responses`,
//! `/backend-api/codex/responses`) upgraded to a socket.
//!
//! The client sends text frames `{"type":"response.create", …the POST body…}`, with
//! `previous_response_id` and only the new input, or the whole input; `"generate": false` is a
//! prewarm. Each generating frame is answered by the HTTP path itself (`openai_responses::handle`
//! on the assembled body, streamed), one Responses event per text frame, so directives, faults
//! and the Codex backend's rules hold as they do over HTTP. The socket remembers its own
//! responses (input so far plus output items, by response id); an unknown
//! `previous_response_id` is answered with the wrapped error
//! `{"type":"error","status":400,"error":{"code":"previous_response_not_found",…}}`, as is any
//! HTTP error (`{"type":"error","status":S,"error":{…}}`). `mock:drop` cuts the socket without
//! a close frame. Each frame is recorded (method `GET`, the frame as the body).
//!
//! Like OpenAI's, a socket lives at most an hour (`traffic.rs`: `CROSSBAR_MOCK_WS_MAX_AGE_SECS`,
//! and a clock tests move with `/_mock/websocket/advance`): a frame past that is answered with
//! `websocket_connection_limit_reached` and the socket closes. `/_mock/websocket/forget` makes
//! every socket forget its responses. An upgrade carrying `x-mock-websocket: refuse` is
//! refused with 426 (an upstream without WebSocket mode). Usage windows the HTTP answer would
//! carry as `x-codex-*` headers (`mock:headroom`) come first as a `codex.rate_limits` event;
//! an error frame carries its answer's headers (`headers`), as the ChatGPT backend's do.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;

use crate::{Incoming, Mock};

pub async fn upgrade(State(mock): State<Mock>, uri: Uri, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if headers.get("x-mock-websocket").is_some_and(|v| v == "refuse") {
        let body = json!({"error": {"type": "invalid_request_error", "code": null, "message": "WebSocket mode is not available"}});
        return (StatusCode::UPGRADE_REQUIRED, axum::Json(body)).into_response();
    }
    ws.on_upgrade(move |socket| session(socket, mock, uri, headers))
}

/// Counts the socket as open while it lives.
struct Open(Mock);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.inner.traffic.close();
    }
}

async fn session(mut socket: WebSocket, mock: Mock, uri: Uri, headers: HeaderMap) {
    let mut clock = mock.inner.traffic.open();
    let _open = Open(mock.clone());
    // Response id → the whole conversation after it (input so far + its output items).
    let mut known: HashMap<String, Vec<Value>> = HashMap::new();
    while let Some(Ok(msg)) = socket.recv().await {
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => {
                mock.inner.traffic.websocket_close_frames.fetch_add(1, Ordering::Relaxed);
                return;
            }
            _ => continue,
        };
        record(&mock, &uri, &headers, Bytes::copy_from_slice(text.as_bytes()));
        let traffic = &mock.inner.traffic;
        traffic.websocket_bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
        if traffic.forgotten(&mut clock) {
            known.clear();
        }
        if traffic.expired(&clock) {
            let msg = "Responses websocket connection limit reached (60 minutes). Create a new websocket connection to continue.";
            let _ = send(
                &mut socket,
                &wrapped(400, "invalid_request_error", Some("websocket_connection_limit_reached"), msg),
            )
            .await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        let (body, input) = match create(&mock, &mut known, text.as_str()) {
            Ok(Create::Prewarm(frames)) => {
                for f in frames {
                    if !send(&mut socket, &f).await {
                        return;
                    }
                }
                continue;
            }
            Ok(Create::Generate(body, input)) => (body, input),
            Err(e) => {
                if !send(&mut socket, &e).await {
                    return;
                }
                continue;
            }
        };
        let inc = Incoming {
            path: uri.path().to_owned(),
            headers: headers.clone(),
            query: uri.query().map(str::to_owned),
            body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
            mock: mock.clone(),
        };
        let res = crate::openai_responses::handle(inc).await;
        if !res.status().is_success() {
            let status = res.status().as_u16();
            let head = wrapped_headers(res.headers());
            let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let error = match body.get("error") {
                Some(e) if e.is_object() => e.clone(),
                _ => {
                    json!({"message": body.get("detail").cloned().unwrap_or(body.clone()), "type": "invalid_request_error"})
                }
            };
            if !send(&mut socket, &json!({"type": "error", "status": status, "error": error, "headers": head})).await {
                return;
            }
            continue;
        }
        let mut head = res.headers().clone();
        crate::faults::add_headroom(&headers, &mut head);
        if let Some(event) = rate_limits_event(&head) {
            if !send(&mut socket, &event).await {
                return;
            }
        }
        if !relay(&mut socket, res.into_body(), input, &mut known).await {
            // A cut stream (`mock:drop`) or a gone client: the socket ends without a close frame.
            return;
        }
    }
}

enum Create {
    /// A generating request: the body for the HTTP path, and the whole input it carries.
    Generate(Value, Vec<Value>),
    /// `generate: false`: the frames to answer with.
    Prewarm(Vec<Value>),
}

/// Read one client frame; `Err` is the wrapped error frame to answer with.
fn create(mock: &Mock, known: &mut HashMap<String, Vec<Value>>, text: &str) -> Result<Create, Value> {
    let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(text) else {
        return Err(wrapped(400, "invalid_request_error", None, "the frame is not a JSON object"));
    };
    if body.remove("type").as_ref().and_then(Value::as_str) != Some("response.create") {
        return Err(wrapped(400, "invalid_request_error", None, "expected a `response.create` frame"));
    }
    let generate = body.remove("generate") != Some(Value::Bool(false));
    let mut input = match body.remove("input") {
        Some(Value::Array(items)) => items,
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        _ => Vec::new(),
    };
    if let Some(prev) = body.remove("previous_response_id") {
        let prev = prev.as_str().unwrap_or_default();
        let Some(before) = known.get(prev) else {
            return Err(wrapped(
                400,
                "invalid_request_error",
                Some("previous_response_not_found"),
                &format!("Previous response with id '{prev}' not found."),
            ));
        };
        let mut all = before.clone();
        all.append(&mut input);
        input = all;
    }
    if !generate {
        let id = format!("resp_mockwarm{:x}", mock.next_id());
        known.insert(id.clone(), input);
        let response = |status: &str| {
            json!({"id": id, "object": "response", "status": status, "model": body.get("model").cloned().unwrap_or(Value::Null),
                   "output": [], "usage": null})
        };
        return Ok(Create::Prewarm(vec![
            json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress")}),
            json!({"type": "response.completed", "sequence_number": 1, "response": response("completed")}),
        ]));
    }
    body.insert("input".into(), Value::Array(input.clone()));
    body.insert("stream".into(), Value::Bool(true));
    Ok(Create::Generate(Value::Object(body), input))
}

fn wrapped(status: u16, ty: &str, code: Option<&str>, message: &str) -> Value {
    let mut error = Map::new();
    error.insert("type".into(), json!(ty));
    error.insert("code".into(), code.map_or(Value::Null, |c| json!(c)));
    error.insert("message".into(), json!(message));
    if code == Some("previous_response_not_found") {
        error.insert("param".into(), json!("previous_response_id"));
    }
    json!({"type": "error", "status": status, "error": error})
}

/// The headers a wrapped error frame carries (`headers`, as the ChatGPT backend's do): the
/// answer's own, but for the body's framing.
fn wrapped_headers(head: &HeaderMap) -> Map<String, Value> {
    head.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "content-type" | "content-length" | "transfer-encoding"))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), Value::String(v.to_str().ok()?.to_owned()))))
        .collect()
}

/// The ChatGPT backend's usage windows on a socket: a `codex.rate_limits` event ahead of the
/// response's events, standing for the `x-codex-{primary,secondary}-*` headers HTTP carries.
fn rate_limits_event(head: &HeaderMap) -> Option<Value> {
    let get =
        |w: &str, what: &str| -> Option<f64> { head.get(format!("x-codex-{w}-{what}"))?.to_str().ok()?.parse().ok() };
    let window = |w: &str| {
        let used = get(w, "used-percent")?;
        let mut out = Map::new();
        out.insert("used_percent".into(), json!(used));
        for (header, field) in [
            ("window-minutes", "window_minutes"),
            ("reset-at", "reset_at"),
            ("reset-after-seconds", "reset_after_seconds"),
        ] {
            if let Some(v) = get(w, header) {
                out.insert(field.into(), json!(v as u64));
            }
        }
        Some(Value::Object(out))
    };
    let (primary, secondary) = (window("primary"), window("secondary"));
    if primary.is_none() && secondary.is_none() {
        return None;
    }
    let reached = [&primary, &secondary].iter().any(|w| w.as_ref().is_some_and(|w| w["used_percent"] == json!(100.0)));
    Some(json!({
        "type": "codex.rate_limits",
        "plan_type": "plus",
        "rate_limits": {"allowed": !reached, "limit_reached": reached, "primary": primary, "secondary": secondary},
        "code_review_rate_limits": null,
    }))
}

/// Send the SSE body's events as text frames (the events of one chunk in one write, as a
/// server that writes what it has would); remember the completed response. `false` when the
/// body broke or the client is gone.
async fn relay(socket: &mut WebSocket, body: Body, input: Vec<Value>, known: &mut HashMap<String, Vec<Value>>) -> bool {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    let mut input = Some(input);
    loop {
        let mut fed = false;
        while let Some(end) = find(&buf, b"\n\n") {
            let event = buf.split_to(end + 2);
            let Some(data) = data_of(&event) else { continue };
            if data.contains("\"response.completed\"") {
                if let Ok(done) = serde_json::from_str::<Value>(data) {
                    if let (Some(id), Some(mut all)) = (done["response"]["id"].as_str(), input.take()) {
                        all.extend(done["response"]["output"].as_array().cloned().unwrap_or_default());
                        known.insert(id.to_owned(), all);
                    }
                }
            }
            fed = true;
            if socket.feed(Message::Text(data.to_owned().into())).await.is_err() {
                return false;
            }
        }
        if fed && socket.flush().await.is_err() {
            return false;
        }
        match stream.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(_)) => return false,
            None => return true,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `data:` line of one SSE event (the mock writes JSON data on one line).
fn data_of(event: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(event).ok()?;
    text.lines().find_map(|l| l.strip_prefix("data: ")).filter(|d| d.starts_with('{'))
}

async fn send(socket: &mut WebSocket, v: &Value) -> bool {
    socket.send(Message::Text(v.to_string().into())).await.is_ok()
}

fn record(mock: &Mock, uri: &Uri, headers: &HeaderMap, frame: Bytes) {
    let mut req = axum::http::Request::new(());
    *req.method_mut() = Method::GET;
    *req.uri_mut() = uri.clone();
    *req.headers_mut() = headers.clone();
    let (parts, ()) = req.into_parts();
    mock.inner.log.push(&parts, &frame);
}
