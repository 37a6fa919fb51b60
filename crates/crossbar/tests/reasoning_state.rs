//! Reasoning state survives every translation: for each client protocol × upstream that issues
//! opaque state (Gemini 3 thought signatures, Anthropic thinking signatures, OpenAI encrypted
//! reasoning), streamed and not, turn 1 goes through crossbar, the client echoes its history as
//! its protocol has it, and turn 2 must bring the upstream the exact tokens it issued in turn 1.
//!
//! The mock runs in strict mode (`mock:verify-state`, or a `gemini-3…` model): its tokens are
//! unique per answer (`crossbar_mock::strict_tokens`) and it refuses, as the real APIs do, a
//! turn that does not bring them back. A fresh mock per case makes turn 1 its answer number 1.

mod common;
use common::*;
use serde_json::{json, Value};

const TOOL_OUTPUT: &str = "mock-tool-ran";
const PROMPT: &str = "run it mock:tool mock:reasoning";

fn schema() -> Value {
    json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    Gemini3,
    Anthropic,
    Responses,
}

impl Upstream {
    fn model(self) -> &'static str {
        match self {
            Upstream::Gemini3 => "gem/gemini-3-pro-preview",
            Upstream::Anthropic => "ant/claude-sonnet-4-5",
            Upstream::Responses => "oai/gpt-5",
        }
    }
}

fn config(mock: &str) -> String {
    format!(
        r#"
[[providers]]
name = "gem"
kind = "gemini"
base_url = "{mock}"
api_key = "gemini-test"

[[providers]]
name = "ant"
kind = "anthropic"
base_url = "{mock}"
api_key = "sk-ant-test"
headers = {{ "x-mock" = "mock:verify-state" }}

[[providers]]
name = "oai"
kind = "openai-responses"
base_url = "{mock}/v1"
api_key = "sk-test"
headers = {{ "x-mock" = "mock:verify-state" }}
"#
    )
}

/// What the client got in turn 1 and hands back in turn 2.
struct Turn1 {
    /// The assistant's side of the history, in the client's own shape.
    history: Value,
    call_id: String,
}

