//! Prompt caching through crossbar (issue 14): what reaches the upstream, per route, so the
//! provider's cache hits as it would for a native client. Anthropic relays keep the client's
//! own breakpoints and billing line; translations to Anthropic place breakpoints; translations
//! to anything else drop Claude Code's billing line; OpenAI upstreams get a stable
//! `prompt_cache_key`.

mod common;
use common::*;
use serde_json::{json, Value};

/// A Claude Code turn: billing line with a per-request nonce, breakpoints where it puts them.
fn claude_code(model: &str, cch: &str, turns: usize) -> Value {
    let mut messages = Vec::new();
    for i in 0..turns {
        let mut text = json!({"type": "text", "text": format!("step {i}")});
        if i + 1 == turns {
            text["cache_control"] = json!({"type": "ephemeral"});
        }
        messages.push(json!({"role": "user", "content": [text]}));
        if i + 1 < turns {
            messages.push(json!({"role": "assistant", "content": [{"type": "text", "text": format!("done {i}")}]}));
        }
    }
    json!({
        "model": model, "max_tokens": 100,
        "system": [
            {"type": "text", "text": format!("x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=cli; cch={cch};")},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ],
        "tools": [{"name": "Bash", "input_schema": {"type": "object", "properties": {}}}],
        "metadata": {"user_id": "{\"session_id\":\"0b6b5a8e\"}"},
        "messages": messages
    })
}

async fn last_body(mock: &str) -> Value {
    mock_requests(mock).await.last().expect("the mock saw a request")["body"].clone()
}

fn count_breakpoints(v: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "cache_control" {
                        out.push(v.clone());
                    } else {
                        walk(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

#[tokio::test]
async fn anthropic_relay_keeps_the_clients_breakpoints_and_billing_line() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let body = claude_code("up-anthropic/claude-x", "3f9a1", 3);
    let (status, _, text) = post(&gw, "/v1/messages", &body).await;
    assert_eq!(status, 200, "{text}");
    let mut expected = body.clone();
    expected["model"] = "claude-x".into();
    // Byte for byte but the model: no breakpoint added, moved or dropped, the nonce kept.
    assert_eq!(last_body(&mock).await, expected);
}

#[tokio::test]
async fn claude_code_on_openai_upstreams_loses_the_nonce_and_keeps_one_cache_key() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    for provider in ["up-chat", "up-responses", "up-gemini"] {
        let mut seen = Vec::new();
        for (turn, cch) in [(1, "3f9a1"), (2, "07bc2")] {
            let (status, _, text) = post(&gw, "/v1/messages", &claude_code(&format!("{provider}/m"), cch, turn)).await;
            assert_eq!(status, 200, "{provider}: {text}");
            let got = last_body(&mock).await;
            let raw = got.to_string();
            assert!(!raw.contains("x-anthropic-billing-header") && !raw.contains(cch), "{provider}: {raw}");
            assert!(raw.contains("You are Claude Code."), "{provider}: the rest of the system prompt stays");
            seen.push(got["prompt_cache_key"].clone());
        }
        if provider == "up-gemini" {
            assert_eq!(seen, [Value::Null, Value::Null], "Gemini has no such field");
        } else {
            let key = seen[0].as_str().expect("a prompt_cache_key");
            assert!(key.starts_with("crossbar-"), "{key}");
            assert_eq!(seen[0], seen[1], "{provider}: one key for the whole conversation");
        }
    }
}

#[tokio::test]
async fn openai_clients_keep_their_own_cache_key_or_get_a_stable_one() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let turn = |extra: &[(&str, &str)], key: Option<&str>| {
        let mut messages =
            vec![json!({"role": "system", "content": "be brief"}), json!({"role": "user", "content": "hi"})];
        for (a, u) in extra {
            messages.push(json!({"role": "assistant", "content": a}));
            messages.push(json!({"role": "user", "content": u}));
        }
        let mut body = json!({"model": "up-responses/m", "messages": messages});
        if let Some(k) = key {
            body["prompt_cache_key"] = k.into();
        }
        body
    };
    let mut keys = Vec::new();
    for body in [turn(&[], None), turn(&[("hello", "more")], None), turn(&[("hello", "more"), ("ok", "again")], None)] {
        let (status, _, text) = post(&gw, "/v1/chat/completions", &body).await;
        assert_eq!(status, 200, "{text}");
        keys.push(last_body(&mock).await["prompt_cache_key"].clone());
    }
    assert!(keys[0].as_str().is_some_and(|k| k.starts_with("crossbar-")), "{keys:?}");
    assert!(keys.iter().all(|k| *k == keys[0]), "stable across turns: {keys:?}");

    let mut mine = turn(&[], Some("mine"));
    mine["prompt_cache_retention"] = "24h".into();
    let (status, _, _) = post(&gw, "/v1/chat/completions", &mine).await;
    assert_eq!(status, 200);
    let got = last_body(&mock).await;
    assert_eq!((&got["prompt_cache_key"], &got["prompt_cache_retention"]), (&json!("mine"), &json!("24h")));

    // A different conversation gets a different key.
    let mut other = turn(&[], None);
    other["messages"][1]["content"] = "something else".into();
    post(&gw, "/v1/chat/completions", &other).await;
    assert_ne!(last_body(&mock).await["prompt_cache_key"], keys[0]);
}

