#![allow(clippy::unwrap_used)]
mod common;

use common::{post, schema_one};
use serde_json::{json, Value};

const GEN: &str = "/v1beta/models/gemini-test:generateContent";
const SSE: &str = "/v1beta/models/gemini-test:streamGenerateContent?alt=sse";

fn req(text: &str) -> Value {
    json!({
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "tools": [{"functionDeclarations": [
            {"name": "read_file", "parametersJsonSchema": schema_one("absolute_path")},
            {"name": "run_shell_command", "parameters": {"type": "OBJECT",
                "properties": {"command": {"type": "STRING"}}, "required": ["command"]}}
        ]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": true}},
    })
}

/// All chunks of an SSE stream, checking each is a full GenerateContentResponse and only the
/// last one finishes; returns (chunks, all parts in order).
fn chunks(text: &str) -> (Vec<Value>, Vec<Value>) {
    let chunks: Vec<Value> = common::parse_sse(text).iter().map(|e| e.json()).collect();
    let mut parts = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let cand = &c["candidates"][0];
        assert_eq!(cand["content"]["role"], "model");
        assert_eq!(c["modelVersion"], "gemini-test");
        let last = i + 1 == chunks.len();
        assert_eq!(cand["finishReason"].is_string(), last);
        assert_eq!(c["usageMetadata"].is_object(), last);
        parts.extend(cand["content"]["parts"].as_array().unwrap().iter().cloned());
    }
    (chunks, parts)
}

fn text_of(parts: &[Value]) -> String {
    parts.iter().filter(|p| p["thought"] != true).filter_map(|p| p["text"].as_str()).collect()
}

#[tokio::test]
async fn text() {
    let v = post(GEN, &req("hello there")).await.json();
    let cand = &v["candidates"][0];
    assert_eq!(cand["finishReason"], "STOP");
    assert_eq!(text_of(cand["content"]["parts"].as_array().unwrap()), "echo: hello there");
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 3);

    let r = post(SSE, &req("hello there")).await;
    assert_eq!(r.headers["content-type"], "text/event-stream");
    let (chunks, parts) = chunks(r.text());
    assert!(chunks.len() >= 3);
    assert_eq!(text_of(&parts), "echo: hello there");
    let u = &chunks.last().unwrap()["usageMetadata"];
    assert_eq!(u["totalTokenCount"], u["promptTokenCount"].as_u64().unwrap() + 3);
}

#[tokio::test]
async fn json_array_stream() {
    let r = post("/v1beta/models/gemini-test:streamGenerateContent", &req("hello there")).await;
    assert_eq!(r.headers["content-type"], "application/json");
    let arr = r.json();
    let arr = arr.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[2]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn function_call() {
    let (_, parts) = chunks(post(SSE, &req("mock:tool")).await.text());
    assert_eq!(parts.len(), 1, "the call comes whole in one chunk");
    let fc = &parts[0]["functionCall"];
    assert_eq!(fc["name"], "run_shell_command");
    assert_eq!(fc["args"], json!({"command": "echo mock-tool-ran"}));
    assert!(fc["id"].is_string());

    let v = post(GEN, &req("mock:tool=read_file mock:parallel")).await.json();
    let parts = v["candidates"][0]["content"]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1]["functionCall"]["args"], json!({"absolute_path": "mock"}));
}

#[tokio::test]
async fn function_response_turn() {
    let mut body = req("mock:tool");
    let contents = body["contents"].as_array_mut().unwrap();
    contents.push(json!({"role": "model", "parts": [{"functionCall": {"name": "run_shell_command", "args": {}}}]}));
    contents.push(json!({"role": "user", "parts": [{"functionResponse": {"id": "x", "name": "run_shell_command",
        "response": {"output": "mock-tool-ran"}}}]}));
    let (_, parts) = chunks(post(SSE, &body).await.text());
    assert_eq!(text_of(&parts), "MOCK_FINAL: the tool said: mock-tool-ran");
}

#[tokio::test]
async fn thoughts() {
    let (chunks, parts) = chunks(post(SSE, &req("mock:reasoning mock:tool")).await.text());
    let thoughts: Vec<&Value> = parts.iter().filter(|p| p["thought"] == true).collect();
    assert!(!thoughts.is_empty());
    assert!(thoughts.last().unwrap()["thoughtSignature"].is_string());
    let fc = parts.iter().find(|p| p.get("functionCall").is_some()).unwrap();
    assert!(fc["thoughtSignature"].is_string());
    let u = &chunks.last().unwrap()["usageMetadata"];
    assert!(u["thoughtsTokenCount"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn json_and_count_tokens() {
    let mut body = req("route me");
    body["generationConfig"] = json!({"responseMimeType": "application/json", "responseJsonSchema": {
        "type": "object", "properties": {"reasoning": {"type": "string"},
        "score": {"type": "integer", "minimum": 1, "maximum": 100}}, "required": ["reasoning", "score"]}});
    let v = post(GEN, &body).await.json();
    let text = v["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), json!({"reasoning": "mock", "score": 1}));

    let b = json!({"contents": [{"role": "user", "parts": [{"text": "count me"}]}]});
    let v = post("/v1beta/models/gemini-test:countTokens", &b).await.json();
    assert_eq!(v["totalTokens"], b.to_string().len() / 4);
}

#[tokio::test]
async fn errors() {
    let r = post(GEN, &req("mock:error=429")).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json(),
        json!({"error": {"code": 429, "message": "mock: resource exhausted", "status": "RESOURCE_EXHAUSTED"}})
    );
    let r = common::send(crossbar_mock::router(), "POST", GEN, "nope".into(), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT");

    let evs = common::parse_sse(post(SSE, &req("hello there mock:midstream-error")).await.text());
    let last = evs.last().unwrap().json();
    assert_eq!(last["error"]["code"], 500);
    assert!(evs.len() >= 2 && evs[0].json()["candidates"].is_array());

    let r = post("/v1/models/gemini-test:streamGenerateContent", &req("hello mock:midstream-error=503")).await;
    let arr = r.json();
    assert_eq!(arr.as_array().unwrap().last().unwrap()["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn drop_cuts_the_body() {
    assert!(post(SSE, &req("hello mock:drop")).await.body.is_err());
}

#[tokio::test]
async fn model_list() {
    let r = common::send(crossbar_mock::router(), "GET", "/v1beta/models", String::new(), &[]).await;
    assert!(r.json()["models"][0]["name"].as_str().unwrap().starts_with("models/"));
}
