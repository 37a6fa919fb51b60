//! Codex specifics: its model catalog, session headers, turn state, zstd bodies, compaction
//! on non-OpenAI upstreams (remote v2 and the legacy unary endpoint) and responses-lite.

mod common;

use common::{client, mock_requests, providers_at, sse_data, Gateway};
use serde_json::{json, Value};

/// The fields Codex 0.169 requires in every catalog entry (codex-wire.md §8).
const REQUIRED: [&str; 11] = [
    "slug",
    "display_name",
    "supported_reasoning_levels",
    "shell_type",
    "visibility",
    "supported_in_api",
    "priority",
    "base_instructions",
    "support_verbosity",
    "truncation_policy",
    "experimental_supported_tools",
];

async fn gateway() -> (Gateway, String) {
    let mock = common::mock().await;
    let config = format!(
        "{}\n[[models]]\nname = \"sonnet\"\ntargets = [\"up-anthropic/claude-sonnet-4-5\"]\n",
        providers_at(&mock)
    );
    (Gateway::start(&config).await, mock)
}

#[tokio::test]
async fn model_catalog_in_codex_format_on_both_prefixes() {
    let (gw, _mock) = gateway().await;
    for path in [
        "/v1/models?client_version=0.169.0",
        "/backend-api/codex/models?client_version=0.169.0",
        "/models?client_version=1",
    ] {
        let resp = client().get(format!("{}{path}", gw.url)).send().await.expect("send");
        assert_eq!(resp.status(), 200, "{path}");
        assert!(resp.headers().get("etag").is_some(), "{path}: etag");
        let v: Value = resp.json().await.expect("json");
        let models = v["models"].as_array().unwrap_or_else(|| panic!("{path}: {v}"));
        let sonnet = models.iter().find(|m| m["slug"] == "sonnet").expect("alias listed");
        for f in REQUIRED {
            assert!(sonnet.get(f).is_some_and(|x| !x.is_null()), "{path}: {f} missing in {sonnet}");
        }
        assert_eq!(sonnet["context_window"], 200_000, "from the catalog");
        assert_eq!(sonnet["use_responses_lite"], false);
        assert!(sonnet.get("tool_mode").is_none());
        assert!(
            models.iter().any(|m| m["slug"].as_str().is_some_and(|s| s.starts_with("up-gemini/"))),
            "provider models listed: {v}"
        );
    }
    // Other clients still get OpenAI's list.
    let v: Value =
        client().get(format!("{}/v1/models", gw.url)).send().await.expect("send").json().await.expect("json");
    assert_eq!(v["object"], "list");
}

#[tokio::test]
async fn turn_state_is_echoed_or_minted_and_session_headers_are_accepted() {
    let (gw, _mock) = gateway().await;
    let body = json!({"model": "up-anthropic/m", "stream": true, "input": "hi"});
    let resp = client()
        .post(format!("{}/backend-api/codex/responses", gw.url))
        .header("session_id", "s-1")
        .header("session-id", "s-1")
        .header("thread-id", "s-1")
        .header("x-codex-turn-state", "ts-42")
        .header("x-codex-turn-metadata", "{}")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-codex-turn-state"], "ts-42");
    let resp = client()
        .post(format!("{}/v1/responses", gw.url))
        .header("x-codex-window-id", "t:0")
        .json(&body)
        .send()
        .await
        .expect("send");
    let minted =
        resp.headers().get("x-codex-turn-state").expect("minted for Codex").to_str().expect("ascii").to_string();
    assert!(!minted.is_empty());
    let resp = client().post(format!("{}/v1/responses", gw.url)).json(&body).send().await.expect("send");
    assert!(resp.headers().get("x-codex-turn-state").is_none(), "not Codex: no turn state");
}

#[tokio::test]
async fn zstd_request_bodies_are_decompressed() {
    let (gw, mock) = gateway().await;
    let body = json!({"model": "up-anthropic/m", "input": "Reply with exactly zstd-ok"}).to_string();
    let packed = zstd::encode_all(body.as_bytes(), 3).expect("zstd");
    let resp = client()
        .post(format!("{}/backend-api/codex/responses", gw.url))
        .header("content-type", "application/json")
        .header("content-encoding", "zstd")
        .body(packed)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    assert!(v.to_string().contains("zstd-ok"), "{v}");
    assert_eq!(mock_requests(&mock).await.len(), 1);
}

fn trigger_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be brief"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix the bug"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]},
        {"type": "compaction_trigger"}
    ], "tools": [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}}]})
}

