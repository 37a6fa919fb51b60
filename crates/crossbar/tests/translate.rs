//! Translation-path behaviour the SDK matrix does not show: what cannot be carried is named —
//! a 400 for what must not be dropped, the `x-crossbar-dropped` header for harmless drops —
//! and upstream errors are re-shaped into the client's protocol with their status kept.

mod common;
use common::*;
use serde_json::json;

#[tokio::test]
async fn harmless_drops_are_named_and_fatal_ones_refused() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let body = json!({"model": "up-anthropic/c", "logit_bias": {"50256": -100}, "messages": [{"role": "user", "content": "hi"}]});
    let (status, headers, text) = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    let dropped = headers.get("x-crossbar-dropped").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(dropped.contains("logit_bias"), "{dropped:?}");

    let body = json!({"model": "up-anthropic/c", "n": 2, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, text) = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(status, 400, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert!(is_protocol_error(Client::Chat, &v), "{v}");
    assert!(text.contains("`n`") || v["error"]["param"] == "n", "{text}");

    // The same field on a same-protocol relay is the upstream's business, not ours.
    let body = json!({"model": "up-chat/c", "n": 2, "messages": [{"role": "user", "content": "hi"}]});
    let (status, headers, _) = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200);
    assert!(headers.get("x-crossbar-dropped").is_none());
}

#[tokio::test]
async fn upstream_errors_are_reshaped_for_the_client_with_their_status() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    for (c, upstream) in [
        (Client::Chat, "up-anthropic"),
        (Client::Anthropic, "up-gemini"),
        (Client::Gemini, "up-responses"),
        (Client::Responses, "up-chat"),
    ] {
        let (path, body) = request(c, &format!("{upstream}/m"), "mock:error=503", false);
        let (status, _, text) = post(&gw, &path, &body).await;
        assert_eq!(status, 503, "{c:?} via {upstream}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert!(is_protocol_error(c, &v), "{c:?} via {upstream}: {v}");
    }
}

#[tokio::test]
async fn count_tokens_is_estimated_for_providers_without_it() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let body = json!({"model": "up-chat/c", "messages": [{"role": "user", "content": "word ".repeat(400)}]});
    let (status, headers, text) = post(&gw, "/v1/messages/count_tokens", &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers.get("x-crossbar-token-count").map(|v| v.as_bytes()), Some(&b"estimate"[..]));
    let n = serde_json::from_str::<serde_json::Value>(&text).expect("json")["input_tokens"].as_u64().unwrap_or(0);
    assert!((400..700).contains(&n), "{n}");
    // An Anthropic upstream counts for itself (relayed).
    let body = json!({"model": "up-anthropic/c", "messages": [{"role": "user", "content": "hello"}]});
    let (status, headers, _) = post(&gw, "/v1/messages/count_tokens", &body).await;
    assert_eq!(status, 200);
    assert!(headers.get("x-crossbar-token-count").is_none());
    assert!(mock_requests(&mock).await.iter().any(|r| r["path"] == "/v1/messages/count_tokens"));
}
