//! The cache verdict on usage records (issue 14, "explain every miss"): each reason pinned
//! through the mock upstream's cache simulation (`mock:cache`), plus the hit rate in
//! `/admin/usage` and the Prometheus counters.

mod common;
use common::*;
use serde_json::{json, Value};

/// Providers on one mock: Anthropic and Responses simulating their caches, two Anthropic
/// accounts behind one model name (the first fails from its second request on), and a Gemini
/// that reports no cache field.
fn providers(mock: &str) -> String {
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

[[providers]]
name = "account-a"
kind = "anthropic"
base_url = "{mock}"
api_key = "sk-ant-a"
headers = {{ "x-mock" = "cache fail-after=1 fail-status=500" }}

[[providers]]
name = "account-b"
kind = "anthropic"
base_url = "{mock}"
api_key = "sk-ant-b"
headers = {{ "x-mock" = "cache" }}

[[providers]]
name = "plain-gemini"
kind = "gemini"
base_url = "{mock}"
api_key = "g-test"

[[providers]]
name = "diag-anthropic"
kind = "anthropic"
base_url = "{mock}"
api_key = "sk-ant-diag"
headers = {{ "x-mock" = "cache" }}
cache_diagnostics = true

[[models]]
name = "pair"
targets = ["account-a/claude-x", "account-b/claude-x"]
"#
    )
}

/// A Codex-like turn `n` (Responses): instructions of ~1200 tokens, then `n` tool exchanges
/// whose outputs are ~1000 tokens each.
fn codex_turn(model: &str, n: usize) -> Value {
    let mut input = vec![json!({"type": "message", "role": "user", "content": "fix the build"})];
    for i in 0..n {
        input.push(json!({"type": "function_call", "call_id": format!("call_{i}"), "name": "shell", "arguments": format!("{{\"cmd\":\"make step{i}\"}}")}));
        input.push(json!({"type": "function_call_output", "call_id": format!("call_{i}"), "output": format!("step {i} ok ").repeat(400)}));
    }
    json!({
        "model": model,
        "instructions": "You are Codex, a coding agent. ".repeat(150),
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}],
        "input": input
    })
}

/// Send one turn of conversation `session` and wait for its usage record; returns its verdict.
async fn turn(gw: &Gateway, path: &str, session: &str, body: &Value) -> String {
    let before = usage_rows(gw).await;
    let r =
        client().post(format!("{}{path}", gw.url)).header("session_id", session).json(body).send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    assert_eq!(status, 200, "{text}");
    assert_eq!(wait_rows(gw, before + 1).await, before + 1, "one record per turn");
    let rows = gw.state.store.recent_usage(1).await.expect("rows");
    rows[0].cache_verdict.clone().unwrap_or_else(|| "-".into())
}

#[tokio::test]
async fn hits_and_each_prefix_change_on_an_anthropic_upstream() {
    let mock = mock().await;
    let gw = Gateway::start(&providers(&mock)).await;
    let m = "cached-anthropic/claude-x";
    assert_eq!(turn(&gw, "/v1/responses", "c1", &codex_turn(m, 0)).await, "miss:first_turn");
    assert_eq!(turn(&gw, "/v1/responses", "c1", &codex_turn(m, 1)).await, "hit");
    assert_eq!(turn(&gw, "/v1/responses", "c1", &codex_turn(m, 2)).await, "hit");
    // The first user message edited: only tools and instructions still come from the cache.
    let mut edited = codex_turn(m, 3);
    edited["input"][0]["content"] = "fix the tests".into();
    assert_eq!(turn(&gw, "/v1/responses", "c1", &edited).await, "partial:prefix_changed:message:0");
    // A tool's schema changed: everything after it is new.
    let mut tools = edited.clone();
    tools["tools"][0]["description"] = "run a command".into();
    assert_eq!(turn(&gw, "/v1/responses", "c1", &tools).await, "miss:prefix_changed:tools");
    // Other instructions, same tools.
    let mut system = tools.clone();
    system["instructions"] = "You are a careful coding agent. ".repeat(150).into();
    assert_eq!(turn(&gw, "/v1/responses", "c1", &system).await, "miss:prefix_changed:system");
}

