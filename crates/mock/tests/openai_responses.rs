#![allow(clippy::unwrap_used)]
mod common;

use common::{post, schema_one, Event};
use serde_json::{json, Value};

const PATH: &str = "/v1/responses";

fn req(text: &str, stream: bool) -> Value {
    json!({
        "model": "gpt-test", "stream": stream, "store": false,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        ],
        "tools": [
            {"type": "function", "name": "view_image", "parameters": schema_one("path"), "strict": false},
            {"type": "function", "name": "exec_command", "parameters": schema_one("cmd"), "strict": false},
            {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}}
        ],
    })
}

/// Checks the event grammar the openai SDK's `responses.stream` helper enforces and returns
/// the `response.completed` response.
fn check_stream(ev: &[Event]) -> Value {
    let types: Vec<String> = ev.iter().map(Event::ty).collect();
    for (i, e) in ev.iter().enumerate() {
        let v = e.json();
        assert_eq!(v["sequence_number"], i as u64, "gap-free sequence at {i}");
        assert_eq!(e.event.as_deref(), Some(types[i].as_str()), "event: line matches type");
    }
    assert_eq!(types[0], "response.created");
    assert_eq!(types[1], "response.in_progress");
    let created = ev[0].json()["response"].clone();
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["output"], json!([]));
    let done = ev.last().unwrap().json();
    assert_eq!(done["type"], "response.completed");
    let resp = done["response"].clone();
    assert_eq!(resp["id"], created["id"]);
    assert_eq!(resp["status"], "completed");
    // Every item: added before its deltas, then done; ids stable and in the final output.
    let output = resp["output"].as_array().unwrap();
    let mut open: Vec<Option<Value>> = Vec::new();
    let mut text_started = false;
    for e in ev {
        let v = e.json();
        match v["type"].as_str().unwrap() {
            "response.output_item.added" => {
                assert_eq!(v["output_index"], open.len() as u64);
                open.push(Some(v["item"].clone()));
            }
            "response.content_part.added" => text_started = true,
            "response.output_text.delta" => assert!(text_started, "content_part.added before text"),
            "response.output_item.done" => {
                let i = v["output_index"].as_u64().unwrap() as usize;
                let added = open[i].take().expect("item open");
                assert_eq!(added["id"], v["item"]["id"]);
                assert_eq!(v["item"], output[i]);
            }
            t if t.contains("delta") => {
                let i = v["output_index"].as_u64().unwrap() as usize;
                assert_eq!(open[i].as_ref().unwrap()["id"], v["item_id"]);
            }
            _ => {}
        }
    }
    assert!(open.iter().all(Option::is_none), "all items done");
    assert_eq!(open.len(), output.len());
    let u = &resp["usage"];
    assert_eq!(u["total_tokens"], u["input_tokens"].as_u64().unwrap() + u["output_tokens"].as_u64().unwrap());
    assert!(u["input_tokens_details"]["cached_tokens"].is_u64());
    assert!(u["output_tokens_details"]["reasoning_tokens"].is_u64());
    resp
}