#[tokio::test]
async fn compaction_trigger_on_anthropic_yields_one_sealed_item_that_expands_later() {
    let (gw, mock) = gateway().await;
    let resp = client()
        .post(format!("{}/backend-api/codex/responses", gw.url))
        .json(&trigger_body("up-anthropic/m", true))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let events = sse_data(&resp.text().await.expect("text"));
    let done: Vec<&Value> = events.iter().filter(|e| e["type"] == "response.output_item.done").collect();
    assert_eq!(done.len(), 1, "{events:?}");
    let item = done[0]["item"].clone();
    assert_eq!(item["type"], "compaction");
    let sealed = item["encrypted_content"].as_str().expect("sealed").to_string();
    assert!(sealed.starts_with(crossbar_protocol::canonical::opaque::SEALED_PREFIX), "{sealed}");
    let completed = events.last().expect("events");
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(completed["response"]["output"][0], item);
    assert!(completed["response"]["usage"]["total_tokens"].is_u64(), "{completed}");

    // The summarisation request: same model, no tools, no trigger, the instruction last.
    let reqs = mock_requests(&mock).await;
    assert_eq!(reqs.len(), 1);
    let up = &reqs[0]["body"];
    assert!(up.get("tools").is_none(), "{up}");
    assert!(!up.to_string().contains("compaction_trigger"));
    assert!(up["messages"].to_string().contains("Context checkpoint"), "{up}");

    // The next request carries the item; the upstream gets the summary back as a user message.
    client().delete(format!("{mock}/_mock/requests")).send().await.expect("clear");
    let next = json!({"model": "up-anthropic/m", "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix the bug"}]},
        item,
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go on"}]}
    ]});
    let resp = client().post(format!("{}/v1/responses", gw.url)).json(&next).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let reqs = mock_requests(&mock).await;
    let msgs = reqs[0]["body"]["messages"].to_string();
    assert!(msgs.contains("compacted by crossbar"), "{msgs}");
    assert!(msgs.contains("echo: Context checkpoint"), "the mock's summary comes back: {msgs}");
}

#[tokio::test]
async fn compaction_non_streamed_and_legacy_compact_on_gemini() {
    let (gw, _mock) = gateway().await;
    let v: Value = client()
        .post(format!("{}/v1/responses", gw.url))
        .json(&trigger_body("up-gemini/g", false))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(v["output"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["output"][0]["type"], "compaction");

    let mut legacy = trigger_body("up-gemini/g", false);
    legacy["input"].as_array_mut().expect("input").pop();
    let resp = client()
        .post(format!("{}/backend-api/codex/responses/compact", gw.url))
        .json(&legacy)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    let output = v["output"].as_array().expect("output");
    assert_eq!(output.len(), 2, "kept user message + compaction: {v}");
    assert_eq!(output[0]["role"], "user");
    assert_eq!(output[1]["type"], "compaction");
}

#[tokio::test]
async fn openai_upstreams_get_the_trigger_untouched() {
    let (gw, mock) = gateway().await;
    let resp = client()
        .post(format!("{}/v1/responses", gw.url))
        .json(&trigger_body("up-responses/m", true))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let reqs = mock_requests(&mock).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["body"]["input"][3], json!({"type": "compaction_trigger"}));
}

#[tokio::test]
async fn responses_lite_is_refused_clearly_off_openai_and_relayed_to_openai() {
    let (gw, mock) = gateway().await;
    let lite = |model: &str| {
        json!({"model": model, "input": [
            {"type": "additional_tools", "id": "at_1", "role": "developer", "tools": []},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "configuration_update", "reasoning": {"effort": "low"}}
        ]})
    };
    let resp = client()
        .post(format!("{}/v1/responses", gw.url))
        .header("x-openai-internal-codex-responses-lite", "true")
        .json(&lite("up-anthropic/m"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.expect("json");
    assert!(v["error"]["message"].as_str().unwrap_or_default().contains("responses-lite"), "{v}");
    assert!(mock_requests(&mock).await.is_empty());

    let resp = client()
        .post(format!("{}/v1/responses", gw.url))
        .header("x-openai-internal-codex-responses-lite", "true")
        .json(&lite("up-responses/m"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let reqs = mock_requests(&mock).await;
    assert_eq!(reqs[0]["body"]["input"][0]["type"], "additional_tools");
    assert_eq!(reqs[0]["headers"]["x-openai-internal-codex-responses-lite"], "true", "{}", reqs[0]["headers"]);
}