/// A large prompt's fingerprint is computed while its answer streams (`Ticket::fingerprint_soon`,
/// from 256 KiB): the verdicts are the same as for a small one.
#[tokio::test]
async fn large_streamed_prompts_get_the_same_verdicts() {
    let mock = mock().await;
    let gw = Gateway::start(&providers(&mock)).await;
    let streamed = |n: usize| {
        let mut body = codex_turn("cached-anthropic/claude-x", n);
        body["stream"] = true.into();
        body
    };
    let first = streamed(70);
    assert!(first.to_string().len() > 256 * 1024, "a large prompt");
    assert_eq!(turn(&gw, "/v1/responses", "big", &first).await, "miss:first_turn");
    assert_eq!(turn(&gw, "/v1/responses", "big", &streamed(71)).await, "hit");
    let mut edited = streamed(72);
    edited["input"][0]["content"] = "fix the tests".into();
    assert_eq!(turn(&gw, "/v1/responses", "big", &edited).await, "partial:prefix_changed:message:0");
}

#[tokio::test]
async fn a_turn_after_the_ttl_is_an_expired_miss() {
    let mock = mock().await;
    let gw = Gateway::start(&providers(&mock)).await;
    let m = "cached-anthropic/claude-x";
    assert_eq!(turn(&gw, "/v1/responses", "ttl", &codex_turn(m, 0)).await, "miss:first_turn");
    assert_eq!(turn(&gw, "/v1/responses", "ttl", &codex_turn(m, 1)).await, "hit");
    // Six minutes pass, for the provider's cache and for crossbar's memory of the last turn.
    let r = client().post(format!("{mock}/_mock/cache/advance?secs=360")).send().await.expect("advance");
    assert_eq!(r.status(), 204);
    gw.state.cache_turns.age(360_000);
    let v = turn(&gw, "/v1/responses", "ttl", &codex_turn(m, 2)).await;
    assert!(v.starts_with("miss:ttl_expired:36"), "{v}");
}

#[tokio::test]
async fn a_conversation_moved_to_another_account_misses_as_moved() {
    let mock = mock().await;
    let gw = Gateway::start(&providers(&mock)).await;
    assert_eq!(turn(&gw, "/v1/responses", "mv", &codex_turn("pair", 0)).await, "miss:first_turn");
    // account-a fails from now on: the turn is served by account-b, whose cache is cold.
    assert_eq!(turn(&gw, "/v1/responses", "mv", &codex_turn("pair", 1)).await, "miss:moved");
    let served = gw.state.store.recent_usage(1).await.expect("rows")[0].provider.clone();
    assert_eq!(served.as_deref(), Some("account-b"));
    assert_eq!(turn(&gw, "/v1/responses", "mv", &codex_turn("pair", 2)).await, "hit", "settled on account-b");
}