#[tokio::test]
async fn responses_clients_on_anthropic_get_breakpoints_with_the_ttl_they_asked_for() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let body = |retention: Option<&str>| {
        let mut b = json!({
            "model": "up-anthropic/claude-x",
            "instructions": "You are Codex.",
            "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}}],
            "input": [
                {"type": "message", "role": "user", "content": "list files"},
                {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{\"cmd\":\"ls\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}
            ]
        });
        if let Some(r) = retention {
            b["prompt_cache_retention"] = r.into();
        }
        b
    };
    for (retention, mark) in
        [(None, json!({"type": "ephemeral"})), (Some("24h"), json!({"type": "ephemeral", "ttl": "1h"}))]
    {
        let (status, _, text) = post(&gw, "/v1/responses", &body(retention)).await;
        assert_eq!(status, 200, "{text}");
        let got = last_body(&mock).await;
        assert_eq!(got["tools"][0]["cache_control"], mark);
        assert_eq!(got["system"][0]["cache_control"], mark);
        let messages = got["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[2]["content"][0]["cache_control"], mark, "the newest block");
        assert_eq!(messages[0]["content"][0]["cache_control"], mark, "the previous exchange's end");
        assert_eq!(count_breakpoints(&got).len(), 4, "Anthropic's limit");
    }
}

/// Providers on one mock that simulates each provider's prompt cache (`mock:cache`).
fn caching_providers(mock: &str) -> String {
    format!(
        r#"
[[providers]]
name = "cached-anthropic"
kind = "anthropic"
base_url = "{mock}"
api_key = "sk-ant-test"
headers = {{ "x-mock" = "cache" }}

[[providers]]
name = "cached-responses"
kind = "openai-responses"
base_url = "{mock}/v1"
api_key = "sk-test"
headers = {{ "x-mock" = "cache" }}
"#
    )
}

/// A Codex-like conversation at turn `n`: long instructions, a tool loop.
fn codex_turn(n: usize) -> Value {
    let mut input = vec![json!({"type": "message", "role": "user", "content": "fix the build"})];
    for i in 0..n {
        input.push(json!({"type": "function_call", "call_id": format!("call_{i}"), "name": "shell", "arguments": format!("{{\"cmd\":\"make step{i}\"}}")}));
        input.push(
            json!({"type": "function_call_output", "call_id": format!("call_{i}"), "output": format!("step {i} ok")}),
        );
    }
    json!({
        "model": "cached-anthropic/claude-x",
        "instructions": "You are Codex, a coding agent. ".repeat(300),
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}],
        "input": input
    })
}

#[tokio::test]
async fn a_responses_conversation_on_anthropic_reads_the_cache_from_turn_two() {
    let mock = mock().await;
    let gw = Gateway::start(&caching_providers(&mock)).await;
    for turn in 0..6 {
        let (status, _, text) = post(&gw, "/v1/responses", &codex_turn(turn)).await;
        assert_eq!(status, 200, "{text}");
        let usage = serde_json::from_str::<Value>(&text).expect("json")["usage"].clone();
        let input = usage["input_tokens"].as_u64().expect("input");
        let cached = usage["input_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
        if turn == 0 {
            assert_eq!(cached, 0, "first turn: nothing to read");
        } else {
            // Everything but the newest exchange comes from the cache.
            assert!(cached * 100 >= input * 90, "turn {}: {cached} of {input} cached", turn + 1);
        }
    }
}

#[tokio::test]
async fn claude_code_on_an_openai_upstream_reads_the_cache_despite_its_nonce() {
    let mock = mock().await;
    let gw = Gateway::start(&caching_providers(&mock)).await;
    let mut cached = Vec::new();
    for (turn, cch) in [(1, "3f9a1"), (2, "07bc2"), (3, "9e0d4")] {
        let mut body = claude_code("cached-responses/m", cch, turn);
        body["system"][1]["text"] = "You are Claude Code, Anthropic's official CLI. ".repeat(200).into();
        let (status, _, text) = post(&gw, "/v1/messages", &body).await;
        assert_eq!(status, 200, "{text}");
        let usage = serde_json::from_str::<Value>(&text).expect("json")["usage"].clone();
        cached.push(usage["cache_read_input_tokens"].as_u64().unwrap_or(0));
    }
    assert_eq!(cached[0], 0);
    assert!(cached[1] >= 1024 && cached[2] >= cached[1], "{cached:?}");
}