/// A request in the client's protocol: the user prompt, then (turn 2) the echoed history and
/// the tool's result.
fn request(c: Client, model: &str, stream: bool, turn1: Option<&Turn1>) -> (String, Value) {
    match c {
        Client::Chat => {
            let mut messages = vec![json!({"role": "user", "content": PROMPT})];
            if let Some(t) = turn1 {
                messages.push(t.history.clone());
                messages.push(json!({"role": "tool", "tool_call_id": t.call_id, "content": TOOL_OUTPUT}));
            }
            let body = json!({"model": model, "stream": stream, "reasoning_effort": "medium", "messages": messages,
                "tools": [{"type": "function", "function": {"name": "shell", "parameters": schema()}}]});
            ("/v1/chat/completions".into(), body)
        }
        Client::Responses => {
            let mut input = vec![json!({"type": "message", "role": "user", "content": PROMPT})];
            if let Some(t) = turn1 {
                input.extend(t.history.as_array().cloned().unwrap_or_default());
                input.push(json!({"type": "function_call_output", "call_id": t.call_id, "output": TOOL_OUTPUT}));
            }
            let body = json!({"model": model, "stream": stream, "store": false, "input": input,
                "reasoning": {"effort": "medium", "summary": "auto"}, "include": ["reasoning.encrypted_content"],
                "tools": [{"type": "function", "name": "shell", "parameters": schema()}]});
            ("/v1/responses".into(), body)
        }
        Client::Anthropic => {
            let mut messages = vec![json!({"role": "user", "content": PROMPT})];
            if let Some(t) = turn1 {
                messages.push(json!({"role": "assistant", "content": t.history}));
                messages.push(json!({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": t.call_id, "content": TOOL_OUTPUT}]}));
            }
            let body = json!({"model": model, "stream": stream, "max_tokens": 4096, "messages": messages,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "tools": [{"name": "shell", "input_schema": schema()}]});
            ("/v1/messages".into(), body)
        }
        Client::Gemini => {
            let mut contents = vec![json!({"role": "user", "parts": [{"text": PROMPT}]})];
            if let Some(t) = turn1 {
                contents.push(json!({"role": "model", "parts": t.history}));
                contents.push(json!({"role": "user", "parts": [{"functionResponse":
                    {"id": t.call_id, "name": "shell", "response": {"output": TOOL_OUTPUT}}}]}));
            }
            let path = if stream {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("/v1beta/models/{model}:generateContent")
            };
            let body = json!({"contents": contents,
                "tools": [{"functionDeclarations": [{"name": "shell", "parameters": schema()}]}],
                "generationConfig": {"thinkingConfig": {"includeThoughts": true}}});
            (path, body)
        }
    }
}

/// Turn 1's answer as the client keeps it: what its SDK or agent would put in its history.
fn turn1_history(c: Client, body: &str, stream: bool) -> Turn1 {
    let history = answer_history(c, body, stream);
    let call_id = match c {
        Client::Chat => history["tool_calls"][0]["id"].as_str(),
        Client::Responses => items(&history).find(|i| i["type"] == "function_call").and_then(|i| i["call_id"].as_str()),
        Client::Anthropic => items(&history).find(|b| b["type"] == "tool_use").and_then(|b| b["id"].as_str()),
        Client::Gemini => items(&history).find_map(|p| p.get("functionCall")).and_then(|f| f["id"].as_str()),
    }
    .unwrap_or_else(|| panic!("{c:?} stream={stream}: no tool call in turn 1: {body}"))
    .to_string();
    Turn1 { history, call_id }
}

/// An answer as the client keeps it in its history.
fn answer_history(c: Client, body: &str, stream: bool) -> Value {
    match (c, stream) {
        (Client::Chat, false) => parse(body)["choices"][0]["message"].clone(),
        (Client::Chat, true) => chat_message_from_stream(body),
        (Client::Responses, false) => parse(body)["output"].clone(),
        // What Codex keeps: each finished output item.
        (Client::Responses, true) => Value::Array(
            sse_data(body)
                .into_iter()
                .filter(|e| e["type"] == "response.output_item.done")
                .map(|e| e["item"].clone())
                .collect(),
        ),
        (Client::Anthropic, false) => parse(body)["content"].clone(),
        (Client::Anthropic, true) => anthropic_blocks_from_stream(body),
        (Client::Gemini, false) => parse(body)["candidates"][0]["content"]["parts"].clone(),
        (Client::Gemini, true) => Value::Array(
            sse_data(body)
                .iter()
                .flat_map(|chunk| chunk["candidates"][0]["content"]["parts"].as_array().cloned().unwrap_or_default())
                .collect(),
        ),
    }
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// The assistant message a Chat client assembles from the chunks (as the openai SDK's helper).
fn chat_message_from_stream(body: &str) -> Value {
    let (mut content, mut reasoning) = (String::new(), String::new());
    let mut calls: Vec<Value> = Vec::new();
    for chunk in sse_data(body) {
        let delta = &chunk["choices"][0]["delta"];
        content.push_str(delta["content"].as_str().unwrap_or(""));
        reasoning.push_str(delta["reasoning_content"].as_str().unwrap_or(""));
        for tc in items(&delta["tool_calls"]) {
            let i = tc["index"].as_u64().unwrap_or(0) as usize;
            while calls.len() <= i {
                calls.push(json!({"id": "", "type": "function", "function": {"name": "", "arguments": ""}}));
            }
            let call = &mut calls[i];
            for (key, at) in [("id", "/id"), ("name", "/function/name"), ("arguments", "/function/arguments")] {
                if let Some(piece) = tc.pointer(at).and_then(Value::as_str) {
                    let slot = if key == "id" { &mut call["id"] } else { &mut call["function"][key] };
                    *slot = json!(format!("{}{piece}", slot.as_str().unwrap_or("")));
                }
            }
        }
    }
    let mut m = json!({"role": "assistant", "content": if content.is_empty() { Value::Null } else { json!(content) },
        "tool_calls": calls});
    if !reasoning.is_empty() {
        m["reasoning_content"] = json!(reasoning);
    }
    m
}

/// The content blocks an Anthropic client assembles from the events (as the SDK's accumulator).
fn anthropic_blocks_from_stream(body: &str) -> Value {
    let mut blocks: Vec<Value> = Vec::new();
    let mut json_input: Vec<String> = Vec::new();
    for ev in sse_data(body) {
        let i = ev["index"].as_u64().unwrap_or(0) as usize;
        match ev["type"].as_str().unwrap_or("") {
            "content_block_start" => {
                blocks.push(ev["content_block"].clone());
                json_input.push(String::new());
            }
            "content_block_delta" => {
                let d = &ev["delta"];
                let (Some(b), Some(acc)) = (blocks.get_mut(i), json_input.get_mut(i)) else { continue };
                let append = |b: &mut Value, key: &str, piece: &Value| {
                    b[key] = json!(format!("{}{}", b[key].as_str().unwrap_or(""), piece.as_str().unwrap_or("")));
                };
                match d["type"].as_str().unwrap_or("") {
                    "text_delta" => append(b, "text", &d["text"]),
                    "thinking_delta" => append(b, "thinking", &d["thinking"]),
                    "signature_delta" => b["signature"] = d["signature"].clone(),
                    "input_json_delta" => acc.push_str(d["partial_json"].as_str().unwrap_or("")),
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let (Some(b), Some(acc)) = (blocks.get_mut(i), json_input.get(i)) {
                    if b["type"] == "tool_use" && !acc.is_empty() {
                        b["input"] = parse(acc);
                    }
                }
            }
            _ => {}
        }
    }
    Value::Array(blocks)
}

/// The exact turn-1 tokens in the upstream's turn-2 request, on the parts they belong to.
fn assert_tokens_returned(u: Upstream, req: &Value, case: &str) {
    let tokens = crossbar_mock::strict_tokens(1);
    let body = &req["body"];
    match u {
        Upstream::Gemini3 => {
            let model_parts: Vec<&Value> =
                items(&body["contents"]).filter(|c| c["role"] == "model").flat_map(|c| items(&c["parts"])).collect();
            let call = model_parts.iter().find(|p| p.get("functionCall").is_some());
            assert_eq!(
                call.and_then(|p| p["thoughtSignature"].as_str()),
                Some(tokens.gemini_call.as_str()),
                "{case}: the functionCall's own signature: {body}"
            );
            assert!(
                model_parts.iter().any(|p| p["thoughtSignature"] == tokens.gemini_thought.as_str()),
                "{case}: the thought signature: {body}"
            );
        }
        Upstream::Anthropic => {
            let thinking = items(&body["messages"])
                .filter(|m| m["role"] == "assistant")
                .flat_map(|m| items(&m["content"]))
                .find(|b| b["type"] == "thinking");
            assert_eq!(
                thinking.and_then(|b| b["signature"].as_str()),
                Some(tokens.anthropic_signature.as_str()),
                "{case}: {body}"
            );
        }
        Upstream::Responses => {
            let reasoning = items(&body["input"]).find(|i| i["type"] == "reasoning");
            assert_eq!(
                reasoning.and_then(|i| i["encrypted_content"].as_str()),
                Some(tokens.encrypted_reasoning.as_str()),
                "{case}: {body}"
            );
        }
    }
}

/// One case: turn 1 and turn 2 of `c` on `u` through `gw1` then `gw2` (the same gateway, or one
/// started later on the same data dir).
async fn run_case(gw1: &Gateway, gw2: &Gateway, mock: &str, c: Client, u: Upstream, stream: bool) {
    let case = format!("{c:?} client on {u:?}, stream={stream}");
    let (path, body) = request(c, u.model(), stream, None);
    let (status, _, text) = post(gw1, &path, &body).await;
    assert_eq!(status, 200, "{case}: turn 1: {text}");
    let turn1 = turn1_history(c, &text, stream);

    let (path, body) = request(c, u.model(), stream, Some(&turn1));
    let (status, _, text) = post(gw2, &path, &body).await;
    assert_eq!(status, 200, "{case}: turn 2 was refused: {text}");
    assert!(text_of(c, &text, stream).contains("MOCK_FINAL"), "{case}: turn 2: {text}");

    let log = mock_requests(mock).await;
    assert_eq!(log.len(), 2, "{case}: one upstream request per turn");
    assert_tokens_returned(u, &log[1], &case);
}

async fn table(u: Upstream) {
    for c in CLIENTS {
        for stream in [false, true] {
            let mock = common::mock().await;
            let gw = Gateway::start(&config(&mock)).await;
            run_case(&gw, &gw, &mock, c, u, stream).await;
        }
    }
}

#[tokio::test]
async fn gemini_3_signatures_come_back_through_every_client() {
    table(Upstream::Gemini3).await;
}

#[tokio::test]
async fn anthropic_thinking_signatures_come_back_through_every_client() {
    table(Upstream::Anthropic).await;
}

#[tokio::test]
async fn openai_encrypted_reasoning_comes_back_through_every_client() {
    table(Upstream::Responses).await;
}

/// Sanity of the table: the mock really refuses a turn 2 that drops the signature, with the
/// real API's message, and crossbar hands that refusal to the client in its own shape.
#[tokio::test]
async fn a_dropped_signature_is_refused_by_the_strict_mock() {
    let mock = common::mock().await;
    let gw = Gateway::start(&config(&mock)).await;
    let (path, body) = request(Client::Gemini, Upstream::Gemini3.model(), false, None);
    let (status, _, text) = post(&gw, &path, &body).await;
    assert_eq!(status, 200, "{text}");
    let mut turn1 = turn1_history(Client::Gemini, &text, false);
    for p in turn1.history.as_array_mut().into_iter().flatten() {
        if let Some(m) = p.as_object_mut() {
            m.remove("thoughtSignature");
        }
    }
    let (path, body) = request(Client::Gemini, Upstream::Gemini3.model(), false, Some(&turn1));
    let (status, _, text) = post(&gw, &path, &body).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("Function call is missing a thought_signature in functionCall parts"), "{text}");
    assert!(is_protocol_error(Client::Gemini, &parse(&text)), "{text}");
}

/// Sealed state is sealed with the gateway key in `<data_dir>/gateway.key`: a gateway started
/// later on the same data dir opens what an earlier one sealed; one with another key refuses it
/// (a clean 400 in the client's shape, nothing sent upstream).
#[tokio::test]
async fn sealed_state_survives_a_restart_on_the_same_data_dir() {
    for c in [Client::Responses, Client::Anthropic, Client::Chat] {
        let mock = common::mock().await;
        let data = tempfile::tempdir().expect("tempdir");
        let text = format!("[server]\ndata_dir = {:?}\n{}", data.path().display().to_string(), config(&mock));
        let parsed = || crossbar::config::Config::parse(&text, "test.toml").expect("config");
        let unused_dir = || tempfile::tempdir().expect("tempdir");

        let mut first = Gateway::start_with(parsed(), unused_dir()).await;
        let (path, body) = request(c, Upstream::Gemini3.model(), true, None);
        let (status, _, turn1_text) = post(&first, &path, &body).await;
        assert_eq!(status, 200, "{c:?}: {turn1_text}");
        first.shutdown();
        let _ = (&mut first.handle).await;
        let turn1 = turn1_history(c, &turn1_text, true);
        let held = serde_json::to_string(&turn1.history).unwrap_or_default();
        assert!(held.contains("Y2Ix"), "{c:?}: the client holds sealed state: {held}");
        let (path, body) = request(c, Upstream::Gemini3.model(), true, Some(&turn1));

        // Another gateway key: the envelope does not open.
        let stranger = Gateway::start(&config(&mock)).await;
        let (status, _, text) = post(&stranger, &path, &body).await;
        assert_eq!(status, 400, "{c:?}: {text}");
        assert!(is_protocol_error(c, &parse(&text)), "{c:?}: {text}");
        assert_eq!(mock_requests(&mock).await.len(), 1, "{c:?}: nothing more went upstream");

        // The same data dir, a new gateway: turn 2 carries turn 1's exact signature.
        let second = Gateway::start_with(parsed(), unused_dir()).await;
        let (status, _, text) = post(&second, &path, &body).await;
        assert_eq!(status, 200, "{c:?}: {text}");
        let log = mock_requests(&mock).await;
        assert_eq!(log.len(), 2, "{c:?}");
        assert_tokens_returned(Upstream::Gemini3, &log[1], &format!("{c:?} after a restart"));
    }
}

/// Gemini 3 also signs the last text part of an answer. Through a Responses client (a
/// reasoning item after the message) and a Gemini client, that signature reaches Gemini again
/// on the next turn, on the answer's text. (An Anthropic reply leaves it out and a Chat reply
/// has no place for it: Gemini does not require it.)
#[tokio::test]
async fn gemini_3_answer_signatures_come_back_on_the_next_turn() {
    for c in [Client::Responses, Client::Gemini] {
        for stream in [false, true] {
            let case = format!("{c:?} stream={stream}");
            let mock = common::mock().await;
            let gw = Gateway::start(&config(&mock)).await;
            let model = Upstream::Gemini3.model();
            let (path, body) = request(c, model, stream, None);
            let (status, _, text) = post(&gw, &path, &body).await;
            assert_eq!(status, 200, "{case}: {text}");
            let turn1 = turn1_history(c, &text, stream);
            let (path, mut body) = request(c, model, stream, Some(&turn1));
            let (status, _, text) = post(&gw, &path, &body).await;
            assert_eq!(status, 200, "{case}: {text}");
            let answer = answer_history(c, &text, stream);
            match c {
                Client::Responses => {
                    let messages = items(&answer).filter(|i| i["type"] == "message").count();
                    assert_eq!(messages, 1, "{case}: the answer is one message: {answer}");
                    if let Some(input) = body["input"].as_array_mut() {
                        input.extend(answer.as_array().cloned().unwrap_or_default());
                        input.push(json!({"type": "message", "role": "user", "content": "thanks"}));
                    }
                }
                _ => {
                    if let Some(contents) = body["contents"].as_array_mut() {
                        contents.push(json!({"role": "model", "parts": answer}));
                        contents.push(json!({"role": "user", "parts": [{"text": "thanks"}]}));
                    }
                }
            }
            let (status, _, text) = post(&gw, &path, &body).await;
            assert_eq!(status, 200, "{case}: turn 3: {text}");
            let log = mock_requests(&mock).await;
            assert_eq!(log.len(), 3, "{case}");
            let token = crossbar_mock::strict_tokens(2).gemini_text;
            let signed: Vec<&Value> = items(&log[2]["body"]["contents"])
                .filter(|c| c["role"] == "model")
                .flat_map(|c| items(&c["parts"]))
                .filter(|p| p["thoughtSignature"] == token.as_str())
                .collect();
            assert_eq!(signed.len(), 1, "{case}: {}", log[2]["body"]);
            assert!(signed[0]["text"].as_str().is_some_and(|t| !t.is_empty()), "{case}: on the text: {}", signed[0]);
            assert_ne!(signed[0]["thought"], true, "{case}: {}", signed[0]);
        }
    }
}