#[tokio::test]
async fn short_prompts_gemini_and_an_openai_upstream() {
    let mock = mock().await;
    let gw = Gateway::start(&providers(&mock)).await;
    let short = |n: usize| {
        let mut messages = vec![json!({"role": "user", "content": "hi"})];
        for i in 0..n {
            messages.push(json!({"role": "assistant", "content": format!("answer {i}")}));
            messages.push(json!({"role": "user", "content": format!("more {i}")}));
        }
        json!({"model": "cached-anthropic/claude-x", "max_tokens": 50, "messages": messages})
    };
    assert_eq!(turn(&gw, "/v1/messages", "s", &short(0)).await, "miss:first_turn");
    assert_eq!(turn(&gw, "/v1/messages", "s", &short(1)).await, "miss:too_short");
    // Gemini leaves `cachedContentTokenCount` out when it read nothing: 0 cached, so its misses
    // are explained (below its minimum, or best effort), not unknown.
    let gemini = |n: usize| {
        let mut g = short(n);
        g["model"] = "plain-gemini/gemini-2.5-flash".into();
        g
    };
    assert_eq!(turn(&gw, "/v1/messages", "g", &gemini(0)).await, "miss:first_turn");
    assert_eq!(turn(&gw, "/v1/messages", "g", &gemini(1)).await, "miss:too_short");
    let g = "plain-gemini/gemini-2.5-flash";
    assert_eq!(turn(&gw, "/v1/responses", "g-long", &codex_turn(g, 0)).await, "miss:first_turn");
    assert_eq!(turn(&gw, "/v1/responses", "g-long", &codex_turn(g, 1)).await, "miss:best_effort");
    let rows = gw.state.store.recent_usage(1).await.expect("rows");
    assert_eq!(rows[0].cache_read_tokens, Some(0), "recorded as 0 cached, not unknown");
    // An Anthropic client on an OpenAI upstream (translated; prompt_cache_key per conversation).
    let long = |n: usize| {
        let mut v = short(n);
        v["model"] = "cached-responses/gpt-x".into();
        v["system"] = "You are Claude Code, Anthropic's official CLI. ".repeat(120).into();
        v
    };
    assert_eq!(turn(&gw, "/v1/messages", "o", &long(0)).await, "miss:first_turn");
    assert_eq!(turn(&gw, "/v1/messages", "o", &long(1)).await, "hit");

    let metrics =
        client().get(format!("{}/metrics", gw.url)).send().await.expect("metrics").text().await.expect("text");
    for line in [
        r#"crossbar_cache_verdicts_total{verdict="miss",reason="too_short"} 2"#,
        r#"crossbar_cache_verdicts_total{verdict="miss",reason="best_effort"} 1"#,
        r#"crossbar_cache_verdicts_total{verdict="hit",reason="none"} 1"#,
        r#"crossbar_cache_verdicts_total{verdict="miss",reason="first_turn"} 4"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(
        metrics.contains(r#"crossbar_cache_input_tokens_total{kind="read",provider="cached-responses"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"crossbar_cache_input_tokens_total{kind="uncached",provider="plain-gemini"}"#),
        "Gemini's absent count is 0 read, so its input counts as uncached: {metrics}"
    );
}

#[tokio::test]
async fn admin_usage_reports_the_hit_rate_per_group() {
    let mock = mock().await;
    let gw = Gateway::start_admin(&providers(&mock), "adm-secret").await;
    let m = "cached-anthropic/claude-x";
    for n in 0..3 {
        turn(&gw, "/v1/responses", "a", &codex_turn(m, n)).await;
    }
    let mut g = codex_turn("plain-gemini/gemini-2.5-flash", 0);
    g["instructions"] = "short".into();
    turn(&gw, "/v1/responses", "b", &g).await;
    let v = usage_by_provider(&gw).await;
    let row = |p: &str| v["rows"].as_array().and_then(|r| r.iter().find(|r| r["group"] == p)).cloned().expect(p);
    let a = row("cached-anthropic");
    let (read, base) =
        (a["cache_read_tokens"].as_f64().expect("read"), a["cache_input_tokens"].as_f64().expect("base"));
    assert_eq!(base, a["input_tokens"].as_f64().expect("input"), "every request reported its cache reads");
    assert!(read > 0.0 && (a["hit_rate"].as_f64().expect("rate") - read / base).abs() < 1e-9, "{a}");
    let gem = row("plain-gemini");
    // Gemini's absent cachedContentTokenCount is 0 cached (a proto3 default), not unknown.
    assert_eq!(gem["hit_rate"], 0.0, "{gem}");
    assert_eq!(gem["cache_input_tokens"], gem["input_tokens"]);
}

/// Wait until Redis holds a shared turn memory under `prefix` whose value differs from `old`.
async fn shared_turns_changed(prefix: &str, old: Option<String>) -> Option<String> {
    let client = redis::Client::open(common::services::redis_url()).expect("redis url");
    let mut c = client.get_multiplexed_async_connection().await.expect("redis");
    for _ in 0..200 {
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{prefix}:turns:*")).query_async(&mut c).await.expect("keys");
        if let Some(k) = keys.first() {
            let v: Option<String> = redis::cmd("GET").arg(k).query_async(&mut c).await.expect("get");
            if v.is_some() && v != old {
                return v;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no shared turn memory under {prefix}");
}

#[tokio::test]
async fn the_verdict_memory_is_shared_by_instances_through_redis() {
    let required = std::env::var("CROSSBAR_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let up = match redis::Client::open(common::services::redis_url()) {
        Ok(c) => c.get_multiplexed_async_connection().await.is_ok(),
        Err(_) => false,
    };
    assert!(up || !required, "CROSSBAR_REQUIRE_SERVICES=1 but Redis is down");
    if !up {
        eprintln!("SKIPPED: Redis is down (run scripts/services.sh)");
        return;
    }
    let mock = mock().await;
    let prefix = format!("cbt-{}", uuid::Uuid::new_v4().simple());
    let cfg =
        format!("[redis]\nurl = \"{}\"\nprefix = \"{prefix}\"\n{}", common::services::redis_url(), providers(&mock));
    let (a, b) = (Gateway::start(&cfg).await, Gateway::start(&cfg).await);
    let m = "cached-anthropic/claude-x";
    assert_eq!(turn(&a, "/v1/responses", "fleet", &codex_turn(m, 0)).await, "miss:first_turn");
    let first = shared_turns_changed(&prefix, None).await;
    // Instance b never saw this conversation: it judges from what a shared, not as a first turn.
    assert_eq!(turn(&b, "/v1/responses", "fleet", &codex_turn(m, 1)).await, "hit");
    shared_turns_changed(&prefix, first).await;
    // And back on a, the previous turn is b's (a's own memory still holds turn 1 only): edited
    // at message 2, which only b's turn had.
    let mut edited = codex_turn(m, 2);
    edited["input"][2]["output"] = "changed".into();
    assert_eq!(turn(&a, "/v1/responses", "fleet", &edited).await, "partial:prefix_changed:message:2");
}

/// The last `/v1/messages` request the mock received: (its `anthropic-beta` header, its body).
async fn last_anthropic_request(mock: &str) -> (String, Value) {
    let log: Value =
        client().get(format!("{mock}/_mock/requests")).send().await.expect("log").json().await.expect("json");
    let r =
        log.as_array().and_then(|l| l.iter().rev().find(|r| r["path"] == "/v1/messages")).cloned().expect("request");
    (r["headers"]["anthropic-beta"].as_str().unwrap_or("").to_string(), r["body"].clone())
}

async fn last_diagnosis(gw: &Gateway) -> Option<String> {
    gw.state.store.recent_usage(1).await.expect("rows")[0].cache_diagnosis.clone()
}

#[tokio::test]
async fn anthropic_cache_diagnostics_name_the_providers_reason() {
    let mock = mock().await;
    let gw = Gateway::start_admin(&providers(&mock), "adm-secret").await;
    let m = "diag-anthropic/claude-x";
    // A Codex client on an Anthropic upstream that opts in: crossbar asks, with no previous id.
    assert_eq!(turn(&gw, "/v1/responses", "d", &codex_turn(m, 0)).await, "miss:first_turn");
    let (beta, body) = last_anthropic_request(&mock).await;
    assert_eq!(beta, "cache-diagnosis-2026-04-07");
    assert_eq!(body["diagnostics"], json!({"previous_message_id": null}));
    assert_eq!(last_diagnosis(&gw).await.as_deref(), Some("none"));
    // The next turn names the previous response's id; the prompt continues it.
    assert_eq!(turn(&gw, "/v1/responses", "d", &codex_turn(m, 1)).await, "hit");
    let (_, body) = last_anthropic_request(&mock).await;
    let previous = body["diagnostics"]["previous_message_id"].as_str().expect("an id").to_string();
    assert!(previous.starts_with("msg_mock"), "{previous}");
    assert_eq!(last_diagnosis(&gw).await.as_deref(), Some("none"));
    // An edited first message: crossbar's verdict and Anthropic's reason side by side.
    let mut edited = codex_turn(m, 2);
    edited["input"][0]["content"] = "fix the tests".into();
    assert_eq!(turn(&gw, "/v1/responses", "d", &edited).await, "partial:prefix_changed:message:0");
    let (_, body) = last_anthropic_request(&mock).await;
    assert_ne!(body["diagnostics"]["previous_message_id"].as_str(), Some(previous.as_str()), "the newest turn's id");
    let d = last_diagnosis(&gw).await.expect("a diagnosis");
    assert!(d.starts_with("messages_changed:"), "{d}");

    // A relay to a provider that does not opt in: the client's request as sent, nothing read.
    let claude = |model: &str, extra: Option<Value>| {
        let mut b = json!({"model": model, "max_tokens": 50, "system": "You are Claude Code. ".repeat(300),
            "messages": [{"role": "user", "content": "hi"}]});
        if let Some(x) = extra {
            b["diagnostics"] = x;
        }
        b
    };
    let send = |body: Value, beta: Option<&'static str>| {
        let mut r = client().post(format!("{}/v1/messages", gw.url)).header("anthropic-version", "2023-06-01");
        if let Some(b) = beta {
            r = r.header("anthropic-beta", b);
        }
        r.json(&body).send()
    };
    let before = usage_rows(&gw).await;
    assert_eq!(
        send(claude("cached-anthropic/claude-x", None), Some("claude-code-20250219")).await.expect("send").status(),
        200
    );
    wait_rows(&gw, before + 1).await;
    let (beta, body) = last_anthropic_request(&mock).await;
    assert_eq!(beta, "claude-code-20250219", "never added on a relay the provider did not opt in to");
    assert!(body.get("diagnostics").is_none());
    assert_eq!(last_diagnosis(&gw).await, None);
    // A client asking by itself on that relay: sent as it is, and the answer is recorded.
    let own = claude("cached-anthropic/claude-x", Some(json!({"previous_message_id": "msg_unknown"})));
    let r = send(own, Some("cache-diagnosis-2026-04-07")).await.expect("send");
    let text = r.text().await.expect("body");
    assert!(text.contains("previous_message_not_found"), "the client gets the answer: {text}");
    wait_rows(&gw, before + 2).await;
    assert_eq!(last_diagnosis(&gw).await.as_deref(), Some("previous_message_not_found"));
    // A relay to the provider that opts in: the beta joins the client's own.
    send(claude(m, None), Some("claude-code-20250219")).await.expect("send").text().await.expect("body");
    wait_rows(&gw, before + 3).await;
    let (beta, body) = last_anthropic_request(&mock).await;
    assert_eq!(beta, "claude-code-20250219,cache-diagnosis-2026-04-07");
    assert!(body["diagnostics"].is_object(), "{body}");

    // /admin/usage counts the provider's reasons per group, by type.
    let v = usage_by_provider(&gw).await;
    let row = |p: &str| v["rows"].as_array().and_then(|r| r.iter().find(|r| r["group"] == p)).cloned().expect(p);
    assert_eq!(row("diag-anthropic")["cache_diagnoses"], json!({"none": 3, "messages_changed": 1}));
    assert_eq!(row("cached-anthropic")["cache_diagnoses"], json!({"previous_message_not_found": 1}));
}

/// `GET /admin/usage?group_by=provider` (the admin key `adm-secret`).
async fn usage_by_provider(gw: &Gateway) -> Value {
    client()
        .get(format!("{}/admin/usage?group_by=provider", gw.url))
        .bearer_auth("adm-secret")
        .send()
        .await
        .expect("usage")
        .json()
        .await
        .expect("json")
}