fn message_text(resp: &Value) -> String {
    let msg = resp["output"].as_array().unwrap().iter().find(|i| i["type"] == "message").unwrap();
    msg["content"][0]["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn text() {
    let v = post(PATH, &req("hello there", false)).await.json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(message_text(&v), "echo: hello there");
    assert_eq!(v["usage"]["output_tokens"], 3);

    let r = post(PATH, &req("hello there", true)).await;
    let ev = r.events();
    let resp = check_stream(&ev);
    assert_eq!(message_text(&resp), "echo: hello there");
    let deltas: String = ev
        .iter()
        .filter(|e| e.ty() == "response.output_text.delta")
        .map(|e| e.json()["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deltas, "echo: hello there");
    let types: Vec<String> = ev.iter().map(Event::ty).collect();
    let want = ["response.output_item.added", "response.content_part.added", "response.output_text.delta"];
    assert_eq!(&types[2..5], &want);
    let tail = ["response.output_text.done", "response.content_part.done", "response.output_item.done"];
    assert_eq!(&types[types.len() - 4..types.len() - 1], &tail);
}

#[tokio::test]
async fn tool_call() {
    let resp = check_stream(&post(PATH, &req("mock:tool", true)).await.events());
    let fc = &resp["output"][0];
    assert_eq!(fc["type"], "function_call");
    assert_eq!(fc["name"], "exec_command");
    assert_eq!(fc["status"], "completed");
    assert!(fc["call_id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(fc["arguments"], r#"{"cmd":"echo mock-tool-ran"}"#);

    let v = post(PATH, &req("mock:tool=apply_patch", false)).await.json();
    assert_eq!(v["output"][0]["type"], "custom_tool_call");
    assert_eq!(v["output"][0]["input"], "mock");
    let resp = check_stream(&post(PATH, &req("mock:tool=apply_patch mock:parallel", true)).await.events());
    assert_eq!(resp["output"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn local_shell_and_namespaces() {
    let mut body = req("mock:tool", true);
    body["tools"] = json!([{"type": "namespace", "name": "ns", "tools": [
        {"type": "function", "name": "lookup", "parameters": schema_one("q")}]}, {"type": "local_shell"}]);
    let resp = check_stream(&post(PATH, &body).await.events());
    let item = &resp["output"][0];
    assert_eq!(item["type"], "local_shell_call");
    assert_eq!(item["action"]["command"], json!(["bash", "-lc", "echo mock-tool-ran"]));
    body["input"][1]["content"][0]["text"] = json!("mock:tool=lookup");
    let v = post(PATH, &body).await;
    let item = &check_stream(&v.events())["output"][0];
    assert_eq!((&item["name"], &item["namespace"]), (&json!("lookup"), &json!("ns")));
}

#[tokio::test]
async fn tool_result_turn() {
    let mut body = req("mock:tool", true);
    let input = body["input"].as_array_mut().unwrap();
    input.push(json!({"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"}));
    input.push(json!({"type": "function_call_output", "call_id": "c1", "output": "Output:\nmock-tool-ran\n"}));
    let resp = check_stream(&post(PATH, &body).await.events());
    assert_eq!(message_text(&resp), "MOCK_FINAL: the tool said: Output:\nmock-tool-ran");
}

#[tokio::test]
async fn reasoning() {
    let ev = post(PATH, &req("mock:reasoning mock:cached=3", true)).await.events();
    let resp = check_stream(&ev);
    let rs = &resp["output"][0];
    assert_eq!(rs["type"], "reasoning");
    assert_eq!(rs["summary"][0]["type"], "summary_text");
    assert!(rs["encrypted_content"].as_str().unwrap().len() > 8);
    assert_eq!(resp["output"][1]["type"], "message");
    assert!(resp["usage"]["output_tokens_details"]["reasoning_tokens"].as_u64().unwrap() > 0);
    assert_eq!(resp["usage"]["input_tokens_details"]["cached_tokens"], 3);
    let types: Vec<String> = ev.iter().map(Event::ty).collect();
    for t in [
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ] {
        assert!(types.iter().any(|x| x == t), "{t}");
    }
}

#[tokio::test]
async fn json_format() {
    let mut body = req("title please", false);
    body["text"] =
        json!({"format": {"type": "json_schema", "name": "x", "strict": true, "schema": schema_one("title")}});
    assert_eq!(message_text(&post(PATH, &body).await.json()), r#"{"title":"mock"}"#);
}

#[tokio::test]
async fn errors() {
    let r = post(PATH, &req("mock:error=503", true)).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["code"], "server_is_overloaded");

    let ev = post(PATH, &req("hello there mock:midstream-error=429", true)).await.events();
    for (i, e) in ev.iter().enumerate() {
        assert_eq!(e.json()["sequence_number"], i as u64);
    }
    let last = ev.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("response.failed"));
    let v = last.json();
    assert_eq!(v["response"]["status"], "failed");
    assert_eq!(v["response"]["error"]["code"], "rate_limit_exceeded");
    assert_eq!(v["response"]["id"], ev[0].json()["response"]["id"]);
    assert!(ev.iter().any(|e| e.ty() == "response.output_text.delta"));
    assert!(!ev.iter().any(|e| e.ty() == "response.completed"));
}

#[tokio::test]
async fn drop_and_codex_path() {
    let r = post(PATH, &req("hello mock:drop", true)).await;
    assert!(r.body.is_err());
    let r = post("/backend-api/codex/responses", &req("hi", true)).await;
    check_stream(&r.events());
}
