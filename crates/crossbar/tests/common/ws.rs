//! Responses over WebSocket from the client's side: a socket to crossbar, one turn's events,
//! and the frames Codex sends (`tests/websocket.rs`, `tests/websocket_native.rs`).

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Send one frame and read events up to the response's end (or an error frame).
pub async fn turn(ws: &mut Ws, frame: Value) -> Vec<Value> {
    ws.send(Message::Text(frame.to_string().into())).await.expect("send");
    read_turn(ws).await
}

/// Read events up to the response's end (or an error frame), each frame one JSON event.
pub async fn read_turn(ws: &mut Ws) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(60), ws.next())
            .await
            .expect("an event within 60 s")
            .expect("socket open")
            .expect("frame");
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(t.as_str()).expect("each frame is one JSON event");
        let ty = v["type"].as_str().unwrap_or_default().to_owned();
        events.push(v);
        if matches!(ty.as_str(), "response.completed" | "response.failed" | "response.incomplete" | "error") {
            return events;
        }
    }
}

/// The call id of the turn's function call.
pub fn call_id(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done" && e["item"]["type"] == "function_call")
        .find_map(|e| e["item"]["call_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no function call: {events:#?}"))
}

pub fn tools() -> Value {
    json!([{
        "type": "function", "name": "exec_command", "description": "run a command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
    }])
}

pub fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// A `response.create` frame as Codex sends it (`store: false`, the shell tool).
pub fn create(model: &str, input: Value, previous: Option<&str>) -> Value {
    let mut v = json!({"type": "response.create", "model": model, "input": input, "tools": tools(), "store": false});
    if let Some(p) = previous {
        v["previous_response_id"] = json!(p);
    }
    v
}

/// The tool's output for `call_id`, as the next turn's new input.
pub fn output(call_id: &str, out: &str) -> Value {
    json!([{"type": "function_call_output", "call_id": call_id, "output": out}])
}
