#![allow(clippy::unwrap_used)]
mod common;

use common::{post, schema_one, Event};
use serde_json::{json, Value};

const PATH: &str = "/v1/messages?beta=true";

fn req(text: &str, stream: bool) -> Value {
    json!({
        "model": "claude-test", "max_tokens": 1000, "stream": stream,
        "system": [{"type": "text", "text": "be brief"}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
            {"type": "text", "text": text}]}],
        "tools": [
            {"name": "Read", "input_schema": schema_one("file_path")},
            {"name": "Bash", "input_schema": {"type": "object", "properties": {
                "command": {"type": "string"}, "timeout": {"type": "number"}}, "required": ["command"]}}
        ],
    })
}

/// Rebuild the message as the anthropic SDK's `messages.stream` accumulator does, checking
/// the grammar on the way.
fn accumulate(ev: &[Event]) -> Value {
    for e in ev {
        assert_eq!(e.event.as_deref(), Some(e.ty().as_str()), "event: line on every frame");
    }
    let types: Vec<String> = ev.iter().map(Event::ty).collect();
    assert_eq!(types[0], "message_start");
    assert_eq!(types[1], "ping");
    assert_eq!(types[types.len() - 1], "message_stop");
    assert_eq!(types[types.len() - 2], "message_delta");
    let mut msg = ev[0].json()["message"].clone();
    assert_eq!(msg["content"], json!([]));
    assert!(msg["stop_reason"].is_null());
    let mut partial: Vec<String> = Vec::new();
    for e in &ev[1..] {
        let v = e.json();
        match v["type"].as_str().unwrap() {
            "content_block_start" => {
                let content = msg["content"].as_array_mut().unwrap();
                assert_eq!(v["index"], content.len() as u64);
                content.push(v["content_block"].clone());
                partial.push(String::new());
            }
            "content_block_delta" => {
                let i = v["index"].as_u64().unwrap() as usize;
                let block = &mut msg["content"][i];
                let d = &v["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => {
                        block["text"] = json!(block["text"].as_str().unwrap().to_owned() + d["text"].as_str().unwrap())
                    }
                    "thinking_delta" => {
                        block["thinking"] =
                            json!(block["thinking"].as_str().unwrap().to_owned() + d["thinking"].as_str().unwrap())
                    }
                    "signature_delta" => block["signature"] = d["signature"].clone(),
                    "input_json_delta" => partial[i].push_str(d["partial_json"].as_str().unwrap()),
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => {
                let i = v["index"].as_u64().unwrap() as usize;
                if msg["content"][i]["type"] == "tool_use" {
                    msg["content"][i]["input"] = serde_json::from_str(&partial[i]).unwrap();
                }
            }
            "message_delta" => {
                msg["stop_reason"] = v["delta"]["stop_reason"].clone();
                msg["usage"]["output_tokens"] = v["usage"]["output_tokens"].clone();
                assert!(v["usage"]["output_tokens"].is_u64());
            }
            _ => {}
        }
    }
    msg
}

#[tokio::test]
async fn text() {
    let v = post(PATH, &req("hello there", false)).await.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"], json!([{"type": "text", "text": "echo: hello there"}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["output_tokens"], 3);

    let mut streamed = accumulate(&post(PATH, &req("hello there", true)).await.events());
    assert_eq!(streamed["content"], v["content"]);
    assert_eq!(streamed["stop_reason"], "end_turn");
    assert_eq!(streamed["usage"]["output_tokens"], 3);
    streamed["id"] = v["id"].clone();
    assert_eq!(streamed, v, "streamed and non-streamed replies agree");
}

#[tokio::test]
async fn tool_use() {
    let r = post(PATH, &req("mock:tool", true)).await;
    let ev = r.events();
    let frags = ev.iter().filter(|e| e.json()["delta"]["type"] == "input_json_delta").count();
    assert!(frags >= 2, "input_json_delta in 2+ fragments");
    let msg = accumulate(&ev);
    let block = &msg["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["name"], "Bash");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["input"], json!({"command": "echo mock-tool-ran"}));
    assert_eq!(msg["stop_reason"], "tool_use");

    let v = post(PATH, &req("mock:tool=Read", false)).await.json();
    assert_eq!(v["content"][0]["input"], json!({"file_path": "mock"}));
}

#[tokio::test]
async fn tool_result_turn() {
    let mut body = req("mock:tool", true);
    let msgs = body["messages"].as_array_mut().unwrap();
    msgs.push(json!({"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]}));
    msgs.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
        "content": [{"type": "text", "text": "mock-tool-ran"}], "is_error": false}]}));
    let msg = accumulate(&post(PATH, &body).await.events());
    assert_eq!(msg["content"][0]["text"], "MOCK_FINAL: the tool said: mock-tool-ran");
}

#[tokio::test]
async fn thinking() {
    let ev = post(PATH, &req("mock:reasoning", true)).await.events();
    assert!(ev.iter().any(|e| e.json()["delta"]["type"] == "signature_delta"));
    let msg = accumulate(&ev);
    let t = &msg["content"][0];
    assert_eq!(t["type"], "thinking");
    assert!(!t["thinking"].as_str().unwrap().is_empty());
    assert!(!t["signature"].as_str().unwrap().is_empty());
    assert_eq!(msg["content"][1]["type"], "text");
    let v = post(PATH, &req("mock:reasoning", false)).await.json();
    assert_eq!(v["content"][0], *t);
}

#[tokio::test]
async fn cached_usage_and_json() {
    let v = post(PATH, &req("mock:cached=7", false)).await.json();
    assert_eq!(v["usage"]["cache_read_input_tokens"], 7);
    let mut body = req("title", false);
    body["output_config"] = json!({"format": {"type": "json_schema", "schema": schema_one("title")}});
    assert_eq!(post(PATH, &body).await.json()["content"][0]["text"], r#"{"title":"mock"}"#);
}

#[tokio::test]
async fn count_tokens() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let r = post("/v1/messages/count_tokens?beta=true", &body).await;
    assert_eq!(r.json(), json!({"input_tokens": body.to_string().len() / 4}));
}

#[tokio::test]
async fn errors() {
    let r = post(PATH, &req("mock:error=529", false)).await;
    assert_eq!(r.status.as_u16(), 529);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "overloaded_error");
    let r = post(PATH, &req("mock:error=429", true)).await;
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert_eq!(r.headers["retry-after"], "1");

    let r = common::send(crossbar_mock::router(), "POST", PATH, "[".into(), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");

    let ev = post(PATH, &req("hello there mock:midstream-error", true)).await.events();
    let last = ev.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"));
    assert_eq!(last.json()["error"]["type"], "overloaded_error");
    assert!(ev.iter().any(|e| e.json()["delta"]["type"] == "text_delta"));
    assert!(!ev.iter().any(|e| e.ty() == "message_stop"));
}

#[tokio::test]
async fn drop_cuts_the_body() {
    let r = post(PATH, &req("hello mock:drop", true)).await;
    assert!(r.body.is_err());
}
