#![allow(clippy::unwrap_used)]
mod common;

use common::{post, schema_one};
use serde_json::{json, Value};

const PATH: &str = "/v1/chat/completions";

fn req(text: &str, stream: bool) -> Value {
    json!({
        "model": "gpt-test", "stream": stream, "stream_options": {"include_usage": true},
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
        "tools": [
            {"type": "function", "function": {"name": "read", "parameters": schema_one("path")}},
            {"type": "function", "function": {"name": "bash", "parameters": {"type": "object",
                "properties": {"command": {"type": "string"}, "description": {"type": "string"}},
                "required": ["command", "description"]}}}
        ],
    })
}

/// Content text and tool calls rebuilt from chunks, checking the chunk grammar on the way.
fn assemble(events: &[common::Event]) -> (String, String, Vec<Value>, Value, String) {
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| e.json()).collect();
    let first = &chunks[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    let (mut text, mut reasoning, mut calls, mut finish) = (String::new(), String::new(), Vec::<Value>::new(), None);
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(c["model"], "gpt-test");
        let Some(choice) = c["choices"].get(0) else {
            continue;
        };
        let d = &choice["delta"];
        text.push_str(d["content"].as_str().unwrap_or(""));
        reasoning.push_str(d["reasoning_content"].as_str().unwrap_or(""));
        for tc in d["tool_calls"].as_array().into_iter().flatten() {
            let i = tc["index"].as_u64().expect("index on every tool_call delta") as usize;
            if tc.get("id").is_some() {
                assert_eq!(i, calls.len());
                assert_eq!(tc["type"], "function");
                calls.push(json!({"id": tc["id"], "name": tc["function"]["name"], "arguments": ""}));
            }
            let args =
                calls[i]["arguments"].as_str().unwrap().to_owned() + tc["function"]["arguments"].as_str().unwrap();
            calls[i]["arguments"] = json!(args);
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
    }
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    (text, reasoning, calls, usage["usage"].clone(), finish.expect("a finish_reason"))
}

#[tokio::test]
async fn text_not_streamed() {
    let body = req("hello there", false);
    let r = post(PATH, &body).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let input = (body.to_string().len() / 4) as u64;
    assert_eq!(v["usage"]["prompt_tokens"], input);
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["usage"]["total_tokens"], input + 3);
}

#[tokio::test]
async fn reply_with_exactly() {
    let r = post(PATH, &req("Reply with exactly PONG", false)).await;
    assert_eq!(r.json()["choices"][0]["message"]["content"], "PONG");
}

#[tokio::test]
async fn text_streamed() {
    let r = post(PATH, &req("hello there", true)).await;
    assert_eq!(r.headers["content-type"], "text/event-stream");
    let ev = r.events();
    assert!(ev.len() >= 6, "one word a chunk");
    let (text, _, calls, usage, finish) = assemble(&ev);
    assert_eq!(text, "echo: hello there");
    assert!(calls.is_empty());
    assert_eq!(finish, "stop");
    assert_eq!(usage["completion_tokens"], 3);
}

#[tokio::test]
async fn tool_call_prefers_shell() {
    let r = post(PATH, &req("run it mock:tool", false)).await;
    let m = &r.json()["choices"][0];
    assert_eq!(m["finish_reason"], "tool_calls");
    let tc = &m["message"]["tool_calls"][0];
    assert_eq!(tc["type"], "function");
    assert_eq!(tc["function"]["name"], "bash");
    let args: Value = serde_json::from_str(tc["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"command": "echo mock-tool-ran", "description": "mock"}));

    let ev = post(PATH, &req("run it mock:tool", true)).await.events();
    let (text, _, calls, _, finish) = assemble(&ev);
    assert_eq!((text.as_str(), finish.as_str()), ("", "tool_calls"));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["name"], "bash");
    assert_eq!(calls[0]["arguments"], tc["function"]["arguments"]);
}

#[tokio::test]
async fn named_and_parallel_tools() {
    let v = post(PATH, &req("mock:tool=read mock:parallel", false)).await.json();
    let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    assert_eq!(calls[1]["function"]["name"], "read");
    assert_eq!(calls[1]["function"]["arguments"], r#"{"path":"mock"}"#);
}

#[tokio::test]
async fn tool_result_turn() {
    let mut body = req("mock:tool", true);
    let msgs = body["messages"].as_array_mut().unwrap();
    msgs.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "bash", "arguments": "{}"}}]}));
    msgs.push(json!({"role": "tool", "tool_call_id": "c1", "content": "mock-tool-ran\n"}));
    let (text, _, calls, _, finish) = assemble(&post(PATH, &body).await.events());
    assert_eq!(text, "MOCK_FINAL: the tool said: mock-tool-ran");
    assert!(calls.is_empty());
    assert_eq!(finish, "stop");
}

#[tokio::test]
async fn reasoning() {
    let v = post(PATH, &req("think mock:reasoning", false)).await.json();
    let m = &v["choices"][0]["message"];
    assert!(!m["reasoning_content"].as_str().unwrap().is_empty());
    assert!(v["usage"]["completion_tokens_details"]["reasoning_tokens"].as_u64().unwrap() > 0);
    let (text, reasoning, ..) = assemble(&post(PATH, &req("think mock:reasoning", true)).await.events());
    assert_eq!(reasoning, m["reasoning_content"].as_str().unwrap());
    assert_eq!(text, "echo: think mock:reasoning");
}

#[tokio::test]
async fn json_mode_and_cached() {
    let mut body = req("mock:cached=5", false);
    body["response_format"] =
        json!({"type": "json_schema", "json_schema": {"name": "t", "schema": schema_one("title")}});
    let v = post(PATH, &body).await.json();
    assert_eq!(v["choices"][0]["message"]["content"], r#"{"title":"mock"}"#);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 5);
    let v = post(PATH, &req("mock:json", false)).await.json();
    assert_eq!(v["choices"][0]["message"]["content"], r#"{"answer":"mock"}"#);
}

#[tokio::test]
async fn words() {
    let r = post(PATH, &req("mock:words=12", true)).await;
    let (text, .., usage, _) = assemble(&r.events());
    assert_eq!(text.split(' ').count(), 12);
    assert_eq!(usage["completion_tokens"], 12);
}

#[tokio::test]
async fn errors() {
    let r = post(PATH, &req("mock:error=429", false)).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.headers["retry-after"], "1");
    let e = &r.json()["error"];
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert!(e["message"].is_string() && e.get("param").is_some() && e["type"].is_string());

    let r = common::send(crossbar_mock::router(), "POST", PATH, "{not json".into(), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn midstream_error() {
    let ev = post(PATH, &req("hello there mock:midstream-error", true)).await.events();
    let last = ev.last().unwrap().json();
    assert_eq!(last["error"]["type"], "server_error");
    assert!(ev[..ev.len() - 1].iter().any(|e| e.json()["choices"][0]["delta"]["content"].is_string()));
    assert!(!ev.iter().any(|e| e.data == "[DONE]"));
}

#[tokio::test]
async fn drop_cuts_the_body() {
    let r = post(PATH, &req("hello mock:drop", true)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_err(), "the body must end in an error");
    let r = post(PATH, &req("hello mock:drop", false)).await;
    assert!(r.body.is_err());
}
